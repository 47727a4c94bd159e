/*
 * trace_run.c - the supervisor of the syscall path (trace.h): start the
 * program under a seccomp filter that traps only madvise(MADV_DONTNEED |
 * MADV_REMOVE), follow every thread and child process with ptrace, and
 * pass everything else on untouched.
 *
 * Process control, as a program expects it without zapshim:
 *  - every signal that stops a tracee is re-injected at once (a VMM kicks
 *    vCPU threads with SIGRTMIN); group stops (SIGSTOP, SIGTSTP, ...) are
 *    left in place with PTRACE_LISTEN until SIGCONT;
 *  - the program stays in the terminal's foreground process group: ^C and
 *    ^\ reach it directly, the supervisor ignores SIGINT and SIGQUIT while
 *    it runs; SIGTERM, SIGHUP, SIGUSR1/2 and SIGALRM sent to the supervisor
 *    are passed to the program;
 *  - the exit status is the program's like env(1): exit n gives n, death
 *    by signal s gives 128+s; the supervisor returns once every traced
 *    process (children the program forked included) has exited;
 *  - fail-stop: PTRACE_O_EXITKILL kills every tracee if the supervisor
 *    dies, so no traced program runs on with its madvise calls failing
 *    (ENOSYS: a filter that traps with no tracer) or not translated.
 */
#define _GNU_SOURCE
#include "trace.h"
#include "log.h"
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif
#define ZT_SYSCALL_INFO_EXIT 2
#define ZT_SYSCALL_INFO_SECCOMP 3

/* The kernel's struct ptrace_syscall_info (linux/ptrace.h, 5.3+), which
 * glibc's sys/ptrace.h does not declare. */
struct zt_syscall_info {
  uint8_t op;
  uint8_t pad[3];
  uint32_t arch;
  uint64_t instruction_pointer;
  uint64_t stack_pointer;
  union {
    struct { uint64_t nr, args[6]; } entry;
    struct { int64_t rval; uint8_t is_error; } exit;
    struct { uint64_t nr, args[6]; uint32_t ret_data; } seccomp;
  };
};

extern char **environ;

/* One traced thread with a zap in flight. */
struct tthread {
  pid_t tid, tgid;
  int stat_fd;  /* /proc/TID/stat, for the CPU it runs on; -1 */
  bool pending; /* steps queued for its syscall-exit stop */
  struct zt_pending pend;
};

static struct tthread *g_threads;
static size_t g_nthreads, g_cap;
static volatile pid_t g_main; /* the program's first process */

/* thread_of - the entry of tid, made if missing (tgid learned from
 * /proc/TID/status).  Returns NULL if out of memory. */
static struct tthread *thread_of(pid_t tid) {
  for (size_t i = 0; i < g_nthreads; i++)
    if (g_threads[i].tid == tid)
      return &g_threads[i];
  if (g_nthreads == g_cap) {
    size_t cap = g_cap ? g_cap * 2 : 16;
    struct tthread *t = realloc(g_threads, cap * sizeof *t);
    if (!t)
      return NULL;
    g_threads = t, g_cap = cap;
  }
  struct tthread *t = &g_threads[g_nthreads++];
  memset(t, 0, sizeof *t);
  t->tid = t->tgid = tid;
  char path[64], line[128];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)tid);
  t->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
  snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
  FILE *f = fopen(path, "re");
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "Tgid: %d", &t->tgid) == 1)
      break;
  if (f)
    fclose(f);
  return t;
}

/* forget_thread - tid is gone (exited, or replaced by an execve). */
static void forget_thread(pid_t tid) {
  for (size_t i = 0; i < g_nthreads; i++)
    if (g_threads[i].tid == tid) {
      if (g_threads[i].stat_fd >= 0)
        close(g_threads[i].stat_fd);
      g_threads[i] = g_threads[--g_nthreads];
      return;
    }
}

/* forward - a signal sent to the supervisor goes to the program. */
static void forward(int sig) {
  if (g_main > 0)
    kill(g_main, sig);
}

/* zt_trace_check - see trace.h. */
const char *zt_trace_check(void) {
  uint32_t action = SECCOMP_RET_TRACE;
  if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0)
    return errno == ENOSYS || errno == EINVAL
               ? "seccomp filters are not available in this kernel"
               : "seccomp SECCOMP_RET_TRACE is not available";
  FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
  int scope = 0;
  if (f) {
    if (fscanf(f, "%d", &scope) != 1)
      scope = 0;
    fclose(f);
  }
  if (scope >= 3)
    return "ptrace is disabled on this machine (kernel.yama.ptrace_scope=3)";
  return NULL;
}

