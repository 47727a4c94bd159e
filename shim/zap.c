/*
 * zap.c - carry out the zap policy over a range.
 *
 * The range is cut into pieces, one per mapping: the registry says what
 * each piece is (fast, no syscall); ranges it does not know are asked of
 * the kernel.  Before an action that does more than the program's own
 * call, the registry's word is confirmed by the kernel; if they disagree,
 * the kernel wins.  Every translated piece is logged, and so is every zap
 * that could not be made whole, with the reason.
 */
#define _GNU_SOURCE
#include "zap.h"
#include "classify.h"
#include "fdkeep.h"
#include "log.h"
#include "policy.h"
#include "registry.h"
#include "state.h"
#include "stats.h"
#include "sys.h"
#include "verify.h"
#include "vma.h"
#include "zapshim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif

/* One piece of the range: [start, end) inside one mapping described by m. */
struct piece {
  uintptr_t start, end;
  struct zs_map m;
  bool from_registry;
  bool hole; /* nothing is mapped in [start, end) */
};

/* A zap in progress, for the log. */
struct zap_ctx {
  int advice;
  bool use_registry;
};

static const char *advice_name(int advice) {
  return advice == MADV_REMOVE ? "MADV_REMOVE" : "MADV_DONTNEED";
}

static uintptr_t round_down(uintptr_t a, size_t size) { return a & ~(uintptr_t)(size - 1); }
static uintptr_t round_up(uintptr_t a, size_t size) { return round_down(a + size - 1, size); }
static uintptr_t min_addr(uintptr_t a, uintptr_t b) { return a < b ? a : b; }

/* piece_page_size - the page size of the piece's mapping. */
static size_t piece_page_size(const struct piece *p) {
  return (size_t)1 << p->m.page_shift;
}

/* file_offset_of - the file offset that address a of the piece maps. */
static uint64_t file_offset_of(const struct piece *p, uintptr_t a) {
  return p->m.offset + (a - p->m.start);
}

/* log_piece - one line for a translated piece: range, advice asked, kind,
 * call made, result. */
static void log_piece(const struct zap_ctx *z, const struct piece *p, const char *call, int err) {
  if (!zs_log_enabled())
    return;
  struct zs_line l;
  zs_line_start(&l, "madvise ");
  zs_line_hex(&l, p->start);
  zs_line_str(&l, "-");
  zs_line_hex(&l, p->end);
  zs_line_str(&l, " ");
  zs_line_str(&l, advice_name(z->advice));
  zs_line_str(&l, " kind=");
  zs_line_str(&l, zapshim_kind_name(p->m.kind));
  zs_line_str(&l, p->from_registry ? " (registry)" : " (kernel)");
  zs_line_str(&l, " -> ");
  zs_line_str(&l, call);
  zs_line_str(&l, err ? " failed" : " ok");
  zs_line_errno(&l, err);
  zs_line_emit(&l);
}

/* log_incomplete - the warning for a zap that could not be made whole. */
static void log_incomplete(const struct piece *p, uintptr_t a, uintptr_t b, const char *why) {
  zs_stats_add(p->m.kind, ZS_STAT_WARNINGS, 1);
  if (!zs_log_enabled())
    return;
  struct zs_line l;
  zs_line_start(&l, "warning: zap not whole at ");
  zs_line_hex(&l, a);
  zs_line_str(&l, "-");
  zs_line_hex(&l, b);
  zs_line_str(&l, " kind=");
  zs_line_str(&l, zapshim_kind_name(p->m.kind));
  zs_line_str(&l, ": ");
  zs_line_str(&l, why);
  zs_line_emit(&l);
}

/* madvise_range - the real madvise over [a, b). Returns 0 or errno. */
static int madvise_range(uintptr_t a, uintptr_t b, int advice) {
  if (a >= b)
    return 0;
  return zs_sys_madvise((void *)a, b - a, advice) == 0 ? 0 : errno;
}

/* kernel_piece - describe [a, limit) from the kernel's view: a mapped piece
 * up to the VMA's end, or a hole up to the next VMA. */
