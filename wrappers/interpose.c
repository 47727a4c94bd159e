/*
 * interpose.c - the libc entry points libzapshim.so stands in front of.
 *
 * Thin shells: each hands its arguments to the core (shim/hooks.c), which
 * makes the real call. mmap and mmap64 are one function under two names
 * (with _FILE_OFFSET_BITS=64, as CPython and QEMU build, calls bind to
 * mmap64). close, close_range, closefrom, dup2 and dup3 keep the shim's own
 * descriptors out of the program's way (shim/fdguard.c). prctl,
 * syscall() and pthread_create follow the program's seccomp filters
 * (shim/filters.c), and syscall() gives raw mmap/munmap/mremap/madvise/
 * shmat/shmdt callers the same hooks as the libc functions. Only these
 * symbols and the public API are exported.
 */
#define _GNU_SOURCE
#include "fdguard.h"
#include "filters.h"
#include "hooks.h"
#include "init.h"
#include "log.h"
#include "rawcall.h"
#include "restrict.h"
#include "state.h"
#include "sys.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/syscall.h>

#define ZS_EXPORT __attribute__((visibility("default")))

/* Bring the shim up when the library loads, before main(). Calls made
 * before (other libraries' constructors) pass straight through. */
__attribute__((constructor)) static void zs_load(void) {
  zs_filter_init();
  zs_init();
}

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

ZS_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (zs_restricted(false))
    return zs_sys_mmap(addr, len, prot, flags, fd, off);
  return zs_mmap(addr, len, prot, flags, fd, off);
}

ZS_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
    __attribute__((alias("mmap")));

ZS_EXPORT int munmap(void *addr, size_t len) {
  if (zs_restricted(false))
    return zs_sys_munmap(addr, len);
  return zs_munmap(addr, len);
}

/* mremap's fifth argument exists only with MREMAP_FIXED or MREMAP_DONTUNMAP. */
ZS_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...) {
  void *new_addr = NULL;
  if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void *);
    va_end(ap);
  }
  if (zs_restricted(false))
    return zs_sys_mremap(old, old_len, new_len, flags, new_addr);
  return zs_mremap(old, old_len, new_len, flags, new_addr);
}

ZS_EXPORT int madvise(void *addr, size_t len, int advice) {
  if (zs_restricted(advice == MADV_DONTNEED || advice == MADV_REMOVE))
    return zs_sys_madvise(addr, len, advice);
  return zs_madvise(addr, len, advice);
}

ZS_EXPORT void *shmat(int id, const void *addr, int flags) {
  if (zs_restricted(false))
    return zs_sys_shmat(id, addr, flags);
  return zs_shmat(id, addr, flags);
}

ZS_EXPORT int shmdt(const void *addr) {
  if (zs_restricted(false))
    return zs_sys_shmdt(addr);
  return zs_shmdt(addr);
}

ZS_EXPORT int close(int fd) {
  if (zs_restricted(false))
    return zs_state.real.close ? zs_state.real.close(fd) : (int)zs_rawcall_libc(zs_rawcall(SYS_close, fd, 0, 0, 0, 0, 0));
  return zs_close(fd);
}

ZS_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  if (zs_restricted(false))
    return zs_state.real.close_range
               ? zs_state.real.close_range(first, last, flags)
               : (int)zs_rawcall_libc(zs_rawcall(SYS_close_range, first, last, flags, 0, 0, 0));
  return zs_close_range(first, last, flags);
}

ZS_EXPORT void closefrom(int lowfd) {
  if (zs_restricted(false) && zs_rawcall(SYS_close_range, lowfd < 0 ? 0 : lowfd, ~0U, 0, 0, 0, 0) == 0)
    return;
  zs_closefrom(lowfd);
}

ZS_EXPORT int dup2(int oldfd, int newfd) {
  if (zs_restricted(false))
    return zs_state.real.dup2 ? zs_state.real.dup2(oldfd, newfd)
                              : (int)zs_rawcall_libc(zs_rawcall(SYS_dup2, oldfd, newfd, 0, 0, 0, 0));
  return zs_dup2(oldfd, newfd);
}

