/*
 * stats.c - counters per memory kind and the exit summary.
 */
#include "stats.h"
#include "log.h"
#include "state.h"
#include "zapshim.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

/* The counters (part of the shim's state; zero until stats are enabled). */
static _Atomic unsigned long long counters[ZAPSHIM_KIND_COUNT][ZS_STAT_COUNT];
static atomic_bool stats_on;

/* zs_stats_add - see stats.h. */
void zs_stats_add(int kind, enum zs_stat stat, size_t n) {
  if (!atomic_load_explicit(&stats_on, memory_order_relaxed))
    return;
  if (kind < 0 || kind >= ZAPSHIM_KIND_COUNT)
    kind = ZAPSHIM_KIND_UNKNOWN;
  atomic_fetch_add_explicit(&counters[kind][stat], n, memory_order_relaxed);
}

/* zs_stats_get - see stats.h. */
unsigned long long zs_stats_get(int kind, enum zs_stat stat) {
  if (kind < 0 || kind >= ZAPSHIM_KIND_COUNT)
    return 0;
  return atomic_load_explicit(&counters[kind][stat], memory_order_relaxed);
}

/* report_kind - one summary line for a kind. */
static void report_kind(int kind) {
  static const char *const labels[ZS_STAT_COUNT] = {
    " seen=", " translated=", " bytes_zapped=", " fallbacks=", " warnings=",
  };
  struct zs_line l;
  zs_line_start(&l, "stats ");
  zs_line_str(&l, zapshim_kind_name(kind));
  for (int s = 0; s < ZS_STAT_COUNT; s++) {
    zs_line_str(&l, labels[s]);
    zs_line_udec(&l, zs_stats_get(kind, (enum zs_stat)s));
  }
  zs_line_emit_to(&l, zs_log_enabled() ? zs_state.log_fd : 2);
}

/* zs_stats_report - see stats.h. */
void zs_stats_report(void) {
  bool any = false;
  for (int k = 0; k < ZAPSHIM_KIND_COUNT; k++) {
    if (zs_stats_get(k, ZS_STAT_SEEN) == 0)
      continue;
    report_kind(k);
    any = true;
  }
  if (!any) {
    struct zs_line l;
    zs_line_start(&l, "stats: no MADV_DONTNEED or MADV_REMOVE calls seen");
    zs_line_emit_to(&l, zs_log_enabled() ? zs_state.log_fd : 2);
  }
}

/* report_at_exit - the atexit hook. */
static void report_at_exit(void) {
  zs_stats_report();
}

/* zs_stats_enable - see stats.h. */
void zs_stats_enable(void) {
  if (!atomic_exchange(&stats_on, true))
    atexit(report_at_exit);
}
