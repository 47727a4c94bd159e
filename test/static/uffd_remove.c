/*
 * uffd_remove.c - a userfaultfd handler with UFFD_FEATURE_EVENT_REMOVE
 * watching a shared memfd while the program zaps it with plain
 * MADV_DONTNEED (issue 10).  Built static with musl.
 *
 * 4 MiB of a shared memfd are filled and registered (missing mode, events
 * REMOVE); a handler thread reads the userfaultfd.  The main thread zaps 3
 * separate runs of pages with madvise(MADV_DONTNEED), then reads every
 * page.  Passes when:
 *   - exactly one UFFD_EVENT_REMOVE came per zapped run, with its exact
 *     range, and no other event (a supervisor that rewrote the call, or
 *     added a second madvise, would show here);
 *   - each run is freed: a hole in the memfd (SEEK_DATA), not resident
 *     (mincore), the memfd's st_blocks dropped by exactly the zapped pages;
 *   - every zapped page faults exactly once (missing fault, served by the
 *     handler with UFFDIO_COPY of a marked page) and reads that page; no
 *     other page faults and each keeps its data.
 * Without zapshim the REMOVE events come (the kernel sends them for
 * DONTNEED too) but nothing is freed and no page faults: it fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zst.h"

#define LEN (4 * ZST_MIB)
#define NPAGES (LEN / ZST_PAGE)
#define FILL 0xAB
#define SERVED 0x5C
#define MAX_EVENTS 64

/* The runs zapped, in pages: [first, first + count). */
static const struct {
  size_t first, count;
} runs[] = {{3, 1}, {100, 37}, {512, 256}};
#define NRUNS (sizeof runs / sizeof runs[0])

static char *mem;
static int uffd;
static atomic_int faults[NPAGES];
static atomic_int n_faults_other, n_events_other, n_copy_errors;
static struct {
  uint64_t start, end;
} removes[MAX_EVENTS];
static atomic_int n_removes;
static atomic_bool stop;

/* handler - the userfaultfd thread: records REMOVE events and serves each
 * missing fault with UFFDIO_COPY of a page of SERVED bytes. */
static void *handler(void *arg) {
  (void)arg;
  static char page[ZST_PAGE] __attribute__((aligned(4096)));
  memset(page, SERVED, sizeof page);
  while (!atomic_load(&stop)) {
    struct pollfd pfd = {.fd = uffd, .events = POLLIN};
    int pr = poll(&pfd, 1, 50);
    if (pr <= 0)
      continue;
    struct uffd_msg msg;
    ssize_t n = read(uffd, &msg, sizeof msg);
    if (n != (ssize_t)sizeof msg)
      continue;
    if (msg.event == UFFD_EVENT_REMOVE) {
      int i = atomic_fetch_add(&n_removes, 1);
      if (i < MAX_EVENTS) {
        removes[i].start = msg.arg.remove.start;
        removes[i].end = msg.arg.remove.end;
      }
    } else if (msg.event == UFFD_EVENT_PAGEFAULT) {
      uint64_t a = msg.arg.pagefault.address & ~(uint64_t)(ZST_PAGE - 1);
      if (a >= (uintptr_t)mem && a < (uintptr_t)mem + LEN)
        atomic_fetch_add(&faults[(a - (uintptr_t)mem) / ZST_PAGE], 1);
      else
        atomic_fetch_add(&n_faults_other, 1);
      struct uffdio_copy c = {.dst = a, .src = (uintptr_t)page, .len = ZST_PAGE, .mode = 0};
      if (ioctl(uffd, UFFDIO_COPY, &c) != 0 && errno != EEXIST) {
        atomic_fetch_add(&n_copy_errors, 1);
        struct uffdio_range r = {.start = a, .len = ZST_PAGE};
        ioctl(uffd, UFFDIO_WAKE, &r);
      }
    } else {
      atomic_fetch_add(&n_events_other, 1);
    }
  }
  return NULL;
}

/* zapped - true if page i is in one of the runs. */
static bool zapped(size_t i) {
  for (size_t r = 0; r < NRUNS; r++)
    if (i >= runs[r].first && i < runs[r].first + runs[r].count)
      return true;
  return false;
}

