/*
 * mapsfile.c - asking one descriptor of a /proc/PID/maps file for the VMA
 * at an address (see mapsfile.h): PROCMAP_QUERY or the parsed text, which
 * answer alike (same fields, same truncation of long names), except that
 * only the ioctl knows the page size.
 */
#define _GNU_SOURCE
#include "mapsfile.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lines.h"
#include "rawcall.h"

/* ---- PROCMAP_QUERY ABI (include/uapi/linux/fs.h, 6.11); 6.1 headers lack it. */

struct zs_procmap_query {
  uint64_t size;
  uint64_t query_flags;
  uint64_t query_addr;
  uint64_t vma_start;
  uint64_t vma_end;
  uint64_t vma_flags;
  uint64_t vma_page_size;
  uint64_t vma_offset;
  uint64_t inode;
  uint32_t dev_major;
  uint32_t dev_minor;
  uint32_t vma_name_size;
  uint32_t build_id_size;
  uint64_t vma_name_addr;
  uint64_t build_id_addr;
};
_Static_assert(sizeof(struct zs_procmap_query) == 104, "struct procmap_query is 104 bytes");

#define ZS_PROCMAP_QUERY _IOWR('f', 17, struct zs_procmap_query)
_Static_assert(ZS_PROCMAP_QUERY == 0xC0686611u, "PROCMAP_QUERY ioctl number");

#define ZS_PMQ_VMA_READABLE 0x01
#define ZS_PMQ_VMA_WRITABLE 0x02
#define ZS_PMQ_VMA_EXECUTABLE 0x04
#define ZS_PMQ_VMA_SHARED 0x08
#define ZS_PMQ_COVERING_OR_NEXT_VMA 0x10

/* Longest maps line kept: the fixed fields (< 100 bytes) and a name. */
#define ZS_MAPS_LINE (128 + ZS_VMA_NAME_MAX)

/* zs_copy_name - copy a NUL-terminated name into out->name, truncated. */
static void zs_copy_name(struct zs_vma *out, const char *name) {
  size_t n = strlen(name);
  if (n > ZS_VMA_NAME_MAX - 1)
    n = ZS_VMA_NAME_MAX - 1;
  memcpy(out->name, name, n);
  out->name[n] = '\0';
}

/*
 * zs_parse_maps_line - one /proc/<pid>/maps line,
 * "start-end perms offset maj:min inode   name", into *out (page_size 0:
 * maps does not say).  Returns false if the line is malformed.
 */
static bool zs_parse_maps_line(const char *line, struct zs_vma *out) {
  const char *p = line;
  uint64_t start, end, off, maj, min, ino;
  if (!zs_parse_hex(&p, &start) || !zs_expect(&p, '-') || !zs_parse_hex(&p, &end) ||
      !zs_expect(&p, ' '))
    return false;
  uint32_t flags = 0;
  for (int i = 0; i < 4; i++, p++) {
    switch (*p) {
    case 'r': flags |= ZS_VMA_READ; break;
    case 'w': flags |= ZS_VMA_WRITE; break;
    case 'x': flags |= ZS_VMA_EXEC; break;
    case 's': flags |= ZS_VMA_SHARED; break;
    case '-': case 'p': break;
    default: return false;
    }
  }
  if (!zs_expect(&p, ' ') || !zs_parse_hex(&p, &off) || !zs_expect(&p, ' ') ||
      !zs_parse_hex(&p, &maj) || !zs_expect(&p, ':') || !zs_parse_hex(&p, &min) ||
      !zs_expect(&p, ' ') || !zs_parse_dec(&p, &ino))
    return false;
  if (*p != ' ' && *p != '\0')
    return false;
  while (*p == ' ')
    p++;
  out->start = (uintptr_t)start;
  out->end = (uintptr_t)end;
  out->offset = off;
  out->ino = ino;
  out->dev_major = (uint32_t)maj;
  out->dev_minor = (uint32_t)min;
  out->page_size = 0;
  out->flags = flags;
  zs_copy_name(out, p);
  return true;
}

/* zs_mapsfile_parse - see mapsfile.h. */
int zs_mapsfile_parse(int fd, uintptr_t addr, struct zs_vma *out) {
  struct zs_lines r;
  char line[ZS_MAPS_LINE];
  size_t len;
  bool trunc, any = false;
  int rc = ENOENT;

  zs_lines_init(&r, fd);
  for (;;) {
    int k = zs_lines_next(&r, line, sizeof line, &len, &trunc);
    if (k < 0) {
      rc = errno == ENOENT || errno == 0 ? EIO : errno;
      break;
    }
    if (k == 0) {
      if (!any)
        rc = ESRCH;
      break;
    }
    any = true;
    /* Cheap skip: lines are sorted, only the end address matters here. */
    const char *p = line;
    uint64_t start, end;
    if (!zs_parse_hex(&p, &start) || !zs_expect(&p, '-') || !zs_parse_hex(&p, &end)) {
      rc = EIO;
      break;
    }
    if (end <= addr)
      continue;
    if (!zs_parse_maps_line(line, out)) {
      rc = EIO;
      break;
    }
    if (strcmp(out->name, "[vsyscall]") == 0)
      continue;
    rc = 0;
    break;
  }
  return rc;
}

