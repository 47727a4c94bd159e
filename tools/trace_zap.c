/*
 * trace_zap.c - one trapped madvise of a traced program (trace.h).
 *
 * The twin of shim/exec.c for a process seen from outside.  At the
 * seccomp stop the range is cut into pieces by the shared walk (walk.h)
 * from the kernel's view of the tracee, and each piece gets the policy's
 * action and plan (policy.h, plan.h) -- the same code the preload runs.
 * The program's own call then runs in the tracee, so a userfaultfd
 * handler gets its UFFD_EVENT_REMOVE from it before anything is freed,
 * and no filter of the program sees a call it did not make:
 *  - a plan's MADV_REMOVE where the program asked MADV_DONTNEED (shared
 *    shmem, SysV, shared hugetlb, guest_memfd) becomes the program's
 *    DONTNEED plus, at the syscall-exit stop, a PUNCH_HOLE of the same
 *    file range through /proc/PID/map_files: what MADV_REMOVE does;
 *  - zeros of partial huge pages are written with process_vm_writev, only
 *    into writable mappings;
 *  - MADV_REMOVE on private memory (the plan's DONTNEED) needs the call's
 *    advice changed: done only if every seccomp filter of the thread
 *    allows the new call, else the call is left as asked and the log says
 *    why.
 * Before anything is done from outside, the kernel's view is asked again
 * at the exit stop: the same file (device, inode) at the same offset, and
 * shared and writable for a punch of shared memory.  Persistent files are
 * never punched unless the program itself asked MADV_REMOVE on a shared
 * mapping; bad input gets the kernel's own answer (the tracee's own call).
 */
#define _GNU_SOURCE
#include "trace.h"
#include "log.h"
#include "plan.h"
#include "policy.h"
#include "report.h"
#include "state.h"
#include "stats.h"
#include "zapshim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/user.h>
#include <unistd.h>

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif

#define OP_LOG (-1) /* nothing left to do but log: the tracee's own call made it */

/* A piece as planned at the seccomp stop. */
struct planned {
  struct zs_piece p;
  struct zs_plan plan;
};

/* add_step - queue one step for the exit stop; false if the queue is full. */
static bool add_step(struct zt_pending *pend, int op, const struct zs_piece *p, uintptr_t a,
                     uintptr_t b, uint64_t off, bool fallback, const struct zs_report *r,
                     const char *call) {
  if (pend->n == ZT_PENDING_MAX) {
    pend->truncated = true;
    return false;
  }
  pend->s[pend->n++] = (struct zt_pending_step){
      .op = op, .start = a, .end = b, .file_offset = off, .ino = p->m.ino, .dev = p->m.dev,
      .fallback = fallback, .r = *r, .call = call};
  return true;
}

/* program_can_write - true if process pid holds a descriptor open for
 * writing on the file dev/ino: a punch through map_files then gives the
 * supervisor no right the program did not have. */
static bool program_can_write(pid_t pid, uint32_t dev, uint64_t ino) {
  char dir[64], path[384], line[128];
  snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(dir);
  if (!d)
    return false;
  bool yes = false;
  for (struct dirent *e; !yes && (e = readdir(d));) {
    struct stat st;
    if (e->d_name[0] == '.')
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) != 0 || (uint64_t)st.st_ino != ino ||
        zs_dev_pack(major(st.st_dev), minor(st.st_dev)) != dev)
      continue;
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%s", (int)pid, e->d_name);
    FILE *f = fopen(path, "re");
    unsigned flags = 0;
    while (f && fgets(line, sizeof line, f))
      if (sscanf(line, "flags: %o", &flags) == 1)
        break;
    if (f)
      fclose(f);
    yes = (flags & O_ACCMODE) != O_RDONLY;
  }
  closedir(d);
  return yes;
}

/* note_why - the policy left a piece as asked where the plain table would
 * translate: log it (a named shared file once per file, as the preload). */
