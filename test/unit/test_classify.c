/*
 * test_classify.c - zs_classify_mmap and zs_classify_vma (through both the
 * PROCMAP_QUERY and the /proc/self/maps path) give the right kind for real
 * mappings of every memory kind, and zs_classify_vma never guesses.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "classify.h"
#include "registry.h"
#include "state.h"
#include "testutil.h"
#include "unit_setup.h"
#include "vma.h"
#include "zapshim.h"

#define MiB (1024UL * 1024)
#define EXT4_MAGIC 0xEF53
#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB (30 << 26)
#endif
#ifndef SHM_HUGETLB
#define SHM_HUGETLB 04000
#endif

static size_t ps;
static uint8_t base_shift;

static void setup(void) {
  ps = unit_setup_state();
  base_shift = (uint8_t)__builtin_ctzl(ps);
}

TestSuite(classify, .init = setup);

/* What a mapping must be classified as. */
struct want {
  int kind;          /* from classify_mmap and both VMA paths */
  int mmap_flags;    /* flags it was made with; -1: not made by mmap */
  int fd;            /* descriptor it was made with */
  uint8_t flags;     /* ZS_MAP_* the mmap classification sets (exactly) */
  uint8_t vma_flags; /* ZS_MAP_* the VMA classification sets (exactly) */
  uint8_t shift;     /* page shift */
  int maps_kind;     /* kind on the maps path, or -1: the same */
};

static const char *kname(int k) {
  static const char *n[] = {"unknown",      "anon-private",    "shmem-shared",
                            "shmem-private", "hugetlb-shared", "hugetlb-private",
                            "guest-memfd",  "file-shared",     "file-private",
                            "other"};
  return k >= 0 && k < ZAPSHIM_KIND_COUNT ? n[k] : "?";
}

/* expect - classify [p, p+len) from its mmap arguments and from the
 * kernel's view through both query paths, and compare with w. */
static void expect(void *p, size_t len, int prot, const struct want *w) {
  if (w->mmap_flags >= 0) {
    struct zs_map m;
    memset(&m, 0xee, sizeof m);
    cr_assert_eq(zs_classify_mmap(w->mmap_flags, w->fd, &m), 0);
    cr_assert_eq(m.kind, w->kind, "mmap: %s, want %s", kname(m.kind), kname(w->kind));
    cr_assert_eq(m.flags, w->flags, "mmap flags %#x want %#x", m.flags, w->flags);
    cr_assert_eq(m.page_shift, w->shift, "mmap shift %u want %u", m.page_shift, w->shift);
    if (w->fd >= 0 && !(w->flags & ZS_MAP_DEVZERO)) {
      struct stat st;
      fstat(w->fd, &st);
      cr_assert_eq(m.dev, zs_dev_pack(major(st.st_dev), minor(st.st_dev)));
      cr_assert_eq(m.ino, (uint64_t)st.st_ino);
    } else {
      cr_assert_eq(m.dev, 0);
      cr_assert_eq(m.ino, 0);
    }
  }
  for (int pmq = 1; pmq >= 0; pmq--) {
    struct zs_vma v;
    struct zs_map m;
    zs_state.caps.procmap_query = pmq;
    int rc = zs_vma_query((uintptr_t)p, &v);
    zs_state.caps.procmap_query = true;
    cr_assert_eq(rc, 0);
    memset(&m, 0xee, sizeof m);
    zs_classify_vma(&v, &m);
    int kind = !pmq && w->maps_kind >= 0 ? w->maps_kind : w->kind;
    const char *path = pmq ? "PROCMAP_QUERY" : "maps";
    cr_assert_eq(m.kind, kind, "%s: %s, want %s (name '%s')", path, kname(m.kind), kname(kind),
                 v.name);
    cr_assert_eq(m.start, (uintptr_t)p);
    cr_assert_eq(m.end, (uintptr_t)p + len);
    cr_assert_eq(m.fdslot, -1);
    cr_assert_eq(m.prot, prot, "%s: prot %#x", path, m.prot);
    cr_assert_eq(m.dev, zs_dev_pack(v.dev_major, v.dev_minor));
    cr_assert_eq(m.ino, v.ino);
    if (kind == w->kind) {
      cr_assert_eq(m.flags, w->vma_flags, "%s: flags %#x want %#x", path, m.flags,
                   w->vma_flags);
      cr_assert_eq(m.page_shift, w->shift, "%s: shift %u", path, m.page_shift);
    }
  }
}