static void kernel_piece(uintptr_t a, uintptr_t limit, struct piece *p) {
  struct zs_vma v;
  int e = zs_vma_query(a, &v);
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
    p->end = limit;
    p->m.kind = ZAPSHIM_KIND_UNKNOWN;
    return;
  }
  if (v.start > a) {
    p->end = v.start;
    p->hole = true;
    return;
  }
  zs_classify_vma(&v, &p->m);
  p->end = min_addr(v.end, limit);
}

/* next_piece - the piece of [a, end) that starts at a. */
static void next_piece(const struct zap_ctx *z, uintptr_t a, uintptr_t end, struct piece *p) {
  uintptr_t limit = end;
  if (z->use_registry) {
    struct zs_map m;
    if (zs_registry_find(a, &m) == 0) {
      if (m.start <= a) {
        memset(p, 0, sizeof *p);
        p->start = a;
        p->end = min_addr(m.end, end);
        p->m = m;
        p->from_registry = true;
        return;
      }
      limit = min_addr(m.start, end);
    }
  }
  kernel_piece(a, limit, p);
}

/* same_object - true if the kernel's VMA maps the same memory at p->start
 * as the registry entry says. */
static bool same_object(const struct piece *p, const struct zs_vma *v) {
  bool shared = (v->flags & ZS_VMA_SHARED) != 0;
  if (shared != ((p->m.flags & ZS_MAP_SHARED) != 0))
    return false;
  if (p->m.ino == 0) {
    struct zs_map k;
    zs_classify_vma(v, &k);
    return k.kind == p->m.kind;
  }
  uint64_t voff = v->offset + (p->start - v->start);
  return v->ino == p->m.ino && zs_dev_pack(v->dev_major, v->dev_minor) == p->m.dev &&
         voff == file_offset_of(p, p->start);
}

/* confirm_piece - check a registry piece against the kernel before doing
 * more than the program asked. On disagreement the piece takes the
 * kernel's view (and may become a hole). Returns true if the registry was
 * right. */
static bool confirm_piece(struct piece *p) {
  struct zs_vma v;
  int e = zs_vma_query(p->start, &v);
  if (e == 0 && v.start <= p->start && same_object(p, &v)) {
    p->end = min_addr(p->end, v.end);
    p->m.prot = (uint8_t)(((v.flags & ZS_VMA_READ) ? PROT_READ : 0) |
                          ((v.flags & ZS_VMA_WRITE) ? PROT_WRITE : 0) |
                          ((v.flags & ZS_VMA_EXEC) ? PROT_EXEC : 0)); /* mprotect is not seen */
    return true;
  }
  uintptr_t limit = p->end;
  kernel_piece(p->start, limit, p);
  return false;
}

/* zero_edge - zero [a, b), covered parts of huge pages the zap cannot
 * free, so no stale data is left behind. A private huge page that is not
 * resident is already gone and is not touched (touching would allocate). */
static void zero_edge(const struct piece *p, uintptr_t a, uintptr_t b) {
  size_t hs = piece_page_size(p);
  if (a >= b)
    return;
  if (!(p->m.prot & PROT_WRITE)) {
    log_incomplete(p, a, b, "partial huge page left as is: the mapping is not writable");
    return;
  }
  for (uintptr_t x = a; x < b; x = round_down(x, hs) + hs) {
    uintptr_t y = min_addr(b, round_down(x, hs) + hs);
    unsigned char vec = 1;
    if (!(p->m.flags & ZS_MAP_SHARED))
      (void)mincore((void *)round_down(x, hs), zs_state.page_size, &vec);
    if (vec & 1)
      memset((void *)x, 0, y - x);
  }
  log_incomplete(p, a, b, "partial huge page zeroed, not freed");
}

/* open_backing - a fresh read-write descriptor of the file behind the
 * piece, through /proc/self/map_files (the mapping still holds the file
 * even when every descriptor of it is gone), confirmed to be the file the
 * piece maps (dev, ino). Returns the descriptor or -1. */
static int open_backing(const struct piece *p) {
  struct zs_vma v;
  if (zs_vma_query(p->start, &v) != 0 || v.start > p->start || v.ino != p->m.ino ||
      zs_dev_pack(v.dev_major, v.dev_minor) != p->m.dev)
    return -1;
  char path[ZS_MAP_FILES_PATH_MAX];
  zs_vma_map_files_path(v.start, v.end, path);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || (uint64_t)st.st_ino != p->m.ino ||
      zs_dev_pack(major(st.st_dev), minor(st.st_dev)) != p->m.dev) {
    zs_sys_close(fd);
    return -1;
  }
  return fd;
}

