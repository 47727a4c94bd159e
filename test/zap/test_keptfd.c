/*
 * test_keptfd.c - zaps that need fallocate(PUNCH_HOLE) (private shmem
 * with MADV_REMOVE; private hugetlb on kernels without hugetlb DONTNEED,
 * i.e. the ZAPSHIM_KERNEL=5.10 run) must keep working whatever the
 * program does with its descriptors after mmap: close it (and reuse the
 * number for another file), close_range, closefrom, a close loop, dup2
 * onto the shim's own descriptor, fork.  The file is watched through a
 * descriptor dup'ed before any of that (obs): the number the program
 * closes is not the one the test reads with.
 *
 * A lost descriptor shows as a non-zap: the private mapping reads the
 * file's content again instead of zero, and the file keeps its pages.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "zapshim.h"
#include <criterion/criterion.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB ZT_MIB
#define LEN (4 * MIB)
#define OTHER_FILL 0x11 /* a file that takes over a closed descriptor number */

struct priv {
  char *p;
  int fd;  /* the program's descriptor (closed by the tests) */
  int obs; /* the test's own view of the same file */
};

/* Private mapping of a memfd holding ZT_FILE_FILL, written with ZT_FILL. */
static struct priv priv_memfd(void) {
  struct priv m;
  m.fd = zt_make_memfd(LEN, 0);
  zt_pfill(m.fd, 0, LEN, ZT_FILE_FILL);
  m.obs = dup(m.fd);
  cr_assert(m.obs >= 0, "dup: %s", strerror(errno));
  m.p = zt_map(LEN, MAP_PRIVATE, m.fd, 0);
  zt_fill(m.p, LEN, ZT_FILL);
  return m;
}

/* MADV_REMOVE on the private memfd mapping did it all: private copies
 * dropped, backing file punched (seen through obs), missing fault. */
static void assert_private_remove_whole(struct priv *m, const char *what) {
  zt_zap(m->p, LEN, MADV_REMOVE, NULL);
  long long b = zt_st_blocks(m->obs);
  cr_assert(b == 0, "%s: the backing file still has %lld blocks: not punched", what, b);
  zt_assert_pbytes(m->obs, 0, LEN, 0, what);
  zt_assert_missing_fault(m->p, LEN, ZT_UFFD_SHMEM, what);
  zt_assert_bytes(m->p, LEN, 0, what);
}

/* The program closes its descriptor; a new file takes the same number. */
Test(keptfd, program_closes_fd_number_reused) {
  struct priv m = priv_memfd();
  cr_assert(close(m.fd) == 0, "close: %s", strerror(errno));
  int other = zt_make_memfd(LEN, 0);
  zt_pfill(other, 0, LEN, OTHER_FILL);
  cr_log_info("program fd %d closed, new memfd got %d", m.fd, other);
  assert_private_remove_whole(&m, "after close(fd) and reuse of the number");
  zt_assert_pbytes(other, 0, LEN, OTHER_FILL, "the file now at the old number is untouched");
  cr_assert_eq(zt_st_blocks(other), (long long)(LEN / 512), "the other file keeps its pages");
}

Test(keptfd, close_range_above_obs) {
  struct priv m = priv_memfd();
  cr_assert(close_range((unsigned)m.obs + 1, ~0U, 0) == 0, "close_range: %s", strerror(errno));
  assert_private_remove_whole(&m, "after close_range(obs+1, ~0)");
}

Test(keptfd, closefrom_above_obs) {
  struct priv m = priv_memfd();
  closefrom(m.obs + 1);
  assert_private_remove_whole(&m, "after closefrom(obs+1)");
}