/* map - len bytes with these arguments, placed (MAP_FIXED) inside a
 * PROT_NONE reservation aligned to 1 << shift, so that the new VMA cannot
 * merge with a neighbour; the reservation, to unmap, in *res and *res_len. */
static void *map_guarded(size_t len, int prot, int flags, int fd, uint8_t shift, void **res,
                         size_t *res_len) {
  size_t align = (size_t)1 << shift;
  *res_len = len + 3 * align;
  char *r = mmap(NULL, *res_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  cr_assert_neq(r, MAP_FAILED);
  char *at = (char *)(((uintptr_t)r + 2 * align - 1) & ~(uintptr_t)(align - 1));
  void *p = mmap(at, len, prot, flags | MAP_FIXED, fd, 0);
  cr_assert_eq(p, (void *)at, "mmap: %s", strerror(errno));
  *res = r;
  return p;
}

static void *map(size_t len, int prot, int flags, int fd) {
  void *p = mmap(NULL, len, prot, flags, fd, 0);
  cr_assert_neq(p, MAP_FAILED, "mmap: %s", strerror(errno));
  return p;
}

/* one - map len bytes with these arguments, check, unmap. */
static void one(size_t len, int prot, int flags, int fd, int kind, uint8_t mflags,
                uint8_t vflags, uint8_t shift) {
  void *res;
  size_t res_len;
  void *p = map_guarded(len, prot, flags, fd, shift, &res, &res_len);
  struct want w = {kind, flags, fd, mflags, vflags, shift, -1};
  expect(p, len, prot, &w);
  munmap(res, res_len);
}

#define RW (PROT_READ | PROT_WRITE)
#define SH ZS_MAP_SHARED
#define AN ZS_MAP_ANON
#define HU ZS_MAP_HUGETLB

Test(classify, learn_shm_dev) {
  int fd = memfd_create("x", MFD_CLOEXEC);
  struct stat st;
  fstat(fd, &st);
  close(fd);
  cr_assert_eq(zs_state.shm_dev, zs_dev_pack(major(st.st_dev), minor(st.st_dev)));
  cr_assert_neq(zs_state.shm_dev, 0);
}

Test(classify, anonymous) {
  one(4 * ps, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, ZAPSHIM_KIND_ANON_PRIVATE, AN, AN, base_shift);
  one(4 * ps, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, ZAPSHIM_KIND_SHMEM_SHARED, SH | AN,
      SH | AN, base_shift);
  /* (MAP_SHARED_VALIDATE with MAP_ANONYMOUS is EINVAL: see memfd_and_dev_shm) */
}

Test(classify, stack_heap_and_named_anon) {
  int local = 0;
  struct want w = {ZAPSHIM_KIND_ANON_PRIVATE, -1, -1, 0, AN, base_shift, -1};
  struct zs_vma v;
  cr_assert_eq(zs_vma_query((uintptr_t)&local, &v), 0);
  cr_assert_str_eq(v.name, "[stack]");
  expect((void *)v.start, v.end - v.start, PROT_READ | PROT_WRITE, &w);

  void *res;
  size_t res_len;
  void *p = map_guarded(4 * ps, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, base_shift, &res, &res_len);
  if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, 4 * ps, "zs-named") == 0) {
    cr_assert_eq(zs_vma_query((uintptr_t)p, &v), 0);
    cr_assert_str_eq(v.name, "[anon:zs-named]");
    expect(p, 4 * ps, RW, &w);
  }
  munmap(res, res_len);
}

/* The vDSO is a kernel special mapping, not anonymous memory. */
Test(classify, vdso_is_other) {
  uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
  if (!vdso)
    cr_skip_test("no vDSO");
  for (int pmq = 1; pmq >= 0; pmq--) {
    struct zs_vma v;
    struct zs_map m;
    zs_state.caps.procmap_query = pmq;
    cr_assert_eq(zs_vma_query(vdso, &v), 0);
    cr_assert_str_eq(v.name, "[vdso]");
    zs_classify_vma(&v, &m);
    cr_assert_eq(m.kind, ZAPSHIM_KIND_OTHER, "%s: %s", pmq ? "PROCMAP_QUERY" : "maps",
                 kname(m.kind));
  }
}

