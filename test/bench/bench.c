/*
 * bench.c - zapbench: what libzapshim costs, measured against the bare calls.
 *
 * One binary, several modes:
 *
 *   zapbench drive --lib PATH [--empty PATH] [--reps N] [--quick] [--lives L,..] [--out DIR]
 *                  [--source TEXT] [--paths NAME,..]
 *       The driver.  Runs the modes below as child processes, alternately
 *       without and with LD_PRELOAD=PATH (order ABBA over the repetitions;
 *       the per-call paths: two serving workers, ABBA run by run, several
 *       runs of each path per repetition), collects their JSON lines, prints
 *       the table of medians and of the median ratio over with/without
 *       pairs, with PASS/MISS per target (issue 11's goal), and writes
 *       DIR/results.json, DIR/results.dat (for plot.gp) and DIR/table.txt.
 *       TEXT (what was built, e.g. git describe --dirty) goes in both.
 *       --paths: only the named per-call paths and 1 GiB zaps (their names
 *       as in results.json), no memory or process start measure: for
 *       comparing two builds of one path quickly.
 *   zapbench worker [--serve] [--shim] [--quick] [--shape anon|mixed] [--lives L,..]
 *       Per-call paths at each number of extra live mappings of the given
 *       shape; one JSON line per (path, live count): the median ns per call
 *       over its batches.  --serve: one command per stdin line instead
 *       ("grow N", "run PATH"), which the driver uses to alternate a
 *       worker without and one with the shim run by run.  anon: one-page anonymous private mappings,
 *       alternately read-only and read-write (no two merge into one VMA);
 *       mixed: the same, but every other one a one-page MAP_SHARED mapping
 *       of one memfd at its own offset (no two anonymous ones are neighbours,
 *       so no registry can coalesce them either).
 *   zapbench big [--shim] [--quick]
 *       1 GiB zaps of hugetlbfs and of shmem (with the shim: DONTNEED, which
 *       it translates; without: MADV_REMOVE, the right call).
 *   zapbench mem [--shim] [--quick] [--shape anon|mixed|shared]
 *       Anonymous memory added to the process by creating N mappings of the
 *       shape (shared: every one a one-page MAP_SHARED memfd mapping).
 *   zapbench exec --lib PATH [--empty PATH] [--quick]
 *       fork+exec+wait of /bin/true, alternately without and with the preload
 *       (and with a preloaded library that does nothing, for reference).
 *   zapbench check-json FILE
 *       Exit 0 if FILE holds one well-formed JSON value.
 *
 * The bench never links the shim: it calls the libc mmap/munmap/madvise,
 * which LD_PRELOAD puts the shim in front of, as for any program.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1U
#endif

#define KIB ((size_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define HPAGE (2 * MIB)

#define MAX_LIVES 8
#define MAX_REPS 64
#define MAX_SAMPLES 1024 /* per side of one result: reps x rounds */

extern char **environ;

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/* die - print a message (and errno's text if set) to stderr and exit 1.
 * Never returns. */
__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...) {
  int e = errno;
  va_list ap;
  fprintf(stderr, "zapbench: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (e)
    fprintf(stderr, ": %s", strerror(e));
  fputc('\n', stderr);
  exit(1);
}

/* now_ns - CLOCK_MONOTONIC in nanoseconds. */
static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* cmp_double - qsort order for doubles, ascending. Returns -1, 0 or 1. */
static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* median - the median of v[0..n) (mean of the middle two for even n); v is
 * sorted in place. Returns NAN for n == 0. */
static double median(double *v, int n) {
  if (n <= 0)
    return NAN;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* shim_present - true if libzapshim is in this process (its public API
 * resolves). */
static bool shim_present(void) {
  return dlsym(RTLD_DEFAULT, "zapshim_query") != NULL;
}

/* Where a result was measured: the shape of the extra live mappings
 * ("anon", "mixed", "shared"; "none" where they play no part), their
 * number, and whether the shim is loaded. */
struct ctx {
  const char *shape;
  long live;
  int shim;
  const struct sizes *s;
};

/* emit - one result line on stdout:
 * {"test":..,"shape":..,"live":..,"shim":..,"value":..}. */
static void emit(const struct ctx *c, const char *test, double value) {
  printf("{\"test\":\"%s\",\"shape\":\"%s\",\"live\":%ld,\"shim\":%d,\"value\":%.3f}\n", test,
         c->shape, c->live, c->shim, value);
  fflush(stdout);
}

/* note - a free-text remark on stdout as {"note":"..."}; the driver passes
 * it on. The text must hold no '"' or '\\'. */
__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  printf("{\"note\":\"%s\"}\n", buf);
  fflush(stdout);
}

/* pin_to - bind the calling thread to CPU cpu (modulo the CPU count); a
 * failure is ignored (the numbers are then only noisier). */
static void pin_to(int cpu) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 2)
    return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % (int)n, &set);
  (void)sched_setaffinity(0, sizeof set, &set);
}

/* meminfo_kb - the value (kB, or a plain count) of field key ("HugePages_Free:")
 * in /proc/meminfo, or -1 if absent. */
