#define _GNU_SOURCE
#include "testutil.h"
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef EXT4_SUPER_MAGIC
#define EXT4_SUPER_MAGIC 0xEF53
#endif

/* ------------------------------------------------------------------ */
/* Requirements                                                         */
/* ------------------------------------------------------------------ */

bool zt_in_ci(void) {
  const char *ci = getenv("CI");
  return ci && strcmp(ci, "true") == 0;
}

void zt_need(bool have, const char *what) {
  if (have)
    return;
  if (zt_in_ci())
    cr_assert_fail("missing in CI: %s", what);
  cr_skip_test("skipped: %s", what);
}

bool zt_shim_loaded(void) {
  return dlsym(RTLD_DEFAULT, "zapshim_madvise") != NULL;
}

size_t zt_page_size(void) {
  return (size_t)sysconf(_SC_PAGESIZE);
}

/* ------------------------------------------------------------------ */
/* Zapping                                                              */
/* ------------------------------------------------------------------ */

const char *zt_advice_name(int advice) {
  return advice == MADV_REMOVE ? "MADV_REMOVE" : "MADV_DONTNEED";
}

void zt_zap(void *p, size_t len, int advice, const char *what) {
  errno = 0;
  int r = madvise(p, len, advice);
  int e = errno;
  cr_assert(r == 0, "%s%smadvise(%p, %#zx, %s) returned %d, errno %d (%s)", what ? what : "",
            what ? ": " : "", p, len, zt_advice_name(advice), r, e, strerror(e));
}

/* ------------------------------------------------------------------ */
/* Patterns                                                             */
/* ------------------------------------------------------------------ */

void zt_fill(void *p, size_t len, unsigned char v) {
  memset(p, v, len);
}

long zt_find_not(const void *p, size_t len, unsigned char v) {
  const volatile unsigned char *b = p;
  for (size_t i = 0; i < len; i++)
    if (b[i] != v)
      return (long)i;
  return -1;
}

void zt_assert_bytes(const void *p, size_t len, unsigned char v, const char *what) {
  long bad = zt_find_not(p, len, v);
  cr_assert(bad < 0, "%s: byte at +%#lx is %#x, expected %#x (range %p+%#zx)", what,
            bad, bad < 0 ? 0u : ((const unsigned char *)p)[bad], v, p, len);
}

void zt_pfill(int fd, off_t off, size_t len, unsigned char v) {
  unsigned char buf[64 * 1024]; /* on the stack: the helpers are thread-safe */
  memset(buf, v, sizeof buf);
  while (len) {
    size_t n = len < sizeof buf ? len : sizeof buf;
    ssize_t w = pwrite(fd, buf, n, off);
    cr_assert(w > 0, "pwrite at %lld: %s", (long long)off, strerror(errno));
    off += w;
    len -= (size_t)w;
  }
}

long zt_pfind_not(int fd, off_t off, size_t len, unsigned char v) {
  unsigned char buf[64 * 1024]; /* on the stack: the helpers are thread-safe */
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

void zt_assert_pbytes(int fd, off_t off, size_t len, unsigned char v, const char *what) {
  long bad = zt_pfind_not(fd, off, len, v);
  cr_assert(bad != -2, "%s: cannot pread file range %#llx+%#zx", what, (long long)off, len);
  if (bad >= 0) {
    unsigned char got = 0;
    if (pread(fd, &got, 1, off + bad) != 1)
      got = 0;
    cr_assert_fail("%s: file byte at offset %#llx is %#x, expected %#x (range %#llx+%#zx)",
                   what, (long long)(off + bad), got, v, (long long)off, len);
  }
}

/* ------------------------------------------------------------------ */
/* Memory freed?                                                        */
/* ------------------------------------------------------------------ */

size_t zt_resident_pages(const void *addr, size_t len) {
  size_t ps = zt_page_size();
  size_t n = (len + ps - 1) / ps;
  unsigned char *vec = malloc(n);
  cr_assert(vec, "malloc");
  int r = mincore((void *)addr, len, vec);
  int e = errno;
  cr_assert(r == 0, "mincore(%p, %#zx): %s", addr, len, strerror(e));
  size_t res = 0;
  for (size_t i = 0; i < n; i++)
    res += vec[i] & 1;
  free(vec);
  return res;
}

long long zt_st_blocks(int fd) {
  struct stat st;
  cr_assert(fstat(fd, &st) == 0, "fstat: %s", strerror(errno));
  return (long long)st.st_blocks;
}

bool zt_vma_bounds(const void *addr, uintptr_t *start, uintptr_t *end) {
  FILE *f = fopen("/proc/self/maps", "re");
  cr_assert(f, "open /proc/self/maps: %s", strerror(errno));
  char line[4096];
  bool found = false;
  uintptr_t a = (uintptr_t)addr;
  while (!found && fgets(line, sizeof line, f)) {
    unsigned long s, e;
    if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && s <= a && a < e) {
      *start = (uintptr_t)s;
      *end = (uintptr_t)e;
      found = true;
    }
  }
  fclose(f);
  return found;
}

