/*
 * restrict.c - threads whose own seccomp filters forbid the shim's calls,
 * and glibc's syscall() routed to the hooks (restrict.h).
 *
 * The wrappers ask zs_restricted() before handing a call to the hooks: a
 * thread whose filters forbid, or may forbid, a call the shim makes on its
 * own gets the program's call alone, as if the shim were not loaded.
 */
#define _GNU_SOURCE
#include "restrict.h"
#include "filters.h"
#include "hooks.h"
#include "log.h"
#include "rawcall.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/syscall.h>

/* The system calls the shim's hooks may make on their own, beyond the
 * program's call, with the arguments a filter would check (0 where they
 * vary).  The translated madvise and fallocate themselves are checked
 * where they are made (shim/exec.c). */
#define ZS_PROCMAP_QUERY_NR 0xC0686611u /* _IOWR('f', 17, struct procmap_query) */
static const struct zs_filter_call shim_calls[] = {
    {SYS_ioctl, {0, ZS_PROCMAP_QUERY_NR}, "ioctl(PROCMAP_QUERY)"},
    {SYS_openat, {0, 0, O_RDONLY | O_CLOEXEC}, "openat"},
    {SYS_read, {0}, "read"},
    {SYS_pread64, {0}, "pread64"},
    {SYS_close, {0}, "close"},
    {SYS_newfstatat, {0, 0, 0, AT_EMPTY_PATH}, "fstat"},
    {SYS_fstatfs, {0}, "fstatfs"},
    {SYS_statfs, {0}, "statfs"},
    {SYS_readlinkat, {0}, "readlinkat"},
    {SYS_fcntl, {0, F_GETFL}, "fcntl(F_GETFL)"},
    {SYS_fcntl, {0, F_DUPFD_CLOEXEC}, "fcntl(F_DUPFD_CLOEXEC)"},
    {SYS_prlimit64, {0, RLIMIT_NOFILE}, "prlimit64(RLIMIT_NOFILE)"},
    {SYS_getpid, {0}, "getpid"},
    {SYS_memfd_create, {0, MFD_CLOEXEC}, "memfd_create"},
    {SYS_mincore, {0}, "mincore"},
    {SYS_shmctl, {0, IPC_STAT}, "shmctl(IPC_STAT)"},
    {SYS_mmap, {0, 0, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0}, "mmap"},
    {SYS_munmap, {0}, "munmap"},
    {SYS_futex, {0}, "futex"},
    {SYS_sched_yield, {0}, "sched_yield"},
    {SYS_write, {0}, "write"},
};

/* say_restricted - once per thread, in the log: why its calls pass
 * straight through. */
static void say_restricted(const struct zs_filter_call *c, enum zs_filter_verdict v) {
  static __thread bool said __attribute__((tls_model("initial-exec")));
  if (said || !zs_log_enabled())
    return;
  said = true;
  struct zs_line l;
  zs_line_start(&l, "warning: ");
  if (v == ZS_FILTER_FORBID) {
    zs_line_str(&l, "this thread's seccomp filter forbids ");
    zs_line_str(&l, c->name);
    zs_line_str(&l, ", a call the shim makes on its own");
  } else {
    zs_line_str(&l, "this thread has seccomp filters the shim did not see or cannot evaluate");
  }
  zs_line_str(&l, ": its mmap/munmap/mremap/madvise/shmat/shmdt/close/dup calls pass straight"
                  " through, its zaps are left as asked");
  zs_line_emit(&l);
}

/*
 * zs_restricted - see restrict.h. True if this thread has seccomp filters that forbid, or
 * may forbid, a call the shim makes on its own: the wrappers then make
 * the program's call alone, as if the shim were not loaded (the shim
 * learns the change later from the kernel, as for a raw system call),
 * and the first time the log says why.  A thread without filters pays a
 * few loads.  zap: the call may zap, so whether the process had filters
 * when the shim loaded is asked of the kernel now if not yet known; other
 * calls go by what is known (the shim's own start made the same kind of
 * calls under those filters).
 */
bool zs_restricted(bool zap) {
  if (!zs_filter_active(zap))
    return false;
  enum zs_filter_verdict v;
  const struct zs_filter_call *c =
      zs_filter_refused(shim_calls, sizeof shim_calls / sizeof shim_calls[0], &v);
  if (!c)
    return false;
  say_restricted(c, v);
  return true;
}

#if defined(__x86_64__)
/* The shim's own code: [__ehdr_start, __etext) of this library. */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char __etext[] __attribute__((visibility("hidden")));

/* ptr_result - a pointer call's result as syscall() returns it. */
static long ptr_result(void *p) {
  return p == MAP_FAILED ? -1 : (long)p;
}

/*
 * zs_syscall_routed - syscall(nr, a..f) for the numbers the shim serves.
 * Called by the shim itself (its real-call fall-backs, its storage), or
 * on a restricted thread, it goes straight to the kernel; from the
 * program, to the same hook as the libc function, with the kernel's argument types (int arguments
 * truncated as the kernel reads them).  Returns as syscall() does.
 * Marked used: only the assembly of wrappers/interpose.c calls it, which
 * a link-time-optimised build cannot see (tools/check-lto.sh).
 */
__attribute__((used)) long zs_syscall_routed(long nr, long a, long b, long c, long d, long e, long f) {
  const char *ra = __builtin_return_address(0);
  if (ra >= __ehdr_start && ra < __etext)
    return zs_rawcall_libc(zs_rawcall(nr, a, b, c, d, e, f));
  if (nr != SYS_prctl && nr != SYS_seccomp &&
      zs_restricted(nr == SYS_madvise && ((int)c == MADV_DONTNEED || (int)c == MADV_REMOVE)))
    return zs_rawcall_libc(zs_rawcall(nr, a, b, c, d, e, f));
  switch (nr) {
  case SYS_mmap:
    return ptr_result(zs_mmap((void *)a, (size_t)b, (int)c, (int)d, (int)e, (off_t)f));
  case SYS_munmap:
    return zs_munmap((void *)a, (size_t)b);
  case SYS_mremap:
    return ptr_result(zs_mremap((void *)a, (size_t)b, (size_t)c, (int)d, (void *)e));
  case SYS_madvise:
    return zs_madvise((void *)a, (size_t)b, (int)c);
  case SYS_shmat:
    return ptr_result(zs_shmat((int)a, (const void *)b, (int)c));
  case SYS_shmdt:
    return zs_shmdt((const void *)a);
  case SYS_prctl:
    return zs_rawcall_libc(zs_filter_prctl(a, (unsigned long)b, (unsigned long)c,
                                           (unsigned long)d, (unsigned long)e));
  case SYS_seccomp:
    return zs_rawcall_libc(zs_filter_seccomp((unsigned long)a, (unsigned long)b,
                                             (unsigned long)c));
  }
  return zs_rawcall_libc(zs_rawcall(nr, a, b, c, d, e, f));
}
#endif