static long meminfo_kb(const char *file, const char *key) {
  FILE *f = fopen(file, "re");
  if (!f)
    return -1;
  char line[256];
  long v = -1;
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, kl) == 0) {
      v = strtol(line + kl, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

/* count_vmas - lines in /proc/self/maps: the number of VMAs. -1 on error. */
static long count_vmas(void) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  char buf[65536];
  long lines = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    for (ssize_t i = 0; i < n; i++)
      lines += buf[i] == '\n';
  close(fd);
  return lines;
}

/* hugetlbfs_dir - where to make hugetlbfs files: $ZAPBENCH_HUGETLBFS or the
 * first hugetlbfs mount in /proc/mounts. Returns a static string or NULL. */
static const char *hugetlbfs_dir(void) {
  static char dir[256];
  const char *env = getenv("ZAPBENCH_HUGETLBFS");
  if (env && *env)
    return env;
  FILE *f = fopen("/proc/mounts", "re");
  if (!f)
    return NULL;
  char dev[256], mnt[256], type[64];
  const char *found = NULL;
  while (fscanf(f, "%255s %255s %63s %*[^\n]", dev, mnt, type) == 3) {
    if (strcmp(type, "hugetlbfs") == 0) {
      snprintf(dir, sizeof dir, "%s", mnt);
      found = dir;
      break;
    }
  }
  fclose(f);
  return found;
}

/* hugetlb_file - an unlinked file of len bytes on hugetlbfs, open O_RDWR.
 * Returns its descriptor, or -1 (errno set) if there is no hugetlbfs. */
static int hugetlb_file(size_t len) {
  const char *dir = hugetlbfs_dir();
  if (!dir) {
    errno = ENOENT;
    return -1;
  }
  char path[512];
  snprintf(path, sizeof path, "%s/zapbench-%d-%lu", dir, (int)getpid(), (unsigned long)now_ns());
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  unlink(path);
  if (ftruncate(fd, (off_t)len) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* shmem_file - a memfd of len bytes. Returns its descriptor; dies on failure. */
static int shmem_file(size_t len) {
  int fd = (int)syscall(SYS_memfd_create, "zapbench", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
    die("memfd of %zu bytes", len);
  return fd;
}

/* parse_lives - "0,1000,20000" into lives[] (at most MAX_LIVES). Returns
 * the count; dies on a malformed list. */
static int parse_lives(const char *s, long *lives) {
  int n = 0;
  while (*s) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 0 || n == MAX_LIVES)
      die("bad --lives list");
    lives[n++] = v;
    s = *end == ',' ? end + 1 : end;
  }
  return n;
}

/* ------------------------------------------------------------------ */
/* Per-call paths (worker mode)                                        */
/* ------------------------------------------------------------------ */

/* What one timed loop works on. */
struct loop {
  char *base;       /* the region the calls touch and zap */
  size_t unit;      /* bytes per call: page or mapping size */
  unsigned npages;  /* the loop cycles through this many units of base */
  unsigned next;    /* next unit to use; churn loops: calls not placed at base */
  int advice;       /* MADV_* to call */
  bool touch;       /* write a byte before each zap */
  bool confirm;     /* ask the kernel what is mapped there first (confirm_at) */
  bool named;       /* ... and its name (a file that may still be linked) */
};

/* loop_churn - calls x (mmap + munmap of l->unit bytes, anonymous private),
 * at l->base as a hint (not MAP_FIXED); l->next counts the calls that the
 * kernel placed elsewhere. */
static void loop_churn(struct loop *l, unsigned calls) {
  for (unsigned i = 0; i < calls; i++) {
    void *p = mmap(l->base, l->unit, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      die("mmap");
    l->next += p != l->base;
    if (munmap(p, l->unit) != 0)
      die("munmap");
  }
}

/* loop_churn_zap - calls x (mmap of l->unit bytes anonymous private at the
 * hint l->base, touch its first page, MADV_DONTNEED, munmap): what a
 * thread of an allocator does; l->next counts mappings placed elsewhere. */
static void loop_churn_zap(struct loop *l, unsigned calls) {
  for (unsigned i = 0; i < calls; i++) {
    char *p = mmap(l->base, l->unit, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      die("mmap");
    l->next += p != l->base;
    *(volatile char *)p = 1;
    if (madvise(p, l->unit, MADV_DONTNEED) != 0)
      die("madvise(DONTNEED)");
    if (munmap(p, l->unit) != 0)
      die("munmap");
  }
}

/* PROCMAP_QUERY (linux/fs.h, 6.11), for the confirmation floor. */
struct procmap_query {
  uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags, vma_page_size;
  uint64_t vma_offset, inode;
  uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
  uint64_t vma_name_addr, build_id_addr;
};
#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10

/* confirm_at - the kernel's view of the mapping at p, asked as the shim
 * asks it before it does more than the program's call (rule 1): one
 * PROCMAP_QUERY on /proc/self/maps, with the name if named (a file that
 * may still be linked is told by its name), else without.  This is the
 * floor of any translated zap: the right call plus this one.  Dies if the
 * kernel cannot answer. */
static void confirm_at(void *p, bool named) {
  static int fd = -1;
  if (fd < 0 && (fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)) < 0)
    die("open /proc/self/maps");
  char name[256];
  struct procmap_query q = {.size = sizeof q, .query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA,
                            .query_addr = (uintptr_t)p,
                            .vma_name_addr = named ? (uintptr_t)name : 0,
                            .vma_name_size = named ? sizeof name : 0};
  if (ioctl(fd, PROCMAP_QUERY, &q) != 0)
    die("PROCMAP_QUERY");
}

/* loop_zap - calls x (optionally touch one unit, then madvise it with
 * l->advice), cycling over the units of the region. */
static void loop_zap(struct loop *l, unsigned calls) {
  for (unsigned i = 0; i < calls; i++) {
    char *p = l->base + (size_t)l->next * l->unit;
    if (++l->next == l->npages)
      l->next = 0;
    if (l->touch)
      *(volatile char *)p = 1;
    if (l->confirm)
      confirm_at(p, l->named);
    if (madvise(p, l->unit, l->advice) != 0)
      die("madvise(%d)", l->advice);
  }
}

typedef void (*loop_fn)(struct loop *, unsigned);

/* time_batches - one warm-up batch, then `batches` batches of `calls`
 * calls of fn. Returns the median ns per call. */
static double time_batches(loop_fn fn, struct loop *l, unsigned calls, int batches) {
  double v[32];
  if (batches > 32)
    batches = 32;
  fn(l, calls);
  for (int b = 0; b < batches; b++) {
    uint64_t t0 = now_ns();
    fn(l, calls);
    v[b] = (double)(now_ns() - t0) / calls;
  }
  return median(v, batches);
}

/* Sizes of the runs: calls per batch for each kind of path, batches per
 * run of a path, and runs of each path per side and repetition (rounds:
 * the driver alternates the two sides run by run, so that each run of one
 * side has a run of the other right beside it in time; a batch is kept
 * short, ~5 ms, for the same reason). */
struct sizes {
  unsigned calls_small;  /* per batch: mmap+munmap, anonymous DONTNEED (~2-3 us: ~5 ms) */
  unsigned calls_shmem;  /* per batch: the memfd paths and each of 2 threads (~7-15 us: ~5-10 ms) */
  unsigned calls_4t;     /* per batch and thread: the 4-thread rounds (~35 us on 2 CPUs: ~5 ms) */
  unsigned calls_huge;   /* per batch: 2 MiB paths (~45 us: ~2 ms) */
  int batches;
  int rounds;
  long mem_count;        /* mappings for the memory measure */
  size_t big_len;        /* size of the "1 GiB" zaps */
  int big_reps;
  int exec_reps;
};

/* sizes_for - the full or the quick (smoke test) sizes. */
static struct sizes sizes_for(bool quick) {
  if (quick)
    return (struct sizes){.calls_small = 200, .calls_shmem = 100, .calls_4t = 50, .calls_huge = 4,
                          .batches = 3, .rounds = 1, .mem_count = 1000, .big_len = 16 * MIB,
                          .big_reps = 1, .exec_reps = 10};
  return (struct sizes){.calls_small = 2000, .calls_shmem = 650, .calls_4t = 150, .calls_huge = 50,
                        .batches = 2, .rounds = 16, .mem_count = 60000, .big_len = GIB,
                        .big_reps = 3, .exec_reps = 300};
}

/* map_or_die - mmap that dies on failure. Returns the mapping. */
static char *map_or_die(size_t len, int prot, int flags, int fd) {
  void *p = mmap(NULL, len, prot, flags, fd, 0);
  if (p == MAP_FAILED)
    die("mmap of %zu bytes", len);
  return p;
}

/* guarded_hole - a hole of len bytes between two PROT_NONE pages: a place
 * to map at by hint where the kernel never merges the mapping with a
 * neighbour nor splits one at munmap (without the guards, whether it does
 * depends on what happens to lie next to it, which differs between runs
 * with and without the preload). Returns the hole's start; unguard_hole
 * releases it. */
static char *guarded_hole(size_t len) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  char *g = map_or_die(len + 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
  if (munmap(g + pg, len) != 0)
    die("munmap");
  return g + pg;
}

/* unguard_hole - unmap the guards (and anything left) around a hole made
 * by guarded_hole(len). */
static void unguard_hole(char *hole, size_t len) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  munmap(hole - pg, len + 2 * pg);
}

/* anon_guarded - len bytes of anonymous private read-write memory
 * between two PROT_NONE pages: never merged with a neighbour, whatever
 * lies next to it in either worker (at 0 live mappings the with-worker's
 * 64-page zap mapping merged into a 291-page VMA, the bare one's into one
 * of 67).  Mapped with MAP_FIXED over the middle of its own PROT_NONE
 * reservation, not at a hint into a hole: another thread of the path may
 * map meanwhile, and the kernel may put that into the hole.  Dies on
 * failure; free it with unguard_hole(p, len). */
static char *anon_guarded(size_t len) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  char *g = map_or_die(len + 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
  char *p = mmap(g + pg, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (p != g + pg)
    die("mmap over the middle of the reservation at %p", (void *)(g + pg));
  return p;
}

/* bench_churn - mmap+munmap of len bytes in a guarded hole; emits name. */
static void bench_churn(const struct ctx *c, const char *name, size_t len) {
  struct loop l = {.base = guarded_hole(len), .unit = len};
  emit(c, name, time_batches(loop_churn, &l, c->s->calls_small, c->s->batches));
  if (l.next)
    note("%s: %u of the mappings were not placed at the hint", name, l.next);
  unguard_hole(l.base, len);
}

/* bench_anon_zap - touch (or not) + MADV_DONTNEED over 64 pages of one
 * anonymous private mapping; emits name. */
static void bench_anon_zap(const struct ctx *c, const char *name, bool touch) {
  const unsigned n = 64;
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  struct loop l = {.base = anon_guarded(n * pg),
                   .unit = pg, .npages = n, .advice = MADV_DONTNEED, .touch = touch};
  emit(c, name, time_batches(loop_zap, &l, c->s->calls_small, c->s->batches));
  unguard_hole(l.base, n * pg);
}

/* check_shmem_freed - true if one touch + advice on the first page of a
 * fresh shared memfd mapping leaves the file with no blocks. */
static bool check_shmem_freed(int advice) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  int fd = shmem_file(pg);
  char *p = map_or_die(pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
  struct stat st;
  p[0] = 1;
  bool ok = madvise(p, pg, advice) == 0 && fstat(fd, &st) == 0 && st.st_blocks == 0;
  munmap(p, pg);
  close(fd);
  return ok;
}

/* bench_shmem_zap - touch + advice on 64 pages of a shared memfd mapping,
 * each asked of the kernel first if confirm (confirm_at); emits name. */
static void bench_shmem_zap(const struct ctx *c, const char *name, int advice, bool confirm) {
  const unsigned n = 64;
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  int fd = shmem_file(n * pg);
  struct loop l = {.base = map_or_die(n * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd),
                   .unit = pg, .npages = n, .advice = advice, .touch = true,
                   .confirm = confirm};
  emit(c, name, time_batches(loop_zap, &l, c->s->calls_shmem, c->s->batches));
  munmap(l.base, n * pg);
  close(fd);
}

/* bench_hugetlb_zap - touch + advice on one 2 MiB page of a shared
 * hugetlbfs file, asked of the kernel first (with the name: the file was
 * made by path) if confirm; emits name, after checking once (at 0 live
 * mappings, unless confirm) that the page is given back to the pool.
 * Skips (with a note) if hugetlbfs is unusable. */
static void bench_hugetlb_zap(const struct ctx *c, const char *name, int advice, bool confirm) {
  int fd = hugetlb_file(HPAGE);
  if (fd < 0) {
    note("%s skipped: no usable hugetlbfs (%s)", name, strerror(errno));
    return;
  }
  void *m = mmap(NULL, HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) {
    note("%s skipped: hugetlbfs mmap failed (%s)", name, strerror(errno));
    close(fd);
    return;
  }
  struct loop l = {.base = m, .unit = HPAGE, .npages = 1, .advice = advice, .touch = true,
                   .confirm = confirm, .named = true};
  if (c->live == 0 && !confirm) {
    long before = meminfo_kb("/proc/meminfo", "HugePages_Free:");
    loop_zap(&l, 1);
    long after = meminfo_kb("/proc/meminfo", "HugePages_Free:");
    emit(c, "check_freed_hugetlb", after >= before ? 1 : 0);
  }
  emit(c, name, time_batches(loop_zap, &l, c->s->calls_huge, c->s->batches));
  munmap(m, HPAGE);
  close(fd);
}

/* One thread of a multi-thread path. */
struct thread_arg {
  int cpu;
  unsigned calls;
  int batches;
  bool churn;       /* false: touch+DONTNEED of own pages; true: mmap+touch+DONTNEED+munmap */
  pthread_barrier_t *bar;
  double ns;        /* result: median ns per call (per round) in this thread */
  unsigned missed;  /* churn: mappings the kernel did not place at the hint */
};

/* thread_main - the thread's loop: either touch + DONTNEED on 64 pages of
 * its own mapping, or mmap + touch + DONTNEED + munmap of one page in its
 * own guarded hole. All threads start every batch together (a barrier), so
 * each batch is timed while the others run too. Returns NULL; result in
 * arg->ns. */
static void *thread_main(void *argp) {
  struct thread_arg *a = argp;
  const unsigned n = 64;
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  pin_to(a->cpu);
  struct loop l;
  loop_fn fn;
  if (a->churn) {
    l = (struct loop){.base = guarded_hole(pg), .unit = pg};
    fn = loop_churn_zap;
  } else {
    l = (struct loop){.base = anon_guarded(n * pg),
                      .unit = pg, .npages = n, .advice = MADV_DONTNEED, .touch = true};
    fn = loop_zap;
  }
  double v[32];
  int nb = a->batches > 32 ? 32 : a->batches;
  pthread_barrier_wait(a->bar);
  fn(&l, a->calls); /* warm-up */
  for (int b = 0; b < nb; b++) {
    pthread_barrier_wait(a->bar);
    uint64_t t0 = now_ns();
    fn(&l, a->calls);
    v[b] = (double)(now_ns() - t0) / a->calls;
  }
  a->ns = median(v, nb);
  if (a->churn) {
    a->missed = l.next;
    unguard_hole(l.base, pg);
  } else {
    unguard_hole(l.base, n * pg);
  }
  return NULL;
}

/* bench_threads - nthreads (at most 8) threads at once, thread i pinned to
 * CPU i modulo the CPU count, each running thread_main's loop (churn: the
 * mmap+touch+DONTNEED+munmap round; else touch+DONTNEED); emits name: the
 * mean over the threads of their median ns per call. */
static void bench_threads(const struct ctx *c, const char *name, int nthreads, bool churn,
                          unsigned calls) {
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, (unsigned)nthreads);
  struct thread_arg a[8];
  pthread_t t[8];
  for (int i = 0; i < nthreads; i++) {
    a[i] = (struct thread_arg){.cpu = i, .calls = calls, .batches = c->s->batches, .churn = churn,
                               .bar = &bar};
    if (pthread_create(&t[i], NULL, thread_main, &a[i]) != 0)
      die("pthread_create");
  }
  double sum = 0;
  unsigned missed = 0;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(t[i], NULL);
    sum += a[i].ns;
    missed += a[i].missed;
  }
  pthread_barrier_destroy(&bar);
  emit(c, name, sum / nthreads);
  if (missed)
    note("%s: %u of the mappings were not placed at the hint", name, missed);
}

/* A thread mapping and unmapping one page in a loop until told to stop. */
struct churner {
  struct loop l;
  _Atomic int stop;
};

static void *churner_main(void *p) {
  struct churner *ch = p;
  pin_to(1);
  while (!atomic_load(&ch->stop))
    loop_churn(&ch->l, 64);
  return NULL;
}

/* bench_beside_churner - touch + MADV_DONTNEED over 64 pages of one
 * anonymous mapping on CPU 0 while another thread (CPU 1) maps and unmaps
 * a page in a loop the whole time: each of its changes invalidates the
 * zapping thread's note of its last mapping, so every zap takes the
 * registry's read path while a writer is busy; emits name: the zapping
 * thread's median ns per call. */
static void bench_beside_churner(const struct ctx *c, const char *name) {
  const unsigned n = 64;
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  struct churner ch = {.l = {.base = guarded_hole(pg), .unit = pg}};
  pthread_t t;
  if (pthread_create(&t, NULL, churner_main, &ch) != 0)
    die("pthread_create");
  pin_to(0);
  struct loop l = {.base = anon_guarded(n * pg),
                   .unit = pg, .npages = n, .advice = MADV_DONTNEED, .touch = true};
  emit(c, name, time_batches(loop_zap, &l, c->s->calls_small, c->s->batches));
  atomic_store(&ch.stop, 1);
  pthread_join(t, NULL);
  unguard_hole(l.base, n * pg);
  unguard_hole(ch.l.base, pg);
}

/* The extra live mappings of one shape, kept until the process ends. */
struct live_set {
  char **v;     /* the mappings (capacity: the largest count asked) */
  long have;
  int shape;    /* SHAPE_* */
  int fd;       /* mixed, shared: the memfd the shared ones map, else -1 */
};

enum { SHAPE_ANON, SHAPE_MIXED, SHAPE_SHARED };
static const char *const shape_names[] = {"anon", "mixed", "shared"};

/* parse_shape - "anon", "mixed" or "shared" to SHAPE_*; dies otherwise. */
static int parse_shape(const char *s) {
  for (int i = 0; i < 3; i++)
    if (strcmp(s, shape_names[i]) == 0)
      return i;
  die("bad --shape %s", s);
}

/* live_init - an empty set of shape for up to cap mappings (the mixed and
 * shared shapes make a memfd of cap pages, never touched). Dies on failure. */
static void live_init(struct live_set *ls, int shape, long cap) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  ls->v = calloc((size_t)cap + 1, sizeof *ls->v);
  if (!ls->v)
    die("calloc");
  for (long i = 0; i <= cap; i++) /* the array's own pages, before any memory reading */
    ((char *volatile *)ls->v)[i] = NULL;
  ls->have = 0;
  ls->shape = shape;
  ls->fd = shape == SHAPE_ANON ? -1 : shmem_file(((size_t)cap + 1) * pg);
}

