/*
 * zap.c - carry out the zap policy over a range.
 *
 * The range is cut into pieces, one per mapping: the registry says what
 * each piece is (fast, no syscall); ranges it does not know are asked of
 * the kernel.  One rule: an action that does more than, or other than, the
 * program's own call (zs_policy_beyond_call) is taken only on the kernel's
 * word at that moment -- the registry's word is confirmed first, and if
 * they disagree the kernel wins.  Whether a file is still named, and
 * whether a private file has other users, come only from the kernel.
 * Where the kernel cannot be asked (no usable /proc) the program's own
 * call is made, and the log says why once.  Every translated piece is
 * logged, and so is every zap that could not be made whole, with the
 * reason.  The caller holds the registry read lock (or, from a signal
 * handler that interrupted the shim, a lock that excludes the shim's own
 * remaps): see hooks.c.
 */
#define _GNU_SOURCE
#include "zap.h"
#include "classify.h"
#include "exec.h"
#include "fdkeep.h"
#include "log.h"
#include "plan.h"
#include "report.h"
#include "policy.h"
#include "registry.h"
#include "state.h"
#include "stats.h"
#include "sys.h"
#include "verify.h"
#include "vma.h"
#include "walk.h"
#include "zapshim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* A zap in progress, for the log. */
struct zap_ctx {
  int advice;
  bool use_registry;
};

static uintptr_t round_down(uintptr_t a, size_t size) { return a & ~(uintptr_t)(size - 1); }
static uintptr_t round_up(uintptr_t a, size_t size) { return round_down(a + size - 1, size); }
static uintptr_t min_addr(uintptr_t a, uintptr_t b) { return a < b ? a : b; }

/* piece_page_size - the page size of the piece's mapping. */
static size_t piece_page_size(const struct zs_piece *p) {
  return (size_t)1 << p->m.page_shift;
}

/* report_of - the log's view of the piece. */
static struct zs_report report_of(const struct zap_ctx *z, const struct zs_piece *p) {
  return (struct zs_report){.advice = z->advice, .start = p->start, .end = p->end,
                            .kind = p->m.kind, .from_registry = p->from_registry};
}

/* log_incomplete - a zap of the piece not made whole over [a, b), and why. */
static void log_incomplete(const struct zap_ctx *z, const struct zs_piece *p, uintptr_t a,
                           uintptr_t b, const char *why) {
  struct zs_report r = report_of(z, p);
  zs_report_incomplete(&r, a, b, why);
}

/* kernel_piece - [a, limit) from this process's kernel view (walk.h). */
static void kernel_piece(uintptr_t a, uintptr_t limit, struct zs_piece *p) {
  zs_walk_kernel_piece(zs_proc_self(), a, limit, p, NULL);
}

/* registry_at - the registry entry at or after a (zs_registry_find),
 * taken from hint if it is still current and holds a.  Returns 0 or
 * ENOENT. */
static int registry_at(uintptr_t a, const struct zs_zap_hint *hint, struct zs_map *m) {
  if (hint && hint->valid && hint->m.start <= a && a < hint->m.end &&
      hint->gen == zs_registry_generation()) {
    *m = hint->m;
    return 0;
  }
  return zs_registry_find(a, m);
}

