/*
 * classify.c - decide the memory kind of a mapping.
 *
 * At mmap time the descriptor is the truth (fstat, fstatfs); for ranges
 * the shim did not see mapped, the kernel's view of the VMA is (shared
 * flag, page size, device, inode, name), and what it cannot confirm stays
 * ZAPSHIM_KIND_UNKNOWN.  No malloc, no stdio.
 */
#include "classify.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "state.h"
#include "zapshim.h"

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_MASK
#define MAP_HUGE_MASK 0x3f
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif

/* Pseudo filesystems whose files map device or kernel memory: OTHER. */
#define ZS_PROC_SUPER_MAGIC 0x9fa0UL
#define ZS_SYSFS_MAGIC 0x62656572UL
#define ZS_DEBUGFS_MAGIC 0x64626720UL
#define ZS_TRACEFS_MAGIC 0x74726163UL
#define ZS_DEVPTS_MAGIC 0x1cd1UL
/* Since 6.18 (NUMA mempolicy series) guest_memfd may live on its own fs. */
#define ZS_GUEST_MEMFD_MAGIC 0x474d454dUL /* "GMEM" */

/* zs_log2 - floor(log2(v)) for v > 0; 0 for v == 0. */
static uint8_t zs_log2(uint64_t v) {
  uint8_t s = 0;
  while (v > 1) {
    v >>= 1;
    s++;
  }
  return s;
}

/* zs_base_shift - log2 of the base page size (12 if init has not run). */
static uint8_t zs_base_shift(void) {
  return zs_state.page_size ? zs_log2(zs_state.page_size) : 12;
}

/* zs_is_pseudo_fs - true for filesystems whose mappings are not memory
 * zapshim may free (device, kernel and firmware windows). */
static bool zs_is_pseudo_fs(unsigned long magic) {
  return magic == ZS_PROC_SUPER_MAGIC || magic == ZS_SYSFS_MAGIC || magic == ZS_DEBUGFS_MAGIC ||
         magic == ZS_TRACEFS_MAGIC || magic == ZS_DEVPTS_MAGIC || magic == ZS_FS_DEVTMPFS;
}

