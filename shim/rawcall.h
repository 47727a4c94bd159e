/*
 * rawcall.h - a system call made with the CPU's own instruction, past
 * every libc function (the shim interposes syscall() itself).
 *
 * zs_rawcall returns the kernel's value as is: a result, or -errno in
 * [-4095, -1]; nothing touches errno.  zs_rawcall_libc turns that into
 * libc's convention, as glibc's syscall() does.  Async-signal-safe.
 */
#ifndef ZS_RAWCALL_H
#define ZS_RAWCALL_H

#if defined(__x86_64__) || defined(__aarch64__)
#define ZS_HAVE_RAWCALL 1
#else
#define ZS_HAVE_RAWCALL 0
#endif

/* zs_rawcall - system call nr with six arguments; the kernel's raw value. */
long zs_rawcall(long nr, long a, long b, long c, long d, long e, long f);

/* zs_rawcall_libc - r (a zs_rawcall value) in libc's form: -1 with errno
 * set for an error, else r. */
long zs_rawcall_libc(long r);

#endif