/* next_piece - the piece of [a, end) that starts at a (hint: see zs_zap). */
static void next_piece(const struct zap_ctx *z, uintptr_t a, uintptr_t end, struct zs_piece *p,
                       const struct zs_zap_hint *hint) {
  uintptr_t limit = end;
  if (z->use_registry) {
    struct zs_map m;
    if (registry_at(a, hint, &m) == 0) {
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

/* reconfirm - ask the kernel whether the registry's view of piece p holds.
 * If not, p takes the kernel's view (from_registry false) and the log says
 * so. *act is chosen again either way (the kernel's facts may change it).
 * Returns false if the kernel shows a hole there. */
static bool reconfirm(const struct zap_ctx *z, struct zs_piece *p, enum zs_action *act) {
  if (!zs_walk_confirm(zs_proc_self(), p)) {
    log_incomplete(z, p, p->start, p->end, "registry disagreed with the kernel; used the kernel's view");
    if (p->hole)
      return false;
  }
  *act = zs_walk_decide(p, z->advice);
  return true;
}

/* note_named - once per file (of the first 32 met): a named file was left
 * as asked; the log says how to opt in. */
static void note_named(const struct zs_piece *p) {
  static _Atomic uint64_t seen[32];
  uint64_t key = p->m.ino ^ ((uint64_t)p->m.dev << 40) ^ 1;
  for (unsigned i = 0; i < 32; i++) {
    uint64_t cur = 0;
    if (atomic_compare_exchange_strong(&seen[i], &cur, key))
      break; /* first time: noted here */
    if (cur == key)
      return; /* said before */
  }
  zs_stats_add(p->m.kind, ZS_STAT_WARNINGS, 1);
  if (!zs_log_enabled())
    return;
  struct zs_line l;
  zs_line_start(&l, "named file kept at ");
  zs_line_hex(&l, p->start);
  zs_line_str(&l, "-");
  zs_line_hex(&l, p->end);
  zs_line_str(&l, " kind=");
  zs_line_str(&l, zapshim_kind_name(p->m.kind));
  zs_line_str(&l, ": the file is still linked, anyone may open it, so MADV_DONTNEED keeps its data"
                  " (ZAPSHIM_NAMED_FILES=zap or zapshim --named-files=zap frees it)");
  zs_line_emit(&l);
}

/* verify_piece - ZAPSHIM_VERIFY: check the whole pages of a translated
 * piece are gone (partial huge pages are zeroed, not freed: not checked). */
static void verify_piece(const struct zs_piece *p) {
  size_t ps = piece_page_size(p);
  long left = zs_verify_range(round_up(p->start, ps), round_down(p->end, ps),
                              zapshim_kind_name(p->m.kind));
  if (left > 0)
    zs_stats_add(p->m.kind, ZS_STAT_WARNINGS, 1);
}

/* run_plan - plan the action on the piece and carry it out here.
 * Returns 0 or errno. */
static int run_plan(const struct zap_ctx *z, const struct zs_piece *p, enum zs_action act) {
  struct zs_piece_view v = {
      .start = p->start, .end = p->end,
      .file_offset = p->m.offset + (p->start - p->m.start),
      .page_shift = p->m.page_shift,
      .hugetlb = (p->m.flags & ZS_MAP_HUGETLB) || p->m.page_shift > 12};
  struct zs_plan plan;
  zs_plan_make(&v, act, z->advice, &zs_state.caps, &plan);
  struct zs_report r = report_of(z, p);
  return zs_exec_self(&plan, &p->m, &r);
}

/* zap_piece - carry out the policy on one mapped piece: anything beyond
 * the program's own call only after the kernel confirmed the piece at
 * this moment. Returns 0 or the errno the kernel gave for it. */
static int zap_piece(const struct zap_ctx *z, struct zs_piece *p) {
  enum zs_action act = zs_walk_decide(p, z->advice);
  if (!p->confirmed && zs_policy_beyond_call(act, z->advice, zs_walk_aligned(p)) &&
      !reconfirm(z, p, &act))
    return ENOMEM;
  if (act == ZS_ACT_HUGE_PUNCH && p->confirmed) {
    p->facts |= zs_walk_other_users(zs_proc_self(), p);
    act = zs_walk_decide(p, z->advice);
  }
  const char *why = zs_policy_why(p->m.kind, p->facts, z->advice, &zs_state.caps,
                                  zs_state.cfg.named_files_zap);
  if (why && (p->facts & ZS_FACT_NAMED) && (p->m.flags & ZS_MAP_SHARED))
    note_named(p);
  else if (why)
    log_incomplete(z, p, p->start, p->end, why);
  zs_stats_add(p->m.kind, ZS_STAT_SEEN, 1);
  int e = run_plan(z, p, act);
  if (e && p->from_registry && !p->confirmed) {
    /* The program's own call failed on the registry's word: if the
     * registry was stale (a mapping changed behind the shim), redo the
     * piece as the kernel sees it (once: that piece is no longer the
     * registry's); if it was right, the kernel's error stands. */
    enum zs_action done = act;
    uintptr_t end = p->end;
    if (!reconfirm(z, p, &act))
      return ENOMEM;
    if (!p->from_registry)
      return zap_piece(z, p);
    p->end = end;
    act = done;
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

/* This thread's last mappings zapped as asked (or, plain anonymous
 * memory, mapped by it), each valid while the registry's generation has
 * not moved: repeated zaps inside a few mappings (an allocator purging
 * its arenas) then need no lock and no tree walk.  Replaced round-robin. */
#define ZS_NOTES 4
struct zap_note {
  uintptr_t start, end;
  uint64_t generation;
  int kind;
};
static __thread struct zap_note notes[ZS_NOTES] __attribute__((tls_model("initial-exec")));
static __thread unsigned next_note __attribute__((tls_model("initial-exec")));

/* note_write - make *n say [start, end) is kind, at generation gen.
 * A signal handler on this thread may read the note half-written: it is
 * made invalid first (no generation is ever UINT64_MAX) and valid last. */
static void note_write(struct zap_note *n, uintptr_t start, uintptr_t end, int kind,
                       uint64_t gen) {
  n->generation = UINT64_MAX;
  atomic_signal_fence(memory_order_seq_cst);
  n->start = start;
  n->end = end;
  n->kind = kind;
  atomic_signal_fence(memory_order_seq_cst);
  n->generation = gen;
}

/* note_read - a copy of *n into *out, read as note_write writes (so a
 * handler that interrupted the write reads nothing).  Returns false if
 * the note is invalid or was being written. */
static bool note_read(const struct zap_note *n, struct zap_note *out) {
  uint64_t gen = n->generation;
  atomic_signal_fence(memory_order_seq_cst);
  *out = (struct zap_note){.start = n->start, .end = n->end, .kind = n->kind, .generation = gen};
  atomic_signal_fence(memory_order_seq_cst);
  return gen != UINT64_MAX && gen == n->generation;
}

/* remember_range - note [start, end) as kind at generation gen: in the
 * note that already starts there or is no longer valid (so a churning
 * mmap/munmap reuses one note and keeps the others), else in the next one
 * round-robin. */
static void remember_range(uintptr_t start, uintptr_t end, int kind, uint64_t gen) {
  uint64_t now = zs_registry_generation();
  unsigned i;
  for (i = 0; i < ZS_NOTES; i++)
    if (notes[i].start == start || notes[i].generation != now)
      break;
  if (i == ZS_NOTES)
    i = next_note++ % ZS_NOTES;
  note_write(&notes[i], start, end, kind, gen);
}

/* remember - note m (a registry entry, read under the lock at generation
 * gen) as one of this thread's mappings zapped as asked. */
static void remember(const struct zs_map *m, uint64_t gen) {
  remember_range(m->start, m->end, m->kind, gen);
}

/* The last plain anonymous mapping the kernel showed this thread's zap,
 * for the registry to learn once the caller can take the write lock
 * (zs_zap_take_learned).  A note like the others, never read by from_note. */
static __thread struct zap_note learned __attribute__((tls_model("initial-exec")));

/* remember_plain - note a piece the kernel showed as plain anonymous
 * memory (mmap does not register it): its whole mapping as far as no
 * registry entry lies in it, at the generation now (the caller holds the
 * read lock, so the registry is not changing), and keep it to be learned
 * by the registry. */
static void remember_plain(const struct zs_piece *p) {
  uintptr_t lo, hi;
  if (zs_registry_gap(p->start, &lo, &hi) != 0)
    return;
  uintptr_t start = p->m.start > lo ? p->m.start : lo;
  uintptr_t end = p->m.end < hi ? p->m.end : hi;
  if (!(start <= p->start && p->start < end))
    return;
  uint64_t gen = zs_registry_generation();
  remember_range(start, end, p->m.kind, gen);
  note_write(&learned, start, end, p->m.kind, gen);
}

/* zs_zap_take_learned - see zap.h.  The kernel's view never carries
 * ZS_MAP_DONTFORK, so the entry's flags are ZS_MAP_ANON alone. */
bool zs_zap_take_learned(struct zs_map *m, uint64_t *gen) {
  struct zap_note n;
  if (!note_read(&learned, &n) || n.start >= n.end)
    return false;
  note_write(&learned, 0, 0, ZAPSHIM_KIND_UNKNOWN, UINT64_MAX);
  *m = (struct zs_map){.start = n.start, .end = n.end, .kind = (uint8_t)n.kind,
                       .flags = ZS_MAP_ANON, .page_shift = 12, .fdslot = -1};
  *gen = n.generation;
  return zs_map_plain(m);
}

/* zs_zap_note_mapped - see zap.h. */
void zs_zap_note_mapped(uintptr_t start, uintptr_t end, uint64_t gen) {
  remember_range(start, end, ZAPSHIM_KIND_ANON_PRIVATE, gen);
}

/* zs_zap_forget - see zap.h. */
void zs_zap_forget(uintptr_t start, uintptr_t end) {
  for (unsigned i = 0; i < ZS_NOTES; i++)
    if (notes[i].start < end && start < notes[i].end)
      note_write(&notes[i], 0, 0, ZAPSHIM_KIND_UNKNOWN, UINT64_MAX);
}

/* asked_within - true if [a, a+len) is page-aligned, not empty, inside
 * [start, end), and the policy leaves kind as the program asked. */
static bool asked_within(uintptr_t a, size_t len, int advice, uintptr_t start, uintptr_t end,
                         int kind) {
  return a >= start && a < end && len != 0 && len <= end - a &&
         !(a & (zs_state.page_size - 1)) &&
         zs_policy_action(kind, advice, &zs_state.caps) == ZS_ACT_ASKED;
}

/* asked_call - the program's own call, counted as seen for kind.  Returns
 * true if it succeeded; on failure the locked path redoes it and checks
 * with the kernel. */
static bool asked_call(void *addr, size_t len, int advice, int kind) {
  if (zs_sys_madvise(addr, len, advice) != 0)
    return false;
  zs_stats_add(kind, ZS_STAT_SEEN, 1);
  return true;
}

/* from_note - inside one of the mappings this thread noted, the
 * registry unchanged since: the program's own call.  Returns true if made. */
static bool from_note(void *addr, size_t len, int advice) {
  uint64_t now = zs_registry_generation();
  struct zap_note n;
  for (unsigned i = 0; i < ZS_NOTES; i++)
    if (note_read(&notes[i], &n) && n.generation == now &&
        asked_within((uintptr_t)addr, len, advice, n.start, n.end, n.kind))
      return asked_call(addr, len, advice, n.kind);
  return false;
}

/* from_peek - one registry entry, read without the lock, covers the range
 * and is left as asked: the program's own call, the entry noted for
 * from_note.  Returns true if made; else *hint holds the entry read, if
 * one was. */
static bool from_peek(void *addr, size_t len, int advice, struct zs_zap_hint *hint) {
  struct zs_map m;
  uint64_t gen;
  if (zs_registry_peek((uintptr_t)addr, &m, &gen) != 0)
    return false;
  if (!asked_within((uintptr_t)addr, len, advice, m.start, m.end, m.kind) ||
      !asked_call(addr, len, advice, m.kind)) {
    *hint = (struct zs_zap_hint){.m = m, .gen = gen, .valid = true};
    return false;
  }
  remember(&m, gen);
  return true;
}

/* zs_zap_lockfree - see zap.h. */
bool zs_zap_lockfree(void *addr, size_t len, int advice, int *result, struct zs_zap_hint *hint) {
  hint->valid = false;
  if (!from_note(addr, len, advice) && !from_peek(addr, len, advice, hint))
    return false;
  *result = 0;
  return true;
}

/* zs_zap - see zap.h. */
int zs_zap(void *addr, size_t len, int advice, bool use_registry, const struct zs_zap_hint *hint) {
  uintptr_t start = (uintptr_t)addr;
  size_t page = zs_state.page_size;
  size_t rlen = (len + page - 1) & ~(page - 1);
  /* The kernel's own checks: its answer, errno included, for bad input. */
  if ((start & (page - 1)) || rlen < len || start + rlen < start || rlen == 0)
    return zs_sys_madvise(addr, len, advice);
  struct zap_ctx z = {.advice = advice, .use_registry = use_registry};
  uintptr_t end = start + rlen;
  struct zs_piece p;
  next_piece(&z, start, end, &p, hint);
  if (p.end == end && !p.hole && !(p.facts & ZS_FACT_NAMED) &&
      zs_walk_decide(&p, advice) == ZS_ACT_ASKED) {
    /* The fast path: one mapping, the program's own call. If it fails on
     * the registry's word, the piece loop below checks with the kernel. */
    int r = zs_sys_madvise(addr, len, advice);
    if (r == 0 && p.from_registry)
      remember(&p.m, zs_registry_generation());
    else if (r == 0 && use_registry && p.confirmed && zs_map_plain(&p.m))
      remember_plain(&p);
    if (r == 0 || !p.from_registry || p.confirmed) {
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
    next_piece(&z, p.end, end, &p, NULL);
  }
  if (unmapped) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}
