/*
 * filters.c - the program's seccomp filters, per thread (filters.h).
 *
 * A thread's filters are a chain of immutable nodes, newest first, each
 * pointing at the one below (as in the kernel).  Two sentinel nodes stand
 * for what the shim cannot evaluate: UNKNOWN (filters it did not see) and
 * STRICT (SECCOMP_MODE_STRICT).  Per thread (TLS): the chain top and the
 * TSYNC generation it was set at.  Process-wide: the chain the last TSYNC
 * gave every thread, its generation, and a count of installs in flight
 * (while one runs, every thread's view is UNKNOWN).  A thread whose view
 * was never set (not started through a birth note) has the filters found
 * at load if the process has installed none since, else UNKNOWN.
 */
#define _GNU_SOURCE
#include "filters.h"
#include "bpf.h"
#include "rawcall.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#ifndef SECCOMP_FILTER_FLAG_TSYNC
#define SECCOMP_FILTER_FLAG_TSYNC (1UL << 0)
#endif
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef SECCOMP_RET_ACTION_FULL
#define SECCOMP_RET_ACTION_FULL 0xffff0000U
#endif
#ifndef SECCOMP_RET_LOG
#define SECCOMP_RET_LOG 0x7ffc0000U
#endif

#if defined(__x86_64__)
#define ZS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ZS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#define ZS_AUDIT_ARCH 0 /* never matches a filter's arch check: not allowed */
#endif

#define PINNED UINT32_MAX /* a thread view no TSYNC generation overrides */
#define MAX_INSNS 4096 /* BPF_MAXINSNS: the kernel refuses longer filters */

enum node_kind { NODE_BPF, NODE_STRICT, NODE_UNKNOWN, NODE_LOAD };

struct zs_node {
  const struct zs_node *prev; /* the filter installed before this one */
  uint32_t kind;              /* enum node_kind */
  uint32_t len;               /* instructions (NODE_BPF) */
  struct sock_filter insn[];
};

/* Room for the largest filter: reserved before an install, because the
 * filter being installed may forbid the mmap that would get it. */
#define NODE_ROOM (offsetof(struct zs_node, insn) + MAX_INSNS * sizeof(struct sock_filter))

static const struct zs_node unknown_node = {.kind = NODE_UNKNOWN};
static const struct zs_node strict_node = {.kind = NODE_STRICT};
/* Whatever filters the process had when the shim loaded: learned from the
 * kernel on first need (learn_load), so a program that never zaps pays
 * nothing at start. */
static const struct zs_node load_node = {.kind = NODE_LOAD};

/* This thread's view. */
struct thread_view {
  const struct zs_node *chain; /* top of the chain, NULL: no filter */
  uint32_t gen;                /* tsync_gen when chain was set, or PINNED */
  bool set;                    /* chain is this thread's (else: see the file comment) */
  volatile sig_atomic_t busy;  /* an install of this thread's is in flight */
  struct zs_node *room;        /* NODE_ROOM bytes reserved, or NULL */
};
static __thread struct thread_view me __attribute__((tls_model("initial-exec")));

static _Atomic(const struct zs_node *) tsync_chain; /* what the last TSYNC gave every thread */
static _Atomic uint32_t tsync_gen;                  /* TSYNC installs so far */
static _Atomic int installs_in_flight;              /* TSYNC installs running now */
static _Atomic bool installed_any;                  /* some thread installed a filter */
static _Atomic int load_state __attribute__((section(".data"))); /* enum load_state; .data: see forkmark.c */

enum load_state { LOAD_UNLEARNED, LOAD_NONE, LOAD_UNKNOWN };

static int mode_at_load(void);

/* learn_load - whether the process had filters when the shim loaded
 * (LOAD_NONE or LOAD_UNKNOWN), asked of the kernel the first time.  Every
 * install the shim sees learns first, so filters found then are ones it
 * did not see. */