int main(void) {
  alarm(20);
  zst_begin("setup");
  int fd = zst_memfd("zst-uffd-remove", MFD_CLOEXEC, LEN);
  if (!zst_check(fd >= 0, "memfd_create: %s", strerror(errno)))
    return zst_end(), zst_summary();
  mem = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (!zst_check(mem != MAP_FAILED, "mmap: %s", strerror(errno)))
    return zst_end(), zst_summary();
  zst_fill(mem, LEN, FILL);
  long long blocks_before = zst_blocks(fd);
  zst_check(blocks_before == (long long)(LEN / 512), "filled memfd holds %lld blocks",
            blocks_before);
  uffd = zst_uffd_open(ZST_UFFD_EVENT_REMOVE | ZST_UFFD_MISSING_SHMEM);
  if (uffd < 0) {
    if (errno == ENOSYS || errno == EPERM)
      zst_need(false, "userfaultfd");
    else
      zst_check(false, "userfaultfd with EVENT_REMOVE|MISSING_SHMEM: %s", strerror(errno));
    return zst_end(), zst_summary();
  }
  if (!zst_check(zst_uffd_register(uffd, mem, LEN) == 0, "UFFDIO_REGISTER: %s", strerror(errno)))
    return zst_end(), zst_summary();
  pthread_t th;
  if (!zst_check(pthread_create(&th, NULL, handler, NULL) == 0, "pthread_create"))
    return zst_end(), zst_summary();
  zst_end();

  zst_begin("madvise(MADV_DONTNEED) of 3 runs returns 0");
  size_t zapped_pages = 0;
  for (size_t r = 0; r < NRUNS; r++) {
    int rc = madvise(mem + runs[r].first * ZST_PAGE, runs[r].count * ZST_PAGE, MADV_DONTNEED);
    zst_check(rc == 0, "run %zu: madvise = %d (%s)", r, rc, rc ? strerror(errno) : "-");
    zapped_pages += runs[r].count;
  }
  zst_end();

  /* The REMOVE event is read before madvise returns; give the handler a
   * moment to record the last one. */
  for (int i = 0; i < 200 && atomic_load(&n_removes) < (int)NRUNS; i++)
    usleep(1000);
  usleep(20000);

  zst_begin("one UFFD_EVENT_REMOVE per zapped run, exact range");
  int nr = atomic_load(&n_removes);
  zst_check(nr == (int)NRUNS, "%d REMOVE events for %zu runs", nr, NRUNS);
  for (int i = 0; i < nr && i < MAX_EVENTS; i++)
    printf("  event %d: REMOVE 0x%llx-0x%llx (pages %llu-%llu)\n", i,
           (unsigned long long)removes[i].start, (unsigned long long)removes[i].end,
           (unsigned long long)((removes[i].start - (uintptr_t)mem) / ZST_PAGE),
           (unsigned long long)((removes[i].end - (uintptr_t)mem) / ZST_PAGE));
  for (size_t r = 0; r < NRUNS; r++) {
    uint64_t s = (uintptr_t)mem + runs[r].first * ZST_PAGE;
    uint64_t e = s + runs[r].count * ZST_PAGE;
    int seen = 0;
    for (int i = 0; i < nr && i < MAX_EVENTS; i++)
      seen += removes[i].start == s && removes[i].end == e;
    zst_check(seen == 1, "run %zu (0x%llx-0x%llx): %d REMOVE events with its range", r,
              (unsigned long long)s, (unsigned long long)e, seen);
  }
  zst_check(atomic_load(&n_events_other) == 0, "%d other events",
            atomic_load(&n_events_other));
  zst_end();

  zst_begin("every zapped run freed");
  for (size_t r = 0; r < NRUNS; r++) {
    off_t off = (off_t)(runs[r].first * ZST_PAGE);
    size_t len = runs[r].count * ZST_PAGE;
    zst_check(zst_hole(fd, off, len), "run %zu: the memfd still holds data there", r);
    long res = zst_resident(mem + off, len);
    zst_check(res == 0, "run %zu: mincore: %ld pages resident", r, res);
  }
  long long bl = zst_blocks(fd);
  long long want = blocks_before - (long long)(zapped_pages * ZST_PAGE / 512);
  zst_check(bl == want, "memfd holds %lld blocks, want %lld (%zu pages zapped)", bl, want,
            zapped_pages);
  zst_end();

  zst_begin("exactly one missing fault per zapped page, none elsewhere");
  /* Touch every page twice: the second touch must not fault again. */
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < NPAGES; i++)
      (void)*(volatile char *)(mem + i * ZST_PAGE + 17);
  size_t missing = 0, extra = 0, stray = 0;
  for (size_t i = 0; i < NPAGES; i++) {
    int f = atomic_load(&faults[i]);
    if (zapped(i)) {
      missing += f == 0;
      extra += f > 1;
    } else {
      stray += f != 0;
    }
  }
  zst_check(missing == 0, "%zu of %zu zapped pages did not fault", missing, zapped_pages);
  zst_check(extra == 0, "%zu zapped pages faulted more than once", extra);
  zst_check(stray == 0, "%zu pages that were not zapped faulted", stray);
  zst_check(atomic_load(&n_faults_other) == 0, "%d faults outside the region",
            atomic_load(&n_faults_other));
  zst_check(atomic_load(&n_copy_errors) == 0, "%d UFFDIO_COPY errors",
            atomic_load(&n_copy_errors));
  zst_end();

  zst_begin("data: zapped pages read the served page, others kept theirs");
  size_t bad_z = 0, bad_k = 0;
  for (size_t i = 0; i < NPAGES; i++) {
    long b = zst_find_not(mem + i * ZST_PAGE, ZST_PAGE, zapped(i) ? SERVED : FILL);
    if (b >= 0)
      *(zapped(i) ? &bad_z : &bad_k) += 1;
  }
  zst_check(bad_z == 0, "%zu zapped pages do not read the served page", bad_z);
  zst_check(bad_k == 0, "%zu other pages lost their data", bad_k);
  zst_end();

  atomic_store(&stop, true);
  pthread_join(th, NULL);
  return zst_summary();
}
