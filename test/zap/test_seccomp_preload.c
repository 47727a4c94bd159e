/*
 * test_seccomp_preload.c - programs with their own seccomp filters keep
 * working under the preload, and syscall() is served like the libc calls.
 *
 * A Firecracker-like program: 4 threads, each installing an allow-list
 * filter of its own (no TSYNC; madvise only with MADV_DONTNEED, no
 * fallocate, everything else not listed kills or traps), then zapping its
 * 1 MiB slice of a shared memfd with MADV_DONTNEED.  The shim's translated
 * MADV_REMOVE would be killed by that filter: the program must live, the
 * slice keeps its data (the program's own DONTNEED on shared memory) and
 * the shim's log says why.  With a filter that also allows MADV_REMOVE and
 * fallocate, every slice is freed (st_blocks 0).  Filters installed with
 * prctl and with syscall(SYS_seccomp), with TSYNC, inherited by threads
 * created after the install, a punch (private memfd MADV_REMOVE) and a
 * filter installed before exec, which the shim cannot see.
 *
 * Each program runs in a fresh process (this binary re-executed with
 * ZT_SC_CHILD=<scenario>, whose constructor runs it and exits before
 * Criterion starts), so a kill shows as the child's status, and the
 * shim's log (read at start) is the child's own.  Bounded: alarm(20) in
 * the child, 30 s wait in the parent.
 *
 * syscall() itself: a raw syscall(SYS_madvise, MADV_DONTNEED) on a shared
 * memfd is freed; other numbers (getpid, close of a bad descriptor, an
 * unknown number, mmap with an offset: six arguments) give exactly what
 * the kernel gives through our own syscall instruction.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include <criterion/criterion.h>
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB ZT_MIB
#define THREADS 4
#define SLICE MIB
#define CHILD_ENV "ZT_SC_CHILD"

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#endif

/* ------------------------------------------------------------------ */
/* Filters                                                              */
/* ------------------------------------------------------------------ */

/* The calls the program (and glibc, and the shim's own bookkeeping: /proc
 * queries, fstat, descriptors, its log) make on a zapping thread until it
 * exits. Not listed: fallocate, ioctl (below), and madvise but for the
 * advice the filter allows. */
static const int allowed_calls[] = {
    SYS_read, SYS_write, SYS_pread64, SYS_openat, SYS_close, SYS_fstat, SYS_newfstatat,
    SYS_fstatfs, SYS_statfs, SYS_memfd_create, SYS_shmctl,
    SYS_lseek, SYS_fcntl, SYS_mmap, SYS_munmap, SYS_mprotect, SYS_brk, SYS_futex,
    SYS_exit, SYS_exit_group, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_sched_yield,
    SYS_getpid, SYS_gettid, SYS_clock_gettime, SYS_clock_nanosleep, SYS_nanosleep, SYS_rseq,
    SYS_set_robust_list, SYS_rt_sigaction, SYS_mincore, SYS_getrandom, SYS_readlinkat, SYS_statx, SYS_prctl,
    SYS_seccomp, SYS_tgkill, SYS_clone, SYS_clone3, SYS_prlimit64, SYS_dup, SYS_dup3,
};

enum deflt { D_KILL, D_TRAP, D_KILL_NARROW };

#define KVM_RUN_NR 0xae80u /* the one ioctl a narrow list allows (Firecracker's vCPU threads: KVM's) */

/* allow_list_of - into f: an allow-list of allowed_calls; madvise only
 * with MADV_DONTNEED (and MADV_REMOVE if remove); fallocate only if
 * fallocate;
 * ioctl any (D_KILL_NARROW: KVM_RUN only, so not the shim's
 * PROCMAP_QUERY); the rest (and another architecture) gets the default
 * action. Returns the instruction count. */
