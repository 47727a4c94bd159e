/*
 * exec.c - carry out a zap plan in this process (exec.h).
 */
#define _GNU_SOURCE
#include "exec.h"
#include "fdkeep.h"
#include "filters.h"
#include "state.h"
#include "stats.h"
#include "sys.h"
#include "vma.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif

/* madvise_range - the real madvise over [a, b). Returns 0 or errno. */
static int madvise_range(uintptr_t a, uintptr_t b, int advice) {
  if (a >= b)
    return 0;
  return zs_sys_madvise((void *)a, b - a, advice) == 0 ? 0 : errno;
}

/* open_backing - a fresh read-write descriptor of the file behind m at
 * address a, through /proc/self/map_files (the mapping holds the file even
 * when every descriptor of it is gone), confirmed to be that file (dev,
 * ino). Returns the descriptor or -1. */
static int open_backing(const struct zs_map *m, uintptr_t a) {
  struct zs_vma v;
  if (zs_vma_query(a, &v) != 0 || v.start > a || v.ino != m->ino ||
      zs_dev_pack(v.dev_major, v.dev_minor) != m->dev)
    return -1;
  int fd = zs_vma_open_map_file(v.start, v.end, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || (uint64_t)st.st_ino != m->ino ||
      zs_dev_pack(major(st.st_dev), minor(st.st_dev)) != m->dev) {
    zs_sys_close(fd);
    return -1;
  }
  return fd;
}

/* punch_fd - a descriptor to punch m's file with, *own set if the caller
 * must close it: the kept one if it still names the file and is writable,
 * else a fresh one where the program could write the file itself (its
 * descriptor was writable, or the memory is its own MAP_HUGETLB mapping).
 * Returns the descriptor or -1. */
static int punch_fd(const struct zs_map *m, uintptr_t a, int *own) {
  *own = -1;
  int fd = zs_fdkeep_fd(m->fdslot, m->dev, m->ino);
  if (fd >= 0) {
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_ACCMODE) != O_RDONLY ? fd : -1;
  }
  if (!(m->flags & (ZS_MAP_FD_WRITABLE | ZS_MAP_ANON)))
    return -1;
  return *own = open_backing(m, a);
}

/* punch - fallocate(PUNCH_HOLE) of the file range of step s. Returns 0 or
 * errno (EBADF: no descriptor the program could write through). */
static int punch(const struct zs_map *m, const struct zs_step *s) {
  if (m->ino == 0)
    return EBADF;
  int own, fd = punch_fd(m, s->start, &own);
  if (fd < 0)
    return EBADF;
  int r = zs_sys_fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)s->file_offset,
                           (off_t)(s->end - s->start));
  int e = r == 0 ? 0 : errno;
  if (own >= 0)
    zs_sys_close(own);
  return e;
}

/* zero - write zeros over [a, b), covered parts of huge pages no call can
 * free, so no stale data is left behind; a private huge page that is not
 * resident is already gone and is not touched. */
static void zero(const struct zs_map *m, const struct zs_report *r, uintptr_t a, uintptr_t b) {
  size_t hs = (size_t)1 << m->page_shift;
  if (!(m->prot & PROT_WRITE)) {
    zs_report_incomplete(r, a, b, "partial huge page left as is: the mapping is not writable");
    return;
  }
  for (uintptr_t x = a; x < b;) {
    uintptr_t page = x & ~(uintptr_t)(hs - 1);
    uintptr_t y = page + hs < b ? page + hs : b;
    unsigned char vec = 1;
    if (!(m->flags & ZS_MAP_SHARED))
      (void)mincore((void *)page, zs_state.page_size, &vec);
    if (vec & 1)
      memset((void *)x, 0, y - x);
    x = y;
  }
  zs_report_incomplete(r, a, b, "partial huge page zeroed, not freed");
}

/* run_step - one step. Returns 0 or errno. */
static int run_step(const struct zs_step *s, const struct zs_map *m, const struct zs_report *r) {
  switch (s->op) {
  case ZS_STEP_MADVISE:
    return madvise_range(s->start, s->end, s->advice);
  case ZS_STEP_PUNCH:
    return punch(m, s);
  case ZS_STEP_ZERO:
    zero(m, r, s->start, s->end);
    return 0;
  }
  return EINVAL;
}

/* fall_back - step 0 of a translated plan failed with err: make the
 * program's own call instead, log why, return that call's result. */
static int fall_back(const struct zs_plan *plan, const struct zs_map *m,
                     const struct zs_report *r, int err) {
  zs_stats_add(m->kind, ZS_STAT_FALLBACKS, 1);
  zs_report_call(r, plan->step[0].op == ZS_STEP_PUNCH && err == EBADF
                        ? "PUNCH_HOLE (no descriptor the program could write with)"
                        : plan->call, err);
  zs_report_incomplete(r, r->start, r->end,
                       "translated call failed; did the program's own call instead");
  return madvise_range(r->start, r->end, r->advice);
}

