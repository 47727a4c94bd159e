/*
 * classify.c - decide the memory kind of a mapping.
 *
 * At mmap time the descriptor is the truth (fstat, fstatfs); for ranges
 * the shim did not see mapped, the kernel's view of the VMA is (shared
 * flag, page size, device, inode, name), and what it cannot confirm stays
 * ZAPSHIM_KIND_UNKNOWN.  A VMA of another process (zs_classify_vma_of: a
 * supervisor, --explain) is classified the same way; only the file itself
 * is then asked through that process's /proc/PID/map_files.  No malloc,
 * no stdio.
 *
 * What the kernel-view classification depends on that varies with
 * namespaces, ids or names (audit, issue 9), and how each is held:
 *  - Inode numbers: a SysV segment's inode is its shmid, and the first
 *    segment of a fresh IPC namespace is shmid 0.  Inode 0 alone never
 *    means "no file": the shm device is checked first, and only device
 *    0:0 with inode 0 is anonymous memory.
 *  - The internal shmem device (memfd, SysV, shared anon): one kernel
 *    mount for every IPC, mount and user namespace, learned from a memfd.
 *    If memfd_create is refused, the file itself is asked (map_files).
 *  - Internal hugetlb mounts (MAP_HUGETLB, MFD_HUGETLB, SHM_HUGETLB), one
 *    per huge page size, in no mountinfo: the file itself is asked through
 *    map_files (fstatfs gives the exact page size); where it cannot be
 *    (no CAP_SYS_ADMIN/CAP_CHECKPOINT_RESTORE) only the default size's
 *    internal device, learned from an empty MFD_HUGETLB memfd, is
 *    accepted on the maps path; names alone ("/anon_hugepage", "/SYSV",
 *    "/memfd:") never decide a kind.
 *  - Names: "/SYSV<key>" (the key is per IPC namespace, the prefix is
 *    not), "/dev/zero (deleted)", "[anon_shmem:", "/anon_hugepage
 *    (deleted)" only set SYSV/ANON flags once the device is known to be
 *    the kernel's own mount; "[heap]", "[stack]", "[anon:" only with
 *    device 0:0; the guest_memfd name "anon_inode:[kvm-gmem]" is the one
 *    kind decided by a name (the kernel gives no other anon inode that
 *    name; 6.18's own gmem fs magic is also recognised at mmap time).
 *  - Paths: a VMA's name is a path from the root at the moment of asking;
 *    a file mapped before a chroot may show a path that leads elsewhere
 *    in the jail.  stat() of a name (device nodes) is believed only if it
 *    shows the VMA's device and inode.
 *  - mountinfo (mountinfo.c): this process's, per mount namespace, relative to the process
 *    root; mounts outside a chroot are not listed (then the file itself is
 *    asked, else UNKNOWN).  A mount point stat() cannot confirm is
 *    answered from its type name only for pseudo and persistent
 *    filesystems, never tmpfs or hugetlbfs (ZS_FS_UNVERIFIED).
 *  - /proc itself: "self" of a /proc of another PID namespace does not
 *    resolve, and a chroot may have no /proc: files under /proc are
 *    opened relative to the /proc directory kept from load time
 *    (procfs.c); when neither reaches them, queries say ZS_VMA_UNAVAILABLE.
 *  - Device numbers are global (not namespaced), but anonymous ones are
 *    reused after an unmount: the learned internal devices belong to
 *    kernel mounts that are never unmounted.
 */
#define _GNU_SOURCE /* O_PATH */
#include "classify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mountinfo.h"
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
#define ZS_MFD_HUGETLB 0x0004U

/* Pseudo filesystems whose files map device or kernel memory: OTHER. */
#define ZS_PROC_SUPER_MAGIC 0x9fa0UL
#define ZS_SYSFS_MAGIC 0x62656572UL
#define ZS_DEBUGFS_MAGIC 0x64626720UL
#define ZS_TRACEFS_MAGIC 0x74726163UL
#define ZS_DEVPTS_MAGIC 0x1cd1UL
/* Since 6.18 (NUMA mempolicy series) guest_memfd may live on its own fs. */
#define ZS_GUEST_MEMFD_MAGIC 0x474d454dUL /* "GMEM" */

