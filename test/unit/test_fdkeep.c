/*
 * test_fdkeep.c - the kept-descriptor table: one slot per file, high
 * O_CLOEXEC numbers, detection of numbers the program took over, the
 * EMFILE path that must not consume low numbers, and closing on last unref.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fdkeep.h"
#include "sys.h"
#include "vma.h"
#include "registry.h"

struct file {
  int fd;
  uint32_t dev;
  uint64_t ino;
};

static struct file new_memfd(const char *name) {
  struct file f = {.fd = memfd_create(name, MFD_CLOEXEC)};
  cr_assert_geq(f.fd, 0);
  cr_assert_eq(ftruncate(f.fd, 65536), 0);
  struct stat st;
  cr_assert_eq(fstat(f.fd, &st), 0);
  f.dev = zs_dev_pack(major(st.st_dev), minor(st.st_dev));
  f.ino = st.st_ino;
  cr_assert_neq(f.dev, 0);
  return f;
}

/* The documented threshold: cur - 64, cur capped at ZS_FD_CEILING; below a limit of
 * 256 nothing is kept (-1). */
static int threshold(void) {
  struct rlimit rl;
  cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  unsigned long cur = rl.rlim_cur > ZS_FD_CEILING ? ZS_FD_CEILING : (unsigned long)rl.rlim_cur;
  return cur < 256 ? -1 : (int)(cur - 64);
}

static int fd_open(int fd) {
  return fcntl(fd, F_GETFD) != -1;
}

static int fd_closed(int fd) {
  errno = 0;
  return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

/* The lowest descriptor number not in use. */
static int lowest_free(void) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  cr_assert_geq(fd, 0);
  close(fd);
  return fd;
}

Test(fdkeep, dedupe_by_file_high_cloexec) {
  struct file a = new_memfd("zs-a");
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", a.fd);
  int a2 = open(path, O_RDWR); /* a second, independent descriptor of a */
  cr_assert_geq(a2, 0);
  cr_assert_neq(a2, a.fd);

  int s1 = zs_fdkeep_get(a.fd, a.dev, a.ino);
  int s2 = zs_fdkeep_get(a2, a.dev, a.ino);
  cr_assert_geq(s1, 0);
  cr_assert_eq(s2, s1, "one slot per (dev, ino)");

  int kfd = zs_fdkeep_fd(s1, a.dev, a.ino);
  cr_assert_geq(kfd, threshold(), "kept at %d, below the threshold %d", kfd, threshold());
  cr_assert_neq(kfd, a.fd);
  cr_assert_neq(kfd, a2);
  cr_assert(fcntl(kfd, F_GETFD) & FD_CLOEXEC, "kept descriptor is O_CLOEXEC");
  cr_assert_eq(zs_fdkeep_owns(kfd), 1);
  cr_assert_eq(zs_fdkeep_owns(a.fd), 0);
  cr_assert_eq(zs_fdkeep_owns(-1), 0);

  struct file b = new_memfd("zs-b");
  int s3 = zs_fdkeep_get(b.fd, b.dev, b.ino);
  cr_assert_geq(s3, 0);
  cr_assert_neq(s3, s1, "another file, another slot");
  int kb = zs_fdkeep_fd(s3, b.dev, b.ino);
  cr_assert_geq(kb, threshold());
  cr_assert_neq(kb, kfd);
  cr_assert_eq(zs_fdkeep_fd(s3, a.dev, a.ino), -1, "a slot answers only for its file");

  /* the path variant dedupes too, without keeping a second descriptor */
  int s4 = zs_fdkeep_open_path(path, a.dev, a.ino);
  cr_assert_eq(s4, s1);

  zs_fdkeep_unref(s1);
  zs_fdkeep_unref(s1);
  cr_assert(fd_open(kfd), "two references left of three");
  zs_fdkeep_unref(s4);
  cr_assert(fd_closed(kfd), "last unref closes");
  cr_assert_eq(zs_fdkeep_owns(kfd), 0);
  cr_assert_eq(zs_fdkeep_fd(s1, a.dev, a.ino), -1);
  cr_assert(fd_open(a.fd) && fd_open(a2), "the program's descriptors are untouched");

  zs_fdkeep_unref(s3);
  cr_assert(fd_closed(kb));
  zs_fdkeep_unref(s3); /* a free slot: ignored */
  zs_fdkeep_unref(-1);
  zs_fdkeep_ref(-1);
  close(a2);
  close(a.fd);
  close(b.fd);
}

