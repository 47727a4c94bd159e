/*
 * plan.c - turn a policy action on a piece into the calls that carry it
 * out (see plan.h).  Pure: arithmetic on addresses and nothing else.
 */
#include "plan.h"

#include <sys/mman.h>

static uintptr_t round_down(uintptr_t a, uintptr_t size) { return a & ~(size - 1); }
static uintptr_t round_up(uintptr_t a, uintptr_t size) { return round_down(a + size - 1, size); }

/* add - append a step over [a, b) unless the range is empty. */
static void add(struct zs_plan *p, enum zs_step_op op, int advice, uintptr_t a, uintptr_t b,
                const struct zs_piece_view *v) {
  if (a >= b || p->nsteps == ZS_PLAN_MAX_STEPS)
    return;
  p->step[p->nsteps++] = (struct zs_step){
      .op = op, .advice = advice, .start = a, .end = b,
      .file_offset = v->file_offset + (a - v->start)};
}

/* plan_asked - the program's own call over the whole piece. */
static void plan_asked(const struct zs_piece_view *v, int advice, struct zs_plan *p) {
  p->act = ZS_ACT_ASKED;
  p->call = "as-asked";
  p->errno_stands = true;
  add(p, ZS_STEP_MADVISE, advice, v->start, v->end, v);
}

/* plan_whole_pages - free the whole huge pages of the piece with op
 * (DONTNEED, REMOVE or PUNCH) and zero the covered parts of partial ones. */
static void plan_whole_pages(const struct zs_piece_view *v, enum zs_step_op op, int advice,
                             struct zs_plan *p) {
  uintptr_t hs = (uintptr_t)1 << v->page_shift;
  uintptr_t fa = round_up(v->start, hs), fb = round_down(v->end, hs);
  if (fa >= fb) {
    add(p, ZS_STEP_ZERO, 0, v->start, v->end, v);
    return;
  }
  add(p, op, advice, fa, fb, v);
  add(p, ZS_STEP_ZERO, 0, v->start, fa, v);
  add(p, ZS_STEP_ZERO, 0, fb, v->end, v);
}

/* plan_remove - MADV_REMOVE on shared memory. On hugetlb, kernels whose
 * punch skips partial huge pages (before 6.0) get them zeroed here; newer
 * ones zero them themselves, which the log notes. */
static void plan_remove(const struct zs_piece_view *v, int advice, const struct zs_caps *caps,
                        struct zs_plan *p) {
  uintptr_t hs = (uintptr_t)1 << v->page_shift;
  bool partial = ((v->start | v->end) & (hs - 1)) != 0;
  p->call = "MADV_REMOVE";
  if (v->hugetlb && partial && !caps->hugetlb_punch_partial) {
    plan_whole_pages(v, ZS_STEP_MADVISE, MADV_REMOVE, p);
    if (p->step[0].op == ZS_STEP_ZERO)
      p->call = "zero(partial huge page)";
    return;
  }
  if (v->hugetlb && partial)
    p->note = "range ends inside a huge page: its covered part is zeroed, not freed";
  p->errno_stands = advice == MADV_REMOVE; /* the program's own call */
  add(p, ZS_STEP_MADVISE, MADV_REMOVE, v->start, v->end, v);
}

/* zs_plan_make - see plan.h. */
void zs_plan_make(const struct zs_piece_view *v, enum zs_action act, int advice,
                  const struct zs_caps *caps, struct zs_plan *out) {
  *out = (struct zs_plan){.act = act};
  uintptr_t hs = (uintptr_t)1 << v->page_shift;
  bool huge_dontneed_unaligned = v->hugetlb && advice == MADV_DONTNEED && (v->start & (hs - 1));
  switch (act) {
  case ZS_ACT_DONTNEED:
    out->call = "MADV_DONTNEED";
    out->errno_stands = true; /* the only call private memory has */
    add(out, ZS_STEP_MADVISE, MADV_DONTNEED, v->start, v->end, v);
    return;
  case ZS_ACT_REMOVE:
    if (huge_dontneed_unaligned)
      break;
    plan_remove(v, advice, caps, out);
    return;
  case ZS_ACT_HUGE_DONTNEED:
  case ZS_ACT_HUGE_PUNCH:
    if (huge_dontneed_unaligned)
      break;
    out->call = act == ZS_ACT_HUGE_PUNCH ? "PUNCH_HOLE" : "MADV_DONTNEED";
    plan_whole_pages(v, act == ZS_ACT_HUGE_PUNCH ? ZS_STEP_PUNCH : ZS_STEP_MADVISE,
                     MADV_DONTNEED, out);
    return;
  case ZS_ACT_DONTNEED_PUNCH:
    /* Free the file first: if that is impossible, nothing has been done
     * and the program's own call answers. */
    out->call = "PUNCH_HOLE+MADV_DONTNEED";
    add(out, ZS_STEP_PUNCH, 0, v->start, v->end, v);
    add(out, ZS_STEP_MADVISE, MADV_DONTNEED, v->start, v->end, v);
    return;
  case ZS_ACT_ASKED:
    break;
  }
  plan_asked(v, advice, out);
}
