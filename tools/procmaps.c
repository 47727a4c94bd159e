/*
 * procmaps.c - the VMAs of another process, for --explain.
 *
 * zs_vma_query() in the core only reads /proc/self; this reads
 * /proc/PID/maps with the PROCMAP_QUERY ioctl (Linux 6.11+), which also
 * gives each VMA's page size, or else parses /proc/PID/smaps, whose
 * KernelPageSize field gives it.
 */
#define _GNU_SOURCE
#include "procmaps.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* PROCMAP_QUERY ABI (uapi linux/fs.h, 6.11); the 6.1 headers lack it. */
struct zt_procmap_query {
  uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags;
  uint64_t vma_page_size, vma_offset, inode;
  uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
  uint64_t vma_name_addr, build_id_addr;
};
#define ZT_PROCMAP_QUERY _IOWR('f', 17, struct zt_procmap_query)
#define ZT_PMQ_COVERING_OR_NEXT_VMA 0x10

/* A growing array of VMAs. */
struct zt_vec {
  struct zs_vma *v;
  size_t n, cap;
};

/* push - append a slot to vec; returns it, or NULL if out of memory. */
static struct zs_vma *push(struct zt_vec *vec) {
  if (vec->n == vec->cap) {
    size_t cap = vec->cap ? vec->cap * 2 : 64;
    struct zs_vma *nv = realloc(vec->v, cap * sizeof *nv);
    if (!nv)
      return NULL;
    vec->v = nv;
    vec->cap = cap;
  }
  struct zs_vma *s = &vec->v[vec->n++];
  memset(s, 0, sizeof *s);
  return s;
}

/* read_query - all VMAs through PROCMAP_QUERY on the open maps fd.
 * Returns 0, ENOTTY/EINVAL if the kernel lacks the ioctl (nothing read),
 * or another errno. */
static int read_query(int fd, struct zt_vec *vec) {
  static char name[4096];
  uint64_t addr = 0;
  for (;;) {
    struct zt_procmap_query q = {
      .size = sizeof q,
      .query_flags = ZT_PMQ_COVERING_OR_NEXT_VMA,
      .query_addr = addr,
      .vma_name_addr = (uintptr_t)name,
      .vma_name_size = sizeof name,
    };
    if (ioctl(fd, ZT_PROCMAP_QUERY, &q) != 0)
      return errno == ENOENT ? 0 : errno;
    struct zs_vma *v = push(vec);
    if (!v)
      return ENOMEM;
    v->start = (uintptr_t)q.vma_start;
    v->end = (uintptr_t)q.vma_end;
    v->offset = q.vma_offset;
    v->ino = q.inode;
    v->dev_major = q.dev_major;
    v->dev_minor = q.dev_minor;
    v->page_size = q.vma_page_size;
    v->flags = (uint32_t)(q.vma_flags & 0x0f); /* same bits as ZS_VMA_* */
    if (q.vma_name_size)
      snprintf(v->name, sizeof v->name, "%.*s", (int)sizeof v->name - 1, name);
    addr = q.vma_end;
  }
}

/* parse_header - fill v from a maps line "start-end perm off maj:min ino
 * name"; true if the line is one. */
static bool parse_header(const char *line, struct zs_vma *v) {
  unsigned long start, end;
  unsigned long long off, ino;
  unsigned maj, min;
  char perm[8];
  int pos = 0;
  if (sscanf(line, "%lx-%lx %7s %llx %x:%x %llu %n", &start, &end, perm, &off, &maj, &min, &ino,
             &pos) != 7 || strlen(perm) != 4)
    return false;
  memset(v, 0, sizeof *v);
  v->start = start;
  v->end = end;
  v->offset = off;
  v->dev_major = maj;
  v->dev_minor = min;
  v->ino = ino;
  v->flags = (perm[0] == 'r' ? ZS_VMA_READ : 0) | (perm[1] == 'w' ? ZS_VMA_WRITE : 0) |
             (perm[2] == 'x' ? ZS_VMA_EXEC : 0) | (perm[3] == 's' ? ZS_VMA_SHARED : 0);
  snprintf(v->name, sizeof v->name, "%s", line + pos);
  size_t l = strlen(v->name);
  while (l && (v->name[l - 1] == '\n' || v->name[l - 1] == ' '))
    v->name[--l] = 0;
  return true;
}

/* read_smaps - all VMAs from /proc/PID/smaps, page size from
 * KernelPageSize.  Returns 0 or an errno. */
static int read_smaps(pid_t pid, struct zt_vec *vec) {
  char path[64], line[8192];
  snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f)
    return errno;
  struct zs_vma cur;
  while (fgets(line, sizeof line, f)) {
    unsigned long long kb;
    if (parse_header(line, &cur)) {
      struct zs_vma *v = push(vec);
      if (!v) {
        fclose(f);
        return ENOMEM;
      }
      *v = cur;
    } else if (vec->n && sscanf(line, "KernelPageSize: %llu kB", &kb) == 1) {
      vec->v[vec->n - 1].page_size = kb * 1024;
    }
  }
  int e = ferror(f) ? EIO : 0;
  fclose(f);
  return e;
}

/* zt_procmaps_read - see procmaps.h. */
int zt_procmaps_read(pid_t pid, bool use_query, struct zs_vma **out, size_t *n,
                     const char **source) {
  struct zt_vec vec = {0};
  char path[64];
  int e = ENOTTY;
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? ESRCH : errno;
  if (use_query) {
    e = read_query(fd, &vec);
    *source = "PROCMAP_QUERY";
  }
  close(fd);
  if (e == ENOTTY || e == EINVAL || (e == 0 && vec.n == 0 && use_query)) {
    vec.n = 0;
    e = read_smaps(pid, &vec);
    *source = "smaps";
  }
  if (e) {
    free(vec.v);
    return e;
  }
  *out = vec.v;
  *n = vec.n;
  return 0;
}
