/*
 * explain.c - zapshim --explain PID: every mapping of a running process,
 * its memory kind (classified as the core classifies a VMA it did not see
 * mapped), the call zapshim uses to zap it, and a warning where a plain
 * madvise(MADV_DONTNEED) would not free it, and whether zapshim covers the
 * process (preloaded in it, or tracing it).  Needs no shim in the process:
 * the mappings come from the core's maps reader of any process (vma.h) and
 * are classified by the core (zs_classify_vma_of).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classify.h"
#include "policy.h"
#include "state.h"
#include "tool.h"
#include "zapshim.h"

/* warning_for - what goes wrong with a plain MADV_DONTNEED on this kind
 * under caps, or NULL if it zaps (or must not: persistent data). */
static const char *warning_for(int kind, const struct zs_caps *caps) {
  switch (kind) {
  case ZAPSHIM_KIND_SHMEM_SHARED:
    return "plain MADV_DONTNEED returns 0 but keeps the data and frees nothing (shmem)";
  case ZAPSHIM_KIND_HUGETLB_SHARED:
    return "plain MADV_DONTNEED returns 0 but keeps the data; huge pages stay allocated";
  case ZAPSHIM_KIND_GUEST_MEMFD:
    return "plain MADV_DONTNEED returns 0 but keeps the data and frees nothing (guest_memfd)";
  case ZAPSHIM_KIND_HUGETLB_PRIVATE:
    return caps->hugetlb_dontneed ? NULL
                                  : "plain MADV_DONTNEED fails with EINVAL on hugetlb before 5.18";
  default:
    return NULL;
  }
}

/* note_for - a milder remark for kinds a plain DONTNEED only half frees. */
static const char *note_for(int kind) {
  if (kind == ZAPSHIM_KIND_SHMEM_PRIVATE)
    return "plain MADV_DONTNEED drops the private copies only; the file's pages stay";
  return NULL;
}

/* named_file - true if v is a tmpfs or hugetlbfs file (kind) that is still
 * linked in a directory, as the shim judges it at a zap: its maps name is
 * a path not marked " (deleted)", or, when it is, the file has links again
 * (st_nlink through /proc/PID/map_files; false if that cannot be read). */
static bool named_file(pid_t pid, const struct zs_vma *v, int kind) {
  static const char deleted[] = " (deleted)";
  if (kind != ZAPSHIM_KIND_SHMEM_SHARED && kind != ZAPSHIM_KIND_SHMEM_PRIVATE &&
      kind != ZAPSHIM_KIND_HUGETLB_SHARED && kind != ZAPSHIM_KIND_HUGETLB_PRIVATE)
    return false;
  if (v->name[0] != '/' || !v->ino)
    return false;
  size_t n = strlen(v->name), d = sizeof deleted - 1;
  if (n < d || strcmp(v->name + n - d, deleted) != 0)
    return true;
  struct stat st;
  int fd = zs_proc_open_map_file_of(pid, v->start, v->end, O_PATH);
  bool linked = fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == v->ino && st.st_nlink > 0;
  if (fd >= 0)
    close(fd);
  return linked;
}

/* call_for - the call zapshim makes when the program asks MADV_DONTNEED
 * on a piece of this kind with these facts (ZS_FACT_*). */
static const char *call_for(int kind, unsigned facts, const struct zs_caps *caps) {
  enum zs_action a =
    zs_policy_decide(kind, facts, MADV_DONTNEED, caps, zs_state.cfg.named_files_zap);
  if (a != ZS_ACT_ASKED)
    return zs_action_name(a);
  if (facts & ZS_FACT_NAMED)
    return "as asked (named file)";
  switch (kind) {
  case ZAPSHIM_KIND_ANON_PRIVATE:
  case ZAPSHIM_KIND_FILE_PRIVATE: return "MADV_DONTNEED";
  case ZAPSHIM_KIND_FILE_SHARED: return "MADV_DONTNEED (data persists)";
  case ZAPSHIM_KIND_OTHER: return "- (left alone)";
  default: return "as asked (unknown)";
  }
}

/* human - size in B/K/M/G into buf (7 chars). */
static const char *human(unsigned long long v, char *buf, size_t len) {
  const char *u = "BKMGT";
  double d = (double)v;
  while (d >= 1024 && u[1]) {
    d /= 1024;
    u++;
  }
  snprintf(buf, len, d < 10 && *u != 'B' ? "%.1f%c" : "%.0f%c", d, *u);
  return buf;
}