/* zs_starts - true if s begins with prefix. */
static bool zs_starts(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * zs_fd_is_gmem - true if /proc/self/fd/<fd> reads "anon_inode:[kvm-gmem]",
 * the name KVM gives guest_memfd files.
 */
static bool zs_fd_is_gmem(int fd) {
  char path[40], link[64];
  /* "/proc/self/fd/" + decimal fd, without stdio */
  static const char pre[] = "/proc/self/fd/";
  char digits[12];
  int n = 0;
  unsigned v = (unsigned)fd;
  do
    digits[n++] = (char)('0' + v % 10);
  while ((v /= 10) && n < (int)sizeof digits);
  memcpy(path, pre, sizeof pre - 1);
  for (int i = 0; i < n; i++)
    path[sizeof pre - 1 + i] = digits[n - 1 - i];
  path[sizeof pre - 1 + n] = '\0';
  ssize_t len = readlink(path, link, sizeof link - 1);
  if (len <= 0)
    return false;
  link[len] = '\0';
  return strcmp(link, ZS_GMEM_NAME) == 0;
}

/* zs_set_kind - fill kind and page shift, choosing the shared or private
 * twin of a pair of kinds. */
static void zs_set_kind(struct zs_map *m, bool shared, int shared_kind, int private_kind,
                        uint8_t shift) {
  m->kind = (uint8_t)(shared ? shared_kind : private_kind);
  m->page_shift = shift;
}

/*
 * See classify.h.  Anonymous mappings (MAP_ANONYMOUS) need no syscall;
 * files are fstat'ed (character device 1:5 is /dev/zero, which the kernel
 * turns into shmem or plain anonymous memory) and fstatfs'ed.  Always sets
 * kind, flags, page_shift, dev, ino.  Returns 0, or the errno of
 * fstat/fstatfs with kind UNKNOWN.
 */
int zs_classify_mmap(int mmap_flags, int fd, struct zs_map *m) {
  int type = mmap_flags & 0x0f; /* MAP_TYPE */
  bool shared = type == MAP_SHARED || type == MAP_SHARED_VALIDATE;
  m->kind = ZAPSHIM_KIND_UNKNOWN;
  m->flags = shared ? ZS_MAP_SHARED : 0;
  m->page_shift = zs_base_shift();
  m->dev = 0;
  m->ino = 0;

  if (mmap_flags & MAP_ANONYMOUS) {
    m->flags |= ZS_MAP_ANON;
    if (mmap_flags & MAP_HUGETLB) {
      unsigned enc = ((unsigned)mmap_flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK;
      uint8_t shift = enc ? (uint8_t)enc : zs_log2(zs_default_huge_size());
      m->flags |= ZS_MAP_HUGETLB;
      if (shift == 0) /* no default huge page size known: cannot say */
        return 0;
      zs_set_kind(m, shared, ZAPSHIM_KIND_HUGETLB_SHARED, ZAPSHIM_KIND_HUGETLB_PRIVATE, shift);
    } else {
      zs_set_kind(m, shared, ZAPSHIM_KIND_SHMEM_SHARED, ZAPSHIM_KIND_ANON_PRIVATE,
                  zs_base_shift());
    }
    return 0;
  }

  struct stat st;
  if (fstat(fd, &st) != 0)
    return errno;
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
    if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 5) {
      m->flags |= ZS_MAP_DEVZERO | ZS_MAP_ANON;
      zs_set_kind(m, shared, ZAPSHIM_KIND_SHMEM_SHARED, ZAPSHIM_KIND_ANON_PRIVATE,
                  zs_base_shift());
    } else {
      m->kind = ZAPSHIM_KIND_OTHER;
    }
    return 0;
  }

  struct statfs sfs;
  if (fstatfs(fd, &sfs) != 0)
    return errno;
  m->dev = zs_dev_pack(major(st.st_dev), minor(st.st_dev));
  m->ino = (uint64_t)st.st_ino;
  unsigned long magic = (unsigned long)(uint32_t)sfs.f_type;
  if (magic == TMPFS_MAGIC) {
    zs_set_kind(m, shared, ZAPSHIM_KIND_SHMEM_SHARED, ZAPSHIM_KIND_SHMEM_PRIVATE,
                zs_base_shift());
  } else if (magic == HUGETLBFS_MAGIC) {
    m->flags |= ZS_MAP_HUGETLB;
    zs_set_kind(m, shared, ZAPSHIM_KIND_HUGETLB_SHARED, ZAPSHIM_KIND_HUGETLB_PRIVATE,
                zs_log2((uint64_t)sfs.f_bsize));
  } else if (magic == ANON_INODE_FS_MAGIC || magic == ZS_GUEST_MEMFD_MAGIC) {
    if (zs_fd_is_gmem(fd)) {
      m->kind = ZAPSHIM_KIND_GUEST_MEMFD;
      m->flags |= ZS_MAP_SHARED;
    } else {
      m->kind = ZAPSHIM_KIND_OTHER;
    }
  } else if (zs_is_pseudo_fs(magic) || !S_ISREG(st.st_mode)) {
    m->kind = ZAPSHIM_KIND_OTHER;
  } else {
    zs_set_kind(m, shared, ZAPSHIM_KIND_FILE_SHARED, ZAPSHIM_KIND_FILE_PRIVATE,
                zs_base_shift());
  }
  return 0;
}

/*
 * zs_name_device - if the VMA's name is a path that stat() shows is a
 * character or block device with the VMA's device and inode, that node's
 * st_rdev in *rdev and true (device nodes on devtmpfs or a real tmpfs);
 * false otherwise.  A " (deleted)" name cannot be stat'ed: false.
 */
