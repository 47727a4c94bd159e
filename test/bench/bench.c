/*
 * bench.c - zapbench: what libzapshim costs, measured against the bare calls.
 *
 * One binary, several modes:
 *
 *   zapbench drive --lib PATH [--empty PATH] [--reps N] [--quick] [--lives L,..] [--out DIR]
 *       The driver.  Runs the modes below as child processes, alternately
 *       without and with LD_PRELOAD=PATH (order ABBA over the repetitions),
 *       collects their JSON lines, prints the table of medians and ratios
 *       with PASS/MISS per target, and writes DIR/results.json,
 *       DIR/results.dat (for plot.gp) and DIR/table.txt.
 *   zapbench worker [--shim] [--quick] [--lives L,..]
 *       Per-call paths at each number of live mappings; one JSON line per
 *       (path, live count): the median ns per call over its batches.
 *   zapbench big [--shim] [--quick]
 *       1 GiB zaps of hugetlbfs and of shmem (with the shim: DONTNEED, which
 *       it translates; without: MADV_REMOVE, the right call).
 *   zapbench mem [--quick]
 *       Anonymous memory added to the process by creating N mappings.
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
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* emit - one result line on stdout: {"test":..,"live":..,"shim":..,"value":..}. */
static void emit(const char *test, long live, int shim, double value) {
  printf("{\"test\":\"%s\",\"live\":%ld,\"shim\":%d,\"value\":%.3f}\n", test, live, shim, value);
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
  unsigned next;    /* next unit to use */
  int advice;       /* MADV_* to call */
  bool touch;       /* write a byte before each zap */
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

/* loop_zap - calls x (optionally touch one unit, then madvise it with
 * l->advice), cycling over the units of the region. */
static void loop_zap(struct loop *l, unsigned calls) {
  for (unsigned i = 0; i < calls; i++) {
    char *p = l->base + (size_t)l->next * l->unit;
    if (++l->next == l->npages)
      l->next = 0;
    if (l->touch)
      *(volatile char *)p = 1;
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

/* Sizes of the runs: calls per batch for each kind of path, and batches. */
struct sizes {
  unsigned calls_small; /* per batch, 4 KiB paths */
  unsigned calls_huge;  /* per batch, 2 MiB paths */
  int batches;
  long mem_count;       /* mappings for the memory measure */
  size_t big_len;       /* size of the "1 GiB" zaps */
  int big_reps;
  int exec_reps;
};

/* sizes_for - the full or the quick (smoke test) sizes. */
static struct sizes sizes_for(bool quick) {
  if (quick)
    return (struct sizes){.calls_small = 200, .calls_huge = 4, .batches = 3,
                          .mem_count = 1000, .big_len = 16 * MIB, .big_reps = 1,
                          .exec_reps = 10};
  return (struct sizes){.calls_small = 20000, .calls_huge = 200, .batches = 7,
                        .mem_count = 65000, .big_len = GIB, .big_reps = 3,
                        .exec_reps = 300};
}

/* map_or_die - mmap that dies on failure. Returns the mapping. */
static char *map_or_die(size_t len, int prot, int flags, int fd) {
  void *p = mmap(NULL, len, prot, flags, fd, 0);
  if (p == MAP_FAILED)
    die("mmap of %zu bytes", len);
  return p;
}

/* bench_churn - mmap+munmap of len bytes; emits test name.  Each mapping
 * is made (by address hint) in a hole between two PROT_NONE guard pages,
 * so the kernel never merges it with a neighbour nor splits one at munmap:
 * without the guards, whether it does depends on what happens to lie next
 * to the hole, which differs between runs with and without the preload. */
static void bench_churn(const char *name, size_t len, long live, int shim, const struct sizes *s) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  char *g = map_or_die(len + 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
  if (munmap(g + pg, len) != 0)
    die("munmap");
  struct loop l = {.base = g + pg, .unit = len};
  emit(name, live, shim, time_batches(loop_churn, &l, s->calls_small, s->batches));
  if (l.next)
    note("%s: %u of the mappings were not placed at the hint", name, l.next);
  munmap(g, len + 2 * pg);
}

/* bench_anon_zap - touch (or not) + MADV_DONTNEED over 64 pages of one
 * anonymous private mapping; emits name. */
static void bench_anon_zap(const char *name, bool touch, long live, int shim, const struct sizes *s) {
  const unsigned n = 64;
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  struct loop l = {.base = map_or_die(n * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1),
                   .unit = pg, .npages = n, .advice = MADV_DONTNEED, .touch = touch};
  emit(name, live, shim, time_batches(loop_zap, &l, s->calls_small, s->batches));
  munmap(l.base, n * pg);
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

/* bench_shmem_zap - touch + advice on 64 pages of a shared memfd mapping;
 * emits name. */
static void bench_shmem_zap(const char *name, int advice, long live, int shim, const struct sizes *s) {
  const unsigned n = 64;
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  int fd = shmem_file(n * pg);
  struct loop l = {.base = map_or_die(n * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd),
                   .unit = pg, .npages = n, .advice = advice, .touch = true};
  emit(name, live, shim, time_batches(loop_zap, &l, s->calls_small, s->batches));
  munmap(l.base, n * pg);
  close(fd);
}

/* bench_hugetlb_zap - touch + advice on one 2 MiB page of a shared
 * hugetlbfs file; emits name, after checking once that the page is given
 * back to the pool. Skips (with a note) if hugetlbfs is unusable. */
static void bench_hugetlb_zap(const char *name, int advice, long live, int shim, const struct sizes *s) {
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
  struct loop l = {.base = m, .unit = HPAGE, .npages = 1, .advice = advice, .touch = true};
  if (live == 0) {
    long before = meminfo_kb("/proc/meminfo", "HugePages_Free:");
    loop_zap(&l, 1);
    long after = meminfo_kb("/proc/meminfo", "HugePages_Free:");
    emit("check_freed_hugetlb", live, shim, after >= before ? 1 : 0);
  }
  emit(name, live, shim, time_batches(loop_zap, &l, s->calls_huge, s->batches));
  munmap(m, HPAGE);
  close(fd);
}

/* One thread of the 2-thread DONTNEED path. */
struct thread_arg {
  int cpu;
  unsigned calls;
  int batches;
  pthread_barrier_t *bar;
  double ns; /* result: median ns per call in this thread */
};

/* thread_main - touch + DONTNEED on 64 pages of this thread's own mapping;
 * both threads start every batch together (a barrier), so the batches are
 * timed while the other thread runs too. Returns NULL; result in arg->ns. */
static void *thread_main(void *argp) {
  struct thread_arg *a = argp;
  const unsigned n = 64;
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  pin_to(a->cpu);
  struct loop l = {.base = map_or_die(n * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1),
                   .unit = pg, .npages = n, .advice = MADV_DONTNEED, .touch = true};
  double v[32];
  int nb = a->batches > 32 ? 32 : a->batches;
  pthread_barrier_wait(a->bar);
  loop_zap(&l, a->calls); /* warm-up */
  for (int b = 0; b < nb; b++) {
    pthread_barrier_wait(a->bar);
    uint64_t t0 = now_ns();
    loop_zap(&l, a->calls);
    v[b] = (double)(now_ns() - t0) / a->calls;
  }
  a->ns = median(v, nb);
  munmap(l.base, n * pg);
  return NULL;
}

/* bench_threads - the DONTNEED fast path from 2 threads at once; emits the
 * mean of the two threads' per-call ns. */
static void bench_threads(long live, int shim, const struct sizes *s) {
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, 2);
  struct thread_arg a[2];
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    a[i] = (struct thread_arg){.cpu = i, .calls = s->calls_small, .batches = s->batches, .bar = &bar};
    if (pthread_create(&t[i], NULL, thread_main, &a[i]) != 0)
      die("pthread_create");
  }
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  pthread_barrier_destroy(&bar);
  emit("dontneed4k_2t", live, shim, (a[0].ns + a[1].ns) / 2);
}

/* grow_live - bring the number of extra live mappings to want: one page
 * each, alternately read-only and read-write so that neighbours never merge
 * into one VMA. Mappings are kept in *v (capacity cap). */
static void grow_live(char **v, long *have, long want) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  for (long i = *have; i < want; i++) {
    int prot = (i & 1) ? PROT_READ : PROT_READ | PROT_WRITE;
    v[i] = map_or_die(pg, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1);
  }
  if (want > *have)
    *have = want;
}

/* run_worker - every per-call path at each live count; JSON lines out.
 * Returns the exit status (0). */
static int run_worker(bool shim, bool quick, const long *lives, int nlives) {
  struct sizes s = sizes_for(quick);
  int sh = shim ? 1 : 0;
  if (shim != shim_present())
    die("worker --shim=%d but the shim is %s", sh, shim_present() ? "loaded" : "not loaded");
  long maxlive = 0;
  for (int i = 0; i < nlives; i++)
    if (lives[i] > maxlive)
      maxlive = lives[i];
  char **live_maps = calloc((size_t)maxlive + 1, sizeof *live_maps);
  if (!live_maps)
    die("calloc");
  long have = 0;
  pin_to(1);
  emit("check_freed_shmem", 0, sh, check_shmem_freed(shim ? MADV_DONTNEED : MADV_REMOVE));
  for (int i = 0; i < nlives; i++) {
    long live = lives[i];
    grow_live(live_maps, &have, live);
    emit("vmas", live, sh, (double)count_vmas());
    bench_churn("churn4k", 4 * KIB, live, sh, &s);
    bench_churn("churn64k", 64 * KIB, live, sh, &s);
    bench_anon_zap("dontneed4k", true, live, sh, &s);
    bench_anon_zap("dontneed4k_cold", false, live, sh, &s);
    bench_shmem_zap("remove_shmem", MADV_REMOVE, live, sh, &s);
    /* the translated path: with the shim the program's DONTNEED, without
     * it the call that really frees shmem (what the shim turns it into). */
    bench_shmem_zap("xlate_shmem", shim ? MADV_DONTNEED : MADV_REMOVE, live, sh, &s);
    bench_hugetlb_zap("xlate_hugetlb", shim ? MADV_DONTNEED : MADV_REMOVE, live, sh, &s);
    bench_threads(live, sh, &s);
    pin_to(1);
  }
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
 * of it with advice; reps times. Emits the median in ns (one call). */
static void big_zap(const char *name, int fd, size_t len, size_t step, int advice, int shim, int reps) {
  char *p = map_or_die(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
  double v[16];
  if (reps > 16)
    reps = 16;
  for (int r = 0; r < reps; r++) {
    touch_all(p, len, step);
    uint64_t t0 = now_ns();
    if (madvise(p, len, advice) != 0)
      die("madvise(%d) of %zu bytes", advice, len);
    v[r] = (double)(now_ns() - t0);
  }
  struct stat st;
  if (fstat(fd, &st) == 0)
    emit(strcmp(name, "zap1g_shmem") == 0 ? "check_freed_zap1g_shmem" : "check_freed_zap1g_hugetlb",
         0, shim, st.st_blocks == 0 ? 1 : 0);
  emit(name, 0, shim, median(v, reps));
  munmap(p, len);
}

/* run_big - the 1 GiB zaps of hugetlbfs and shmem. Returns 0. */
static int run_big(bool shim, bool quick) {
  struct sizes s = sizes_for(quick);
  int sh = shim ? 1 : 0;
  int advice = shim ? MADV_DONTNEED : MADV_REMOVE;
  if (shim != shim_present())
    die("big --shim=%d but the shim is %s", sh, shim_present() ? "loaded" : "not loaded");
  pin_to(1);
  long free_pages = meminfo_kb("/proc/meminfo", "HugePages_Free:");
  int fd = free_pages >= (long)(s.big_len / HPAGE) ? hugetlb_file(s.big_len) : -1;
  if (fd >= 0) {
    big_zap("zap1g_hugetlb", fd, s.big_len, HPAGE, advice, sh, s.big_reps);
    close(fd);
  } else {
    note("zap1g_hugetlb skipped: %ld free huge pages, %zu needed", free_pages, s.big_len / HPAGE);
  }
  fd = shmem_file(s.big_len);
  big_zap("zap1g_shmem", fd, s.big_len, (size_t)sysconf(_SC_PAGESIZE), advice, sh, s.big_reps);
  close(fd);
  return 0;
}

/* anon_kb - "Anonymous:" of /proc/self/smaps_rollup in kB, -1 if absent. */
static long anon_kb(void) {
  return meminfo_kb("/proc/self/smaps_rollup", "Anonymous:");
}

/* run_mem - anonymous memory (bytes) the process gains by creating N
 * one-page mappings; emits "mem_delta". Returns 0. */
static int run_mem(bool shim, bool quick) {
  struct sizes s = sizes_for(quick);
  long n = s.mem_count;
  char **v = calloc((size_t)n, sizeof *v);
  if (!v)
    die("calloc");
  for (long i = 0; i < n; i++) /* the array's own pages, before the first reading */
    ((char *volatile *)v)[i] = (char *)v;
  long have = 0;
  long before = anon_kb();
  grow_live(v, &have, n);
  long after = anon_kb();
  if (before < 0 || after < 0)
    die("no Anonymous: in /proc/self/smaps_rollup");
  emit("mem_delta", n, shim ? 1 : 0, (double)(after - before) * 1024.0);
  free(v); /* the array only; the mappings stay until exit */
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
  emit("exec_us", 0, 0, median(v[0], n) / 1000.0);
  emit("exec_us", 0, 1, median(v[1], n) / 1000.0);
  if (empty)
    emit("exec_empty_us", 0, 1, median(v[2], n) / 1000.0);
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

/* All samples of one (test, live): v[shim][rep]. */
struct rec {
  char test[32];
  long live;
  double v[2][MAX_REPS];
  int n[2];
};

#define MAX_RECS 256
static struct rec recs[MAX_RECS];
static int nrecs;

/* rec_get - the record of (test, live), created if new. Dies if full. */
static struct rec *rec_get(const char *test, long live) {
  for (int i = 0; i < nrecs; i++)
    if (recs[i].live == live && strcmp(recs[i].test, test) == 0)
      return &recs[i];
  if (nrecs == MAX_RECS)
    die("too many results");
  struct rec *r = &recs[nrecs++];
  snprintf(r->test, sizeof r->test, "%s", test);
  r->live = live;
  return r;
}

/* rec_find - the record of (test, live) or NULL. */
static struct rec *rec_find(const char *test, long live) {
  for (int i = 0; i < nrecs; i++)
    if (recs[i].live == live && strcmp(recs[i].test, test) == 0)
      return &recs[i];
  return NULL;
}

/* rec_median - the median of r's samples for shim (0/1); NAN if r is NULL
 * or has none. */
static double rec_median(const struct rec *r, int shim) {
  if (!r || r->n[shim] == 0)
    return NAN;
  double tmp[MAX_REPS];
  memcpy(tmp, r->v[shim], sizeof(double) * (size_t)r->n[shim]);
  return median(tmp, r->n[shim]);
}

/* run_child - run this binary with args, LD_PRELOAD=lib if lib else none,
 * and file every result line it prints. Dies if the child fails. */
static void run_child(const char *lib, char *const *args) {
  int pfd[2];
  if (pipe(pfd) != 0)
    die("pipe");
  pid_t pid = fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    dup2(pfd[1], 1);
    close(pfd[0]);
    close(pfd[1]);
    execve("/proc/self/exe", args, make_env(lib));
    _exit(127);
  }
  close(pfd[1]);
  FILE *f = fdopen(pfd[0], "r");
  char line[1024];
  while (f && fgets(line, sizeof line, f)) {
    char test[32], txt[600];
    long live;
    int shim;
    double value;
    if (sscanf(line, "{\"test\":\"%31[^\"]\",\"live\":%ld,\"shim\":%d,\"value\":%lf", test, &live,
               &shim, &value) == 4 && (shim == 0 || shim == 1)) {
      struct rec *r = rec_get(test, live);
      if (r->n[shim] < MAX_REPS)
        r->v[shim][r->n[shim]++] = value;
    } else if (sscanf(line, "{\"note\":\"%599[^\"]", txt) == 1) {
      fprintf(stderr, "  note: %s\n", txt);
    } else {
      fprintf(stderr, "  child: %s", line);
    }
  }
  if (f)
    fclose(f);
  int st;
  errno = 0;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    die("child %s %s failed (status %d)", args[1], lib ? "with the shim" : "without the shim", st);
}

/* A per-call path as the table shows it. */
struct path {
  const char *test;
  const char *what;
  bool target; /* held to the 1.03x target (else: shown for information) */
};

static const struct path paths[] = {
  {"churn4k", "mmap+munmap 4 KiB anon private", true},
  {"churn64k", "mmap+munmap 64 KiB anon private", true},
  {"dontneed4k", "touch+DONTNEED 4 KiB anon (fast path)", true},
  {"dontneed4k_2t", "same, 2 threads (ns per call per thread)", true},
  {"remove_shmem", "touch+REMOVE 4 KiB memfd shared (pass-through)", true},
  {"xlate_shmem", "touch+DONTNEED->REMOVE 4 KiB memfd (bare: REMOVE)", true},
  {"xlate_hugetlb", "touch+DONTNEED->REMOVE 2 MiB hugetlbfs (bare: REMOVE)", true},
  {"dontneed4k_cold", "DONTNEED 4 KiB not resident (syscall only; info)", false},
};
#define NPATHS (sizeof paths / sizeof paths[0])

/* Target verdicts, for the table and the JSON. */
struct verdict {
  char name[96];
  double value, limit;
  const char *unit;
  int pass; /* 1 pass, 0 miss, -1 not measured */
};
static struct verdict verdicts[64];
static int nverdicts;

/* add_verdict - record target name: value against limit (value <= limit
 * passes; NAN: not measured). */
static void add_verdict(const char *name, double value, double limit, const char *unit) {
  if (nverdicts == 64)
    return;
  struct verdict *v = &verdicts[nverdicts++];
  snprintf(v->name, sizeof v->name, "%s", name);
  v->value = value;
  v->limit = limit;
  v->unit = unit;
  v->pass = isnan(value) ? -1 : value <= limit;
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

/* report - the table, the verdicts, results.json and results.dat in dir. */
static void report(const char *dir, const char *lib, int reps, const long *lives, int nlives) {
  char path[4096], machine[256];
  machine_line(machine, sizeof machine);
  snprintf(path, sizeof path, "%s/table.txt", dir);
  FILE *t = fopen(path, "w");
  long lmax = lives[nlives - 1], lmin = lmax;
  for (int i = 0; i < nlives; i++) {
    if (lives[i] > lmax)
      lmax = lives[i];
    if (lives[i] > 0 && lives[i] < lmin)
      lmin = lives[i];
  }

  out_both(t, "zapbench: %s\n", machine);
  out_both(t, "library: %s; %d repetitions each, without/with alternating (ABBA); medians\n\n",
           lib, reps);
  out_both(t, "%-56s %7s %11s %11s %7s %9s\n", "per-call path (ns per call)", "live", "without",
           "with", "ratio", "added ns");
  for (size_t p = 0; p < NPATHS; p++) {
    for (int i = 0; i < nlives; i++) {
      struct rec *r = rec_find(paths[p].test, lives[i]);
      if (!r)
        continue;
      double a = rec_median(r, 0), b = rec_median(r, 1);
      out_both(t, "%-56s %7ld %11.1f %11.1f %7.3f %9.1f\n", i == 0 ? paths[p].what : "", lives[i],
               a, b, b / a, b - a);
    }
  }
  out_both(t, "\n%-56s %7s %11s %11s %7s\n", "1 GiB zap (ms per zap)", "", "without", "with", "ratio");
  const char *bigs[2][2] = {{"zap1g_hugetlb", "hugetlbfs 512x2 MiB: DONTNEED (with) vs REMOVE"},
                            {"zap1g_shmem", "memfd shmem: DONTNEED (with) vs REMOVE"}};
  for (int k = 0; k < 2; k++) {
    struct rec *r = rec_find(bigs[k][0], 0);
    double a = rec_median(r, 0) / 1e6, b = rec_median(r, 1) / 1e6;
    out_both(t, "%-56s %7s %11.3f %11.3f %7.3f\n", bigs[k][1], "", a, b, b / a);
  }
  struct rec *ex = rec_find("exec_us", 0);
  double ea = rec_median(ex, 0), eb = rec_median(ex, 1);
  out_both(t, "\n%-56s %7s %11.1f %11.1f %7.3f %9.1f\n", "process start: fork+exec+wait /bin/true (us)",
           "", ea, eb, eb / ea, eb - ea);
  struct rec *ee = rec_find("exec_empty_us", 0);
  if (ee) {
    double em = rec_median(ee, 1);
    out_both(t, "%-56s %7s %11.1f %11.1f %7.3f %9.1f\n", "  reference: preloading an empty .so instead (us)", "",
             ea, em, em / ea, em - ea);
  }
  struct rec *mem = NULL;
  for (int i = 0; i < nrecs; i++)
    if (strcmp(recs[i].test, "mem_delta") == 0)
      mem = &recs[i];
  double ma = rec_median(mem, 0), mb = rec_median(mem, 1);
  double per_map = mem ? (mb - ma) / (double)mem->live : NAN;
  out_both(t, "%-56s %7ld %11.0f %11.0f %7s %9.1f\n",
           "anon memory for N one-page mappings (bytes; added/N)", mem ? mem->live : 0L, ma, mb, "",
           per_map);

  /* Targets. */
  char name[96];
  for (size_t p = 0; p < NPATHS; p++) {
    if (!paths[p].target)
      continue;
    struct rec *r = rec_find(paths[p].test, lmax);
    snprintf(name, sizeof name, "%s at %ld live: ratio", paths[p].test, lmax);
    add_verdict(name, rec_median(r, 1) / rec_median(r, 0), 1.03, "x");
  }
  /* Growth: the added cost from lmin to lmax live mappings may grow at most
   * like log2(n), with an allowance of 2% of the bare cost for noise. */
  for (size_t p = 0; p < NPATHS && lmin > 1 && lmax > lmin; p++) {
    if (!paths[p].target)
      continue;
    struct rec *lo = rec_find(paths[p].test, lmin), *hi = rec_find(paths[p].test, lmax);
    double add_lo = rec_median(lo, 1) - rec_median(lo, 0);
    double add_hi = rec_median(hi, 1) - rec_median(hi, 0);
    double bound = (log2((double)lmax) / log2((double)lmin)) * (add_lo > 0 ? add_lo : 0) +
                   0.02 * rec_median(hi, 0);
    snprintf(name, sizeof name, "%s growth: added ns at %ld (<= log bound from %ld)", paths[p].test,
             lmax, lmin);
    add_verdict(name, add_hi, bound, "ns");
  }
  for (int k = 0; k < 2; k++) {
    struct rec *r = rec_find(bigs[k][0], 0);
    snprintf(name, sizeof name, "%s: ratio vs direct REMOVE", bigs[k][0]);
    add_verdict(name, rec_median(r, 1) / rec_median(r, 0), 1.01, "x");
  }
  add_verdict("process start: added us", eb - ea, 50, "us");
  add_verdict("registry bytes per mapping", per_map, 64, "B");
  for (int i = 0; i < nlives; i++) {
    struct rec *one = rec_find("dontneed4k", lives[i]), *two = rec_find("dontneed4k_2t", lives[i]);
    double sa = rec_median(two, 0) / rec_median(one, 0), sb = rec_median(two, 1) / rec_median(one, 1);
    snprintf(name, sizeof name, "threads at %ld live: 2-thread slowdown with/without", lives[i]);
    add_verdict(name, sb / sa, 1.03, "x");
  }
  out_both(t, "\n%-68s %10s %10s  %s\n", "target", "measured", "limit", "verdict");
  int miss = 0;
  for (int i = 0; i < nverdicts; i++) {
    struct verdict *v = &verdicts[i];
    miss += v->pass == 0;
    out_both(t, "%-68s %10.3f %10.3f  %s\n", v->name, v->value, v->limit,
             v->pass < 0 ? "n/a" : v->pass ? "PASS" : "MISS");
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
  out_both(t, "\n%d of %d targets missed\n", miss, nverdicts);
  if (t)
    fclose(t);

  /* results.json */
  snprintf(path, sizeof path, "%s/results.json", dir);
  FILE *j = fopen(path, "w");
  if (!j)
    die("%s", path);
  fprintf(j, "{\n  \"machine\": \"%s\",\n  \"library\": \"%s\",\n  \"repetitions\": %d,\n", machine,
          lib, reps);
  fprintf(j, "  \"results\": [\n");
  for (int i = 0; i < nrecs; i++) {
    struct rec *r = &recs[i];
    double a = rec_median(r, 0), b = rec_median(r, 1);
    fprintf(j, "    {\"test\": \"%s\", \"live\": %ld, \"without\": ", r->test, r->live);
    json_num(j, a);
    fputs(", \"with\": ", j);
    json_num(j, b);
    fputs(", \"ratio\": ", j);
    json_num(j, b / a);
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
    fprintf(j, ", \"verdict\": \"%s\"}%s\n", v->pass < 0 ? "n/a" : v->pass ? "PASS" : "MISS",
            i + 1 < nverdicts ? "," : "");
  }
  fprintf(j, "  ]\n}\n");
  fclose(j);

  /* results.dat: one block per path (gnuplot index), rows: live without with. */
  snprintf(path, sizeof path, "%s/results.dat", dir);
  FILE *d = fopen(path, "w");
  if (!d)
    die("%s", path);
  for (size_t p = 0; p < NPATHS; p++) {
    fprintf(d, "# %s: %s\n# live without_ns with_ns\n", paths[p].test, paths[p].what);
    for (int i = 0; i < nlives; i++) {
      struct rec *r = rec_find(paths[p].test, lives[i]);
      fprintf(d, "%ld %.3f %.3f\n", lives[i], rec_median(r, 0), rec_median(r, 1));
    }
    fprintf(d, "\n\n");
  }
  fclose(d);
}

/* run_drive - the whole benchmark: every mode, reps times each way,
 * alternating; then the report. Returns 0. */
static int run_drive(const char *lib, const char *empty, int reps, bool quick, const char *lives_arg,
                     const char *dir) {
  long lives[MAX_LIVES];
  int nlives = parse_lives(lives_arg, lives);
  if (access(lib, R_OK) != 0)
    die("%s", lib);
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  if (system(cmd) != 0)
    die("cannot make %s", dir);
  char *q = quick ? "--quick" : NULL;
  char *lv = (char *)lives_arg;
  for (int rep = 0; rep < reps; rep++) {
    fprintf(stderr, "zapbench: repetition %d of %d\n", rep + 1, reps);
    for (int k = 0; k < 2; k++) {
      int shim = (rep & 1) ? !k : k; /* ABBA: without first on even reps */
      const char *l = shim ? lib : NULL;
      char *sflag = shim ? "--shim" : "--noshim";
      char *w[] = {"zapbench", "worker", sflag, "--lives", lv, q, NULL};
      run_child(l, w);
      char *b[] = {"zapbench", "big", sflag, q, NULL};
      run_child(l, b);
      char *m[] = {"zapbench", "mem", sflag, q, NULL};
      run_child(l, m);
    }
    char *e[] = {"zapbench", "exec", "--lib", (char *)lib, q, NULL, NULL, NULL};
    if (empty) {
      e[q ? 5 : 4] = "--empty";
      e[q ? 6 : 5] = (char *)empty;
    }
    run_child(NULL, e);
  }
  report(dir, lib, reps, lives, nlives);
  return 0;
}

/* usage - print the usage to stderr. Returns 2 (the exit status). */
static int usage(void) {
  fprintf(stderr,
          "usage: zapbench drive --lib PATH [--empty PATH] [--reps N] [--quick] [--lives 0,1000,20000,65000]\n"
          "                      [--out DIR]\n"
          "       zapbench worker|big|mem [--shim|--noshim] [--quick] [--lives L,..]\n"
          "       zapbench exec --lib PATH [--empty PATH] [--quick]\n"
          "       zapbench check-json FILE\n");
  return 2;
}

/* main - dispatch on the mode. Returns the mode's exit status. */
int main(int argc, char **argv) {
  if (argc < 2)
    return usage();
  const char *mode = argv[1], *lib = NULL, *empty = NULL, *dir = "zapbench-results";
  const char *lives = "0,1000,20000,65000";
  bool shim = false, quick = false;
  int reps = 5;
  if (strcmp(mode, "check-json") == 0)
    return argc == 3 ? run_check_json(argv[2]) : usage();
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--shim") == 0)
      shim = true;
    else if (strcmp(argv[i], "--noshim") == 0)
      shim = false;
    else if (strcmp(argv[i], "--quick") == 0)
      quick = true;
    else if (strcmp(argv[i], "--lib") == 0 && i + 1 < argc)
      lib = argv[++i];
    else if (strcmp(argv[i], "--empty") == 0 && i + 1 < argc)
      empty = argv[++i];
    else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
      dir = argv[++i];
    else if (strcmp(argv[i], "--lives") == 0 && i + 1 < argc)
      lives = argv[++i];
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
      reps = atoi(argv[++i]);
    else
      return usage();
  }
  if (reps < 1 || reps > MAX_REPS)
    die("--reps must be 1..%d", MAX_REPS);
  if (strcmp(mode, "worker") == 0) {
    long lv[MAX_LIVES];
    int n = parse_lives(lives, lv);
    return run_worker(shim, quick, lv, n);
  }
  if (strcmp(mode, "big") == 0)
    return run_big(shim, quick);
  if (strcmp(mode, "mem") == 0)
    return run_mem(shim, quick);
  if (strcmp(mode, "exec") == 0)
    return lib ? run_exec(lib, empty, quick) : usage();
  if (strcmp(mode, "drive") == 0)
    return lib ? run_drive(lib, empty, reps, quick, lives, dir) : usage();
  return usage();
}