Test(classify, memfd_and_dev_shm) {
  int fd = memfd_create("zs-classify", MFD_CLOEXEC);
  cr_assert_eq(ftruncate(fd, 4 * ps), 0);
  one(4 * ps, RW, MAP_SHARED, fd, ZAPSHIM_KIND_SHMEM_SHARED, SH, SH, base_shift);
  one(4 * ps, RW, MAP_PRIVATE, fd, ZAPSHIM_KIND_SHMEM_PRIVATE, 0, 0, base_shift);
  one(4 * ps, RW, MAP_SHARED_VALIDATE, fd, ZAPSHIM_KIND_SHMEM_SHARED, SH, SH, base_shift);
  close(fd);

  char path[] = "/dev/shm/zs-classify-XXXXXX";
  fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(ftruncate(fd, 4 * ps), 0);
  one(4 * ps, RW, MAP_SHARED, fd, ZAPSHIM_KIND_SHMEM_SHARED, SH, SH, base_shift);
  one(4 * ps, PROT_READ, MAP_PRIVATE, fd, ZAPSHIM_KIND_SHMEM_PRIVATE, 0, 0, base_shift);
  unlink(path);
  close(fd);
}

Test(classify, ext4_file) {
  const char *dir = NULL;
  static const char *cands[] = {"/var/tmp", "/tmp"};
  for (int i = 0; i < 2 && !dir; i++) {
    struct statfs s;
    if (statfs(cands[i], &s) == 0 && s.f_type == EXT4_MAGIC && access(cands[i], W_OK) == 0)
      dir = cands[i];
  }
  zt_need(dir != NULL, "a writable ext4 directory (/var/tmp or /tmp)");
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/zs-classify-XXXXXX", dir);
  int fd = mkstemp(path);
  cr_assert_eq(ftruncate(fd, 4 * ps), 0);
  one(4 * ps, RW, MAP_SHARED, fd, ZAPSHIM_KIND_FILE_SHARED, SH, SH, base_shift);
  one(4 * ps, RW, MAP_PRIVATE, fd, ZAPSHIM_KIND_FILE_PRIVATE, 0, 0, base_shift);
  unlink(path); /* "(deleted)" changes nothing */
  one(4 * ps, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, ZAPSHIM_KIND_FILE_PRIVATE, 0, 0,
      base_shift);
  close(fd);
}

Test(classify, dev_zero) {
  int fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
  cr_assert_geq(fd, 0);
  /* shared: the kernel's shmem file "/dev/zero (deleted)", like shared anon */
  one(4 * ps, RW, MAP_SHARED, fd, ZAPSHIM_KIND_SHMEM_SHARED, SH | AN | ZS_MAP_DEVZERO, SH | AN,
      base_shift);
  /* private: plain anonymous memory */
  one(4 * ps, RW, MAP_PRIVATE, fd, ZAPSHIM_KIND_ANON_PRIVATE, AN | ZS_MAP_DEVZERO, AN,
      base_shift);
  close(fd);
}

Test(classify, sysv_shm) {
  int id = shmget(IPC_PRIVATE, 4 * ps, IPC_CREAT | 0600);
  cr_assert_geq(id, 0);
  void *p = shmat(id, NULL, 0);
  shmctl(id, IPC_RMID, NULL);
  struct want w = {ZAPSHIM_KIND_SHMEM_SHARED, -1, -1, 0, SH | ZS_MAP_SYSV, base_shift, -1};
  expect(p, 4 * ps, RW, &w);
  shmdt(p);
  id = shmget(IPC_PRIVATE, 4 * ps, IPC_CREAT | 0600);
  p = shmat(id, NULL, SHM_RDONLY);
  shmctl(id, IPC_RMID, NULL);
  expect(p, 4 * ps, PROT_READ, &w);
  shmdt(p);
}

/* hugetlbfs_mount - the first hugetlbfs mount with 2 MiB pages (testutil's
 * zt_hugetlbfs_mount); NULL if none. */
static const char *hugetlbfs_mount(void) {
  static char path[PATH_MAX];
  return zt_hugetlbfs_mount(2u << 20, path, sizeof path) ? path : NULL;
}

