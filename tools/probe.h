/*
 * probe.h - shared by probe.c (the table) and probe_cell.c (one
 * measurement in a forked child).
 */
#ifndef ZT_PROBE_H
#define ZT_PROBE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a test mapping is made. */
enum zt_backing {
  ZT_B_ANON,        /* mmap MAP_ANONYMOUS */
  ZT_B_MEMFD,       /* memfd_create */
  ZT_B_TMPFS,       /* a file in /dev/shm */
  ZT_B_SYSV,        /* shmget + shmat */
  ZT_B_HUGETLBFS,   /* a file on a hugetlbfs mount */
  ZT_B_HUGE_MEMFD,  /* memfd_create(MFD_HUGETLB) */
  ZT_B_MAP_HUGETLB, /* mmap MAP_ANONYMOUS|MAP_HUGETLB */
  ZT_B_GMEM,        /* KVM guest_memfd */
  ZT_B_DISK,        /* a file on a persistent filesystem */
};

/* The calls measured.  DONTNEED_PUNCH (DONTNEED, then PUNCH_HOLE of the
 * file) is measured only where zapshim's policy uses it. */
enum zt_op { ZT_OP_DONTNEED, ZT_OP_REMOVE, ZT_OP_PUNCH, ZT_OP_DONTNEED_PUNCH, ZT_OP_COUNT };

/* The outcome of one cell. */
enum zt_verdict {
  ZT_V_ZAPS,      /* 0, reads zero, freed, missing fault (where checkable) */
  ZT_V_KEPT,      /* 0, but reads back non-zero */
  ZT_V_NOT_FREED, /* 0, reads zero, but pages/blocks still there */
  ZT_V_NO_FAULT,  /* 0, zero, freed, yet the next touch did not fault */
  ZT_V_ERRNO,     /* the call failed: err */
  ZT_V_NO_FD,     /* PUNCH_HOLE on memory without a descriptor */
  ZT_V_SETUP,     /* the test mapping could not be made */
  ZT_V_CRASH,     /* the child died (signal in err) */
};

/* One memory kind of the table. */
struct zt_kind_def {
  const char *id;    /* stable name for JSON: "memfd-shared" */
  const char *label; /* for the table: "memfd shared" */
  enum zt_backing backing;
  bool shared;
  bool named; /* tmpfs/hugetlbfs file left linked in its directory while measured
               * (anyone may open it by name); else unlinked right after creation */
  int zkind;  /* enum zapshim_kind, for the policy */
};

/* What this machine offers, found once by the parent. */
struct zt_probe_env {
  size_t page_size;
  size_t huge_size;  /* default huge page size, 0 if none */
  size_t len;        /* bytes per test mapping: 4 MiB */
  size_t huge_len;   /* for hugetlb: max(4 MiB, 2 huge pages) */
  char shm_dir[PATH_MAX];
  char huge_dir[PATH_MAX]; /* "" if no hugetlbfs mount of huge_size */
  char disk_dir[PATH_MAX]; /* "" if no persistent filesystem found */
  char disk_fs[16];        /* "ext4", "xfs", "btrfs" */
  bool uffd;               /* userfaultfd with UFFD_FEATURE_SIGBUS */
  uint64_t uffd_features;  /* SIGBUS plus MISSING_SHMEM / MISSING_HUGETLBFS */
  bool kvm;                /* guest_memfd with GUEST_MEMFD_FLAG_MMAP */
  uint64_t gmem_flags;     /* flags KVM_CREATE_GUEST_MEMFD accepts here */
};

/* The result of one cell, as the child reports it through a pipe. */
struct zt_cell {
  int verdict; /* enum zt_verdict */
  int err;     /* errno for ZT_V_ERRNO / ZT_V_SETUP, signal for ZT_V_CRASH */
  char detail[200];
};

/*
 * zt_probe_cell - make a fresh mapping of kind k, fill it, apply op with
 * raw syscalls and judge the result, all in a forked child so that a
 * crash costs one cell.  Always fills *out.
 */
void zt_probe_cell(const struct zt_probe_env *env, const struct zt_kind_def *k, enum zt_op op,
                   struct zt_cell *out);

/*
 * zt_probe_file_path - the path of the test file a cell of kind k makes in
 * the child pid (tmpfs and hugetlbfs backings), into buf.  The parent
 * removes it after the child ends, so a crashed child leaves no named
 * file behind.  Returns false for kinds without such a file.
 */
bool zt_probe_file_path(const struct zt_probe_env *env, const struct zt_kind_def *k, int pid,
                        char *buf, size_t len);

/*
 * zt_gmem_create - a guest_memfd of len bytes with flags, on a new VM.
 * Returns the descriptor and the VM's in *vm_fd, or -1 with errno and the
 * failing step in *step.
 */
int zt_gmem_create(size_t len, uint64_t flags, int *vm_fd, const char **step);

/* zt_gmem_offered - the guest_memfd flags KVM offers (KVM_CAP_GUEST_MEMFD_FLAGS),
 * or -1 with errno if /dev/kvm or guest_memfd is not there. */
int64_t zt_gmem_offered(void);

#define ZT_GMEM_FLAG_MMAP 1ULL
#define ZT_GMEM_FLAG_INIT_SHARED 2ULL

#endif