static void note_why(const struct zs_piece *p, const struct zs_report *r, const char *why) {
  static uint64_t seen[64];
  if ((p->facts & ZS_FACT_NAMED) && (p->m.flags & ZS_MAP_SHARED)) {
    uint64_t key = p->m.ino ^ ((uint64_t)p->m.dev << 40) ^ 1;
    for (unsigned i = 0; i < 64; i++) {
      if (seen[i] == key)
        return;
      if (!seen[i]) {
        seen[i] = key;
        break;
      }
    }
  }
  zs_report_incomplete(r, p->start, p->end, why);
}

/* rewrite_advice - change the advice argument of tid's stopped call. */
static int rewrite_advice(pid_t tid, int advice) {
  struct user_regs_struct regs;
  if (ptrace(PTRACE_GETREGS, tid, NULL, &regs) != 0)
    return errno;
  regs.rdx = (unsigned long long)advice;
  return ptrace(PTRACE_SETREGS, tid, NULL, &regs) == 0 ? 0 : errno;
}

/* step_has - true if the plan has a MADVISE step with this advice. */
static bool step_has(const struct zs_plan *pl, int advice) {
  for (int i = 0; i < pl->nsteps; i++)
    if (pl->step[i].op == ZS_STEP_MADVISE && pl->step[i].advice == advice)
      return true;
  return false;
}

/* plan_range - cut [start, end) of process pid into planned pieces (at
 * most max).  Returns the count; *more if the range had more pieces. */
static int plan_range(struct zt_tproc *t, uintptr_t start, uintptr_t end, int advice,
                      struct planned *out, int max, bool *more) {
  int n = 0;
  *more = false;
  for (uintptr_t a = start; a < end;) {
    struct zs_piece p;
    zs_walk_kernel_piece(&t->proc, a, end, &p, NULL);
    a = p.end;
    if (p.hole)
      continue;
    if (n == max) {
      *more = true;
      break;
    }
    enum zs_action act = zs_walk_decide(&p, advice);
    if (act == ZS_ACT_HUGE_PUNCH && p.confirmed) {
      p.facts |= zs_walk_other_users(&t->proc, &p);
      act = zs_walk_decide(&p, advice);
    }
    struct zs_piece_view v = {
        .start = p.start, .end = p.end, .file_offset = p.m.offset + (p.start - p.m.start),
        .page_shift = p.m.page_shift,
        .hugetlb = (p.m.flags & ZS_MAP_HUGETLB) || p.m.page_shift > 12};
    out[n].p = p;
    zs_plan_make(&v, act, advice, &zs_state.caps, &out[n].plan);
    n++;
  }
  return n;
}

