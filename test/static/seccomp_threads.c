/*
 * seccomp_threads.c - a program with its own allow-list seccomp filter on
 * each thread, like Firecracker's api and vCPU threads (issue 10).  Built
 * static (musl) and dynamic (glibc).
 *
 * Each of 4 threads installs, for itself only (no TSYNC), a filter whose
 * default action kills the process (or, with --trap, raises SIGSYS, whose
 * handler reports the call and exits 97, as Firecracker does), that allows
 * madvise only with advice == MADV_DONTNEED, and does not allow fallocate.
 * The threads then zap their 4 MiB slice of a shared 16 MiB memfd with
 * plain madvise(MADV_DONTNEED).  The main thread (no filter) checks:
 *   - the process was not killed and every thread's madvise returned 0;
 *   - every slice is freed: a hole in the memfd (SEEK_DATA), not resident,
 *     reads zero; the memfd holds no block;
 *   - the filter is real: a forked child with the same filter dies (or
 *     exits 97 with --trap) on fallocate, and on madvise(MADV_REMOVE).
 * A zapper that rewrote the call to MADV_REMOVE, or injected a fallocate,
 * in such a thread would kill the program.  Without zapshim the slices
 * keep their data: it fails.
 *
 * Usage: seccomp_threads [--trap]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zst.h"

#define NTHREADS 4
#define SLICE (4 * ZST_MIB)
#define LEN (NTHREADS * SLICE)
#define FILL 0xAB
#define TRAP_EXIT 97

static bool use_trap;
static char *mem;
static int results[NTHREADS], errnos[NTHREADS], installed[NTHREADS];
static pthread_barrier_t barrier;

/* on_sigsys - the TRAP default action: report the call and exit, as
 * Firecracker's handler does (write and _exit are async-signal-safe). */
static void on_sigsys(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)uc;
  char msg[96];
  int n = snprintf(msg, sizeof msg, "seccomp_threads: SIGSYS, syscall %d not allowed\n",
                   si->si_syscall);
  if (write(2, msg, (size_t)n) < 0) {
  }
  _exit(TRAP_EXIT);
}

#define ALLOW_NR(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
                     BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

/* install_filter - the allow-list on the calling thread only; 0 or -1. */
static int install_filter(void) {
  unsigned deflt = use_trap ? SECCOMP_RET_TRAP : SECCOMP_RET_KILL_PROCESS;
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      /* madvise: only MADV_DONTNEED (the whole 64-bit argument). */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 0, 6),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2]) + 4),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MADV_DONTNEED, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, deflt),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      /* What the threads and the libc need to finish (no fallocate). */
      ALLOW_NR(SYS_futex),
      ALLOW_NR(SYS_exit),
      ALLOW_NR(SYS_exit_group),
      ALLOW_NR(SYS_write),
      ALLOW_NR(SYS_read),
      ALLOW_NR(SYS_rt_sigprocmask),
      ALLOW_NR(SYS_rt_sigreturn),
      ALLOW_NR(SYS_munmap),
      ALLOW_NR(SYS_mmap),
      ALLOW_NR(SYS_mprotect),
      ALLOW_NR(SYS_brk),
      ALLOW_NR(SYS_sched_yield),
      ALLOW_NR(SYS_nanosleep),
      ALLOW_NR(SYS_clock_nanosleep),
      ALLOW_NR(SYS_gettid),
      ALLOW_NR(SYS_getpid),
      ALLOW_NR(SYS_set_robust_list),
#ifdef SYS_rseq
      ALLOW_NR(SYS_rseq),
#endif
      BPF_STMT(BPF_RET | BPF_K, deflt),
  };
  struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return -1;
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* worker - install the filter, wait for all, zap this thread's slice. */
static void *worker(void *arg) {
  long i = (long)arg;
  installed[i] = install_filter() == 0;
  pthread_barrier_wait(&barrier);
  if (!installed[i])
    return NULL;
  errno = 0;
  results[i] = madvise(mem + (size_t)i * SLICE, SLICE, MADV_DONTNEED);
  errnos[i] = errno;
  return NULL;
}

