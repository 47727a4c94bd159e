/*
 * test_differential.c - same answers as the kernel (issue 3).
 *
 * Every case of the tables (cases_madvise.c, cases_map.c, cases_calls.c)
 * runs on fresh set-ups, once through libc - the shim, since ctest runs
 * this binary with LD_PRELOAD=libzapshim.so - and once straight on the
 * kernel with syscall(2).  Result, errno and the state afterwards must be
 * identical, except for the deliberate exceptions below.
 *
 * The state of a madvise case is compared with the kernel making the call
 * the policy table names (a DONTNEED on shared memory frees it as
 * MADV_REMOVE does): that is what the shim is for, and its answer (result,
 * errno) must still be the kernel's answer to the call the program made.
 *
 * Files still linked in a directory (issue 14: named /dev/shm and hugetlbfs
 * files) get the kernel's own answer and state on every call: the shim
 * leaves them as asked, except REMOVE through a private hugetlb view from
 * 5.18, which is EXC_REMOVE_PRIVATE with the kernel's DONTNEED (the file
 * untouched).  A case may be bound to the kernel versions the shim behaves
 * as (.kmin/.kmax); outside them it is skipped.
 *
 * Run without the shim and with ZT_DIFF_CONTROL=1 (ctest's diff_control),
 * the same cases compare libc with syscall(2) and must all agree: that
 * proves the comparison itself is even-handed, so every difference seen
 * under the shim is the shim's.  ZT_DIFF_VERBOSE=1 prints every case.
 */
#define _GNU_SOURCE
#include "diff.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <criterion/parameterized.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The deliberate exceptions: where the shim's answer or the state it
 * leaves may differ from the kernel's.  These are the exceptions listed in
 * shim/policy.h ("Where the result differs from what the kernel alone
 * would return"); nothing else may differ.  A case names the exceptions
 * it exercises in its .exc field.
 */
static const struct {
  unsigned id;
  const char *policy; /* the exception as shim/policy.h words it */
  const char *rule;   /* what this test requires instead of equality */
} exceptions[] = {
    {EXC_REMOVE_PRIVATE,
     "MADV_REMOVE on private memory (anonymous, shmem, hugetlb, persistent file) succeeds where "
     "the kernel says EINVAL or EACCES; never by punching a named tmpfs/hugetlbfs file (a "
     "private view of one: the kernel's EACCES, or on hugetlb from 5.18 its DONTNEED)",
     "the kernel must refuse (EINVAL or EACCES); the shim's result and errno must be those of "
     "the zap the policy makes of it (its .ref, made with the kernel alone: DONTNEED, "
     "DONTNEED + PUNCH_HOLE, or whole huge pages + zeroed edges), and so must the state"},
    {EXC_HUGE_PARTIAL,
     "on hugetlb, a range that ends inside a huge page: the kernel's DONTNEED silently skips "
     "that page; the shim zeroes its covered part",
     "result and errno as the kernel's; the state that of DONTNEED on the whole huge pages with "
     "the covered part of the partial huge page zeroed (R_HUGE_PARTIAL)"},
};

#define D_MAX_CASES 1024

/* The case tables, in order. */
static const struct dcase *(*const tables[])(size_t *) = {d_madvise_cases, d_map_cases,
                                                          d_call_cases};

/* case_at - case i of all the tables together, or NULL past the end. */
static const struct dcase *case_at(size_t i) {
  for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
    size_t n;
    const struct dcase *c = tables[t](&n);
    if (i < n)
      return &c[i];
    i -= n;
  }
  return NULL;
}

/* case_count - how many cases the tables hold. */
static size_t case_count(void) {
  size_t total = 0;
  while (case_at(total))
    total++;
  return total;
}

/* control_run - true for the control run (no shim: libc against syscall). */
static bool control_run(void) {
  const char *v = getenv("ZT_DIFF_CONTROL");
  return v && strcmp(v, "1") == 0;
}

/* shim_present - the shim's public symbol resolves in this process. */
static bool shim_present(void) {
  return dlsym(RTLD_DEFAULT, "zapshim_query") != NULL;
}

/* exception_text - the policy sentence of exception id. */
static const char *exception_text(unsigned id) {
  for (size_t i = 0; i < sizeof exceptions / sizeof exceptions[0]; i++)
    if (exceptions[i].id == id)
      return exceptions[i].policy;
  return "?";
}

/* show - "-1/EINVAL" for the messages. */
static const char *show(const struct dres *r, char *buf, size_t len) {
  snprintf(buf, len, "%ld/%s", r->ret, d_errname(r->err));
  return buf;
}

/* The parameter of a case: its index (the tables are static). */
struct dparam {
  size_t idx;
};

/* The parameters: one per case of the tables. */
ParameterizedTestParameters(diff, cases) {
  static struct dparam ps[D_MAX_CASES];
  size_t n = case_count();
  if (n > D_MAX_CASES)
    n = D_MAX_CASES; /* the test of that name below fails */
  for (size_t i = 0; i < n; i++)
    ps[i].idx = i;
  return cr_make_param_array(struct dparam, ps, n);
}