/* comm_of - the command name of process (or thread) pid into buf ("?" if
 * unreadable). */
static void comm_of(pid_t pid, char *buf, size_t len) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
  FILE *f = fopen(path, "re");
  snprintf(buf, len, "?");
  if (f) {
    if (fgets(buf, (int)len, f))
      buf[strcspn(buf, "\n")] = 0;
    fclose(f);
  }
}

/* tracer_of - TracerPid of process pid from /proc/PID/status: the thread
 * tracing it, 0 if none or unreadable. */
static pid_t tracer_of(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "re");
  int t = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "TracerPid: %d", &t) == 1)
      break;
  if (f)
    fclose(f);
  return (pid_t)t;
}

/* is_zapshim - true if process (or thread) pid is the zapshim command: its
 * comm or the last component of its exe is "zapshim". */
static bool is_zapshim(pid_t pid) {
  char comm[64], path[64], exe[4096];
  comm_of(pid, comm, sizeof comm);
  if (strcmp(comm, "zapshim") == 0)
    return true;
  snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
  ssize_t n = readlink(path, exe, sizeof exe - 1);
  if (n <= 0)
    return false;
  exe[n] = 0;
  const char *b = strrchr(exe, '/');
  b = b ? b + 1 : exe;
  return strcmp(b, "zapshim") == 0 || strcmp(b, "zapshim (deleted)") == 0;
}

/* shim_in - the name of a libzapshim.so* mapping of the process, or NULL. */
static const char *shim_in(const struct zs_vma *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *b = strrchr(v[i].name, '/');
    if (b && strncmp(b + 1, "libzapshim.so", 13) == 0)
      return v[i].name;
  }
  return NULL;
}

/*
 * read_vmas - every VMA of process pid, in address order, with the core's
 * maps reader (PROCMAP_QUERY where the kernel the policy is for has it,
 * else the parsed file).  *out is malloc'ed (free it), *n its length,
 * *source "PROCMAP_QUERY" or "maps".  Returns 0 or an errno (ESRCH: no
 * such process, or it exited meanwhile; EACCES: not allowed to read it;
 * ZS_VMA_UNAVAILABLE: no /proc).
 */
static int read_vmas(pid_t pid, struct zs_vma **out, size_t *n, const char **source) {
  struct zs_maps r;
  int e = pid > 0 ? zs_maps_open(&r, pid) : ESRCH;
  if (e)
    return e;
  struct zs_vma *v = NULL;
  size_t len = 0, cap = 0;
  uintptr_t addr = 0;
  for (;;) {
    if (len == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      struct zs_vma *nv = realloc(v, ncap * sizeof *nv);
      if (!nv) {
        e = ENOMEM;
        break;
      }
      v = nv;
      cap = ncap;
    }
    e = zs_maps_query(&r, addr, &v[len]);
    if (e)
      break;
    addr = v[len].end;
    len++;
    if (addr == 0) /* the top of the address space */
      break;
  }
  *source = zs_maps_uses_query(&r) ? "PROCMAP_QUERY" : "maps";
  zs_maps_close(&r);
  if (e == ENOENT)
    e = 0;
  if (e) {
    free(v);
    return e;
  }
  *out = v;
  *n = len;
  return 0;
}