static const char *need_huge(void) {
  const char *m = hugetlbfs_mount();
  long free_pages = 0;
  FILE *f = fopen("/proc/meminfo", "re");
  char line[256];
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "HugePages_Free: %ld", &free_pages) == 1)
      break;
  if (f)
    fclose(f);
  zt_need(m && free_pages >= 4,
          "2 MiB huge pages: echo 256 > /proc/sys/vm/nr_hugepages and mount hugetlbfs");
  return m;
}

Test(classify, hugetlbfs_file) {
  const char *mnt = need_huge();
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/zs-classify-XXXXXX", mnt);
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(ftruncate(fd, 2 * MiB), 0);
  one(2 * MiB, RW, MAP_SHARED, fd, ZAPSHIM_KIND_HUGETLB_SHARED, SH | HU, SH | HU, 21);
  one(2 * MiB, RW, MAP_PRIVATE, fd, ZAPSHIM_KIND_HUGETLB_PRIVATE, HU, HU, 21);
  unlink(path);
  close(fd);
}

Test(classify, map_hugetlb_and_hugetlb_memfd) {
  need_huge();
  one(2 * MiB, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, ZAPSHIM_KIND_HUGETLB_SHARED,
      SH | AN | HU, SH | AN | HU, 21);
  one(2 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, ZAPSHIM_KIND_HUGETLB_PRIVATE,
      AN | HU, AN | HU, 21);
  one(2 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1,
      ZAPSHIM_KIND_HUGETLB_PRIVATE, AN | HU, AN | HU, 21);

  int fd = memfd_create("zs-huge", MFD_CLOEXEC | MFD_HUGETLB);
  cr_assert_geq(fd, 0);
  cr_assert_eq(ftruncate(fd, 2 * MiB), 0);
  one(2 * MiB, RW, MAP_SHARED, fd, ZAPSHIM_KIND_HUGETLB_SHARED, SH | HU, SH | HU, 21);
  one(2 * MiB, PROT_READ, MAP_PRIVATE, fd, ZAPSHIM_KIND_HUGETLB_PRIVATE, HU, HU, 21);
  close(fd);

  int id = shmget(IPC_PRIVATE, 2 * MiB, IPC_CREAT | SHM_HUGETLB | 0600);
  cr_assert_geq(id, 0, "shmget SHM_HUGETLB: %s", strerror(errno));
  void *p = shmat(id, NULL, 0);
  shmctl(id, IPC_RMID, NULL);
  struct want w = {ZAPSHIM_KIND_HUGETLB_SHARED, -1, -1, 0, SH | HU | ZS_MAP_SYSV, 21, -1};
  expect(p, 2 * MiB, RW, &w);
  shmdt(p);
}

/* map_files_usable - true if /proc/self/map_files of the VMA at p opens
 * (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE). */
static bool map_files_usable(void *p, size_t len) {
  int fd = zs_vma_open_map_file((uintptr_t)p, (uintptr_t)p + len, O_PATH);
  if (fd < 0)
    return false;
  close(fd);
  return true;
}

/* drop_map_files_caps - take CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE out
 * of this process's effective set (a fork child), so map_files cannot be
 * opened.  Returns 0 or -1. */
static int drop_map_files_caps(void) {
  struct {
    uint32_t version;
    int pid;
  } hdr = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
  struct {
    uint32_t effective, permitted, inheritable;
  } data[2];
  if (syscall(SYS_capget, &hdr, data) != 0)
    return -1;
  data[0].effective &= ~(1u << 21);      /* CAP_SYS_ADMIN */
  data[1].effective &= ~(1u << (40 - 32)); /* CAP_CHECKPOINT_RESTORE */
  return (int)syscall(SYS_capset, &hdr, data);
}

/* Without a known default huge page size the maps path cannot size an
 * internal hugetlb mapping from names: UNKNOWN, never a guess.  Where the
 * file itself can be asked (map_files: fstatfs says hugetlbfs, 2 MiB) that
 * is the kernel's word, not a guess. */
