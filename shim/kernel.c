/*
 * kernel.c - what the running kernel can do, optionally limited to an older
 * version named by ZAPSHIM_KERNEL so a deployment on an older host can be
 * checked, and every fallback tested, on this one.
 *
 * Versions come from the kernel commits that added each feature (see the
 * truth table in the README): hugetlbfs fallocate and MADV_REMOVE 4.3,
 * hugetlb punch hole zeroing partial pages 6.0, MADV_DONTNEED on hugetlb
 * 5.18, PROCMAP_QUERY 6.11.
 */
#define _GNU_SOURCE
#include "kernel.h"
#include "rawcall.h"

#include <sys/syscall.h>
#include <sys/utsname.h>

/* parse_uint - digits at *s to a number, advancing *s. -1 if none. */
static long parse_uint(const char **s) {
  long v = 0;
  const char *p = *s;
  if (*p < '0' || *p > '9')
    return -1;
  while (*p >= '0' && *p <= '9' && v < 100000)
    v = v * 10 + (*p++ - '0');
  *s = p;
  return v;
}

/* zs_kernel_parse_version - "X.Y" optionally followed by ".Z" or "-extra"
 * to ZS_KVER(X, Y); 0 if s is not of that form. */
unsigned zs_kernel_parse_version(const char *s) {
  if (!s)
    return 0;
  long major = parse_uint(&s);
  if (major < 1 || major > 99 || *s++ != '.')
    return 0;
  long minor = parse_uint(&s);
  if (minor < 0 || minor > 999)
    return 0;
  if (*s && *s != '.' && *s != '-' && *s != '+')
    return 0;
  return ZS_KVER(major, minor);
}

/* zs_kernel_detect - capabilities of the running kernel, each limited to
 * what version `override` (if nonzero and older) had. uname is made with
 * the instruction itself: this runs at every program's start, where
 * binding libc's uname would cost more than the call. */
void zs_kernel_detect(unsigned override, struct zs_caps *caps) {
  struct utsname u;
  caps->running = zs_rawcall(SYS_uname, (long)&u, 0, 0, 0, 0, 0) == 0
                      ? zs_kernel_parse_version(u.release)
                      : 0;
  caps->version = caps->running;
  if (override && (override < caps->version || !caps->version))
    caps->version = override;
  unsigned v = caps->version;
  caps->supported = v >= ZS_KVER_OLDEST;
  caps->hugetlb_dontneed = v >= ZS_KVER(5, 18);
  caps->hugetlb_punch_partial = v >= ZS_KVER(6, 0);
  caps->procmap_query = v >= ZS_KVER(6, 11); /* vma.c confirms on first use */
}
