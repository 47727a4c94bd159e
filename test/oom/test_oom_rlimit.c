/*
 * test_oom_rlimit.c - issue 9 case 3 under the plain libzapshim.so, with
 * no fault injection: the registry's pool really cannot grow.
 *
 * exhaust() maps a filler area of 2 * ZS_CHUNK_NODES + 16 pages of a
 * memfd, MAP_PRIVATE and read-only (one registry entry), lowers RLIMIT_AS
 * to the address space in use plus 512 KiB - less than a storage chunk
 * (ZS_CHUNK_NODES nodes, 896 KiB) - and then maps one page of the file
 * after the other over the filler with MAP_FIXED, each at its own offset:
 * each costs the registry one node (a private file mapping is never joined
 * to its neighbours, unlike plain anonymous memory) and the kernel no
 * address space (it only replaces, and merges the page back into the
 * filler's VMA: same file, contiguous offsets, never written).  Once the
 * chunks mapped so far are full, the next chunk cannot be mapped, and the
 * registry can no longer record a page: that page's query answers the
 * kernel's merged VMA instead of the page.  So the pool is exactly full,
 * whatever the test process had mapped before
 * (Criterion's own mappings included).  Then the case replaces a known
 * mapping: with no node to spare, the registry must carve the old entry
 * out first (freeing its node) rather than keep it.
 */
#define _GNU_SOURCE
#include "oomcase.h"
#include "registry.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define FILL_PAGES (2 * ZS_CHUNK_NODES + 16)
#define MARGIN (512 * 1024)

static struct rlimit saved;
static size_t filled;      /* pages recorded before the registry refused one */
static int refused;        /* 1 once a page could not be recorded */
static int exhaust_errno;  /* errno of a step of exhaust() that failed */

/* vm_bytes - the address space in use (VmSize), from /proc/self/statm
 * without stdio; 0 if it cannot be read. */
static size_t vm_bytes(void) {
  char buf[128];
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return 0;
  buf[n] = 0;
  return (size_t)strtoull(buf, NULL, 10) * zt_page_size();
}

/* exhaust - see the top of the file.  Records what happened; restore()
 * asserts it. */
static void exhaust(void) {
  size_t pg = zt_page_size();
  int fd = zt_make_memfd(FILL_PAGES * pg, 0);
  char *area = mmap(NULL, FILL_PAGES * pg, PROT_READ, MAP_PRIVATE, fd, 0);
  size_t vm = vm_bytes();
  if (area == MAP_FAILED || vm == 0 || getrlimit(RLIMIT_AS, &saved) != 0) {
    exhaust_errno = errno ? errno : EIO;
    return;
  }
  struct rlimit tight = {vm + MARGIN, saved.rlim_max};
  if (setrlimit(RLIMIT_AS, &tight) != 0) {
    exhaust_errno = errno;
    return;
  }
  for (filled = 0; filled < FILL_PAGES; filled++) {
    char *q = area + filled * pg;
    if (mmap(q, pg, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, (off_t)(filled * pg)) != q) {
      exhaust_errno = errno;
      return;
    }
    unsigned long s, e;
    if (!oom_query_bounds(q, &s, &e)) {
      exhaust_errno = EIO;
      return;
    }
    if (s == (unsigned long)q && e == (unsigned long)q + pg)
      continue; /* recorded */
    if (s <= (unsigned long)area && e > (unsigned long)q + pg)
      refused = 1; /* not recorded (the kernel's merged VMA): the pool is full */
    else
      exhaust_errno = EPROTO; /* neither: the layout is not what the test needs */
    return;
  }
}

/* restore - the old limit; assert the pool was really exhausted. */
static void restore(void) {
  cr_assert_eq(setrlimit(RLIMIT_AS, &saved), 0);
  cr_assert_eq(exhaust_errno, 0, "exhausting the registry failed: %s", strerror(exhaust_errno));
  cr_assert(refused, "the registry recorded all %zu filler pages under RLIMIT_AS", filled);
  cr_log_info("registry exhausted after %zu filler pages", filled);
}

static const struct oom_env rlimit_as = {exhaust, restore};

TestSuite(oom_rlimit, .timeout = 60);

Test(oom_rlimit, ext4_file_over_known_hugetlb) {
  oom_ext4_over_hugetlb(&rlimit_as, ZT_HPAGE_2M, 0);
}

/* A split finds no node: the whole huge entry goes, its node carries the
 * file's entry. */
Test(oom_rlimit, ext4_file_over_half_of_known_hugetlb) {
  oom_ext4_over_hugetlb(&rlimit_as, 2 * ZT_HPAGE_2M, ZT_HPAGE_2M);
}

Test(oom_rlimit, shared_memfd_over_known_anon) {
  oom_memfd_over_anon(&rlimit_as);
}