/* zt_explain - see tool.h. */
int zt_explain(const struct zt_opts *o, pid_t pid) {
  (void)o;
  struct zs_vma *v = NULL;
  size_t n = 0;
  const char *source = "";
  const struct zs_caps *caps = &zs_state.caps;
  int e = read_vmas(pid, &v, &n, &source);
  if (e) {
    fprintf(stderr, "zapshim: cannot read the mappings of process %d: %s\n", (int)pid,
            e == ESRCH                ? "no such process"
            : e == EACCES             ? "not allowed (another user's, or not dumpable)"
            : e == ZS_VMA_UNAVAILABLE ? "no /proc here"
                                      : strerror(e));
    return 1;
  }
  char comm[64], sz[16];
  comm_of(pid, comm, sizeof comm);
  printf("zapshim %s: process %d (%s), %zu mappings via %s; policy for Linux %u.%u\n",
         ZAPSHIM_VERSION_STRING, (int)pid, comm, n, source, ZS_KVER_MAJOR(caps->version),
         ZS_KVER_MINOR(caps->version));
  /* Covered: the preload is mapped in it, or a zapshim supervisor traces it. */
  const char *shim = shim_in(v, n);
  pid_t tracer = tracer_of(pid);
  bool traced = tracer > 0 && is_zapshim(tracer);
  if (shim)
    printf("zapshim is loaded in it (preload): %s; its MADV_DONTNEED/MADV_REMOVE get the calls "
           "below.\n",
           shim);
  if (traced)
    printf("%s traced by zapshim (pid %d): its MADV_DONTNEED/MADV_REMOVE get the calls below.\n",
           shim ? "It is also" : "zapshim is not loaded in it; it is", (int)tracer);
  if (!shim && !traced) {
    printf("zapshim is NOT loaded in it: its madvise calls go to the kernel unchanged.\n");
    if (tracer > 0) {
      char tcomm[64];
      comm_of(tracer, tcomm, sizeof tcomm);
      printf("(it is traced by pid %d (%s), which is not zapshim)\n", (int)tracer, tcomm);
    }
  }
  printf("\n%-33s %6s %-4s %-15s %-26s %s\n", "range", "size", "perm", "kind", "zapshim uses",
         "name");

  unsigned long long bytes[ZAPSHIM_KIND_COUNT] = {0};
  unsigned counts[ZAPSHIM_KIND_COUNT] = {0};
  unsigned long long warn_bytes = 0;
  unsigned warns = 0, shared_zapped = 0;
  for (size_t i = 0; i < n; i++) {
    struct zs_map m;
    zs_classify_vma_of(pid, &v[i], &m);
    char perm[5] = {v[i].flags & ZS_VMA_READ ? 'r' : '-', v[i].flags & ZS_VMA_WRITE ? 'w' : '-',
                    v[i].flags & ZS_VMA_EXEC ? 'x' : '-', v[i].flags & ZS_VMA_SHARED ? 's' : 'p',
                    0};
    unsigned long long len = (unsigned long long)(v[i].end - v[i].start);
    bytes[m.kind] += len;
    counts[m.kind]++;
    unsigned facts = named_file(pid, &v[i], m.kind) ? ZS_FACT_NAMED : 0;
    bool kept = facts && !zs_state.cfg.named_files_zap; /* zapshim leaves its data too */
    printf("%016lx-%016lx %6s %-4s %-15s %-26s %s\n", (unsigned long)v[i].start,
           (unsigned long)v[i].end, human(len, sz, sizeof sz), perm, zapshim_kind_name(m.kind),
           call_for(m.kind, facts, caps), v[i].name);
    const char *w = warning_for(m.kind, caps), *note = note_for(m.kind);
    shared_zapped += !kept && (m.kind == ZAPSHIM_KIND_SHMEM_SHARED ||
                               m.kind == ZAPSHIM_KIND_HUGETLB_SHARED ||
                               m.kind == ZAPSHIM_KIND_GUEST_MEMFD);
    if (facts)
      printf("  named: still linked, anyone may open it; %s\n",
             kept ? "zapshim keeps its data (ZAPSHIM_NAMED_FILES=zap frees it)"
                  : "ZAPSHIM_NAMED_FILES=zap: zapshim frees it like memfd");
    if (w && kept) {
      /* no warning: zapshim does not zap it either, on purpose */
    } else if (w) {
      printf("  WARNING: %s\n", w);
      warns++;
      warn_bytes += len;
    } else if (note) {
      printf("  note: %s\n", note);
    }
  }
  printf("\nsummary:");
  for (int k = 0; k < ZAPSHIM_KIND_COUNT; k++)
    if (counts[k])
      printf(" %s %u (%s);", zapshim_kind_name(k), counts[k], human(bytes[k], sz, sizeof sz));
  printf("\n%u mapping(s), %s, that a plain madvise(MADV_DONTNEED) would not zap%s\n", warns,
         human(warn_bytes, sz, sizeof sz),
         warns && !shim && !traced ? ": run the program under zapshim" : "");
  if (shared_zapped)
    printf("\nA translated MADV_DONTNEED frees shared memory for every process that maps it (a "
           "fork child,\na vhost-user backend): the point for guest RAM, a loss for a program "
           "that relied on the\nkernel keeping it.  Scope zapshim to the VMM with "
           "ZAPSHIM_RESTRICT_EXE (--restrict-exe)\nand to kinds with ZAPSHIM_NAMED_FILES "
           "(--named-files).\n");
  free(v);
  return 0;
}