static bool zs_name_device(const struct zs_vma *v, dev_t *rdev) {
  struct stat st;
  if (v->name[0] != '/' || stat(v->name, &st) != 0)
    return false;
  if (!(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) || (uint64_t)st.st_ino != v->ino ||
      major(st.st_dev) != v->dev_major || minor(st.st_dev) != v->dev_minor)
    return false;
  *rdev = S_ISCHR(st.st_mode) ? st.st_rdev : 0;
  return true;
}

/*
 * See classify.h.  The kernel's facts, in order: the guest_memfd name; a
 * huge kernel page size; no inode (anonymous private memory: heap, stack,
 * [anon:...], private /dev/zero before 6.x; other [names] are the kernel's
 * special mappings: OTHER); the internal shmem device
 * (shared anon, memfd, SysV, shared /dev/zero); the filesystem of the
 * device (mountinfo + statfs), where a device node is OTHER except the
 * private /dev/zero of newer kernels (ANON_PRIVATE).  Internal hugetlb mounts are not in mountinfo: on
 * the maps path (page size unknown) only names that only hugetlb gives
 * there are accepted, with the default huge page size.  Everything else is
 * UNKNOWN.  Always fills start, end, offset, dev, ino, prot, fdslot (-1),
 * kind, flags, page_shift.
 */