static unsigned short allow_list_of(struct sock_filter *f, bool remove, bool fallocate,
                                    enum deflt d) {
  unsigned short n = 0;
  unsigned nallowed = sizeof allowed_calls / sizeof allowed_calls[0];
  uint32_t deny = d == D_TRAP ? SECCOMP_RET_TRAP : SECCOMP_RET_KILL_PROCESS;
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, deny);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  for (unsigned i = 0; i < nallowed; i++) {
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)allowed_calls[i], 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  }
  if (d == D_KILL_NARROW) { /* ioctl: the request is args[1] */
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 4);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, KVM_RUN_NR, 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, deny);
  } else {
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  }
  if (fallocate) {
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fallocate, 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  }
  /* madvise: the advice is args[2]; its low word, then its high word 0 */
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 0, remove ? 6 : 5);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2]) + 4);
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, remove ? 4 : 3);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2]));
  if (remove)
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MADV_REMOVE, 1, 0);
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MADV_DONTNEED, 0, 1);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, deny);
  return n;
}

/* allow_list - allow_list_of with MADV_REMOVE and fallocate both allowed
 * (loose) or both not. */
static unsigned short allow_list(struct sock_filter *f, bool loose, enum deflt d) {
  return allow_list_of(f, loose, loose, d);
}

enum how { VIA_PRCTL, VIA_SYSCALL, VIA_TSYNC };

/* install_prog - prog (n instructions of f) on this thread (every thread
 * for VIA_TSYNC). Returns 0 or an errno. */
static int install_prog(struct sock_filter *f, unsigned short n, enum how how) {
  struct sock_fprog prog = {.len = n, .filter = f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return errno;
  long r;
  if (how == VIA_PRCTL)
    r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
  else
    r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                how == VIA_TSYNC ? SECCOMP_FILTER_FLAG_TSYNC : 0, &prog);
  return r == 0 ? 0 : r > 0 ? ESRCH : errno;
}

/* install - the allow-list on this thread (every thread for VIA_TSYNC).
 * Returns 0 or an errno. */
static int install(bool loose, enum deflt d, enum how how) {
  static __thread struct sock_filter f[128];
  return install_prog(f, allow_list(f, loose, d), how);
}

/* ------------------------------------------------------------------ */
/* The programs (run in the re-executed child)                          */
/* ------------------------------------------------------------------ */

/* Exit codes of a program; 0: every thread did what it should. */
enum { C_OK = 0, C_SETUP = 10, C_INSTALL = 11, C_MADVISE = 12, C_KEPT = 13, C_FREED = 14,
       C_THREAD = 15, C_RESULT = 16 };

struct scenario {
  const char *name;
  bool loose;        /* the filter allows MADV_REMOVE and fallocate */
  enum deflt deflt;
  enum how how;      /* per thread (prctl for even threads, syscall for odd) or TSYNC */
  bool inherited;    /* the main thread installs before creating the threads */
};

static const struct scenario scenarios[] = {
    {"kill-strict", false, D_KILL, VIA_PRCTL, false},
    {"trap-strict", false, D_TRAP, VIA_PRCTL, false},
    {"kill-loose", true, D_KILL, VIA_PRCTL, false},
    {"tsync-strict", false, D_KILL, VIA_TSYNC, false},
    {"tsync-loose", true, D_KILL, VIA_TSYNC, false},
    {"inherit-strict", false, D_TRAP, VIA_PRCTL, true},
    {"inherit-loose", true, D_TRAP, VIA_SYSCALL, true},
    {"narrow", false, D_KILL_NARROW, VIA_PRCTL, false},
};

static const struct scenario *sc;
static char *region;
static pthread_barrier_t installed, zapped;
static int thread_err[THREADS];

/* zapper - thread i: install its own filter (unless TSYNC or inherited),
 * wait for all, DONTNEED its slice. */
static void *zapper(void *arg) {
  int i = (int)(intptr_t)arg;
  if (!sc->inherited && sc->how != VIA_TSYNC)
    thread_err[i] = install(sc->loose, sc->deflt, i % 2 ? VIA_SYSCALL : VIA_PRCTL);
  pthread_barrier_wait(&installed);
  pthread_barrier_wait(&zapped); /* the TSYNC install, if any, is done */
  if (thread_err[i] == 0 && madvise(region + (size_t)i * SLICE, SLICE, MADV_DONTNEED) != 0)
    thread_err[i] = errno ? errno : -1;
  return NULL;
}