/* An smaps VMA header: "start-end perms offset dev inode [path]". */
static bool smaps_header(const char *line, unsigned long *s, unsigned long *e) {
  char perms[8];
  return sscanf(line, "%lx-%lx %7s ", s, e, perms) == 3;
}

long zt_vma_hugetlb_kb(const void *addr) {
  FILE *f = fopen("/proc/self/smaps", "re");
  cr_assert(f, "open /proc/self/smaps: %s", strerror(errno));
  char line[4096];
  uintptr_t a = (uintptr_t)addr;
  bool in = false, seen = false;
  long priv = -1, shared = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long s, e;
    if (smaps_header(line, &s, &e)) {
      if (seen)
        break; /* past our VMA */
      in = s <= a && a < e;
      seen = in;
      continue;
    }
    if (!in)
      continue;
    long kb;
    if (sscanf(line, "Private_Hugetlb: %ld kB", &kb) == 1)
      priv = kb;
    else if (sscanf(line, "Shared_Hugetlb: %ld kB", &kb) == 1)
      shared = kb;
  }
  fclose(f);
  cr_assert(seen, "no VMA contains %p in /proc/self/smaps", addr);
  cr_assert(priv >= 0 && shared >= 0,
            "smaps entry of %p has no Private_Hugetlb/Shared_Hugetlb fields", addr);
  return priv + shared;
}

long long zt_map_blocks(const void *addr) {
  uintptr_t s, e;
  cr_assert(zt_vma_bounds(addr, &s, &e), "no VMA contains %p", addr);
  char path[128];
  snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", (unsigned long)s,
           (unsigned long)e);
  struct stat st;
  if (stat(path, &st) != 0) {
    int err = errno;
    char why[200];
    snprintf(why, sizeof why, "stat %s (needs CAP_SYS_ADMIN): %s", path, strerror(err));
    zt_need(err != EPERM && err != EACCES, why);
    cr_assert_fail("stat %s: %s", path, strerror(err));
  }
  return (long long)st.st_blocks;
}

/* ------------------------------------------------------------------ */
/* Huge pages                                                           */
/* ------------------------------------------------------------------ */

long zt_hugepages_free(size_t page_size) {
  char path[128];
  snprintf(path, sizeof path, "/sys/kernel/mm/hugepages/hugepages-%zukB/free_hugepages",
           page_size / 1024);
  FILE *f = fopen(path, "re");
  if (!f)
    return -1;
  long v = -1;
  if (fscanf(f, "%ld", &v) != 1)
    v = -1;
  fclose(f);
  return v;
}

/* Default huge page size (Hugepagesize: in /proc/meminfo), 0 if none. */
static size_t default_hugepage_size(void) {
  FILE *f = fopen("/proc/meminfo", "re");
  if (!f)
    return 0;
  char line[256];
  size_t kb = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Hugepagesize: %zu kB", &kb) == 1)
      break;
  fclose(f);
  return kb * 1024;
}

/* Parse a pagesize= mount option value ("2M", "2048k", "1G", bytes). */
static size_t parse_size(const char *s) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  switch (*end) {
  case 'k': case 'K': v <<= 10; break;
  case 'm': case 'M': v <<= 20; break;
  case 'g': case 'G': v <<= 30; break;
  default: break;
  }
  return (size_t)v;
}

