/*
 * zst.c - the harness of test/static (zst.h).  Plain C for any libc.
 */
#define _GNU_SOURCE
#include "zst.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define EXT4_MAGIC 0xEF53
#define HUGETLBFS_MAGIC_ 0x958458f6

bool zst_raw;

static const char *cur_name;
static bool cur_failed, cur_skipped;
static char cur_skip_why[256];
static int n_pass, n_fail, n_skip;

/* zst_begin - see zst.h. */
void zst_begin(const char *name) {
  static bool once;
  if (!once) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    once = true;
  }
  cur_name = name;
  cur_failed = cur_skipped = false;
  cur_skip_why[0] = 0;
}

/* zst_check - see zst.h. */
bool zst_check(bool cond, const char *fmt, ...) {
  if (cond)
    return true;
  cur_failed = true;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  printf("  %s: %s\n", cur_name ? cur_name : "?", buf);
  return false;
}

/* zst_note - see zst.h. */
void zst_note(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  printf("  %s: note: %s\n", cur_name ? cur_name : "?", buf);
}

/* zst_skip - see zst.h. */
void zst_skip(const char *fmt, ...) {
  if (cur_failed)
    return;
  cur_skipped = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cur_skip_why, sizeof cur_skip_why, fmt, ap);
  va_end(ap);
}

/* zst_failed_now - see zst.h. */
bool zst_failed_now(void) { return cur_failed; }

/* zst_end - see zst.h. */
bool zst_end(void) {
  if (cur_failed) {
    printf("FAIL %s\n", cur_name);
    n_fail++;
  } else if (cur_skipped) {
    printf("SKIP %s: %s\n", cur_name, cur_skip_why);
    n_skip++;
  } else {
    printf("PASS %s\n", cur_name);
    n_pass++;
  }
  bool ok = !cur_failed;
  cur_name = NULL;
  return ok;
}

/* zst_summary - see zst.h. */
int zst_summary(void) {
  if (n_skip)
    printf("%d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
  else
    printf("%d passed, %d failed\n", n_pass, n_fail);
  fflush(stdout);
  return n_fail ? 1 : 0;
}

/* zst_in_ci - see zst.h. */
bool zst_in_ci(void) {
  const char *ci = getenv("CI");
  return ci && strcmp(ci, "true") == 0;
}

/* zst_need - see zst.h. */
bool zst_need(bool have, const char *what) {
  if (have)
    return true;
  if (zst_in_ci())
    zst_check(false, "needs %s (missing; CI=true makes this a failure)", what);
  else
    zst_skip("needs %s", what);
  return false;
}

/* zst_madvise - see zst.h. */
int zst_madvise(void *p, size_t len, int advice) {
  if (zst_raw)
    return (int)syscall(SYS_madvise, p, len, advice);
  return madvise(p, len, advice);
}

/* zst_advice_name - see zst.h. */
const char *zst_advice_name(int advice) {
  return advice == MADV_REMOVE ? "MADV_REMOVE" : "MADV_DONTNEED";
}

/* zst_fill - see zst.h. */
void zst_fill(void *p, size_t len, unsigned char v) { memset(p, v, len); }

/* zst_find_not - see zst.h. */
long zst_find_not(const void *p, size_t len, unsigned char v) {
  const volatile unsigned char *b = p;
  for (size_t i = 0; i < len; i++)
    if (b[i] != v)
      return (long)i;
  return -1;
}

/* zst_pfill - see zst.h. */
bool zst_pfill(int fd, off_t off, size_t len, unsigned char v) {
  unsigned char buf[65536];
  memset(buf, v, sizeof buf);
  while (len) {
    size_t n = len < sizeof buf ? len : sizeof buf;
    ssize_t w = pwrite(fd, buf, n, off);
    if (w <= 0)
      return false;
    off += w;
    len -= (size_t)w;
  }
  return true;
}

/* zst_pfind_not - see zst.h. */
long zst_pfind_not(int fd, off_t off, size_t len, unsigned char v) {
  unsigned char buf[65536];
  size_t done = 0;
  while (done < len) {
    size_t n = len - done < sizeof buf ? len - done : sizeof buf;
    ssize_t r = pread(fd, buf, n, off + (off_t)done);
    if (r <= 0)
      return -2;
    for (ssize_t i = 0; i < r; i++)
      if (buf[i] != v)
        return (long)(done + (size_t)i);
    done += (size_t)r;
  }
  return -1;
}

/* zst_resident - see zst.h. */
long zst_resident(const void *p, size_t len) {
  size_t pages = (len + ZST_PAGE - 1) / ZST_PAGE;
  unsigned char *vec = malloc(pages);
  if (!vec)
    return -1;
  long n = 0;
  if (mincore((void *)p, len, vec) != 0) {
    free(vec);
    return -1;
  }
  for (size_t i = 0; i < pages; i++)
    n += vec[i] & 1;
  free(vec);
  return n;
}

/* zst_blocks - see zst.h. */
long long zst_blocks(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? (long long)st.st_blocks : -1;
}

/* vma_of - the [start, end) of the /proc/self/maps line containing p. */
static bool vma_of(const void *p, uintptr_t *s, uintptr_t *e) {
  FILE *f = fopen("/proc/self/maps", "re");
  if (!f)
    return false;
  char line[512];
  bool found = false;
  while (fgets(line, sizeof line, f)) {
    unsigned long a, b;
    if (sscanf(line, "%lx-%lx", &a, &b) == 2 && (uintptr_t)p >= a && (uintptr_t)p < b) {
      *s = a;
      *e = b;
      found = true;
      break;
    }
  }
  fclose(f);
  return found;
}

/* zst_map_blocks - see zst.h. */
long long zst_map_blocks(const void *p) {
  uintptr_t s, e;
  if (!vma_of(p, &s, &e))
    return -1;
  char path[96];
  snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", (unsigned long)s, (unsigned long)e);
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_blocks : -1;
}

/* zst_smaps_kb - see zst.h. */
long zst_smaps_kb(const void *p, const char *field, const char *field2) {
  FILE *f = fopen("/proc/self/smaps", "re");
  if (!f)
    return -1;
  char line[512];
  bool in = false;
  long sum = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long a, b;
    char c;
    if (sscanf(line, "%lx-%lx %c", &a, &b, &c) == 3 && strchr(line, ' ') &&
        strchr(line, '-') < strchr(line, ' ')) {
      if (in)
        break;
      in = (uintptr_t)p >= a && (uintptr_t)p < b;
      if (in)
        sum = 0;
      continue;
    }
    if (!in)
      continue;
    const char *names[2] = {field, field2};
    for (int i = 0; i < 2; i++) {
      size_t n = names[i] ? strlen(names[i]) : 0;
      if (n && strncmp(line, names[i], n) == 0 && line[n] == ':')
        sum += strtol(line + n + 1, NULL, 10);
    }
  }
  fclose(f);
  return sum;
}

