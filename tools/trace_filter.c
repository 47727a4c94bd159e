/*
 * trace_filter.c - the seccomp filter of the syscall path, and a classic
 * BPF evaluator for the program's own filters (trace.h).
 *
 * Ours traps madvise with MADV_DONTNEED or MADV_REMOVE (SECCOMP_RET_TRACE)
 * and allows every other call: untrapped calls cost only the filter.
 * The program's filters decide whether the supervisor may rewrite a call
 * (evaluated by the core's classic-BPF evaluator, shim/bpf.h):
 * the kernel runs every filter again after a tracer changed a call, and a
 * filter that refuses the new call kills the program (Firecracker).
 */
#define _GNU_SOURCE
#include "trace.h"
#include "bpf.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#endif
#ifndef SECCOMP_RET_ACTION_FULL
#define SECCOMP_RET_ACTION_FULL 0xffff0000U
#endif
#ifndef SECCOMP_RET_LOG
#define SECCOMP_RET_LOG 0x7ffc0000U
#endif

#define ARG_LO(n) (offsetof(struct seccomp_data, args) + (n) * 8)

/* zt_filter_install - see trace.h. */
int zt_filter_install(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 6),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_madvise, 0, 4),
      /* advice is an int: the kernel reads the low 32 bits only */
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 4 /* MADV_DONTNEED */, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 9 /* MADV_REMOVE */, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return errno;
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
    return errno;
  return 0;
}

/* zt_filter_allows - see trace.h. */
bool zt_filter_allows(pid_t tid, int nr, const uint64_t args[6], uint64_t ip, const char **why) {
  for (unsigned long idx = 0;; idx++) {
    long n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)idx, NULL);
    if (n < 0) {
      if (errno == ENOENT)
        return true; /* every filter read and allowing */
      *why = errno == EACCES || errno == EPERM
                 ? "the program's seccomp filters cannot be read (needs CAP_SYS_ADMIN)"
                 : "the program's seccomp filters cannot be read";
      return false;
    }
    struct sock_filter *prog = calloc((size_t)n, sizeof *prog);
    if (!prog || ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)idx, prog) != n) {
      free(prog);
      *why = "the program's seccomp filters cannot be read";
      return false;
    }
    struct seccomp_data d = {.nr = nr, .arch = AUDIT_ARCH_X86_64, .instruction_pointer = ip};
    for (int i = 0; i < 6; i++)
      d.args[i] = args[i];
    unsigned flags = 0;
    uint32_t r = zs_bpf_run(prog, (unsigned)n, &d, &flags); /* the preload's evaluator */
    free(prog);
    uint32_t act = r & SECCOMP_RET_ACTION_FULL;
    if (act != SECCOMP_RET_ALLOW && act != SECCOMP_RET_LOG && act != SECCOMP_RET_TRACE) {
      *why = "the program's own seccomp filter forbids the translated call";
      return false;
    }
  }
}