static int learn_load(void) {
  int st = atomic_load(&load_state);
  if (st != LOAD_UNLEARNED)
    return st;
  st = mode_at_load() == 0 ? LOAD_NONE : LOAD_UNKNOWN;
  atomic_store(&load_state, st);
  return st;
}

/* resolve_load - c, with a bare load marker turned into what it stands
 * for (NULL: no filter, or UNKNOWN); a marker not yet learned stays as is
 * unless learn. */
static const struct zs_node *resolve_load(const struct zs_node *c, bool learn) {
  if (c != &load_node)
    return c;
  int st = learn ? learn_load() : atomic_load(&load_state);
  return st == LOAD_NONE ? NULL : st == LOAD_UNKNOWN ? &unknown_node : c;
}

/* has_unknown - true if chain c holds a node the shim cannot evaluate
 * (the load marker is learned if need be). */
static bool has_unknown(const struct zs_node *c) {
  for (; c; c = c->prev)
    if (c->kind == NODE_UNKNOWN || (c->kind == NODE_LOAD && learn_load() != LOAD_NONE))
      return true;
  return false;
}

/* current - this thread's chain as the kernel has it now, and in *gen the
 * TSYNC generation it belongs to; UNKNOWN while an install that may change
 * it is in flight. */
static const struct zs_node *current(uint32_t *gen) {
  int busy = atomic_load(&installs_in_flight);
  uint32_t g = atomic_load(&tsync_gen);
  const struct zs_node *c;
  if (me.set && (me.gen == g || me.gen == PINNED))
    c = me.chain;
  else if (me.set) /* a TSYNC since this thread's last install */
    c = atomic_load(&tsync_chain);
  else if (atomic_load(&installed_any))
    c = &unknown_node; /* a thread the shim did not see start, in a process with filters */
  else
    c = &load_node;
  if (me.busy || busy || atomic_load(&installs_in_flight) || atomic_load(&tsync_gen) != g)
    c = &unknown_node;
  *gen = g;
  return c;
}

/* strict_allows - the calls SECCOMP_MODE_STRICT lets through. */
static bool strict_allows(int nr) {
  return nr == SYS_read || nr == SYS_write || nr == SYS_exit || nr == SYS_rt_sigreturn;
}

/* zs_filter_check - see filters.h. The kernel runs every filter and acts
 * on the most severe answer (lowest action as a signed number). */
enum zs_filter_verdict zs_filter_check(int nr, const uint64_t args[6]) {
  uint32_t g;
  const struct zs_node *c = resolve_load(current(&g), true);
  if (!c)
    return ZS_FILTER_ALLOW;
  struct seccomp_data d = {.nr = nr, .arch = ZS_AUDIT_ARCH, .instruction_pointer = 0};
  memcpy(d.args, args, sizeof d.args);
  uint32_t worst = SECCOMP_RET_ALLOW;
  for (; c; c = c->prev) {
    if (c->kind == NODE_UNKNOWN)
      return ZS_FILTER_UNKNOWN;
    if (c->kind == NODE_LOAD) {
      if (learn_load() != LOAD_NONE)
        return ZS_FILTER_UNKNOWN;
      break; /* nothing below */
    }
    if (c->kind == NODE_STRICT) {
      if (!strict_allows(nr))
        return ZS_FILTER_FORBID;
      continue;
    }
    unsigned flags;
    uint32_t r = zs_bpf_run(c->insn, c->len, &d, &flags);
    if (flags)
      return ZS_FILTER_UNKNOWN;
    if ((int32_t)(r & SECCOMP_RET_ACTION_FULL) < (int32_t)(worst & SECCOMP_RET_ACTION_FULL))
      worst = r;
  }
  uint32_t act = worst & SECCOMP_RET_ACTION_FULL;
  return act == SECCOMP_RET_ALLOW || act == SECCOMP_RET_LOG ? ZS_FILTER_ALLOW : ZS_FILTER_FORBID;
}

