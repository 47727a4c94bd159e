/*
 * test_vma.c - zs_vma_query (PROCMAP_QUERY and /proc/self/maps paths),
 * zs_vma_fs_type and the cached descriptor, against real mappings.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "classify.h"
#include "forkmark.h"
#include "mountinfo.h"
#include "state.h"
#include "sys.h"
#include "testutil.h"
#include "unit_setup.h"
#include "vma.h"

#define MiB (1024UL * 1024)
#define EXT4_MAGIC 0xEF53

static size_t ps;

/* setup - the zs_state fields vma.c and classify.c read. */
static void setup(void) { ps = unit_setup_state(); }

TestSuite(vma, .init = setup);

/* query - zs_vma_query through one path. */
static int query(bool pmq, uintptr_t addr, struct zs_vma *v) {
  zs_state.caps.procmap_query = pmq;
  memset(v, 0x5a, sizeof *v);
  int rc = zs_vma_query(addr, v);
  zs_state.caps.procmap_query = true;
  return rc;
}

/* query_both - both paths must answer the same for addr; returns rc, the
 * PROCMAP_QUERY answer in *a and the maps answer in *b. */
static int query_both(uintptr_t addr, struct zs_vma *a, struct zs_vma *b) {
  int ra = query(true, addr, a);
  int rb = query(false, addr, b);
  cr_assert_eq(ra, rb, "rc pmq %d maps %d at %#lx", ra, rb, (unsigned long)addr);
  if (ra)
    return ra;
  cr_assert_eq(a->start, b->start, "start %#lx vs %#lx", (unsigned long)a->start,
               (unsigned long)b->start);
  cr_assert_eq(a->end, b->end);
  cr_assert_eq(a->offset, b->offset);
  cr_assert_eq(a->dev_major, b->dev_major);
  cr_assert_eq(a->dev_minor, b->dev_minor);
  cr_assert_eq(a->ino, b->ino);
  cr_assert_eq(a->flags, b->flags, "flags %#x vs %#x", a->flags, b->flags);
  cr_assert_str_eq(a->name, b->name);
  cr_assert_eq(b->page_size, 0, "maps cannot know the page size");
  cr_assert_neq(a->page_size, 0);
  /* the query without the name: the same answer, name "" */
  struct zs_vma c;
  memset(&c, 0x5a, sizeof c);
  cr_assert_eq(zs_vma_query_bare(addr, &c), 0);
  cr_assert_eq(c.start, a->start);
  cr_assert_eq(c.end, a->end);
  cr_assert_eq(c.offset, a->offset);
  cr_assert_eq(c.dev_major, a->dev_major);
  cr_assert_eq(c.dev_minor, a->dev_minor);
  cr_assert_eq(c.ino, a->ino);
  cr_assert_eq(c.flags, a->flags);
  cr_assert_eq(c.page_size, a->page_size);
  cr_assert_str_eq(c.name, "");
  return 0;
}

/* hugetlbfs_mount - the first hugetlbfs mount with 2 MiB pages (testutil's
 * zt_hugetlbfs_mount); NULL if none. */
static const char *hugetlbfs_mount(void) {
  static char path[PATH_MAX];
  return zt_hugetlbfs_mount(2u << 20, path, sizeof path) ? path : NULL;
}

static long free_huge_pages(void) {
  FILE *f = fopen("/proc/meminfo", "re");
  char line[256];
  long n = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
      break;
  if (f)
    fclose(f);
  return n;
}

/* need_huge - require a 2 MiB hugetlbfs mount and n free huge pages. */
static const char *need_huge(long n) {
  const char *m = hugetlbfs_mount();
  zt_need(m && free_huge_pages() >= n,
          "2 MiB huge pages: echo 256 > /proc/sys/vm/nr_hugepages and mount hugetlbfs");
  return m;
}

/* ext4_dir - a writable directory on ext4 (/var/tmp or /tmp), or NULL. */
static const char *ext4_dir(void) {
  static const char *cands[] = {"/var/tmp", "/tmp"};
  for (size_t i = 0; i < 2; i++) {
    struct statfs s;
    if (statfs(cands[i], &s) == 0 && s.f_type == EXT4_MAGIC && access(cands[i], W_OK) == 0)
      return cands[i];
  }
  return NULL;
}

