/*
 * report.h - what the log and the statistics say about a zap of one piece.
 *
 * Every translated piece gets one line (range, advice asked, kind, where
 * the kind came from, call made, result), and every zap that could not be
 * made whole gets a warning with the reason.  Async-signal-safe: lines are
 * built on the stack and written with one write(2) (log.h).
 */
#ifndef ZS_REPORT_H
#define ZS_REPORT_H

#include <stdbool.h>
#include <stdint.h>

/* The piece a report speaks of. */
struct zs_report {
  int advice;           /* what the program asked */
  uintptr_t start, end; /* the piece */
  int kind;             /* enum zapshim_kind */
  bool from_registry;   /* the kind came from the registry, not the kernel */
  int pid;              /* the process whose memory it is; 0: this one */
};

/* zs_report_call - the line for a translated piece: the call made and its
 * result (err 0: ok). */
void zs_report_call(const struct zs_report *r, const char *call, int err);

/* zs_report_incomplete - a zap not made whole over [a, b), and why; counted
 * as a warning in the statistics. */
void zs_report_incomplete(const struct zs_report *r, uintptr_t a, uintptr_t b, const char *why);

/* zs_advice_name - "MADV_REMOVE" or "MADV_DONTNEED". */
const char *zs_advice_name(int advice);

#endif
