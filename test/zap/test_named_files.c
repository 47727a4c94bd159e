/*
 * test_named_files.c - issue 14: a tmpfs or hugetlbfs file that anyone can
 * still open by its path is data, not guest RAM.  Under the shim, by
 * default (ZAPSHIM_NAMED_FILES=keep):
 *
 *   kept:    MADV_DONTNEED on a shared mapping of a file still linked in a
 *            directory returns 0 and leaves every byte and every block
 *            (st_blocks unchanged, no userfaultfd missing fault: the pages
 *            are still there) - also after a rename, and for an O_TMPFILE
 *            file linked with linkat before the zap;
 *   zapped:  the same file unlinked after mmap (and an O_TMPFILE file never
 *            linked, or linked and unlinked again): reads zero, st_blocks 0,
 *            missing fault - the policy weighs the file's state at the zap;
 *   asked:   MADV_REMOVE on a shared named mapping punches the file (the
 *            program asked); on a private view of a named tmpfs file it is
 *            the kernel's EACCES and the file keeps its data; DONTNEED on a
 *            private view drops the private copies only.
 *
 * With ZAPSHIM_NAMED_FILES=zap named files are zapped like memfd.  The
 * shim reads its variables when it loads, so those tests re-run this
 * binary (/proc/self/exe) with the variable set and an argument that makes
 * a constructor do one zap and exit before Criterion starts (child_main);
 * the parent proves the result on the file itself.
 *
 * The binary does not link the shim; ctest runs it with LD_PRELOAD (and as
 * kernels 6.10, 5.18, 5.10).  Without the shim the "zapped" tests fail:
 * that is how they prove they can see a non-zap.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LEN (4 * ZT_MIB)
#define SHM "/dev/shm"
#define CHILD_FLAG "--zt-named-child"

/* Exit codes of the child (child_main). */
enum {
  C_ZAPPED = 10,    /* madvise 0, then a userfaultfd missing fault on both probes */
  C_KEPT = 11,      /* madvise 0, the reads completed: the pages are still there */
  C_NO_SHIM = 12,   /* the shim is not loaded in the child */
  C_SETUP = 13,     /* open/mmap failed */
  C_MADVISE = 14,   /* madvise failed */
  C_NOT_FILLED = 15,/* the file did not hold the parent's fill */
  C_NO_UFFD = 16,   /* userfaultfd cannot watch this memory here */
  C_ZAPPED_TWICE = 17, /* mode "twice": both calls returned 0 */
};

/* ------------------------------------------------------------------ */
/* The child: one zap under the variables the parent set                */
/* ------------------------------------------------------------------ */

/* child_fault - C_ZAPPED if reads of the first and middle byte of
 * [p, p+len) raise a userfaultfd missing fault, C_KEPT if they complete,
 * C_NO_UFFD if userfaultfd cannot watch it. */
static int child_fault(char *p, size_t len, uint64_t features) {
  int uffd = zt_uffd_open(features);
  if (uffd < 0 || zt_uffd_register_missing(uffd, p, len) != 0)
    return C_NO_UFFD;
  bool a = zt_sigbus_on_read(p), b = zt_sigbus_on_read(p + len / 2);
  zt_uffd_unregister(uffd, p, len);
  close(uffd);
  return a && b ? C_ZAPPED : C_KEPT;
}

/*
 * child_main - when run as "EXE --zt-named-child MODE PATH": map PATH
 * shared (LEN bytes), check it holds ZT_FILL, madvise(MADV_DONTNEED)
 * through libc (the shim), and exit with a C_* code.  MODE "shmem" or
 * "hugetlb" picks the userfaultfd features of the fault check; "twice"
 * makes the call twice and checks no fault (for the log test).  Runs as a
 * constructor, before Criterion's main, and never returns in that case.
 */
