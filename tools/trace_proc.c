/*
 * trace_proc.c - a traced process as the shared walk sees it, and the
 * calls the supervisor makes on its memory from outside (trace.h).
 */
#define _GNU_SOURCE
#include "trace.h"
#include "classify.h"
#include "map.h"
#include "vma.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

/* tp_query - the traced process's VMA at or above addr (zs_maps).  A
 * reader opened before the process's execve (or a pid reused) answers
 * ESRCH: it is opened again once. */
static int tp_query(struct zs_proc *p, uintptr_t addr, struct zs_vma *out) {
  struct zt_tproc *t = (struct zt_tproc *)p;
  int e = zs_maps_query(&t->maps, addr, out);
  if (e == ESRCH || e == EBADF) {
    zs_maps_close(&t->maps);
    if (zs_maps_open(&t->maps, t->pid) == 0)
      e = zs_maps_query(&t->maps, addr, out);
  }
  return e;
}

/* tp_open - its map_files entry for [start, end). */
static int tp_open(struct zs_proc *p, uintptr_t start, uintptr_t end, int flags) {
  struct zt_tproc *t = (struct zt_tproc *)p;
  char path[96];
  snprintf(path, sizeof path, "/proc/%d/map_files/%lx-%lx", (int)t->pid, (unsigned long)start,
           (unsigned long)end);
  return open(path, flags | O_CLOEXEC);
}

/* tp_classify - the kind of one of its VMAs (the classifier's file checks
 * through the traced process's own map_files). */
static void tp_classify(struct zs_proc *p, const struct zs_vma *v, struct zs_map *m) {
  zs_classify_vma_of(((struct zt_tproc *)p)->pid, v, m);
}

/* zt_tproc_open - see trace.h. */
int zt_tproc_open(struct zt_tproc *t, pid_t pid) {
  memset(t, 0, sizeof *t);
  t->proc.query = tp_query;
  t->proc.open_map_file = tp_open;
  t->proc.classify = tp_classify;
  static const _Atomic bool unknown = true; /* a private file may be shared with a child */
  t->proc.forked = &unknown;
  t->pid = pid;
  return zs_maps_open(&t->maps, pid);
}

/* zt_tproc_close - see trace.h. */
void zt_tproc_close(struct zt_tproc *t) {
  zs_maps_close(&t->maps);
}

/* Readers kept open between calls: opening /proc/PID/maps costs more than
 * the PROCMAP_QUERY itself. */
#define ZT_TPROC_CACHE 32
static struct zt_tproc g_cache[ZT_TPROC_CACHE];
static unsigned g_next;

/* zt_tproc_get - see trace.h. */
struct zt_tproc *zt_tproc_get(pid_t pid) {
  for (unsigned i = 0; i < ZT_TPROC_CACHE; i++)
    if (g_cache[i].pid == pid && g_cache[i].maps.fd >= 0)
      return &g_cache[i];
  struct zt_tproc *t = &g_cache[g_next++ % ZT_TPROC_CACHE];
  if (t->pid)
    zt_tproc_close(t);
  if (zt_tproc_open(t, pid) != 0) {
    t->pid = 0;
    return NULL;
  }
  return t;
}

/* zt_tproc_drop - see trace.h. */
void zt_tproc_drop(pid_t pid) {
  for (unsigned i = 0; i < ZT_TPROC_CACHE; i++)
    if (g_cache[i].pid == pid) {
      zt_tproc_close(&g_cache[i]);
      g_cache[i].pid = 0;
    }
}

/* zt_tproc_open_file - see trace.h. */
int zt_tproc_open_file(pid_t pid, uintptr_t start, uintptr_t end, int flags, uint32_t dev,
                       uint64_t ino) {
  struct zt_tproc t = {.pid = pid};
  int fd = tp_open(&t.proc, start, end, flags);
  if (fd < 0)
    return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || (uint64_t)st.st_ino != ino ||
      zs_dev_pack(major(st.st_dev), minor(st.st_dev)) != dev) {
    close(fd);
    errno = ESTALE;
    return -1;
  }
  return fd;
}

/* zt_tproc_write_zero - see trace.h. */
int zt_tproc_write_zero(pid_t pid, uintptr_t a, uintptr_t b) {
  static const char zeros[65536];
  while (a < b) {
    size_t n = b - a < sizeof zeros ? b - a : sizeof zeros;
    struct iovec local = {.iov_base = (void *)zeros, .iov_len = n};
    struct iovec remote = {.iov_base = (void *)a, .iov_len = n};
    ssize_t w = process_vm_writev(pid, &local, 1, &remote, 1, 0);
    if (w <= 0)
      return w < 0 ? errno : EIO;
    a += (size_t)w;
  }
  return 0;
}

/* zt_tproc_present - see trace.h. */
int zt_tproc_present(pid_t pid, uintptr_t a) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  uint64_t e = 0;
  ssize_t n = pread(fd, &e, sizeof e, (off_t)(a / 4096 * 8));
  int err = errno;
  close(fd);
  if (n != (ssize_t)sizeof e)
    return n < 0 ? -err : -EIO;
  return (e >> 62) & 3 ? 1 : 0;
}
