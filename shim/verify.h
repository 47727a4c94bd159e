/*
 * verify.h - ZAPSHIM_VERIFY=1: after each translated zap, check with the
 * kernel that the zapped range is really gone.
 */
#ifndef ZS_VERIFY_H
#define ZS_VERIFY_H

#include <stddef.h>
#include <stdint.h>

/*
 * zs_verify_range - count the pages of [a, b) that are still present:
 * resident per mincore(2) (for shared memory: still in the page cache) or
 * present or swapped per /proc/self/pagemap. Logs a warning naming the count if any
 * is. Returns the number of pages still present (0: the zap is whole), or
 * -errno if the kernel could not be asked.
 */
long zs_verify_range(uintptr_t a, uintptr_t b, const char *kind_name);

/*
 * zs_verify_mapped_pages - the pages of [a, b) of process pid (0: this
 * one) whose /proc/PID/pagemap entry says present or swapped: memory that
 * still holds data for that process.  Returns the count or -errno.
 */
long zs_verify_mapped_pages(int pid, uintptr_t a, uintptr_t b);

#endif
