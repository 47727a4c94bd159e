/*
 * test_registry_stale.c - the program replaces a mapping the shim knows
 * with the raw mmap syscall (MAP_FIXED), which the shim cannot see.  Its
 * registry entry is then stale; a zap must still act on what is really
 * mapped and, above all, must never punch the file the registry remembers:
 * that would destroy data the program still owns.
 *
 * This goes beyond the brief's list ("unknown range": a range the shim
 * never saw); it is kept in its own binary so its result reads apart.
 * Cheap protection exists: check the entry against the kernel (PROCMAP_QUERY
 * or /proc/self/maps: dev, inode, offset) before a destructive punch.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MIB ZT_MIB
#define ANON_FILL 0xEE

/* MAP_FIXED through the raw syscall, over whatever is at addr. */
static void raw_fixed(void *addr, size_t len, int flags, int fd, off_t off) {
  long r = syscall(SYS_mmap, addr, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, off);
  cr_assert(r == (long)addr, "raw MAP_FIXED at %p: %s", addr, strerror(r < 0 ? (int)-r : 0));
}

/*
 * memfd A mapped through libc (known), then anonymous private memory
 * raw-MAP_FIXED over it: the zap frees the anon memory, memfd A keeps
 * every byte.
 */
static void anon_over_known_memfd(int advice) {
  int fd = zt_make_memfd(4 * MIB, 0);
  zt_pfill(fd, 0, 4 * MIB, ZT_FILL);
  char *p = zt_map(4 * MIB, MAP_SHARED, fd, 0);
  raw_fixed(p, 4 * MIB, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zt_fill(p, 4 * MIB, ANON_FILL);

  zt_zap(p, 4 * MIB, advice, "anon raw-mapped over a known memfd mapping");
  zt_assert_pbytes(fd, 0, 4 * MIB, ZT_FILL, "memfd A no longer mapped: must keep its data");
  cr_assert_eq(zt_st_blocks(fd), (long long)(4 * MIB / 512), "memfd A keeps its pages");
  cr_assert_eq(zt_resident_pages(p, 4 * MIB), 0, "anon memory freed");
  zt_assert_bytes(p, 4 * MIB, 0, "anon memory reads zero");
}
Test(stale, anon_over_known_memfd_dontneed) { anon_over_known_memfd(MADV_DONTNEED); }
Test(stale, anon_over_known_memfd_remove) { anon_over_known_memfd(MADV_REMOVE); }

/*
 * memfd B raw-MAP_FIXED over a known mapping of memfd A: the zap punches
 * B (the memory really there), never A.
 */
static void memfd_over_known_memfd(int advice) {
  int a = zt_make_memfd(4 * MIB, 0), b = zt_make_memfd(4 * MIB, 0);
  zt_pfill(a, 0, 4 * MIB, ZT_FILL);
  zt_pfill(b, 0, 4 * MIB, ZT_FILL);
  char *p = zt_map(4 * MIB, MAP_SHARED, a, 0);
  raw_fixed(p, 4 * MIB, MAP_SHARED, b, 0);

  zt_zap(p, 4 * MIB, advice, "memfd B raw-mapped over a known memfd A mapping");
  zt_assert_pbytes(a, 0, 4 * MIB, ZT_FILL, "memfd A no longer mapped: must keep its data");
  zt_assert_pbytes(b, 0, 4 * MIB, 0, "memfd B, the memory really mapped, zapped");
  cr_assert_eq(zt_st_blocks(b), 0, "memfd B freed");
}
Test(stale, memfd_over_known_memfd_dontneed) { memfd_over_known_memfd(MADV_DONTNEED); }
Test(stale, memfd_over_known_memfd_remove) { memfd_over_known_memfd(MADV_REMOVE); }