bool zt_hugetlbfs_mount(size_t page_size, char *dir, size_t dirlen) {
  FILE *f = fopen("/proc/mounts", "re");
  if (!f)
    return false;
  char line[4096];
  bool found = false;
  while (!found && fgets(line, sizeof line, f)) {
    char src[1024], mnt[1024], type[64], opts[2048];
    if (sscanf(line, "%1023s %1023s %63s %2047s", src, mnt, type, opts) != 4)
      continue;
    if (strcmp(type, "hugetlbfs") != 0)
      continue;
    size_t ps = default_hugepage_size();
    char *o = strstr(opts, "pagesize=");
    if (o)
      ps = parse_size(o + strlen("pagesize="));
    if (ps != page_size || access(mnt, W_OK) != 0)
      continue;
    snprintf(dir, dirlen, "%s", mnt);
    found = true;
  }
  fclose(f);
  return found;
}

void zt_need_hugepages(size_t page_size, long n) {
  long fr = zt_hugepages_free(page_size);
  char why[160];
  snprintf(why, sizeof why,
           "%ld free huge pages of %zu kB (have %ld; echo 256 > /proc/sys/vm/nr_hugepages)", n,
           page_size / 1024, fr);
  zt_need(fr >= n, why);
}

/* ------------------------------------------------------------------ */
/* userfaultfd                                                          */
/* ------------------------------------------------------------------ */