Test(keptfd, close_loop_above_obs) {
  struct priv m = priv_memfd();
  struct rlimit rl;
  cr_assert(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit");
  int top = rl.rlim_cur > (1u << 20) ? (1 << 20) : (int)rl.rlim_cur;
  for (int i = m.obs + 1; i < top; i++)
    close(i);
  assert_private_remove_whole(&m, "after closing every descriptor above obs");
}

/*
 * close_range through the raw syscall (Go and Rust runtimes, sandboxes;
 * glibc's own closefrom does the same internally): the shim cannot see it
 * and loses its kept descriptor.  The zap must still be whole - the
 * memory is still mapped, so the file can be reached again (e.g. through
 * /proc/self/map_files) - rather than return 0 with the file's stale
 * content showing in the range.
 */
Test(keptfd, raw_close_range_above_obs) {
  struct priv m = priv_memfd();
  long r = zt_syscall(SYS_close_range, (unsigned)m.obs + 1, ~0U, 0);
  cr_assert(r == 0, "raw close_range: %s", strerror(errno));
  assert_private_remove_whole(&m, "after a raw close_range(obs+1, ~0) the shim did not see");
}

/* Descriptors other than obs and fd that name the same file: the shim's. */
static int find_kept(int obs, int fd, int *out, int cap) {
  struct stat want;
  cr_assert(fstat(obs, &want) == 0, "fstat");
  DIR *d = opendir("/proc/self/fd");
  cr_assert(d, "opendir /proc/self/fd");
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < cap) {
    int x = atoi(e->d_name);
    struct stat st;
    if (e->d_name[0] == '.' || x == obs || x == fd || x == dirfd(d) || fstat(x, &st) != 0)
      continue;
    if (st.st_dev == want.st_dev && st.st_ino == want.st_ino)
      out[n++] = x;
  }
  closedir(d);
  return n;
}

/* The program dup2s another file onto the number the shim keeps. */
Test(keptfd, dup2_onto_kept_fd) {
  struct priv m = priv_memfd();
  int kept[8];
  int n = find_kept(m.obs, m.fd, kept, 8);
  cr_log_info("%d kept descriptor(s) found for the private memfd", n);
  int other = zt_make_memfd(LEN, 0);
  zt_pfill(other, 0, LEN, OTHER_FILL);
  for (int i = 0; i < n; i++)
    cr_assert(dup2(other, kept[i]) == kept[i], "dup2 onto %d: %s", kept[i], strerror(errno));
  close(m.fd);
  assert_private_remove_whole(&m, "after dup2 onto the kept descriptor");
  zt_assert_pbytes(other, 0, LEN, OTHER_FILL, "the file dup2'ed there is untouched");
}

/* A fork child zaps with the descriptors it inherited; the parent too. */
Test(keptfd, fork_child_zaps) {
  struct priv m = priv_memfd();
  close(m.fd);
  pid_t pid = fork();
  cr_assert(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    int r = madvise(m.p, 2 * MIB, MADV_REMOVE);
    int ok = r == 0 && zt_find_not(m.p, 2 * MIB, 0) < 0 && zt_pfind_not(m.obs, 0, 2 * MIB, 0) == -1;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "the fork child's MADV_REMOVE of [0,2M) did not punch the file (status %#x)", status);
  /* the child punched the shared file: the parent's private copies stay */
  zt_assert_bytes(m.p, LEN, ZT_FILL, "parent's private copies untouched by the child");
  zt_assert_pbytes(m.obs, 2 * MIB, 2 * MIB, ZT_FILE_FILL, "file [2M,4M) untouched by the child");
  assert_private_remove_whole(&m, "the parent after the child's zap");
}

/*
 * Private hugetlb memfd, descriptor closed and everything above obs
 * closed: both huge pages are still freed (under ZAPSHIM_KERNEL=5.10 this
 * needs the kept descriptor).  Measured on this mapping alone, not on the
 * system-wide pool: the private copies are what the mapping maps (smaps,
 * 0 after the zap); the file (seen through obs) never holds one.
 */
