/*
 * zap.h - the zap policy: turn MADV_DONTNEED / MADV_REMOVE into the call that
 * really frees each piece of a range, by memory kind.
 */
#ifndef ZS_ZAP_H
#define ZS_ZAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "map.h"

/*
 * A registry entry zs_zap_lockfree read without the lock, and the
 * registry's generation then: what zs_registry_find would answer for as
 * long as the registry stays at that generation (valid false: none).
 */
struct zs_zap_hint {
  struct zs_map m;
  uint64_t gen;
  bool valid;
};

/*
 * zs_zap - apply the policy to [addr, addr+len) for advice MADV_DONTNEED or
 * MADV_REMOVE.  Bad arguments (unaligned addr, wrapping length) get the
 * kernel's own answer; each mapped piece is zapped by its kind; holes give
 * ENOMEM after the mapped parts are done, as the kernel does.  A translated
 * call that fails where the original would work falls back to the original
 * call and logs why.  use_registry false: the kernel's view alone (for a
 * call that interrupted the shim, which must not take the registry lock).
 * hint (may be NULL): the entry zs_zap_lockfree read, used for the first
 * piece if the registry is still at its generation (no second lookup).
 * Returns 0, or -1 with errno.  The caller holds the registry read lock
 * when use_registry is true.
 */
int zs_zap(void *addr, size_t len, int advice, bool use_registry, const struct zs_zap_hint *hint);

/*
 * zs_zap_lockfree - the fast paths, taking no lock: if [addr, addr+len)
 * lies inside a mapping this thread noted (zapped as asked of late, or
 * mapped: zs_zap_note_mapped) and the
 * registry has not changed since (zs_registry_generation), or else inside
 * one registry entry read without the lock (zs_registry_peek), and the
 * policy leaves that kind as asked, make the program's own call (and note
 * the mapping for the next time).  Never does more than the program asked.
 * Returns true with *result set (0), or false: nothing decided, take the
 * locked path (zs_zap), with *hint the entry read, if one was.
 */
bool zs_zap_lockfree(void *addr, size_t len, int advice, int *result, struct zs_zap_hint *hint);

/*
 * zs_zap_note_mapped - this thread mapped [start, end) as plain anonymous
 * memory (which the registry does not keep) when the registry was at
 * generation gen: its zaps there are the program's own calls, made by
 * zs_zap_lockfree until the registry changes.  Async-signal-safe.
 */
void zs_zap_note_mapped(uintptr_t start, uintptr_t end, uint64_t gen);

/*
 * zs_zap_take_learned - the plain anonymous mapping the kernel last showed
 * this thread's zap (the part of it no registry entry covered then), for
 * the caller to insert into the registry under the write lock if the
 * registry is still at *gen: zaps there then need no query from any
 * thread.  Returns true with the entry in *m once per such zap, else
 * false.  Async-signal-safe.
 */
bool zs_zap_take_learned(struct zs_map *m, uint64_t *gen);

/*
 * zs_zap_forget - this thread unmapped or moved [start, end): its notes
 * overlapping the range are dropped.  Async-signal-safe.
 */
void zs_zap_forget(uintptr_t start, uintptr_t end);

#endif