/* zs_log2 - floor(log2(v)) for v > 0; 0 for v == 0.  One instruction:
 * the mmap hook asks it of the page size at every call. */
static uint8_t zs_log2(uint64_t v) {
  return v ? (uint8_t)(63 - __builtin_clzll(v)) : 0;
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
 * the name KVM gives guest_memfd files (read through the /proc kept at
 * load, so a chroot does not hide it).
 */
static bool zs_fd_is_gmem(int fd) {
  char rel[32], link[64];
  /* "self/fd/" + decimal fd, without stdio */
  static const char pre[] = "self/fd/";
  char digits[12];
  int n = 0;
  unsigned v = (unsigned)fd;
  do
    digits[n++] = (char)('0' + v % 10);
  while ((v /= 10) && n < (int)sizeof digits);
  memcpy(rel, pre, sizeof pre - 1);
  for (int i = 0; i < n; i++)
    rel[sizeof pre - 1 + i] = digits[n - 1 - i];
  rel[sizeof pre - 1 + n] = '\0';
  ssize_t len = zs_vma_proc_readlink(rel, link, sizeof link - 1);
  if (len <= 0)
    return false;
  link[len] = '\0';
  return strcmp(link, ZS_GMEM_NAME) == 0;
}

/*
 * zs_hugetlb_internal_dev - the device of the kernel's internal hugetlbfs
 * mount for the default huge page size (MAP_HUGETLB, MFD_HUGETLB and
 * SHM_HUGETLB files live there; it is in no mountinfo), learned once by
 * creating an empty MFD_HUGETLB memfd (no huge page is reserved for it).
 * Returns it packed (zs_dev_pack), or 0 if it cannot be known.
 */
static uint32_t zs_hugetlb_internal_dev(void) {
  static _Atomic uint32_t dev;
  static atomic_bool failed;
  uint32_t d = atomic_load_explicit(&dev, memory_order_relaxed);
  if (d || atomic_load_explicit(&failed, memory_order_relaxed))
    return d;
  int e = errno;
  int fd = (int)syscall(SYS_memfd_create, "zapshim-probe", MFD_CLOEXEC | ZS_MFD_HUGETLB);
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) == 0) {
    d = zs_dev_pack(major(st.st_dev), minor(st.st_dev));
    atomic_store_explicit(&dev, d, memory_order_relaxed);
  } else {
    atomic_store_explicit(&failed, true, memory_order_relaxed);
  }
  if (fd >= 0)
    syscall(SYS_close, fd);
  errno = e;
  return d;
}

/*
 * zs_map_file_fs - the filesystem of the file behind the VMA of process
 * pid (0: this one), asked of the file itself: open
 * /proc/PID/map_files/START-END (O_PATH, through the /proc kept at load;
 * needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE, and the right to read
 * another process),
 * confirm it is the VMA's device and inode, fstatfs it.  The kernel's word
 * where mountinfo has none (internal mounts, mounts outside a chroot) or
 * could not be checked.  Returns the magic with the block size (the huge
 * page size on hugetlbfs) in *bsize, or 0 if it cannot be had.
 */
static unsigned long zs_map_file_fs(pid_t pid, const struct zs_vma *v, uint64_t *bsize) {
  int e = errno;
  unsigned long magic = 0;
  int fd = zs_proc_open_map_file_of(pid, v->start, v->end, O_PATH);
  struct stat st;
  struct statfs sfs;
  if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_ino == v->ino &&
      major(st.st_dev) == v->dev_major && minor(st.st_dev) == v->dev_minor &&
      fstatfs(fd, &sfs) == 0) {
    magic = (unsigned long)(uint32_t)sfs.f_type;
    *bsize = (uint64_t)sfs.f_bsize;
  }
  if (fd >= 0)
    syscall(SYS_close, fd);
  errno = e;
  return magic;
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
/* zs_classify_mmap_plain - see classify.h. */
bool zs_classify_mmap_plain(int mmap_flags) {
  int type = mmap_flags & 0x0f; /* MAP_TYPE; anything but shared counts as private below */
  return (mmap_flags & (MAP_ANONYMOUS | MAP_HUGETLB)) == MAP_ANONYMOUS && type != MAP_SHARED &&
         type != MAP_SHARED_VALIDATE && zs_base_shift() == 12;
}

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