/* run_threads - the 4-thread program. Returns an exit code. */
static int run_threads(void) {
  int fd = memfd_create("zt-seccomp", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, THREADS * SLICE) != 0)
    return C_SETUP;
  region = mmap(NULL, THREADS * SLICE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (region == MAP_FAILED)
    return C_SETUP;
  memset(region, ZT_FILL, THREADS * SLICE);
  pthread_barrier_init(&installed, NULL, THREADS + 1);
  pthread_barrier_init(&zapped, NULL, THREADS + 1);
  if (sc->inherited && install(sc->loose, sc->deflt, sc->how) != 0)
    return C_INSTALL;
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    if (pthread_create(&t[i], NULL, zapper, (void *)(intptr_t)i) != 0)
      return C_THREAD;
  pthread_barrier_wait(&installed);
  int tsync_err = sc->how == VIA_TSYNC ? install(sc->loose, sc->deflt, VIA_TSYNC) : 0;
  pthread_barrier_wait(&zapped);
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  if (tsync_err)
    return C_INSTALL;
  for (int i = 0; i < THREADS; i++)
    if (thread_err[i])
      return thread_err[i] == EACCES || thread_err[i] == EINVAL ? C_INSTALL : C_MADVISE;
  struct stat st;
  if (fstat(fd, &st) != 0)
    return C_SETUP;
  long long full = (long long)(THREADS * SLICE / 512);
  if (sc->loose)
    return st.st_blocks == 0 ? C_OK : C_KEPT;
  /* left as asked: the program's own DONTNEED keeps shared memory */
  return st.st_blocks == full && zt_find_not(region, THREADS * SLICE, ZT_FILL) == -1 ? C_OK : C_FREED;
}

/* run_punch - one thread with the allow-list asks MADV_REMOVE on a private
 * memfd mapping (the shim's plan: punch the file, then DONTNEED). Strict
 * (the list allows the program's MADV_REMOVE, not fallocate): the
 * kernel's own answer (EACCES), nothing punched; loose: 0, freed. */
static int run_punch(bool loose) {
  int fd = memfd_create("zt-seccomp-punch", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, 2 * MIB) != 0)
    return C_SETUP;
  char *p = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return C_SETUP;
  memset(p, ZT_FILE_FILL, 2 * MIB);
  char *q = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (q == MAP_FAILED)
    return C_SETUP;
  memset(q, ZT_FILL, 2 * MIB);
  static struct sock_filter f[128];
  if (install_prog(f, allow_list_of(f, true, loose, D_KILL), VIA_SYSCALL) != 0)
    return C_INSTALL;
  errno = 0;
  int r = madvise(q, 2 * MIB, MADV_REMOVE);
  int e = errno;
  struct stat st;
  if (fstat(fd, &st) != 0)
    return C_SETUP;
  if (loose)
    return r == 0 && st.st_blocks == 0 ? C_OK : C_KEPT;
  if (r != -1 || e != EACCES)
    return C_RESULT;
  return st.st_blocks == (long long)(2 * MIB / 512) ? C_OK : C_FREED;
}

/* run_unseen - a filter installed before exec (the shim cannot see it):
 * DONTNEED on a shared memfd is left as asked (data kept). */
static int run_unseen(void) {
  int fd = memfd_create("zt-seccomp-unseen", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, 2 * MIB) != 0)
    return C_SETUP;
  char *p = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return C_SETUP;
  memset(p, ZT_FILL, 2 * MIB);
  if (madvise(p, 2 * MIB, MADV_DONTNEED) != 0)
    return C_MADVISE;
  struct stat st;
  if (fstat(fd, &st) != 0)
    return C_SETUP;
  return st.st_blocks == (long long)(2 * MIB / 512) ? C_OK : C_FREED;
}

