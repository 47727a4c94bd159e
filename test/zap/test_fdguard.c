/*
 * test_fdguard.c - programs that close or replace descriptors they did not
 * open must not take the shim's kept descriptors away, and the program's
 * own view stays consistent (its close loop succeeds, its dup2 lands).
 *
 * The setting: a private memfd mapping, the one kind whose MADV_REMOVE
 * needs the descriptor the shim keeps (DONTNEED, then PUNCH_HOLE of the
 * backing file). The file holds 0xCD, the private copy 0xAB. After the
 * program closes every descriptor it has, MADV_REMOVE must still punch
 * the file: the mapping then reads zero. Without the kept descriptor it
 * would read the file's 0xCD again.
 *
 * Each scenario runs in a forked child (closing every descriptor would cut
 * Criterion's own pipes); the child's exit status carries the verdict.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "zapshim.h"
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define LEN (4u << 20)

enum closer { CLOSE_LOOP, CLOSE_RANGE, CLOSEFROM, DUP2_OVER };

/* Exit codes of the child, so a failure says what went wrong. */
enum { OK = 0, NO_SHIM = 10, NOT_KEPT, LOOP_FAILED, DUP2_FAILED, REMOVE_FAILED, NOT_PUNCHED };

/* kept_fd - the descriptor the shim keeps for the mapping at p, or -1. */
static int kept_fd(void *p) {
  int (*query)(const void *, struct zapshim_range_info *) =
      (int (*)(const void *, struct zapshim_range_info *))dlsym(RTLD_DEFAULT, "zapshim_query");
  struct zapshim_range_info info;
  if (!query || query(p, &info) != 0)
    return -1;
  return info.fd;
}

/* close_everything - the program's way of closing what it did not open.
 * Returns 0 if every call it made reported success. */
static int close_everything(enum closer how, int kept) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  switch (how) {
  case CLOSE_LOOP:
    for (int fd = 3; fd < (int)rl.rlim_cur; fd++)
      if (close(fd) != 0 && errno != EBADF)
        return -1;
    return 0;
  case CLOSE_RANGE:
    return close_range(3, ~0U, 0);
  case CLOSEFROM:
    closefrom(3);
    return 0;
  case DUP2_OVER: {
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (dup2(devnull, kept) != kept)
      return -1;
    struct stat a, b;
    /* the program's dup2 landed: number `kept` is now its /dev/null */
    if (fstat(kept, &a) != 0 || stat("/dev/null", &b) != 0 || a.st_rdev != b.st_rdev)
      return -1;
    return 0;
  }
  }
  return -1;
}

/* scenario - the child's work; returns one of the exit codes above. */
static int scenario(enum closer how) {
  if (!zt_shim_loaded())
    return NO_SHIM;
  int fd = zt_make_memfd(LEN, 0);
  zt_pfill(fd, 0, LEN, 0xCD);
  unsigned char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED)
    return NOT_KEPT;
  memset(p, 0xAB, LEN);
  int kept = kept_fd(p);
  if (kept < 0)
    return NOT_KEPT;
  if (close_everything(how, kept) != 0)
    return how == DUP2_OVER ? DUP2_FAILED : LOOP_FAILED;
  if (madvise(p, LEN, MADV_REMOVE) != 0)
    return REMOVE_FAILED;
  for (size_t i = 0; i < LEN; i += 4096)
    if (p[i] != 0)
      return NOT_PUNCHED;
  return OK;
}

/* run - fork, run the scenario in the child, assert its verdict. */
static void run(enum closer how, const char *what) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0)
    _exit(scenario(how));
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st), "%s: child died (signal %d)", what, WTERMSIG(st));
  cr_assert_eq(WEXITSTATUS(st), OK,
               "%s: child exit %d (10 no shim, 11 no kept fd, 12 close failed, 13 dup2 "
               "failed, 14 madvise failed, 15 file not punched)",
               what, WEXITSTATUS(st));
}

Test(fdguard, close_loop_keeps_the_shims_descriptor) {
  run(CLOSE_LOOP, "close(3..limit)");
}

Test(fdguard, close_range_keeps_the_shims_descriptor) {
  run(CLOSE_RANGE, "close_range(3, ~0U, 0)");
}

Test(fdguard, closefrom_keeps_the_shims_descriptor) {
  run(CLOSEFROM, "closefrom(3)");
}

Test(fdguard, dup2_onto_it_moves_the_shims_descriptor) {
  run(DUP2_OVER, "dup2(/dev/null, kept)");
}

/*
 * A descriptor number the shim kept but that the program replaced behind
 * its back (a raw dup3 syscall the shim cannot see) must never be punched:
 * the fstat check finds another file and the zap falls back.
 */
Test(fdguard, replaced_behind_the_shims_back_is_never_punched) {
  zt_need(zt_shim_loaded(), "libzapshim.so preloaded (run through ctest)");
  int fd = zt_make_memfd(LEN, 0);
  zt_pfill(fd, 0, LEN, 0xCD);
  unsigned char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  cr_assert_neq(p, MAP_FAILED);
  memset(p, 0xAB, LEN);
  int kept = kept_fd(p);
  cr_assert_geq(kept, 0, "the shim keeps a descriptor for a private memfd");
  int other = zt_make_memfd(LEN, 0);
  zt_pfill(other, 0, LEN, 0x77);
  cr_assert_eq(syscall(SYS_dup3, other, kept, O_CLOEXEC), kept);
  cr_assert_eq(madvise(p, LEN, MADV_REMOVE), 0, "the program's call still succeeds");
  zt_assert_pbytes(other, 0, LEN, 0x77, "the file now at the kept number is untouched");
  zt_assert_pbytes(fd, 0, LEN, 0xCD, "not punched without a confirmed descriptor");
  zt_assert_bytes(p, LEN, 0xCD, "the private copy is dropped: the file reads through");
}