/* zs_shmem_name_flags - ZS_MAP_SYSV / ZS_MAP_ANON for a file on the
 * kernel's internal shmem mount, by the name the kernel gives it there
 * ("/SYSV<key>", "/dev/zero (deleted)", "[anon_shmem:...]"; memfds are
 * "/memfd:..." and can take neither). */
static uint8_t zs_shmem_name_flags(const char *n) {
  if (zs_starts(n, "/SYSV"))
    return ZS_MAP_SYSV;
  if (strcmp(n, "/dev/zero (deleted)") == 0 || zs_starts(n, "[anon_shmem:"))
    return ZS_MAP_ANON;
  return 0;
}

/* zs_hugetlb_name_flags - the same for a file on an internal hugetlbfs
 * mount ("/SYSV<key>", "/anon_hugepage (deleted)", "/memfd:..."). Only
 * called once the device is known to be an internal mount: a file on a
 * user's hugetlbfs mount could carry any of these names. */
static uint8_t zs_hugetlb_name_flags(const char *n) {
  if (zs_starts(n, "/SYSV"))
    return ZS_MAP_SYSV;
  if (strcmp(n, "/anon_hugepage (deleted)") == 0)
    return ZS_MAP_ANON;
  return 0;
}

/*
 * See classify.h.  The kernel's facts, in order: the guest_memfd name; a
 * huge kernel page size; the internal shmem device (shared anon, memfd,
 * SysV, shared /dev/zero) - before any inode test: SysV segments have the
 * shmid as inode, and the first segment of an IPC namespace has 0; no
 * device and no inode (anonymous private memory: heap, stack,
 * [anon:...]; other [names] are the kernel's special mappings: OTHER);
 * the filesystem of the device (mountinfo + statfs, or failing that the
 * file itself through map_files + fstatfs), where a device node is OTHER
 * except the private /dev/zero of newer kernels (ANON_PRIVATE).  Internal
 * hugetlb mounts are not in mountinfo: where the file cannot be asked, the
 * maps path (page size unknown) accepts the internal mount of the default
 * huge page size, recognised by its device (learned from an empty
 * MFD_HUGETLB memfd), never by a name alone.  Everything else is UNKNOWN.
 * Always fills start, end, offset, dev, ino, prot, fdslot (-1), kind,
 * flags, page_shift.  Only the file itself is asked through pid's /proc:
 * everything else is global (devices, statfs of a mount) or this
 * process's own view, checked against the VMA's device and inode.
 */