__attribute__((constructor)) static void scenario_child(void) {
  const char *name = getenv(CHILD_ENV);
  if (!name)
    return;
  alarm(20);
  if (strcmp(name, "punch-strict") == 0)
    _exit(run_punch(false));
  if (strcmp(name, "punch-loose") == 0)
    _exit(run_punch(true));
  if (strcmp(name, "unseen") == 0)
    _exit(run_unseen());
  for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
    if (strcmp(name, scenarios[i].name) == 0) {
      sc = &scenarios[i];
      _exit(run_threads());
    }
  _exit(C_SETUP);
}

/* ------------------------------------------------------------------ */
/* The parent                                                           */
/* ------------------------------------------------------------------ */

static void need_shim(void) {
  const char *pre = getenv("LD_PRELOAD");
  if (!pre || !strstr(pre, "zapshim"))
    cr_skip_test("not run under LD_PRELOAD=libzapshim.so");
}

/* An allow-everything filter, installed in the child before exec. */
static void install_allow_all(void) {
  static struct sock_filter f[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  struct sock_fprog prog = {.len = 1, .filter = f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
    _exit(126);
}

/*
 * run_scenario - this binary re-executed as scenario name with the shim's
 * log in a fresh file (its text copied to log, up to len bytes); with
 * pre_exec_filter, an allow-everything filter is installed before exec.
 * Waits at most 30 s. Returns the wait status.
 */
static int run_scenario(const char *name, bool pre_exec_filter, char *log, size_t len) {
  char dir[] = "/tmp/zt-seccomp-XXXXXX", pattern[64], path[96];
  cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
  snprintf(pattern, sizeof pattern, "%s/log.%%p", dir);
  pid_t pid = fork();
  cr_assert(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    setenv("ZAPSHIM_LOG", pattern, 1);
    setenv(CHILD_ENV, name, 1);
    if (pre_exec_filter)
      install_allow_all();
    execl("/proc/self/exe", "zt-seccomp-child", (char *)NULL);
    _exit(127);
  }
  int status = 0;
  for (int i = 0; i < 3000; i++) { /* 30 s in 10 ms steps */
    pid_t w = waitpid(pid, &status, WNOHANG);
    cr_assert(w >= 0, "waitpid: %s", strerror(errno));
    if (w == pid)
      break;
    if (i == 2999) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
    nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
  }
  snprintf(path, sizeof path, "%s/log.%d", dir, (int)pid);
  log[0] = '\0';
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, log, len - 1);
    log[n > 0 ? n : 0] = '\0';
    close(fd);
  }
  unlink(path);
  rmdir(dir);
  return status;
}

/* assert_lived - the program exited with code 0 (not killed by its own
 * filter: SIGSYS from a trap, SIGSYS from KILL_PROCESS). */
static void assert_lived(const char *name, int status, const char *log) {
  cr_assert(!WIFSIGNALED(status), "%s: the program was killed by signal %d (%s); shim log:\n%s",
            name, WTERMSIG(status), strsignal(WTERMSIG(status)), log);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "%s: the program exited %d (10 setup, 11 install, 12 madvise failed, 13 memory kept, "
            "14 memory freed, 15 thread, 16 wrong result); shim log:\n%s",
            name, WEXITSTATUS(status), log);
}

static char logbuf[64 * 1024];

/* strict - the program lives, every slice keeps its data, and the log says
 * the filter forbade MADV_REMOVE and the call was left as asked. */
static void strict(const char *name) {
  need_shim();
  int status = run_scenario(name, false, logbuf, sizeof logbuf);
  assert_lived(name, status, logbuf);
  cr_assert(strstr(logbuf, "seccomp filter forbids madvise(MADV_REMOVE)") &&
                strstr(logbuf, "left as asked"),
            "%s: the shim's log does not say why it left the zap as asked:\n%s", name, logbuf);
}

/* loose - the program lives and every slice is freed. */
static void loose(const char *name) {
  need_shim();
  int status = run_scenario(name, false, logbuf, sizeof logbuf);
  assert_lived(name, status, logbuf);
  cr_assert(!strstr(logbuf, "seccomp"), "%s: the shim held back:\n%s", name, logbuf);
}