__attribute__((constructor)) static void child_main(int argc, char **argv, char **envp) {
  (void)envp;
  if (argc != 4 || strcmp(argv[1], CHILD_FLAG) != 0)
    return;
  const char *mode = argv[2], *path = argv[3];
  if (!zt_shim_loaded())
    _exit(C_NO_SHIM);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  char *p = fd < 0 ? MAP_FAILED : mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    _exit(C_SETUP);
  if (zt_find_not(p, LEN, ZT_FILL) != -1)
    _exit(C_NOT_FILLED);
  if (madvise(p, LEN, MADV_DONTNEED) != 0)
    _exit(C_MADVISE);
  if (strcmp(mode, "twice") == 0)
    _exit(madvise(p, LEN, MADV_DONTNEED) == 0 ? C_ZAPPED_TWICE : C_MADVISE);
  _exit(child_fault(p, LEN, strcmp(mode, "hugetlb") == 0 ? ZT_UFFD_HUGETLB : ZT_UFFD_SHMEM));
}

/*
 * run_child - run this binary as child_main MODE PATH with
 * ZAPSHIM_NAMED_FILES=named_files (unset if NULL) and ZAPSHIM_LOG=log (if
 * not NULL); LD_PRELOAD and ZAPSHIM_KERNEL are inherited.  Waits at most
 * 30 s (then kills it).  Returns its exit code (asserts it exited).
 */
