/*
 * kernel.h - what the running kernel (or the one ZAPSHIM_KERNEL names) can do.
 */
#ifndef ZS_KERNEL_H
#define ZS_KERNEL_H

#include <stdbool.h>

#define ZS_KVER(maj, min) ((unsigned)(maj) << 16 | (unsigned)(min))
#define ZS_KVER_MAJOR(v) ((v) >> 16)
#define ZS_KVER_MINOR(v) ((v) & 0xffffu)

/* Oldest kernel zapshim supports: hugetlbfs fallocate and MADV_REMOVE. */
#define ZS_KVER_OLDEST ZS_KVER(4, 3)

struct zs_caps {
  unsigned running;            /* version of the running kernel */
  unsigned version;            /* version the shim behaves as */
  bool supported;              /* version >= 4.3; else the shim passes all through */
  bool hugetlb_dontneed;       /* MADV_DONTNEED on hugetlb: 5.18 */
  bool hugetlb_punch_partial;  /* punch hole zeroes partial huge pages: 6.0 */
  bool procmap_query;          /* PROCMAP_QUERY ioctl: 6.11 (vma.c checks it works) */
};

/*
 * zs_kernel_parse_version - "X.Y[.Z...]" to ZS_KVER(X, Y).
 * Returns 0 if s is not of that form.
 */
unsigned zs_kernel_parse_version(const char *s);

/*
 * zs_kernel_detect - fill *caps for the running kernel limited to
 * override (ZS_KVER, or 0 for none): a capability is on only if both the
 * running kernel has it and the override's version had it.
 */
void zs_kernel_detect(unsigned override, struct zs_caps *caps);

#endif