Test(fdkeep, ref_keeps_descriptor_open) {
  struct file a = new_memfd("zs-ref");
  int s = zs_fdkeep_get(a.fd, a.dev, a.ino);
  cr_assert_geq(s, 0);
  int kfd = zs_fdkeep_fd(s, a.dev, a.ino);
  zs_fdkeep_ref(s);
  zs_fdkeep_unref(s);
  cr_assert(fd_open(kfd));
  cr_assert_eq(zs_fdkeep_fd(s, a.dev, a.ino), kfd);
  zs_fdkeep_unref(s);
  cr_assert(fd_closed(kfd));
  close(a.fd);
}

Test(fdkeep, open_path_keeps_high_and_closes_low) {
  struct file a = new_memfd("zs-path");
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", a.fd);
  int low = lowest_free();
  int s = zs_fdkeep_open_path(path, a.dev, a.ino);
  cr_assert_geq(s, 0);
  int kfd = zs_fdkeep_fd(s, a.dev, a.ino);
  cr_assert_geq(kfd, threshold());
  cr_assert(fcntl(kfd, F_GETFD) & FD_CLOEXEC);
  cr_assert(fd_closed(low), "the temporary low descriptor was closed");
  /* it is opened read-write: fallocate needs that */
  int fl = fcntl(kfd, F_GETFL);
  cr_assert_eq(fl & O_ACCMODE, O_RDWR);

  /* a get for the same file through the program's fd dedupes to it */
  cr_assert_eq(zs_fdkeep_get(a.fd, a.dev, a.ino), s);
  zs_fdkeep_unref(s);
  zs_fdkeep_unref(s);
  cr_assert(fd_closed(kfd));
  close(a.fd);
}

Test(fdkeep, wrong_file_or_unknown_ids_keep_nothing) {
  struct file a = new_memfd("zs-wrong");
  int low = lowest_free();
  cr_assert_lt(zs_fdkeep_get(a.fd, a.dev, a.ino + 1), 0, "fd is not that file");
  cr_assert_lt(zs_fdkeep_get(a.fd, 0, 0), 0, "unknown file");
  cr_assert_lt(zs_fdkeep_get(-1, a.dev, a.ino), 0);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", a.fd);
  cr_assert_lt(zs_fdkeep_open_path(path, a.dev, a.ino + 1), 0);
  cr_assert_lt(zs_fdkeep_open_path("/nonexistent/zs", a.dev, a.ino), 0);
  cr_assert_eq(lowest_free(), low, "no descriptor leaked");
  int t = threshold();
  for (int fd = t; fd < t + 64; fd++)
    cr_assert(fd == zs_vma_proc_fd() || fd_closed(fd), "no high descriptor leaked (%d)", fd);
  close(a.fd);
}

Test(fdkeep, detects_number_taken_over) {
  struct file a = new_memfd("zs-over-a");
  struct file b = new_memfd("zs-over-b");
  int s = zs_fdkeep_get(a.fd, a.dev, a.ino);
  cr_assert_geq(s, 0);
  int kfd = zs_fdkeep_fd(s, a.dev, a.ino);
  cr_assert_geq(kfd, 0);

  cr_assert_eq(dup2(b.fd, kfd), kfd); /* the program puts another file there */
  cr_assert_eq(zs_fdkeep_fd(s, a.dev, a.ino), -1, "replaced number detected");
  cr_assert_eq(zs_fdkeep_owns(kfd), 0,
               "a number that names another file is the program's, not the shim's");
  int listed[8];
  int nl = zs_fdkeep_list(listed, 8);
  for (int i = 0; i < nl; i++)
    cr_assert_neq(listed[i], kfd, "the program's number is not listed as kept");
  cr_assert_eq(zs_fdkeep_relocate(kfd), 0, "the program's descriptor is not moved into the table");

  /* a new get repairs the slot with a fresh high descriptor */
  int s2 = zs_fdkeep_get(a.fd, a.dev, a.ino);
  cr_assert_eq(s2, s);
  int k2 = zs_fdkeep_fd(s, a.dev, a.ino);
  cr_assert_geq(k2, threshold());
  cr_assert_neq(k2, kfd);

  zs_fdkeep_unref(s);
  zs_fdkeep_unref(s);
  cr_assert(fd_closed(k2));
  cr_assert(fd_open(kfd), "the number the program took over is not closed");
  struct stat st;
  cr_assert_eq(fstat(kfd, &st), 0);
  cr_assert_eq(st.st_ino, b.ino);
  close(kfd);
  close(a.fd);
  close(b.fd);
}

