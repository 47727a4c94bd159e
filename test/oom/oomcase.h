/*
 * oomcase.h - the two replacements of issue 9 case 3, run while the
 * shim's registry cannot get a node for a new entry.  How the registry is
 * exhausted is the caller's (fault injection, or a real RLIMIT_AS); what
 * must hold is the same: the entry of what was mapped before is never kept
 * for a range the registry could not record, so the zap acts on the
 * kernel's view - no byte of a persistent file changes, shared memory is
 * still freed.
 *
 * The tests do not link the shim: ctest preloads it, and these helpers
 * reach its public zapshim_query through dlsym.
 */
#ifndef ZS_OOMCASE_H
#define ZS_OOMCASE_H

#include <stddef.h>

/* How a test makes the registry run out of nodes. */
struct oom_env {
  /* from now on no node can be had for a new entry; called after the
   * known mappings are made, before the replacing MAP_FIXED */
  void (*exhaust)(void);
  /* undo exhaust; called after the zaps, before any assertion (which
   * may need memory); asserts that exhaust took effect */
  void (*restore)(void);
};

/*
 * oom_ext4_over_hugetlb - a MAP_HUGETLB private mapping of huge_len bytes
 * (a multiple of 2 MiB), written; exhausted; a libc MAP_FIXED of a 2 MiB
 * shared ext4 file at fixed_off into it; madvise(MADV_DONTNEED) of 4 KiB
 * and of 2 MiB there; and of the rest of the huge mapping, if any.
 * Asserts: zapshim_query says file-shared there (the hugetlb entry is not
 * kept), every madvise returns 0, every byte of the file reads back
 * (pread) and its st_blocks is unchanged; the rest of the huge mapping,
 * unknown or not, is zapped (no huge page memory left in its VMA).
 */
void oom_ext4_over_hugetlb(const struct oom_env *env, size_t huge_len, size_t fixed_off);

/*
 * oom_memfd_over_anon - an anonymous private mapping of 2 MiB, written;
 * exhausted; a libc MAP_FIXED of a shared memfd (2 MiB written) over it;
 * madvise(MADV_DONTNEED) of the 2 MiB.  Asserts: zapshim_query says
 * shmem-shared (the anonymous entry is not kept), madvise returns 0, the
 * memfd is freed (st_blocks 0) and reads back zero, through pread and
 * through the mapping.
 */
void oom_memfd_over_anon(const struct oom_env *env);

/* oom_query_kind - zapshim_query(p)'s kind (enum zapshim_kind), or -1 if
 * it failed; asserts the shim is preloaded.  Usable while exhausted. */
int oom_query_kind(const void *p);

/* oom_query_bounds - zapshim_query(p)'s [*start, *end); false if it
 * failed.  Usable while exhausted (allocates nothing). */
int oom_query_bounds(const void *p, unsigned long *start, unsigned long *end);

#endif