/* call_allowed - 1 if this thread's seccomp filters allow nr(args);
 * else 0, with *verdict saying why. */
static int call_allowed(int nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
                        enum zs_filter_verdict *verdict) {
  const uint64_t args[6] = {a0, a1, a2, a3, 0, 0};
  *verdict = zs_filter_check(nr, args);
  return *verdict == ZS_FILTER_ALLOW;
}

/* step_forbidden - NULL if this thread's seccomp filters allow every
 * system call step s makes beyond the program's own call; else the name
 * of the first they do not, with *verdict saying why.  A punch also asks
 * for the descriptor it checks or opens (arguments the shim does not know
 * yet are given as 0). */
static const char *step_forbidden(const struct zs_step *s, const struct zs_map *m,
                                  const struct zs_report *r, enum zs_filter_verdict *verdict) {
  switch (s->op) {
  case ZS_STEP_MADVISE:
    if (s->advice == r->advice ||
        call_allowed(SYS_madvise, s->start, s->end - s->start, (uint64_t)s->advice, 0, verdict))
      return NULL;
    return s->advice == MADV_REMOVE ? "madvise(MADV_REMOVE)" : "madvise(MADV_DONTNEED)";
  case ZS_STEP_PUNCH:
    if (!call_allowed(SYS_fallocate, 0, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      s->file_offset, s->end - s->start, verdict))
      return "fallocate(PUNCH_HOLE)";
    if (!call_allowed(SYS_fcntl, 0, F_GETFL, 0, 0, verdict) ||
        !call_allowed(SYS_newfstatat, 0, 0, 0, AT_EMPTY_PATH, verdict) ||
        !call_allowed(SYS_openat, 0, 0, O_RDWR | O_CLOEXEC, 0, verdict) ||
        !call_allowed(SYS_close, 0, 0, 0, 0, verdict))
      return "the descriptor calls of a punch (fcntl, fstat, openat, close)";
    return NULL;
  case ZS_STEP_ZERO:
    if ((m->flags & ZS_MAP_SHARED) || !(m->prot & PROT_WRITE) ||
        call_allowed(SYS_mincore, s->start, zs_state.page_size, 0, 0, verdict))
      return NULL;
    return "mincore";
  }
  return NULL;
}

/* left_as_asked - the thread's seccomp filters do not allow call (made by
 * a step of a translated plan): make the program's own call over the
 * whole piece instead, log why, return that call's result. */
static int left_as_asked(const struct zs_map *m, const struct zs_report *r, const char *call,
                         enum zs_filter_verdict verdict) {
  char why[256];
  size_t n = 0;
  const char *parts[3] = {
      verdict == ZS_FILTER_FORBID ? "the program's seccomp filter forbids "
                                  : "this thread has seccomp filters the shim did not see"
                                    " or cannot evaluate, so it may not make ",
      call, " on this thread: left as asked"};
  for (int i = 0; i < 3; i++)
    for (const char *c = parts[i]; *c && n + 1 < sizeof why; c++)
      why[n++] = *c;
  why[n] = '\0';
  zs_stats_add(m->kind, ZS_STAT_FALLBACKS, 1);
  zs_report_incomplete(r, r->start, r->end, why);
  return madvise_range(r->start, r->end, r->advice);
}

/* zs_exec_self - see exec.h. Before any step runs, every call beyond the
 * program's own must be one this thread's seccomp filters allow. */
int zs_exec_self(const struct zs_plan *plan, const struct zs_map *m, const struct zs_report *r) {
  enum zs_filter_verdict verdict = ZS_FILTER_ALLOW;
  for (int i = 0; i < plan->nsteps && zs_filter_active(true); i++) {
    const char *call = step_forbidden(&plan->step[i], m, r, &verdict);
    if (call)
      return left_as_asked(m, r, call, verdict);
  }
  for (int i = 0; i < plan->nsteps; i++) {
    int e = run_step(&plan->step[i], m, r);
    if (e == 0)
      continue;
    if (i == 0 && !plan->errno_stands)
      return fall_back(plan, m, r, e);
    if (plan->act != ZS_ACT_ASKED)
      zs_report_call(r, plan->call, e);
    return e;
  }
  if (plan->act != ZS_ACT_ASKED) {
    if (plan->note)
      zs_report_incomplete(r, r->start, r->end, plan->note);
    zs_report_call(r, plan->call, 0);
  }
  return 0;
}