int zt_uffd_open(uint64_t features) {
  int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
  if (fd < 0)
    return -1;
  struct uffdio_api api = {.api = UFFD_API, .features = features};
  if (ioctl(fd, UFFDIO_API, &api) != 0 || (api.features & features) != features) {
    int e = errno ? errno : EINVAL;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int zt_uffd_register_missing(int uffd, void *addr, size_t len) {
  struct uffdio_register reg = {
      .range = {.start = (uintptr_t)addr, .len = len},
      .mode = UFFDIO_REGISTER_MODE_MISSING,
  };
  return ioctl(uffd, UFFDIO_REGISTER, &reg);
}

int zt_uffd_unregister(int uffd, void *addr, size_t len) {
  struct uffdio_range r = {.start = (uintptr_t)addr, .len = len};
  return ioctl(uffd, UFFDIO_UNREGISTER, &r);
}

static sigjmp_buf probe_env;
static volatile sig_atomic_t probe_armed;

static void probe_sigbus(int sig) {
  (void)sig;
  if (probe_armed)
    siglongjmp(probe_env, 1);
  /* not ours: die with the default action */
  signal(SIGBUS, SIG_DFL);
  raise(SIGBUS);
}

bool zt_sigbus_on_read(const void *addr) {
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = probe_sigbus;
  sigemptyset(&sa.sa_mask);
  cr_assert(sigaction(SIGBUS, &sa, &old) == 0, "sigaction");
  bool faulted;
  if (sigsetjmp(probe_env, 1) == 0) {
    probe_armed = 1;
    (void)*(const volatile unsigned char *)addr;
    faulted = false;
  } else {
    faulted = true;
  }
  probe_armed = 0;
  sigaction(SIGBUS, &old, NULL);
  return faulted;
}

/* Open + register; zt_need() userfaultfd, assert the register works. */
static int uffd_watch(void *addr, size_t len, uint64_t features, const char *what) {
  int uffd = zt_uffd_open(features);
  char why[160];
  snprintf(why, sizeof why, "userfaultfd with features %#llx: %s", (unsigned long long)features,
           strerror(errno));
  zt_need(uffd >= 0, why);
  int r = zt_uffd_register_missing(uffd, addr, len);
  cr_assert(r == 0, "%s: UFFDIO_REGISTER MISSING over %p+%#zx: %s", what, addr, len,
            strerror(errno));
  return uffd;
}

/* The two probe points: first byte, and the first byte of the middle page. */
static void probe_points(void *addr, size_t len, char **p0, char **p1) {
  size_t ps = zt_page_size();
  *p0 = addr;
  *p1 = (char *)addr + (len / 2 / ps) * ps;
}

/*
 * Watch the range for missing faults, read the two probe points (each
 * read tells whether it raised SIGBUS), stop watching.
 */
static void probe_missing(void *addr, size_t len, uint64_t features, const char *what, char **p0,
                          char **p1, bool *f0, bool *f1) {
  int uffd = uffd_watch(addr, len, features, what);
  probe_points(addr, len, p0, p1);
  *f0 = zt_sigbus_on_read(*p0);
  *f1 = zt_sigbus_on_read(*p1);
  zt_uffd_unregister(uffd, addr, len);
  close(uffd);
}

void zt_assert_missing_fault(void *addr, size_t len, uint64_t features, const char *what) {
  char *p0, *p1;
  bool f0, f1;
  probe_missing(addr, len, features, what, &p0, &p1, &f0, &f1);
  cr_assert(f0, "%s: no userfaultfd missing fault at the first byte %p (memory still present)",
            what, (void *)p0);
  cr_assert(f1, "%s: no userfaultfd missing fault in the middle %p (memory still present)",
            what, (void *)p1);
}

void zt_assert_no_missing_fault(void *addr, size_t len, uint64_t features, const char *what) {
  char *p0, *p1;
  bool f0, f1;
  probe_missing(addr, len, features, what, &p0, &p1, &f0, &f1);
  cr_assert(!f0 && !f1, "%s: unexpected userfaultfd missing fault (first %d, middle %d)", what,
            f0, f1);
}

/* ------------------------------------------------------------------ */
/* Backing objects                                                      */
/* ------------------------------------------------------------------ */

int zt_make_memfd(size_t len, unsigned int flags) {
  int fd = memfd_create("zt", MFD_CLOEXEC | flags);
  cr_assert(fd >= 0, "memfd_create(flags %#x): %s", flags, strerror(errno));
  cr_assert(ftruncate(fd, (off_t)len) == 0, "ftruncate memfd: %s", strerror(errno));
  return fd;
}

#define ZT_MAX_CLEANUP 16
static char cleanup_paths[ZT_MAX_CLEANUP][512];
static int cleanup_count;

static void cleanup_files(void) {
  for (int i = 0; i < cleanup_count; i++)
    unlink(cleanup_paths[i]);
}

int zt_make_file_in(const char *dir, size_t len, char *path, size_t pathlen) {
  char p[512];
  snprintf(p, sizeof p, "%s/zapshim-test-XXXXXX", dir);
  int fd = mkostemp(p, O_CLOEXEC);
  cr_assert(fd >= 0, "mkostemp in %s: %s", dir, strerror(errno));
  if (cleanup_count < ZT_MAX_CLEANUP) {
    if (cleanup_count == 0)
      atexit(cleanup_files);
    snprintf(cleanup_paths[cleanup_count++], sizeof cleanup_paths[0], "%s", p);
  }
  cr_assert(ftruncate(fd, (off_t)len) == 0, "ftruncate %s: %s", p, strerror(errno));
  if (path)
    snprintf(path, pathlen, "%s", p);
  return fd;
}

int zt_make_ext4_file(size_t len, unsigned char v, char *path, size_t pathlen) {
  const char *cands[] = {getenv("ZT_EXT4_DIR"), "/var/tmp", "/tmp", "."};
  const char *dir = NULL;
  for (size_t i = 0; i < sizeof cands / sizeof cands[0] && !dir; i++) {
    struct statfs sf;
    if (cands[i] && statfs(cands[i], &sf) == 0 && sf.f_type == EXT4_SUPER_MAGIC &&
        access(cands[i], W_OK) == 0)
      dir = cands[i];
  }
  zt_need(dir != NULL, "a writable ext4 directory (ZT_EXT4_DIR, /var/tmp, /tmp or .)");
  int fd = zt_make_file_in(dir, len, path, pathlen);
  zt_pfill(fd, 0, len, v);
  cr_assert(fsync(fd) == 0, "fsync: %s", strerror(errno));
  return fd;
}

int zt_make_hugetlbfs_file(size_t page_size, size_t len, char *path, size_t pathlen) {
  char dir[512];
  char why[200];
  snprintf(why, sizeof why,
           "a writable hugetlbfs mount with %zu kB pages (mount -t hugetlbfs none /dev/hugepages)",
           page_size / 1024);
  zt_need(zt_hugetlbfs_mount(page_size, dir, sizeof dir), why);
  return zt_make_file_in(dir, len, path, pathlen);
}

void *zt_sysv_attach(size_t len) {
  int id = shmget(IPC_PRIVATE, len, IPC_CREAT | 0600);
  cr_assert(id >= 0, "shmget(%#zx): %s", len, strerror(errno));
  void *p = shmat(id, NULL, 0);
  int e = errno;
  shmctl(id, IPC_RMID, NULL);
  cr_assert(p != (void *)-1, "shmat: %s", strerror(e));
  return p;
}

/* KVM ABI pieces the 6.1 uapi headers do not have yet. */
#define ZT_KVMIO 0xAE
#define ZT_KVM_CREATE_VM _IO(ZT_KVMIO, 0x01)
#define ZT_KVM_CHECK_EXTENSION _IO(ZT_KVMIO, 0x03)
#define ZT_KVM_CAP_GUEST_MEMFD 234
#define ZT_KVM_CAP_GUEST_MEMFD_FLAGS 244 /* was KVM_CAP_GUEST_MEMFD_MMAP */
#define ZT_GUEST_MEMFD_FLAG_MMAP (1ULL << 0)
#define ZT_GUEST_MEMFD_FLAG_INIT_SHARED (1ULL << 1)
struct zt_kvm_create_guest_memfd {
  uint64_t size;
  uint64_t flags;
  uint64_t reserved[6];
};
#define ZT_KVM_CREATE_GUEST_MEMFD _IOWR(ZT_KVMIO, 0xd4, struct zt_kvm_create_guest_memfd)

int zt_guest_memfd(size_t len, int *vm_fd, char *why, size_t whylen) {
  *vm_fd = -1;
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) {
    snprintf(why, whylen, "no /dev/kvm: %s", strerror(errno));
    return -1;
  }
  int vm = ioctl(kvm, ZT_KVM_CREATE_VM, 0);
  int e = errno;
  close(kvm);
  if (vm < 0) {
    snprintf(why, whylen, "KVM_CREATE_VM: %s", strerror(e));
    return -1;
  }
  if (ioctl(vm, ZT_KVM_CHECK_EXTENSION, ZT_KVM_CAP_GUEST_MEMFD) <= 0) {
    snprintf(why, whylen, "KVM has no guest_memfd (KVM_CAP_GUEST_MEMFD)");
    close(vm);
    return -1;
  }
  int ok = ioctl(vm, ZT_KVM_CHECK_EXTENSION, ZT_KVM_CAP_GUEST_MEMFD_FLAGS);
  uint64_t offered = ok > 0 ? (uint64_t)ok : 0;
  if (!(offered & ZT_GUEST_MEMFD_FLAG_MMAP)) {
    snprintf(why, whylen, "guest_memfd cannot be mmap'ed (KVM_CAP_GUEST_MEMFD_FLAGS = %#llx)",
             (unsigned long long)offered);
    close(vm);
    return -1;
  }
  struct zt_kvm_create_guest_memfd g = {
      .size = len,
      .flags = ZT_GUEST_MEMFD_FLAG_MMAP | (offered & ZT_GUEST_MEMFD_FLAG_INIT_SHARED),
  };
  int fd = ioctl(vm, ZT_KVM_CREATE_GUEST_MEMFD, &g);
  if (fd < 0) {
    snprintf(why, whylen, "KVM_CREATE_GUEST_MEMFD(flags %#llx): %s",
             (unsigned long long)g.flags, strerror(errno));
    close(vm);
    return -1;
  }
  *vm_fd = vm;
  return fd;
}

/* ------------------------------------------------------------------ */
/* Mappings                                                             */
/* ------------------------------------------------------------------ */

void *zt_map(size_t len, int flags, int fd, off_t off) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, off);
  cr_assert(p != MAP_FAILED, "mmap(len %#zx, flags %#x, fd %d, off %#llx): %s", len, flags, fd,
            (long long)off, strerror(errno));
  return p;
}