/* zt_zap_enter - see trace.h. */
bool zt_zap_enter(pid_t tid, pid_t pid, uintptr_t addr, uint64_t len, int advice,
                  struct zt_pending *pend) {
  size_t page = zs_state.page_size;
  uint64_t rlen = (len + page - 1) & ~(uint64_t)(page - 1);
  memset(pend, 0, sizeof *pend);
  if ((addr & (page - 1)) || rlen < len || addr + rlen < addr || rlen == 0)
    return false; /* the kernel's own answer */
  struct zt_tproc *t = zt_tproc_get(pid);
  if (!t)
    return false; /* cannot ask: the program's own call */
  static struct planned pieces[ZT_PENDING_MAX];
  bool more;
  int n = plan_range(t, addr, addr + rlen, advice, pieces, ZT_PENDING_MAX, &more);

  /* Does the plan need the call's advice changed (REMOVE -> DONTNEED)? */
  bool want_dontneed = false, blocked = false;
  for (int i = 0; i < n; i++) {
    const struct zs_plan *pl = &pieces[i].plan;
    if (advice == MADV_REMOVE && step_has(pl, MADV_DONTNEED))
      want_dontneed = true;
    if (advice == MADV_REMOVE && pl->act == ZS_ACT_ASKED && !(pieces[i].p.m.flags & ZS_MAP_SHARED))
      blocked = true; /* the kernel's own error for that piece must stand */
  }
  int call = advice;
  const char *why_not = NULL;
  if (want_dontneed && blocked)
    why_not = "a piece of the range must get the kernel's own answer to MADV_REMOVE";
  else if (want_dontneed && !more) {
    uint64_t args[6] = {addr, len, MADV_DONTNEED, 0, 0, 0};
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid, NULL, &regs) == 0) {
      args[3] = regs.r10, args[4] = regs.r8, args[5] = regs.r9;
      if (zt_filter_allows(tid, SYS_madvise, args, regs.rip, &why_not) &&
          rewrite_advice(tid, MADV_DONTNEED) == 0)
        call = MADV_DONTNEED;
      else if (!why_not)
        why_not = "the call could not be rewritten";
    } else
      why_not = "the call could not be read";
  } else if (want_dontneed)
    why_not = "too many pieces in one call";

  for (int i = 0; i < n; i++) {
    struct zs_piece *p = &pieces[i].p;
    struct zs_plan *pl = &pieces[i].plan;
    struct zs_report r = {.advice = advice, .start = p->start, .end = p->end, .kind = p->m.kind,
                          .pid = pid};
    zs_stats_add(p->m.kind, ZS_STAT_SEEN, 1);
    const char *why = zs_policy_why(p->m.kind, p->facts, advice, &zs_state.caps,
                                    zs_state.cfg.named_files_zap);
    if (why)
      note_why(p, &r, why);
    if (pl->act == ZS_ACT_ASKED) {
      /* The program's REMOVE of shared memory turned into DONTNEED by the
       * rewrite: the punch it asked for is made from outside. */
      if (call != advice && (p->m.flags & ZS_MAP_SHARED))
        add_step(pend, ZS_STEP_PUNCH, p, p->start, p->end,
                 p->m.offset + (p->start - p->m.start), false, &r, "PUNCH_HOLE(asked)");
      continue;
    }
    if (why_not && call == advice && advice == MADV_REMOVE && step_has(pl, MADV_DONTNEED)) {
      zs_report_incomplete(&r, p->start, p->end, why_not);
      continue; /* left as asked */
    }
    bool queued_any = false;
    for (int k = 0; k < pl->nsteps; k++) {
      const struct zs_step *s = &pl->step[k];
      if (s->op == ZS_STEP_MADVISE && s->advice == MADV_REMOVE && call == MADV_DONTNEED)
        queued_any |= add_step(pend, ZS_STEP_PUNCH, p, s->start, s->end, s->file_offset,
                               advice == MADV_DONTNEED, &r, pl->call);
      else if (s->op == ZS_STEP_PUNCH) {
        if (call != MADV_DONTNEED && advice != MADV_DONTNEED)
          continue; /* the punch goes with the DONTNEED the call could not become */
        if (!(p->m.flags & ZS_MAP_ANON) && !program_can_write(pid, p->m.dev, p->m.ino)) {
          zs_report_incomplete(&r, s->start, s->end,
                               "PUNCH_HOLE: the program has no descriptor it could write the file "
                               "with; only its private copies were freed");
          continue;
        }
        queued_any |= add_step(pend, ZS_STEP_PUNCH, p, s->start, s->end, s->file_offset, false,
                               &r, pl->call);
      } else if (s->op == ZS_STEP_ZERO)
        queued_any |= add_step(pend, ZS_STEP_ZERO, p, s->start, s->end, 0, false, &r, pl->call);
    }
    if (!queued_any)
      add_step(pend, OP_LOG, p, p->start, p->end, 0, false, &r, pl->call);
    if (pl->note)
      zs_report_incomplete(&r, p->start, p->end, pl->note);
  }
  if (more || pend->truncated) {
    struct zs_report r = {.advice = advice, .start = addr, .end = addr + rlen,
                          .kind = ZAPSHIM_KIND_UNKNOWN, .pid = pid};
    zs_report_incomplete(&r, addr, addr + rlen,
                         "more pieces than the supervisor plans in one call: the rest as asked");
  }
  return pend->n > 0;
}

/* still_there - true if the kernel shows, now, at s->start of pid the
 * file the step was planned on at the same offset (and, for a punch of
 * shared memory, a shared writable view); *v gets the VMA. */
static bool still_there(pid_t pid, const struct zt_pending_step *s, struct zs_vma *v) {
  struct zt_tproc *t = zt_tproc_get(pid);
  if (!t)
    return false;
  int e = t->proc.query(&t->proc, s->start, v);
  if (e != 0 || v->start > s->start || v->end < s->end || v->ino != s->ino ||
      zs_dev_pack(v->dev_major, v->dev_minor) != s->dev)
    return false;
  if (s->op == ZS_STEP_PUNCH && v->offset + (s->start - v->start) != s->file_offset)
    return false;
  return true;
}