/* punch - fallocate(PUNCH_HOLE) of the file range behind [a, b), through
 * the descriptor the shim keeps after checking it still names that file,
 * or else through a fresh one from /proc/self/map_files (the program may
 * have closed the kept one behind the shim's back). Returns 0 or errno
 * (EBADF if no descriptor of that file could be had). */
static int punch(const struct piece *p, uintptr_t a, uintptr_t b) {
  if (a >= b)
    return 0;
  if (p->m.ino == 0)
    return EBADF;
  int fd = zs_fdkeep_fd(p->m.fdslot, p->m.dev, p->m.ino);
  int own = -1;
  if (fd < 0)
    fd = own = open_backing(p);
  if (fd < 0)
    return EBADF;
  int r = zs_sys_fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                           (off_t)file_offset_of(p, a), (off_t)(b - a));
  int e = r == 0 ? 0 : errno;
  if (own >= 0)
    zs_sys_close(own);
  return e;
}

/* fall_back - the translated call failed with err: do the program's own
 * call instead, log why, and return that call's result. */
static int fall_back(const struct zap_ctx *z, const struct piece *p, const char *call, int err) {
  zs_stats_add(p->m.kind, ZS_STAT_FALLBACKS, 1);
  log_piece(z, p, call, err);
  log_incomplete(p, p->start, p->end, "translated call failed; did the program's own call instead");
  return madvise_range(p->start, p->end, z->advice);
}

/* zap_remove - MADV_REMOVE on a shared piece. On hugetlb, a DONTNEED with
 * an unaligned start gets the kernel's own answer (EINVAL), and kernels
 * whose punch skips partial huge pages get those zeroed here. */
static int zap_remove(const struct zap_ctx *z, const struct piece *p) {
  uintptr_t a = p->start, b = p->end;
  bool huge = (p->m.flags & ZS_MAP_HUGETLB) || p->m.page_shift > 12;
  if (huge) {
    size_t hs = piece_page_size(p);
    if (z->advice == MADV_DONTNEED && (a & (hs - 1)))
      return madvise_range(a, b, z->advice);
    if (!zs_state.caps.hugetlb_punch_partial) {
      uintptr_t fa = round_up(a, hs), fb = round_down(b, hs);
      if (fa >= fb) {
        zero_edge(p, a, b);
        log_piece(z, p, "zero(partial huge page)", 0);
        return 0;
      }
      int e = madvise_range(fa, fb, MADV_REMOVE);
      if (e)
        return fall_back(z, p, "MADV_REMOVE", e);
      zero_edge(p, a, fa);
      zero_edge(p, fb, b);
      log_piece(z, p, "MADV_REMOVE", 0);
      return 0;
    }
    if ((a | b) & (hs - 1))
      log_incomplete(p, a, b, "range ends inside a huge page: its covered part is zeroed, not freed");
  }
  int e = madvise_range(a, b, MADV_REMOVE);
  if (e && z->advice == MADV_REMOVE)
    return e; /* the program's own call: the kernel's answer stands */
  if (e)
    return fall_back(z, p, "MADV_REMOVE", e);
  log_piece(z, p, "MADV_REMOVE", 0);
  return 0;
}

/* zap_huge_private - private hugetlb: whole huge pages by DONTNEED (5.18+)
 * or by punching the file through the kept descriptor; partial edges are
 * zeroed. A DONTNEED with an unaligned start gets the kernel's answer. */
static int zap_huge_private(const struct zap_ctx *z, const struct piece *p, enum zs_action act) {
  size_t hs = piece_page_size(p);
  uintptr_t a = p->start, b = p->end;
  if (z->advice == MADV_DONTNEED && (a & (hs - 1)))
    return madvise_range(a, b, z->advice);
  uintptr_t fa = round_up(a, hs), fb = round_down(b, hs);
  const char *call = act == ZS_ACT_HUGE_PUNCH ? "PUNCH_HOLE" : "MADV_DONTNEED";
  if (fa < fb) {
    int e = act == ZS_ACT_HUGE_PUNCH ? punch(p, fa, fb) : madvise_range(fa, fb, MADV_DONTNEED);
    if (e)
      return fall_back(z, p, call, e);
  } else {
    fa = fb = b;
  }
  zero_edge(p, a, fa < b ? fa : b);
  if (fb > fa)
    zero_edge(p, fb, b);
  log_piece(z, p, call, 0);
  return 0;
}

