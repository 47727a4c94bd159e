/*
 * registry.h - the shadow registry: one entry per mapping the shim saw made,
 * but for plain anonymous private memory (below), which the preload's mmap
 * does not enter: every advice there is the program's own call, or is
 * confirmed by the kernel first, so an allocator's mmap and munmap pay no
 * tree change (hooks.c).  Such memory is entered once a zap has asked the
 * kernel about it (learned: the kernel's mapping as far as no entry lies
 * in it), so later zaps there need no query from any thread.
 *
 * Entries never overlap.  Storage comes from raw anonymous mmap in chunks,
 * never from malloc; lookups, inserts and removals are O(log n) (a balanced
 * tree keyed by start address, whose changes read only the nodes on their
 * path but for rotations).  The registry itself takes no lock: every
 * function below must be called with the registry lock held
 * (zs_registry_rdlock / zs_registry_wrlock), read for lookups, write for
 * changes.
 *
 * What an entry means: the shim saw this range mapped so, and has seen no
 * change to it since.  A range with no entry is unknown: the zap path asks
 * the kernel about it.  When storage runs out (the pool cannot grow:
 * RLIMIT_AS, strict overcommit, millions of mappings) the registry forgets
 * rather than keeps an old view: every change carves the range out before
 * it allocates, and a split that finds no node drops the whole entry.  So
 * after a failed insert or remove the range (and, for a failed split, the
 * rest of the entry that contained it) is unknown, never stale.
 *
 * The registry still keeps plain entries where a caller inserts them (its
 * structure allows them; the fuzz model covers them):
 * plain anonymous private memory - kind ZAPSHIM_KIND_ANON_PRIVATE, flags
 * ZS_MAP_ANON alone or with ZS_MAP_DONTFORK, page_shift 12, fdslot -1, ino
 * 0, dev 0: the bulk of every allocator's mappings - is kept coarser: an
 * entry of it means "every page here was seen mapped as plain anonymous
 * private memory with these flags", possibly by several mmaps.  Two such
 * entries with the same flags are never neighbours: an insert joins them
 * (never across a gap, never with any other kind or flags).  Such an entry
 * keeps no protection (prot is 0: nothing zaps plain anonymous memory by
 * the registry's prot; only huge pages use it, after the kernel confirmed
 * the mapping) and its offset is that of whichever insert became its left
 * part, advanced by trims as for any entry: meaningless for private
 * anonymous memory.  Every other field, and what every page is, stays
 * exact.  A carve of its middle splits it like any entry (and without a
 * node drops the whole, possibly larger, entry: unknown, never wrong).
 */
#ifndef ZS_REGISTRY_H
#define ZS_REGISTRY_H

#include <stdint.h>
#include <stddef.h>

#include <stdbool.h>

#include "map.h"
#include "zapshim.h"

/*
 * zs_map_plain - true if *m is plain anonymous private memory as above:
 * kind ANON_PRIVATE, flags ZS_MAP_ANON alone or with ZS_MAP_DONTFORK,
 * 4 KiB pages, no kept descriptor, no file identity.  Neighbouring plain
 * entries with the same flags are kept as one.  The preload's mmap does
 * not register such memory (hooks.c); it is what every advice leaves as
 * the program asked.
 */
static inline bool zs_map_plain(const struct zs_map *m) {
  return m->kind == ZAPSHIM_KIND_ANON_PRIVATE &&
         (m->flags & (uint8_t)~ZS_MAP_DONTFORK) == ZS_MAP_ANON && m->page_shift == 12 &&
         m->fdslot == -1 && m->ino == 0 && m->dev == 0;
}

/* Nodes per storage chunk (917504 bytes).  Index 0 is never used, so the
 * first chunk holds ZS_CHUNK_NODES - 1 entries and every later one
 * ZS_CHUNK_NODES; the next entry then needs a new chunk mapped. */
#define ZS_CHUNK_NODES 16384u

/* Registry lock: a reader-writer lock. Not recursive. */
void zs_registry_rdlock(void);
void zs_registry_wrlock(void);
void zs_registry_unlock(void);

/*
 * zs_registry_insert - make *m the registry's view of [m->start, m->end).
 * Whatever overlapped the range is carved out first (as by
 * zs_registry_remove), then a node is allocated: callers need not remove
 * anything before.  Returns 0 with a copy of *m added and one reference
 * taken on m->fdslot (if >= 0); or ENOMEM if no node could be had: the
 * range is then unknown (no entry in it, the old one included), no
 * reference is taken, and if an entry strictly contained the range it is
 * gone whole.  An empty range adds nothing and returns 0.
 * Plain anonymous private memory (see above) allocates no node where it
 * can join a neighbour: an entry of the same flags ending at m->start is
 * extended, one starting at m->end is lowered to m->start, both become
 * one; and if one such entry already covers the whole range nothing
 * changes (no carve, no allocation).  Its entry keeps prot 0.
 */
int zs_registry_insert(const struct zs_map *m);

/* ZS_REGISTRY_NO_PEEK - 1 in thread-sanitizer builds (GCC's
 * __SANITIZE_THREAD__, clang's __has_feature(thread_sanitizer)), where
 * zs_registry_peek always answers EAGAIN: its reads race with the writers
 * by design, which the sanitizer would report. */
