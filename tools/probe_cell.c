/*
 * probe_cell.c - one measurement of the probe: a fresh mapping of one
 * memory kind, filled with 0xAB, one call over all of it, then the proofs:
 * the call's return, the pages freed (st_blocks of the backing file,
 * mincore of the range), a userfaultfd missing fault on the next touch
 * (UFFD_FEATURE_SIGBUS, where userfaultfd can watch the kind), and the
 * memory read back as zero.  Every call is a raw syscall, so a preloaded
 * zapshim cannot translate it: this measures the kernel alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"
#include "tool.h"

#define ZT_FILL 0xAB      /* written through the mapping */
#define ZT_FILE_FILL 0xCD /* the persistent file's own content */

/* KVM ABI the 6.1 uapi headers lack. */
#define ZT_KVM_CREATE_VM _IO(0xAE, 0x01)
#define ZT_KVM_CHECK_EXTENSION _IO(0xAE, 0x03)
#define ZT_KVM_CAP_GUEST_MEMFD 234
#define ZT_KVM_CAP_GUEST_MEMFD_FLAGS 244
struct zt_kvm_create_guest_memfd {
  uint64_t size, flags, reserved[6];
};
#define ZT_KVM_CREATE_GUEST_MEMFD _IOWR(0xAE, 0xd4, struct zt_kvm_create_guest_memfd)

/* A test mapping and what backs it. */
struct zt_obj {
  char *addr;
  size_t len;
  int fd; /* -1 if none */
};

static sigjmp_buf zt_jmp;

/* on_sigbus - leave the guarded access (see guarded_read). */
static void on_sigbus(int sig) {
  (void)sig;
  siglongjmp(zt_jmp, 1);
}

/* guarded_read - read the byte at p; true if that raised SIGBUS. */
static bool guarded_read(const volatile char *p) {
  if (sigsetjmp(zt_jmp, 1))
    return true;
  (void)*p;
  return false;
}

/* guarded_fill - memset under the SIGBUS guard; false if it faulted
 * (no huge page to back it). */
static bool guarded_fill(char *p, size_t len, int v) {
  if (sigsetjmp(zt_jmp, 1))
    return false;
  memset(p, v, len);
  return true;
}

/* new_vm - a KVM VM descriptor (the /dev/kvm descriptor is closed again);
 * *step names the stage that failed. Returns the VM fd, or -1 with errno. */
static int new_vm(const char **step) {
  *step = "open /dev/kvm";
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0)
    return -1;
  *step = "KVM_CREATE_VM";
  int vm = ioctl(kvm, ZT_KVM_CREATE_VM, 0);
  int e = errno;
  close(kvm);
  errno = e;
  return vm < 0 ? -1 : vm;
}

/* zt_gmem_offered - see probe.h. */
int64_t zt_gmem_offered(void) {
  const char *step;
  int vm = new_vm(&step);
  if (vm < 0)
    return -1;
  int64_t r = -1;
  errno = EOPNOTSUPP;
  if (ioctl(vm, ZT_KVM_CHECK_EXTENSION, ZT_KVM_CAP_GUEST_MEMFD) > 0) {
    int f = ioctl(vm, ZT_KVM_CHECK_EXTENSION, ZT_KVM_CAP_GUEST_MEMFD_FLAGS);
    r = f > 0 ? f : 0;
  }
  close(vm);
  return r;
}

/* zt_gmem_create - see probe.h. */
int zt_gmem_create(size_t len, uint64_t flags, int *vm_fd, const char **step) {
  int vm = new_vm(step);
  if (vm < 0)
    return -1;
  struct zt_kvm_create_guest_memfd g = {.size = len, .flags = flags};
  *step = "KVM_CREATE_GUEST_MEMFD";
  int fd = ioctl(vm, ZT_KVM_CREATE_GUEST_MEMFD, &g);
  if (fd < 0) {
    int e = errno;
    close(vm);
    errno = e;
    return -1;
  }
  *vm_fd = vm;
  return fd;
}

