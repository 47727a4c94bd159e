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

#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>
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

/* note_version - the version in an ELF note area [n, end): the "Linux"
 * note of type 0 holds LINUX_VERSION_CODE (major << 16 | minor << 8 |
 * sublevel).  Returns ZS_KVER(major, minor), or 0 if there is none. */
static unsigned note_version(const unsigned char *n, const unsigned char *end) {
  while (n + sizeof(ElfW(Nhdr)) <= end) {
    const ElfW(Nhdr) *h = (const void *)n;
    const unsigned char *name = n + sizeof *h;
    const unsigned char *desc = name + ((h->n_namesz + 3) & ~3u);
    const unsigned char *next = desc + ((h->n_descsz + 3) & ~3u);
    if (next > end || next <= n)
      return 0;
    if (h->n_type == 0 && h->n_namesz == 6 && memcmp(name, "Linux", 6) == 0 && h->n_descsz == 4) {
      uint32_t code;
      memcpy(&code, desc, sizeof code);
      return ZS_KVER(code >> 16, (code >> 8) & 0xff);
    }
    n = next;
  }
  return 0;
}

/* vdso_version - the running kernel's version as its vDSO (mapped into
 * every process, AT_SYSINFO_EHDR) states it in its notes: no system call,
 * which matters at every program's start.  Returns 0 if there is no vDSO
 * or no such note (the caller then asks uname). */
static unsigned vdso_version(void) {
  const unsigned char *base = (const void *)getauxval(AT_SYSINFO_EHDR);
  if (base == NULL || memcmp(base, ELFMAG, SELFMAG) != 0)
    return 0;
  const ElfW(Ehdr) *eh = (const void *)base;
  const ElfW(Phdr) *ph = (const void *)(base + eh->e_phoff);
  unsigned first_load = 0;
  while (first_load < eh->e_phnum && ph[first_load].p_type != PT_LOAD)
    first_load++;
  if (first_load == eh->e_phnum)
    return 0;
  /* the ELF header (file offset 0) is at base: where each vaddr lies */
  uintptr_t bias = (uintptr_t)base - ph[first_load].p_vaddr + ph[first_load].p_offset;
  for (unsigned i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type != PT_NOTE)
      continue;
    const unsigned char *n = (const void *)(bias + ph[i].p_vaddr);
    unsigned v = note_version(n, n + ph[i].p_memsz);
    if (v >= ZS_KVER(3, 0))
      return v;
  }
  return 0;
}

/* running_version - the running kernel's version: the vDSO's word, else
 * uname's (made with the instruction itself: binding libc's uname at every
 * start would cost more than the call).  0 if neither says. */
static unsigned running_version(void) {
  unsigned v = vdso_version();
  if (v)
    return v;
  struct utsname u;
  return zs_rawcall(SYS_uname, (long)&u, 0, 0, 0, 0, 0) == 0 ? zs_kernel_parse_version(u.release)
                                                             : 0;
}

/* zs_kernel_detect - capabilities of the running kernel, each limited to
 * what version `override` (if nonzero and older) had. */
void zs_kernel_detect(unsigned override, struct zs_caps *caps) {
  caps->running = running_version();
  caps->version = caps->running;
  if (override && (override < caps->version || !caps->version))
    caps->version = override;
  unsigned v = caps->version;
  caps->supported = v >= ZS_KVER_OLDEST;
  caps->hugetlb_dontneed = v >= ZS_KVER(5, 18);
  caps->hugetlb_punch_partial = v >= ZS_KVER(6, 0);
  caps->procmap_query = v >= ZS_KVER(6, 11); /* vma.c confirms on first use */
}