/* do_punch - PUNCH_HOLE of the step's file range through map_files.
 * Returns 0 or errno. */
static int do_punch(pid_t pid, const struct zt_pending_step *s) {
  struct zs_vma v;
  if (s->ino == 0 || !still_there(pid, s, &v))
    return ESTALE;
  bool shared = (v.flags & ZS_VMA_SHARED) != 0;
  if (shared && !(v.flags & ZS_VMA_WRITE))
    return EACCES; /* MADV_REMOVE itself would refuse */
  int fd = zt_tproc_open_file(pid, v.start, v.end, O_RDWR, s->dev, s->ino);
  if (fd < 0)
    return errno;
  int r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)s->file_offset,
                    (off_t)(s->end - s->start));
  int e = r == 0 ? 0 : errno;
  close(fd);
  return e;
}

/* do_zero - zeros over the step's range where no call frees it: only a
 * writable view, and in a private one only pages that are present. */
static void do_zero(pid_t pid, const struct zt_pending_step *s) {
  struct zs_vma v;
  if (!still_there(pid, s, &v) || !(v.flags & ZS_VMA_WRITE)) {
    zs_report_incomplete(&s->r, s->start, s->end,
                         "partial huge page left as is: the mapping is not writable (or changed)");
    return;
  }
  int e = 0;
  if ((v.flags & ZS_VMA_SHARED) || zt_tproc_present(pid, s->start) != 0)
    e = zt_tproc_write_zero(pid, s->start, s->end);
  zs_report_incomplete(&s->r, s->start, s->end,
                       e ? "partial huge page could not be zeroed" : "partial huge page zeroed, not freed");
}

/* set_return - make tid's call return -err. */
static void set_return(pid_t tid, int err) {
  struct user_regs_struct regs;
  if (ptrace(PTRACE_GETREGS, tid, NULL, &regs) == 0) {
    regs.rax = (unsigned long long)(long long)-err;
    ptrace(PTRACE_SETREGS, tid, NULL, &regs);
  }
}

/* zt_zap_exit - see trace.h. */
void zt_zap_exit(pid_t tid, pid_t pid, int64_t rval, struct zt_pending *pend) {
  if (rval != 0 && rval != -ENOMEM) {
    /* The program's own call failed: its errno stands, nothing more. */
    for (int i = 0; i < pend->n; i++)
      if (i == 0 || pend->s[i].r.start != pend->s[i - 1].r.start)
        zs_report_call(&pend->s[i].r, pend->s[i].call, (int)-rval);
    pend->n = 0;
    return;
  }
  int fail = 0;
  for (int i = 0; i < pend->n; i++) {
    struct zt_pending_step *s = &pend->s[i];
    bool last_of_piece = i + 1 == pend->n || pend->s[i + 1].r.start != s->r.start;
    int e = 0;
    if (s->op == ZS_STEP_PUNCH)
      e = do_punch(pid, s);
    else if (s->op == ZS_STEP_ZERO)
      do_zero(pid, s);
    if (e && s->fallback) {
      zs_stats_add(s->r.kind, ZS_STAT_FALLBACKS, 1);
      zs_report_call(&s->r, e == ESTALE ? "PUNCH_HOLE (the mapping changed)" : s->call, e);
      zs_report_incomplete(&s->r, s->start, s->end,
                           "translated call failed; did the program's own call instead");
      continue;
    }
    if (e && !fail)
      fail = e;
    if (!last_of_piece)
      continue;
    zs_stats_add(s->r.kind, ZS_STAT_TRANSLATED, 1);
    if (!e)
      zs_stats_add(s->r.kind, ZS_STAT_BYTES, s->r.end - s->r.start);
    zs_report_call(&s->r, s->call, e);
    if (!e && zs_state.cfg.verify)
      zt_verify_step(pid, s);
  }
  if (fail && rval == 0)
    set_return(tid, fail); /* a later step's failure is the answer (plan.h) */
  pend->n = 0;
}