/* live_grow - bring the number of extra live one-page mappings to want,
 * so that no two merge into one VMA. anon: all private anonymous,
 * alternately read-only and read-write; mixed: odd ones MAP_SHARED of the
 * memfd at page offset i (between any two anonymous ones lies a shared
 * one), and each kind alternately read-only and read-write; shared: all of
 * them MAP_SHARED of the memfd, each at its own offset, alternately
 * read-only and read-write. */
static void live_grow(struct live_set *ls, long want) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  for (long i = ls->have; i < want; i++) {
    long alt = ls->shape == SHAPE_MIXED ? i >> 1 : i;
    int prot = (alt & 1) ? PROT_READ : PROT_READ | PROT_WRITE;
    bool shared = ls->shape == SHAPE_SHARED || (ls->shape == SHAPE_MIXED && (i & 1));
    void *p = shared ? mmap(NULL, pg, prot, MAP_SHARED, ls->fd, (off_t)((size_t)i * pg))
                     : mmap(NULL, pg, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      die("live mapping %ld of %ld", i, want);
    ls->v[i] = p;
  }
  if (want > ls->have)
    ls->have = want;
}

/* Per-call paths by name, for the serve mode and the one-shot worker. */
static const char *const path_names[] = {"churn4k", "churn64k", "dontneed4k", "dontneed4k_cold",
                                         "remove_shmem", "xlate_shmem", "xlate_hugetlb",
                                         "xlate_shmem_q", "xlate_hugetlb_q",
                                         "dontneed4k_2t", "churnzap_4t", "dontneed4k_churner"};
#define NPATH_NAMES (sizeof path_names / sizeof path_names[0])

/* The 1 GiB zaps: served like the paths, but only at 0 live mappings. */
static const char *const big_path_names[] = {"zap1g_hugetlb", "zap1g_hugetlb_q", "zap1g_shmem"};
#define NBIG_PATHS (sizeof big_path_names / sizeof big_path_names[0])
static bool run_big_path(const struct ctx *c, const char *name, int reps);

/* run_path - measure path name at c (emits its result). Returns false if
 * name is not a path. */
static bool run_path(const struct ctx *c, const char *name) {
  int xlate = c->shim ? MADV_DONTNEED : MADV_REMOVE;
  if (strcmp(name, "churn4k") == 0)
    bench_churn(c, name, 4 * KIB);
  else if (strcmp(name, "churn64k") == 0)
    bench_churn(c, name, 64 * KIB);
  else if (strcmp(name, "dontneed4k") == 0)
    bench_anon_zap(c, name, true);
  else if (strcmp(name, "dontneed4k_cold") == 0)
    bench_anon_zap(c, name, false);
  else if (strcmp(name, "remove_shmem") == 0)
    bench_shmem_zap(c, name, MADV_REMOVE, false);
  /* the translated paths: with the shim the program's DONTNEED, without it
   * the call that really frees the memory (what the shim turns it into). */
  else if (strcmp(name, "xlate_shmem") == 0)
    bench_shmem_zap(c, name, xlate, false);
  else if (strcmp(name, "xlate_hugetlb") == 0)
    bench_hugetlb_zap(c, name, xlate, false);
  /* the same, against the floor rule 1 sets: without the shim, the right
   * call after the kernel's view of the mapping asked as the shim asks it */
  else if (strcmp(name, "xlate_shmem_q") == 0)
    bench_shmem_zap(c, name, xlate, !c->shim);
  else if (strcmp(name, "xlate_hugetlb_q") == 0)
    bench_hugetlb_zap(c, name, xlate, !c->shim);
  else if (strcmp(name, "dontneed4k_2t") == 0)
    bench_threads(c, name, 2, false, c->s->calls_shmem);
  else if (strcmp(name, "churnzap_4t") == 0)
    bench_threads(c, name, 4, true, c->s->calls_4t);
  else if (strcmp(name, "dontneed4k_churner") == 0)
    bench_beside_churner(c, name);
  else if (!run_big_path(c, name, 1))
    return false;
  pin_to(1);
  return true;
}

/* worker_start - the worker's set-up: checks that the shim is loaded iff
 * asked, pins to CPU 1, emits check_freed_shmem. Dies on a mismatch. */
static void worker_start(const struct ctx *c) {
  if (c->shim != shim_present())
    die("worker --shim=%d but the shim is %s", c->shim, shim_present() ? "loaded" : "not loaded");
  pin_to(1);
  emit(c, "check_freed_shmem", check_shmem_freed(c->shim ? MADV_DONTNEED : MADV_REMOVE));
}

/* run_worker - every per-call path at each live count of the shape; JSON
 * lines out. Returns the exit status (0). */
static int run_worker(bool shim, bool quick, int shape, const long *lives, int nlives) {
  struct sizes s = sizes_for(quick);
  long maxlive = 0;
  for (int i = 0; i < nlives; i++)
    if (lives[i] > maxlive)
      maxlive = lives[i];
  struct live_set ls;
  live_init(&ls, shape, maxlive);
  struct ctx c = {.shape = shape_names[shape], .live = 0, .shim = shim ? 1 : 0, .s = &s};
  worker_start(&c);
  for (int i = 0; i < nlives; i++) {
    c.live = lives[i];
    live_grow(&ls, c.live);
    emit(&c, "vmas", (double)count_vmas());
    for (size_t p = 0; p < NPATH_NAMES; p++)
      run_path(&c, path_names[p]);
  }
  free(ls.v); /* the array only; the mappings stay until exit */
  return 0;
}

/* run_serve - the worker driven line by line on stdin, so that the driver
 * can keep one process without and one with the shim side by side and
 * alternate them path by path: "grow N" (live mappings to N, emits vmas),
 * "run PATH", "quit". Each command is answered by {"done":1} after its
 * results. Returns the exit status (0 at quit or end of input). */