static cpu_set_t g_allowed; /* the supervisor's own CPUs at start */
static long g_spin;         /* spin_us() */
static bool g_follow;       /* follow the tracee's CPU (ZAPSHIM_TRACE_FOLLOW=1; measured
                             * slower here: the scheduler moves the tracee away again) */

/* follow_cpu - move the supervisor to the CPU thread t last ran on (where
 * it resumes): a round trip between two CPUs costs a wake-up of an idle
 * one each way, on one CPU it costs two context switches. */
static void follow_cpu(struct tthread *t) {
  char buf[512];
  ssize_t n = t->stat_fd >= 0 ? pread(t->stat_fd, buf, sizeof buf - 1, 0) : -1;
  if (n <= 0)
    return;
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* the name may hold spaces */
  int field = 2, cpu = -1;
  for (; p && *p && field < 39; p++)
    if (*p == ' ')
      field++;
  if (!p || sscanf(p, "%d", &cpu) != 1 || cpu < 0 || cpu >= CPU_SETSIZE ||
      !CPU_ISSET(cpu, &g_allowed) || cpu == sched_getcpu())
    return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  sched_setaffinity(0, sizeof one, &one);
}

/* on_seccomp - tid stopped at our filter's trap.  Returns the resume
 * request: PTRACE_SYSCALL when steps wait for the exit stop. */
static int on_seccomp(pid_t tid) {
  struct zt_syscall_info si;
  long n = ptrace(PTRACE_GET_SYSCALL_INFO, tid, (void *)sizeof si, &si);
  if (n < 0 || si.op != ZT_SYSCALL_INFO_SECCOMP || si.seccomp.nr != SYS_madvise)
    return PTRACE_CONT;
  struct tthread *t = thread_of(tid);
  if (!t)
    return PTRACE_CONT;
  if (g_follow)
    follow_cpu(t);
  int advice = (int)(uint32_t)si.seccomp.args[2];
  t->pending = zt_zap_enter(tid, t->tgid, (uintptr_t)si.seccomp.args[0], si.seccomp.args[1],
                            advice, &t->pend);
  return t->pending ? PTRACE_SYSCALL : PTRACE_CONT;
}

/* on_syscall_exit - tid stopped at the exit of a trapped madvise. */
static void on_syscall_exit(pid_t tid) {
  struct tthread *t = thread_of(tid);
  if (!t || !t->pending)
    return;
  struct zt_syscall_info si;
  long n = ptrace(PTRACE_GET_SYSCALL_INFO, tid, (void *)sizeof si, &si);
  t->pending = false;
  if (n < 0 || si.op != ZT_SYSCALL_INFO_EXIT)
    return;
  zt_zap_exit(tid, t->tgid, si.exit.rval, &t->pend);
}

/* spin_us - how long to poll for the next stop before sleeping in
 * waitpid after a trap (ZAPSHIM_TRACE_SPIN_US): by default 100 us when
 * the supervisor may run on another CPU than the tracee (waking an idle
 * CPU costs more than the whole round trip), 0 on one CPU (polling would
 * only steal the tracee's time). */
static long spin_us(bool many_cpus) {
  const char *s = getenv("ZAPSHIM_TRACE_SPIN_US");
  return s ? strtol(s, NULL, 10) : many_cpus ? 100 : 0;
}

/* now_us - a monotonic clock in microseconds. */
static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* wait_any - the next stop or exit of any tracee: polled for up to spin
 * microseconds after a zap (the tracee comes back within microseconds),
 * then waited for.  Returns waitpid's answer. */
static pid_t wait_any(int *st, long spin) {
  if (spin > 0) {
    long long until = now_us() + spin;
    do {
      pid_t r = waitpid(-1, st, __WALL | WNOHANG);
      if (r != 0)
        return r;
    } while (now_us() < until);
  }
  return waitpid(-1, st, __WALL);
}

/* supervise - the wait loop until no tracee is left.  Returns the main
 * process's wait status. */
