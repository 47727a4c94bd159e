/*
 * trace_verify.c - --verify (ZAPSHIM_VERIFY) on the syscall path: after a
 * translated zap of a traced process, ask the kernel whether the memory
 * is really gone, as shim/verify.c does for the preload.
 *
 * From outside there is no mincore(2): what the tracee still maps is read
 * from /proc/PID/pagemap, and what a punched file still holds from the
 * file itself (SEEK_DATA through /proc/PID/map_files).
 */
#define _GNU_SOURCE
#include "trace.h"
#include "log.h"
#include "plan.h"
#include "state.h"
#include "stats.h"
#include "verify.h"
#include "zapshim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/statfs.h>
#include <unistd.h>


/* data_left - 1 if the file range a punch step freed still holds data
 * (SEEK_DATA finds some inside it), 0 if not, -errno if the file cannot be
 * asked (no map_files; hugetlbfs, whose SEEK_DATA calls every byte below
 * the size data: EOPNOTSUPP). */
static int data_left(pid_t pid, const struct zt_pending_step *s) {
  struct zt_tproc *t = zt_tproc_get(pid);
  struct zs_vma v;
  if (!t || t->proc.query(&t->proc, s->start, &v) != 0 || v.start > s->start)
    return -ESRCH;
  int fd = zt_tproc_open_file(pid, v.start, v.end, O_RDONLY, s->dev, s->ino);
  if (fd < 0)
    return -errno;
  struct statfs sfs;
  if (fstatfs(fd, &sfs) != 0 || (uint32_t)sfs.f_type == 0x958458f6u /* HUGETLBFS_MAGIC */) {
    close(fd);
    return -EOPNOTSUPP;
  }
  off_t from = (off_t)s->file_offset, to = from + (off_t)(s->end - s->start);
  off_t d = lseek(fd, from, SEEK_DATA);
  int e = errno;
  close(fd);
  if (d < 0)
    return e == ENXIO ? 0 : -e;
  return d < to;
}

/* zt_verify_step - see trace.h. */
long zt_verify_step(pid_t pid, const struct zt_pending_step *s) {
  long mapped = zs_verify_mapped_pages(pid, s->r.start, s->r.end);
  int left = s->op == ZS_STEP_PUNCH && s->ino ? data_left(pid, s) : 0;
  if (mapped < 0)
    return mapped;
  bool whole = mapped == 0 && left <= 0;
  struct zs_line l;
  zs_line_start_pid(&l, pid, whole ? "verify: " : "warning: verify: ");
  zs_line_hex(&l, s->r.start);
  zs_line_str(&l, "-");
  zs_line_hex(&l, s->r.end);
  zs_line_str(&l, " kind=");
  zs_line_str(&l, zapshim_kind_name(s->r.kind));
  zs_line_str(&l, " present=");
  zs_line_dec(&l, mapped);
  if (s->op == ZS_STEP_PUNCH && s->ino)
    zs_line_str(&l, left > 0 ? " file=data left" : left == 0 ? " file=hole" : " file=not checked");
  zs_line_str(&l, whole ? ": non-present" : ": zap NOT whole");
  zs_line_emit(&l);
  if (!whole)
    zs_stats_add(s->r.kind, ZS_STAT_WARNINGS, 1);
  return whole ? 0 : mapped + (left > 0);
}
