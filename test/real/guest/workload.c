/* workload.c - the guest's workload (runs as a static binary from the
 * initramfs of the real-guest tests, test/real/qemu_guest.py).
 *
 *   zg-work WORK_MIB [CHURN_MIB]
 *
 * Touches CHURN_MIB of memory once and gives it back (so the guest's free
 * memory is backed on the host: what a balloon can then free), then keeps
 * dirtying WORK_MIB with a checkable pattern: every 4 KiB page i holds a
 * fill derived from (i, word) written once, and in word 0 a stamp
 * (i << 32 | generation) rewritten on every pass.  A pass visits the pages
 * in a scattered order (a stride coprime with the page count), so a
 * destination in postcopy migration faults far from the last page it was
 * sent (QEMU's source goes on sending from the requested page).  Each pass
 * checks, in every page, the stamp of the previous pass and one fill word before it
 * writes the new stamp.  Commands on standard input (the serial console):
 * "check" checks every word of every page and prints the verdict;
 * "churn N" touches N MiB more with a pattern, checks it and gives it
 * back (the guest reusing memory, e.g. after a balloon deflated).
 *
 * Console lines (the host reads them):
 *   zg: ready work=N churn=M pages=P
 *   zg: pass G ok memfree=K         (at most every 0.5 s)
 *   zg: BAD page=I word=J want=X got=Y   (a mismatch; the verdict stays BAD)
 *   zg: verdict ok|BAD pages=P gen=G errors=E
 *   zg: churn N ok|BAD|failed
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define WORDS (PAGE / sizeof(uint64_t))

static uint64_t *work;
static size_t pages;
static uint64_t errors;
static size_t stride = 1;

/* Return the greatest common divisor of x and y. */
static size_t gcd(size_t x, size_t y)
{
  while (y) {
    size_t t = x % y;
    x = y;
    y = t;
  }
  return x;
}

/* The fill word j of page i: never zero, distinct per page and word. */
static uint64_t fill(uint64_t i, uint64_t j)
{
  return ((i + 1) * 0x9E3779B97F4A7C15ull) ^ ((j + 1) * 0xBF58476D1CE4E5B9ull) ^ 1;
}

/* Return the stamp of page i for generation gen. */
static uint64_t stamp(uint64_t i, uint64_t gen)
{
  return (i << 32) | (gen & 0xffffffffu);
}

/* Report one mismatch (the first 20 are printed) and count it. */
static void bad(size_t i, size_t j, uint64_t want, uint64_t got)
{
  if (errors++ < 20)
    printf("zg: BAD page=%zu word=%zu want=%016llx got=%016llx\n", i, j,
           (unsigned long long)want, (unsigned long long)got);
}

/* Return MemFree in KiB from /proc/meminfo, or -1. */
static long memfree_kib(void)
{
  char buf[4096];
  int fd = open("/proc/meminfo", O_RDONLY);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = 0;
  char *p = strstr(buf, "MemFree:");
  return p ? strtol(p + 8, NULL, 10) : -1;
}

/* Return monotonic time in seconds. */
static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Check every word of every page against generation gen; print the
 * verdict. */
static void full_check(uint64_t gen)
{
  for (size_t i = 0; i < pages; i++) {
    uint64_t *p = work + i * WORDS;
    if (p[0] != stamp(i, gen))
      bad(i, 0, stamp(i, gen), p[0]);
    for (size_t j = 1; j < WORDS; j++)
      if (p[j] != fill(i, j))
        bad(i, j, fill(i, j), p[j]);
  }
  printf("zg: verdict %s pages=%zu gen=%llu errors=%llu\n", errors ? "BAD" : "ok", pages,
         (unsigned long long)gen, (unsigned long long)errors);
}

/* Touch mib MiB of new memory with a pattern, check it, give it back;
 * print the outcome.  Returns 0 if the pattern read back whole. */
static int churn(size_t mib, int quiet)
{
  size_t len = mib << 20, n = len / PAGE, wrong = 0;
  uint64_t *c = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (c == MAP_FAILED) {
    printf("zg: churn %zu failed: %s\n", mib, strerror(errno));
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    c[i * WORDS] = c[i * WORDS + WORDS - 1] = fill(i, 7);
  for (size_t i = 0; i < n; i++)
    wrong += c[i * WORDS] != fill(i, 7) || c[i * WORDS + WORDS - 1] != fill(i, 7);
  munmap(c, len);
  if (!quiet || wrong)
    printf("zg: churn %zu %s\n", mib, wrong ? "BAD" : "ok");
  errors += wrong;
  return wrong ? -1 : 0;
}

/* Read standard input (non-blocking); run each complete command line:
 * "check" (full check of generation gen), "churn N". */
static void commands(uint64_t gen)
{
  static char line[256];
  static size_t len;
  char c;
  while (read(0, &c, 1) == 1) {
    if (c != '\n' && c != '\r') {
      if (len < sizeof line - 1)
        line[len++] = c;
      continue;
    }
    line[len] = 0;
    len = 0;
    char *p;
    if (strstr(line, "check"))
      full_check(gen);
    else if ((p = strstr(line, "churn ")))
      churn(strtoul(p + 6, NULL, 10), 0);
  }
}

int main(int argc, char **argv)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  size_t work_mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
  size_t churn_mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);

  if (churn_mib && churn(churn_mib, 1))
    return 1;

  pages = (work_mib << 20) / PAGE;
  work = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (work == MAP_FAILED) {
    printf("zg: mmap failed: %s\n", strerror(errno));
    return 1;
  }
  for (size_t i = 0; i < pages; i++) {
    uint64_t *p = work + i * WORDS;
    p[0] = stamp(i, 0);
    for (size_t j = 1; j < WORDS; j++)
      p[j] = fill(i, j);
  }
  stride = pages > 7919 ? 7919 : 1;
  while (gcd(stride, pages) != 1)
    stride += 2;
  printf("zg: ready work=%zu churn=%zu pages=%zu\n", work_mib, churn_mib, pages);

  double last = 0;
  for (uint64_t gen = 1;; gen++) {
    size_t j = 1 + gen % (WORDS - 1);
    for (size_t k = 0, i = 0; k < pages; k++, i = (i + stride) % pages) {
      uint64_t *p = work + i * WORDS;
      if (p[0] != stamp(i, gen - 1))
        bad(i, 0, stamp(i, gen - 1), p[0]);
      if (p[j] != fill(i, j))
        bad(i, j, fill(i, j), p[j]);
      p[0] = stamp(i, gen);
    }
    commands(gen);
    double t = now();
    if (t - last >= 0.5) {
      last = t;
      printf("zg: pass %llu %s memfree=%ld\n", (unsigned long long)gen, errors ? "BAD" : "ok",
             memfree_kib());
    }
  }
}