Test(classify, maps_path_without_default_huge_size) {
  need_huge();
  void *p = map(2 * MiB, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1);
  (void)zs_default_huge_size(); /* read once (on first use); then what the state holds counts */
  zs_state.default_huge_size = 0;
  int maps_kind = map_files_usable(p, 2 * MiB) ? -1 : ZAPSHIM_KIND_UNKNOWN;
  struct want w = {ZAPSHIM_KIND_HUGETLB_SHARED, -1, -1, 0, SH | AN | HU, 21, maps_kind};
  expect(p, 2 * MiB, RW, &w);
  /* and with map_files closed to the process: the names alone decide nothing */
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    if (drop_map_files_caps() != 0 || map_files_usable(p, 2 * MiB))
      _exit(77);
    zs_state.caps.procmap_query = false;
    struct zs_vma v;
    struct zs_map m;
    if (zs_vma_query((uintptr_t)p, &v) != 0)
      _exit(2);
    zs_classify_vma(&v, &m);
    _exit(m.kind == ZAPSHIM_KIND_UNKNOWN ? 0 : 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  cr_assert(WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 77),
            "maps path without map_files and without a default huge size: status %#x "
            "(1: a kind was guessed)", st);
  munmap(p, 2 * MiB);
}

Test(classify, mmap_flags_only) {
  struct zs_map m;
  cr_assert_eq(zs_classify_mmap(MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB, -1, &m),
               0);
  cr_assert_eq(m.kind, ZAPSHIM_KIND_HUGETLB_PRIVATE);
  cr_assert_eq(m.page_shift, 30);
  cr_assert_eq(zs_classify_mmap(MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, &m), 0);
  cr_assert_eq(m.kind, ZAPSHIM_KIND_HUGETLB_SHARED);
  cr_assert_eq(m.page_shift, 21);
  (void)zs_default_huge_size(); /* read once (on first use); then what the state holds counts */
  zs_state.default_huge_size = 0;
  cr_assert_eq(zs_classify_mmap(MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, &m), 0);
  cr_assert_eq(m.kind, ZAPSHIM_KIND_UNKNOWN, "no huge page size known");

  /* fstat failure: its errno, UNKNOWN */
  cr_assert_eq(zs_classify_mmap(MAP_SHARED, 1000000, &m), EBADF);
  cr_assert_eq(m.kind, ZAPSHIM_KIND_UNKNOWN);

  /* other character devices */
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  cr_assert_eq(zs_classify_mmap(MAP_SHARED, fd, &m), 0);
  cr_assert_eq(m.kind, ZAPSHIM_KIND_OTHER);
  close(fd);
  /* a sysfs file (PCI resources are mapped so): device memory */
  fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    cr_assert_eq(zs_classify_mmap(MAP_SHARED, fd, &m), 0);
    cr_assert_eq(m.kind, ZAPSHIM_KIND_OTHER);
    close(fd);
  }
}

/* vma - a synthetic kernel view. */
static struct zs_vma vma(uint32_t flags, uint64_t ino, dev_t dev, uint64_t page_size,
                         const char *name) {
  struct zs_vma v;
  memset(&v, 0, sizeof v);
  v.start = 0x100000;
  v.end = 0x200000;
  v.flags = flags;
  v.ino = ino;
  v.dev_major = major(dev);
  v.dev_minor = minor(dev);
  v.page_size = page_size;
  snprintf(v.name, sizeof v.name, "%s", name);
  return v;
}

static int kind_of(struct zs_vma v) {
  struct zs_map m;
  zs_classify_vma(&v, &m);
  return m.kind;
}

