/*
 * vmm_postcopy.c - a static, multi-threaded stand-in for a postcopy-style
 * VMM such as Firecracker (musl, plain MADV_DONTNEED balloon), issue 10.
 *
 * Guest RAM is laid out in a reserved guest window (PROT_NONE; the gaps
 * between slots are canary pages, private anonymous, never registered):
 *   slot 0  memfd, MAP_SHARED, 16 MiB
 *   slot 1  hugetlb memfd (2 MiB pages), MAP_SHARED, 8 MiB
 *   slot 2  anonymous MAP_PRIVATE, 8 MiB
 *   slot 3  memfd, MAP_SHARED, 8 MiB, mapped elsewhere and moved into the
 *           window by mremap(MREMAP_MAYMOVE | MREMAP_FIXED)
 *   slot 4  memfd, MAP_SHARED, 8 MiB with a MAP_FIXED hole: its middle
 *           2 MiB replaced by anonymous private memory (a hot-plugged
 *           piece of another kind); one balloon run crosses both kinds
 * Postcopy: a userfaultfd (missing mode) is registered over every slot
 * before anything is touched; a handler thread serves every fault with
 * UFFDIO_COPY of the "source" page; 2 vCPU threads touch all guest memory
 * (each page faults in once) and dirty each page with a canary word.  Two
 * balloon threads then discard disjoint runs with plain
 * madvise(MADV_DONTNEED) while the main thread kicks the vCPUs with
 * SIGRTMIN (as Firecracker does); the vCPUs then touch every page again.
 *
 * Passes when every discarded page faulted exactly once more (and reads
 * the source page again), no other page faulted and each kept its canary,
 * the canary gaps are intact, every kick was delivered, and it all took
 * less than 20 s (alarm).  Without zapshim the shared slots' discards free
 * nothing and fault nothing: it fails.
 *
 * Usage: vmm_postcopy [--no-huge]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zst.h"

#define MIB ZST_MIB
#define GAP (2 * MIB)
#define NSLOTS 5
#define NVCPU 2
#define NBALLOON 2
#define CANARY 0x3C
#define MAX_RUNS 4096

struct slot {
  const char *name;
  char *addr;
  size_t len;
  size_t unit; /* fault granularity: 4 KiB, or 2 MiB for hugetlb */
  int fd;
  bool present;
  size_t first_unit; /* index of its first unit in the global arrays */
};

static struct slot slots[NSLOTS];
static size_t n_units;
static atomic_int *faults;    /* per unit, this phase */
static unsigned char *discard; /* per unit: discarded by the balloon */
static char *window;
static size_t window_len;
static int uffd;
static atomic_bool stop;
static atomic_int n_stray, n_copy_err;
static atomic_int phase;
static atomic_int kicks_received;
static char *src_small, *src_huge;

struct run {
  int slot;
  size_t first, count; /* in units of the slot */
};
static struct run runs[MAX_RUNS];
static size_t n_runs;

/* unit_of - the global unit index of address a, or -1 (and *sl). */
static long unit_of(uintptr_t a, int *sl) {
  for (int s = 0; s < NSLOTS; s++) {
    struct slot *x = &slots[s];
    if (x->present && a >= (uintptr_t)x->addr && a < (uintptr_t)x->addr + x->len) {
      *sl = s;
      return (long)(x->first_unit + (a - (uintptr_t)x->addr) / x->unit);
    }
  }
  return -1;
}

/* source_byte - the content the "migration source" holds for a unit. */
static unsigned char source_byte(size_t unit) { return (unsigned char)(0x40 + unit % 61); }