void zs_classify_vma(const struct zs_vma *v, struct zs_map *m) {
  bool shared = (v->flags & ZS_VMA_SHARED) != 0;
  uint8_t base = zs_base_shift();
  uint32_t dev = zs_dev_pack(v->dev_major, v->dev_minor);
  bool huge_ps = v->page_size && zs_state.page_size && v->page_size > zs_state.page_size;

  m->start = v->start;
  m->end = v->end;
  m->offset = v->offset;
  m->dev = dev;
  m->ino = v->ino;
  m->fdslot = -1;
  m->prot = (uint8_t)((v->flags & ZS_VMA_READ ? PROT_READ : 0) |
                      (v->flags & ZS_VMA_WRITE ? PROT_WRITE : 0) |
                      (v->flags & ZS_VMA_EXEC ? PROT_EXEC : 0));
  m->flags = shared ? ZS_MAP_SHARED : 0;
  m->kind = ZAPSHIM_KIND_UNKNOWN;
  m->page_shift = base;

  if (strcmp(v->name, ZS_GMEM_NAME) == 0) {
    m->kind = ZAPSHIM_KIND_GUEST_MEMFD;
    m->flags |= ZS_MAP_SHARED;
    return;
  }
  if (huge_ps) {
    /* Only hugetlb VMAs have a kernel page size above the base one. */
    m->flags |= ZS_MAP_HUGETLB;
    if (v->ino == 0 || strcmp(v->name, "/anon_hugepage (deleted)") == 0)
      m->flags |= ZS_MAP_ANON;
    if (zs_starts(v->name, "/SYSV"))
      m->flags |= ZS_MAP_SYSV;
    zs_set_kind(m, shared, ZAPSHIM_KIND_HUGETLB_SHARED, ZAPSHIM_KIND_HUGETLB_PRIVATE,
                zs_log2(v->page_size));
    return;
  }
  if (v->ino == 0) {
    /* No file: anonymous memory, or one of the kernel's special mappings
     * ([vdso], [vvar], [uprobes], [sigpage]...), which are not.  A shared
     * VMA always has a shmem file, so a shared one without an inode is not
     * something we can name. */
    if (shared)
      return;
    const char *n = v->name;
    if (!n[0] || strcmp(n, "[heap]") == 0 || strcmp(n, "[stack]") == 0 ||
        zs_starts(n, "[stack:") || zs_starts(n, "[anon:")) {
      m->flags |= ZS_MAP_ANON;
      m->kind = ZAPSHIM_KIND_ANON_PRIVATE;
    } else if (n[0] == '[') {
      m->kind = ZAPSHIM_KIND_OTHER;
    }
    return;
  }
  uint32_t shm_dev = zs_shm_dev();
  if (shm_dev && dev == shm_dev) {
    if (zs_starts(v->name, "/SYSV"))
      m->flags |= ZS_MAP_SYSV;
    else if (strcmp(v->name, "/dev/zero (deleted)") == 0 || zs_starts(v->name, "[anon_shmem:"))
      m->flags |= ZS_MAP_ANON;
    zs_set_kind(m, shared, ZAPSHIM_KIND_SHMEM_SHARED, ZAPSHIM_KIND_SHMEM_PRIVATE, base);
    return;
  }

  uint64_t bsize = 0;
  unsigned long magic = zs_vma_fs_type(v->dev_major, v->dev_minor, &bsize);
  if (magic == 0) {
    /* An internal mount.  With a known (base) page size it is not hugetlb
     * and nothing else is certain. */
    if (v->page_size || zs_default_huge_size() == 0)
      return;
    bool anon = strcmp(v->name, "/anon_hugepage (deleted)") == 0;
    bool sysv = zs_starts(v->name, "/SYSV");
    if (anon || sysv || zs_starts(v->name, "/memfd:")) {
      m->flags |= ZS_MAP_HUGETLB | (anon ? ZS_MAP_ANON : 0) | (sysv ? ZS_MAP_SYSV : 0);
      zs_set_kind(m, shared, ZAPSHIM_KIND_HUGETLB_SHARED, ZAPSHIM_KIND_HUGETLB_PRIVATE,
                  zs_log2(zs_default_huge_size()));
    }
    return;
  }
  dev_t rdev;
  if (zs_name_device(v, &rdev)) {
    /* Private /dev/zero keeps its file in the VMA on newer kernels (older
     * ones show no inode) but is plain anonymous memory.  A shared one is
     * always the kernel's shmem file, so this cannot be it. */
    if (!shared && rdev == makedev(1, 5)) {
      m->flags |= ZS_MAP_ANON;
      m->kind = ZAPSHIM_KIND_ANON_PRIVATE;
    } else {
      m->kind = ZAPSHIM_KIND_OTHER;
    }
    return;
  }
  if (zs_is_pseudo_fs(magic)) {
    m->kind = ZAPSHIM_KIND_OTHER;
    return;
  }
  if (v->name[0] != '/')
    return; /* a file we cannot name: do not guess */
  if (magic == TMPFS_MAGIC) {
    zs_set_kind(m, shared, ZAPSHIM_KIND_SHMEM_SHARED, ZAPSHIM_KIND_SHMEM_PRIVATE, base);
  } else if (magic == HUGETLBFS_MAGIC) {
    uint64_t ps = bsize ? bsize : v->page_size;
    if (!ps)
      return;
    m->flags |= ZS_MAP_HUGETLB;
    zs_set_kind(m, shared, ZAPSHIM_KIND_HUGETLB_SHARED, ZAPSHIM_KIND_HUGETLB_PRIVATE,
                zs_log2(ps));
  } else if (magic == ANON_INODE_FS_MAGIC) {
    m->kind = ZAPSHIM_KIND_OTHER;
  } else {
    zs_set_kind(m, shared, ZAPSHIM_KIND_FILE_SHARED, ZAPSHIM_KIND_FILE_PRIVATE, base);
  }
}

/*
 * See classify.h.  Creates and closes one memfd; stores its device, packed,
 * in zs_state.shm_dev.  Returns 0, or the errno of memfd_create/fstat
 * (shm_dev is then left as it was).
 */
int zs_classify_learn_shm_dev(void) {
  int fd = (int)syscall(SYS_memfd_create, "zapshim-probe", MFD_CLOEXEC);
  if (fd < 0)
    return errno;
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) == 0)
    zs_state.shm_dev = zs_dev_pack(major(st.st_dev), minor(st.st_dev));
  else
    rc = errno;
  syscall(SYS_close, fd);
  return rc;
}
