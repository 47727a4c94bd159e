/*
 * filter_forbids.c - a static program whose own seccomp filter kills it on
 * madvise(MADV_DONTNEED) then asks MADV_REMOVE on private anonymous memory.
 * The policy would answer that REMOVE with a DONTNEED; the supervisor must
 * see that the program's filter forbids the rewritten call and leave the
 * call as asked: the program lives, gets the kernel's EINVAL, its memory
 * is untouched.  Exit 0 if so (killed by SIGSYS otherwise).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MADV_DONTNEED, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  struct sock_fprog prog = {sizeof f / sizeof f[0], f};
  size_t len = 1 << 20;
  char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    return 2;
  memset(m, 1, len);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
    return 2;
  long r = syscall(SYS_madvise, m, len, MADV_REMOVE);
  int e = errno;
  printf("filter_forbids: MADV_REMOVE = %ld errno %d, first byte %d\n", r, r ? e : 0, m[0]);
  return r == -1 && e == EINVAL && m[0] == 1 ? 0 : 1;
}