/* handler - serves missing faults with UFFDIO_COPY of the source page. */
static void *handler(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    struct pollfd pfd = {.fd = uffd, .events = POLLIN};
    if (poll(&pfd, 1, 20) <= 0)
      continue;
    struct uffd_msg msg;
    if (read(uffd, &msg, sizeof msg) != (ssize_t)sizeof msg)
      continue;
    if (msg.event != UFFD_EVENT_PAGEFAULT) {
      atomic_fetch_add(&n_stray, 1);
      continue;
    }
    int s = -1;
    long u = unit_of(msg.arg.pagefault.address, &s);
    if (u < 0) {
      atomic_fetch_add(&n_stray, 1);
      continue;
    }
    size_t unit = slots[s].unit;
    uintptr_t dst = msg.arg.pagefault.address & ~(uintptr_t)(unit - 1);
    char *src = unit == ZST_HPAGE ? src_huge : src_small;
    memset(src, source_byte((size_t)u), unit);
    atomic_fetch_add(&faults[u], 1);
    struct uffdio_copy c = {.dst = dst, .src = (uintptr_t)src, .len = unit, .mode = 0};
    if (ioctl(uffd, UFFDIO_COPY, &c) != 0) {
      if (errno != EEXIST)
        atomic_fetch_add(&n_copy_err, 1);
      struct uffdio_range r = {.start = dst, .len = unit};
      ioctl(uffd, UFFDIO_WAKE, &r);
    }
  }
  return NULL;
}

/* on_kick - SIGRTMIN handler of the vCPUs. */
static void on_kick(int sig) {
  (void)sig;
  atomic_fetch_add(&kicks_received, 1);
}

/* canary_word - what a vCPU writes at offset 64 of each unit it dirties. */
static uint64_t canary_word(size_t unit) { return 0xC0FFEE0000000000ull ^ unit; }

static atomic_size_t bad_first, bad_second_kept, bad_second_discarded;

/* vcpu - touches its share of units: phase 1 reads the source page and
 * dirties it with a canary word; phase 3 checks each unit again. */
static void *vcpu(void *arg) {
  long id = (long)arg;
  for (int want = 1; want <= 3; want += 2) {
    while (atomic_load(&phase) < want)
      usleep(200);
    for (int s = 0; s < NSLOTS; s++) {
      struct slot *x = &slots[s];
      if (!x->present)
        continue;
      for (size_t i = 0; i < x->len / x->unit; i++) {
        size_t u = x->first_unit + i;
        if (u % NVCPU != (size_t)id)
          continue;
        volatile unsigned char *b = (unsigned char *)x->addr + i * x->unit;
        volatile uint64_t *w = (volatile uint64_t *)(b + 64);
        if (want == 1) {
          if (b[0] != source_byte(u))
            atomic_fetch_add(&bad_first, 1);
          *w = canary_word(u);
        } else if (discard[u]) {
          if (b[0] != source_byte(u) || *w == canary_word(u))
            atomic_fetch_add(&bad_second_discarded, 1);
        } else if (*w != canary_word(u) || b[0] != source_byte(u)) {
          atomic_fetch_add(&bad_second_kept, 1);
        }
      }
    }
    if (want == 1) {
      /* Report done with phase 1, then idle (kicks arrive) until phase 3. */
      static atomic_int done1;
      atomic_fetch_add(&done1, 1);
      while (atomic_load(&done1) < NVCPU)
        usleep(200);
      if (id == 0)
        atomic_store(&phase, 2);
    }
  }
  return NULL;
}

/* balloon - discards the runs i with i % NBALLOON == id. */
static atomic_int balloon_errors;
static void *balloon(void *arg) {
  long id = (long)arg;
  for (size_t i = (size_t)id; i < n_runs; i += NBALLOON) {
    struct slot *x = &slots[runs[i].slot];
    char *a = x->addr + runs[i].first * x->unit;
    if (madvise(a, runs[i].count * x->unit, MADV_DONTNEED) != 0)
      atomic_fetch_add(&balloon_errors, 1);
  }
  return NULL;
}

