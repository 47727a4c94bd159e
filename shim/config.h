/*
 * config.h - the ZAPSHIM_* environment variables.
 *
 *   ZAPSHIM_LOG     unset: silent; "stderr"; or a path, appended to ("%p"
 *                   becomes the pid). Ignored in secure-execution processes.
 *   ZAPSHIM_KERNEL  X.Y: behave as on kernel X.Y (use only calls it has).
 *   ZAPSHIM_VERIFY  1: after each translated zap, check it left nothing present.
 *   ZAPSHIM_STATS   1: a summary per memory kind at exit.
 *   ZAPSHIM_RESTRICT_EXE  name[:name...]: be active only in programs whose
 *                   executable has one of these names; pass everything
 *                   through in all others (a VMM's helpers that inherit
 *                   LD_PRELOAD).
 *   ZAPSHIM_NAMED_FILES  keep (default): a shared mapping of a tmpfs or
 *                   hugetlbfs file still linked in a directory keeps its
 *                   data on MADV_DONTNEED, like a persistent file; zap:
 *                   such files are zapped like memfd (guest RAM in a named
 *                   file).
 *
 * A bad value gets one warning naming the variable; unknown ZAPSHIM_* names
 * get one naming the closest valid name. Nothing here crashes or fails the
 * program.
 */
#ifndef ZS_CONFIG_H
#define ZS_CONFIG_H

#include "state.h"

/*
 * zs_config_load - read the environment into *cfg and open the log.
 * Uses getenv/secure_getenv and the stack only (no malloc, no stdio).
 */
void zs_config_load(struct zs_config *cfg);

/*
 * zs_config_closest - the valid variable name closest to name (edit
 * distance), or NULL if none is reasonably close.
 */
const char *zs_config_closest(const char *name);

#endif
