/*
 * report.c - log lines and statistics for the zap of one piece (report.h).
 */
#include "report.h"
#include "log.h"
#include "stats.h"
#include "zapshim.h"

#include <sys/mman.h>

/* zs_advice_name - see report.h. */
const char *zs_advice_name(int advice) {
  return advice == MADV_REMOVE ? "MADV_REMOVE" : "MADV_DONTNEED";
}

/* zs_report_call - see report.h. */
void zs_report_call(const struct zs_report *r, const char *call, int err) {
  if (!zs_log_enabled())
    return;
  struct zs_line l;
  zs_line_start_pid(&l, r->pid, "madvise ");
  zs_line_hex(&l, r->start);
  zs_line_str(&l, "-");
  zs_line_hex(&l, r->end);
  zs_line_str(&l, " ");
  zs_line_str(&l, zs_advice_name(r->advice));
  zs_line_str(&l, " kind=");
  zs_line_str(&l, zapshim_kind_name(r->kind));
  zs_line_str(&l, r->from_registry ? " (registry)" : " (kernel)");
  zs_line_str(&l, " -> ");
  zs_line_str(&l, call);
  zs_line_str(&l, err ? " failed" : " ok");
  zs_line_errno(&l, err);
  zs_line_emit(&l);
}

/* zs_report_incomplete - see report.h. */
void zs_report_incomplete(const struct zs_report *r, uintptr_t a, uintptr_t b, const char *why) {
  zs_stats_add(r->kind, ZS_STAT_WARNINGS, 1);
  if (!zs_log_enabled())
    return;
  struct zs_line l;
  zs_line_start_pid(&l, r->pid, "warning: zap not whole at ");
  zs_line_hex(&l, a);
  zs_line_str(&l, "-");
  zs_line_hex(&l, b);
  zs_line_str(&l, " kind=");
  zs_line_str(&l, zapshim_kind_name(r->kind));
  zs_line_str(&l, ": ");
  zs_line_str(&l, why);
  zs_line_emit(&l);
}