/* place - map a slot at window offset off (MAP_FIXED over the window). */
static bool place(int s, const char *name, size_t off, size_t len, size_t unit, int kind) {
  struct slot *x = &slots[s];
  x->name = name;
  x->len = len;
  x->unit = unit;
  x->fd = -1;
  char *at = window + off;
  int prot = PROT_READ | PROT_WRITE;
  if (kind == 0 || kind == 1) { /* memfd (huge or not) */
    x->fd = zst_memfd(name, MFD_CLOEXEC | (kind == 1 ? MFD_HUGETLB | MFD_HUGE_2MB : 0), len);
    if (!zst_check(x->fd >= 0, "%s: memfd_create: %s", name, strerror(errno)))
      return false;
    x->addr = mmap(at, len, prot, MAP_SHARED | MAP_FIXED, x->fd, 0);
  } else if (kind == 2) { /* anonymous private */
    x->addr = mmap(at, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  } else { /* memfd mapped elsewhere, moved in by mremap */
    x->fd = zst_memfd(name, MFD_CLOEXEC, len);
    if (!zst_check(x->fd >= 0, "%s: memfd_create: %s", name, strerror(errno)))
      return false;
    char *tmp = mmap(NULL, len, prot, MAP_SHARED, x->fd, 0);
    if (!zst_check(tmp != MAP_FAILED, "%s: mmap: %s", name, strerror(errno)))
      return false;
    x->addr = mremap(tmp, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, at);
  }
  if (!zst_check(x->addr == at, "%s: placing at %p: %s", name, (void *)at, strerror(errno)))
    return false;
  x->present = true;
  return true;
}

/* add_run - a balloon run over units [first, first+count) of slot s. */
static void add_run(int s, size_t first, size_t count) {
  if (n_runs >= MAX_RUNS || first + count > slots[s].len / slots[s].unit)
    return;
  runs[n_runs++] = (struct run){s, first, count};
  for (size_t i = 0; i < count; i++)
    discard[slots[s].first_unit + first + i] = 1;
}

int main(int argc, char **argv) {
  bool no_huge = argc > 1 && strcmp(argv[1], "--no-huge") == 0;
  alarm(20);
  uint64_t t0 = zst_now_ns();

  zst_begin("guest RAM laid out");
  size_t lens[NSLOTS] = {16 * MIB, 8 * MIB, 8 * MIB, 8 * MIB, 8 * MIB};
  window_len = GAP;
  for (int s = 0; s < NSLOTS; s++)
    window_len += lens[s] + GAP;
  char *res = mmap(NULL, window_len + ZST_HPAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (!zst_check(res != MAP_FAILED, "reserve: %s", strerror(errno)))
    return zst_end(), zst_summary();
  window = (char *)(((uintptr_t)res + ZST_HPAGE - 1) & ~(uintptr_t)(ZST_HPAGE - 1));
  /* Canary gaps: private anonymous memory with a pattern, never touched
   * by the balloon. */
  size_t off = 0;
  for (int s = 0; s <= NSLOTS; s++) {
    char *g = mmap(window + off, GAP, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (!zst_check(g == window + off, "canary gap: %s", strerror(errno)))
      return zst_end(), zst_summary();
    memset(g, CANARY, GAP);
    off += GAP + (s < NSLOTS ? lens[s] : 0);
  }
  bool huge = !no_huge && zst_hugepages_free() >= (long)(lens[1] / ZST_HPAGE);
  if (!huge && !no_huge && zst_in_ci())
    zst_check(false, "slot 1 needs %zu free 2 MiB huge pages (CI=true)", lens[1] / ZST_HPAGE);
  else if (!huge)
    zst_note("slot 1 (hugetlb memfd) left out: %s", no_huge ? "--no-huge" : "no free huge pages");
  off = GAP;
  const char *names[NSLOTS] = {"slot0-memfd", "slot1-hugetlb-memfd", "slot2-anon-private",
                               "slot3-memfd-mremap", "slot4-memfd-fixed-hole"};
  int kinds[NSLOTS] = {0, 1, 2, 3, 0};
  for (int s = 0; s < NSLOTS; s++) {
    if (s != 1 || huge)
      if (!place(s, names[s], off, lens[s], s == 1 ? ZST_HPAGE : ZST_PAGE, kinds[s]))
        return zst_end(), zst_summary();
    off += lens[s] + GAP;
  }
  /* The MAP_FIXED hole: the middle 2 MiB of slot 4 becomes anonymous. */
  char *hole = slots[4].addr + 3 * MIB;
  char *h = mmap(hole, 2 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                 -1, 0);
  if (!zst_check(h == hole, "MAP_FIXED hole: %s", strerror(errno)))
    return zst_end(), zst_summary();
  for (int s = 0; s < NSLOTS; s++) {
    if (!slots[s].present)
      continue;
    slots[s].first_unit = n_units;
    n_units += slots[s].len / slots[s].unit;
  }
  faults = calloc(n_units, sizeof *faults);
  discard = calloc(n_units, 1);
  src_small = mmap(NULL, ZST_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  src_huge = mmap(NULL, ZST_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (!zst_check(faults && discard && src_small != MAP_FAILED && src_huge != MAP_FAILED, "alloc"))
    return zst_end(), zst_summary();
  uffd = zst_uffd_open(ZST_UFFD_MISSING_SHMEM | ZST_UFFD_MISSING_HUGETLBFS);
  if (uffd < 0) {
    if (errno == ENOSYS || errno == EPERM)
      zst_need(false, "userfaultfd");
    else
      zst_check(false, "userfaultfd: %s", strerror(errno));
    return zst_end(), zst_summary();
  }
  for (int s = 0; s < NSLOTS; s++)
    if (slots[s].present)
      if (!zst_check(zst_uffd_register(uffd, slots[s].addr, slots[s].len) == 0,
                     "%s: UFFDIO_REGISTER: %s", slots[s].name, strerror(errno)))
        return zst_end(), zst_summary();
  printf("  %zu units of guest RAM in %d slots%s\n", n_units, huge ? 5 : 4,
         huge ? "" : " (no hugetlb slot)");
  zst_end();

  /* Balloon runs, fixed and varied: single units, long runs, a run
   * crossing the MAP_FIXED hole (memfd -> anonymous -> memfd). */
  for (int s = 0; s < NSLOTS; s++) {
    if (!slots[s].present)
      continue;
    size_t units = slots[s].len / slots[s].unit;
    if (slots[s].unit == ZST_HPAGE) {
      add_run(s, 1, 2);
      continue;
    }
    for (size_t u = 5; u + 40 < units; u += 97 + (u % 13))
      add_run(s, u, 1 + (u % 29));
  }
  add_run(4, (2 * MIB) / ZST_PAGE, (4 * MIB) / ZST_PAGE); /* 2-6 MiB: crosses both edges */

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_kick;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGRTMIN, &sa, NULL);

  pthread_t th, vc[NVCPU], bl[NBALLOON];
  pthread_create(&th, NULL, handler, NULL);
  for (long i = 0; i < NVCPU; i++)
    pthread_create(&vc[i], NULL, vcpu, (void *)i);

  zst_begin("postcopy: every unit faults in exactly once");
  atomic_store(&phase, 1);
  while (atomic_load(&phase) < 2)
    usleep(500);
  size_t not_once = 0;
  for (size_t u = 0; u < n_units; u++) {
    not_once += atomic_load(&faults[u]) != 1;
    atomic_store(&faults[u], 0);
  }
  zst_check(not_once == 0, "%zu of %zu units did not fault exactly once", not_once, n_units);
  zst_check(atomic_load(&bad_first) == 0, "%zu units did not read the source page",
            atomic_load(&bad_first));
  zst_end();

  zst_begin("balloon: plain MADV_DONTNEED from 2 threads, vCPUs kicked");
  int kicks_sent = 0;
  for (long i = 0; i < NBALLOON; i++)
    pthread_create(&bl[i], NULL, balloon, (void *)i);
  for (int k = 0; k < 50; k++) {
    for (int i = 0; i < NVCPU; i++)
      if (pthread_kill(vc[i], SIGRTMIN) == 0)
        kicks_sent++;
    usleep(1000);
  }
  for (int i = 0; i < NBALLOON; i++)
    pthread_join(bl[i], NULL);
  size_t discarded = 0;
  for (size_t u = 0; u < n_units; u++)
    discarded += discard[u];
  printf("  %zu runs, %zu units discarded\n", n_runs, discarded);
  zst_check(atomic_load(&balloon_errors) == 0, "%d madvise calls failed",
            atomic_load(&balloon_errors));
  zst_end();

  zst_begin("balloon: the discarded memory is freed");
  size_t not_freed = 0;
  for (size_t i = 0; i < n_runs; i++) {
    struct slot *x = &slots[runs[i].slot];
    if (x->fd >= 0 && x->unit == ZST_PAGE &&
        !zst_hole(x->fd, (off_t)(runs[i].first * x->unit), runs[i].count * x->unit))
      not_freed++;
  }
  zst_check(not_freed == 0, "%zu runs still hold data in their memfd", not_freed);
  if (slots[1].present) {
    long long hb = zst_blocks(slots[1].fd);
    long long want = (long long)((slots[1].len - 2 * ZST_HPAGE) / 512);
    zst_check(hb == want, "hugetlb memfd holds %lld blocks, want %lld", hb, want);
  }
  zst_end();

  zst_begin("after the balloon: exactly one missing fault per discarded unit");
  atomic_store(&phase, 3);
  for (int i = 0; i < NVCPU; i++)
    pthread_join(vc[i], NULL);
  size_t missed = 0, twice = 0, stray = 0;
  size_t missed_slot[NSLOTS] = {0};
  for (int s = 0; s < NSLOTS; s++) {
    if (!slots[s].present)
      continue;
    for (size_t i = 0; i < slots[s].len / slots[s].unit; i++) {
      size_t u = slots[s].first_unit + i;
      int f = atomic_load(&faults[u]);
      if (discard[u]) {
        if (f == 0) {
          missed++;
          missed_slot[s]++;
        }
        twice += f > 1;
      } else {
        stray += f != 0;
      }
    }
  }
  for (int s = 0; s < NSLOTS; s++)
    if (missed_slot[s])
      printf("  %s: %zu discarded units did not fault\n", slots[s].name, missed_slot[s]);
  zst_check(missed == 0, "%zu of %zu discarded units did not fault", missed, discarded);
  zst_check(twice == 0, "%zu discarded units faulted more than once", twice);
  zst_check(stray == 0, "%zu units that were not discarded faulted", stray);
  zst_check(atomic_load(&n_stray) == 0, "%d stray userfaultfd messages", atomic_load(&n_stray));
  zst_check(atomic_load(&n_copy_err) == 0, "%d UFFDIO_COPY errors", atomic_load(&n_copy_err));
  zst_end();

  zst_begin("data: kept units keep their canary, discarded ones read the source");
  zst_check(atomic_load(&bad_second_kept) == 0, "%zu kept units lost their data",
            atomic_load(&bad_second_kept));
  zst_check(atomic_load(&bad_second_discarded) == 0,
            "%zu discarded units still hold the guest's data", atomic_load(&bad_second_discarded));
  off = 0;
  for (int s = 0; s <= NSLOTS; s++) {
    long b = zst_find_not(window + off, GAP, CANARY);
    zst_check(b < 0, "canary gap %d changed at %ld", s, b);
    off += GAP + (s < NSLOTS ? lens[s] : 0);
  }
  zst_end();

  zst_begin("signals: every kick delivered");
  zst_check(atomic_load(&kicks_received) == kicks_sent, "%d of %d SIGRTMIN kicks delivered",
            atomic_load(&kicks_received), kicks_sent);
  zst_end();

  atomic_store(&stop, true);
  pthread_join(th, NULL);
  printf("  took %.2f s\n", (double)(zst_now_ns() - t0) / 1e9);
  return zst_summary();
}