static void hugetlb_private_closed(int advice) {
  zt_need_hugepages(ZT_HPAGE_2M, 2); /* precondition only */
  int fd = zt_make_memfd(LEN, MFD_HUGETLB | MFD_HUGE_2MB);
  int obs = dup(fd);
  cr_assert(obs >= 0, "dup: %s", strerror(errno));
  char *p = zt_map(LEN, MAP_PRIVATE, fd, 0);
  zt_fill(p, LEN, ZT_FILL);
  cr_assert_eq(zt_vma_hugetlb_kb(p), ZT_HPAGE_KB(2), "the mapping maps two private huge pages");
  cr_assert_eq(zt_st_blocks(obs), 0, "private copies are not in the file");
  cr_assert(close_range((unsigned)obs + 1, ~0U, 0) == 0, "close_range: %s", strerror(errno));
  close(fd);
  zt_zap(p, LEN, advice, NULL);
  long kb = zt_vma_hugetlb_kb(p);
  cr_assert(kb == 0, "private hugetlb, fd closed: the mapping still maps %ld kB of huge pages",
            kb);
  cr_assert_eq(zt_st_blocks(obs), 0, "the file still holds no page");
  zt_assert_missing_fault(p, LEN, ZT_UFFD_HUGETLB, "private hugetlb, fd closed");
  zt_assert_bytes(p, LEN, 0, "private hugetlb, fd closed");
}
Test(keptfd, hugetlb_private_closed_dontneed) { hugetlb_private_closed(MADV_DONTNEED); }
Test(keptfd, hugetlb_private_closed_remove) { hugetlb_private_closed(MADV_REMOVE); }

/* The number of the descriptor the shim keeps for the mapping at p, read
 * through the public API of the preloaded library; -1 if none. */
static int shim_kept_fd(void *p) {
  int (*query)(const void *, struct zapshim_range_info *) =
      (int (*)(const void *, struct zapshim_range_info *))dlsym(RTLD_DEFAULT, "zapshim_query");
  struct zapshim_range_info info;
  if (!query || query(p, &info) != 0)
    return -1;
  return info.fd;
}

/*
 * The kept number replaced behind the shim's back (a raw dup3 it cannot
 * see) by another file: that file must never be punched (the fstat check
 * refuses the number); the zap still reaches the mapping's own file.
 */
Test(keptfd, kept_number_replaced_by_raw_dup3) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  struct priv m = priv_memfd();
  int kept = shim_kept_fd(m.p);
  cr_assert_geq(kept, 0, "the shim keeps a descriptor for a private memfd");
  int other = zt_make_memfd(LEN, 0);
  zt_pfill(other, 0, LEN, OTHER_FILL);
  cr_assert_eq(zt_syscall(SYS_dup3, other, kept, O_CLOEXEC), kept);
  assert_private_remove_whole(&m, "kept number replaced by a raw dup3");
  zt_assert_pbytes(kept, 0, LEN, OTHER_FILL, "the file now at the kept number is untouched");
}

/*
 * Out of descriptors: no high number is free for the shim to keep one, so
 * the program's own mmap must still succeed (the shim goes without), and a
 * later MADV_REMOVE still frees the backing file (through map_files).
 */
Test(keptfd, no_descriptor_left_for_the_shim) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  pid_t pid = fork();
  cr_assert(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    struct priv m0 = {0};
    m0.fd = zt_make_memfd(LEN, 0);
    zt_pfill(m0.fd, 0, LEN, ZT_FILE_FILL);
    m0.obs = dup(m0.fd);
    /* a small limit (a few numbers above those in use): the shim must not
     * take any of them from the program */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = (rlim_t)m0.obs + 4;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      _exit(2);
    char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, m0.fd, 0);
    if (p == MAP_FAILED)
      _exit(3); /* the program's mmap failed: the shim broke it */
    if (shim_kept_fd(p) >= 0)
      _exit(4); /* the shim took one of the program's few numbers */
    memset(p, ZT_FILL, LEN);
    if (madvise(p, LEN, MADV_REMOVE) != 0)
      _exit(5);
    if (zt_st_blocks(m0.obs) != 0) /* before any read: reading a shmem hole allocates */
      _exit(6);
    _exit(zt_find_not(p, LEN, 0) < 0 ? 0 : 5);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "child status %#x (3: mmap failed, 4: the shim took a descriptor, 5: zap failed, "
            "6: not punched)",
            status);
}

/* ---- a descriptor number the shim once kept, now the program's ---- */

/*
 * pipe_on_number - close number n behind the shim's back (a raw
 * close_range, as Go and Rust runtimes and glibc's closefrom do) and give
 * it to the write end of a new pipe of the program's (a raw dup3: the
 * number is wherever the program's next descriptor lands).  Returns the
 * pipe's read end (non-blocking); the write end's only descriptor is n.
 */