static int run_serve(bool shim, bool quick, int shape, long maxlive) {
  struct sizes s = sizes_for(quick);
  struct live_set ls;
  live_init(&ls, shape, maxlive);
  struct ctx c = {.shape = shape_names[shape], .live = 0, .shim = shim ? 1 : 0, .s = &s};
  worker_start(&c);
  printf("{\"done\":1}\n");
  fflush(stdout);
  char line[128], arg[64];
  long n;
  while (fgets(line, sizeof line, stdin)) {
    if (sscanf(line, "grow %ld", &n) == 1 && n >= 0 && n <= maxlive) {
      c.live = n;
      live_grow(&ls, n);
      emit(&c, "vmas", (double)count_vmas());
    } else if (sscanf(line, "run %63s", arg) == 1 && run_path(&c, arg)) {
      /* results emitted */
    } else if (strncmp(line, "quit", 4) == 0) {
      break;
    } else {
      note("serve: bad command %.60s", line);
    }
    printf("{\"done\":1}\n");
    fflush(stdout);
  }
  free(ls.v); /* the array only; the mappings stay until exit */
  return 0;
}

/* ------------------------------------------------------------------ */
/* 1 GiB zaps, memory per mapping, process start                       */
/* ------------------------------------------------------------------ */

/* touch_all - write one byte in every `step` bytes of [p, p+len). */
static void touch_all(char *p, size_t len, size_t step) {
  for (size_t o = 0; o < len; o += step)
    p[o] = 1;
}

/* big_zap - fill a len-byte shared mapping of fd, then time one madvise
 * of it with advice (after confirm_at, with the name, if confirm); reps
 * times. Emits the median in ns (one call), and whether the file was left
 * with no blocks (unless confirm). If the
 * mapping cannot be made (huge pages taken by another tenant meanwhile),
 * says so in a note and emits nothing. */
static void big_zap(const struct ctx *c, const char *name, int fd, size_t len, size_t step, int advice,
                    bool confirm, int reps) {
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    note("%s skipped: mmap of %zu bytes: %s", name, len, strerror(errno));
    return;
  }
  double v[16];
  if (reps > 16)
    reps = 16;
  for (int r = 0; r < reps; r++) {
    touch_all(p, len, step);
    uint64_t t0 = now_ns();
    if (confirm)
      confirm_at(p, true);
    if (madvise(p, len, advice) != 0)
      die("madvise(%d) of %zu bytes", advice, len);
    v[r] = (double)(now_ns() - t0);
  }
  struct stat st;
  if (!confirm && fstat(fd, &st) == 0)
    emit(c, strcmp(name, "zap1g_shmem") == 0 ? "check_freed_zap1g_shmem" : "check_freed_zap1g_hugetlb",
         st.st_blocks == 0 ? 1 : 0);
  emit(c, name, median(v, reps));
  munmap(p, len);
}

/* run_big_path - the 1 GiB zap name ("zap1g_hugetlb", "zap1g_hugetlb_q",
 * "zap1g_shmem"), reps times on one new file (with the shim: DONTNEED,
 * which it translates; without: MADV_REMOVE, and for _q the kernel's view
 * asked first as the shim asks it); emits the median as shape "none",
 * live 0.  Returns false if name is not one of them. */
static bool run_big_path(const struct ctx *c, const char *name, int reps) {
  struct ctx none = *c;
  none.shape = "none";
  none.live = 0;
  size_t len = c->s->big_len;
  int advice = c->shim ? MADV_DONTNEED : MADV_REMOVE;
  if (strcmp(name, "zap1g_shmem") == 0) {
    int fd = shmem_file(len);
    big_zap(&none, name, fd, len, (size_t)sysconf(_SC_PAGESIZE), advice, false, reps);
    close(fd);
    return true;
  }
  bool q = strcmp(name, "zap1g_hugetlb_q") == 0;
  if (!q && strcmp(name, "zap1g_hugetlb") != 0)
    return false;
  /* free pages reserved by another process's mapping are not ours */
  long free_pages = meminfo_kb("/proc/meminfo", "HugePages_Free:") -
                    meminfo_kb("/proc/meminfo", "HugePages_Rsvd:");
  int fd = free_pages >= (long)(len / HPAGE) ? hugetlb_file(len) : -1;
  if (fd < 0) {
    note("%s skipped: %ld free and unreserved huge pages, %zu needed", name, free_pages, len / HPAGE);
    return true;
  }
  big_zap(&none, name, fd, len, HPAGE, advice, q && !c->shim, reps);
  close(fd);
  return true;
}

/* run_big - the 1 GiB zaps of hugetlbfs and shmem, each big_reps times.
 * Returns 0. */
static int run_big(bool shim, bool quick) {
  struct sizes s = sizes_for(quick);
  if (shim != shim_present())
    die("big --shim=%d but the shim is %s", shim, shim_present() ? "loaded" : "not loaded");
  struct ctx c = {.shape = "none", .live = 0, .shim = shim ? 1 : 0, .s = &s};
  pin_to(1);
  for (size_t k = 0; k < NBIG_PATHS; k++)
    run_big_path(&c, big_path_names[k], s.big_reps);
  return 0;
}

/* anon_kb - "Anonymous:" of /proc/self/smaps_rollup in kB, -1 if absent. */
static long anon_kb(void) {
  return meminfo_kb("/proc/self/smaps_rollup", "Anonymous:");
}

/* run_mem - anonymous memory (bytes) the process gains by creating N
 * one-page mappings of shape (SHAPE_*); emits "mem_delta" with live = N.
 * Returns 0. */
static int run_mem(bool shim, bool quick, int shape) {
  struct sizes s = sizes_for(quick);
  struct ctx c = {.shape = shape_names[shape], .live = s.mem_count, .shim = shim ? 1 : 0, .s = &s};
  if (shim != shim_present())
    die("mem --shim=%d but the shim is %s", c.shim, shim_present() ? "loaded" : "not loaded");
  struct live_set ls;
  live_init(&ls, shape, c.live); /* the array and the memfd before the first reading */
  long before = anon_kb();
  live_grow(&ls, c.live);
  long after = anon_kb();
  if (before < 0 || after < 0)
    die("no Anonymous: in /proc/self/smaps_rollup");
  emit(&c, "mem_delta", (double)(after - before) * 1024.0);
  free(ls.v); /* the array only; the mappings stay until exit */
  return 0;
}

/* spawn_true - fork, exec /bin/true with env, wait. Returns the elapsed ns. */
static double spawn_true(char **env) {
  static char *argv[] = {"true", NULL};
  uint64_t t0 = now_ns();
  pid_t pid = fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    execve("/bin/true", argv, env);
    _exit(127);
  }
  int st;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    die("/bin/true failed (status %d)", st);
  return (double)(now_ns() - t0);
}

/* make_env - a copy of environ without LD_PRELOAD, plus LD_PRELOAD=lib if
 * lib is not NULL. Returns a NULL-terminated array; free_env releases it. */
static char **make_env(const char *lib) {
  size_t n = 0;
  while (environ[n])
    n++;
  char **env = calloc(n + 2, sizeof *env);
  if (!env)
    die("calloc");
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
      env[k++] = environ[i];
  if (lib) {
    size_t len = strlen(lib) + 12;
    env[k] = malloc(len);
    if (!env[k])
      die("malloc");
    snprintf(env[k++], len, "LD_PRELOAD=%s", lib);
  }
  env[k] = NULL;
  return env;
}

/* free_env - release an array made by make_env (NULL is ignored): the
 * LD_PRELOAD entry is the only string it allocated. */
static void free_env(char **env) {
  if (!env)
    return;
  for (char **e = env; *e; e++)
    if (strncmp(*e, "LD_PRELOAD=", 11) == 0)
      free(*e);
  free(env);
}

/* run_exec - process start without the preload, with the shim and (if
 * empty is not NULL) with a preloaded library that does nothing, in
 * rotating order per round; emits the median µs of each ("exec_us" shim
 * 0/1, "exec_empty_us" 1 for the empty library). Returns 0. */
