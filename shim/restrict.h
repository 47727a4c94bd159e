/*
 * restrict.h - the wrappers' questions about the program's own seccomp
 * filters, and the hooks behind glibc's syscall().
 */
#ifndef ZS_RESTRICT_H
#define ZS_RESTRICT_H

#include <stdbool.h>

/*
 * zs_restricted - true if this thread has seccomp filters that forbid, or
 * may forbid, a call the shim makes on its own (a PROCMAP_QUERY, an fstat,
 * a memfd_create...): the wrapper then makes the program's call alone, and
 * the first time the log says why.  zap: the call may zap, so whether the
 * process had filters when the shim loaded is learned now if not yet known.
 * A thread without filters pays a few loads.
 */
bool zs_restricted(bool zap);

/*
 * zs_syscall_routed - glibc's syscall(nr, a..f) for the numbers the shim
 * serves (mmap, munmap, mremap, madvise, shmat, shmdt: the same hooks as
 * the libc functions; prctl, seccomp: the filter store).  Called from the
 * shim's own code, or on a restricted thread, it goes straight to the
 * kernel.  Returns what syscall() returns (x86_64; the entry point is in
 * wrappers/interpose.c).
 */
long zs_syscall_routed(long nr, long a, long b, long c, long d, long e, long f);

#endif