void *zt_reserve_aligned(size_t len, size_t align) {
  size_t total = len + align;
  char *p = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  cr_assert(p != MAP_FAILED, "reserve %#zx: %s", total, strerror(errno));
  char *a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
  if (a > p)
    munmap(p, (size_t)(a - p));
  size_t tail = (size_t)(p + total - (a + len));
  if (tail)
    munmap(a + len, tail);
  return a;
}

/* ------------------------------------------------------------------ */
/* Shim log                                                             */
/* ------------------------------------------------------------------ */

bool zt_file_contains(const char *path, const char *word) {
  FILE *f = fopen(path, "re");
  if (!f)
    return false;
  char line[4096];
  bool found = false;
  while (!found && fgets(line, sizeof line, f))
    found = strstr(line, word) != NULL;
  fclose(f);
  return found;
}

/* ------------------------------------------------------------------ */
/* Kernel the shim behaves as                                           */
/* ------------------------------------------------------------------ */

/* parse "X.Y[...]" to ZT_KVER; 0 if it is not of that form. */
static unsigned parse_kver(const char *s) {
  unsigned maj, min;
  if (!s || sscanf(s, "%u.%u", &maj, &min) != 2)
    return 0;
  return ZT_KVER(maj, min);
}

bool zt_kernel_emulated(void) {
  return parse_kver(getenv("ZAPSHIM_KERNEL")) != 0;
}