/* zap_dontneed_punch - private shmem with MADV_REMOVE: drop the private
 * copies, then free the backing file range. */
static int zap_dontneed_punch(const struct zap_ctx *z, const struct piece *p) {
  int e = madvise_range(p->start, p->end, MADV_DONTNEED);
  if (e)
    return e;
  e = punch(p, p->start, p->end);
  log_piece(z, p, "MADV_DONTNEED+PUNCH_HOLE", e);
  if (e)
    log_incomplete(p, p->start, p->end, e == EBADF
                   ? "backing file not punched: no usable descriptor (closed, replaced or read-only)"
                   : "backing file not punched: fallocate failed");
  return 0;
}

/* reconfirm - ask the kernel whether the registry's view of piece p holds.
 * If not, p takes the kernel's view (from_registry false) and *act is
 * chosen again. Returns false if the kernel shows a hole there. */
static bool reconfirm(const struct zap_ctx *z, struct piece *p, enum zs_action *act) {
  if (confirm_piece(p))
    return true;
  log_incomplete(p, p->start, p->end, "registry disagreed with the kernel; used the kernel's view");
  if (p->hole)
    return false;
  *act = zs_policy_action(p->m.kind, z->advice, &zs_state.caps);
  return true;
}

/* run_action - the calls of one action on a piece. Returns 0 or errno. */
static int run_action(const struct zap_ctx *z, const struct piece *p, enum zs_action act) {
  switch (act) {
  case ZS_ACT_ASKED:
    return madvise_range(p->start, p->end, z->advice);
  case ZS_ACT_DONTNEED: {
    int e = madvise_range(p->start, p->end, MADV_DONTNEED);
    log_piece(z, p, "MADV_DONTNEED", e);
    return e;
  }
  case ZS_ACT_REMOVE:
    return zap_remove(z, p);
  case ZS_ACT_HUGE_DONTNEED:
  case ZS_ACT_HUGE_PUNCH:
    return zap_huge_private(z, p, act);
  case ZS_ACT_DONTNEED_PUNCH:
    return zap_dontneed_punch(z, p);
  }
  return madvise_range(p->start, p->end, z->advice);
}

/* verify_piece - ZAPSHIM_VERIFY: check the whole pages of a translated
 * piece are gone (partial huge pages are zeroed, not freed: not checked). */
static void verify_piece(const struct piece *p) {
  size_t ps = piece_page_size(p);
  long left = zs_verify_range(round_up(p->start, ps), round_down(p->end, ps),
                              zapshim_kind_name(p->m.kind));
  if (left > 0)
    zs_stats_add(p->m.kind, ZS_STAT_WARNINGS, 1);
}

/* zap_piece - carry out the policy on one mapped piece. Returns 0 or the
 * errno the kernel gave for it. */
static int zap_piece(const struct zap_ctx *z, struct piece *p) {
  enum zs_action act = zs_policy_action(p->m.kind, z->advice, &zs_state.caps);
  if (p->from_registry && zs_policy_needs_confirm(act, z->advice) && !reconfirm(z, p, &act))
    return ENOMEM;
  if (act == ZS_ACT_REMOVE && z->advice == MADV_DONTNEED && !(p->m.prot & PROT_WRITE)) {
    /* A read-only view of shared memory: the program cannot write that
     * memory, so its DONTNEED only drops its own view; freeing the memory
     * could lose another process's data. */
    log_incomplete(p, p->start, p->end, "read-only mapping of shared memory: left as asked,"
                   " memory not freed (map it writable to let DONTNEED free it)");
    act = ZS_ACT_ASKED;
  }
  zs_stats_add(p->m.kind, ZS_STAT_SEEN, 1);
  int e = run_action(z, p, act);
  if (e && p->from_registry) {
    /* A call failed on the registry's word: if the registry was stale
     * (a mapping changed behind the shim), redo the piece as the kernel
     * sees it; if it was right, the kernel's error stands. */
    uintptr_t end = p->end;
    if (!reconfirm(z, p, &act))
      return ENOMEM;
    if (!p->from_registry)
      e = run_action(z, p, act);
    else
      p->end = end;
  }
  if (act == ZS_ACT_ASKED)
    return e; /* untranslated */
  zs_stats_add(p->m.kind, ZS_STAT_TRANSLATED, 1);
  if (e == 0) {
    zs_stats_add(p->m.kind, ZS_STAT_BYTES, p->end - p->start);
    if (zs_state.cfg.verify)
      verify_piece(p);
  }
  return e;
}