static int run_exec(const char *lib, const char *empty, bool quick) {
  struct sizes s = sizes_for(quick);
  char **env[3] = {make_env(NULL), make_env(lib), empty ? make_env(empty) : NULL};
  int kinds = empty ? 3 : 2, n = s.exec_reps;
  double *v[3];
  for (int k = 0; k < 3; k++)
    if (!(v[k] = calloc((size_t)n, sizeof *v[k])))
      die("calloc");
  pin_to(1);
  for (int i = 0; i < 5; i++) /* warm the page cache and the loader */
    for (int k = 0; k < kinds; k++)
      spawn_true(env[k]);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < kinds; j++) {
      int k = (i + j) % kinds;
      v[k][i] = spawn_true(env[k]);
    }
  struct ctx c = {.shape = "none", .live = 0, .shim = 0, .s = &s};
  emit(&c, "exec_us", median(v[0], n) / 1000.0);
  c.shim = 1;
  emit(&c, "exec_us", median(v[1], n) / 1000.0);
  if (empty)
    emit(&c, "exec_empty_us", median(v[2], n) / 1000.0);
  for (int k = 0; k < 3; k++) {
    free(v[k]);
    free_env(env[k]);
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* JSON check                                                          */
/* ------------------------------------------------------------------ */

/* A cursor over the JSON text. */
struct jcur {
  const char *p;
  int depth;
};

static bool j_value(struct jcur *c);

/* j_ws - skip JSON white space. */
static void j_ws(struct jcur *c) {
  while (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')
    c->p++;
}

/* j_string - a JSON string at the cursor. Returns true and moves past it. */
static bool j_string(struct jcur *c) {
  if (*c->p != '"')
    return false;
  for (c->p++; *c->p != '"'; c->p++) {
    if ((unsigned char)*c->p < 0x20)
      return false;
    if (*c->p == '\\') {
      c->p++;
      if (*c->p == 'u') {
        for (int i = 1; i <= 4; i++)
          if (!isxdigit((unsigned char)c->p[i]))
            return false;
        c->p += 4;
      } else if (!strchr("\"\\/bfnrt", *c->p) || !*c->p) {
        return false;
      }
    }
  }
  c->p++;
  return true;
}

/* j_number - a JSON number at the cursor (strict grammar). Returns true
 * and moves past it. */
static bool j_number(struct jcur *c) {
  const char *p = c->p;
  if (*p == '-')
    p++;
  if (*p == '0')
    p++;
  else if (*p >= '1' && *p <= '9')
    while (*p >= '0' && *p <= '9')
      p++;
  else
    return false;
  if (*p == '.') {
    p++;
    if (!(*p >= '0' && *p <= '9'))
      return false;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-')
      p++;
    if (!(*p >= '0' && *p <= '9'))
      return false;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  c->p = p;
  return true;
}

/* j_container - an object (close '}') or array (close ']') after its
 * opening bracket. Returns true and moves past the closing bracket. */
static bool j_container(struct jcur *c, char close) {
  if (++c->depth > 64)
    return false;
  j_ws(c);
  if (*c->p == close) {
    c->p++;
    c->depth--;
    return true;
  }
  for (;;) {
    j_ws(c);
    if (close == '}') {
      if (!j_string(c))
        return false;
      j_ws(c);
      if (*c->p++ != ':')
        return false;
    }
    if (!j_value(c))
      return false;
    j_ws(c);
    if (*c->p == ',') {
      c->p++;
      continue;
    }
    if (*c->p++ != close)
      return false;
    c->depth--;
    return true;
  }
}

/* j_value - any JSON value at the cursor. Returns true and moves past it. */
static bool j_value(struct jcur *c) {
  j_ws(c);
  switch (*c->p) {
  case '{': c->p++; return j_container(c, '}');
  case '[': c->p++; return j_container(c, ']');
  case '"': return j_string(c);
  case 't': return strncmp(c->p, "true", 4) == 0 ? (c->p += 4, true) : false;
  case 'f': return strncmp(c->p, "false", 5) == 0 ? (c->p += 5, true) : false;
  case 'n': return strncmp(c->p, "null", 4) == 0 ? (c->p += 4, true) : false;
  default: return j_number(c);
  }
}

/* run_check_json - exit status 0 if the file is one well-formed JSON
 * value, 1 (with a message) otherwise. */
static int run_check_json(const char *path) {
  FILE *f = fopen(path, "re");
  if (!f)
    die("%s", path);
  static char buf[4 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  struct jcur c = {.p = buf};
  bool ok = j_value(&c);
  j_ws(&c);
  if (!ok || *c.p) {
    fprintf(stderr, "zapbench: %s: not valid JSON near byte %td\n", path, c.p - buf);
    return 1;
  }
  printf("%s: valid JSON, %zu bytes\n", path, n);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Driver                                                              */
/* ------------------------------------------------------------------ */

/* All samples of one (test, shape, live): v[shim][i], in the order they
 * were measured; v[0][i] and v[1][i] were measured one right after the
 * other (a pair). */
struct rec {
  char test[32];
  char shape[8];
  long live;
  double v[2][MAX_SAMPLES];
  int n[2];
};

#define MAX_RECS 512
static struct rec recs[MAX_RECS];
static int nrecs;

/* rec_find - the record of (test, shape, live) or NULL. */
static struct rec *rec_find(const char *test, const char *shape, long live) {
  for (int i = 0; i < nrecs; i++)
    if (recs[i].live == live && strcmp(recs[i].test, test) == 0 && strcmp(recs[i].shape, shape) == 0)
      return &recs[i];
  return NULL;
}

/* rec_get - the record of (test, shape, live), created if new. Dies if full. */
static struct rec *rec_get(const char *test, const char *shape, long live) {
  struct rec *r = rec_find(test, shape, live);
  if (r)
    return r;
  if (nrecs == MAX_RECS)
    die("too many results");
  r = &recs[nrecs++];
  snprintf(r->test, sizeof r->test, "%s", test);
  snprintf(r->shape, sizeof r->shape, "%s", shape);
  r->live = live;
  return r;
}

/* rec_median - the median of r's samples for shim (0/1); NAN if r is NULL
 * or has none. */
static double rec_median(const struct rec *r, int shim) {
  if (!r || r->n[shim] == 0)
    return NAN;
  double tmp[MAX_SAMPLES];
  memcpy(tmp, r->v[shim], sizeof(double) * (size_t)r->n[shim]);
  return median(tmp, r->n[shim]);
}

/* rec_paired - with against without for r: the median over the pairs
 * (v[0][i], v[1][i], measured one right after the other) of with/without
 * in *ratio and of with - without in *added.  This machine's speed drifts
 * by 10-30% over tens of milliseconds (a shared VM), so a pair's two
 * halves see the same machine far more often than two medians taken a
 * second apart do; a slow spell over one half spoils only that pair.
 * Without as many samples on each side: the medians' ratio and
 * difference.  Both NAN if r is NULL or empty. */
static void rec_paired(const struct rec *r, double *ratio, double *added) {
  if (!r || r->n[0] == 0 || r->n[1] == 0) {
    *ratio = *added = NAN;
    return;
  }
  if (r->n[0] != r->n[1]) {
    *ratio = rec_median(r, 1) / rec_median(r, 0);
    *added = rec_median(r, 1) - rec_median(r, 0);
    return;
  }
  double q[MAX_SAMPLES], d[MAX_SAMPLES];
  for (int i = 0; i < r->n[0]; i++) {
    q[i] = r->v[1][i] / r->v[0][i];
    d[i] = r->v[1][i] - r->v[0][i];
  }
  *ratio = median(q, r->n[0]);
  *added = median(d, r->n[0]);
}

/* Seconds spent in each kind of child ("worker anon", "big", ...), for the
 * closing line that says where the run's time went. */
static struct {
  char name[24];
  double sec;
} child_time[8];

/* note_child_time - add sec to the child kind of args (mode, and shape if
 * given). */
static void note_child_time(char *const *args, double sec) {
  char name[24];
  const char *shape = "";
  for (int i = 2; args[i]; i++)
    if (strcmp(args[i], "--shape") == 0 && args[i + 1])
      shape = args[i + 1];
  snprintf(name, sizeof name, "%s%s%s", args[1], *shape ? " " : "", shape);
  for (int i = 0; i < 8; i++) {
    if (!child_time[i].name[0])
      snprintf(child_time[i].name, sizeof child_time[i].name, "%s", name);
    if (strcmp(child_time[i].name, name) == 0) {
      child_time[i].sec += sec;
      return;
    }
  }
}

/* file_line - file one line a child printed: a result into its record, a
 * note to stderr, anything else to stderr as is. Returns true if the line
 * is the serve mode's {"done":1}. */
static bool file_line(const char *line) {
  char test[32], shape[8], txt[600];
  long live;
  int shim;
  double value;
  if (sscanf(line, "{\"test\":\"%31[^\"]\",\"shape\":\"%7[^\"]\",\"live\":%ld,\"shim\":%d,\"value\":%lf",
             test, shape, &live, &shim, &value) == 5 && (shim == 0 || shim == 1)) {
    struct rec *r = rec_get(test, shape, live);
    if (r->n[shim] < MAX_SAMPLES)
      r->v[shim][r->n[shim]++] = value;
  } else if (strncmp(line, "{\"done\":1}", 10) == 0) {
    return true;
  } else if (sscanf(line, "{\"note\":\"%599[^\"]", txt) == 1) {
    fprintf(stderr, "  note: %s\n", txt);
  } else {
    fprintf(stderr, "  child: %s", line);
  }
  return false;
}

/* A child run of this binary: what it prints comes on out; a serving
 * worker reads its commands on in (NULL otherwise). */
struct child {
  pid_t pid;
  FILE *out, *in;
  char *const *args;
  const char *lib;
  double busy; /* seconds the driver waited on it */
};

/* child_start - run this binary with args, LD_PRELOAD=lib if lib else
 * none; serve: with a pipe to its stdin. Dies if it cannot. */
static void child_start(struct child *c, const char *lib, char *const *args, bool serve) {
  int pout[2], pin[2] = {-1, -1};
  /* close-on-exec: no child holds another's pipes (a serving worker must
   * see the end of its input when the driver closes it) */
  if (pipe2(pout, O_CLOEXEC) != 0 || (serve && pipe2(pin, O_CLOEXEC) != 0))
    die("pipe");
  *c = (struct child){.args = args, .lib = lib};
  fflush(NULL);
  c->pid = fork();
  if (c->pid < 0)
    die("fork");
  if (c->pid == 0) {
    dup2(pout[1], 1);
    close(pout[0]);
    close(pout[1]);
    if (serve) {
      dup2(pin[0], 0);
      close(pin[0]);
      close(pin[1]);
    }
    execve("/proc/self/exe", args, make_env(lib));
    _exit(127);
  }
  close(pout[1]);
  if (!(c->out = fdopen(pout[0], "r")))
    die("fdopen");
  if (serve) {
    close(pin[0]);
    if (!(c->in = fdopen(pin[1], "w")))
      die("fdopen");
  }
}

/* child_until_done - file what c prints until its {"done":1} (serve) or
 * the end of its output. Returns true if done was seen. */
static bool child_until_done(struct child *c) {
  uint64_t t0 = now_ns();
  char line[1024];
  bool done = false;
  while (!done && fgets(line, sizeof line, c->out))
    done = file_line(line);
  c->busy += (double)(now_ns() - t0) / 1e9;
  return done;
}

/* child_cmd - send a serving worker one command line and file its results
 * up to its {"done":1}. Dies if the worker ends instead. */
static void child_cmd(struct child *c, const char *cmd) {
  fprintf(c->in, "%s\n", cmd);
  fflush(c->in);
  if (!child_until_done(c))
    die("worker %s the shim ended during \"%s\"", c->lib ? "with" : "without", cmd);
}

/* child_end - close c's command pipe (a serving worker then ends), file
 * the rest of its output, wait for it and note its time. Dies if it failed. */
static void child_end(struct child *c) {
  if (c->in) {
    fputs("quit\n", c->in);
    fclose(c->in);
  }
  child_until_done(c);
  fclose(c->out);
  int st;
  errno = 0;
  if (waitpid(c->pid, &st, 0) != c->pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    die("child %s %s failed (status %d)", c->args[1], c->lib ? "with the shim" : "without the shim", st);
  note_child_time(c->args, c->busy);
}

/* run_child - run this binary with args, LD_PRELOAD=lib if lib else none,
 * and file every result line it prints. Dies if the child fails. */
static void run_child(const char *lib, char *const *args) {
  struct child c;
  child_start(&c, lib, args, false);
  child_end(&c);
}

/* A per-call path as the table shows it. */
struct path {
  const char *test;
  const char *what;
  double limit; /* with/without ratio allowed at every live count; 0: information only */
  bool growth;  /* held to the log n growth target */
};

static const struct path paths[] = {
  {"churn4k", "mmap+munmap 4 KiB anon private", 1.03, true},
  {"churn64k", "mmap+munmap 64 KiB anon private", 1.03, true},
  {"dontneed4k", "touch+DONTNEED 4 KiB anon", 1.03, true},
  {"dontneed4k_2t", "same, 2 threads (ns per call per thread)", 1.03, true},
  {"remove_shmem", "touch+REMOVE 4 KiB memfd shared (pass-through)", 1.03, true},
  {"xlate_shmem", "touch+DONTNEED->REMOVE 4 KiB memfd (bare: REMOVE)", 1.03, true},
  {"xlate_hugetlb", "touch+DONTNEED->REMOVE 2 MiB hugetlbfs (bare: REMOVE)", 1.03, true},
  {"xlate_shmem_q", "same 4 KiB memfd, bare: PROCMAP_QUERY+REMOVE (rule 1's floor)", 1.03, false},
  {"xlate_hugetlb_q", "same 2 MiB hugetlbfs, bare: PROCMAP_QUERY+REMOVE (floor)", 1.03, false},
  {"churnzap_4t", "4 threads: mmap+touch+DONTNEED+munmap 4 KiB (ns/round/thread)", 1.05, false},
  {"dontneed4k_churner", "touch+DONTNEED 4 KiB anon beside a thread mapping+unmapping", 1.05, false},
  {"dontneed4k_cold", "DONTNEED 4 KiB not resident (syscall only; info)", 0, false},
};
#define NPATHS (sizeof paths / sizeof paths[0])

/* The two shapes of live mappings the per-call paths run at. */
static const char *const run_shapes[] = {"anon", "mixed"};
#define NSHAPES 2

/* Added ns = with - without. Growth target: the added cost at the largest
 * live count may be at most log(hi)/log(lo) times that at the smallest
 * non-zero one, unless it is at the noise level: at most GROWTH_FLOOR_NS or
 * GROWTH_FLOOR_FRAC of the bare call. */
#define GROWTH_FLOOR_NS 100.0
#define GROWTH_FLOOR_FRAC 0.03

/* Target verdicts, for the table and the JSON. */
struct verdict {
  char name[128];
  double value, limit;
  const char *unit;
  int pass; /* 1 pass, 0 miss, -1 not measured */
  /* growth targets only (growth != 0): the figures behind the verdict */
  int growth;
  long lo, hi;
  double add_lo, add_hi, floor;
};
#define MAX_VERDICTS 96
static struct verdict verdicts[MAX_VERDICTS];
static int nverdicts;

/* add_verdict - record target name: value against limit (value <= limit
 * passes; NAN: not measured). Returns the verdict (a spare one if full). */
static struct verdict *add_verdict(const char *name, double value, double limit, const char *unit) {
  static struct verdict spare;
  struct verdict *v = nverdicts < MAX_VERDICTS ? &verdicts[nverdicts++] : &spare;
  memset(v, 0, sizeof *v);
  snprintf(v->name, sizeof v->name, "%s", name);
  v->value = value;
  v->limit = limit;
  v->unit = unit;
  v->pass = isnan(value) ? -1 : value <= limit;
  return v;
}

/* out_both - fprintf to stdout and (if not NULL) to f. */
__attribute__((format(printf, 2, 3))) static void out_both(FILE *f, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  if (f) {
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
  }
}

/* machine_line - "kernel, N CPUs, model" into buf. */
static void machine_line(char *buf, size_t len) {
  struct utsname u;
  uname(&u);
  char model[128] = "unknown CPU";
  FILE *f = fopen("/proc/cpuinfo", "re");
  char line[256];
  while (f && fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) == 0) {
      char *c = strchr(line, ':');
      if (c) {
        snprintf(model, sizeof model, "%s", c + 2);
        model[strcspn(model, "\n")] = 0;
      }
      break;
    }
  }
  if (f)
    fclose(f);
  snprintf(buf, len, "Linux %s %s, %ld CPUs, %s", u.release, u.machine,
           sysconf(_SC_NPROCESSORS_ONLN), model);
}

/* json_samples - write r's samples for shim as a JSON array. */
static void json_samples(FILE *f, const struct rec *r, int shim) {
  fputc('[', f);
  for (int i = 0; r && i < r->n[shim]; i++)
    fprintf(f, "%s%.3f", i ? "," : "", r->v[shim][i]);
  fputc(']', f);
}

/* json_num - a number, or null for NAN/inf (JSON has neither). */
static void json_num(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.4f", v);
  else
    fputs("null", f);
}

/* path_rec - the record of path test at (shape, live); at 0 live mappings
 * the shapes are the same process state, so "mixed" falls back to the
 * "anon" measurement. NULL if not measured. */
static struct rec *path_rec(const char *test, const char *shape, long live) {
  struct rec *r = rec_find(test, shape, live);
  if (!r && live == 0)
    r = rec_find(test, "anon", 0);
  return r;
}

/* ratio_of - with against without for r (rec_paired; NAN if r is NULL). */
static double ratio_of(const struct rec *r) {
  double q, d;
  rec_paired(r, &q, &d);
  return q;
}

/* added_of - with minus without for r (rec_paired; NAN if r is NULL). */
static double added_of(const struct rec *r) {
  double q, d;
  rec_paired(r, &q, &d);
  return d;
}

/* report_paths - the per-call table (a PASS/MISS per row against the
 * path's limit) to stdout and t. */
static void report_paths(FILE *t, const long *lives, int nlives) {
  out_both(t, "%-62s %-6s %6s %10s %10s %7s %9s %6s\n", "per-call path (ns per call)", "shape", "live",
           "without", "with", "ratio", "added ns", "limit");
  for (size_t p = 0; p < NPATHS; p++) {
    bool first = true;
    for (int k = 0; k < NSHAPES; k++)
      for (int i = 0; i < nlives; i++) {
        struct rec *r = rec_find(paths[p].test, run_shapes[k], lives[i]);
        if (!r)
          continue;
        double a = rec_median(r, 0), b = rec_median(r, 1), q, d;
        rec_paired(r, &q, &d);
        char lim[16] = "info", verdict[8] = "";
        if (paths[p].limit > 0) {
          snprintf(lim, sizeof lim, "%.2f", paths[p].limit);
          snprintf(verdict, sizeof verdict, "%s", isnan(q) ? "n/a" : q <= paths[p].limit ? "PASS" : "MISS");
        }
        out_both(t, "%-62s %-6s %6ld %10.1f %10.1f %7.3f %9.1f %6s %s\n", first ? paths[p].what : "",
                 run_shapes[k], lives[i], a, b, q, d, lim, verdict);
        first = false;
      }
  }
}

/* add_path_verdicts - per path with a limit and per shape: the worst
 * with/without ratio over every live count (the mixed shape's 0 is the
 * anon one). */
static void add_path_verdicts(const long *lives, int nlives) {
  char name[128], counts[64];
  for (size_t p = 0; p < NPATHS; p++) {
    if (paths[p].limit <= 0)
      continue;
    for (int k = 0; k < NSHAPES; k++) {
      double worst = -INFINITY;
      long at = -1;
      int missing = 0;
      size_t cl = 0;
      counts[0] = 0;
      for (int i = 0; i < nlives; i++) {
        if (k > 0 && lives[i] == 0) /* the same state as anon's 0, checked there */
          continue;
        double q = ratio_of(rec_find(paths[p].test, run_shapes[k], lives[i]));
        cl += (size_t)snprintf(counts + cl, cl < sizeof counts ? sizeof counts - cl : 0, "%s%ld",
                               cl ? "/" : "", lives[i]);
        if (isnan(q))
          missing++;
        else if (q > worst)
          worst = q, at = lives[i];
      }
      snprintf(name, sizeof name, "%s ratio, %s, worst of %s live (at %ld)%s", paths[p].test,
               run_shapes[k], counts, at, missing ? " [some counts not measured]" : "");
      add_verdict(name, missing || at < 0 ? NAN : worst, paths[p].limit, "x");
    }
  }
}

/* add_growth_verdicts - per path held to it and per shape: added ns at the
 * largest live count against the smallest non-zero one (see GROWTH_*). */
static void add_growth_verdicts(const long *lives, int nlives) {
  long lo = 0, hi = 0;
  for (int i = 0; i < nlives; i++) {
    if (lives[i] > 1 && (lo == 0 || lives[i] < lo))
      lo = lives[i];
    if (lives[i] > hi)
      hi = lives[i];
  }
  if (lo == 0 || hi <= lo)
    return;
  double bound = log((double)hi) / log((double)lo);
  char name[128];
  for (size_t p = 0; p < NPATHS; p++) {
    if (!paths[p].growth)
      continue;
    for (int k = 0; k < NSHAPES; k++) {
      struct rec *rl = rec_find(paths[p].test, run_shapes[k], lo);
      struct rec *rh = rec_find(paths[p].test, run_shapes[k], hi);
      double add_lo = added_of(rl);
      double add_hi = added_of(rh);
      double floor = fmax(GROWTH_FLOOR_NS, GROWTH_FLOOR_FRAC * rec_median(rh, 0));
      double growth = add_lo > 0 ? add_hi / add_lo : NAN;
      snprintf(name, sizeof name, "%s growth, %s: added ns at %ld / at %ld", paths[p].test,
               run_shapes[k], hi, lo);
      struct verdict *v = add_verdict(name, growth, bound, "x");
      v->growth = 1;
      v->lo = lo;
      v->hi = hi;
      v->add_lo = add_lo;
      v->add_hi = add_hi;
      v->floor = floor;
      if (isnan(add_lo) || isnan(add_hi))
        v->pass = -1;
      else
        v->pass = add_hi <= floor || (add_lo > 0 && growth <= bound);
    }
  }
}

/* verdict_word - "PASS", "MISS" or "n/a". */
static const char *verdict_word(const struct verdict *v) {
  return v->pass < 0 ? "n/a" : v->pass ? "PASS" : "MISS";
}

/* report - the table, the verdicts, results.json and results.dat in dir.
 * mixed_note describes how the mixed shape was run. */
static void report(const char *dir, const char *lib, const char *source, int reps, int rounds,
                   const long *lives, int nlives, const char *mixed_note) {
  char path[4096], machine[256];
  machine_line(machine, sizeof machine);
  snprintf(path, sizeof path, "%s/table.txt", dir);
  FILE *t = fopen(path, "w");

  out_both(t, "zapbench: %s\n", machine);
  out_both(t, "library: %s (source %s); %d repetitions, without/with alternating (ABBA)\n", lib, source, reps);
  out_both(t, "without, with: medians; ratio, added: medians over the with/without pairs (each pair\n"
              "  measured one run right after the other: %d runs a side per path and repetition)\n",
           rounds);
  out_both(t, "live mappings: anon = one-page anonymous private, alternately read-only and read-write;\n"
              "  mixed = the same count, every other one a one-page MAP_SHARED mapping of one memfd\n"
              "  (own offset), so no two anonymous ones are neighbours. %s\n\n", mixed_note);
  report_paths(t, lives, nlives);

  out_both(t, "\n%-62s %-6s %6s %10s %10s %7s\n", "1 GiB zap (ms per zap)", "", "", "without", "with",
           "ratio");
  const char *bigs[3][2] = {{"zap1g_hugetlb", "hugetlbfs 512x2 MiB: DONTNEED (with) vs REMOVE"},
                            {"zap1g_shmem", "memfd shmem: DONTNEED (with) vs REMOVE"},
                            {"zap1g_hugetlb_q", "hugetlbfs, vs PROCMAP_QUERY+REMOVE (rule 1's floor)"}};
  for (int k = 0; k < 3; k++) {
    struct rec *r = rec_find(bigs[k][0], "none", 0);
    double a = rec_median(r, 0) / 1e6, b = rec_median(r, 1) / 1e6;
    out_both(t, "%-62s %-6s %6s %10.3f %10.3f %7.3f\n", bigs[k][1], "", "", a, b, ratio_of(r));
  }
  struct rec *ex = rec_find("exec_us", "none", 0);
  double ea = rec_median(ex, 0), eb = rec_median(ex, 1);
  out_both(t, "\n%-62s %-6s %6s %10.1f %10.1f %7.3f %9.1f\n", "process start: fork+exec+wait /bin/true (us)",
           "", "", ea, eb, ratio_of(ex), added_of(ex));
  struct rec *ee = rec_find("exec_empty_us", "none", 0);
  if (ee) {
    double em = rec_median(ee, 1);
    out_both(t, "%-62s %-6s %6s %10.1f %10.1f %7.3f %9.1f\n", "  reference: preloading an empty .so instead (us)",
             "", "", ea, em, em / ea, em - ea);
  }
  static const char *const mem_shapes[] = {"anon", "mixed", "shared"};
  double per_map[3];
  out_both(t, "\n%-62s %-6s %6s %10s %10s %7s %9s\n", "anon memory for N one-page mappings (bytes)", "shape",
           "N", "without", "with", "", "added/N");
  for (int k = 0; k < 3; k++) {
    struct rec *mem = NULL;
    for (int i = 0; i < nrecs; i++)
      if (strcmp(recs[i].test, "mem_delta") == 0 && strcmp(recs[i].shape, mem_shapes[k]) == 0)
        mem = &recs[i];
    double ma = rec_median(mem, 0), mb = rec_median(mem, 1);
    per_map[k] = mem ? (mb - ma) / (double)mem->live : NAN;
    out_both(t, "%-62s %-6s %6ld %10.0f %10.0f %7s %9.1f\n", k == 0 ? "  (shared: every one MAP_SHARED of a memfd)" : "",
             mem_shapes[k], mem ? mem->live : 0L, ma, mb, "", per_map[k]);
  }

  /* Targets (issue 11). */
  char name[128];
  add_path_verdicts(lives, nlives);
  for (int k = 0; k < 3; k++) {
    snprintf(name, sizeof name, "%s: ratio vs direct %s", bigs[k][0],
             k == 2 ? "PROCMAP_QUERY+REMOVE" : "REMOVE");
    add_verdict(name, ratio_of(rec_find(bigs[k][0], "none", 0)), 1.01, "x");
  }
  add_verdict("process start: added us over no preload", added_of(ex), 40, "us");
  for (int k = 0; k < 3; k++) {
    snprintf(name, sizeof name, "registry bytes per mapping, %s", mem_shapes[k]);
    add_verdict(name, per_map[k], 64, "B");
  }
  int first_growth = nverdicts;
  add_growth_verdicts(lives, nlives);

  out_both(t, "\n%-70s %10s %10s  %s\n", "target", "measured", "limit", "verdict");
  int miss = 0;
  for (int i = 0; i < first_growth; i++) {
    struct verdict *v = &verdicts[i];
    miss += v->pass == 0;
    out_both(t, "%-70s %10.3f %10.3f  %s\n", v->name, v->value, v->limit, verdict_word(v));
  }
  if (nverdicts > first_growth) {
    struct verdict *g = &verdicts[first_growth];
    out_both(t, "\ngrowth: added ns at %ld live / added ns at %ld must be <= log(%ld)/log(%ld) = %.3f,\n"
                "  or the added ns at %ld at most the noise floor max(%.0f ns, %.0f%% of the bare call)\n",
             g->hi, g->lo, g->hi, g->lo, g->limit, g->hi, GROWTH_FLOOR_NS, GROWTH_FLOOR_FRAC * 100);
    out_both(t, "%-16s %-6s %12s %12s %10s %8s %8s  %s\n", "path", "shape", "added@lo", "added@hi", "floor",
             "growth", "limit", "verdict");
  }
  for (int i = first_growth; i < nverdicts; i++) {
    struct verdict *v = &verdicts[i];
    char test[32] = "", shape[8] = "";
    sscanf(v->name, "%31s growth, %7[^:]", test, shape);
    miss += v->pass == 0;
    char growth[16] = "-";
    if (isfinite(v->value))
      snprintf(growth, sizeof growth, "%.3f", v->value);
    out_both(t, "%-16s %-6s %12.1f %12.1f %10.1f %8s %8.3f  %s%s\n", test, shape, v->add_lo, v->add_hi,
             v->floor, growth, v->limit, verdict_word(v),
             v->pass == 1 && v->add_hi <= v->floor ? " (noise floor)" : "");
  }
  for (int i = 0; i < nrecs; i++) {
    if (strncmp(recs[i].test, "check_", 6) != 0)
      continue;
    for (int s = 0; s < 2; s++)
      for (int k = 0; k < recs[i].n[s]; k++)
        if (recs[i].v[s][k] != 1) {
          out_both(t, "warning: %s %s: memory was not freed\n", recs[i].test, s ? "with" : "without");
          k = recs[i].n[s];
        }
  }
  int unmeasured = 0;
  for (int i = 0; i < nverdicts; i++)
    unmeasured += verdicts[i].pass < 0;
  out_both(t, "\n%d of %d targets missed", miss, nverdicts);
  if (unmeasured)
    out_both(t, ", %d not measured (n/a)", unmeasured);
  out_both(t, "\n");
  if (t)
    fclose(t);

  /* results.json */
  snprintf(path, sizeof path, "%s/results.json", dir);
  FILE *j = fopen(path, "w");
  if (!j)
    die("%s", path);
  fprintf(j, "{\n  \"machine\": \"%s\",\n  \"library\": \"%s\",\n  \"source\": \"%s\",\n", machine,
          lib, source);
  fprintf(j, "  \"repetitions\": %d,\n", reps);
  fprintf(j, "  \"mixed_shape\": \"%s\",\n", mixed_note);
  fprintf(j, "  \"results\": [\n");
  for (int i = 0; i < nrecs; i++) {
    struct rec *r = &recs[i];
    double a = rec_median(r, 0), b = rec_median(r, 1);
    fprintf(j, "    {\"test\": \"%s\", \"shape\": \"%s\", \"live\": %ld, \"without\": ", r->test, r->shape,
            r->live);
    json_num(j, a);
    fputs(", \"with\": ", j);
    json_num(j, b);
    fputs(", \"ratio\": ", j);
    json_num(j, ratio_of(r));
    fputs(", \"without_samples\": ", j);
    json_samples(j, r, 0);
    fputs(", \"with_samples\": ", j);
    json_samples(j, r, 1);
    fprintf(j, "}%s\n", i + 1 < nrecs ? "," : "");
  }
  fprintf(j, "  ],\n  \"targets\": [\n");
  for (int i = 0; i < nverdicts; i++) {
    struct verdict *v = &verdicts[i];
    fprintf(j, "    {\"target\": \"%s\", \"unit\": \"%s\", \"measured\": ", v->name, v->unit);
    json_num(j, v->value);
    fputs(", \"limit\": ", j);
    json_num(j, v->limit);
    if (v->growth) {
      fprintf(j, ", \"lo\": %ld, \"hi\": %ld, \"added_lo_ns\": ", v->lo, v->hi);
      json_num(j, v->add_lo);
      fputs(", \"added_hi_ns\": ", j);
      json_num(j, v->add_hi);
      fputs(", \"floor_ns\": ", j);
      json_num(j, v->floor);
    }
    fprintf(j, ", \"verdict\": \"%s\"}%s\n", verdict_word(v), i + 1 < nverdicts ? "," : "");
  }
  fprintf(j, "  ],\n  \"missed\": %d,\n  \"total\": %d\n}\n", miss, nverdicts);
  fclose(j);

  /* results.dat: one block per path (gnuplot index), rows:
   * live anon_without anon_with mixed_without mixed_with (NaN: not measured). */
  snprintf(path, sizeof path, "%s/results.dat", dir);
  FILE *d = fopen(path, "w");
  if (!d)
    die("%s", path);
  for (size_t p = 0; p < NPATHS; p++) {
    fprintf(d, "# %s: %s\n# live anon_without_ns anon_with_ns mixed_without_ns mixed_with_ns\n",
            paths[p].test, paths[p].what);
    for (int i = 0; i < nlives; i++) {
      fprintf(d, "%ld", lives[i]);
      for (int k = 0; k < NSHAPES; k++) {
        struct rec *r = path_rec(paths[p].test, run_shapes[k], lives[i]);
        for (int s = 0; s < 2; s++) {
          double m = rec_median(r, s);
          if (isfinite(m))
            fprintf(d, " %.3f", m);
          else
            fputs(" NaN", d);
        }
      }
      fputc('\n', d);
    }
    fprintf(d, "\n\n");
  }
  fclose(d);
}

/* The driver's --paths: a comma-separated list of the per-call paths and
 * 1 GiB zaps to run (NULL: all of them, and the memory and process start
 * measures too). */
static const char *only_paths;

/* path_wanted - true if the driver is to run path name (--paths). */
static bool path_wanted(const char *name) {
  if (!only_paths)
    return true;
  size_t n = strlen(name);
  for (const char *p = only_paths;; p++) {
    if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == 0))
      return true;
    if (!(p = strchr(p, ',')))
      return false;
  }
}

/* run_pairs - path name (if wanted) run `rounds` times in each worker of
 * w, alternating run by run (ABBA...: *turn says who goes first, and
 * advances once per round), so each round is one with/without pair. */
static void run_pairs(struct child w[2], const char *name, int rounds, int *turn) {
  if (!path_wanted(name))
    return;
  char cmd[96];
  snprintf(cmd, sizeof cmd, "run %s", name);
  for (int r = 0; r < rounds; r++, (*turn)++) {
    child_cmd(&w[*turn & 1], cmd);
    child_cmd(&w[!(*turn & 1)], cmd);
  }
}

/* drive_paths - one repetition of the per-call paths at shape and every
 * count of lives (a "L,L,.." list, growing): a worker without and one with
 * the shim serve side by side; at each count both grow their live mappings,
 * then run each path in turn, `rounds` runs on each side alternating run
 * by run (ABBA...), so that each with/without pair (rec_paired) is
 * measured milliseconds apart whatever else the machine does meanwhile. */
static void drive_paths(const char *lib, const char *shape, char *lives_list, int rep, char *quick) {
  long lives[MAX_LIVES];
  int nlives = parse_lives(lives_list, lives);
  struct child w[2];
  char *args[2][10] = { /* quick is NULL (the end) when not quick */
    {"zapbench", "worker", "--serve", "--noshim", "--shape", (char *)shape, "--lives", lives_list, quick, NULL},
    {"zapbench", "worker", "--serve", "--shim", "--shape", (char *)shape, "--lives", lives_list, quick, NULL}};
  for (int k = 0; k < 2; k++) {
    child_start(&w[k], k ? lib : NULL, args[k], true);
    if (!child_until_done(&w[k]))
      die("worker %s the shim did not start", k ? "with" : "without");
  }
  char cmd[96];
  int turn = rep, rounds = sizes_for(quick != NULL).rounds;
  for (int i = 0; i < nlives; i++) {
    snprintf(cmd, sizeof cmd, "grow %ld", lives[i]);
    for (int k = 0; k < 2; k++)
      child_cmd(&w[k], cmd);
    for (size_t p = 0; p < NPATH_NAMES; p++)
      run_pairs(w, path_names[p], rounds, &turn);
    /* the 1 GiB zaps once, at 0 live mappings: a hugetlbfs run takes
     * ~60 ms (the touch of 512 huge pages), as many rounds as a path; a
     * shmem run ~0.6 s (262,144 faults), a quarter of them */
    for (size_t p = 0; lives[i] == 0 && p < NBIG_PATHS; p++)
      run_pairs(w, big_path_names[p],
                strcmp(big_path_names[p], "zap1g_shmem") == 0 ? (rounds + 3) / 4 : rounds, &turn);
  }
  for (int k = 0; k < 2; k++)
    child_end(&w[k]);
}

/* run_drive - the whole benchmark: every mode, reps times each way,
 * alternating; then the report. The mixed shape runs at every non-zero
 * live count (at 0 the shapes are the same). Returns 0. */
static int run_drive(const char *lib, const char *empty, const char *source, int reps, bool quick,
                     const char *lives_arg, const char *dir) {
  long lives[MAX_LIVES];
  int nlives = parse_lives(lives_arg, lives);
  if (access(lib, R_OK) != 0)
    die("%s", lib);
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  if (system(cmd) != 0)
    die("cannot make %s", dir);
  /* the mixed shape's list: the non-zero counts */
  char mixed_lives[256] = "";
  size_t ml = 0;
  for (int i = 0; i < nlives; i++)
    if (lives[i] > 0 && ml < sizeof mixed_lives)
      ml += (size_t)snprintf(mixed_lives + ml, sizeof mixed_lives - ml, "%s%ld", ml ? "," : "", lives[i]);
  char mixed_note[320];
  snprintf(mixed_note, sizeof mixed_note,
           "mixed measured at %s live, same batches as anon; at 0 live mappings the shapes are one state, measured once (anon)",
           ml ? mixed_lives : "no count");
  char *q = quick ? "--quick" : NULL;
  char *lv = (char *)lives_arg;
  for (int i = 0; i < nlives; i++)
    for (int k = 0; k < i; k++)
      if (lives[k] >= lives[i])
        die("--lives must grow: %s", lives_arg);
  uint64_t t_start = now_ns();
  for (int rep = 0; rep < reps; rep++) {
    uint64_t t_rep = now_ns();
    fprintf(stderr, "zapbench: repetition %d of %d", rep + 1, reps);
    if (rep)
      fprintf(stderr, " (%.0f s so far, about %.0f s to go)", (double)(t_rep - t_start) / 1e9,
              (double)(t_rep - t_start) / 1e9 / rep * (reps - rep));
    fputc('\n', stderr);
    drive_paths(lib, "anon", lv, rep, q);
    if (ml)
      drive_paths(lib, "mixed", mixed_lives, rep, q);
    if (only_paths)
      continue; /* --paths: those alone */
    for (int k = 0; k < 2; k++) {
      int shim = (rep & 1) ? !k : k; /* ABBA: without first on even reps */
      const char *l = shim ? lib : NULL;
      char *sflag = shim ? "--shim" : "--noshim";
      for (int m = 0; m < 3; m++) {
        char *mm[] = {"zapbench", "mem", sflag, "--shape", (char *)shape_names[m], q, NULL};
        run_child(l, mm);
      }
    }
    char *e[] = {"zapbench", "exec", "--lib", (char *)lib, q, NULL, NULL, NULL};
    if (empty) {
      e[q ? 5 : 4] = "--empty";
      e[q ? 6 : 5] = (char *)empty;
    }
    run_child(NULL, e);
  }
  fprintf(stderr, "zapbench: measured in %.0f s:", (double)(now_ns() - t_start) / 1e9);
  for (int i = 0; i < 8 && child_time[i].name[0]; i++)
    fprintf(stderr, "%s %s %.1f s", i ? "," : "", child_time[i].name, child_time[i].sec);
  fputc('\n', stderr);
  report(dir, lib, source, reps, sizes_for(quick).rounds, lives, nlives, mixed_note);
  return 0;
}

/* usage - print the usage to stderr. Returns 2 (the exit status). */
static int usage(void) {
  fprintf(stderr,
          "usage: zapbench drive --lib PATH [--empty PATH] [--reps N] [--quick] [--lives 0,1000,20000,60000]\n"
          "                      [--out DIR] [--source TEXT] [--paths NAME,..]\n"
          "       zapbench worker [--serve] [--shim|--noshim] [--quick] [--shape anon|mixed] [--lives L,..]\n"
          "       zapbench big [--shim|--noshim] [--quick]\n"
          "       zapbench mem [--shim|--noshim] [--quick] [--shape anon|mixed|shared]\n"
          "       zapbench exec --lib PATH [--empty PATH] [--quick]\n"
          "       zapbench check-json FILE\n");
  return 2;
}

/* main - dispatch on the mode. Returns the mode's exit status. */
int main(int argc, char **argv) {
  if (argc < 2)
    return usage();
  const char *mode = argv[1], *lib = NULL, *empty = NULL, *dir = "zapbench-results";
  const char *source = "unknown";
  const char *lives = "0,1000,20000,60000", *shape = "anon";
  bool shim = false, quick = false, serve = false;
  int reps = 5;
  if (strcmp(mode, "check-json") == 0)
    return argc == 3 ? run_check_json(argv[2]) : usage();
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--shim") == 0)
      shim = true;
    else if (strcmp(argv[i], "--noshim") == 0)
      shim = false;
    else if (strcmp(argv[i], "--serve") == 0)
      serve = true;
    else if (strcmp(argv[i], "--quick") == 0)
      quick = true;
    else if (strcmp(argv[i], "--lib") == 0 && i + 1 < argc)
      lib = argv[++i];
    else if (strcmp(argv[i], "--empty") == 0 && i + 1 < argc)
      empty = argv[++i];
    else if (strcmp(argv[i], "--source") == 0 && i + 1 < argc)
      source = argv[++i];
    else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
      dir = argv[++i];
    else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc)
      shape = argv[++i];
    else if (strcmp(argv[i], "--lives") == 0 && i + 1 < argc)
      lives = argv[++i];
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (strcmp(argv[i], "--paths") == 0 && i + 1 < argc)
      only_paths = argv[++i];
    else
      return usage();
  }
  if (reps < 1 || reps > MAX_REPS)
    die("--reps must be 1..%d", MAX_REPS);
  if (strcmp(mode, "worker") == 0) {
    long lv[MAX_LIVES];
    int n = parse_lives(lives, lv);
    if (serve) {
      long maxlive = 0;
      for (int i = 0; i < n; i++)
        maxlive = lv[i] > maxlive ? lv[i] : maxlive;
      return run_serve(shim, quick, parse_shape(shape), maxlive);
    }
    return run_worker(shim, quick, parse_shape(shape), lv, n);
  }
  if (strcmp(mode, "big") == 0)
    return run_big(shim, quick);
  if (strcmp(mode, "mem") == 0)
    return run_mem(shim, quick, parse_shape(shape));
  if (strcmp(mode, "exec") == 0)
    return lib ? run_exec(lib, empty, quick) : usage();
  if (strcmp(mode, "drive") == 0)
    return lib ? run_drive(lib, empty, source, reps, quick, lives, dir) : usage();
  return usage();
}