void zs_classify_vma_of(pid_t pid, const struct zs_vma *v, struct zs_map *m) {
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
    /* Only hugetlb VMAs have a kernel page size above the base one.  The
     * kernel's names mean something only on an internal mount (the
     * default size's learned device, or a device no mountinfo lists). */
    m->flags |= ZS_MAP_HUGETLB;
    uint8_t nf = zs_hugetlb_name_flags(v->name);
    uint32_t hdev = nf ? zs_hugetlb_internal_dev() : 0;
    if (nf && ((hdev && dev == hdev) || zs_vma_fs_type(v->dev_major, v->dev_minor, NULL) == 0))
      m->flags |= nf;
    zs_set_kind(m, shared, ZAPSHIM_KIND_HUGETLB_SHARED, ZAPSHIM_KIND_HUGETLB_PRIVATE,
                zs_log2(v->page_size));
    return;
  }
  uint32_t shm_dev = zs_shm_dev();
  if (shm_dev && dev == shm_dev) {
    m->flags |= zs_shmem_name_flags(v->name);
    zs_set_kind(m, shared, ZAPSHIM_KIND_SHMEM_SHARED, ZAPSHIM_KIND_SHMEM_PRIVATE, base);
    return;
  }
  if (v->ino == 0 && dev == 0) {
    /* No file: anonymous memory, or one of the kernel's special mappings
     * ([vdso], [vvar], [uprobes], [sigpage]...), which are not.  A shared
     * VMA always has a shmem file, so a shared one without a file is not
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

  uint64_t bsize = 0;
  unsigned long magic = zs_vma_fs_type(v->dev_major, v->dev_minor, &bsize);
  bool internal = magic == 0;
  if (magic == 0 || magic == ZS_FS_UNVERIFIED) {
    /* mountinfo has no word (internal mount, a mount outside a chroot) or
     * one that could not be checked: ask the file itself. */
    uint64_t fbsize = 0;
    unsigned long fmagic = zs_map_file_fs(pid, v, &fbsize);
    if (fmagic) {
      magic = fmagic;
      bsize = fbsize;
    }
  }
  if (magic == 0) {
    /* An internal mount the file could not be asked about.  With a known
     * (base) page size it is not hugetlb and nothing else is certain;
     * else only the default size's internal hugetlb device is accepted. */
    if (v->page_size || zs_default_huge_size() == 0)
      return;
    uint32_t hdev = zs_hugetlb_internal_dev();
    if (!hdev || dev != hdev)
      return;
    m->flags |= ZS_MAP_HUGETLB | zs_hugetlb_name_flags(v->name);
    zs_set_kind(m, shared, ZAPSHIM_KIND_HUGETLB_SHARED, ZAPSHIM_KIND_HUGETLB_PRIVATE,
                zs_log2(zs_default_huge_size()));
    return;
  }
  if (internal && magic == TMPFS_MAGIC) {
    /* The kernel's own shmem files, while the shm device is unknown. */
    m->flags |= zs_shmem_name_flags(v->name);
    zs_set_kind(m, shared, ZAPSHIM_KIND_SHMEM_SHARED, ZAPSHIM_KIND_SHMEM_PRIVATE, base);
    return;
  }
  if (internal && magic == HUGETLBFS_MAGIC && bsize) {
    m->flags |= ZS_MAP_HUGETLB | zs_hugetlb_name_flags(v->name);
    zs_set_kind(m, shared, ZAPSHIM_KIND_HUGETLB_SHARED, ZAPSHIM_KIND_HUGETLB_PRIVATE,
                zs_log2(bsize));
    return;
  }
  if (v->ino == 0)
    return; /* a file without an inode number outside the kernel's own mounts */
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
  } else if (magic == ANON_INODE_FS_MAGIC || magic == ZS_GUEST_MEMFD_MAGIC) {
    m->kind = ZAPSHIM_KIND_OTHER;
  } else {
    zs_set_kind(m, shared, ZAPSHIM_KIND_FILE_SHARED, ZAPSHIM_KIND_FILE_PRIVATE, base);
  }
}

/* zs_classify_vma - see classify.h. */
void zs_classify_vma(const struct zs_vma *v, struct zs_map *m) {
  zs_classify_vma_of(0, v, m);
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

/* read_default_huge_size - Hugepagesize from /proc/meminfo in bytes, 0 if
 * the kernel has no huge pages. Reads into a stack buffer, no stdio. */
static size_t read_default_huge_size(void) {
  char buf[8192];
  int fd = zs_vma_proc_open("meminfo", O_RDONLY); /* the /proc kept from load */
  if (fd < 0)
    return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  syscall(SYS_close, fd);
  if (n <= 0)
    return 0;
  buf[n] = 0;
  const char *p = strstr(buf, "Hugepagesize:");
  if (!p)
    return 0;
  p += strlen("Hugepagesize:");
  while (*p == ' ')
    p++;
  size_t kb = 0;
  while (*p >= '0' && *p <= '9')
    kb = kb * 10 + (size_t)(*p++ - '0');
  return kb * 1024;
}

/* zs_default_huge_size - see classify.h. Threads that race on the first use
 * each read /proc/meminfo and store the same value. */
size_t zs_default_huge_size(void) {
  static atomic_bool known;
  if (!atomic_load_explicit(&known, memory_order_acquire)) {
    if (!zs_state.default_huge_size)
      zs_state.default_huge_size = read_default_huge_size();
    atomic_store_explicit(&known, true, memory_order_release);
  }
  return zs_state.default_huge_size;
}

/* zs_shm_dev - see classify.h. Until it is known, every caller tries (racing
 * first callers create one memfd each and store the same device); after a
 * failure nobody tries again. */
uint32_t zs_shm_dev(void) {
  static atomic_bool failed;
  uint32_t dev = zs_state.shm_dev;
  if (!dev && !atomic_load_explicit(&failed, memory_order_relaxed)) {
    if (zs_classify_learn_shm_dev() != 0)
      atomic_store_explicit(&failed, true, memory_order_relaxed);
    dev = zs_state.shm_dev;
  }
  return dev;
}