/* zs_filter_allows - see filters.h. */
bool zs_filter_allows(int nr, const uint64_t args[6]) {
  return zs_filter_check(nr, args) == ZS_FILTER_ALLOW;
}

/* zs_filter_active - see filters.h. */
bool zs_filter_active(bool learn) {
  uint32_t g;
  const struct zs_node *c = resolve_load(current(&g), learn);
  return c != NULL && c != &load_node;
}

/* The last answer of zs_filter_refused on this thread: valid while chain
 * (never NULL or UNKNOWN when valid) is still the thread's. */
struct refused_note {
  const struct zs_node *chain;
  const struct zs_filter_call *list;
  int index; /* -1: all allowed */
  enum zs_filter_verdict verdict;
};
static __thread struct refused_note refused __attribute__((tls_model("initial-exec")));

/* zs_filter_refused - see filters.h. A signal handler on this thread may
 * find the note half-written: it is made invalid first, valid last. */
const struct zs_filter_call *zs_filter_refused(const struct zs_filter_call *calls, unsigned n,
                                               enum zs_filter_verdict *verdict) {
  uint32_t g;
  const struct zs_node *c = resolve_load(current(&g), true);
  *verdict = ZS_FILTER_ALLOW;
  if (!c)
    return NULL;
  if (c == &unknown_node) {
    *verdict = ZS_FILTER_UNKNOWN;
    return calls;
  }
  if (refused.chain == c && refused.list == calls) {
    atomic_signal_fence(memory_order_seq_cst);
    *verdict = refused.verdict;
    return refused.index < 0 ? NULL : &calls[refused.index];
  }
  int index = -1;
  for (unsigned i = 0; i < n && index < 0; i++) {
    *verdict = zs_filter_check(calls[i].nr, calls[i].args);
    if (*verdict != ZS_FILTER_ALLOW)
      index = (int)i;
  }
  refused.chain = NULL;
  atomic_signal_fence(memory_order_seq_cst);
  refused.list = calls;
  refused.index = index;
  refused.verdict = *verdict;
  atomic_signal_fence(memory_order_seq_cst);
  refused.chain = c;
  return index < 0 ? NULL : &calls[index];
}

/* reserve_room - NODE_ROOM bytes for the copy of a filter about to be
 * installed on top of base, if base lets this thread mmap them; NULL if
 * not (the copy is then not kept: the filter becomes UNKNOWN). */
