/*
 * trace_filter.c - the seccomp filter of the syscall path, and a classic
 * BPF evaluator for the program's own filters (trace.h).
 *
 * Ours traps madvise with MADV_DONTNEED or MADV_REMOVE (SECCOMP_RET_TRACE)
 * and allows every other call: untrapped calls cost only the filter.
 * The program's filters decide whether the supervisor may rewrite a call:
 * the kernel runs every filter again after a tracer changed a call, and a
 * filter that refuses the new call kills the program (Firecracker).
 */
#define _GNU_SOURCE
#include "trace.h"

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

/* load - the 32-bit word of seccomp_data at offset k, or false if k is
 * outside it or unaligned. */
static bool load(uint32_t k, int nr, uint32_t arch, uint64_t ip, const uint64_t args[6],
                 uint32_t *out) {
  struct seccomp_data d = {.nr = nr, .arch = arch, .instruction_pointer = ip};
  for (int i = 0; i < 6; i++)
    d.args[i] = args[i];
  if (k & 3 || k > sizeof d - 4)
    return false;
  *out = *(const uint32_t *)((const char *)&d + k);
  return true;
}

/* alu - A op operand; false on division by zero or an unknown op. */
static bool alu(uint16_t code, uint32_t *a, uint32_t v) {
  switch (BPF_OP(code)) {
  case BPF_ADD: *a += v; return true;
  case BPF_SUB: *a -= v; return true;
  case BPF_MUL: *a *= v; return true;
  case BPF_DIV: if (!v) return false; *a /= v; return true;
  case BPF_MOD: if (!v) return false; *a %= v; return true;
  case BPF_AND: *a &= v; return true;
  case BPF_OR: *a |= v; return true;
  case BPF_XOR: *a ^= v; return true;
  case BPF_LSH: *a = v < 32 ? *a << v : 0; return true;
  case BPF_RSH: *a = v < 32 ? *a >> v : 0; return true;
  case BPF_NEG: *a = 0U - *a; return true;
  }
  return false;
}

/* zt_bpf_run - see trace.h.  The instructions seccomp accepts (its
 * checker rejects the rest): loads of the data, its length, immediates and
 * scratch memory, stores, ALU, jumps forward, returns, TAX/TXA. */
uint32_t zt_bpf_run(const struct sock_filter *prog, unsigned len, int nr, uint32_t arch,
                    uint64_t ip, const uint64_t args[6]) {
  uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0};
  for (unsigned pc = 0; pc < len; pc++) {
    const struct sock_filter *i = &prog[pc];
    uint32_t v;
    switch (BPF_CLASS(i->code)) {
    case BPF_LD:
    case BPF_LDX: {
      uint32_t *dst = BPF_CLASS(i->code) == BPF_LD ? &a : &x;
      switch (BPF_MODE(i->code)) {
      case BPF_ABS:
        if (!load(i->k, nr, arch, ip, args, dst))
          return SECCOMP_RET_KILL_PROCESS;
        break;
      case BPF_LEN: *dst = sizeof(struct seccomp_data); break;
      case BPF_IMM: *dst = i->k; break;
      case BPF_MEM:
        if (i->k >= BPF_MEMWORDS)
          return SECCOMP_RET_KILL_PROCESS;
        *dst = mem[i->k];
        break;
      default: return SECCOMP_RET_KILL_PROCESS;
      }
      break;
    }
    case BPF_ST:
    case BPF_STX:
      if (i->k >= BPF_MEMWORDS)
        return SECCOMP_RET_KILL_PROCESS;
      mem[i->k] = BPF_CLASS(i->code) == BPF_ST ? a : x;
      break;
    case BPF_ALU:
      if (!alu(i->code, &a, BPF_SRC(i->code) == BPF_X ? x : i->k))
        return SECCOMP_RET_KILL_PROCESS;
      break;
    case BPF_JMP: {
      if (BPF_OP(i->code) == BPF_JA) {
        pc += i->k;
        break;
      }
      v = BPF_SRC(i->code) == BPF_X ? x : i->k;
      bool t;
      switch (BPF_OP(i->code)) {
      case BPF_JEQ: t = a == v; break;
      case BPF_JGT: t = a > v; break;
      case BPF_JGE: t = a >= v; break;
      case BPF_JSET: t = (a & v) != 0; break;
      default: return SECCOMP_RET_KILL_PROCESS;
      }
      pc += t ? i->jt : i->jf;
      break;
    }
    case BPF_RET:
      return BPF_RVAL(i->code) == BPF_A ? a : i->k;
    case BPF_MISC:
      if (BPF_MISCOP(i->code) == BPF_TAX)
        x = a;
      else
        a = x;
      break;
    default:
      return SECCOMP_RET_KILL_PROCESS;
    }
  }
  return SECCOMP_RET_KILL_PROCESS; /* fell off the end: the checker forbids it */
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
    uint32_t r = zt_bpf_run(prog, (unsigned)n, nr, AUDIT_ARCH_X86_64, ip, args);
    free(prog);
    uint32_t act = r & SECCOMP_RET_ACTION_FULL;
    if (act != SECCOMP_RET_ALLOW && act != SECCOMP_RET_LOG && act != SECCOMP_RET_TRACE) {
      *why = "the program's own seccomp filter forbids the translated call";
      return false;
    }
  }
}