/* zst_hole - see zst.h. */
bool zst_hole(int fd, off_t off, size_t len) {
  off_t d = lseek(fd, off, SEEK_DATA);
  if (d < 0)
    return errno == ENXIO;
  return d >= off + (off_t)len;
}

/* zst_uffd_open - see zst.h. */
int zst_uffd_open(uint64_t features) {
  int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return -1;
  struct uffdio_api api = {.api = UFFD_API, .features = features};
  if (ioctl(fd, UFFDIO_API, &api) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* zst_uffd_register - see zst.h. */
int zst_uffd_register(int uffd, void *p, size_t len) {
  struct uffdio_register r = {
      .range = {.start = (uintptr_t)p, .len = len},
      .mode = UFFDIO_REGISTER_MODE_MISSING,
  };
  return ioctl(uffd, UFFDIO_REGISTER, &r);
}

static sigjmp_buf bus_jmp;

/* on_bus - SIGBUS during a probing read: jump back. */
static void on_bus(int sig) {
  (void)sig;
  siglongjmp(bus_jmp, 1);
}

/* bus_on_read - read one byte at p; true if it raised SIGBUS. */
static bool bus_on_read(const void *p) {
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_bus;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &old);
  bool bus;
  if (sigsetjmp(bus_jmp, 1) == 0) {
    (void)*(const volatile unsigned char *)p;
    bus = false;
  } else {
    bus = true;
  }
  sigaction(SIGBUS, &old, NULL);
  return bus;
}

/* zst_missing_fault - see zst.h. */
int zst_missing_fault(void *p, size_t len, uint64_t features) {
  int uffd = zst_uffd_open(features);
  if (uffd < 0)
    return -1;
  if (zst_uffd_register(uffd, p, len) != 0) {
    int e = errno;
    close(uffd);
    errno = e;
    return -1;
  }
  int n = bus_on_read(p) + bus_on_read((char *)p + len / 2);
  struct uffdio_range r = {.start = (uintptr_t)p, .len = len};
  ioctl(uffd, UFFDIO_UNREGISTER, &r);
  close(uffd);
  return n;
}

/* zst_hugepages_free - see zst.h. */
long zst_hugepages_free(void) {
  FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "re");
  if (!f)
    return -1;
  long n = -1;
  if (fscanf(f, "%ld", &n) != 1)
    n = -1;
  fclose(f);
  return n;
}

/* zst_hugetlbfs_dir - see zst.h.  A mount with pagesize=2M, or without a
 * pagesize option (the default size, 2 MiB on x86_64). */
bool zst_hugetlbfs_dir(char *dir, size_t len) {
  FILE *f = fopen("/proc/mounts", "re");
  if (!f)
    return false;
  char line[1024];
  bool found = false;
  while (!found && fgets(line, sizeof line, f)) {
    char dev[256], mnt[512], type[64], opts[512];
    if (sscanf(line, "%255s %511s %63s %511s", dev, mnt, type, opts) != 4)
      continue;
    if (strcmp(type, "hugetlbfs") != 0)
      continue;
    char *ps = strstr(opts, "pagesize=");
    if (ps && strncmp(ps + 9, "2M", 2) != 0 && strncmp(ps + 9, "2048k", 5) != 0)
      continue;
    if (access(mnt, W_OK) != 0)
      continue;
    snprintf(dir, len, "%s", mnt);
    found = true;
  }
  fclose(f);
  return found;
}

/* zst_ext4_dir - see zst.h. */
const char *zst_ext4_dir(void) {
  const char *cands[] = {getenv("ZT_EXT4_DIR"), "/var/tmp", "/tmp", "."};
  for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
    struct statfs sf;
    if (cands[i] && statfs(cands[i], &sf) == 0 && sf.f_type == EXT4_MAGIC &&
        access(cands[i], W_OK) == 0)
      return cands[i];
  }
  return NULL;
}

/* zst_memfd - see zst.h. */
int zst_memfd(const char *name, unsigned flags, size_t len) {
  int fd = (int)syscall(SYS_memfd_create, name, flags);
  if (fd < 0)
    return -1;
  if (ftruncate(fd, (off_t)len) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* zst_now_ns - see zst.h. */
uint64_t zst_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
