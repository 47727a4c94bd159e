/*
 * bpf.c - the classic-BPF evaluator for seccomp filters (bpf.h).
 */
#include "bpf.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define MEM_WORDS 16 /* BPF_MEMWORDS: the scratch memory M[] */

/* load_word - the 32-bit word at byte offset k of d, as a filter's
 * LD W ABS sees it (host order). false if k is not a word of d. */
static bool load_word(const struct seccomp_data *d, uint32_t k, uint32_t *out, unsigned *flags) {
  if (k >= sizeof *d || (k & 3))
    return false;
  if (k >= offsetof(struct seccomp_data, instruction_pointer) &&
      k < offsetof(struct seccomp_data, args))
    *flags |= ZS_BPF_READ_IP;
  memcpy(out, (const unsigned char *)d + k, sizeof *out);
  return true;
}

/* alu - A op v for the ALU operation of code. false on an operation the
 * kernel does not know, or a division by zero (the caller ends the
 * program with 0, as the kernel does). */
static bool alu(uint16_t code, uint32_t *a, uint32_t v) {
  switch (BPF_OP(code)) {
  case BPF_ADD: *a += v; return true;
  case BPF_SUB: *a -= v; return true;
  case BPF_MUL: *a *= v; return true;
  case BPF_DIV: if (v == 0) return false; *a /= v; return true;
  case BPF_MOD: if (v == 0) return false; *a %= v; return true;
  case BPF_AND: *a &= v; return true;
  case BPF_OR:  *a |= v; return true;
  case BPF_XOR: *a ^= v; return true;
  case BPF_LSH: *a = *a << (v & 31); return true;
  case BPF_RSH: *a = *a >> (v & 31); return true;
  case BPF_NEG: *a = -*a; return true;
  }
  return false;
}

/* jump_taken - the condition of a conditional jump on A and v. */
static bool jump_taken(uint16_t code, uint32_t a, uint32_t v) {
  switch (BPF_OP(code)) {
  case BPF_JEQ: return a == v;
  case BPF_JGT: return a > v;
  case BPF_JGE: return a >= v;
  case BPF_JSET: return (a & v) != 0;
  }
  return false;
}

/* invalid - the program cannot be vouched for: the most severe answer. */
static uint32_t invalid(unsigned *flags) {
  *flags |= ZS_BPF_INVALID;
  return SECCOMP_RET_KILL_PROCESS;
}

/* zs_bpf_run - see bpf.h. Jumps only go forward, so the loop ends within
 * n steps. */
uint32_t zs_bpf_run(const struct sock_filter *prog, unsigned n, const struct seccomp_data *d,
                    unsigned *flags) {
  uint32_t a = 0, x = 0, mem[MEM_WORDS] = {0};
  *flags = 0;
  for (unsigned pc = 0; pc < n; pc++) {
    const struct sock_filter *f = &prog[pc];
    uint16_t code = f->code;
    uint32_t k = f->k;
    switch (BPF_CLASS(code)) {
    case BPF_LD:
      if (code == (BPF_LD | BPF_W | BPF_ABS)) {
        if (!load_word(d, k, &a, flags))
          return invalid(flags);
      } else if (code == (BPF_LD | BPF_W | BPF_LEN)) {
        a = sizeof *d;
      } else if (code == (BPF_LD | BPF_IMM)) {
        a = k;
      } else if (code == (BPF_LD | BPF_MEM) && k < MEM_WORDS) {
        a = mem[k];
      } else {
        return invalid(flags);
      }
      break;
    case BPF_LDX:
      if (code == (BPF_LDX | BPF_W | BPF_LEN))
        x = sizeof *d;
      else if (code == (BPF_LDX | BPF_IMM))
        x = k;
      else if (code == (BPF_LDX | BPF_MEM) && k < MEM_WORDS)
        x = mem[k];
      else
        return invalid(flags);
      break;
    case BPF_ST:
    case BPF_STX:
      if (code != BPF_CLASS(code) || k >= MEM_WORDS) /* no mode bits: M[k] */
        return invalid(flags);
      mem[k] = BPF_CLASS(code) == BPF_ST ? a : x;
      break;
    case BPF_ALU: {
      if (BPF_OP(code) == BPF_NEG) {
        if (code != (BPF_ALU | BPF_NEG))
          return invalid(flags);
        a = -a;
        break;
      }
      bool by_x = BPF_SRC(code) == BPF_X;
      if ((code & ~(BPF_SRC(code) | BPF_OP(code))) != BPF_ALU)
        return invalid(flags);
      if (!by_x && (BPF_OP(code) == BPF_DIV || BPF_OP(code) == BPF_MOD) && k == 0)
        return invalid(flags); /* the kernel rejects a constant 0 divisor */
      if (!by_x && (BPF_OP(code) == BPF_LSH || BPF_OP(code) == BPF_RSH) && k >= 32)
        return invalid(flags);
      uint32_t v = by_x ? x : k;
      if (!alu(code, &a, v)) {
        if (by_x && v == 0 && (BPF_OP(code) == BPF_DIV || BPF_OP(code) == BPF_MOD))
          return 0; /* division by X == 0: the program returns 0 */
        return invalid(flags);
      }
      break;
    }
    case BPF_JMP: {
      if (code == (BPF_JMP | BPF_JA)) {
        if (k >= n - pc - 1)
          return invalid(flags);
        pc += k;
        break;
      }
      unsigned op = BPF_OP(code);
      if ((op != BPF_JEQ && op != BPF_JGT && op != BPF_JGE && op != BPF_JSET) ||
          (code & ~(BPF_SRC(code) | op)) != BPF_JMP ||
          f->jt >= n - pc - 1 || f->jf >= n - pc - 1)
        return invalid(flags);
      pc += jump_taken(code, a, BPF_SRC(code) == BPF_X ? x : k) ? f->jt : f->jf;
      break;
    }
    case BPF_RET:
      if (code == (BPF_RET | BPF_K))
        return k;
      if (code == (BPF_RET | BPF_A))
        return a;
      return invalid(flags);
    case BPF_MISC:
      if (code == (BPF_MISC | BPF_TAX))
        x = a;
      else if (code == (BPF_MISC | BPF_TXA))
        a = x;
      else
        return invalid(flags);
      break;
    default:
      return invalid(flags);
    }
  }
  return invalid(flags); /* fell off the end: the kernel requires a RET last */
}
