/*
 * legacy_vmm.c - a VMM of our own that only knows plain MADV_DONTNEED.
 *
 * It lays out guest RAM the way a real VMM does and balloons pages out with
 * madvise(MADV_DONTNEED), then checks with userfaultfd that exactly the
 * discarded pages are gone:
 *
 *   1. A guest-physical window is reserved (PROT_NONE).  Boot RAM of four
 *      kinds is mapped elsewhere, filled, and moved into the window with
 *      mremap(MREMAP_MAYMOVE | MREMAP_FIXED):
 *        slot 0  memfd, MAP_SHARED, mapping the middle of a larger memfd
 *        slot 1  hugetlbfs file, MAP_SHARED (when huge pages are available)
 *        slot 2  anonymous MAP_SHARED
 *        slot 3  anonymous MAP_PRIVATE
 *      Between and around the slots the window keeps canary pages
 *      (private anonymous, filled with a pattern).
 *   2. Memory is hot-plugged with MAP_FIXED: a memfd DIMM (slot 4) into an
 *      empty part of the window, and a memfd mapped over the upper half of
 *      slot 3 (the anonymous boot RAM there is replaced: slot 5).
 *   3. Every page of guest RAM gets its own pattern; four balloon threads
 *      then discard disjoint sets of runs of pages with MADV_DONTNEED, all
 *      at once.
 *   4. userfaultfd, missing mode, is registered over every slot; a fault
 *      thread answers each fault with UFFDIO_COPY of a "restored" page and
 *      records its address.  The main thread reads every page of guest RAM.
 *
 * Passes (exit 0) when the faulting pages are exactly the discarded pages,
 * pages that were not discarded kept their data, discarded pages read the
 * restored data, the canaries and the memfd ranges outside the mappings are
 * unchanged.  Fails (exit 1) otherwise: run without libzapshim.so it fails,
 * because a plain MADV_DONTNEED on shared memory keeps the data and no
 * fault comes.  Exit 2: the test could not be set up; 77: skipped.
 *
 * A slot whose resource is missing (huge pages, hugetlbfs) is left out with
 * a message, unless CI=true, where that is a failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#define KIB ((size_t)1024)
#define MIB (1024 * KIB)
#define HPAGE (2 * MIB)
#define PAGE ((size_t)4096)

#define NTHREADS 4
#define MAX_SLOTS 8
#define MAX_RUNS 16384
#define MAX_FAULTS 32768

#define SLOT_SIZE (16 * MIB)   /* slots 0-3 */
#define DIMM_SIZE (8 * MIB)    /* slot 4 */
#define GAP (2 * MIB)          /* canary between slots (huge page aligned) */
#define MEMFD_HEAD (4 * MIB)   /* slot 0 maps the memfd from here ... */
#define MEMFD_TAIL (4 * MIB)   /* ... and leaves this much after it */
#define CANARY_BYTE 0x5A
#define FILE_CANARY 0xC3

/* A piece of guest RAM: one mapping of one kind. */
struct slot {
  const char *name;
  char *addr;          /* where it sits in the guest window */
  size_t len;
  size_t page;         /* 4 KiB, or 2 MiB for hugetlb */
  int fd;              /* backing file kept for checks, or -1 */
  off_t off;           /* file offset of addr */
  uint64_t features;   /* userfaultfd features a missing fault here needs */
  unsigned char *discarded; /* one flag per page */
};

/* A run of pages one balloon thread discards. */
struct run {
  char *addr;
  size_t len;
  int thread;
};

static struct slot slots[MAX_SLOTS];
static int nslots;
static struct run runs[MAX_RUNS];
static int nruns;
static char *window;
static size_t window_len;

/* Faults the fault thread saw (page-aligned addresses). */
static uintptr_t faults[MAX_FAULTS];
static int nfaults;
static int uffd = -1;
static int stop_fd = -1;
static char *copy_buf;

/* in_ci - true when CI=true: missing resources fail instead of skipping. */
static bool in_ci(void) {
  const char *ci = getenv("CI");
  return ci && strcmp(ci, "true") == 0;
}