/* file_path - "DIR/zapshim-probe.PID", the one name a cell's file has. */
static void file_path(const char *dir, int pid, char *buf, size_t len) {
  snprintf(buf, len, "%s/zapshim-probe.%d", dir, pid);
}

/* zt_probe_file_path - see probe.h. */
bool zt_probe_file_path(const struct zt_probe_env *env, const struct zt_kind_def *k, int pid,
                        char *buf, size_t len) {
  if (k->backing == ZT_B_TMPFS)
    file_path(env->shm_dir, pid, buf, len);
  else if (k->backing == ZT_B_HUGETLBFS)
    file_path(env->huge_dir, pid, buf, len);
  else
    return false;
  return true;
}

/* temp_file - a new file of len bytes in dir; unlinked at once unless
 * named (then it stays linked while the cell runs; zt_probe_cell removes
 * it when the child has ended).  Returns the fd or -1. */
static int temp_file(const char *dir, size_t len, bool named) {
  char path[PATH_MAX + 64];
  file_path(dir, (int)getpid(), path, sizeof path);
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  if (!named)
    unlink(path);
  if (ftruncate(fd, (off_t)len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* disk_file - temp_file on the persistent filesystem, every byte written
 * with ZT_FILE_FILL and synced so its blocks are allocated; fd or -1. */
static int disk_file(const char *dir, size_t len) {
  int fd = temp_file(dir, 0, false);
  char buf[65536];
  memset(buf, ZT_FILE_FILL, sizeof buf);
  for (size_t off = 0; fd >= 0 && off < len; off += sizeof buf)
    if (pwrite(fd, buf, sizeof buf, (off_t)off) != (ssize_t)sizeof buf) {
      close(fd);
      return -1;
    }
  if (fd >= 0 && fsync(fd) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* make_obj - create the backing object of kind k and map it read-write.
 * Returns 0, or an errno with *step naming what failed. */
static int make_obj(const struct zt_probe_env *env, const struct zt_kind_def *k,
                    struct zt_obj *o, const char **step) {
  bool huge = k->backing == ZT_B_HUGETLBFS || k->backing == ZT_B_HUGE_MEMFD ||
              k->backing == ZT_B_MAP_HUGETLB;
  int vis = k->shared ? MAP_SHARED : MAP_PRIVATE, vm = -1;
  o->len = huge ? env->huge_len : env->len;
  o->fd = -1;
  o->addr = MAP_FAILED;
  *step = "create";
  switch (k->backing) {
  case ZT_B_ANON:
  case ZT_B_MAP_HUGETLB:
    *step = "mmap";
    o->addr = (char *)syscall(SYS_mmap, NULL, o->len, PROT_READ | PROT_WRITE,
                              vis | MAP_ANONYMOUS | (huge ? MAP_HUGETLB : 0), -1, (off_t)0);
    return o->addr == MAP_FAILED ? errno : 0;
  case ZT_B_SYSV: {
    *step = "shmget";
    int id = shmget(IPC_PRIVATE, o->len, IPC_CREAT | 0600);
    if (id < 0)
      return errno;
    *step = "shmat";
    o->addr = (char *)syscall(SYS_shmat, id, NULL, 0);
    int e = errno;
    shmctl(id, IPC_RMID, NULL);
    return o->addr == MAP_FAILED ? e : 0;
  }
  case ZT_B_MEMFD:
  case ZT_B_HUGE_MEMFD:
    *step = "memfd_create";
    o->fd = (int)syscall(SYS_memfd_create, "zapshim-probe", MFD_CLOEXEC | (huge ? MFD_HUGETLB : 0));
    if (o->fd >= 0 && ftruncate(o->fd, (off_t)o->len) != 0)
      return errno;
    break;
  case ZT_B_TMPFS: o->fd = temp_file(env->shm_dir, o->len, k->named); break;
  case ZT_B_HUGETLBFS: o->fd = temp_file(env->huge_dir, o->len, k->named); break;
  case ZT_B_DISK: o->fd = disk_file(env->disk_dir, o->len); break;
  case ZT_B_GMEM: o->fd = zt_gmem_create(o->len, env->gmem_flags, &vm, step); break;
  }
  if (o->fd < 0)
    return errno;
  *step = "mmap";
  o->addr = (char *)syscall(SYS_mmap, NULL, o->len, PROT_READ | PROT_WRITE, vis, o->fd, (off_t)0);
  return o->addr == MAP_FAILED ? errno : 0; /* the VM fd stays open until exit */
}

/* backing_blocks - st_blocks of what backs o: its descriptor, or for
 * shared anonymous and SysV memory the file behind /proc/self/map_files
 * (root only).  -1 if it cannot be known. */
static long long backing_blocks(const struct zt_obj *o) {
  struct stat st;
  int fd = o->fd, own = -1;
  if (fd < 0) {
    char path[96];
    snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", (unsigned long)o->addr,
             (unsigned long)(o->addr + o->len));
    fd = own = open(path, O_RDONLY | O_CLOEXEC);
  }
  long long b = fd >= 0 && fstat(fd, &st) == 0 ? (long long)st.st_blocks : -1;
  if (own >= 0)
    close(own);
  return b;
}

/* resident_pages - base pages of o that mincore reports resident; -1 if
 * mincore failed. */
static long resident_pages(const struct zt_obj *o, size_t page) {
  size_t n = o->len / page;
  unsigned char *vec = malloc(n);
  long r = 0;
  if (!vec || syscall(SYS_mincore, o->addr, o->len, vec) != 0) {
    free(vec);
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    r += vec[i] & 1;
  free(vec);
  return r;
}

/* fault_check - register o with userfaultfd (missing mode) and read its
 * first and middle byte.  Returns 1 if both reads raised SIGBUS (missing
 * pages), 0 if a read completed, -1 if userfaultfd cannot watch this kind
 * (or is not available). */
static int fault_check(const struct zt_probe_env *env, const struct zt_obj *o) {
  if (!env->uffd)
    return -1;
  int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
  if (uffd < 0)
    return -1;
  struct uffdio_api api = {.api = UFFD_API, .features = env->uffd_features};
  struct uffdio_register reg = {
    .range = {.start = (uintptr_t)o->addr, .len = o->len},
    .mode = UFFDIO_REGISTER_MODE_MISSING,
  };
  if (ioctl(uffd, UFFDIO_API, &api) != 0 || ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
    close(uffd);
    return -1;
  }
  bool a = guarded_read(o->addr), b = guarded_read(o->addr + o->len / 2);
  ioctl(uffd, UFFDIO_UNREGISTER, &reg.range);
  close(uffd);
  return a && b;
}

/* apply - the call under test, raw; 0 or an errno. */
static int apply(const struct zt_obj *o, enum zt_op op) {
  long r = 0;
  if (op == ZT_OP_DONTNEED || op == ZT_OP_DONTNEED_PUNCH)
    r = syscall(SYS_madvise, o->addr, o->len, MADV_DONTNEED);
  else if (op == ZT_OP_REMOVE)
    r = syscall(SYS_madvise, o->addr, o->len, MADV_REMOVE);
  if (r == 0 && (op == ZT_OP_PUNCH || op == ZT_OP_DONTNEED_PUNCH))
    r = fallocate(o->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)o->len);
  return r == 0 ? 0 : errno;
}

/* measure - the whole cell, in the child: make, fill, apply, prove. */
static void measure(const struct zt_probe_env *env, const struct zt_kind_def *k, enum zt_op op,
                    struct zt_cell *c) {
  struct zt_obj o;
  const char *step;
  struct sigaction sa = {.sa_handler = on_sigbus};
  sigaction(SIGBUS, &sa, NULL);
  int e = make_obj(env, k, &o, &step);
  if (e) {
    c->verdict = ZT_V_SETUP;
    c->err = e;
    snprintf(c->detail, sizeof c->detail, "%s: %s", step, zt_errno_name(e));
    return;
  }
  if ((op == ZT_OP_PUNCH || op == ZT_OP_DONTNEED_PUNCH) && o.fd < 0) {
    c->verdict = ZT_V_NO_FD;
    return;
  }
  if (!guarded_fill(o.addr, o.len, ZT_FILL)) {
    c->verdict = ZT_V_SETUP;
    snprintf(c->detail, sizeof c->detail, "SIGBUS while filling (no free huge pages?)");
    return;
  }
  long before = resident_pages(&o, env->page_size);
  e = apply(&o, op);
  if (e) {
    c->verdict = ZT_V_ERRNO;
    c->err = e;
    return;
  }
  long resident = resident_pages(&o, env->page_size);
  long long blocks = backing_blocks(&o);
  int fault = fault_check(env, &o);
  size_t bad = 0;
  int first = 0;
  for (size_t i = 0; i < o.len; i++)
    if (o.addr[i]) {
      if (!bad++)
        first = (unsigned char)o.addr[i];
    }
  int n = snprintf(c->detail, sizeof c->detail, "resident %ld->%ld pages, st_blocks %lld, %s",
                   before, resident, blocks,
                   fault > 0 ? "missing fault" : fault == 0 ? "no missing fault"
                                                            : "userfaultfd cannot watch it");
  if (bad && n > 0 && (size_t)n < sizeof c->detail)
    snprintf(c->detail + n, sizeof c->detail - (size_t)n, ", %zu bytes read back 0x%02x%s", bad,
             first, first == ZT_FILE_FILL ? " (the file's content)" : "");
  if (bad)
    c->verdict = ZT_V_KEPT;
  else if (resident != 0 || blocks > 0)
    c->verdict = ZT_V_NOT_FREED;
  else if (fault == 0)
    c->verdict = ZT_V_NO_FAULT;
  else
    c->verdict = ZT_V_ZAPS;
}

/* read_all - read exactly len bytes from fd; true on success. */
static bool read_all(int fd, void *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t r = read(fd, (char *)buf + got, len - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    got += (size_t)r;
  }
  return true;
}

/* zt_probe_cell - see probe.h.  The child has 30 s (alarm) to report. */
void zt_probe_cell(const struct zt_probe_env *env, const struct zt_kind_def *k, enum zt_op op,
                   struct zt_cell *out) {
  int p[2];
  memset(out, 0, sizeof *out);
  fflush(NULL);
  if (pipe2(p, O_CLOEXEC) != 0) {
    out->verdict = ZT_V_SETUP;
    out->err = errno;
    snprintf(out->detail, sizeof out->detail, "pipe: %s", zt_errno_name(errno));
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    struct zt_cell c = {0};
    close(p[0]);
    alarm(30);
    measure(env, k, op, &c);
    ssize_t w = write(p[1], &c, sizeof c);
    _exit(w == (ssize_t)sizeof c ? 0 : 1);
  }
  close(p[1]);
  bool got = pid > 0 && read_all(p[0], out, sizeof *out);
  close(p[0]);
  int status = 0;
  if (pid > 0)
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
      ;
  char path[PATH_MAX + 64];
  if (pid > 0 && k->named && zt_probe_file_path(env, k, (int)pid, path, sizeof path))
    unlink(path); /* the named file outlives its child */
  if (got)
    return;
  memset(out, 0, sizeof *out);
  out->verdict = pid < 0 ? ZT_V_SETUP : ZT_V_CRASH;
  out->err = pid < 0 ? errno : WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  snprintf(out->detail, sizeof out->detail, "%s",
           pid < 0 ? "fork failed" : WIFSIGNALED(status) ? sigabbrev_np(out->err) : "no report");
}