static int supervise(pid_t main_pid) {
  int main_status = 0, st;
  long spin = g_spin, cur_spin = 0;
  for (;;) {
    pid_t tid = wait_any(&st, cur_spin);
    cur_spin = 0;
    if (tid < 0) {
      if (errno == EINTR)
        continue;
      break; /* ECHILD: nobody left */
    }
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      if (tid == main_pid)
        main_status = st;
      forget_thread(tid);
      zt_tproc_drop(tid); /* a no-op unless tid led a process */
      continue;
    }
    if (!WIFSTOPPED(st))
      continue;
    int sig = WSTOPSIG(st), event = st >> 16;
    long req = PTRACE_CONT, inject = 0;
    if (event == PTRACE_EVENT_SECCOMP) {
      req = on_seccomp(tid);
      cur_spin = spin;
    } else if (sig == (SIGTRAP | 0x80)) {
      on_syscall_exit(tid);
      cur_spin = spin;
    } else if (event == PTRACE_EVENT_STOP) {
      if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
        req = PTRACE_LISTEN; /* group stop: stay stopped until SIGCONT */
    } else if (event == PTRACE_EVENT_EXEC) {
      /* the old threads are gone; the new image is planned afresh */
      for (size_t i = 0; i < g_nthreads; i++)
        g_threads[i].pending = false;
    } else if (event == 0) {
      inject = sig; /* signal-delivery stop: pass the signal on at once */
    }
    if (ptrace(req, tid, NULL, (void *)inject) != 0 && errno == ESRCH)
      continue; /* killed meanwhile: its exit comes next */
  }
  return main_status;
}

/* child - the program's side of the fork: filter, wait for the tracer,
 * exec.  Never returns. */
static void child(const char *path, char **argv, int errfd) {
  signal(SIGINT, SIG_DFL);
  signal(SIGQUIT, SIG_DFL);
  int e = zt_filter_install();
  if (e) {
    dprintf(errfd, "cannot install the seccomp filter: %s", strerror(e));
    _exit(126);
  }
  raise(SIGSTOP); /* the supervisor seizes us here */
  execve(path, argv, environ);
  e = errno;
  dprintf(errfd, "%s: %s", path, strerror(e));
  _exit(e == ENOENT ? 127 : 126);
}

/* zt_trace_run - see trace.h. */
int zt_trace_run(const struct zt_opts *o, const char *path, char **argv) {
  (void)o;
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) {
    fprintf(stderr, "zapshim: pipe: %s\n", strerror(errno));
    return 125;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "zapshim: fork: %s\n", strerror(errno));
    return 125;
  }
  if (pid == 0) {
    close(pfd[0]);
    child(path, argv, pfd[1]);
  }
  close(pfd[1]);
  int st;
  while (waitpid(pid, &st, WUNTRACED) < 0 && errno == EINTR)
    ;
  if (!WIFSTOPPED(st)) {
    char msg[512] = "";
    ssize_t n = read(pfd[0], msg, sizeof msg - 1);
    msg[n > 0 ? n : 0] = 0;
    fprintf(stderr, "zapshim: %s\n", *msg ? msg : "the program could not be started");
    close(pfd[0]);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 125;
  }
  long opts = PTRACE_O_TRACESECCOMP | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
              PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL |
              PTRACE_O_TRACESYSGOOD;
  if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)opts) != 0) {
    int e = errno;
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    fprintf(stderr, "zapshim: cannot trace the program (ptrace: %s)\n", strerror(e));
    close(pfd[0]);
    return -1;
  }
  g_main = pid;
  const char *fo = getenv("ZAPSHIM_TRACE_FOLLOW");
  bool many = sched_getaffinity(0, sizeof g_allowed, &g_allowed) == 0 && CPU_COUNT(&g_allowed) > 1;
  g_follow = fo && strcmp(fo, "1") == 0 && many;
  g_spin = spin_us(many);
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  struct sigaction sa = {.sa_handler = forward};
  sigemptyset(&sa.sa_mask);
  int fwd[] = {SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM};
  for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++)
    sigaction(fwd[i], &sa, NULL);
  kill(pid, SIGCONT);
  st = supervise(pid);
  /* An exec failure after the stop: the child says why on the pipe. */
  char msg[512];
  ssize_t n = read(pfd[0], msg, sizeof msg - 1);
  if (n > 0) {
    msg[n] = 0;
    fprintf(stderr, "zapshim: %s\n", msg);
  }
  close(pfd[0]);
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 125;
}
