/*
 * diff.h - the differential test: every case runs a call once straight on
 * the kernel (syscall(2), which the shim cannot see) and once through libc
 * (so, under LD_PRELOAD, through the shim), each on its own fresh set-up,
 * and compares the result, errno and the state afterwards.
 *
 * A case is a run function called once per side.  It builds its set-up,
 * makes the call through d_*() (which picks the kernel or libc by side),
 * fills a struct dres and tears the set-up down.  The sides run one after
 * the other (shim, kernel, reference), so nothing the other side maps can
 * fall into a hole a case relies on.
 *
 * The third side, D_REF, is used by madvise cases whose state afterwards
 * is, by the policy table of shim/policy.h, that of another call (a
 * DONTNEED on shared memory frees it as MADV_REMOVE would): the reference
 * run makes that call with the kernel alone, and the shim's state is
 * compared with it.  The deliberate exceptions to "same result" are in
 * one table in test_differential.c.
 */
#ifndef ZS_DIFF_H
#define ZS_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Which way a call is made. */
enum dside {
  D_SHIM,   /* through libc: the shim when preloaded */
  D_KERNEL, /* syscall(2): the kernel alone */
  D_REF,    /* the kernel alone, making the call the policy names (madvise) */
};

#define D_STATE_MAX 1024

/* What one side saw. */
struct dres {
  long ret;                 /* 0 or -1 (pointer calls: 0 = success), dup2's number */
  int err;                  /* errno when ret == -1, else 0 */
  char state[D_STATE_MAX];  /* the state afterwards, as text ("" if not compared) */
};

/* Deliberate exceptions (bit mask); see the table in test_differential.c
 * and the list in shim/policy.h. */
#define EXC_REMOVE_PRIVATE 1u /* MADV_REMOVE on private memory: answered as its DONTNEED */
#define EXC_HUGE_PARTIAL 2u   /* hugetlb range ending inside a huge page: covered part zeroed */

/* madvise set-ups (cases_madvise.c). */
enum dkind {
  K_ANON,        /* 4 pages private anonymous, AB */
  K_MEMFD,       /* 4 pages shared memfd, AB */
  K_MEMFD_PRIV,  /* 4 pages private memfd: file CD, mapping AB */
  K_MEMFD_RO,    /* 4 pages shared memfd mapped PROT_READ, file CD (fd O_RDWR) */
  K_MEMFD_ROFD,  /* the same through an O_RDONLY descriptor (no VM_MAYWRITE) */
  K_NONE_ANON,   /* anonymous, AB, then PROT_NONE */
  K_NONE_MEMFD,  /* shared memfd, AB, then PROT_NONE */
  K_LOCKED,      /* anonymous, AB, mlocked */
  K_LOCKED_MEMFD,/* shared memfd, AB, mlocked */
  K_SEALED,      /* memfd CD sealed F_SEAL_WRITE, mapped shared PROT_READ */
  K_FSEALED,     /* shared memfd AB mapped writable, then F_SEAL_FUTURE_WRITE */
  K_PRIV_ROFD,   /* private writable view of a memfd through an O_RDONLY descriptor: file CD, mapping AB */
  K_PRIV_SEALED, /* private writable view of an F_SEAL_WRITE memfd: file CD, mapping AB */
  K_HOLE_ANON,   /* anonymous pages 0, 2, 3; page 1 unmapped */
  K_HOLE_MEMFD,  /* shared memfd pages 0, 2, 3; page 1 unmapped */
  K_TAIL_ANON,   /* 8 pages: 0-3 anonymous, 4-7 unmapped */
  K_UNMAPPED,    /* 4 pages, nothing mapped */
  K_SYSV,        /* SysV segment of 4 pages, AB */
  K_SYSV_RO,     /* SysV segment attached SHM_RDONLY, CD */
  K_EXT4_SHARED, /* ext4 file, 4 pages, CD, shared, mapping AB */
  K_EXT4_PRIV,   /* ext4 file, 4 pages, CD, private, mapping AB */
  K_HUGE_SHARED, /* MFD_HUGETLB memfd, 2 huge pages, shared, AB */
  K_HUGE_PRIV,   /* MFD_HUGETLB memfd, 2 huge pages, private, AB */
  K_HUGE_ANON,   /* MAP_HUGETLB anonymous, 2 huge pages, AB */
  /* issue 14: files in /dev/shm and on hugetlbfs, still linked ("named":
   * anyone may open them; the shim leaves their data on DONTNEED) or
   * unlinked after mmap (zapped like memfd). */
  K_SHMFILE_NAMED,      /* /dev/shm file, 4 pages, shared, AB, linked */
  K_SHMFILE_NAMED_PRIV, /* the same file CD, private, mapping AB */
  K_SHMFILE_GONE,       /* /dev/shm file, shared, AB, unlinked after mmap */
  K_SHMFILE_GONE_PRIV,  /* file CD, private, mapping AB, unlinked after mmap */
  K_HUGEFILE_NAMED,     /* hugetlbfs file, 2 huge pages, shared, AB, linked */
  K_HUGEFILE_NAMED_PRIV,/* the same file CD (written shared), private, mapping AB */
  K_HUGEFILE_GONE,      /* hugetlbfs file, shared, AB, unlinked after mmap */
};