/* tmpfile_in - a new unlinked-later file of len bytes in dir; fd. */
static int tmpfile_in(const char *dir, size_t len, char *path_out, size_t cap) {
  snprintf(path_out, cap, "%s/zs-vma-XXXXXX", dir);
  int fd = mkstemp(path_out);
  cr_assert_geq(fd, 0, "mkstemp in %s: %s", dir, strerror(errno));
  cr_assert_eq(ftruncate(fd, (off_t)len), 0);
  return fd;
}

static void *map(size_t len, int prot, int flags, int fd, off_t off) {
  void *p = mmap(NULL, len, prot, flags, fd, off);
  cr_assert_neq(p, MAP_FAILED, "mmap: %s", strerror(errno));
  return p;
}

/* check_exact - both paths find exactly [p, p+len) with these facts. */
static void check_exact(void *p, size_t len, uint32_t flags, uint64_t page_size,
                        struct zs_vma *out) {
  struct zs_vma b;
  cr_assert_eq(query_both((uintptr_t)p + len / 2, out, &b), 0);
  cr_assert_eq(out->start, (uintptr_t)p);
  cr_assert_eq(out->end, (uintptr_t)p + len);
  cr_assert_eq(out->flags, flags, "flags %#x want %#x", out->flags, flags);
  cr_assert_eq(out->page_size, page_size, "page size %lu want %lu",
               (unsigned long)out->page_size, (unsigned long)page_size);
}

/* check_file - the VMA's device and inode are those of fd. */
static void check_file(const struct zs_vma *v, int fd) {
  struct stat st;
  cr_assert_eq(fstat(fd, &st), 0);
  cr_assert_eq(v->dev_major, major(st.st_dev));
  cr_assert_eq(v->dev_minor, minor(st.st_dev));
  cr_assert_eq(v->ino, (uint64_t)st.st_ino);
}