/* child_forbidden - fork a child that installs the filter and makes one
 * forbidden call (what 0: fallocate PUNCH_HOLE, 1: madvise MADV_REMOVE on
 * its own memory).  Returns its wait status. */
static int child_forbidden(int what, int fd) {
  pid_t pid = fork();
  if (pid == 0) {
    alarm(10);
    char *p = mmap(NULL, ZST_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (install_filter() != 0)
      _exit(2);
    if (what == 0)
      syscall(SYS_fallocate, fd, 3 /* PUNCH_HOLE | KEEP_SIZE */, (long)0, (long)ZST_PAGE);
    else
      syscall(SYS_madvise, p, ZST_PAGE, MADV_REMOVE);
    _exit(0); /* the call went through: the filter did not hold */
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return st;
}

int main(int argc, char **argv) {
  use_trap = argc > 1 && strcmp(argv[1], "--trap") == 0;
  alarm(20);
  if (use_trap) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, NULL);
  }
  printf("seccomp_threads: default action %s\n", use_trap ? "TRAP (SIGSYS handler, exit 97)"
                                                          : "KILL_PROCESS");
  zst_begin("setup");
  int fd = zst_memfd("zst-seccomp", MFD_CLOEXEC, LEN);
  if (!zst_check(fd >= 0, "memfd_create: %s", strerror(errno)))
    return zst_end(), zst_summary();
  mem = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (!zst_check(mem != MAP_FAILED, "mmap: %s", strerror(errno)))
    return zst_end(), zst_summary();
  zst_fill(mem, LEN, FILL);
  zst_check(zst_blocks(fd) == (long long)(LEN / 512), "the filled memfd holds %lld blocks",
            zst_blocks(fd));
  zst_end();

  zst_begin("4 filtered threads zap their slice: nothing killed, madvise returns 0");
  pthread_barrier_init(&barrier, NULL, NTHREADS);
  pthread_t th[NTHREADS];
  for (long i = 0; i < NTHREADS; i++)
    pthread_create(&th[i], NULL, worker, (void *)i);
  for (int i = 0; i < NTHREADS; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < NTHREADS; i++) {
    zst_check(installed[i], "thread %d: seccomp filter not installed", i);
    zst_check(results[i] == 0, "thread %d: madvise = %d (%s)", i, results[i],
              results[i] ? strerror(errnos[i]) : "-");
  }
  zst_end();

  zst_begin("every slice freed");
  for (int i = 0; i < NTHREADS; i++) {
    char *s = mem + (size_t)i * SLICE;
    zst_check(zst_hole(fd, (off_t)i * (off_t)SLICE, SLICE), "slice %d: the memfd still holds data",
              i);
    long res = zst_resident(s, SLICE);
    zst_check(res == 0, "slice %d: mincore: %ld pages resident", i, res);
  }
  long long bl = zst_blocks(fd);
  zst_check(bl == 0, "the memfd still holds %lld blocks", bl);
  long bad = zst_find_not(mem, LEN, 0);
  zst_check(bad < 0, "reads non-zero at offset %ld", bad);
  zst_end();

  zst_begin("the filter is real: a filtered child dies on fallocate and on MADV_REMOVE");
  for (int what = 0; what < 2; what++) {
    int st = child_forbidden(what, fd);
    const char *call = what ? "madvise(MADV_REMOVE)" : "fallocate";
    if (use_trap)
      zst_check(WIFEXITED(st) && WEXITSTATUS(st) == TRAP_EXIT,
                "%s: child status 0x%x, want exit %d (SIGSYS handler)", call, st, TRAP_EXIT);
    else
      zst_check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "%s: child status 0x%x, want SIGSYS",
                call, st);
  }
  zst_end();
  return zst_summary();
}
