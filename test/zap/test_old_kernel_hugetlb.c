/*
 * test_old_kernel_hugetlb.c - issue 9 case 6: a private view of a
 * hugetlbfs file on kernels without hugetlb MADV_DONTNEED (before 5.18).
 *
 * There the only call that frees private huge pages is a punch of the
 * file, which also destroys the file's own pages: the data of every
 * MAP_SHARED view of it, in this process or another.  ctest runs this
 * file natively and with ZAPSHIM_KERNEL=6.10, 5.18, 5.10.
 *
 * Contract:
 *  - DONTNEED on the private view never destroys the data of a shared
 *    view: a forked child that maps the file MAP_SHARED, wrote its pattern
 *    through that view and stays alive reads it back after the zap; the
 *    file keeps its pages (st_blocks) and bytes (pread).  Whether the file
 *    is named in the hugetlbfs mount or unlinked.
 *  - 5.18+ (natively too): the private view's pages are dropped by
 *    DONTNEED (smaps of the view: 0 kB of huge pages), the file untouched.
 *  - before 5.18: punch only when the file is unlinked and nothing else
 *    maps it; otherwise left as asked, and logged.  The result is 0, or
 *    the old kernel's own EINVAL.
 *  - MAP_HUGETLB private memory (no other user) is zapped on every kernel.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB ZT_MIB
#define LEN (4 * MIB)
#define SHARED_FILL 0x3C  /* written by the holder through its shared view */
#define PRIVATE_FILL 0x5A /* written by this process through its private view */

/* A second process that maps the file MAP_SHARED, fills it and holds it. */
struct holder {
  pid_t pid;
  int go;     /* write end: "check now" */
  int answer; /* read end: the holder's verdict */
};

/* holder_main - the child: map, fill, report ready, wait, read back and
 * report the first offset that lost the pattern (-1: none).  _exit only. */
static void holder_main(int fd, int ready, int go, int answer) {
  alarm(60);
  long verdict = -3;
  char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  char c = 'E';
  if (p != MAP_FAILED) {
    memset(p, SHARED_FILL, LEN);
    c = 'R';
  }
  if (write(ready, &c, 1) != 1 || c != 'R')
    _exit(2);
  if (read(go, &c, 1) != 1)
    _exit(3);
  verdict = zt_find_not(p, LEN, SHARED_FILL);
  if (write(answer, &verdict, sizeof verdict) != (ssize_t)sizeof verdict)
    _exit(4);
  _exit(0);
}