Test(vma, covering_next_and_enoent) {
  /* [guard][R][hole][hole][RW][guard]: distinct protections, no merging */
  char *b = map(6 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert_eq(mprotect(b + ps, ps, PROT_READ), 0);
  cr_assert_eq(mprotect(b + 4 * ps, ps, PROT_READ | PROT_WRITE), 0);
  cr_assert_eq(munmap(b + 2 * ps, 2 * ps), 0);
  struct zs_vma a, m;

  cr_assert_eq(query_both((uintptr_t)b + ps + 17, &a, &m), 0);
  cr_assert_eq(a.start, (uintptr_t)b + ps);
  cr_assert_eq(a.end, (uintptr_t)b + 2 * ps);
  cr_assert_eq(a.flags, ZS_VMA_READ);
  cr_assert_eq(a.ino, 0);
  cr_assert_str_eq(a.name, "");
  cr_assert_eq(a.page_size, ps);

  /* in the hole: the next VMA */
  cr_assert_eq(query_both((uintptr_t)b + 2 * ps, &a, &m), 0);
  cr_assert_eq(a.start, (uintptr_t)b + 4 * ps);
  cr_assert_eq(a.end, (uintptr_t)b + 5 * ps);
  cr_assert_eq(a.flags, ZS_VMA_READ | ZS_VMA_WRITE);

  /* the last byte of a VMA is covered, its end is not */
  cr_assert_eq(query_both((uintptr_t)b + 5 * ps - 1, &a, &m), 0);
  cr_assert_eq(a.start, (uintptr_t)b + 4 * ps);
  cr_assert_eq(query_both((uintptr_t)b + 5 * ps, &a, &m), 0);
  cr_assert_eq(a.start, (uintptr_t)b + 5 * ps);
  cr_assert_eq(a.flags, 0);

  /* above user space: nothing (maps' [vsyscall] is not a VMA) */
  cr_assert_eq(query_both((uintptr_t)1 << 47, &a, &m), ENOENT);
  cr_assert_eq(query_both(~(uintptr_t)0 - 4095, &a, &m), ENOENT);
  munmap(b, 6 * ps);
}

Test(vma, anon_shared_and_private) {
  struct zs_vma v;
  void *p = map(8 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  madvise(p, 8 * ps, MADV_NOHUGEPAGE); /* keep it a VMA of its own */
  check_exact(p, 8 * ps, ZS_VMA_READ | ZS_VMA_WRITE, ps, &v);
  cr_assert_eq(v.ino, 0);
  void *s = map(8 * ps, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  check_exact(s, 8 * ps, ZS_VMA_READ | ZS_VMA_SHARED, ps, &v);
  cr_assert_neq(v.ino, 0);
  cr_assert_eq(zs_dev_pack(v.dev_major, v.dev_minor), zs_state.shm_dev);
  cr_assert_str_eq(v.name, "/dev/zero (deleted)");
  munmap(p, 8 * ps);
  munmap(s, 8 * ps);
}

Test(vma, memfd_shared_private_with_offset) {
  struct zs_vma v;
  int fd = memfd_create("zs-vma-test", MFD_CLOEXEC);
  cr_assert_geq(fd, 0);
  cr_assert_eq(ftruncate(fd, 16 * ps), 0);
  void *s = map(4 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 4 * ps);
  check_exact(s, 4 * ps, ZS_VMA_READ | ZS_VMA_WRITE | ZS_VMA_SHARED, ps, &v);
  check_file(&v, fd);
  cr_assert_eq(v.offset, 4 * ps);
  cr_assert_str_eq(v.name, "/memfd:zs-vma-test (deleted)");
  cr_assert_eq(zs_dev_pack(v.dev_major, v.dev_minor), zs_state.shm_dev);
  void *p = map(2 * ps, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 8 * ps);
  check_exact(p, 2 * ps, ZS_VMA_READ | ZS_VMA_EXEC, ps, &v);
  check_file(&v, fd);
  cr_assert_eq(v.offset, 8 * ps);
  munmap(s, 4 * ps);
  munmap(p, 2 * ps);
  close(fd);
}

Test(vma, dev_shm_and_ext4_files) {
  struct zs_vma v;
  char path[PATH_MAX];
  int fd = tmpfile_in("/dev/shm", 4 * ps, path, sizeof path);
  void *s = map(4 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  check_exact(s, 4 * ps, ZS_VMA_READ | ZS_VMA_WRITE | ZS_VMA_SHARED, ps, &v);
  check_file(&v, fd);
  cr_assert_str_eq(v.name, path);
  munmap(s, 4 * ps);
  unlink(path);
  close(fd);

  const char *dir = ext4_dir();
  zt_need(dir != NULL, "a writable ext4 directory (/var/tmp or /tmp)");
  fd = tmpfile_in(dir, 4 * ps, path, sizeof path);
  s = map(4 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  check_exact(s, 4 * ps, ZS_VMA_READ | ZS_VMA_WRITE | ZS_VMA_SHARED, ps, &v);
  check_file(&v, fd);
  cr_assert_str_eq(v.name, path);
  void *p = map(2 * ps, PROT_READ, MAP_PRIVATE, fd, 2 * ps);
  check_exact(p, 2 * ps, ZS_VMA_READ, ps, &v);
  cr_assert_eq(v.offset, 2 * ps);
  /* a deleted file keeps its VMA, with " (deleted)" in both paths */
  unlink(path);
  check_exact(p, 2 * ps, ZS_VMA_READ, ps, &v);
  cr_assert(strstr(v.name, " (deleted)") != NULL, "%s", v.name);
  munmap(s, 4 * ps);
  munmap(p, 2 * ps);
  close(fd);
}

Test(vma, sysv_shm) {
  struct zs_vma v;
  int id = shmget(IPC_PRIVATE, 4 * ps, IPC_CREAT | 0600);
  cr_assert_geq(id, 0, "shmget: %s", strerror(errno));
  void *p = shmat(id, NULL, 0);
  shmctl(id, IPC_RMID, NULL);
  cr_assert_neq(p, (void *)-1);
  check_exact(p, 4 * ps, ZS_VMA_READ | ZS_VMA_WRITE | ZS_VMA_SHARED, ps, &v);
  cr_assert_eq(zs_dev_pack(v.dev_major, v.dev_minor), zs_state.shm_dev);
  cr_assert(strncmp(v.name, "/SYSV", 5) == 0, "%s", v.name);
  shmdt(p);
}

Test(vma, hugetlb_kinds) {
  const char *mnt = need_huge(6);
  struct zs_vma v;
  char path[PATH_MAX];
  int fd = tmpfile_in(mnt, 4 * MiB, path, sizeof path);
  void *s = map(4 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  check_exact(s, 4 * MiB, ZS_VMA_READ | ZS_VMA_WRITE | ZS_VMA_SHARED, 2 * MiB, &v);
  check_file(&v, fd);
  cr_assert_str_eq(v.name, path);
  munmap(s, 4 * MiB);
  unlink(path);
  close(fd);

  void *a = map(2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
  check_exact(a, 2 * MiB, ZS_VMA_READ | ZS_VMA_WRITE | ZS_VMA_SHARED, 2 * MiB, &v);
  cr_assert_str_eq(v.name, "/anon_hugepage (deleted)");
  void *q = map(2 * MiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
  check_exact(q, 2 * MiB, ZS_VMA_READ, 2 * MiB, &v);
  cr_log_info("MAP_HUGETLB private: ino %lu name '%s'", (unsigned long)v.ino, v.name);
  munmap(a, 2 * MiB);
  munmap(q, 2 * MiB);

  int mfd = memfd_create("zs-huge", MFD_CLOEXEC | MFD_HUGETLB);
  cr_assert_geq(mfd, 0);
  cr_assert_eq(ftruncate(mfd, 2 * MiB), 0);
  void *m = map(2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  check_exact(m, 2 * MiB, ZS_VMA_READ | ZS_VMA_WRITE | ZS_VMA_SHARED, 2 * MiB, &v);
  check_file(&v, mfd);
  cr_assert_str_eq(v.name, "/memfd:zs-huge (deleted)");
  cr_assert_neq(zs_dev_pack(v.dev_major, v.dev_minor), zs_state.shm_dev);
  munmap(m, 2 * MiB);
  close(mfd);
}

/* many_vmas - n one-page VMAs of alternating protection; returns base. */
static char *many_vmas(size_t n) {
  char *b = map(n * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  for (size_t i = 1; i < n; i += 2)
    cr_assert_eq(mprotect(b + i * ps, ps, PROT_READ), 0);
  return b;
}

/* maps_splits_lines - true if reading /proc/self/maps in 4 KiB chunks
 * ends some chunk inside a line. */
static bool maps_splits_lines(void) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  char buf[4096];
  ssize_t n;
  bool split = false;
  int chunks = 0;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    chunks++;
    if (buf[n - 1] != '\n')
      split = true;
  }
  close(fd);
  cr_log_info("/proc/self/maps: %d chunks of 4 KiB, split line: %d", chunks, split);
  return split;
}

Test(vma, long_maps_split_lines) {
  const size_t n = 601;
  char *b = many_vmas(n);
  /* seq_file reads return whole lines when they fit: this checks the
   * parser over many chunk boundaries (long_names_and_split_lines has the
   * lines that really straddle) */
  maps_splits_lines();
  struct zs_vma a, m;
  for (size_t i = 0; i < n; i++) {
    cr_assert_eq(query_both((uintptr_t)b + i * ps, &a, &m), 0);
    cr_assert_eq(a.start, (uintptr_t)b + i * ps);
    cr_assert_eq(a.end, (uintptr_t)b + (i + 1) * ps);
    cr_assert_eq(a.flags, (i & 1) ? ZS_VMA_READ : 0);
  }
  munmap(b, n * ps);
}

/* deep_file - a file "f" at the bottom of nested 200-byte directories in
 * dir, its whole path about len bytes (beyond PATH_MAX through relative
 * paths); the path in path_out (malloc'ed), the bottom directory's fd in
 * *dfd_out, the depth in *depth_out.  Returns the file's fd. */
static const char comp200[] =
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";
static int deep_file(const char *dir, size_t len, char **path_out, int *dfd_out, int *depth_out) {
  char *path = malloc(len + 512);
  snprintf(path, len + 512, "%s/zs-vma-long-XXXXXX", dir);
  cr_assert_neq(mkdtemp(path), NULL);
  int dfd = open(path, O_DIRECTORY | O_CLOEXEC), depth = 0;
  while (strlen(path) + 2 * sizeof comp200 < len) {
    cr_assert_eq(mkdirat(dfd, comp200, 0700), 0, "%s", strerror(errno));
    int n = openat(dfd, comp200, O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(n, 0);
    close(dfd);
    dfd = n;
    strcat(path, "/");
    strcat(path, comp200);
    depth++;
  }
  strcat(path, "/f");
  int fd = openat(dfd, "f", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  cr_assert_geq(fd, 0, "%s", strerror(errno));
  *path_out = path;
  *dfd_out = dfd;
  *depth_out = depth;
  return fd;
}

/* deep_cleanup - remove what deep_file made. */
static void deep_cleanup(char *path, int dfd, int depth) {
  unlinkat(dfd, "f", 0);
  for (int d = 0; d < depth; d++) {
    int up = openat(dfd, "..", O_DIRECTORY | O_CLOEXEC);
    close(dfd);
    dfd = up;
    unlinkat(dfd, comp200, AT_REMOVEDIR);
  }
  close(dfd);
  *strstr(path, "/nnn") = '\0';
  rmdir(path);
  free(path);
}

/* check_long_names - VMAs of a file with a long path: both paths agree and
 * keep the name's head; returns whether reading maps split a line. */
static bool check_long_names(size_t len) {
  const char *dir = ext4_dir() ? ext4_dir() : "/dev/shm";
  char *path;
  int dfd, depth;
  int fd = deep_file(dir, len, &path, &dfd, &depth);
  cr_assert_eq(ftruncate(fd, 8 * ps), 0);
  char *p[8];
  for (int i = 0; i < 8; i++)
    p[i] = map(ps, i & 1 ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)(i * ps));
  bool split = maps_splits_lines();
  struct zs_vma a, m;
  for (int i = 0; i < 8; i++) {
    cr_assert_eq(query_both((uintptr_t)p[i], &a, &m), 0);
    cr_assert_eq(a.start, (uintptr_t)p[i]);
    cr_assert_eq(a.offset, (uint64_t)i * ps);
    cr_assert_eq(a.page_size, ps);
    cr_assert_eq(strlen(a.name), ZS_VMA_NAME_MAX - 1, "name truncated");
    cr_assert(strncmp(a.name, path, ZS_VMA_NAME_MAX - 1) == 0);
    check_file(&a, fd);
  }
  for (int i = 0; i < 8; i++)
    munmap(p[i], ps);
  close(fd);
  deep_cleanup(path, dfd, depth);
  return split;
}

/* Names longer than out->name (PROCMAP_QUERY's ENAMETOOLONG retry), and a
 * path longer than PATH_MAX, whose maps lines are longer than a 4 KiB read
 * (the kernel splits them; shorter lines it never splits) and which the
 * ioctl cannot name at all. */
Test(vma, long_names_and_split_lines) {
  check_long_names(3900);
  cr_assert(check_long_names(6000), "a 6 KiB maps line must straddle 4 KiB reads");
}

/* cached_maps_fds - how many descriptors are open on some /proc/<pid>/maps;
 * *last is one of them. */
static int cached_maps_fds(int *last) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  char link[128], p[300];
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
    ssize_t k = readlink(p, link, sizeof link - 1);
    if (k <= 0)
      continue;
    link[k] = '\0';
    int fd = atoi(e->d_name);
    /* ours, or a parent's: any /proc/<pid>/maps */
    if (strncmp(link, "/proc/", 6) == 0 && k > 5 && strcmp(link + k - 5, "/maps") == 0 &&
        fd != dirfd(d)) {
      n++;
      *last = fd;
    }
  }
  closedir(d);
  return n;
}

Test(vma, cached_fd_is_high_and_recovers) {
  struct zs_vma v;
  int x = 0;
  zs_vma_forget_fd();
  cr_assert_eq(cached_maps_fds(&x), 0);
  cr_assert_eq(query(true, (uintptr_t)&v, &v), 0);
  int fd = -1;
  cr_assert_eq(cached_maps_fds(&fd), 1);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t lim = rl.rlim_cur > ZS_FD_CEILING ? ZS_FD_CEILING : rl.rlim_cur;
  cr_assert_geq((rlim_t)fd, lim - 64, "fd %d, soft limit %lu", fd, (unsigned long)rl.rlim_cur);
  cr_assert_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

  /* the program closes it: EBADF, reopened */
  close(fd);
  cr_assert_eq(query(true, (uintptr_t)&v, &v), 0);
  cr_assert_eq(cached_maps_fds(&fd), 1);

  /* the program puts its own file at that number: ENOTTY, reopened, and
   * the program's file is left open */
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  cr_assert_eq(dup2(null, fd), fd);
  cr_assert_eq(query(true, (uintptr_t)&v, &v), 0);
  cr_assert_eq(fcntl(fd, F_GETFD) >= 0, 1, "the program's descriptor was closed");
  int nfd = -1;
  cr_assert_eq(cached_maps_fds(&nfd), 1);
  cr_assert_neq(nfd, fd);
  close(fd);
  close(null);

  zs_vma_forget_fd();
  cr_assert_eq(cached_maps_fds(&x), 0);
  zs_vma_forget_fd(); /* idempotent */
}

/* raw_fork_child_asks_itself - a child made by a raw fork syscall (no
 * atfork handlers) must not ask with its parent's descriptor: that one
 * describes the parent.  The child checks its own new mapping is seen and
 * that forkmark gives its own pid; the parent's descriptor stays. */
static void raw_fork_child_asks_itself(void) {
  struct zs_vma v;
  cr_assert_eq(query(true, (uintptr_t)&v, &v), 0); /* parent caches its fd */
  cr_assert_eq(zs_forkmark_pid(), (uint32_t)getpid());
  pid_t pid = (pid_t)syscall(SYS_fork);
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    void *p = mmap(NULL, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int ok = zs_forkmark_pid() == (uint32_t)syscall(SYS_getpid);
    ok = ok && p != MAP_FAILED && query(true, (uintptr_t)p, &v) == 0 && v.start == (uintptr_t)p;
    int fd = -1;
    ok = ok && cached_maps_fds(&fd) == 1; /* the parent's was closed */
    _exit(ok ? 0 : 1);
  }
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child saw its parent's VMAs or pid");
  /* the parent's descriptor is untouched */
  int fd = -1;
  cr_assert_eq(cached_maps_fds(&fd), 1);
  cr_assert_eq(query(true, (uintptr_t)&v, &v), 0);
  cr_assert_eq(zs_forkmark_pid(), (uint32_t)getpid());
}

/* Without the wipe-on-fork page (the process never marked): getpid. */
Test(vma, fork_child_without_atfork) {
  raw_fork_child_asks_itself();
}

/* wipe_on_fork_vmas - how many VMAs of this process the kernel lists with
 * the "wf" (MADV_WIPEONFORK) flag in /proc/self/smaps. */
static int wipe_on_fork_vmas(void) {
  FILE *f = fopen("/proc/self/smaps", "r");
  cr_assert_not_null(f);
  char line[512];
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmFlags:", 8) == 0 && strstr(line, " wf"))
      n++;
  fclose(f);
  return n;
}

/* With it (as after load): the child's page reads zero, so the child asks
 * getpid and never uses its parent's cached descriptor. */
Test(vma, fork_child_without_atfork_marked) {
  int before = wipe_on_fork_vmas();
  zs_forkmark_init();
  cr_assert_eq(wipe_on_fork_vmas(), before + 1, "the kernel shows no wipe-on-fork page");
  cr_assert_eq(zs_forkmark_pid(), (uint32_t)getpid());
  zs_forkmark_init();
  cr_assert_eq(wipe_on_fork_vmas(), before + 1, "a second init marked a second page");
  cr_assert_eq(zs_forkmark_pid(), (uint32_t)getpid());
  raw_fork_child_asks_itself();
  raw_fork_child_asks_itself(); /* a second child: the parent's mark stays */
}

static char *race_base;
static void *race_thread(void *arg) {
  (void)arg;
  struct zs_vma v;
  for (int i = 0; i < 2000; i++)
    if (zs_vma_query((uintptr_t)race_base, &v) != 0 || v.start != (uintptr_t)race_base)
      return (void *)1;
  return NULL;
}

Test(vma, threads_open_one_descriptor) {
  zs_vma_forget_fd();
  race_base = map(ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  pthread_t t[8];
  for (int i = 0; i < 8; i++)
    pthread_create(&t[i], NULL, race_thread, NULL);
  for (int i = 0; i < 8; i++) {
    void *r;
    pthread_join(t[i], &r);
    cr_assert_null(r);
  }
  int fd;
  cr_assert_eq(cached_maps_fds(&fd), 1, "racing openers must leave one descriptor");
}

Test(vma, fs_type) {
  struct stat st;
  uint64_t bs = 0;
  cr_assert_eq(stat("/dev/shm", &st), 0);
  cr_assert_eq(zs_vma_fs_type(major(st.st_dev), minor(st.st_dev), &bs), TMPFS_MAGIC);
  cr_assert_eq(bs, (uint64_t)ps);

  cr_assert_eq(stat("/", &st), 0);
  struct statfs sfs;
  statfs("/", &sfs);
  cr_assert_eq(zs_vma_fs_type(major(st.st_dev), minor(st.st_dev), &bs),
               (unsigned long)(uint32_t)sfs.f_type);

  cr_assert_eq(stat("/dev/null", &st), 0);
  statfs("/dev/null", &sfs);
  if (sfs.f_type == TMPFS_MAGIC) /* devtmpfs */
    cr_assert_eq(zs_vma_fs_type(major(st.st_dev), minor(st.st_dev), NULL), ZS_FS_DEVTMPFS);

  /* internal mounts are not in mountinfo */
  int fd = memfd_create("zs-fs", MFD_CLOEXEC);
  fstat(fd, &st);
  close(fd);
  cr_assert_eq(zs_vma_fs_type(major(st.st_dev), minor(st.st_dev), &bs), 0);
  cr_assert_eq(bs, 0);
  cr_assert_eq(zs_vma_fs_type(4095, 1048575, NULL), 0);

  const char *h = hugetlbfs_mount();
  if (h) {
    cr_assert_eq(stat(h, &st), 0);
    cr_assert_eq(zs_vma_fs_type(major(st.st_dev), minor(st.st_dev), &bs), HUGETLBFS_MAGIC);
    cr_assert_eq(bs, 2 * MiB);
  }
}

/* A mount point with a space and a tab (\040, \011 in mountinfo) is
 * unescaped: statfs of it works, which the bsize shows (the type-name
 * fallback cannot know a tmpfs block size). */
Test(vma, fs_type_escaped_mount_point) {
  char dir[] = "/tmp/zs vma\tmnt-XXXXXX";
  cr_assert_neq(mkdtemp(dir), NULL);
  if (mount("none", dir, "tmpfs", 0, "size=1m") != 0) {
    rmdir(dir);
    cr_skip_test("mount tmpfs: %s", strerror(errno));
  }
  struct stat st;
  uint64_t bs = 0;
  stat(dir, &st);
  unsigned long magic = zs_vma_fs_type(major(st.st_dev), minor(st.st_dev), &bs);
  umount(dir);
  rmdir(dir);
  cr_assert_eq(magic, TMPFS_MAGIC);
  cr_assert_eq(bs, (uint64_t)ps, "statfs of the unescaped mount point");
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

/* Not a check: the cost of one query, with few and with many VMAs. */
Test(vma, measure_query_cost) {
  struct zs_vma v;
  for (int round = 0; round < 2; round++) {
    char *b = round ? many_vmas(2001) : NULL;
    uintptr_t addr = (uintptr_t)&v; /* the stack: near the end of maps */
    int iters_p = 20000, iters_m = round ? 200 : 2000;
    double t0 = now_ns();
    for (int i = 0; i < iters_p; i++)
      cr_assert_eq(query(true, addr, &v), 0);
    double t1 = now_ns();
    for (int i = 0; i < iters_m; i++)
      cr_assert_eq(query(false, addr, &v), 0);
    double t2 = now_ns();
    int fd = open("/proc/self/maps", O_RDONLY);
    char buf[4096];
    size_t lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
      for (ssize_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    close(fd);
    fprintf(stderr, "zs-measure: %zu VMAs: PROCMAP_QUERY %.2f us/query, maps parse %.2f us/query\n",
            lines, (t1 - t0) / iters_p / 1e3, (t2 - t1) / iters_m / 1e3);
    if (b)
      munmap(b, 2001 * ps);
  }
}