/* This thread's last mapping zapped as asked, valid while the registry's
 * generation has not moved: repeated zaps inside one mapping (an
 * allocator purging its arena) then need no lock and no tree walk. */
struct zap_cache {
  uintptr_t start, end;
  uint64_t generation;
  int kind;
};
static __thread struct zap_cache cache __attribute__((tls_model("initial-exec")));

/* remember - note m (a registry entry, read under the lock at generation
 * gen) as this thread's last mapping zapped as asked. */
static void remember(const struct zs_map *m, uint64_t gen) {
  /* A signal handler on this thread may read the note half-written: make
   * it invalid first (no generation is ever UINT64_MAX) and valid last. */
  cache.generation = UINT64_MAX;
  atomic_signal_fence(memory_order_seq_cst);
  cache.start = m->start;
  cache.end = m->end;
  cache.kind = m->kind;
  atomic_signal_fence(memory_order_seq_cst);
  cache.generation = gen;
}

/* zs_zap_cached - see zap.h. */
bool zs_zap_cached(void *addr, size_t len, int advice, int *result) {
  uintptr_t a = (uintptr_t)addr;
  size_t page = zs_state.page_size;
  uint64_t gen = cache.generation;
  atomic_signal_fence(memory_order_seq_cst);
  if (a < cache.start || a >= cache.end || len == 0 || len > cache.end - a ||
      (a & (page - 1)) || zs_policy_action(cache.kind, advice, &zs_state.caps) != ZS_ACT_ASKED)
    return false;
  atomic_signal_fence(memory_order_seq_cst);
  if (gen != cache.generation || gen != zs_registry_generation())
    return false;
  if (zs_sys_madvise(addr, len, advice) != 0)
    return false; /* the locked path redoes it and checks with the kernel */
  zs_stats_add(cache.kind, ZS_STAT_SEEN, 1);
  *result = 0;
  return true;
}

/* zs_zap - see zap.h. */
int zs_zap(void *addr, size_t len, int advice, bool use_registry) {
  uintptr_t start = (uintptr_t)addr;
  size_t page = zs_state.page_size;
  size_t rlen = (len + page - 1) & ~(page - 1);
  /* The kernel's own checks: its answer, errno included, for bad input. */
  if ((start & (page - 1)) || rlen < len || start + rlen < start || rlen == 0)
    return zs_sys_madvise(addr, len, advice);
  struct zap_ctx z = {.advice = advice, .use_registry = use_registry};
  uintptr_t end = start + rlen;
  struct piece p;
  next_piece(&z, start, end, &p);
  if (p.end == end && !p.hole &&
      zs_policy_action(p.m.kind, advice, &zs_state.caps) == ZS_ACT_ASKED) {
    /* The fast path: one mapping, the program's own call. If it fails on
     * the registry's word, the piece loop below checks with the kernel. */
    int r = zs_sys_madvise(addr, len, advice);
    if (r == 0 && p.from_registry)
      remember(&p.m, zs_registry_generation());
    if (r == 0 || !p.from_registry) {
      zs_stats_add(p.m.kind, ZS_STAT_SEEN, 1);
      return r;
    }
  }
  bool unmapped = false;
  for (;;) {
    int e = p.hole ? ENOMEM : zap_piece(&z, &p);
    if (e == ENOMEM)
      unmapped = true;
    else if (e) {
      errno = e;
      return -1;
    }
    if (p.end >= end)
      break;
    next_piece(&z, p.end, end, &p);
  }
  if (unmapped) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}
