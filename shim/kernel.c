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

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

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

/* procmap_query_works - 1 if PROCMAP_QUERY answers on /proc/self/maps.
 * Asks for the VMA holding this function's own code. */
static int procmap_query_works(void) {
  struct {
    uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags;
    uint64_t vma_page_size, vma_offset, inode;
    uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
    uint64_t vma_name_addr, build_id_addr;
  } q = {0};
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  q.size = sizeof q;
  q.query_flags = 0x10; /* PROCMAP_QUERY_COVERING_OR_NEXT_VMA */
  q.query_addr = (uintptr_t)&procmap_query_works;
  int ok = ioctl(fd, _IOWR('f', 17, q), &q) == 0 && q.vma_end > q.vma_start;
  syscall(SYS_close, fd);
  return ok;
}

/* zs_kernel_detect - capabilities of the running kernel, each limited to
 * what version `override` (if nonzero and older) had. */
void zs_kernel_detect(unsigned override, struct zs_caps *caps) {
  struct utsname u;
  caps->running = uname(&u) == 0 ? zs_kernel_parse_version(u.release) : 0;
  caps->version = caps->running;
  if (override && (override < caps->version || !caps->version))
    caps->version = override;
  unsigned v = caps->version;
  caps->supported = v >= ZS_KVER_OLDEST;
  caps->hugetlb_dontneed = v >= ZS_KVER(5, 18);
  caps->hugetlb_punch_partial = v >= ZS_KVER(6, 0);
  caps->procmap_query = v >= ZS_KVER(6, 11) && procmap_query_works();
}