Test(classify, vma_never_guesses) {
  struct stat st;
  uint32_t R = ZS_VMA_READ, S = ZS_VMA_SHARED;
  /* shared without a file: not something a kernel shows */
  cr_assert_eq(kind_of(vma(R | S, 0, 0, ps, "")), ZAPSHIM_KIND_UNKNOWN);
  cr_assert_eq(kind_of(vma(R, 0, 0, ps, "[heap]")), ZAPSHIM_KIND_ANON_PRIVATE);
  cr_assert_eq(kind_of(vma(R, 0, 0, 0, "[anon:x]")), ZAPSHIM_KIND_ANON_PRIVATE);
  cr_assert_eq(kind_of(vma(R, 0, 0, ps, "")), ZAPSHIM_KIND_ANON_PRIVATE);
  cr_assert_eq(kind_of(vma(R, 0, 0, ps, "[stack:123]")), ZAPSHIM_KIND_ANON_PRIVATE);
  cr_assert_eq(kind_of(vma(R | ZS_VMA_EXEC, 0, 0, ps, "[uprobes]")), ZAPSHIM_KIND_OTHER);
  cr_assert_eq(kind_of(vma(R, 0, 0, ps, "something")), ZAPSHIM_KIND_UNKNOWN);
  /* other anon inodes (io_uring rings, perf buffers, dma-buf) */
  cr_assert_eq(kind_of(vma(R | S, 42, makedev(0, 15), ps, "anon_inode:[io_uring]")),
               ZAPSHIM_KIND_UNKNOWN);
  cr_assert_eq(kind_of(vma(R | S, 42, makedev(0, 15), 0, "/dmabuf:")), ZAPSHIM_KIND_UNKNOWN);
  /* a device node */
  cr_assert_eq(stat("/dev/null", &st), 0);
  cr_assert_eq(kind_of(vma(R | S, st.st_ino, st.st_dev, ps, "/dev/null")), ZAPSHIM_KIND_OTHER);
  cr_assert_eq(kind_of(vma(R | S, st.st_ino, st.st_dev, 0, "/dev/null")), ZAPSHIM_KIND_OTHER);
  /* a sysfs file */
  if (stat("/sys/kernel/mm", &st) == 0)
    cr_assert_eq(kind_of(vma(R | S, 77, st.st_dev, ps, "/sys/bus/pci/devices/x/resource0")),
                 ZAPSHIM_KIND_OTHER);
  /* a file on ext4 that has no name: cannot be confirmed */
  cr_assert_eq(stat("/", &st), 0);
  cr_assert_eq(kind_of(vma(R | S, 12, st.st_dev, ps, "")), ZAPSHIM_KIND_UNKNOWN);
  cr_assert_eq(kind_of(vma(R | S, 12, st.st_dev, ps, "/x")), ZAPSHIM_KIND_FILE_SHARED);
  /* a device that is not mounted, with a path-like name, maps path */
  cr_assert_eq(kind_of(vma(R | S, 12, makedev(4095, 7), 0, "/x")), ZAPSHIM_KIND_UNKNOWN);
  /* 1 GiB pages */
  struct zs_map m;
  struct zs_vma v = vma(R, 5, makedev(0, 99), 1UL << 30, "/anon_hugepage (deleted)");
  zs_classify_vma(&v, &m);
  cr_assert_eq(m.kind, ZAPSHIM_KIND_HUGETLB_PRIVATE);
  cr_assert_eq(m.page_shift, 30);
  /* the guest_memfd name */
  cr_assert_eq(kind_of(vma(R | S, 5, makedev(0, 16), ps, ZS_GMEM_NAME)),
               ZAPSHIM_KIND_GUEST_MEMFD);
}

/* KVM guest_memfd, mmap-able since 6.18: KVM_CREATE_VM (type 0, else
 * KVM_X86_SW_PROTECTED_VM), KVM_CREATE_GUEST_MEMFD with
 * GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED, mmap MAP_SHARED. */
struct zt_kvm_create_guest_memfd {
  uint64_t size;
  uint64_t flags;
  uint64_t reserved[6];
};
#define ZT_KVM_CREATE_VM _IO(0xAE, 0x01)
#define ZT_KVM_CREATE_GUEST_MEMFD _IOWR(0xAE, 0xd4, struct zt_kvm_create_guest_memfd)
#define ZT_GUEST_MEMFD_FLAG_MMAP (1ULL << 0)
#define ZT_GUEST_MEMFD_FLAG_INIT_SHARED (1ULL << 1)

Test(classify, guest_memfd) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0)
    cr_skip_test("no /dev/kvm (%s): guest_memfd cannot be made", strerror(errno));
  int vm = -1, gfd = -1;
  for (int type = 0; type <= 1 && gfd < 0; type++) {
    vm = ioctl(kvm, ZT_KVM_CREATE_VM, type);
    if (vm < 0)
      continue;
    struct zt_kvm_create_guest_memfd g = {
        .size = 4 * MiB, .flags = ZT_GUEST_MEMFD_FLAG_MMAP | ZT_GUEST_MEMFD_FLAG_INIT_SHARED};
    gfd = ioctl(vm, ZT_KVM_CREATE_GUEST_MEMFD, &g);
    if (gfd < 0)
      close(vm);
  }
  if (gfd < 0)
    cr_skip_test("KVM_CREATE_GUEST_MEMFD with MMAP|INIT_SHARED: %s", strerror(errno));
  void *p = mmap(NULL, 4 * MiB, RW, MAP_SHARED, gfd, 0);
  if (p == MAP_FAILED)
    cr_skip_test("mmap of guest_memfd: %s", strerror(errno));
  memset(p, 0xab, ps);
  struct want w = {ZAPSHIM_KIND_GUEST_MEMFD, MAP_SHARED, gfd, SH, SH, base_shift, -1};
  expect(p, 4 * MiB, RW, &w);
  munmap(p, 4 * MiB);
  close(gfd);
  close(vm);
  close(kvm);
}

