/*
 * plan.h - a zap plan: the calls that carry out one policy action on one
 * piece of memory.
 *
 * Pure: no system call, no state.  The same plan is carried out in this
 * process (exec.c) or, by a supervisor, in a traced one: the decision is
 * made once, here and in policy.c, for every path.
 *
 * An executor runs the steps in order.  If step 0 fails, the result is its
 * errno when errno_stands is set (step 0 is the program's own call, or
 * the only call the program's advice can mean there); otherwise the
 * executor falls back to the program's own call over the whole piece, logs
 * why, and returns that call's result: nothing beyond it has been done.
 * A later step's failure is returned as is.  ZS_STEP_ZERO never fails; an
 * executor that may not write the memory skips it and says so.
 */
#ifndef ZS_PLAN_H
#define ZS_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel.h"
#include "policy.h"

/* What a plan needs to know of a piece: its range inside one mapping, the
 * file offset it maps and the mapping's page size. */
struct zs_piece_view {
  uintptr_t start, end; /* inside one mapping, base-page aligned */
  uint64_t file_offset; /* file offset that start maps (0 if no file) */
  unsigned page_shift;  /* the mapping's page size: 12, 21, 30 */
  bool hugetlb;         /* backed by huge pages */
};

enum zs_step_op {
  ZS_STEP_MADVISE, /* madvise(start, end - start, advice) */
  ZS_STEP_PUNCH,   /* fallocate(PUNCH_HOLE | KEEP_SIZE) of the file range behind [start, end) */
  ZS_STEP_ZERO,    /* zeros over [start, end): the covered part of a huge page no call frees */
};

struct zs_step {
  enum zs_step_op op;
  int advice;           /* ZS_STEP_MADVISE */
  uintptr_t start, end; /* never empty */
  uint64_t file_offset; /* ZS_STEP_PUNCH: the file offset of start */
};

#define ZS_PLAN_MAX_STEPS 3

struct zs_plan {
  enum zs_action act;
  const char *call;  /* the translated call, for the log: "MADV_REMOVE", "PUNCH_HOLE" ... */
  bool errno_stands; /* a failure of step 0 is the answer (no fall-back) */
  const char *note;  /* a warning to log even when every step succeeds, or NULL */
  int nsteps;
  struct zs_step step[ZS_PLAN_MAX_STEPS];
};

/*
 * zs_plan_make - the steps that carry out act (zs_policy_decide's answer)
 * on piece v when the program asked advice, for a kernel with caps.  On
 * hugetlb a DONTNEED whose start is not huge-aligned is planned as the
 * program's own call (the kernel's EINVAL), and whole huge pages are freed
 * while the covered parts of partial ones are zeroed (where the kernel
 * would skip them).  Always fills *out with at least one step.
 */
void zs_plan_make(const struct zs_piece_view *v, enum zs_action act, int advice,
                  const struct zs_caps *caps, struct zs_plan *out);

#endif