Test(fdkeep, unref_leaves_closed_number_alone) {
  struct file a = new_memfd("zs-closed");
  int s = zs_fdkeep_get(a.fd, a.dev, a.ino);
  int kfd = zs_fdkeep_fd(s, a.dev, a.ino);
  cr_assert_geq(kfd, 0);
  close(kfd); /* the program closes our number... */
  int again = open("/dev/null", O_RDONLY);
  cr_assert_geq(again, 0);
  cr_assert_eq(dup2(again, kfd), kfd); /* ...and reuses it */
  close(again);
  zs_fdkeep_unref(s);
  cr_assert(fd_open(kfd), "a number that names another file is not closed");
  close(kfd);
  close(a.fd);
}

Test(fdkeep, emfile_takes_no_low_number) {
  struct rlimit old, rl;
  cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
  rl = old;
  rl.rlim_cur = 512;
  cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
  int t = threshold();
  cr_assert_eq(t, 448);

  struct file a = new_memfd("zs-emfile");
  cr_assert_lt(a.fd, t, "test needs fewer than %d descriptors open", t);
  int filler = open("/dev/null", O_RDONLY);
  cr_assert_geq(filler, 0);
  for (int fd = t; fd < 512; fd++) /* occupy every high number */
    cr_assert_eq(dup2(filler, fd), fd);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", a.fd);

  int low = lowest_free();
  int s = zs_fdkeep_get(a.fd, a.dev, a.ino);
  cr_assert_eq(s, -EMFILE, "got %d", s);
  s = zs_fdkeep_open_path(path, a.dev, a.ino);
  cr_assert_eq(s, -EMFILE, "got %d", s);
  cr_assert(fd_closed(low), "no low descriptor consumed");
  cr_assert_eq(lowest_free(), low);

  /* once a high number frees up, keeping works and lands there */
  close(500);
  s = zs_fdkeep_get(a.fd, a.dev, a.ino);
  cr_assert_geq(s, 0);
  cr_assert_eq(zs_fdkeep_fd(s, a.dev, a.ino), 500);
  zs_fdkeep_unref(s);
  cr_assert(fd_closed(500));

  for (int fd = t; fd < 512; fd++)
    close(fd);

  /* under a limit of 256 nothing is kept, even with numbers free */
  rl.rlim_cur = 128;
  cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
  low = lowest_free();
  s = zs_fdkeep_get(a.fd, a.dev, a.ino);
  cr_assert_eq(s, -EMFILE, "got %d", s);
  cr_assert_eq(lowest_free(), low, "no descriptor consumed under a small limit");

  close(filler);
  close(a.fd);
  cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
}

Test(fdkeep, errno_preserved_and_fork_reset) {
  struct file a = new_memfd("zs-errno");
  errno = 1234;
  int s = zs_fdkeep_get(a.fd, a.dev, a.ino);
  cr_assert_eq(errno, 1234);
  cr_assert_lt(zs_fdkeep_get(a.fd, a.dev, a.ino + 1), 0);
  cr_assert_eq(errno, 1234);
  zs_fdkeep_reset_after_fork();
  cr_assert_eq(zs_fdkeep_fd(s, a.dev, a.ino) >= 0, 1, "slots survive the reset");
  zs_fdkeep_unref(s);
  cr_assert_eq(errno, 1234);
  close(a.fd);
}