/* die - a setup step failed: print it with errno and exit 2. */
static void die(const char *what) {
  fprintf(stderr, "legacy_vmm: setup failed: %s: %s\n", what, strerror(errno));
  exit(2);
}

/* page_value - the byte every page of guest RAM is filled with: a hash of
 * the slot and page index, never the canary bytes or 0. */
static unsigned char page_value(int s, size_t i) {
  unsigned v = (unsigned)(s * 131 + i * 29 + 7) % 251 + 1;
  if (v == CANARY_BYTE || v == FILE_CANARY)
    v ^= 0x10;
  return (unsigned char)v;
}

/* restored_value - what the fault thread writes into a faulting page:
 * distinct from page_value of the same page. */
static unsigned char restored_value(int s, size_t i) {
  return (unsigned char)~page_value(s, i);
}

/* hugetlbfs_dir - a hugetlbfs mount point whose block size is 2 MiB, copied
 * into dir; returns false if there is none. */
static bool hugetlbfs_dir(char *dir, size_t len) {
  FILE *f = fopen("/proc/mounts", "r");
  char dev[256], mnt[256], type[64];
  bool found = false;
  if (!f)
    return false;
  while (!found && fscanf(f, "%255s %255s %63s %*[^\n]", dev, mnt, type) == 3) {
    struct statfs st;
    if (strcmp(type, "hugetlbfs") == 0 && statfs(mnt, &st) == 0 &&
        (size_t)st.f_bsize == HPAGE && access(mnt, W_OK) == 0) {
      snprintf(dir, len, "%s", mnt);
      found = true;
    }
  }
  fclose(f);
  return found;
}

/* free_hugepages - free 2 MiB huge pages in the pool (0 if none). */
static long free_hugepages(void) {
  FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
  long n = 0;
  if (f) {
    if (fscanf(f, "%ld", &n) != 1)
      n = 0;
    fclose(f);
  }
  return n;
}

/* add_slot - record a slot placed at addr; returns it. */
static struct slot *add_slot(const char *name, char *addr, size_t len, size_t page, int fd,
                             off_t off, uint64_t features) {
  struct slot *s = &slots[nslots++];
  s->name = name;
  s->addr = addr;
  s->len = len;
  s->page = page;
  s->fd = fd;
  s->off = off;
  s->features = features;
  s->discarded = calloc(len / page, 1);
  if (!s->discarded)
    die("calloc");
  return s;
}

/* boot_map - map len bytes (flags, fd, off) somewhere outside the window,
 * fill them with 0xEE (the "firmware" wrote there), and move the mapping to
 * dest with mremap(MREMAP_MAYMOVE | MREMAP_FIXED).  Returns dest. */
static char *boot_map(char *dest, size_t len, int flags, int fd, off_t off) {
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, off);
  if (p == MAP_FAILED)
    die("mmap boot RAM");
  memset(p, 0xEE, len);
  char *q = mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
  if (q != dest)
    die("mremap boot RAM into the guest window");
  return q;
}

/* make_memfd - a memfd of len bytes; every byte set to FILE_CANARY. */
static int make_memfd(const char *name, size_t len) {
  int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
    die("memfd_create");
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    die("mmap memfd to initialise");
  memset(p, FILE_CANARY, len);
  munmap(p, len);
  return fd;
}

/* layout - reserve the window, map and move the boot RAM, hot-plug the
 * DIMMs, fill canaries.  Exits 2 (or 1 in CI) if it cannot. */