/* A file on a tmpfs mounted in another process's own mount namespace is
 * in no mountinfo of ours: only that process's /proc/PID/map_files can
 * confirm it.  zs_classify_vma_of(pid) does (shmem); the same VMA asked as
 * this process's (pid 0) cannot be confirmed here: UNKNOWN, not a guess. */
Test(classify, vma_of_another_process_asks_its_map_files, .timeout = 30) {
  zt_need(geteuid() == 0, "root: a mount namespace and map_files of another process");
  char dir[] = "/tmp/zt-classify-of-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  int up[2], down[2];
  cr_assert_eq(pipe(up), 0);
  cr_assert_eq(pipe(down), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    close(up[0]);
    close(down[1]); /* else the read below never sees the parent's close */
    uintptr_t a = 0;
    char path[128];
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = -1;
    if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
        mount("zt", dir, "tmpfs", 0, "size=4m") == 0 &&
        (fd = open(path, O_RDWR | O_CREAT, 0600)) >= 0 && ftruncate(fd, 1 << 20) == 0) {
      void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      a = p == MAP_FAILED ? 0 : (uintptr_t)p;
    }
    if (write(up[1], &a, sizeof a) != (ssize_t)sizeof a)
      _exit(3);
    char c;
    (void)!read(down[0], &c, 1);
    _exit(0);
  }
  close(up[1]);
  close(down[0]);
  uintptr_t a = 0;
  cr_assert_eq(read(up[0], &a, sizeof a), (ssize_t)sizeof a);
  struct zs_maps r;
  struct zs_vma v;
  struct zs_map of, self;
  int rc = a ? zs_maps_open(&r, pid) : -1;
  if (rc == 0) {
    rc = zs_maps_query(&r, a, &v);
    zs_maps_close(&r);
  }
  if (rc == 0) {
    zs_classify_vma_of(pid, &v, &of);
    zs_classify_vma(&v, &self);
  }
  close(down[1]);
  int st;
  waitpid(pid, &st, 0);
  rmdir(dir);
  cr_assert_neq(a, 0, "the child could not mount and map a tmpfs file");
  cr_assert_eq(rc, 0, "reading the child's maps: %d", rc);
  cr_assert_eq(v.start, a);
  cr_assert_eq(of.kind, ZAPSHIM_KIND_SHMEM_SHARED, "kind %d", of.kind);
  cr_assert_eq(self.kind, ZAPSHIM_KIND_UNKNOWN, "kind %d", self.kind);
}

/* zs_classify_mmap_plain (the mmap hook's fast test) says "plain" for
 * exactly the flags whose zs_classify_mmap result is plain anonymous
 * private memory (zs_map_plain), over every combination of the flags
 * that matter and a few that do not. */
Test(classify, mmap_plain_agrees_with_classify_mmap) {
  static const int types[] = {0, MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE};
  static const int extra[] = {0, MAP_ANONYMOUS, MAP_HUGETLB, MAP_HUGETLB | MAP_HUGE_1GB,
                              MAP_NORESERVE, MAP_POPULATE | MAP_STACK, MAP_FIXED, MAP_GROWSDOWN};
  int fd = zt_make_memfd(ps, 0);
  unsigned plain = 0;
  for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
    for (unsigned mask = 0; mask < 1u << 8; mask++) {
      int flags = types[t];
      for (unsigned b = 0; b < 8; b++)
        if (mask & (1u << b))
          flags |= extra[b];
      struct zs_map m = {.fdslot = -1, .page_shift = 12};
      bool want = zs_classify_mmap(flags, fd, &m) == 0 && zs_map_plain(&m);
      cr_assert_eq(zs_classify_mmap_plain(flags), want, "flags %#x: fast test %d, classify %d",
                   flags, zs_classify_mmap_plain(flags), want);
      plain += want;
    }
  cr_assert_gt(plain, 0, "some combinations are plain");
  close(fd);
}
