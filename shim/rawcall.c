/*
 * rawcall.c - system calls past libc (rawcall.h).
 */
#include "rawcall.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

/* zs_rawcall - see rawcall.h. */
long zs_rawcall(long nr, long a, long b, long c, long d, long e, long f) {
#if defined(__x86_64__)
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory", "cc");
  return x0;
#else
  /* No instruction of our own: libc's syscall() (this build does not
   * interpose it, see wrappers/interpose.c). */
  long r = syscall(nr, a, b, c, d, e, f);
  return r == -1 ? -(long)errno : r;
#endif
}

/* zs_rawcall_libc - see rawcall.h. */
long zs_rawcall_libc(long r) {
  if ((unsigned long)r > -4096UL) {
    errno = (int)-r;
    return -1;
  }
  return r;
}
