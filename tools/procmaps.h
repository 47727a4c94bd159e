/*
 * procmaps.h - the VMAs of another process.
 */
#ifndef ZT_PROCMAPS_H
#define ZT_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vma.h"

/*
 * zt_procmaps_read - every VMA of process pid, in address order, with the
 * kernel page size of each: PROCMAP_QUERY on /proc/PID/maps when
 * use_query (and the kernel answers it), else /proc/PID/smaps
 * (KernelPageSize).  *out is malloc'ed (free it), *n its length, *source
 * "PROCMAP_QUERY" or "smaps".  Returns 0 or an errno (ESRCH: no such
 * process; EACCES: not allowed to read it).
 */
int zt_procmaps_read(pid_t pid, bool use_query, struct zs_vma **out, size_t *n,
                     const char **source);

#endif
