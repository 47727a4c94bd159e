/*
 * stats.h - counters per memory kind, summarised at exit (ZAPSHIM_STATS=1).
 *
 * Counters are relaxed atomics: cheap, and exact at exit.
 */
#ifndef ZS_STATS_H
#define ZS_STATS_H

#include <stddef.h>

enum zs_stat {
  ZS_STAT_SEEN,       /* pieces of MADV_DONTNEED/MADV_REMOVE calls seen */
  ZS_STAT_TRANSLATED, /* pieces zapped with another call than asked */
  ZS_STAT_BYTES,      /* bytes of translated pieces that succeeded */
  ZS_STAT_FALLBACKS,  /* translated calls that failed and fell back */
  ZS_STAT_WARNINGS,   /* zaps that could not be made whole */
  ZS_STAT_COUNT
};

/* zs_stats_add - add n to counter stat of kind. No-op when stats are off. */
void zs_stats_add(int kind, enum zs_stat stat, size_t n);

/* zs_stats_enable - turn counting on (ZAPSHIM_STATS=1) and print the
 * summary at exit. */
void zs_stats_enable(void);

/* zs_stats_get - the current value of a counter (for tests and tools). */
unsigned long long zs_stats_get(int kind, enum zs_stat stat);

/* zs_stats_report - write the summary now: one line per kind that saw a
 * call, to the log or, without one, to stderr. */
void zs_stats_report(void);

#endif