static int pipe_on_number(int n) {
  cr_assert_eq(zt_syscall(SYS_close_range, (unsigned)n, (unsigned)n, 0), 0, "raw close_range");
  int pfd[2];
  cr_assert_eq(pipe2(pfd, O_NONBLOCK | O_CLOEXEC), 0, "pipe2: %s", strerror(errno));
  cr_assert_eq(zt_syscall(SYS_dup3, pfd[1], n, 0), n, "raw dup3 onto %d: %s", n, strerror(errno));
  close(pfd[1]);
  return pfd[0];
}

/* assert_eof - every write end of the pipe is closed: read says 0 (the
 * read end is non-blocking, so a write end still open shows as EAGAIN,
 * never as a hang). */
static void assert_eof(int rd, const char *what) {
  char c;
  ssize_t r = read(rd, &c, 1);
  cr_assert(r == 0, "%s: the reader sees no EOF (read %zd, %s): the program's descriptor was not closed",
            what, r, r < 0 ? strerror(errno) : "data");
  close(rd);
}

/* The kept number of a private memfd mapping, now a pipe of the
 * program's: the program's close() must really close it.  (That the zap
 * is still whole once the kept number is lost is raw_close_range_above_obs
 * and kept_number_replaced_by_raw_dup3; it needs map_files, these do not.) */
Test(keptfd, close_of_pipe_on_kept_number_closes) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  struct priv m = priv_memfd();
  int kept = shim_kept_fd(m.p);
  cr_assert_geq(kept, 0, "the shim keeps a descriptor for a private memfd");
  int rd = pipe_on_number(kept);
  cr_assert_eq(close(kept), 0, "close: %s", strerror(errno));
  assert_eof(rd, "close() of a pipe on a number the shim once kept");
  munmap(m.p, LEN);
  close(m.fd);
  close(m.obs);
}

/* The same with close_range over that number. */
Test(keptfd, close_range_of_pipe_on_kept_number_closes) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  struct priv m = priv_memfd();
  int kept = shim_kept_fd(m.p);
  cr_assert_geq(kept, 0, "the shim keeps a descriptor for a private memfd");
  int rd = pipe_on_number(kept);
  cr_assert_eq(close_range((unsigned)kept, (unsigned)kept, 0), 0, "close_range: %s",
               strerror(errno));
  assert_eof(rd, "close_range() over a pipe on a number the shim once kept");
  munmap(m.p, LEN);
  close(m.fd);
  close(m.obs);
}

/* dup2/dup3 onto that number: the program's pipe is replaced and closed,
 * never moved into the shim's table (where it would stay open). */
static void dup_onto_pipe_on_kept_number(bool three) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  struct priv m = priv_memfd();
  int kept = shim_kept_fd(m.p);
  cr_assert_geq(kept, 0, "the shim keeps a descriptor for a private memfd");
  int rd = pipe_on_number(kept);
  int other = zt_make_memfd(LEN, 0);
  int r = three ? dup3(other, kept, O_CLOEXEC) : dup2(other, kept);
  cr_assert_eq(r, kept, "dup onto %d: %s", kept, strerror(errno));
  assert_eof(rd, three ? "dup3() onto a pipe on a number the shim once kept"
                       : "dup2() onto a pipe on a number the shim once kept");
  close(kept);
  close(other);
  munmap(m.p, LEN);
  close(m.fd);
  close(m.obs);
}
Test(keptfd, dup2_onto_pipe_on_kept_number) { dup_onto_pipe_on_kept_number(false); }
Test(keptfd, dup3_onto_pipe_on_kept_number) { dup_onto_pipe_on_kept_number(true); }

/* shim_proc_fd - the descriptor of the /proc directory the shim keeps
 * from load time (the only descriptor reading "/proc" at a high number);
 * -1 if none. */
static int shim_proc_fd(void) {
  DIR *d = opendir("/proc/self/fd");
  cr_assert(d, "opendir /proc/self/fd");
  int found = -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    char path[64], link[64];
    int x = atoi(e->d_name);
    if (e->d_name[0] == '.' || x < 64 || x == dirfd(d))
      continue;
    snprintf(path, sizeof path, "/proc/self/fd/%d", x);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n == 5 && memcmp(link, "/proc", 5) == 0)
      found = x;
  }
  closedir(d);
  return found;
}

