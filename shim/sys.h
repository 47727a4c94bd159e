/*
 * sys.h - the real calls behind the wrappers.
 *
 * Each goes to the next definition in the link order (dlsym RTLD_NEXT, as
 * resolved by zs_init) or, before that is known, straight to the kernel.
 * The shim's own bookkeeping (storage, probes) uses these too, so it never
 * re-enters its own wrappers.
 */
#ifndef ZS_SYS_H
#define ZS_SYS_H

#include <stddef.h>
#include <sys/types.h>

void *zs_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int zs_sys_munmap(void *addr, size_t len);
void *zs_sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);
int zs_sys_madvise(void *addr, size_t len, int advice);
void *zs_sys_shmat(int id, const void *addr, int flags);
int zs_sys_shmdt(const void *addr);

/* Raw syscalls for the shim's own use, never interposed by anyone. */
int zs_sys_fallocate(int fd, int mode, off_t off, off_t len);
int zs_sys_close(int fd);
/*
 * zs_sys_fd_floor - the lowest number the shim keeps its own descriptors
 * at: the soft RLIMIT_NOFILE capped at ZS_FD_CEILING, minus 64.  The
 * kernel sizes a process's descriptor table to its highest number, and
 * grows it (allocates, zeroes, copies) when a number beyond it is taken:
 * 1024 is the usual soft limit, so most programs' tables need no growth
 * for the shim's numbers, and one with a raised limit grows to 1024
 * entries, not 4096 (~6 us less at every process start, issue 11).  Programs' own
 * descriptors, allocated from the lowest free number, stay below it.
 * Returns -1 under a limit of 256: too few numbers to take any from the
 * program (the shim then keeps none and reopens files when it must).
 */
#define ZS_FD_CEILING 1024
int zs_sys_fd_floor(void);

/*
 * zs_sys_dup_high - duplicate fd, O_CLOEXEC, at zs_sys_fd_floor() or
 * above; never at a lower number.  Returns the new descriptor, or -errno
 * (EMFILE/EINVAL when no such number is free).  fd itself stays open.
 */
int zs_sys_dup_high(int fd);

/*
 * zs_sys_note_fd - record that the shim holds descriptor fd (lowers
 * zs_state.lowest_fd). zs_sys_dup_high notes what it returns itself.
 */
void zs_sys_note_fd(int fd);

/* zs_sys_lowest_fd - the lowest descriptor number the shim ever held, or
 * INT_MAX if none. */
int zs_sys_lowest_fd(void);

/* zs_sys_storage - anonymous private read-write memory for the shim itself. */
void *zs_sys_storage(size_t len);

#endif
