/*
 * trace.h - the syscall path of the zapshim command: a supervisor that
 * gives programs the preload cannot reach (static, Go, raw syscall(2))
 * the same zaps, decided by the same core (walk.h, policy.h, plan.h).
 *
 *   trace_run.c     fork, seccomp filter, PTRACE_SEIZE, the wait loop:
 *                   threads, children, exec, signals, exit status
 *   trace_filter.c  the filter that traps only madvise(DONTNEED|REMOVE),
 *                   and whether the program's own filters allow a
 *                   rewritten call (shim/bpf.h evaluates them)
 *   trace_zap.c     one trapped madvise: plan at the seccomp stop, the
 *                   rest from outside at the syscall-exit stop
 *   trace_proc.c    a traced process as a zs_proc (its maps, map_files),
 *                   zeros written into it, its pagemap
 *   trace_elf.c     which path a program needs (static, dynamic, Go)
 */
#ifndef ZT_TRACE_H
#define ZT_TRACE_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "report.h"
#include "tool.h"
#include "walk.h"

/* ---- trace_filter.c ---- */

/* zt_filter_install - in the child before exec: PR_SET_NO_NEW_PRIVS and
 * the filter (x86_64 only; other arches are killed as the kernel would
 * for a wrong arch: never reached, the launcher refuses them).  Returns 0
 * or errno. */
int zt_filter_install(void);

/* zt_filter_allows - true if every seccomp filter of thread tid allows
 * syscall nr with args (read with PTRACE_SECCOMP_GET_FILTER: needs
 * CAP_SYS_ADMIN; a thread stopped under ptrace).  Our own filter's TRACE
 * counts as allowed (the kernel's re-check after a tracer's change does
 * the same).  *why is set when the answer is false. */
bool zt_filter_allows(pid_t tid, int nr, const uint64_t args[6], uint64_t ip, const char **why);

/* ---- trace_proc.c ---- */

/* A traced process as the walk sees it. */
struct zt_tproc {
  struct zs_proc proc; /* first: the walk's view */
  pid_t pid;           /* the thread group id */
  struct zs_maps maps; /* its maps (vma.h) */
};

/* zt_tproc_open - the walk's view of process pid (thread group id).
 * Returns 0 or errno (zs_maps_open's). */
int zt_tproc_open(struct zt_tproc *t, pid_t pid);
void zt_tproc_close(struct zt_tproc *t);

/* zt_tproc_get - a reader of process pid kept open between calls (a
 * small cache; reopened by itself after an execve).  Returns NULL if it
 * cannot be opened. */
struct zt_tproc *zt_tproc_get(pid_t pid);

/* zt_tproc_drop - process pid exited: close its cached reader. */
void zt_tproc_drop(pid_t pid);

/* zt_tproc_open_file - open the file behind the VMA [start, end) of
 * process pid through /proc/PID/map_files (flags as open(2)), checked to
 * be the file dev/ino.  Returns the descriptor or -1 with errno. */
int zt_tproc_open_file(pid_t pid, uintptr_t start, uintptr_t end, int flags, uint32_t dev,
                       uint64_t ino);

/* zt_tproc_write_zero - write zeros over [a, b) of the process
 * (process_vm_writev).  Returns 0 or errno. */
int zt_tproc_write_zero(pid_t pid, uintptr_t a, uintptr_t b);

/* zt_tproc_present - 1 if the page at a is present (or swapped) per
 * /proc/PID/pagemap, 0 if not, -errno if it cannot be asked. */
int zt_tproc_present(pid_t pid, uintptr_t a);

/* ---- trace_zap.c ---- */

/* What is left to do at a thread's syscall-exit stop. */
#define ZT_PENDING_MAX 16
struct zt_pending_step {
  int op;               /* enum zs_step_op: ZS_STEP_PUNCH or ZS_STEP_ZERO */
  uintptr_t start, end; /* in the tracee */
  uint64_t file_offset; /* PUNCH */
  uint64_t ino;         /* the file the kernel showed at the seccomp stop */
  uint32_t dev;
  bool fallback;        /* a failure means: the program's own call stood (logged) */
  struct zs_report r;
  const char *call;
};
struct zt_pending {
  int n;
  bool truncated;       /* more pieces than ZT_PENDING_MAX: the rest as asked */
  struct zt_pending_step s[ZT_PENDING_MAX];
};

/* zt_zap_enter - at the seccomp stop of tid (process pid) for
 * madvise(addr, len, advice): plan every piece from the kernel's view,
 * rewrite the call's advice where the plan needs it and the thread's own
 * filters allow it, and fill *pend with the steps to do at the exit stop.
 * Returns true if there is something to do at the exit stop. */
bool zt_zap_enter(pid_t tid, pid_t pid, uintptr_t addr, uint64_t len, int advice,
                  struct zt_pending *pend);

/* zt_zap_exit - at the syscall-exit stop of tid (process pid) whose call
 * returned rval: carry out the pending steps (punches through the file
 * the kernel shows there now, zeros into writable memory), log each. */
void zt_zap_exit(pid_t tid, pid_t pid, int64_t rval, struct zt_pending *pend);

/* ---- trace_verify.c ---- */

/* zt_verify_step - --verify: after the last step of a translated piece
 * of process pid, check with the kernel that the piece is gone (pagemap:
 * nothing present or swapped; a punched file range: no data left) and log
 * the answer as the preload's verify does.  Returns 0 (whole), the number
 * of pages or ranges left, or -errno if the kernel could not be asked. */
long zt_verify_step(pid_t pid, const struct zt_pending_step *s);

/* ---- trace_elf.c ---- */

enum zt_elf {
  ZT_ELF_UNKNOWN, /* not an ELF (a script: its interpreter decides), or unreadable */
  ZT_ELF_DYNAMIC, /* has PT_INTERP: the loader honours LD_PRELOAD */
  ZT_ELF_STATIC,  /* no PT_INTERP: nothing to preload into */
  ZT_ELF_GO,      /* a Go program: raw system calls, whatever its linking */
  ZT_ELF_FOREIGN, /* an ELF for another architecture or class than x86_64 */
};

/* zt_elf_kind - what the executable at path is. */
enum zt_elf zt_elf_kind(const char *path);

/* ---- trace_run.c ---- */

/* zt_trace_check - can the syscall path run here (seccomp, ptrace)?
 * Returns NULL, or why not (a sentence). */
const char *zt_trace_check(void);

/* zt_trace_run - run path (argv) under the supervisor until every traced
 * process has exited; returns the exit status like env(1): the program's
 * own, 128+signal if a signal killed it, 126/127 if it could not start,
 * 125 on the supervisor's own failure; -1 if ptrace refused (the program
 * was not started). */
int zt_trace_run(const struct zt_opts *o, const char *path, char **argv);

#endif
