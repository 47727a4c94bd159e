/*
 * filters.h - the seccomp filters each thread of the program installed,
 * and whether they let the shim make a call the program did not make.
 *
 * The kernel runs every filter of a thread on every system call it makes,
 * the shim's own included: a translated zap (MADV_REMOVE where the program
 * asked DONTNEED, a fallocate punch) on a thread whose filter forbids it
 * kills or traps the program.  So the preload keeps a copy of each filter
 * as the program installs it (prctl(PR_SET_SECCOMP), seccomp(2) through
 * syscall()), per thread, as the kernel does: filters stack and all must
 * allow; a new thread starts with its creator's filters; TSYNC gives every
 * thread the caller's; a fork child keeps the forking thread's; exec keeps
 * them but restarts the shim.
 *
 * What the shim cannot have seen -- filters installed before it loaded
 * (inherited across exec, or from a launcher), by a thread it could not
 * follow (a raw clone, C11 thrd_create), or during an install or TSYNC in
 * flight -- makes the thread's filters unknown, and an unknown filter
 * allows nothing the program did not ask itself.
 *
 * Storage comes from raw mmap (a copy per filter, never freed: the kernel
 * keeps filters for the thread's life); the per-thread view is
 * initial-exec TLS.  zs_filter_check, zs_filter_active and
 * zs_filter_refused are async-signal-safe; they make no system call but
 * the one-time read of what the process had at load.
 */
#ifndef ZS_FILTERS_H
#define ZS_FILTERS_H

#include <stdbool.h>
#include <stdint.h>

enum zs_filter_verdict {
  ZS_FILTER_ALLOW,   /* no filter, or every filter returns ALLOW or LOG */
  ZS_FILTER_FORBID,  /* some filter returns another action (kill, trap, errno, trace, notify) */
  ZS_FILTER_UNKNOWN, /* the thread has filters the shim did not see, or cannot evaluate */
};

/*
 * zs_filter_check - what this thread's seccomp filters would do with
 * system call nr (this architecture's number) and args, made from the
 * shim's own code (instruction_pointer unknown: a filter that reads it is
 * UNKNOWN).  SECCOMP_RET_TRACE counts as FORBID: without a tracer the
 * kernel fails the call with ENOSYS.
 */
enum zs_filter_verdict zs_filter_check(int nr, const uint64_t args[6]);

/* zs_filter_allows - zs_filter_check(nr, args) == ZS_FILTER_ALLOW. */
bool zs_filter_allows(int nr, const uint64_t args[6]);

/* zs_filter_active - false if this thread is known to have no filter at
 * all (every call is allowed); true if it has any, known or not.  Whether
 * the process had filters when the shim loaded is asked of the kernel
 * (one read of /proc/thread-self/status, else PR_GET_SECCOMP) the first
 * time it matters; with learn false, not yet asked counts as none. */
bool zs_filter_active(bool learn);

/* A call the shim may make on its own, for zs_filter_refused. */
struct zs_filter_call {
  int nr;            /* this architecture's number */
  uint64_t args[6];  /* as the shim passes them (0 where it varies) */
  const char *name;  /* for the log */
};

/*
 * zs_filter_refused - the first of calls[0..n) this thread's filters do
 * not allow (FORBID or UNKNOWN, in *verdict), or NULL if they allow every
 * one (then *verdict is ZS_FILTER_ALLOW).  The answer is kept per thread
 * for the same list and the same filters, so asking again costs a few
 * loads.  Async-signal-safe, no system call.
 */
const struct zs_filter_call *zs_filter_refused(const struct zs_filter_call *calls, unsigned n,
                                               enum zs_filter_verdict *verdict);

/*
 * zs_filter_init - make the calling thread's view "the filters the process
 * had at load" (learned on first need: /proc/thread-self/status
 * "Seccomp:", else PR_GET_SECCOMP; none, or unknown ones) and register the
 * fork handler.  Called once, from the preload's constructor.
 */
void zs_filter_init(void);

/*
 * zs_filter_prctl - prctl(option, a2, a3, a4, a5) made with the kernel,
 * noting a PR_SET_SECCOMP (strict or filter mode) that succeeded.
 * Returns the kernel's raw value (>= 0, or -errno); errno untouched.
 */
long zs_filter_prctl(long option, unsigned long a2, unsigned long a3, unsigned long a4,
                     unsigned long a5);

/*
 * zs_filter_seccomp - seccomp(op, flags, uargs) made with the kernel,
 * noting a SECCOMP_SET_MODE_STRICT or SECCOMP_SET_MODE_FILTER (TSYNC
 * included) that succeeded.  Returns the kernel's raw value.
 */
long zs_filter_seccomp(unsigned long op, unsigned long flags, unsigned long uargs);

/*
 * Threads: a new thread starts with its creator's filters.  The creator
 * takes a birth note (zs_filter_birth_new) and starts the thread in
 * zs_filter_birth_start with the note as argument; that makes the new
 * thread's view its creator's and runs fn(arg).  A note not used (the
 * thread was not created) is given back with zs_filter_birth_drop.
 */
struct zs_filter_birth;

/* zs_filter_birth_new - a note of this thread's filters for a thread about
 * to start fn(arg); NULL if no room (the thread then starts unfollowed). */
struct zs_filter_birth *zs_filter_birth_new(void *(*fn)(void *), void *arg);

/* zs_filter_birth_drop - give back a note whose thread was not created. */
void zs_filter_birth_drop(struct zs_filter_birth *b);

/* zs_filter_birth_start - the start routine of a followed thread: takes
 * its note (a struct zs_filter_birth *) and returns fn(arg). */
void *zs_filter_birth_start(void *note);

#endif
