/*
 * walk.c - the kernel's view of a range, piece by piece, for one process
 * (walk.h).  The same code serves the preload (this process) and the
 * supervisor of the syscall path (a traced process): whether a file is
 * still named, whether it is read-only, whether a private file has other
 * users -- all from the kernel of the process whose memory is zapped.
 */
#define _GNU_SOURCE
#include "walk.h"
#include "classify.h"
#include "fdkeep.h"
#include "log.h"
#include "state.h"
#include "sys.h"
#include "zapshim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

static uintptr_t min_addr(uintptr_t a, uintptr_t b) { return a < b ? a : b; }

/* self_query, self_open, self_classify - this process, through the kept
 * /proc (vma.h) and the classifier. */
static int self_query(struct zs_proc *p, uintptr_t addr, struct zs_vma *out) {
  (void)p;
  return zs_vma_query(addr, out);
}
static int self_query_bare(struct zs_proc *p, uintptr_t addr, struct zs_vma *out) {
  (void)p;
  return zs_vma_query_bare(addr, out);
}
static int self_open(struct zs_proc *p, uintptr_t start, uintptr_t end, int flags) {
  (void)p;
  return zs_vma_open_map_file(start, end, flags);
}
static void self_classify(struct zs_proc *p, const struct zs_vma *v, struct zs_map *m) {
  (void)p;
  zs_classify_vma(v, m);
}

/* Never written after load: shared by every thread without a lock. */
static struct zs_proc g_self = {.query = self_query, .query_bare = self_query_bare,
                                .open_map_file = self_open,
                                .classify = self_classify, .forked = &zs_state.has_forked};

/* zs_proc_self - see walk.h. */
struct zs_proc *zs_proc_self(void) {
  return &g_self;
}

/* log_unavailable - once per process: the kernel could not be asked what
 * is mapped (no usable /proc), so zaps are done as the program asked. */