static void layout(void) {
  /* Window: GAP | s0 | GAP | s1 | GAP | s2 | GAP | s3 | GAP | s4 | GAP,
   * 2 MiB aligned so the hugetlb slot can sit in it. */
  window_len = 6 * GAP + 4 * SLOT_SIZE + DIMM_SIZE;
  char *raw = mmap(NULL, window_len + HPAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
  if (raw == MAP_FAILED)
    die("mmap guest window");
  window = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(uintptr_t)(HPAGE - 1));
  if (window > raw)
    munmap(raw, (size_t)(window - raw));
  munmap(window + window_len, (size_t)(raw + HPAGE - window));
  /* The canaries: the whole window private anonymous, then RAM over it. */
  if (mmap(window, window_len, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
           -1, 0) != window)
    die("mmap canaries");
  memset(window, CANARY_BYTE, window_len);
  char *at = window + GAP;

  /* slot 0: the middle of a memfd, shared. */
  size_t memfd_len = MEMFD_HEAD + SLOT_SIZE + MEMFD_TAIL;
  int mfd = make_memfd("legacy-vmm-ram0", memfd_len);
  boot_map(at, SLOT_SIZE, MAP_SHARED, mfd, MEMFD_HEAD);
  add_slot("memfd-shared", at, SLOT_SIZE, PAGE, mfd, MEMFD_HEAD, UFFD_FEATURE_MISSING_SHMEM);
  at += SLOT_SIZE + GAP;

  /* slot 1: hugetlbfs file, shared. */
  char dir[256], path[300];
  long need = SLOT_SIZE / HPAGE;
  bool have_dir = hugetlbfs_dir(dir, sizeof dir);
  long have = free_hugepages();
  if (have_dir && have >= need) {
    snprintf(path, sizeof path, "%s/legacy-vmm-XXXXXX", dir);
    int hfd = mkostemp(path, O_CLOEXEC);
    if (hfd < 0)
      die("create hugetlbfs file");
    unlink(path);
    if (ftruncate(hfd, SLOT_SIZE) != 0)
      die("ftruncate hugetlbfs file");
    boot_map(at, SLOT_SIZE, MAP_SHARED, hfd, 0);
    add_slot("hugetlbfs-shared", at, SLOT_SIZE, HPAGE, hfd, 0, UFFD_FEATURE_MISSING_HUGETLBFS);
  } else {
    const char *why = have_dir ? "not enough free 2 MiB huge pages" : "no writable hugetlbfs mount";
    if (in_ci()) {
      fprintf(stderr, "legacy_vmm: FAIL: hugetlbfs slot needs %ld free huge pages (%ld): %s\n",
              need, have, why);
      exit(1);
    }
    printf("legacy_vmm: hugetlbfs slot left out: %s (need %ld, have %ld)\n", why, need, have);
  }
  at += SLOT_SIZE + GAP;

  /* slot 2: anonymous shared. */
  boot_map(at, SLOT_SIZE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  add_slot("anon-shared", at, SLOT_SIZE, PAGE, -1, 0, UFFD_FEATURE_MISSING_SHMEM);
  at += SLOT_SIZE + GAP;

  /* slot 3: anonymous private boot RAM; its upper half is replaced below. */
  char *s3 = at;
  boot_map(at, SLOT_SIZE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  add_slot("anon-private", at, SLOT_SIZE / 2, PAGE, -1, 0, 0);
  at += SLOT_SIZE + GAP;

  /* slot 4: a hot-plugged memfd DIMM, MAP_FIXED into the window. */
  int dfd = make_memfd("legacy-vmm-dimm", DIMM_SIZE);
  if (mmap(at, DIMM_SIZE, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED, dfd, 0) != at)
    die("mmap MAP_FIXED DIMM");
  add_slot("dimm-memfd-shared", at, DIMM_SIZE, PAGE, dfd, 0, UFFD_FEATURE_MISSING_SHMEM);

  /* slot 5: a memfd hot-plugged MAP_FIXED over the upper half of slot 3. */
  int rfd = make_memfd("legacy-vmm-replace", SLOT_SIZE / 2);
  char *up = s3 + SLOT_SIZE / 2;
  if (mmap(up, SLOT_SIZE / 2, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED, rfd, 0) != up)
    die("mmap MAP_FIXED over boot RAM");
  add_slot("replaced-memfd-shared", up, SLOT_SIZE / 2, PAGE, rfd, 0, UFFD_FEATURE_MISSING_SHMEM);
}

/* fill - give every page of every slot its own pattern. */
static void fill(void) {
  for (int s = 0; s < nslots; s++)
    for (size_t i = 0; i < slots[s].len / slots[s].page; i++)
      memset(slots[s].addr + i * slots[s].page, page_value(s, i), slots[s].page);
}

/* plan - choose the runs to discard: in every slot, runs of 1 to 4 pages
 * separated by gaps of 1 to 3 pages (a fixed pseudo-random sequence), the
 * first and last page of the slot included; deal them round-robin to the
 * balloon threads.  Marks slot->discarded. */
static void plan(void) {
  unsigned seed = 12345;
  int next_thread = 0;
  for (int s = 0; s < nslots; s++) {
    struct slot *sl = &slots[s];
    size_t pages = sl->len / sl->page;
    size_t i = 0;
    while (i < pages && nruns < MAX_RUNS - 1) {
      seed = seed * 1103515245u + 12345u;
      size_t n = 1 + (seed >> 16) % 4;
      if (i + n > pages)
        n = pages - i;
      for (size_t k = 0; k < n; k++)
        sl->discarded[i + k] = 1;
      runs[nruns++] = (struct run){sl->addr + i * sl->page, n * sl->page, next_thread};
      next_thread = (next_thread + 1) % NTHREADS;
      seed = seed * 1103515245u + 12345u;
      i += n + 1 + (seed >> 16) % 3;
    }
    if (!sl->discarded[pages - 1]) { /* the last page too: edges matter */
      sl->discarded[pages - 1] = 1;
      runs[nruns++] = (struct run){sl->addr + (pages - 1) * sl->page, sl->page, next_thread};
      next_thread = (next_thread + 1) % NTHREADS;
    }
  }
}

static pthread_barrier_t start_line;

/* balloon_thread - discard this thread's runs with plain MADV_DONTNEED.
 * Returns NULL, or (void *)1 if a call failed (printed). */
static void *balloon_thread(void *arg) {
  int t = (int)(intptr_t)arg;
  void *ret = NULL;
  pthread_barrier_wait(&start_line);
  for (int r = 0; r < nruns; r++) {
    if (runs[r].thread != t)
      continue;
    if (madvise(runs[r].addr, runs[r].len, MADV_DONTNEED) != 0) {
      fprintf(stderr, "legacy_vmm: madvise(%p, %zu, MADV_DONTNEED): %s\n", (void *)runs[r].addr,
              runs[r].len, strerror(errno));
      ret = (void *)1;
    }
  }
  return ret;
}

/* slot_of - the slot containing address a and the page index there;
 * returns the slot index or -1. */
static int slot_of(uintptr_t a, size_t *index) {
  for (int s = 0; s < nslots; s++) {
    uintptr_t b = (uintptr_t)slots[s].addr;
    if (a >= b && a < b + slots[s].len) {
      *index = (a - b) / slots[s].page;
      return s;
    }
  }
  return -1;
}

/* fault_thread - serve missing faults with UFFDIO_COPY of a page filled
 * with restored_value until stop_fd is signalled; records every fault.
 * Returns NULL, or (void *)1 on an error (printed). */
static void *fault_thread(void *arg) {
  (void)arg;
  struct pollfd pf[2] = {{.fd = uffd, .events = POLLIN}, {.fd = stop_fd, .events = POLLIN}};
  for (;;) {
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      perror("legacy_vmm: poll");
      return (void *)1;
    }
    if (pf[1].revents)
      return NULL;
    struct uffd_msg msg;
    ssize_t n = read(uffd, &msg, sizeof msg);
    if (n < 0 && errno == EAGAIN)
      continue;
    if (n != sizeof msg) {
      perror("legacy_vmm: read userfaultfd");
      return (void *)1;
    }
    if (msg.event != UFFD_EVENT_PAGEFAULT)
      continue;
    size_t i;
    uintptr_t a = (uintptr_t)msg.arg.pagefault.address;
    int s = slot_of(a, &i);
    if (s < 0) {
      fprintf(stderr, "legacy_vmm: fault outside guest RAM at %#lx\n", (unsigned long)a);
      return (void *)1;
    }
    uintptr_t page = (uintptr_t)slots[s].addr + i * slots[s].page;
    if (nfaults < MAX_FAULTS)
      faults[nfaults++] = page;
    memset(copy_buf, restored_value(s, i), slots[s].page);
    struct uffdio_copy c = {.dst = page, .src = (uintptr_t)copy_buf, .len = slots[s].page};
    if (ioctl(uffd, UFFDIO_COPY, &c) != 0 && errno != EEXIST) {
      fprintf(stderr, "legacy_vmm: UFFDIO_COPY at %#lx: %s\n", (unsigned long)page,
              strerror(errno));
      return (void *)1;
    }
  }
}

/* open_uffd - userfaultfd with the features the slots need, registered in
 * missing mode over every slot.  Returns false (printed) if it cannot be. */
static bool open_uffd(void) {
  uint64_t features = 0;
  for (int s = 0; s < nslots; s++)
    features |= slots[s].features;
  uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
  if (uffd < 0) {
    perror("legacy_vmm: userfaultfd");
    return false;
  }
  struct uffdio_api api = {.api = UFFD_API, .features = features};
  if (ioctl(uffd, UFFDIO_API, &api) != 0) {
    perror("legacy_vmm: UFFDIO_API");
    return false;
  }
  for (int s = 0; s < nslots; s++) {
    struct uffdio_register reg = {
        .range = {.start = (uintptr_t)slots[s].addr, .len = slots[s].len},
        .mode = UFFDIO_REGISTER_MODE_MISSING};
    if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
      fprintf(stderr, "legacy_vmm: UFFDIO_REGISTER %s: %s\n", slots[s].name, strerror(errno));
      return false;
    }
  }
  return true;
}