/* The shim's /proc descriptor is protected like the kept ones... */
Test(keptfd, proc_fd_survives_close_and_dup2) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  int pfd = shim_proc_fd();
  cr_assert_geq(pfd, 0, "the shim keeps a descriptor of /proc from load time");
  cr_assert_eq(close(pfd), 0);
  cr_assert_eq(shim_proc_fd(), pfd, "close() of the shim's /proc descriptor leaves it open");
  int other = zt_make_memfd(LEN, 0);
  cr_assert_eq(dup2(other, pfd), pfd);
  int moved = shim_proc_fd();
  cr_assert(moved >= 0 && moved != pfd, "dup2 onto it moves it (now %d)", moved);
  close(pfd);
  close(other);
}

/* ...and once its number is the program's, close() of it really closes. */
Test(keptfd, close_of_pipe_on_proc_fd_number_closes) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  int pfd = shim_proc_fd();
  cr_assert_geq(pfd, 0, "the shim keeps a descriptor of /proc from load time");
  int rd = pipe_on_number(pfd);
  cr_assert_eq(close(pfd), 0, "close: %s", strerror(errno));
  assert_eof(rd, "close() of a pipe on the number of the shim's /proc descriptor");
}

/* ---- no /proc: a chroot entered after the shim loaded (a VMM jailer) ---- */

/*
 * In a chroot without /proc, the shim still asks the kernel through the
 * /proc descriptor it kept from load time: a shared memfd mapped by a raw
 * syscall (the shim never saw it) is freed by a plain DONTNEED, and a raw
 * anonymous mapping is zapped, not answered ENOMEM.  With that descriptor
 * gone too (raw close_range), the kernel cannot be asked: the program's
 * own call is made, never an invented ENOMEM.
 */
Test(keptfd, chroot_without_proc) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  char dir[] = "/tmp/zs-jail-XXXXXX";
  cr_assert_neq(mkdtemp(dir), NULL, "mkdtemp: %s", strerror(errno));
  pid_t pid = fork();
  cr_assert(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    alarm(20);
    int mfd = zt_make_memfd(LEN, 0);
    if (chroot(dir) != 0 || chdir("/") != 0)
      _exit(77);
    if (access("/proc/self/maps", F_OK) == 0)
      _exit(2);
    long sh = zt_syscall(SYS_mmap, NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    long an = zt_syscall(SYS_mmap, NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    if (sh == -1 || an == -1)
      _exit(3);
    memset((void *)sh, ZT_FILL, LEN);
    memset((void *)an, ZT_FILL, LEN);
    if (madvise((void *)an, LEN, MADV_DONTNEED) != 0)
      _exit(4); /* ENOMEM: "cannot ask" taken for "nothing mapped" */
    if (zt_find_not((void *)an, LEN, 0) >= 0)
      _exit(5);
    if (madvise((void *)sh, LEN, MADV_DONTNEED) != 0)
      _exit(6);
    if (zt_st_blocks(mfd) != 0)
      _exit(7); /* the kernel's word was not had: shmem kept its data */
    /* now without the kept /proc either */
    int pfd = -1;
    for (int x = 4095; x >= 64 && pfd < 0; x--) {
      struct stat st;
      if (fstat(x, &st) == 0 && S_ISDIR(st.st_mode) && st.st_ino == 1)
        pfd = x;
    }
    if (pfd < 0)
      _exit(8);
    zt_syscall(SYS_close_range, (unsigned)pfd, (unsigned)pfd, 0);
    memset((void *)an, ZT_FILL, LEN);
    if (madvise((void *)an, LEN, MADV_DONTNEED) != 0)
      _exit(9); /* must be the program's own call: 0 */
    if (zt_find_not((void *)an, LEN, 0) >= 0)
      _exit(10);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  rmdir(dir);
  zt_need(!(WIFEXITED(status) && WEXITSTATUS(status) == 77), "chroot (root) for a jail without /proc");
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "in a chroot without /proc: child status %#x (2: /proc visible, 4/9: madvise failed "
            "(ENOMEM invented), 5/10: anon not zeroed, 7: shmem not freed, 8: no kept /proc fd)",
            status);
}