Test(seccomp, allow_list_per_thread_kill_left_as_asked, .timeout = 60) { strict("kill-strict"); }
Test(seccomp, allow_list_per_thread_trap_left_as_asked, .timeout = 60) { strict("trap-strict"); }
Test(seccomp, allow_list_with_remove_frees_every_slice, .timeout = 60) { loose("kill-loose"); }
Test(seccomp, tsync_allow_list_left_as_asked, .timeout = 60) { strict("tsync-strict"); }
Test(seccomp, tsync_allow_list_with_remove_frees, .timeout = 60) { loose("tsync-loose"); }
Test(seccomp, inherited_by_new_threads_left_as_asked, .timeout = 60) { strict("inherit-strict"); }
Test(seccomp, inherited_by_new_threads_with_remove_frees, .timeout = 60) { loose("inherit-loose"); }

/* A list as narrow as Firecracker's vCPU threads': the shim's own
 * PROCMAP_QUERY is forbidden too, so the thread's calls pass straight
 * through (before the shim makes any call of its own). */
Test(seccomp, narrow_allow_list_passes_straight_through, .timeout = 60) {
  need_shim();
  int status = run_scenario("narrow", false, logbuf, sizeof logbuf);
  assert_lived("narrow", status, logbuf);
  cr_assert(strstr(logbuf, "seccomp filter forbids ioctl(PROCMAP_QUERY)") &&
                strstr(logbuf, "left as asked"),
            "the shim's log does not say why it passed the calls through:\n%s", logbuf);
}

Test(seccomp, punch_forbidden_gives_the_kernels_answer, .timeout = 60) {
  need_shim();
  int status = run_scenario("punch-strict", false, logbuf, sizeof logbuf);
  assert_lived("punch-strict", status, logbuf);
  cr_assert(strstr(logbuf, "seccomp filter forbids fallocate(PUNCH_HOLE)"),
            "the shim's log does not name the forbidden punch:\n%s", logbuf);
}

Test(seccomp, punch_allowed_frees_the_file, .timeout = 60) {
  loose("punch-loose");
}

Test(seccomp, filter_installed_before_exec_left_as_asked, .timeout = 60) {
  need_shim();
  int status = run_scenario("unseen", true, logbuf, sizeof logbuf);
  assert_lived("unseen", status, logbuf);
  cr_assert(strstr(logbuf, "did not see") && strstr(logbuf, "left as asked"),
            "the shim's log does not say it could not see the filter:\n%s", logbuf);
}

/* ------------------------------------------------------------------ */
/* syscall() itself                                                     */
/* ------------------------------------------------------------------ */

#if defined(__x86_64__)
/* kernel - the system call made with our own instruction: the kernel's
 * raw answer (-errno on error), past every libc function. */