/* holder_start - fork the holder and wait until its shared view is filled. */
static void holder_start(struct holder *h, int fd) {
  int ready[2], go[2], answer[2];
  cr_assert(pipe2(ready, O_CLOEXEC) == 0 && pipe2(go, O_CLOEXEC) == 0 &&
            pipe2(answer, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
  h->pid = fork();
  cr_assert(h->pid >= 0, "fork: %s", strerror(errno));
  if (h->pid == 0) {
    close(ready[0]);
    close(go[1]);
    close(answer[0]);
    holder_main(fd, ready[1], go[0], answer[1]);
  }
  close(ready[1]);
  close(go[0]);
  close(answer[1]);
  char c = 0;
  ssize_t n = read(ready[0], &c, 1);
  close(ready[0]);
  cr_assert(n == 1 && c == 'R', "the holder could not map and fill the file");
  h->go = go[1];
  h->answer = answer[0];
}

/* holder_verdict - ask the holder to read its view back; returns the first
 * offset that lost the pattern, -1 if none, -3 if the holder died. */
static long holder_verdict(struct holder *h) {
  char c = 'G';
  long v = -3;
  if (write(h->go, &c, 1) != 1 || read(h->answer, &v, sizeof v) != (ssize_t)sizeof v)
    v = -3;
  close(h->go);
  close(h->answer);
  int st;
  waitpid(h->pid, &st, 0);
  return v;
}

/* zap_ok - madvise's result is the contract's: 0, or before 5.18 the old
 * kernel's own EINVAL (the call left as asked). */
static void zap_ok(int r, int e, const char *what) {
  bool old = zt_shim_kernel() < ZT_KVER(5, 18);
  cr_assert(r == 0 || (old && r == -1 && e == EINVAL),
            "%s: madvise(MADV_DONTNEED) returned %d errno %d (%s)", what, r, e, strerror(e));
}

/* private_view - map the file MAP_PRIVATE through libc and write over it:
 * the view then holds private copies of both huge pages. */
static char *private_view(int fd) {
  char *p = zt_map(LEN, MAP_PRIVATE, fd, 0);
  zt_fill(p, LEN, PRIVATE_FILL);
  cr_assert_eq(zt_vma_hugetlb_kb(p), ZT_HPAGE_KB(2), "the private view holds two huge pages");
  return p;
}

/* after_private_zap - what the private view must show after the zap: on
 * 5.18+ its pages are dropped (checked before anything reads it), then it
 * reads the file's data; before 5.18 only noted. */
static void after_private_zap(char *p, unsigned char file_fill, const char *what) {
  long kb = zt_vma_hugetlb_kb(p);
  if (zt_shim_kernel() >= ZT_KVER(5, 18)) {
    cr_assert_eq(kb, 0, "%s: the private view still maps %ld kB of huge pages", what, kb);
    zt_assert_bytes(p, LEN, file_fill, what);
  } else {
    cr_log_info("%s: before 5.18 the private view maps %ld kB of huge pages after the zap", what,
                kb);
  }
}

/* shared_by_other_process - the file (named or not) mapped MAP_SHARED by
 * a live child holding its data, MAP_PRIVATE here; DONTNEED the private
 * view. */
static void shared_by_other_process(bool named) {
  zt_need_hugepages(ZT_HPAGE_2M, 4);
  char path[512];
  int fd = zt_make_hugetlbfs_file(ZT_HPAGE_2M, LEN, path, sizeof path);
  if (!named)
    cr_assert(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
  const char *what = named ? "named hugetlbfs file" : "unlinked hugetlbfs file";
  struct holder h;
  holder_start(&h, fd);
  cr_assert_eq(zt_st_blocks(fd), ZT_HPAGE_BLOCKS(2), "%s: the holder's data is in the file",
               what);
  char *p = private_view(fd);

  errno = 0;
  int r = madvise(p, LEN, MADV_DONTNEED);
  int e = errno;
  long long blocks = zt_st_blocks(fd);
  long file_bad = zt_pfind_not(fd, 0, LEN, SHARED_FILL);
  long holder_bad = holder_verdict(&h);

  zap_ok(r, e, what);
  cr_assert(holder_bad == -1, "%s: the other process's shared view lost its data (first bad "
            "offset %ld; -3: it died)", what, holder_bad);
  cr_assert_eq(blocks, ZT_HPAGE_BLOCKS(2), "%s: the file lost huge pages (st_blocks %lld)", what,
               blocks);
  cr_assert(file_bad == -1, "%s: the file's bytes changed (pread: first bad offset %ld)", what,
            file_bad);
  after_private_zap(p, SHARED_FILL, what);
  munmap(p, LEN);
  close(fd);
}

Test(old_kernel_hugetlb, named_file_shared_by_another_process) {
  shared_by_other_process(true);
}

Test(old_kernel_hugetlb, unlinked_file_shared_by_another_process) {
  shared_by_other_process(false);
}

/* An unlinked file mapped MAP_SHARED in this very process too (a mapping
 * the shim can see): the private view's zap leaves the shared view's data. */
Test(old_kernel_hugetlb, unlinked_file_shared_here_too) {
  zt_need_hugepages(ZT_HPAGE_2M, 4);
  char path[512];
  int fd = zt_make_hugetlbfs_file(ZT_HPAGE_2M, LEN, path, sizeof path);
  cr_assert(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
  char *s = zt_map(LEN, MAP_SHARED, fd, 0);
  zt_fill(s, LEN, SHARED_FILL);
  char *p = private_view(fd);

  errno = 0;
  int r = madvise(p, LEN, MADV_DONTNEED);
  int e = errno;
  zap_ok(r, e, "unlinked file, shared view here");
  cr_assert_eq(zt_st_blocks(fd), ZT_HPAGE_BLOCKS(2), "the file keeps its huge pages");
  zt_assert_bytes(s, LEN, SHARED_FILL, "the shared view in this process");
  after_private_zap(p, SHARED_FILL, "unlinked file, shared view here");
}

/* An unlinked file that only this private view maps (its pages are all
 * private copies; the file holds none): zapped on every kernel. */
Test(old_kernel_hugetlb, unlinked_file_private_only_zapped) {
  zt_need_hugepages(ZT_HPAGE_2M, 2);
  char path[512];
  int fd = zt_make_hugetlbfs_file(ZT_HPAGE_2M, LEN, path, sizeof path);
  cr_assert(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
  char *p = private_view(fd);
  zt_zap(p, LEN, MADV_DONTNEED, "private view of an unlinked hugetlbfs file, no other user");
  cr_assert_eq(zt_vma_hugetlb_kb(p), 0, "the private view's huge pages are freed");
  cr_assert_eq(zt_st_blocks(fd), 0, "the file holds no page");
  zt_assert_bytes(p, LEN, 0, "the private view reads the (empty) file");
}

/* MAP_HUGETLB private memory, no other user: zapped on every kernel. */
Test(old_kernel_hugetlb, map_hugetlb_private_zapped) {
  zt_need_hugepages(ZT_HPAGE_2M, 2);
  char *p = zt_map(LEN, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
  zt_fill(p, LEN, ZT_FILL);
  cr_assert_eq(zt_vma_hugetlb_kb(p), ZT_HPAGE_KB(2), "the mapping holds two huge pages");
  zt_zap(p, LEN, MADV_DONTNEED, "MAP_HUGETLB private");
  cr_assert_eq(zt_vma_hugetlb_kb(p), 0, "MAP_HUGETLB private: huge pages freed (smaps)");
  zt_assert_bytes(p, LEN, 0, "MAP_HUGETLB private reads zero");
}