#if defined(__SANITIZE_THREAD__)
#define ZS_REGISTRY_NO_PEEK 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ZS_REGISTRY_NO_PEEK 1
#endif
#endif
#ifndef ZS_REGISTRY_NO_PEEK
#define ZS_REGISTRY_NO_PEEK 0
#endif

/*
 * zs_registry_peek - zs_registry_find without the lock, for callers that
 * act on the answer only as the program asked (never beyond its call):
 * the tree is read while writers may run, and the answer kept only if no
 * change of the tree ran meanwhile.  A writer may hold the lock (be inside
 * the kernel's mmap, about to change the registry): the answer is then the
 * registry's view just before that call's change, as a zap made just
 * before the call would have had.  Returns 0 with the entry in *out and
 * the generation it was read at in *gen; ENOENT (no entry ends above
 * addr); EAGAIN if a change ran or was running (ask again under the
 * lock).  Lock-free, async-signal-safe; always EAGAIN in thread-sanitizer
 * builds.
 */
int zs_registry_peek(uintptr_t addr, struct zs_map *out, uint64_t *gen);

/*
 * zs_registry_gap - the free range around addr: returns 0 with [*lo, *hi)
 * the largest range holding addr that no entry overlaps (*lo the end of
 * the entry below, or 0; *hi the start of the entry above, or
 * UINTPTR_MAX), or EEXIST if an entry covers addr.
 */
int zs_registry_gap(uintptr_t addr, uintptr_t *lo, uintptr_t *hi);

/*
 * zs_registry_peek_gap - zs_registry_gap without the lock, as
 * zs_registry_peek reads: returns 0 with the gap and the generation it
 * was read at in *gen; EEXIST if an entry covers addr; EAGAIN if a change
 * ran or was running.  Lock-free, async-signal-safe; always EAGAIN in
 * thread-sanitizer builds.
 */
int zs_registry_peek_gap(uintptr_t addr, uintptr_t *lo, uintptr_t *hi, uint64_t *gen);

/*
 * zs_registry_find - the entry covering addr, or else the first entry
 * that starts above addr.  Returns 0 with a copy in *out, or ENOENT if no
 * entry ends above addr.
 */
int zs_registry_find(uintptr_t addr, struct zs_map *out);

/*
 * zs_registry_remove - carve [start, end) out of the registry: entries
 * inside are dropped, entries across an edge are trimmed or split in two
 * (the right part's file offset moves with it).  Kept-descriptor references
 * follow (zs_fdkeep_ref / zs_fdkeep_unref).  Afterwards no entry overlaps
 * [start, end), whatever the result; a range no entry overlaps is no
 * change (the generation does not move).  Returns 0, or ENOMEM if an entry
 * strictly containing the range needed a node to split and none could be
 * had: that entry is then dropped whole, so its parts outside the range
 * are unknown too (safe: unknown is asked of the kernel, never wrong).
 */
int zs_registry_remove(uintptr_t start, uintptr_t end);

/*
 * zs_registry_generation - a number that changes before every change of the
 * registry (insert, remove), odd while one is being made. A reader
 * that saw generation G under the lock (or from zs_registry_peek) and sees
 * G again without it knows nothing changed in between. Lock-free.
 */
uint64_t zs_registry_generation(void);

#ifdef ZAPSHIM_FAULT_INJECTION
/*
 * Fault injection (builds with ZAPSHIM_FAULT_INJECTION defined only; the
 * CMake option of that name, test/oom's libzapshim_fi.so, the registry
 * fuzzer).  Node allocation fails on demand, free-list nodes included:
 *
 *   ZAPSHIM_FAULT_REGISTRY=N   (decimal, read once at the first node
 *     allocation, no malloc or stdio): the first N node allocations of the
 *     process succeed, every later one fails.  Unset or not a number: no
 *     failure is injected.
 *
 * zs_registry_fault_set - from now on let n more node allocations succeed,
 * then fail every one; n < 0: never fail again.  Replaces the environment
 * variable's budget.  Takes the write lock itself (call it without the
 * lock).  Exported from libzapshim_fi.so for tests (dlsym).
 */
void zs_registry_fault_set(long n);
#endif

/*
 * zs_registry_check - for tests: walk the whole registry (O(n)) and check
 * its structure: entries non-empty, ordered, not overlapping, no two
 * joinable plain entries neighbours, the tree balanced with every node's
 * recorded subtree heights right, the count right.  Returns 0, or EINVAL
 * if anything is broken.  Call with the lock held.
 */
int zs_registry_check(void);

/* zs_registry_count - number of entries (joined plain anonymous memory
 * counts once per entry, not per mmap). */
size_t zs_registry_count(void);

/* zs_registry_bytes - bytes of storage the registry has mapped. */
size_t zs_registry_bytes(void);

/*
 * zs_registry_reset_after_fork - reinitialise the lock in a fork child
 * (the entries stay: the child has the same mappings).
 */
void zs_registry_reset_after_fork(void);

#endif