static struct zs_node *reserve_room(const struct zs_node *base) {
  if (me.room)
    return me.room;
  const uint64_t args[6] = {0, NODE_ROOM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            (uint64_t)-1, 0};
  if (base && (has_unknown(base) || !zs_filter_allows(SYS_mmap, args)))
    return NULL;
  long r = zs_rawcall(SYS_mmap, 0, (long)NODE_ROOM, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if ((unsigned long)r > -4096UL)
    return NULL;
  me.room = (struct zs_node *)r;
  return me.room;
}

/* keep_copy - the node for a filter the kernel just accepted from uprog
 * (a struct sock_fprog *, read now that the kernel has read it) on top of
 * base: this thread's reserved room, or UNKNOWN if it could not be kept. */
static const struct zs_node *keep_copy(const struct zs_node *base, unsigned long uprog) {
  struct zs_node *n = me.room;
  const struct sock_fprog *p = (const struct sock_fprog *)uprog;
  if (!n || has_unknown(base) || !p || p->len == 0 || p->len > MAX_INSNS)
    return &unknown_node;
  n->prev = base;
  n->kind = NODE_BPF;
  n->len = p->len;
  memcpy(n->insn, p->filter, (size_t)p->len * sizeof(struct sock_filter));
  me.room = NULL;
  return n;
}

/*
 * install - make the install call nr(a, b, c) with the kernel and, if it
 * succeeded, note the new top of this thread's chain (and of every
 * thread's, for TSYNC).  strict: SECCOMP_MODE_STRICT, else a filter read
 * from uprog.  ok_fd: success is any value >= 0 (NEW_LISTENER returns a
 * descriptor), else only 0 (a TSYNC that fails returns a thread id).
 * Returns the kernel's raw value.
 */
static long install(long nr, long a, long b, long c, bool strict, unsigned long uprog, bool tsync,
                    bool ok_fd) {
  uint32_t g0;
  (void)learn_load(); /* before any filter of ours can forbid reading /proc */
  const struct zs_node *base = resolve_load(current(&g0), true);
  int others = atomic_load(&installs_in_flight);
  if (!strict)
    (void)reserve_room(base);
  if (tsync)
    others += atomic_fetch_add(&installs_in_flight, 1);
  me.busy = 1;
  atomic_signal_fence(memory_order_seq_cst);
  long r = zs_rawcall(nr, a, b, c, 0, 0, 0);
  bool ok = ok_fd ? r >= 0 : r == 0;
  /* A TSYNC of another thread that crossed this install (running before,
   * during or after the call, its note not yet made) leaves this thread's
   * chain unknowable: UNKNOWN, pinned against later generations. */
  bool crossed = others > 0 || atomic_load(&installs_in_flight) > (tsync ? 1 : 0) ||
                 atomic_load(&tsync_gen) != g0;
  if (ok) {
    const struct zs_node *top = crossed  ? &unknown_node
                                : strict ? &strict_node
                                         : keep_copy(base, uprog);
    atomic_store(&installed_any, true);
    me.chain = top;
    if (tsync) {
      atomic_store(&tsync_chain, top);
      me.gen = atomic_fetch_add(&tsync_gen, 1) + 1;
    } else {
      me.gen = g0;
    }
    if (crossed)
      me.gen = PINNED;
    me.set = true;
  }
  atomic_signal_fence(memory_order_seq_cst);
  me.busy = 0;
  if (tsync)
    atomic_fetch_sub(&installs_in_flight, 1);
  return r;
}

/* zs_filter_prctl - see filters.h. */
long zs_filter_prctl(long option, unsigned long a2, unsigned long a3, unsigned long a4,
                     unsigned long a5) {
  if (option == PR_SET_SECCOMP && a2 == SECCOMP_MODE_STRICT)
    return install(SYS_prctl, option, (long)a2, (long)a3, true, 0, false, false);
  if (option == PR_SET_SECCOMP && a2 == SECCOMP_MODE_FILTER)
    return install(SYS_prctl, option, (long)a2, (long)a3, false, a3, false, false);
  return zs_rawcall(SYS_prctl, option, (long)a2, (long)a3, (long)a4, (long)a5, 0);
}

/* zs_filter_seccomp - see filters.h. */
long zs_filter_seccomp(unsigned long op, unsigned long flags, unsigned long uargs) {
  if (op == SECCOMP_SET_MODE_STRICT)
    return install(SYS_seccomp, (long)op, (long)flags, (long)uargs, true, 0, false, false);
  if (op == SECCOMP_SET_MODE_FILTER)
    return install(SYS_seccomp, (long)op, (long)flags, (long)uargs, false, uargs,
                   (flags & SECCOMP_FILTER_FLAG_TSYNC) != 0,
                   (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) != 0);
  return zs_rawcall(SYS_seccomp, (long)op, (long)flags, (long)uargs, 0, 0, 0);
}

/* ------------------------------------------------------------------ */
/* Threads                                                              */
/* ------------------------------------------------------------------ */

struct zs_filter_birth {
  _Atomic int used;
  bool own_page; /* mmap'd for this birth alone (the pool was full) */
  void *(*fn)(void *);
  void *arg;
  const struct zs_node *chain;
  uint32_t gen;
};

#define BIRTHS 64
static struct zs_filter_birth births[BIRTHS];

/* zs_filter_birth_new - see filters.h. Waits (briefly) for a TSYNC in
 * flight to end, so the note says what the kernel gives the new thread. */
struct zs_filter_birth *zs_filter_birth_new(void *(*fn)(void *), void *arg) {
  struct zs_filter_birth *b = NULL;
  for (int i = 0; i < BIRTHS && !b; i++) {
    int expected = 0;
    if (atomic_load_explicit(&births[i].used, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_strong(&births[i].used, &expected, 1))
      b = &births[i];
  }
  if (!b) {
    long r = zs_rawcall(SYS_mmap, 0, (long)sizeof *b, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if ((unsigned long)r > -4096UL)
      return NULL;
    b = (struct zs_filter_birth *)r;
    b->own_page = true;
  }
  for (int spins = 0; atomic_load(&installs_in_flight) && spins < 1000; spins++)
    sched_yield();
  b->fn = fn;
  b->arg = arg;
  b->chain = current(&b->gen);
  return b;
}

/* zs_filter_birth_drop - see filters.h. */
void zs_filter_birth_drop(struct zs_filter_birth *b) {
  if (b->own_page)
    (void)zs_rawcall(SYS_munmap, (long)b, (long)sizeof *b, 0, 0, 0, 0);
  else
    atomic_store(&b->used, 0);
}

/* zs_filter_birth_start - see filters.h. */
void *zs_filter_birth_start(void *note) {
  struct zs_filter_birth *b = note;
  void *(*fn)(void *) = b->fn;
  void *arg = b->arg;
  me.chain = b->chain;
  me.gen = b->gen;
  me.set = true;
  zs_filter_birth_drop(b);
  return fn(arg);
}

/* ------------------------------------------------------------------ */
/* Load and fork                                                        */
/* ------------------------------------------------------------------ */

/* mode_at_load - this thread's seccomp mode from /proc/thread-self/status
 * ("Seccomp:\tN"), else PR_GET_SECCOMP (EINVAL: no seccomp in this
 * kernel, so none). Returns 0, 1, 2, or -1 if it cannot be told. */
static int mode_at_load(void) {
  char buf[4096];
  long fd = zs_rawcall(SYS_openat, AT_FDCWD, (long)"/proc/thread-self/status",
                       O_RDONLY | O_CLOEXEC, 0, 0, 0);
  if (fd >= 0) {
    long n = zs_rawcall(SYS_read, fd, (long)buf, (long)sizeof buf - 1, 0, 0, 0);
    (void)zs_rawcall(SYS_close, fd, 0, 0, 0, 0, 0);
    if (n > 0) {
      buf[n] = '\0';
      const char *s = strstr(buf, "\nSeccomp:");
      if (s) {
        s += strlen("\nSeccomp:");
        while (*s == ' ' || *s == '\t')
          s++;
        if (*s >= '0' && *s <= '2')
          return *s - '0';
      }
    }
  }
  long m = zs_rawcall(SYS_prctl, PR_GET_SECCOMP, 0, 0, 0, 0, 0);
  if (m == -EINVAL)
    return 0;
  return m >= 0 && m <= 2 ? (int)m : -1;
}

/* fork_child - the child has the forking thread's filters, which a TSYNC
 * in flight in another thread may or may not have reached. */
static void fork_child(void) {
  if (atomic_load(&installs_in_flight)) {
    atomic_store(&installs_in_flight, 0);
    me.chain = &unknown_node;
    me.gen = PINNED;
    me.set = true;
  }
  for (int i = 0; i < BIRTHS; i++) /* their threads are not in the child */
    atomic_store(&births[i].used, 0);
}

/* zs_filter_init - see filters.h. The kernel is asked only when it
 * matters (learn_load): most programs never need it. */
void zs_filter_init(void) {
  static atomic_bool done __attribute__((section(".data"))); /* written at load: no bss page */
  if (atomic_exchange(&done, true))
    return;
  if (!me.set) {
    me.chain = &load_node;
    me.gen = atomic_load(&tsync_gen);
    me.set = true;
  }
  pthread_atfork(NULL, NULL, fork_child);
}
