/*
 * forkmark.h - "am I still the process that cached this?", answered by a
 * memory load instead of a getpid system call.
 *
 * The shim caches per-process things (the /proc/self/maps descriptor of
 * vma.c) that a fork child must not use: the child has its own memory and
 * its own descriptor table.  A page marked MADV_WIPEONFORK (Linux 4.14)
 * reads as zeroes in every child made by fork or by a raw clone without
 * CLONE_VM, whoever made it (glibc's fork, a raw syscall, Go's runtime), so
 * the pid kept on it is 0 in a child: the kernel's word, with no system
 * call on the common path.  Where the advice is refused (older kernel), or
 * the page cannot be had, every call asks getpid instead.
 *
 * Not covered (as with any cache of the pid): a vfork child, or a raw
 * clone with CLONE_VM, shares the parent's memory and so its mark; such a
 * child may only call execve or _exit (vfork(2)), never madvise.
 *
 * Lock-free and async-signal-safe.  Uses sys.
 */
#ifndef ZS_FORKMARK_H
#define ZS_FORKMARK_H

#include <stdint.h>

/*
 * zs_forkmark_init - mark the wipe-on-fork page (one madvise of a page
 * of the shim's image; a mapped page where the base page is not 4 KiB).
 * Called at load, before the program can have seccomp filters that forbid
 * the call (a page is never marked later: zs_forkmark_pid only reads and
 * writes it).  Nothing is written on it: the first zs_forkmark_pid puts
 * the pid there, so a process that never asks pays no fault for it.
 * Calling it again does nothing.
 */
void zs_forkmark_init(void);

/*
 * zs_forkmark_pid - this process's pid: read from the wipe-on-fork page
 * while it holds one (no system call), else asked with getpid (and put
 * back on the page, which a fork child sees wiped).  Never 0.
 */
uint32_t zs_forkmark_pid(void);

#endif