/* zs_pmq_fill - copy a PROCMAP_QUERY answer into *out (name set by caller). */
static void zs_pmq_fill(const struct zs_procmap_query *q, struct zs_vma *out) {
  out->start = (uintptr_t)q->vma_start;
  out->end = (uintptr_t)q->vma_end;
  out->offset = q->vma_offset;
  out->ino = q->inode;
  out->dev_major = q->dev_major;
  out->dev_minor = q->dev_minor;
  out->page_size = q->vma_page_size;
  out->flags = (q->vma_flags & ZS_PMQ_VMA_READABLE ? ZS_VMA_READ : 0) |
               (q->vma_flags & ZS_PMQ_VMA_WRITABLE ? ZS_VMA_WRITE : 0) |
               (q->vma_flags & ZS_PMQ_VMA_EXECUTABLE ? ZS_VMA_EXEC : 0) |
               (q->vma_flags & ZS_PMQ_VMA_SHARED ? ZS_VMA_SHARED : 0);
}

/*
 * zs_pmq - one PROCMAP_QUERY on fd with the name written to name[size]
 * (size 0: no name).  Returns 0 with *q filled, or the errno.
 */
static int zs_pmq(int fd, uintptr_t addr, char *name, uint32_t size,
                  struct zs_procmap_query *q) {
  memset(q, 0, sizeof *q);
  q->size = sizeof *q;
  q->query_flags = ZS_PMQ_COVERING_OR_NEXT_VMA;
  q->query_addr = addr;
  q->vma_name_addr = (uintptr_t)name;
  q->vma_name_size = size;
  long r = zs_rawcall(SYS_ioctl, fd, (long)ZS_PROCMAP_QUERY, (long)q, 0, 0, 0);
  return r < 0 ? (int)-r : 0;
}

/*
 * zs_pmq_long_name - the query again for a name longer than out->name:
 * read it into a PATH_MAX buffer and keep its head (as the maps path does).
 * A path longer than PATH_MAX (possible through relative paths) is more
 * than the ioctl gives; the facts then come from the ioctl without a name
 * and the name's head from a read of the same maps file, so both paths
 * still agree.
 * Kept out of line so the common path does not reserve the 4 KiB.
 * Returns 0 or the errno.
 */
static __attribute__((noinline)) int zs_pmq_long_name(int fd, uintptr_t addr,
                                                      struct zs_procmap_query *q,
                                                      struct zs_vma *out) {
  union {
    char big[4096];
    struct zs_vma v; /* the same stack, for the maps fallback */
  } u;
  int rc = zs_pmq(fd, addr, u.big, sizeof u.big, q);
  if (rc == 0) {
    u.big[sizeof u.big - 1] = '\0';
    if (q->vma_name_size == 0)
      u.big[0] = '\0';
    zs_copy_name(out, u.big);
    return 0;
  }
  if (rc != ENAMETOOLONG)
    return rc;
  out->name[0] = '\0';
  rc = zs_pmq(fd, addr, NULL, 0, q);
  if (rc == 0 && zs_mapsfile_parse(fd, (uintptr_t)q->vma_start, &u.v) == 0 &&
      u.v.start == q->vma_start)
    memcpy(out->name, u.v.name, sizeof out->name);
  return rc;
}

/* zs_mapsfile_query_bare - see mapsfile.h. */
int zs_mapsfile_query_bare(int fd, uintptr_t addr, struct zs_vma *out) {
  struct zs_procmap_query q;
  out->name[0] = '\0';
  int rc = zs_pmq(fd, addr, NULL, 0, &q);
  if (rc == 0)
    zs_pmq_fill(&q, out);
  return rc;
}

/* zs_mapsfile_query - see mapsfile.h. */
int zs_mapsfile_query(int fd, uintptr_t addr, struct zs_vma *out) {
  struct zs_procmap_query q;
  out->name[0] = '\0';
  int rc = zs_pmq(fd, addr, out->name, ZS_VMA_NAME_MAX, &q);
  if (rc == 0 && q.vma_name_size == 0)
    out->name[0] = '\0';
  if (rc == ENAMETOOLONG)
    rc = zs_pmq_long_name(fd, addr, &q, out);
  if (rc != 0)
    return rc;
  out->name[ZS_VMA_NAME_MAX - 1] = '\0';
  zs_pmq_fill(&q, out);
  return 0;
}