/* cmp_addr - qsort order of addresses. */
static int cmp_addr(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

/* check - compare the faults with the discarded pages and the contents
 * with what each page must hold; print every difference (up to a limit per
 * slot).  Returns the number of problems. */
static int check(void) {
  int bad = 0;
  qsort(faults, (size_t)nfaults, sizeof faults[0], cmp_addr);
  for (int f = 1; f < nfaults; f++)
    if (faults[f] == faults[f - 1]) {
      fprintf(stderr, "legacy_vmm: page %#lx faulted twice\n", (unsigned long)faults[f]);
      bad++;
    }
  for (int s = 0; s < nslots; s++) {
    struct slot *sl = &slots[s];
    size_t pages = sl->len / sl->page, ndisc = 0, nfault = 0, missed = 0, extra = 0;
    for (size_t i = 0; i < pages; i++) {
      uintptr_t a = (uintptr_t)sl->addr + i * sl->page;
      bool faulted = bsearch(&a, faults, (size_t)nfaults, sizeof faults[0], cmp_addr) != NULL;
      unsigned char want = sl->discarded[i] ? restored_value(s, i) : page_value(s, i);
      ndisc += sl->discarded[i];
      nfault += faulted;
      if (sl->discarded[i] && !faulted && ++missed <= 3)
        fprintf(stderr, "legacy_vmm: %s page %zu (%#lx) was discarded but did not fault\n",
                sl->name, i, (unsigned long)a);
      if (!sl->discarded[i] && faulted && ++extra <= 3)
        fprintf(stderr, "legacy_vmm: %s page %zu (%#lx) faulted but was not discarded\n",
                sl->name, i, (unsigned long)a);
      for (size_t o = 0; o < sl->page; o += 512) {
        if ((unsigned char)sl->addr[i * sl->page + o] != want) {
          if (missed + extra < 3)
            fprintf(stderr, "legacy_vmm: %s page %zu offset %zu holds %#x, not %#x\n", sl->name,
                    i, o, (unsigned char)sl->addr[i * sl->page + o], want);
          bad++;
          break;
        }
      }
    }
    printf("legacy_vmm: %-22s %5zu pages of %4zu KiB: %4zu discarded, %4zu faulted%s\n", sl->name,
           pages, sl->page / KIB, ndisc, nfault,
           missed || extra ? " <- MISMATCH" : "");
    bad += (int)(missed + extra);
  }
  return bad;
}

/* in_slot - true if [a, a+1) is inside some slot. */
static bool in_slot(const char *a) {
  size_t i;
  return slot_of((uintptr_t)a, &i) >= 0;
}

/* check_outside - the canaries in the window and the memfd ranges outside
 * the mappings are unchanged.  Returns the number of problems. */
static int check_outside(void) {
  int bad = 0;
  for (size_t o = 0; o < window_len; o += PAGE) {
    char *p = window + o;
    if (in_slot(p))
      continue;
    for (size_t k = 0; k < PAGE; k++)
      if ((unsigned char)p[k] != CANARY_BYTE) {
        if (++bad <= 5)
          fprintf(stderr, "legacy_vmm: canary changed at %p (window offset %#zx)\n",
                  (void *)(p + k), o + k);
        break;
      }
  }
  /* slot 0's memfd outside the mapped range */
  struct slot *s0 = &slots[0];
  static unsigned char buf[64 * KIB];
  off_t ranges[2][2] = {{0, MEMFD_HEAD}, {MEMFD_HEAD + SLOT_SIZE, MEMFD_HEAD + SLOT_SIZE + MEMFD_TAIL}};
  for (int r = 0; r < 2; r++)
    for (off_t o = ranges[r][0]; o < ranges[r][1]; o += sizeof buf) {
      if (pread(s0->fd, buf, sizeof buf, o) != (ssize_t)sizeof buf) {
        perror("legacy_vmm: pread memfd");
        return bad + 1;
      }
      for (size_t k = 0; k < sizeof buf; k++)
        if (buf[k] != FILE_CANARY) {
          fprintf(stderr, "legacy_vmm: memfd outside the mapping changed at offset %#lx\n",
                  (unsigned long)(o + (off_t)k));
          bad++;
          break;
        }
    }
  printf("legacy_vmm: canaries: %s\n", bad ? "CHANGED" : "unchanged");
  return bad;
}

/* main - see the file comment; prints a summary and returns 0, 1, 2. */
int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  layout();
  fill();
  plan();
  copy_buf = mmap(NULL, HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (copy_buf == MAP_FAILED)
    die("mmap copy buffer");

  /* The balloon: four threads, plain MADV_DONTNEED, all at once. */
  pthread_t th[NTHREADS];
  pthread_barrier_init(&start_line, NULL, NTHREADS);
  for (int t = 0; t < NTHREADS; t++)
    if (pthread_create(&th[t], NULL, balloon_thread, (void *)(intptr_t)t) != 0)
      die("pthread_create");
  int failed_calls = 0;
  for (int t = 0; t < NTHREADS; t++) {
    void *r;
    pthread_join(th[t], &r);
    failed_calls += r != NULL;
  }
  printf("legacy_vmm: %d slots, %d runs discarded by %d threads\n", nslots, nruns, NTHREADS);

  /* userfaultfd: every page of guest RAM is touched; missing ones fault. */
  if (!open_uffd()) {
    if (in_ci()) {
      fprintf(stderr, "legacy_vmm: FAIL: userfaultfd is required in CI\n");
      return 1;
    }
    printf("legacy_vmm: SKIP: userfaultfd unavailable\n");
    return 77;
  }
  stop_fd = eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0)
    die("eventfd");
  pthread_t ft;
  if (pthread_create(&ft, NULL, fault_thread, NULL) != 0)
    die("pthread_create fault thread");
  volatile unsigned sum = 0;
  for (int s = 0; s < nslots; s++)
    for (size_t o = 0; o < slots[s].len; o += PAGE)
      sum += (unsigned char)slots[s].addr[o];
  (void)sum; /* the reads fault the pages in; the sum itself is not needed */
  uint64_t one = 1;
  if (write(stop_fd, &one, sizeof one) != sizeof one)
    die("write eventfd");
  void *fr;
  pthread_join(ft, &fr);
  if (fr != NULL)
    return 2;
  /* Reading the contents in check() must not fault again: unregister. */
  for (int s = 0; s < nslots; s++) {
    struct uffdio_range rg = {.start = (uintptr_t)slots[s].addr, .len = slots[s].len};
    ioctl(uffd, UFFDIO_UNREGISTER, &rg);
  }

  int bad = check() + check_outside() + failed_calls;
  printf("legacy_vmm: %d faults served; %s\n", nfaults,
         bad ? "FAIL: the faulting pages are not exactly the discarded pages"
             : "PASS: exactly the discarded pages faulted");
  return bad ? 1 : 0;
}