static long kernel(long nr, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#define HAVE_KERNEL 1
#else
#define HAVE_KERNEL 0
#endif

Test(syscall, raw_madvise_dontneed_frees_shared_memfd) {
  need_shim();
  int fd = zt_make_memfd(4 * MIB, 0);
  char *p = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  cr_assert(p != MAP_FAILED, "mmap: %s", strerror(errno));
  memset(p, ZT_FILL, 4 * MIB);
  cr_assert(syscall(SYS_madvise, p, 4 * MIB, MADV_DONTNEED) == 0, "madvise: %s", strerror(errno));
  cr_assert(zt_st_blocks(fd) == 0, "syscall(SYS_madvise, MADV_DONTNEED) left %lld blocks",
            zt_st_blocks(fd));
  cr_assert(zt_find_not(p, 4 * MIB, 0) == -1, "memory does not read back zero");
  munmap(p, 4 * MIB);
  close(fd);
}

Test(syscall, raw_mmap_is_registered_and_zapped) {
  need_shim();
  int fd = zt_make_memfd(4 * MIB, 0);
  char *p = (char *)syscall(SYS_mmap, NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                            (long)(2 * MIB));
  cr_assert(p != MAP_FAILED, "mmap: %s", strerror(errno));
  memset(p, ZT_FILL, 2 * MIB);
  cr_assert(madvise(p, 2 * MIB, MADV_DONTNEED) == 0);
  cr_assert(zt_st_blocks(fd) == 0, "%lld blocks left", zt_st_blocks(fd));
  cr_assert(syscall(SYS_munmap, p, 2 * MIB) == 0);
  close(fd);
}

Test(syscall, other_numbers_pass_through_exactly) {
#if !HAVE_KERNEL
  cr_skip_test("no raw system call instruction for this architecture in the test");
#else
  errno = 1234;
  cr_assert(syscall(SYS_getpid) == kernel(SYS_getpid, 0, 0, 0, 0, 0, 0));
  cr_assert(errno == 1234, "errno changed on success: %d", errno);
  cr_assert(syscall(SYS_gettid) == kernel(SYS_gettid, 0, 0, 0, 0, 0, 0));
  /* errors: -1 and the kernel's errno */
  struct { long nr, a, b, c; } bad[] = {
      {SYS_close, -1, 0, 0},
      {SYS_close, 1 << 20, 0, 0},
      {SYS_fcntl, -1, F_GETFL, 0},
      {100000, 0, 0, 0}, /* no such call: ENOSYS */
      {SYS_openat, AT_FDCWD, (long)"/nonexistent/zt", O_RDONLY},
      {SYS_madvise, 1, 4096, MADV_DONTNEED},     /* routed: unaligned, EINVAL */
      {SYS_madvise, 0, 4096, 12345},             /* routed: bad advice, EINVAL */
      {SYS_munmap, 1, 4096, 0},                  /* routed: EINVAL */
      {SYS_prctl, 0x7fffffff, 0, 0},             /* routed: unknown option, EINVAL */
      {SYS_seccomp, 99, 0, 0},                   /* routed: unknown operation, EINVAL */
      {SYS_shmdt, 4096, 0, 0},                   /* routed: nothing attached, EINVAL */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    long k = kernel(bad[i].nr, bad[i].a, bad[i].b, bad[i].c, 0, 0, 0);
    errno = 0;
    long r = syscall(bad[i].nr, bad[i].a, bad[i].b, bad[i].c);
    int e = errno;
    cr_assert(k < 0 && r == -1 && e == -k, "syscall(%ld, ...): %ld errno %d; the kernel: %ld",
              bad[i].nr, r, e, k);
  }
  /* six arguments: mmap of a memfd at an offset, and a bad offset */
  int fd = zt_make_memfd(4 * MIB, 0);
  long off = (long)MIB;
  long r = syscall(SYS_mmap, 0L, (long)MIB, (long)(PROT_READ | PROT_WRITE), (long)MAP_SHARED,
                   (long)fd, off);
  cr_assert(r != -1, "mmap: %s", strerror(errno));
  long k = kernel(SYS_mmap, 0, (long)MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
  cr_assert(k > 0);
  ((char *)r)[0] = 'x';
  cr_assert(((char *)k)[0] == 'x', "the two mappings do not map the same file offset");
  cr_assert(syscall(SYS_munmap, r, (long)MIB) == 0);
  kernel(SYS_munmap, k, (long)MIB, 0, 0, 0, 0);
  errno = 0;
  r = syscall(SYS_mmap, 0L, (long)MIB, (long)PROT_READ, (long)MAP_SHARED, (long)fd, 123L);
  k = kernel(SYS_mmap, 0, (long)MIB, PROT_READ, MAP_SHARED, fd, 123);
  cr_assert(r == -1 && -k == errno, "mmap at a bad offset: %ld errno %d; the kernel %ld", r, errno, k);
  /* pread64: four arguments through the pass-through */
  char c = 0;
  cr_assert(syscall(SYS_pread64, fd, &c, 1L, off) == 1 && c == 'x');
  close(fd);
#endif
}

Test(syscall, fork_through_syscall) {
  pid_t pid = (pid_t)syscall(SYS_fork);
  cr_assert(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0)
    _exit(42);
  int status = 0;
  cr_assert(waitpid(pid, &status, 0) == pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 42);
}