unsigned zt_shim_kernel(void) {
  unsigned v = parse_kver(getenv("ZAPSHIM_KERNEL"));
  if (v)
    return v;
  struct utsname u;
  cr_assert(uname(&u) == 0, "uname: %s", strerror(errno));
  return parse_kver(u.release);
}

/* ------------------------------------------------------------------ */
/* Behind the shim's back                                               */
/* zt_syscall6 - see zt_syscall in testutil.h. */
long zt_syscall6(long nr, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  if (ret < 0 && ret > -4096) {
    errno = (int)-ret;
    return -1;
  }
  return ret;
}

/* ------------------------------------------------------------------ */

void *zt_raw_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  /* -1 (MAP_FAILED) with errno set on failure, as glibc's syscall() */
  return (void *)zt_syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

int zt_raw_munmap(void *addr, size_t len) {
  return (int)zt_syscall(SYS_munmap, addr, len);
}

int zt_raw_madvise(void *addr, size_t len, int advice) {
  return (int)zt_syscall(SYS_madvise, addr, len, advice);
}

/* ------------------------------------------------------------------ */
/* Running a step in a child process                                    */
/* ------------------------------------------------------------------ */

void zt_in_child(int (*step)(void *arg), void *arg, unsigned timeout_s, struct zt_child *out) {
  int pfd[2];
  cr_assert(pipe2(pfd, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
  pid_t pid = fork();
  cr_assert(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    close(pfd[0]);
    alarm(timeout_s);
    errno = 0;
    int rep[2];
    rep[0] = step(arg);
    rep[1] = errno;
    ssize_t w = write(pfd[1], rep, sizeof rep);
    _exit(w == (ssize_t)sizeof rep ? 0 : 1);
  }
  close(pfd[1]);
  int rep[2] = {0, 0};
  ssize_t n;
  do
    n = read(pfd[0], rep, sizeof rep);
  while (n < 0 && errno == EINTR);
  close(pfd[0]);
  int st;
  pid_t w;
  do
    w = waitpid(pid, &st, 0);
  while (w < 0 && errno == EINTR);
  cr_assert(w == pid, "waitpid: %s", strerror(errno));
  memset(out, 0, sizeof *out);
  out->exited = WIFEXITED(st) && WEXITSTATUS(st) == 0 && n == (ssize_t)sizeof rep;
  out->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
  out->ret = rep[0];
  out->err = rep[1];
}

const char *zt_child_desc(const struct zt_child *c, char *buf, size_t len) {
  if (c->exited)
    snprintf(buf, len, "exited");
  else if (c->signal)
    snprintf(buf, len, "killed by signal %d (%s%s)", c->signal, strsignal(c->signal),
             c->signal == SIGALRM ? ": timed out, deadlock?" : "");
  else
    snprintf(buf, len, "exited without reporting");
  return buf;
}

/* ------------------------------------------------------------------ */
/* Filesystems                                                          */
/* ------------------------------------------------------------------ */

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

long zt_fs_magic(int fd) {
  struct statfs sf;
  cr_assert(fstatfs(fd, &sf) == 0, "fstatfs: %s", strerror(errno));
  return (long)sf.f_type;
}

int zt_make_tmpfs_file(size_t len, char *path, size_t pathlen) {
  const char *cands[] = {getenv("ZT_TMPFS_DIR"), "/dev/shm", "/tmp", "/run"};
  const char *dir = NULL;
  for (size_t i = 0; i < sizeof cands / sizeof cands[0] && !dir; i++) {
    struct statfs sf;
    if (cands[i] && statfs(cands[i], &sf) == 0 && sf.f_type == TMPFS_MAGIC &&
        access(cands[i], W_OK) == 0)
      dir = cands[i];
  }
  zt_need(dir != NULL, "a writable tmpfs directory (ZT_TMPFS_DIR, /dev/shm, /tmp or /run)");
  return zt_make_file_in(dir, len, path, pathlen);
}