static int run_child(const char *mode, const char *path, const char *named_files,
                     const char *log) {
  pid_t pid = fork();
  cr_assert(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    if (named_files)
      setenv("ZAPSHIM_NAMED_FILES", named_files, 1);
    else
      unsetenv("ZAPSHIM_NAMED_FILES");
    if (log)
      setenv("ZAPSHIM_LOG", log, 1);
    execl("/proc/self/exe", "test_named_files", CHILD_FLAG, mode, path, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  for (int i = 0; i < 3000; i++) { /* 30 s in 10 ms steps */
    pid_t w = waitpid(pid, &status, WNOHANG);
    cr_assert(w >= 0, "waitpid: %s", strerror(errno));
    if (w == pid) {
      cr_assert(WIFEXITED(status), "the child died of signal %d", WTERMSIG(status));
      return WEXITSTATUS(status);
    }
    nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  cr_assert_fail("the child (%s %s) did not finish within 30 s", mode, path);
  return -1;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

/* Paths to remove at exit besides zt_make_file_in's (renamed or linked). */
static char extra_paths[4][512];
static int n_extra;

/* remove_extra - unlink the paths noted by note_path. */
static void remove_extra(void) {
  for (int i = 0; i < n_extra; i++)
    unlink(extra_paths[i]);
}

/* note_path - remove path when the test process exits. */
static void note_path(const char *path) {
  cr_assert(n_extra < 4);
  if (n_extra == 0)
    atexit(remove_extra);
  snprintf(extra_paths[n_extra++], sizeof extra_paths[0], "%s", path);
}

/* new_name - a fresh unused path in dir, noted for removal. */
static void new_name(const char *dir, const char *tag, char *buf, size_t len) {
  static int seq;
  snprintf(buf, len, "%s/zapshim-test-%s.%d.%d", dir, tag, (int)getpid(), seq++);
  note_path(buf);
}

static void assert_blocks(int fd, long long want, const char *what) {
  long long b = zt_st_blocks(fd);
  cr_assert(b == want, "%s: st_blocks %lld, expected %lld", what, b, want);
}

/* Which filesystem a test's file is on. */
enum fs { TMPFS, HUGETLBFS };

/* fs_file - a new linked file of LEN bytes on fs; path into path.  For
 * hugetlbfs zt_need()s the mount and 2 free huge pages (extra more). */
static int fs_file(enum fs fs, long extra, char *path, size_t len) {
  if (fs == TMPFS)
    return zt_make_file_in(SHM, LEN, path, len);
  zt_need_hugepages(ZT_HPAGE_2M, 2 + extra);
  return zt_make_hugetlbfs_file(ZT_HPAGE_2M, LEN, path, len);
}

static long long full_blocks(enum fs fs) {
  return fs == TMPFS ? (long long)(LEN / 512) : ZT_HPAGE_BLOCKS(LEN / ZT_HPAGE_2M);
}

static uint64_t features(enum fs fs) {
  return fs == TMPFS ? ZT_UFFD_SHMEM : ZT_UFFD_HUGETLB;
}

/* map_filled - map fd shared and fill it with ZT_FILL; the file then holds
 * every block. */
static char *map_filled(enum fs fs, int fd, const char *what) {
  char *p = zt_map(LEN, MAP_SHARED, fd, 0);
  zt_fill(p, LEN, ZT_FILL);
  assert_blocks(fd, full_blocks(fs), what);
  return p;
}

/* assert_kept - the DONTNEED left the data: same blocks, the pages still
 * there (no missing fault), every byte through the mapping and the file. */
static void assert_kept(enum fs fs, int fd, char *p, const char *what) {
  assert_blocks(fd, full_blocks(fs), what);
  zt_assert_no_missing_fault(p, LEN, features(fs), what);
  zt_assert_bytes(p, LEN, ZT_FILL, what);
  zt_assert_pbytes(fd, 0, LEN, ZT_FILL, what);
}

/* assert_zapped - the zap freed the file: st_blocks 0, missing fault,
 * reads zero (blocks first: a read of a shmem hole allocates nothing, but
 * the fault check must come before any read). */
static void assert_zapped(enum fs fs, int fd, char *p, const char *what) {
  assert_blocks(fd, 0, what);
  zt_assert_missing_fault(p, LEN, features(fs), what);
  zt_assert_bytes(p, LEN, 0, what);
  zt_assert_pbytes(fd, 0, LEN, 0, what);
}

/* ------------------------------------------------------------------ */
/* Named shared files keep their data on DONTNEED                        */
/* ------------------------------------------------------------------ */

static void named_dontneed_keeps(enum fs fs, const char *what) {
  char path[512];
  int fd = fs_file(fs, 0, path, sizeof path);
  char *p = map_filled(fs, fd, what);
  zt_zap(p, LEN, MADV_DONTNEED, what);
  assert_kept(fs, fd, p, what);
}

Test(named, tmpfs_dontneed_keeps, .timeout = 60) {
  named_dontneed_keeps(TMPFS, "named /dev/shm file, shared, DONTNEED");
}

Test(named, hugetlbfs_dontneed_keeps, .timeout = 60) {
  named_dontneed_keeps(HUGETLBFS, "named hugetlbfs file, shared, DONTNEED");
}

/* The issue's example, exactly: write "IMPORTANT" into a shared mapping of
 * a file the program created in /dev/shm, msync, DONTNEED, close; the file
 * reopened by name still holds it. */
Test(named, issue_example_important, .timeout = 60) {
  char path[512];
  new_name(SHM, "important", path, sizeof path);
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  cr_assert(fd >= 0, "create %s: %s", path, strerror(errno));
  size_t ps = zt_page_size();
  cr_assert(ftruncate(fd, (off_t)ps) == 0);
  char *p = zt_map(ps, MAP_SHARED, fd, 0);
  memcpy(p, "IMPORTANT", 9);
  cr_assert(msync(p, ps, MS_SYNC) == 0, "msync: %s", strerror(errno));
  zt_zap(p, ps, MADV_DONTNEED, "IMPORTANT");
  cr_assert(munmap(p, ps) == 0);
  cr_assert(close(fd) == 0);

  fd = open(path, O_RDONLY | O_CLOEXEC);
  cr_assert(fd >= 0, "reopen %s: %s", path, strerror(errno));
  char buf[16] = {0};
  cr_assert(pread(fd, buf, 9, 0) == 9, "pread: %s", strerror(errno));
  cr_assert_str_eq(buf, "IMPORTANT", "the file reopened by name holds \"%s\"", buf);
  cr_assert(zt_st_blocks(fd) > 0, "the file still has its block");
  close(fd);
}

/* ------------------------------------------------------------------ */
/* ZAPSHIM_NAMED_FILES=zap: named files zapped like memfd                */
/* ------------------------------------------------------------------ */

/* The file is filled by this process (through a mapping: hugetlbfs has no
 * write(2)); the child, run with the variable, maps it and zaps; the
 * result is proven here on the file and by the child's fault check. */
static void named_opt_in(enum fs fs, const char *value, const char *what) {
  char path[512];
  int fd = fs_file(fs, 0, path, sizeof path);
  char *p = map_filled(fs, fd, what);
  cr_assert(munmap(p, LEN) == 0);
  int rc = run_child(fs == TMPFS ? "shmem" : "hugetlb", path, value, NULL);
  zt_need(rc != C_NO_UFFD, "userfaultfd missing mode on this memory (the child's fault check)");
  cr_assert(rc != C_NO_SHIM, "%s: the child has no shim (LD_PRELOAD lost)", what);
  bool zap = value && strcmp(value, "zap") == 0;
  cr_assert(rc == (zap ? C_ZAPPED : C_KEPT), "%s: the child says %s (exit %d)", what,
            rc == C_ZAPPED ? "zapped" : rc == C_KEPT ? "kept" : "failed", rc);
  if (zap) {
    assert_blocks(fd, 0, what);
    zt_assert_pbytes(fd, 0, LEN, 0, what);
  } else {
    assert_blocks(fd, full_blocks(fs), what);
    zt_assert_pbytes(fd, 0, LEN, ZT_FILL, what);
  }
}

Test(named, tmpfs_opt_in_zaps, .timeout = 60) {
  named_opt_in(TMPFS, "zap", "ZAPSHIM_NAMED_FILES=zap, named /dev/shm file");
}

Test(named, hugetlbfs_opt_in_zaps, .timeout = 60) {
  named_opt_in(HUGETLBFS, "zap", "ZAPSHIM_NAMED_FILES=zap, named hugetlbfs file");
}

/* The same child with keep (and unset): kept, so it is the variable that
 * makes the difference, not the child harness. */
Test(named, tmpfs_opt_in_keep_control, .timeout = 60) {
  named_opt_in(TMPFS, "keep", "ZAPSHIM_NAMED_FILES=keep, named /dev/shm file");
  named_opt_in(TMPFS, NULL, "ZAPSHIM_NAMED_FILES unset, named /dev/shm file");
}

/* ------------------------------------------------------------------ */
/* The state at the zap decides: unlinked, renamed, linked again         */
/* ------------------------------------------------------------------ */

static void unlinked_after_mmap(enum fs fs, const char *what) {
  char path[512];
  int fd = fs_file(fs, 0, path, sizeof path);
  char *p = map_filled(fs, fd, what);
  cr_assert(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
  zt_zap(p, LEN, MADV_DONTNEED, what);
  assert_zapped(fs, fd, p, what);
}

Test(named, tmpfs_unlinked_after_mmap_zapped, .timeout = 60) {
  unlinked_after_mmap(TMPFS, "/dev/shm file unlinked after mmap, DONTNEED");
}

Test(named, hugetlbfs_unlinked_after_mmap_zapped, .timeout = 60) {
  unlinked_after_mmap(HUGETLBFS, "hugetlbfs file unlinked after mmap, DONTNEED");
}

static void renamed_keeps(enum fs fs, const char *what) {
  char path[512], to[600];
  int fd = fs_file(fs, 0, path, sizeof path);
  char *p = map_filled(fs, fd, what);
  snprintf(to, sizeof to, "%s.renamed", path);
  note_path(to);
  cr_assert(rename(path, to) == 0, "rename %s -> %s: %s", path, to, strerror(errno));
  zt_zap(p, LEN, MADV_DONTNEED, what);
  assert_kept(fs, fd, p, what);
}

Test(named, tmpfs_renamed_keeps, .timeout = 60) {
  renamed_keeps(TMPFS, "/dev/shm file renamed after mmap, DONTNEED");
}

Test(named, hugetlbfs_renamed_keeps, .timeout = 60) {
  renamed_keeps(HUGETLBFS, "hugetlbfs file renamed after mmap, DONTNEED");
}

/* tmpfile_mapped - an O_TMPFILE file in /dev/shm (no name: the kernel
 * shows it "(deleted)"), LEN bytes, mapped shared and filled. */
static int tmpfile_mapped(char **p, const char *what) {
  int fd = open(SHM, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  zt_need(fd >= 0 || errno != EOPNOTSUPP, "O_TMPFILE on /dev/shm");
  cr_assert(fd >= 0, "open(%s, O_TMPFILE): %s", SHM, strerror(errno));
  cr_assert(ftruncate(fd, (off_t)LEN) == 0);
  *p = map_filled(TMPFS, fd, what);
  return fd;
}

/* link_fd - give the O_TMPFILE file behind fd a name (linkat through
 * /proc/self/fd, AT_SYMLINK_FOLLOW); the name into path. */
static void link_fd(int fd, char *path, size_t len) {
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  new_name(SHM, "linked", path, len);
  cr_assert(linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0,
            "linkat %s -> %s: %s", proc, path, strerror(errno));
}

/* Unlinked, then linked again before the zap: named at the zap, kept. */
Test(named, tmpfile_linked_again_keeps, .timeout = 60) {
  const char *what = "O_TMPFILE /dev/shm file linked with linkat after mmap, DONTNEED";
  char *p, path[512];
  int fd = tmpfile_mapped(&p, what);
  link_fd(fd, path, sizeof path);
  zt_zap(p, LEN, MADV_DONTNEED, what);
  assert_kept(TMPFS, fd, p, what);
}

/* The controls: never linked, or linked and unlinked again: zapped. */
Test(named, tmpfile_never_linked_zapped, .timeout = 60) {
  const char *what = "O_TMPFILE /dev/shm file never linked, DONTNEED";
  char *p;
  int fd = tmpfile_mapped(&p, what);
  zt_zap(p, LEN, MADV_DONTNEED, what);
  assert_zapped(TMPFS, fd, p, what);
}

Test(named, tmpfile_linked_then_unlinked_zapped, .timeout = 60) {
  const char *what = "O_TMPFILE /dev/shm file linked, then unlinked before the zap, DONTNEED";
  char *p, path[512];
  int fd = tmpfile_mapped(&p, what);
  link_fd(fd, path, sizeof path);
  cr_assert(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
  zt_zap(p, LEN, MADV_DONTNEED, what);
  assert_zapped(TMPFS, fd, p, what);
}

/* ------------------------------------------------------------------ */
/* What the program asked: REMOVE shared punches, private views          */
/* ------------------------------------------------------------------ */

static void named_remove_shared(enum fs fs, const char *what) {
  char path[512];
  int fd = fs_file(fs, 0, path, sizeof path);
  char *p = map_filled(fs, fd, what);
  zt_zap(p, LEN, MADV_REMOVE, what);
  assert_zapped(fs, fd, p, what);
}

Test(named, tmpfs_remove_shared_punches, .timeout = 60) {
  named_remove_shared(TMPFS, "named /dev/shm file, shared, REMOVE");
}

Test(named, hugetlbfs_remove_shared_punches, .timeout = 60) {
  named_remove_shared(HUGETLBFS, "named hugetlbfs file, shared, REMOVE");
}

/* A private view of a named tmpfs file (file ZT_FILE_FILL, private copies
 * ZT_FILL).  REMOVE: the kernel's own answer, -1/EACCES, and nothing is
 * punched: the file keeps its data and blocks, the copies stay. */
Test(named, tmpfs_private_remove_eacces, .timeout = 60) {
  const char *what = "named /dev/shm file, private, REMOVE";
  char path[512];
  int fd = fs_file(TMPFS, 0, path, sizeof path);
  zt_pfill(fd, 0, LEN, ZT_FILE_FILL);
  char *p = zt_map(LEN, MAP_PRIVATE, fd, 0);
  zt_fill(p, LEN, ZT_FILL);
  errno = 0;
  int r = madvise(p, LEN, MADV_REMOVE);
  int e = errno;
  cr_assert(r == -1 && e == EACCES, "%s: madvise returned %d errno %d (%s), expected -1 EACCES",
            what, r, e, strerror(e));
  assert_blocks(fd, (long long)(LEN / 512), what);
  zt_assert_pbytes(fd, 0, LEN, ZT_FILE_FILL, "the named file keeps its data");
  zt_assert_bytes(p, LEN, ZT_FILL, "the private copies are untouched by the refused call");
}

/* DONTNEED on that private view: the private copies go (the file's
 * content shows again), the file is untouched. */
Test(named, tmpfs_private_dontneed_drops_copies, .timeout = 60) {
  const char *what = "named /dev/shm file, private, DONTNEED";
  char path[512];
  int fd = fs_file(TMPFS, 0, path, sizeof path);
  zt_pfill(fd, 0, LEN, ZT_FILE_FILL);
  char *p = zt_map(LEN, MAP_PRIVATE, fd, 0);
  zt_fill(p, LEN, ZT_FILL);
  zt_zap(p, LEN, MADV_DONTNEED, what);
  assert_blocks(fd, (long long)(LEN / 512), what);
  zt_assert_bytes(p, LEN, ZT_FILE_FILL, "private copies dropped: the file's content shows");
  zt_assert_pbytes(fd, 0, LEN, ZT_FILE_FILL, "the named file keeps its data");
}

/* A private view of a named hugetlbfs file: DONTNEED frees the private
 * huge pages (5.18+: the kernel's DONTNEED; as an older kernel the shim
 * passes the call as asked, never punching the file); the file keeps its
 * two pages and its content shows again. */
Test(named, hugetlbfs_private_dontneed_file_untouched, .timeout = 60) {
  const char *what = "named hugetlbfs file, private, DONTNEED";
  char path[512];
  int fd = fs_file(HUGETLBFS, 2, path, sizeof path);
  char *w = zt_map(LEN, MAP_SHARED, fd, 0);
  zt_fill(w, LEN, ZT_FILE_FILL);
  cr_assert(munmap(w, LEN) == 0);
  char *p = zt_map(LEN, MAP_PRIVATE, fd, 0);
  zt_fill(p, LEN, ZT_FILL);
  long kb = zt_vma_hugetlb_kb(p);
  cr_assert(kb == ZT_HPAGE_KB(2), "%s: the private copies map %ld kB, expected %ld", what, kb,
            ZT_HPAGE_KB(2));
  zt_zap(p, LEN, MADV_DONTNEED, what);
  kb = zt_vma_hugetlb_kb(p);
  cr_assert(kb == 0, "%s: after the zap the mapping still maps %ld kB of huge pages", what, kb);
  assert_blocks(fd, ZT_HPAGE_BLOCKS(2), "the named hugetlbfs file keeps its pages");
  zt_assert_bytes(p, LEN, ZT_FILE_FILL, "private copies dropped: the file's content shows");
}

/* ------------------------------------------------------------------ */
/* Logged once per file, with how to opt in                              */
/* ------------------------------------------------------------------ */

/* count_lines - lines of the file at path that contain word. */
static int count_lines(const char *path, const char *word) {
  FILE *f = fopen(path, "re");
  char line[1024];
  int n = 0;
  if (!f)
    return 0;
  while (fgets(line, sizeof line, f))
    n += strstr(line, word) != NULL;
  fclose(f);
  return n;
}

Test(named, logged_once_per_file, .timeout = 60) {
  const char *what = "named /dev/shm file, DONTNEED twice, ZAPSHIM_LOG";
  char path[512], log[512];
  int fd = fs_file(TMPFS, 0, path, sizeof path);
  char *p = map_filled(TMPFS, fd, what);
  cr_assert(munmap(p, LEN) == 0);
  new_name(SHM, "log", log, sizeof log);
  int rc = run_child("twice", path, NULL, log);
  cr_assert(rc == C_ZAPPED_TWICE, "%s: the child exited %d", what, rc);
  assert_blocks(fd, full_blocks(TMPFS), what);
  int n = count_lines(log, "ZAPSHIM_NAMED_FILES");
  cr_assert(n == 1, "%s: %d log lines name ZAPSHIM_NAMED_FILES (the opt-in), expected 1 for "
            "one file zapped twice", what, n);
}
