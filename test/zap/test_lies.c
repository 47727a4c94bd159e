/*
 * test_lies.c - issue 9 case 8: success must mean zapped.
 *
 * MADV_REMOVE on a writable MAP_PRIVATE mapping of shmem: the policy's zap
 * is DONTNEED (drop the private copies) then a punch of the backing range.
 * When the punch cannot be made - the program holds the file only
 * O_RDONLY (a tmpfs file written through another descriptor, then
 * unlinked so it is not a named file), or the memfd is F_SEAL_WRITE
 * sealed - the zap cannot be whole.  Then the shim must not return 0 with
 * the old data still readable, nor do half of it: it gives the kernel's
 * own answer for MADV_REMOVE on a private mapping, -1/EACCES, and leaves
 * everything as it was: the private copies the program wrote are still
 * there, the file keeps its bytes and blocks.
 *
 * The 2 MiB mapping: the program writes PRIVATE_FILL over its first
 * 1 MiB (private copies); the second 1 MiB still reads the file
 * (ZT_FILE_FILL).  The same on every kernel (ctest runs all four).
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB ZT_MIB
#define LEN (2 * MIB)
#define PRIVATE_FILL 0x77

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

/* remove_refused - the contract on a private view p of the file fd (the
 * program's descriptor, which reads the file). */
static void remove_refused(int fd, const char *what) {
  long long blocks = zt_st_blocks(fd);
  cr_assert_geq(blocks, (long long)(LEN / 512), "%s: the file holds its data", what);
  char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  cr_assert(p != MAP_FAILED, "%s: mmap MAP_PRIVATE: %s", what, strerror(errno));
  zt_fill(p, MIB, PRIVATE_FILL);
  zt_assert_bytes(p + MIB, MIB, ZT_FILE_FILL, "before the zap, the untouched half reads the file");

  errno = 0;
  int r = madvise(p, LEN, MADV_REMOVE);
  int e = errno;
  /* the kernel's own answer, for reference */
  int kr = zt_raw_madvise(p, LEN, MADV_REMOVE);
  int ke = errno;
  cr_assert(kr == -1 && ke == EACCES, "%s: the kernel gives %d errno %d (%s), expected EACCES",
            what, kr, ke, strerror(ke));

  char msg[160];
  if (r == 0)
    snprintf(msg, sizeof msg, "%s: MADV_REMOVE returned 0", what);
  else
    snprintf(msg, sizeof msg, "%s: MADV_REMOVE returned %d errno %d (%s)", what, r, e,
             strerror(e));
  cr_assert(r == -1 && e == EACCES, "%s: MADV_REMOVE could not free the file (no write access): "
            "expected -1/EACCES, the kernel's answer", msg);
  zt_assert_bytes(p, MIB, PRIVATE_FILL, "the private copies the program wrote are still there");
  zt_assert_bytes(p + MIB, MIB, ZT_FILE_FILL, "the untouched half still reads the file");
  zt_assert_pbytes(fd, 0, LEN, ZT_FILE_FILL, "the file keeps its bytes");
  cr_assert_eq(zt_st_blocks(fd), blocks, "%s: the file keeps its blocks", what);
  munmap(p, LEN);
}

/* A tmpfs file the program opened O_RDONLY: written first through another
 * descriptor, then unlinked (not a named file) and that descriptor closed. */
Test(lies, tmpfs_file_opened_rdonly) {
  char path[512];
  int w = zt_make_tmpfs_file(LEN, path, sizeof path);
  cr_assert_eq(zt_fs_magic(w), TMPFS_MAGIC, "%s is on tmpfs", path);
  zt_pfill(w, 0, LEN, ZT_FILE_FILL);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  cr_assert(fd >= 0, "open %s O_RDONLY: %s", path, strerror(errno));
  cr_assert(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
  close(w);
  remove_refused(fd, "private view of an unlinked tmpfs file opened O_RDONLY");
  close(fd);
}

/* An F_SEAL_WRITE memfd: nothing may change its content, punching included. */
Test(lies, sealed_write_memfd) {
  int fd = memfd_create("zt-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  cr_assert(fd >= 0, "memfd_create: %s", strerror(errno));
  cr_assert(ftruncate(fd, LEN) == 0, "ftruncate: %s", strerror(errno));
  zt_pfill(fd, 0, LEN, ZT_FILE_FILL);
  cr_assert(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW) == 0,
            "F_ADD_SEALS: %s", strerror(errno));
  remove_refused(fd, "private view of an F_SEAL_WRITE memfd");
  close(fd);
}
