/*
 * test_fob64.c - built with _FILE_OFFSET_BITS=64, as CPython, QEMU and many
 * others are: mmap in the source then resolves to the symbol mmap64, which
 * the shim must wrap too.  The mappings use non-zero file offsets, so an
 * offset lost or truncated on the way shows as a wrong byte at a precise
 * file offset.
 */
#define _FILE_OFFSET_BITS 64
#define _GNU_SOURCE
#include "testutil.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB ZT_MIB

static void *map64(size_t len, int flags, int fd, off_t off) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, off); /* -> mmap64 */
  cr_assert(p != MAP_FAILED, "mmap64: %s", strerror(errno));
  return p;
}

/* memfd shared at offset 3M, DONTNEED: exactly file [3M,4M) punched. */
Test(fob64, memfd_shared_offset_dontneed) {
  int fd = zt_make_memfd(4 * MIB, 0);
  zt_pfill(fd, 0, 4 * MIB, ZT_FILL);
  char *p = map64(MIB, MAP_SHARED, fd, (off_t)(3 * MIB));
  cr_assert(madvise(p, MIB, MADV_DONTNEED) == 0, "madvise: %s", strerror(errno));
  zt_assert_pbytes(fd, 0, 3 * MIB, ZT_FILL, "file [0,3M)");
  zt_assert_pbytes(fd, 3 * MIB, MIB, 0, "file [3M,4M)");
  zt_assert_missing_fault(p, MIB, ZT_UFFD_SHMEM, "mmap64 memfd shared");
}

/* memfd private at offset 1M, program's fd closed, REMOVE: file [1M,3M) punched. */
Test(fob64, memfd_private_offset_remove) {
  int fd = zt_make_memfd(4 * MIB, 0);
  zt_pfill(fd, 0, 4 * MIB, ZT_FILE_FILL);
  int obs = dup(fd);
  char *p = map64(2 * MIB, MAP_PRIVATE, fd, (off_t)MIB);
  zt_fill(p, 2 * MIB, ZT_FILL);
  close(fd);
  cr_assert(madvise(p, 2 * MIB, MADV_REMOVE) == 0, "madvise: %s", strerror(errno));
  zt_assert_pbytes(obs, 0, MIB, ZT_FILE_FILL, "file [0,1M)");
  zt_assert_pbytes(obs, MIB, 2 * MIB, 0, "file [1M,3M)");
  zt_assert_pbytes(obs, 3 * MIB, MIB, ZT_FILE_FILL, "file [3M,4M)");
  zt_assert_missing_fault(p, 2 * MIB, ZT_UFFD_SHMEM, "mmap64 memfd private");
  zt_assert_bytes(p, 2 * MIB, 0, "mmap64 memfd private reads zero");
}
