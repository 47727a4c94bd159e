/*
 * bpf.h - a classic-BPF evaluator for seccomp filters.
 *
 * Pure: a program and a struct seccomp_data in, the filter's return value
 * out; no system call, no state, no allocation (safe anywhere, signal
 * handlers included).  It runs the instructions the kernel accepts in a
 * seccomp filter (seccomp_check_filter): LD W ABS into the seccomp_data,
 * LD/LDX IMM, MEM and LEN, ST/STX, every ALU operation, JA/JEQ/JGT/JGE/JSET
 * with K or X, RET K/A, MISC TAX/TXA, with the kernel's semantics (a
 * division or modulo by X == 0 ends the program returning 0).
 */
#ifndef ZS_BPF_H
#define ZS_BPF_H

#include <stdint.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

/* What zs_bpf_run could not vouch for (bits of *flags). */
#define ZS_BPF_READ_IP 1u /* the program read instruction_pointer (the caller chose it) */
#define ZS_BPF_INVALID 2u /* an instruction the kernel would have rejected, or no RET */

/*
 * zs_bpf_run - run the n instructions of prog on d, as the kernel runs a
 * seccomp filter.  Returns the value of the RET reached (an action with
 * its data, SECCOMP_RET_*).  *flags gets ZS_BPF_READ_IP if the program
 * loaded a word of d->instruction_pointer, and ZS_BPF_INVALID if it met an
 * instruction or jump the kernel would not have loaded (the return value
 * is then SECCOMP_RET_KILL_PROCESS).
 */
uint32_t zs_bpf_run(const struct sock_filter *prog, unsigned n, const struct seccomp_data *d,
                    unsigned *flags);

#endif