/* How the length of a madvise case is formed. */
enum dlen {
  L_BYTES, /* len as given */
  L_TOP,   /* SIZE_MAX - len: rounds up past the end of the address space */
  L_WRAP,  /* page aligned, addr + len wraps past zero (ends len bytes after 0) */
};

/* The reference call for the state afterwards (D_REF side). */
enum dref {
  R_SAME,            /* no reference: compare with the kernel side */
  R_REMOVE,          /* MADV_REMOVE over the same range */
  R_DONTNEED,        /* MADV_DONTNEED over the same range */
  R_DONTNEED_PUNCH,  /* MADV_DONTNEED, then PUNCH_HOLE of the file range */
  R_HUGE_PARTIAL,    /* DONTNEED of whole huge pages, covered part of the rest zeroed */
};

struct dcase;
typedef void (*drun_fn)(const struct dcase *c, enum dside s, struct dres *r);

/* One case of the table. */
struct dcase {
  const char *name;
  drun_fn run;
  unsigned exc;      /* EXC_* this case exercises (0: result and state identical) */
  /* madvise cases */
  enum dkind kind;
  long off;          /* start: offset from the set-up's base ... */
  bool absolute;     /* ... or, if set, the absolute address abs */
  uintptr_t abs;
  size_t len;
  size_t len2;       /* mremap: the new length */
  enum dlen lenmode;
  int advice;
  enum dref ref;
  /* other cases: free parameters */
  long a, b;
  /* the kernel versions the shim must behave as for this case to apply
   * (ZT_KVER; 0: no bound): [kmin, kmax).  Outside, the case is skipped
   * (not in the control run, where the shim is absent). */
  unsigned kmin, kmax;
};

/* The tables (cases_*.c). */
const struct dcase *d_madvise_cases(size_t *n);
const struct dcase *d_map_cases(size_t *n);
const struct dcase *d_call_cases(size_t *n);

/* The calls, by side: the kernel through syscall(2), else libc. Pointer
 * calls return MAP_FAILED / (void *)-1 with errno, as libc does. */
int d_madvise(enum dside s, void *a, size_t len, int advice);
void *d_mmap(enum dside s, void *a, size_t len, int prot, int flags, int fd, off_t off);
int d_munmap(enum dside s, void *a, size_t len);
void *d_mremap(enum dside s, void *old, size_t old_len, size_t new_len, int flags, void *na);
void *d_shmat(enum dside s, int id, const void *a, int flags);
int d_shmdt(enum dside s, const void *a);
int d_close(enum dside s, int fd);
int d_dup2(enum dside s, int oldfd, int newfd);
int d_dup3(enum dside s, int oldfd, int newfd, int flags);
int d_close_range(enum dside s, unsigned first, unsigned last, int flags);

/* d_result - record an int call's result (r, errno now). */
void d_result(struct dres *r, long ret);

/* d_result_ptr - record a pointer call's result: 0 unless failed. */
void d_result_ptr(struct dres *r, void *p, void *failed);

/* d_state_add - append printf-style text to r->state. */
void d_state_add(struct dres *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * d_state_region - describe [base, base+len) page by page into r->state,
 * run-length encoded: for each 4 KiB page, the first byte through the
 * mapping ("--" unmapped, "xx" unreadable) and, with fd >= 0, the byte at
 * the same offset of the file (from file offset foff) read with pread.
 */
void d_state_region(struct dres *r, const char *what, const void *base, size_t len, int fd,
                    off_t foff);

/* d_mapped - true if the page at p is mapped (mincore). */
bool d_mapped(const void *p);

/* d_errname - "EINVAL" ... for the messages. */
const char *d_errname(int e);

#endif
