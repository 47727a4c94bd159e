/*
 * verify.c - checking that a zapped range is non-present (ZAPSHIM_VERIFY).
 */
#define _GNU_SOURCE
#include "verify.h"
#include "log.h"
#include "procfs.h"
#include "state.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#define VERIFY_BATCH 512 /* pages per mincore / pagemap read */
#define PAGEMAP_PRESENT_OR_SWAPPED (3ULL << 62)

/* resident_pages - pages of [a, b) mincore reports resident, or -errno. */
static long resident_pages(uintptr_t a, uintptr_t b) {
  unsigned char vec[VERIFY_BATCH];
  size_t page = zs_state.page_size;
  long count = 0;
  for (uintptr_t x = a; x < b;) {
    size_t n = (b - x) / page;
    if (n > VERIFY_BATCH)
      n = VERIFY_BATCH;
    if (mincore((void *)x, n * page, vec) != 0)
      return -errno;
    for (size_t i = 0; i < n; i++)
      count += vec[i] & 1;
    x += n * page;
  }
  return count;
}

/* zs_verify_mapped_pages - see verify.h. */
long zs_verify_mapped_pages(int pid, uintptr_t a, uintptr_t b) {
  uint64_t ent[VERIFY_BATCH];
  size_t page = zs_state.page_size;
  int fd = zs_proc_open_of(pid, "pagemap", O_RDONLY);
  if (fd < 0)
    return -errno;
  long count = 0;
  for (uintptr_t x = a; x < b;) {
    size_t n = (b - x) / page;
    if (n > VERIFY_BATCH)
      n = VERIFY_BATCH;
    ssize_t got = pread(fd, ent, n * sizeof ent[0], (off_t)(x / page * sizeof ent[0]));
    if (got != (ssize_t)(n * sizeof ent[0])) {
      count = got < 0 ? -errno : -EIO;
      break;
    }
    for (size_t i = 0; i < n; i++)
      count += (ent[i] & PAGEMAP_PRESENT_OR_SWAPPED) != 0;
    x += n * page;
  }
  zs_sys_close(fd);
  return count;
}

/* zs_verify_range - see verify.h. */
long zs_verify_range(uintptr_t a, uintptr_t b, const char *kind_name) {
  if (a >= b)
    return 0;
  long resident = resident_pages(a, b);
  long present = zs_verify_mapped_pages(0, a, b);
  if (resident < 0 || present < 0)
    return resident < 0 ? resident : present;
  long worst = resident > present ? resident : present;
  struct zs_line l;
  zs_line_start(&l, worst ? "warning: verify: " : "verify: ");
  zs_line_hex(&l, a);
  zs_line_str(&l, "-");
  zs_line_hex(&l, b);
  zs_line_str(&l, " kind=");
  zs_line_str(&l, kind_name);
  zs_line_str(&l, " resident=");
  zs_line_dec(&l, resident);
  zs_line_str(&l, " present=");
  zs_line_dec(&l, present);
  zs_line_str(&l, worst ? " pages: zap NOT whole" : ": non-present");
  zs_line_emit(&l);
  return worst;
}