ZS_EXPORT int dup3(int oldfd, int newfd, int flags) {
  if (zs_restricted(false))
    return zs_state.real.dup3
               ? zs_state.real.dup3(oldfd, newfd, flags)
               : (int)zs_rawcall_libc(zs_rawcall(SYS_dup3, oldfd, newfd, flags, 0, 0, 0));
  return zs_dup3(oldfd, newfd, flags);
}

/* prctl reads four more arguments whatever the option, as glibc's does;
 * PR_SET_SECCOMP is noted by the filter store. */
ZS_EXPORT int prctl(int option, ...) {
  va_list ap;
  va_start(ap, option);
  unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
  unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
  va_end(ap);
  return (int)zs_rawcall_libc(zs_filter_prctl(option, a2, a3, a4, a5));
}

/* pthread_create: the new thread starts with its creator's seccomp
 * filters, as the kernel gives it; the filter store learns that through a
 * birth note read by the thread's first function. */
typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static _Atomic(create_fn) real_create;

ZS_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                             void *arg) {
  create_fn real = atomic_load_explicit(&real_create, memory_order_acquire);
  if (!real) {
    real = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
    if (!real)
      return EAGAIN;
    atomic_store_explicit(&real_create, real, memory_order_release);
  }
  struct zs_filter_birth *b = zs_filter_birth_new(fn, arg);
  if (!b)
    return real(t, attr, fn, arg); /* unfollowed: its filters count as unknown */
  int r = real(t, attr, zs_filter_birth_start, b);
  if (r != 0)
    zs_filter_birth_drop(b);
  return r;
}

#if defined(__x86_64__)
/*
 * syscall(): glibc's is a libc function, so the preload stands in front of
 * it.  The entry is assembly so that every number the shim does not serve
 * behaves exactly as glibc's syscall() (no stack frame of its own: vfork,
 * clone and every argument as there): the seven arguments are moved into
 * the kernel's registers, the seventh read from the stack, and an error
 * becomes -1 with errno.  mmap, munmap, mremap, madvise, shmat, shmdt,
 * prctl and seccomp jump to zs_syscall_routed with the caller's arguments
 * untouched.
 */
#define ZS_STR(x) #x
#define ZS_XSTR(x) ZS_STR(x)
#ifdef __CET__
#define ZS_ENDBR "endbr64\n"
#else
#define ZS_ENDBR ""
#endif
__asm__(".text\n"
        ".globl syscall\n"
        ".type syscall, @function\n"
        ".p2align 4\n"
        "syscall:\n"
        ".cfi_startproc\n" ZS_ENDBR
        "  cmpq $" ZS_XSTR(SYS_madvise) ", %rdi\n  je 1f\n"
        "  cmpq $" ZS_XSTR(SYS_mmap) ", %rdi\n  je 1f\n"
        "  cmpq $" ZS_XSTR(SYS_munmap) ", %rdi\n  je 1f\n"
        "  cmpq $" ZS_XSTR(SYS_mremap) ", %rdi\n  je 1f\n"
        "  cmpq $" ZS_XSTR(SYS_shmat) ", %rdi\n  je 1f\n"
        "  cmpq $" ZS_XSTR(SYS_shmdt) ", %rdi\n  je 1f\n"
        "  cmpq $" ZS_XSTR(SYS_prctl) ", %rdi\n  je 1f\n"
        "  cmpq $" ZS_XSTR(SYS_seccomp) ", %rdi\n  je 1f\n"
        "  movq %rdi, %rax\n"
        "  movq %rsi, %rdi\n"
        "  movq %rdx, %rsi\n"
        "  movq %rcx, %rdx\n"
        "  movq %r8, %r10\n"
        "  movq %r9, %r8\n"
        "  movq 8(%rsp), %r9\n"
        "  syscall\n"
        "  cmpq $-4095, %rax\n"
        "  jae 2f\n"
        "  ret\n"
        "1:\n"
        "  jmp zs_syscall_routed\n"
        "2:\n"
        "  movq %rax, %rdi\n"
        "  jmp zs_syscall_fail\n"
        ".cfi_endproc\n"
        ".size syscall, .-syscall\n");

/* zs_syscall_fail - the error path of the entry: r is -errno. */
__attribute__((used, visibility("hidden"))) long zs_syscall_fail(long r);
long zs_syscall_fail(long r) {
  errno = (int)-r;
  return -1;
}

#endif
