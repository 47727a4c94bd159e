/*
 * sys.c - the real calls behind the wrappers, and raw syscalls for the
 * shim's own use.
 *
 * Until zs_init() has resolved the next definitions with dlsym(RTLD_NEXT)
 * (or if dlsym found none), each call goes straight to the kernel with
 * syscall(2), so a wrapper entered from another library's constructor or
 * from dlsym's own calloc still works.
 */
#define _GNU_SOURCE
#include "sys.h"
#include "state.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

/* raw_result_ptr - turn a raw syscall's pointer result into libc's form. */
static void *raw_result_ptr(long r) {
  return r == -1 ? MAP_FAILED : (void *)r;
}

/* zs_sys_mmap - the next mmap; returns its result, errno as it set it. */
void *zs_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  __typeof__(zs_state.real.mmap) fn = __atomic_load_n(&zs_state.real.mmap, __ATOMIC_RELAXED);
  if (fn)
    return fn(addr, len, prot, flags, fd, off);
  return raw_result_ptr(syscall(SYS_mmap, addr, len, prot, flags, fd, off));
}

/* zs_sys_munmap - the next munmap. */
int zs_sys_munmap(void *addr, size_t len) {
  __typeof__(zs_state.real.munmap) fn = __atomic_load_n(&zs_state.real.munmap, __ATOMIC_RELAXED);
  if (fn)
    return fn(addr, len);
  return (int)syscall(SYS_munmap, addr, len);
}

/* zs_sys_mremap - the next mremap; new_addr is passed on only when flags
 * say it is meaningful, as mremap(2) reads it. */
void *zs_sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr) {
  __typeof__(zs_state.real.mremap) fn = __atomic_load_n(&zs_state.real.mremap, __ATOMIC_RELAXED);
  if (fn)
    return fn(old, old_len, new_len, flags, new_addr);
  return raw_result_ptr(syscall(SYS_mremap, old, old_len, new_len, flags, new_addr));
}

/* zs_sys_madvise - the next madvise. */
int zs_sys_madvise(void *addr, size_t len, int advice) {
  __typeof__(zs_state.real.madvise) fn = __atomic_load_n(&zs_state.real.madvise, __ATOMIC_RELAXED);
  if (fn)
    return fn(addr, len, advice);
  return (int)syscall(SYS_madvise, addr, len, advice);
}

/* zs_sys_shmat - the next shmat. */
void *zs_sys_shmat(int id, const void *addr, int flags) {
  __typeof__(zs_state.real.shmat) fn = __atomic_load_n(&zs_state.real.shmat, __ATOMIC_RELAXED);
  if (fn)
    return fn(id, addr, flags);
  long r = syscall(SYS_shmat, id, addr, flags);
  return r == -1 ? (void *)-1 : (void *)r;
}

/* zs_sys_shmdt - the next shmdt. */
int zs_sys_shmdt(const void *addr) {
  __typeof__(zs_state.real.shmdt) fn = __atomic_load_n(&zs_state.real.shmdt, __ATOMIC_RELAXED);
  if (fn)
    return fn(addr);
  return (int)syscall(SYS_shmdt, addr);
}

/* zs_sys_fallocate - fallocate(2) as a raw syscall. 0 or -1/errno. */
int zs_sys_fallocate(int fd, int mode, off_t off, off_t len) {
  return (int)syscall(SYS_fallocate, fd, mode, off, len);
}

/* zs_sys_close - close(2) as a raw syscall, past any close wrapper. */
int zs_sys_close(int fd) {
  return (int)syscall(SYS_close, fd);
}

/* zs_sys_storage - len bytes of zeroed private memory for the shim's own
 * tables, from the kernel directly (never registered, never malloc).
 * Returns NULL on failure. */
void *zs_sys_storage(size_t len) {
  long r = syscall(SYS_mmap, NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r == -1)
    return NULL;
  return (void *)r;
}

#define FD_CEILING ZS_FD_CEILING
#define FD_MARGIN 64    /* the shim's numbers: the top 64 below the limit */
#define FD_MIN_LIMIT 256 /* below this limit the shim keeps no descriptor */

/* zs_sys_fd_floor - see sys.h. */
int zs_sys_fd_floor(void) {
  struct rlimit rl;
  rlim_t cur = FD_CEILING;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < cur)
    cur = rl.rlim_cur;
  if (cur < FD_MIN_LIMIT)
    return -1; /* too few numbers to take any from the program */
  return (int)(cur - FD_MARGIN);
}

/* zs_sys_dup_high - see sys.h.  The usual case (a soft limit above
 * ZS_FD_CEILING - 64) needs no getrlimit: a number at or above the highest
 * floor is at or above every floor, and the kernel refuses one at or over
 * the limit (EINVAL) or finds none free (EMFILE); only then is the limit
 * asked and the real floor tried. */
int zs_sys_dup_high(int fd) {
  const int top_floor = FD_CEILING - FD_MARGIN;
  int hi = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, top_floor);
  if (hi < 0 && (errno == EINVAL || errno == EMFILE)) {
    int floor = zs_sys_fd_floor();
    if (floor < 0)
      return -EMFILE;
    if (floor < top_floor)
      hi = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, floor);
  }
  if (hi < 0)
    return -errno;
  zs_sys_note_fd(hi);
  return hi;
}

/* zs_sys_note_fd - see sys.h. Lock-free: a compare-exchange loop. */
void zs_sys_note_fd(int fd) {
  int cur = atomic_load_explicit(&zs_state.lowest_fd, memory_order_relaxed);
  while (fd >= 0 && fd < cur &&
         !atomic_compare_exchange_weak_explicit(&zs_state.lowest_fd, &cur, fd,
                                                memory_order_relaxed, memory_order_relaxed))
    ;
}

/* zs_sys_lowest_fd - see sys.h. */
int zs_sys_lowest_fd(void) {
  return atomic_load_explicit(&zs_state.lowest_fd, memory_order_relaxed);
}