static void log_unavailable(int err) {
  static atomic_bool said;
  if (atomic_exchange_explicit(&said, true, memory_order_relaxed) || !zs_log_enabled())
    return;
  struct zs_line l;
  zs_line_start(&l, "warning: the kernel cannot be asked what is mapped (/proc unusable:");
  zs_line_errno(&l, err);
  zs_line_str(&l, "); zaps it cannot confirm are done as the program asked, memory may stay");
  zs_line_emit(&l);
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* file_links - st_nlink of the file behind the piece, through the kept
 * descriptor or pr's map_files; -1 if neither can be had. */
static long file_links(struct zs_proc *pr, const struct zs_piece *p, const struct zs_vma *v) {
  struct stat st;
  int fd = zs_fdkeep_fd(p->m.fdslot, p->m.dev, p->m.ino);
  if (fd >= 0 && fstat(fd, &st) == 0)
    return (long)st.st_nlink;
  fd = pr->open_map_file(pr, v->start, v->end, O_PATH | O_CLOEXEC);
  if (fd < 0)
    return -1;
  long links = fstat(fd, &st) == 0 && (uint64_t)st.st_ino == v->ino ? (long)st.st_nlink : -1;
  zs_sys_close(fd);
  return links;
}

/* is_named - true if the kernel's VMA v of a tmpfs or hugetlbfs kind maps a
 * file still linked in a directory: its name is a path without
 * " (deleted)", or (an O_TMPFILE file linked with linkat) its link count
 * is above 0.  The kernel's own files (memfd, SysV, shared anonymous,
 * MAP_HUGETLB) are never named. */
/* tmpfile_name - true if name ("... (deleted)") is what the kernel calls
 * an O_TMPFILE file: "/dir/#<inode number> (deleted)".  Only such a file can
 * be linked into a directory again (linkat refuses any other file whose
 * link count fell to 0), so only its link count need be asked; any other
 * " (deleted)" name is unlinked for good. */
static bool tmpfile_name(const char *name) {
  const char *base = strrchr(name, '/');
  if (!base || base[1] != '#')
    return false;
  const char *d = base + 2;
  while (*d >= '0' && *d <= '9')
    d++;
  return d > base + 2 && strcmp(d, " (deleted)") == 0;
}

static bool is_named(struct zs_proc *pr, const struct zs_piece *p, const struct zs_vma *v) {
  switch (p->m.kind) {
  case ZAPSHIM_KIND_SHMEM_SHARED:
  case ZAPSHIM_KIND_SHMEM_PRIVATE:
  case ZAPSHIM_KIND_HUGETLB_SHARED:
  case ZAPSHIM_KIND_HUGETLB_PRIVATE:
    break;
  default:
    return false;
  }
  const char *n = v->name;
  if (n[0] != '/' || (p->m.flags & (ZS_MAP_ANON | ZS_MAP_SYSV)) || p->m.dev == zs_shm_dev())
    return false;
  if (!ends_with(n, " (deleted)"))
    return true;
  if (!tmpfile_name(n))
    return false; /* unlinked for good: nothing can link it again */
  return file_links(pr, p, v) > 0; /* unreadable: the kernel's name says unlinked */
}

/* kernel_facts - what the kernel's VMA v says of the piece beyond its
 * kind: named, and not writable. */
static unsigned kernel_facts(struct zs_proc *pr, const struct zs_piece *p,
                             const struct zs_vma *v) {
  unsigned f = is_named(pr, p, v) ? ZS_FACT_NAMED : 0;
  if (!(v->flags & ZS_VMA_WRITE))
    f |= ZS_FACT_READONLY;
  return f;
}

/* zs_walk_kernel_piece - see walk.h. */
void zs_walk_kernel_piece(struct zs_proc *pr, uintptr_t a, uintptr_t limit, struct zs_piece *p,
                          struct zs_vma *vout) {
  struct zs_vma v;
  int e = pr->query(pr, a, &v);
  memset(p, 0, sizeof *p);
  p->start = a;
  p->m.fdslot = -1;
  p->m.page_shift = 12;
  if (e == ENOENT || (e == 0 && v.start >= limit)) {
    p->end = limit;
    p->hole = true;
    return;
  }
  if (e != 0) { /* the kernel could not be asked: do only what was asked */
    log_unavailable(e);
    p->end = limit;
    p->m.kind = ZAPSHIM_KIND_UNKNOWN;
    return;
  }
  if (v.start > a) {
    p->end = v.start;
    p->hole = true;
    return;
  }
  pr->classify(pr, &v, &p->m);
  p->end = min_addr(v.end, limit);
  p->confirmed = true;
  p->facts = kernel_facts(pr, p, &v);
  if (vout)
    *vout = v;
}

/* zs_walk_same_object - see walk.h. */
bool zs_walk_same_object(struct zs_proc *pr, const struct zs_piece *p, const struct zs_vma *v) {
  bool shared = (v->flags & ZS_VMA_SHARED) != 0;
  if (shared != ((p->m.flags & ZS_MAP_SHARED) != 0))
    return false;
  if (p->m.ino == 0) {
    struct zs_map k;
    pr->classify(pr, v, &k);
    return k.kind == p->m.kind;
  }
  uint64_t voff = v->offset + (p->start - v->start);
  return v->ino == p->m.ino && zs_dev_pack(v->dev_major, v->dev_minor) == p->m.dev &&
         voff == p->m.offset + (p->start - p->m.start);
}

/* name_matters - true if confirming registry piece p needs the VMA's
 * name: p has no inode to compare (zs_walk_same_object then classifies
 * the VMA, which may go by its name), or p may be a file still named in
 * a directory (is_named reads the name).  The kernel's own shmem files
 * (memfd, shared anonymous, SysV) and MAP_HUGETLB memory never need it. */
static bool name_matters(const struct zs_piece *p) {
  if (p->m.ino == 0)
    return true;
  switch (p->m.kind) {
  case ZAPSHIM_KIND_SHMEM_SHARED:
  case ZAPSHIM_KIND_SHMEM_PRIVATE:
  case ZAPSHIM_KIND_HUGETLB_SHARED:
  case ZAPSHIM_KIND_HUGETLB_PRIVATE:
    return !(p->m.flags & (ZS_MAP_ANON | ZS_MAP_SYSV)) && p->m.dev != zs_shm_dev();
  default:
    return false;
  }
}

/* zs_walk_confirm - see walk.h.  The kernel is asked without the name
 * where the name cannot change the answer (name_matters). */
bool zs_walk_confirm(struct zs_proc *pr, struct zs_piece *p) {
  struct zs_vma v;
  int e = !name_matters(p) && pr->query_bare ? pr->query_bare(pr, p->start, &v)
                                             : pr->query(pr, p->start, &v);
  if (e == 0 && v.start <= p->start && zs_walk_same_object(pr, p, &v)) {
    p->end = min_addr(p->end, v.end);
    p->m.prot = (uint8_t)(((v.flags & ZS_VMA_READ) ? PROT_READ : 0) |
                          ((v.flags & ZS_VMA_WRITE) ? PROT_WRITE : 0) |
                          ((v.flags & ZS_VMA_EXEC) ? PROT_EXEC : 0)); /* mprotect is not seen */
    p->confirmed = true;
    p->facts = kernel_facts(pr, p, &v);
    return true;
  }
  uintptr_t limit = p->end;
  zs_walk_kernel_piece(pr, p->start, limit, p, NULL);
  return false;
}

/* zs_walk_other_users - see walk.h. */
unsigned zs_walk_other_users(struct zs_proc *pr, const struct zs_piece *p) {
  if (atomic_load_explicit(pr->forked, memory_order_relaxed) && !(p->m.flags & ZS_MAP_DONTFORK))
    return ZS_FACT_OTHER_USERS;
  struct zs_vma v;
  uintptr_t a = 0;
  int e;
  while ((e = pr->query(pr, a, &v)) == 0) {
    bool own = v.start <= p->start && p->start < v.end;
    if (!own && v.ino == p->m.ino && zs_dev_pack(v.dev_major, v.dev_minor) == p->m.dev)
      return ZS_FACT_OTHER_USERS;
    if (v.end <= a)
      break;
    a = v.end;
  }
  return e == ENOENT ? 0 : ZS_FACT_OTHER_USERS;
}

/* zs_walk_decide - see walk.h. */
enum zs_action zs_walk_decide(const struct zs_piece *p, int advice) {
  return zs_policy_decide(p->m.kind, p->facts, advice, &zs_state.caps,
                          zs_state.cfg.named_files_zap);
}

/* zs_walk_aligned - see walk.h. */
bool zs_walk_aligned(const struct zs_piece *p) {
  size_t ps = (size_t)1 << p->m.page_shift;
  return ((p->start | p->end) & (ps - 1)) == 0;
}
