/*
 * exec.h - carry out a zap plan in this process.
 *
 * The executor of the preload path: each step of a plan (plan.h) becomes
 * a direct call -- madvise, fallocate through a descriptor the program
 * could write the file with, zeros written over partial huge pages -- and
 * the plan's failure rules decide the answer.  A supervisor of a traced
 * program carries out the same plans in its tracee.
 */
#ifndef ZS_EXEC_H
#define ZS_EXEC_H

#include "plan.h"
#include "registry.h"
#include "report.h"

/*
 * zs_exec_self - carry out plan on the piece described by m (its kind,
 * protection, sharing, file identity and kept descriptor) and r (its
 * range, for the log).  A punch goes only through the kept descriptor if
 * it still names the file and was opened for writing, or through
 * /proc/self/map_files where the program could write the file itself: the
 * shim never gains a right the program did not have.  Zeros are written
 * only into writable memory, and into a private huge page only if it is
 * resident (touching would allocate).  Logs the call made (plans other
 * than ZS_ACT_ASKED), every fall-back and every part not made whole.
 * Returns 0 or the errno of the answer (see plan.h).
 */
int zs_exec_self(const struct zs_plan *plan, const struct zs_map *m, const struct zs_report *r);

#endif