/* check_result - the shim's answer against the kernel's, or against the
 * policy's zap (its reference run) for EXC_REMOVE_PRIVATE. */
static void check_result(const struct dcase *c, unsigned exc, const struct dres *k,
                         const struct dres *s, const struct dres *ref) {
  char a[64], b[64], d[64];
  if (exc & EXC_REMOVE_PRIVATE) {
    cr_assert(k->ret == -1 && (k->err == EINVAL || k->err == EACCES),
              "%s: exception \"%s\" not exercised: the kernel answered %s", c->name,
              exception_text(EXC_REMOVE_PRIVATE), show(k, a, sizeof a));
    cr_assert(s->ret == ref->ret && s->err == ref->err,
              "%s: shim %s, the policy's zap with the kernel alone %s (kernel for the call "
              "asked: %s)",
              c->name, show(s, a, sizeof a), show(ref, b, sizeof b), show(k, d, sizeof d));
    return;
  }
  cr_assert(s->ret == k->ret && s->err == k->err, "%s: kernel %s, shim %s\n  kernel: %s\n  shim:   %s",
            c->name, show(k, a, sizeof a), show(s, b, sizeof b), k->state, s->state);
}

/* One case: shim side, kernel side, the reference if the policy makes the
 * shim do another call; then result, errno and state compared. */
ParameterizedTest(struct dparam *p, diff, cases) {
  const struct dcase *c = case_at(p->idx);
  bool control = control_run();
  unsigned kv = zt_shim_kernel();
  if (!control && ((c->kmin && kv < c->kmin) || (c->kmax && kv >= c->kmax)))
    cr_skip_test("%s: not for the kernel the shim behaves as (%u.%u)", c->name, kv >> 16,
                 kv & 0xffff);
  cr_assert(control ? !shim_present() : shim_present(), "%s",
            control ? "the control run must not have the shim" : "not running under the shim");
  static struct dres s, k, ref;
  memset(&s, 0, sizeof s);
  memset(&k, 0, sizeof k);
  memset(&ref, 0, sizeof ref);
  c->run(c, D_SHIM, &s);
  c->run(c, D_KERNEL, &k);
  bool use_ref = c->run != NULL && c->ref != R_SAME && !control;
  if (use_ref)
    c->run(c, D_REF, &ref);
  unsigned exc = control ? 0 : c->exc;
  const struct dres *want = use_ref ? &ref : &k;
  char a[64], b[64];
  if (getenv("ZT_DIFF_VERBOSE"))
    fprintf(stderr, "diff: %-60s kernel %-12s shim %-12s%s\n  kernel %s\n  shim   %s\n%s%s%s",
            c->name, show(&k, a, sizeof a), show(&s, b, sizeof b), exc ? " (exception)" : "",
            k.state, s.state, use_ref ? "  ref    " : "", use_ref ? ref.state : "",
            use_ref ? "\n" : "");
  check_result(c, exc, &k, &s, &ref);
  cr_assert_str_eq(s.state, want->state, "%s: state afterwards differs (%s)\n  %s: %s\n  shim:   %s",
                   c->name, use_ref ? "reference: the policy's call made with the kernel alone"
                                    : "kernel",
                   use_ref ? "ref" : "kernel", want->state, s.state);
}

/* The binary really runs under the shim (or, in the control run, really
 * does not), and the tables fit. */
Test(diff, preconditions) {
  if (control_run())
    cr_assert(!shim_present(), "ZT_DIFF_CONTROL=1 must run without LD_PRELOAD");
  else
    cr_assert(shim_present(), "dlsym(RTLD_DEFAULT, \"zapshim_query\") is NULL: not under the shim");
  cr_assert(case_count() <= D_MAX_CASES, "%zu cases, raise D_MAX_CASES", case_count());
  for (size_t i = 0; i < case_count(); i++) {
    const struct dcase *c = case_at(i);
    cr_assert(c->name && c->run, "case %zu has a name and a run function", i);
    cr_assert(!(c->exc & EXC_HUGE_PARTIAL) || c->ref == R_HUGE_PARTIAL,
              "%s: the huge-partial exception is checked against R_HUGE_PARTIAL", c->name);
    cr_assert(c->ref != R_HUGE_PARTIAL || (c->exc & EXC_HUGE_PARTIAL),
              "%s: R_HUGE_PARTIAL is only for the listed exception", c->name);
  }
}

/* The summary: how many cases were compared, and how many differ. */
ReportHook(POST_ALL)(struct criterion_global_stats *st) {
  size_t n = case_count();
  size_t bad = st->tests_failed + st->tests_crashed;
  printf("differential: %zu cases compared%s (%zu tests: %zu passed, %zu failed, %zu skipped); "
         "%zu deliberate exceptions (shim/policy.h)\n",
         n - (st->tests_skipped < n ? st->tests_skipped : n), control_run() ? " (control run)" : "",
         st->nb_tests, st->tests_passed, bad, st->tests_skipped,
         sizeof exceptions / sizeof exceptions[0]);
}
