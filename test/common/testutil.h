/*
 * testutil.h - helpers shared by the tests: proving a zap against the real
 * kernel (read-back, memory freed, userfaultfd missing fault) and requiring
 * resources (huge pages, userfaultfd, /dev/kvm).
 *
 * The zap tests are plain programs: they do not link the shim and call the
 * libc madvise(); ctest runs them with LD_PRELOAD=libzapshim.so.  Every
 * helper here talks to the kernel directly, so a test proves what really
 * happened to the memory, not what the shim believes.
 *
 * Helpers whose name starts with zt_assert_ / zt_need / zt_make_ stop the
 * test (Criterion assertion or skip) on failure; the others return a value
 * and leave the decision to the caller.
 */
#ifndef ZS_TESTUTIL_H
#define ZS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>

/* Sizes used throughout the tests. */
#define ZT_KIB ((size_t)1024)
#define ZT_MIB ((size_t)1024 * 1024)
#define ZT_HPAGE_2M ((size_t)2 * ZT_MIB)

/* 2 MiB huge page flags for headers that lack them (log2(2 MiB) << 26). */
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21U << 26) /* log2(2 MiB) << MFD_HUGE_SHIFT */
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26) /* log2(2 MiB) << MAP_HUGE_SHIFT */
#endif

/* Patterns: what a test writes, and what must come back. */
#define ZT_FILL 0xAB      /* written into the mapping before the zap */
#define ZT_FILE_FILL 0xCD /* written into a backing file with pwrite */

/* ------------------------------------------------------------------ */
/* Requirements                                                         */
/* ------------------------------------------------------------------ */

/*
 * zt_need - a resource the test cannot run without is missing.  In CI
 * (CI=true in the environment) this fails the test with the reason; on a
 * user's machine it skips the test and prints the reason.
 */
void zt_need(bool have, const char *what);

/* zt_in_ci - true when CI=true. */
bool zt_in_ci(void);

/*
 * zt_shim_loaded - true if libzapshim is in the process (its public
 * zapshim_madvise symbol resolves).  The tests do not require it: run
 * without the shim, the cases where the shim must translate fail, which
 * is how a test proves it can detect a non-zap.
 */
bool zt_shim_loaded(void);

/* zt_page_size - the base page size (sysconf). */
size_t zt_page_size(void);

/* ------------------------------------------------------------------ */
/* Zapping                                                              */
/* ------------------------------------------------------------------ */

/*
 * zt_advice_name - "MADV_REMOVE" for MADV_REMOVE, "MADV_DONTNEED" for
 * anything else (the tests zap with one or the other).
 */
const char *zt_advice_name(int advice);

/*
 * zt_zap - madvise(p, len, advice) through libc (the shim, when preloaded)
 * and assert it returns 0.  The message names what (left out if NULL), the
 * address, the length, the advice, the return value, errno and strerror.
 */
void zt_zap(void *p, size_t len, int advice, const char *what);

/* ------------------------------------------------------------------ */
/* Patterns                                                             */
/* ------------------------------------------------------------------ */

/* zt_fill - write byte v over [p, p+len) through the mapping. */
void zt_fill(void *p, size_t len, unsigned char v);

/*
 * zt_find_not - offset of the first byte in [p, p+len) that is not v,
 * or -1 if every byte is v.  Reads the memory (which populates it).
 */
long zt_find_not(const void *p, size_t len, unsigned char v);

/*
 * zt_assert_bytes - assert every byte of [p, p+len) is v; the message
 * names what, the first bad offset and the byte found there.
 */
void zt_assert_bytes(const void *p, size_t len, unsigned char v, const char *what);

/* zt_pfill - write byte v over file range [off, off+len) with pwrite;
 * asserts the writes succeed. */
void zt_pfill(int fd, off_t off, size_t len, unsigned char v);

/*
 * zt_pfind_not - offset (from off) of the first byte of the file range
 * [off, off+len) read with pread that is not v; -1 if all are v; -2 if
 * the file could not be read (short read or error).
 */
long zt_pfind_not(int fd, off_t off, size_t len, unsigned char v);

/* zt_assert_pbytes - assert every byte of the file range is v (pread). */
void zt_assert_pbytes(int fd, off_t off, size_t len, unsigned char v, const char *what);

/* ------------------------------------------------------------------ */
/* Memory freed?                                                        */
/* ------------------------------------------------------------------ */

/*
 * zt_resident_pages - how many base pages of [addr, addr+len) mincore(2)
 * reports resident (addr page aligned).  For anonymous memory that is
 * "has a page table entry"; for shmem and file mappings it is the page
 * cache residency of the backing pages.  Asserts mincore succeeds.
 */
size_t zt_resident_pages(const void *addr, size_t len);

/* zt_st_blocks - fstat(fd).st_blocks (512-byte units); asserts fstat works. */
long long zt_st_blocks(int fd);

/*
 * Per-object huge page measures.  A test proves that ITS hugetlb memory
 * was filled or freed with counts only its own memory can change - never
 * with the system-wide free_hugepages count (zt_hugepages_free), which
 * anything else on the machine moves at the same time.
 *
 *   shared hugetlb (hugetlbfs file, MFD_HUGETLB memfd, MAP_SHARED|
 *     MAP_HUGETLB): the pages live in the file's page cache, so
 *     st_blocks of the file is the proof (ZT_HPAGE_BLOCKS per 2 MiB
 *     page).  A shared page that is only unmapped (the kernel's DONTNEED)
 *     is still counted there.  Without a descriptor (MAP_HUGETLB, or the
 *     program closed it) zt_map_blocks() stats the file through
 *     /proc/self/map_files.
 *   private hugetlb (MAP_PRIVATE of a file or MAP_HUGETLB): the pages are
 *     anonymous copies that never enter the file (its st_blocks stays 0
 *     on 6.18); they exist while this mapping maps them, so
 *     zt_vma_hugetlb_kb() of the VMA is the proof (0 after a zap).
 */
#define ZT_HPAGE_BLOCKS(n) ((long long)(n) * (long long)(ZT_HPAGE_2M / 512))
#define ZT_HPAGE_KB(n) ((long)(n) * (long)(ZT_HPAGE_2M / 1024))

/*
 * zt_vma_bounds - [*start, *end) of the VMA that contains addr, from
 * /proc/self/maps; false if no VMA contains it.
 */
bool zt_vma_bounds(const void *addr, uintptr_t *start, uintptr_t *end);

/*
 * zt_vma_hugetlb_kb - huge page memory (kB) the VMA containing addr maps
 * now: Private_Hugetlb + Shared_Hugetlb from its /proc/self/smaps entry.
 * Both fields count, because the kernel files a page by how many
 * mappings share it, not by MAP_SHARED: a MAP_SHARED page mapped only
 * here shows as Private_Hugetlb.  Only this process's page tables move
 * it.  Reading smaps populates nothing.  Asserts the VMA and the fields
 * are found.
 */
long zt_vma_hugetlb_kb(const void *addr);

/*
 * zt_map_blocks - st_blocks (512-byte units) of the file behind the VMA
 * containing addr: stat() of /proc/self/map_files/START-END follows the
 * link to the open file, including the kernel's internal hugetlbfs file
 * behind MAP_HUGETLB (shared: its page cache pages are counted; private:
 * always 0).  Works after the program closed its descriptor.  Reading
 * map_files needs CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE): zt_need()s
 * it; asserts anything else.
 */
long long zt_map_blocks(const void *addr);

/* ------------------------------------------------------------------ */
/* Huge pages                                                           */
/* ------------------------------------------------------------------ */

/*
 * zt_hugepages_free - free huge pages of size page_size (bytes), from
 * /sys/kernel/mm/hugepages/hugepages-<N>kB/free_hugepages; -1 if the
 * kernel has no pool of that size.  System-wide and moved by anything
 * else on the machine: only for the precondition that enough pages are
 * free (zt_need_hugepages), never to prove a fill or a zap (use
 * zt_st_blocks, zt_map_blocks, zt_vma_hugetlb_kb).
 */
long zt_hugepages_free(size_t page_size);

/*
 * zt_hugetlbfs_mount - find a hugetlbfs mount in /proc/mounts whose page
 * size is page_size (its pagesize= option, or the default huge page size
 * from /proc/meminfo when the option is absent).  Copies the mount point
 * into dir and returns true, or returns false.
 */
bool zt_hugetlbfs_mount(size_t page_size, char *dir, size_t dirlen);

/*
 * zt_need_hugepages - zt_need() at least n free huge pages of page_size.
 */
void zt_need_hugepages(size_t page_size, long n);

/* ------------------------------------------------------------------ */
/* userfaultfd: a missing fault on the next touch                       */
/* ------------------------------------------------------------------ */

/*
 * zt_uffd_open - userfaultfd(O_CLOEXEC) through syscall(SYS_userfaultfd)
 * plus UFFDIO_API asking for features.  Returns the descriptor, or -1
 * with errno set (ENOSYS/EPERM: no userfaultfd; EINVAL: a feature is
 * missing).
 */
int zt_uffd_open(uint64_t features);

/*
 * zt_uffd_register_missing - UFFDIO_REGISTER MODE_MISSING over the range.
 * Returns 0 or -1 with errno (EINVAL: the kernel cannot watch that kind
 * of memory, e.g. SysV shm or guest_memfd).
 */
int zt_uffd_register_missing(int uffd, void *addr, size_t len);

/* zt_uffd_unregister - UFFDIO_UNREGISTER over the range; 0 or -1. */
int zt_uffd_unregister(int uffd, void *addr, size_t len);

/*
 * zt_sigbus_on_read - read one byte at addr under a temporary SIGBUS
 * handler (sigsetjmp/siglongjmp).  Returns true if the read raised
 * SIGBUS (with UFFD_FEATURE_SIGBUS: the page was missing), false if it
 * completed - which populates the page.
 */
bool zt_sigbus_on_read(const void *addr);

/* Features a missing fault on memory of each family needs. */
#define ZT_UFFD_ANON ((uint64_t)1 << 7)                      /* SIGBUS */
#define ZT_UFFD_SHMEM (ZT_UFFD_ANON | ((uint64_t)1 << 5))    /* + MISSING_SHMEM */
#define ZT_UFFD_HUGETLB (ZT_UFFD_ANON | ((uint64_t)1 << 4))  /* + MISSING_HUGETLBFS */

/*
 * zt_assert_missing_fault - prove [addr, addr+len) is not present: open a
 * userfaultfd with features (zt_need: missing userfaultfd skips, or fails
 * in CI), register MODE_MISSING over the range, read the first byte and
 * the byte in the middle (both must raise SIGBUS), unregister.  Run it
 * before reading the range back: the reads do not populate anything when
 * they fault.
 */
void zt_assert_missing_fault(void *addr, size_t len, uint64_t features, const char *what);

/*
 * zt_assert_no_missing_fault - the opposite: the same two reads complete
 * (the memory, or the page cache behind it, is still present).
 */
void zt_assert_no_missing_fault(void *addr, size_t len, uint64_t features, const char *what);

/* ------------------------------------------------------------------ */
/* Backing objects                                                      */
/* ------------------------------------------------------------------ */

/*
 * zt_make_memfd - memfd_create("zt", MFD_CLOEXEC | flags) sized to len.
 * Asserts; for MFD_HUGETLB the caller checks huge pages first.
 */
int zt_make_memfd(size_t len, unsigned int flags);

/*
 * zt_make_file_in - create a new file in dir, sized to len (ftruncate),
 * and return an O_RDWR descriptor.  The path is copied to path (if not
 * NULL) and removed when the test process exits (atexit), so a failed
 * assertion leaves nothing behind; the file stays linked while the test
 * runs, like a real memory-backend file.
 */
int zt_make_file_in(const char *dir, size_t len, char *path, size_t pathlen);

/*
 * zt_make_ext4_file - a file on an ext4 filesystem (ZT_EXT4_DIR if set,
 * else /var/tmp, /tmp, the current directory: the first that is ext4),
 * len bytes, every byte written with v by pwrite and fsync'ed so its
 * blocks are allocated.  zt_need() an ext4 directory.
 */
int zt_make_ext4_file(size_t len, unsigned char v, char *path, size_t pathlen);

/*
 * zt_make_hugetlbfs_file - a file of len bytes on the hugetlbfs mount of
 * page_size; zt_need() the mount.
 */
int zt_make_hugetlbfs_file(size_t page_size, size_t len, char *path, size_t pathlen);

/*
 * zt_sysv_attach - shmget(IPC_PRIVATE, len) + shmat + IPC_RMID (the
 * segment lives until it is detached).  Asserts; returns the address.
 */
void *zt_sysv_attach(size_t len);

/*
 * zt_guest_memfd - KVM guest_memfd of len bytes that can be mmap'ed:
 * open /dev/kvm, KVM_CREATE_VM (default type), ask KVM_CAP_GUEST_MEMFD_FLAGS
 * which flags this kernel accepts, then KVM_CREATE_GUEST_MEMFD with
 * GUEST_MEMFD_FLAG_MMAP (| GUEST_MEMFD_FLAG_INIT_SHARED when offered, so
 * the memory can be faulted in by the host).  Returns the descriptor and
 * the VM descriptor in *vm_fd (keep it open while the memory is used), or
 * -1 with a reason in why.
 */
int zt_guest_memfd(size_t len, int *vm_fd, char *why, size_t whylen);

/* ------------------------------------------------------------------ */
/* Mappings                                                             */
/* ------------------------------------------------------------------ */

/*
 * zt_map - mmap(NULL, len, PROT_READ|PROT_WRITE, flags, fd, off) through
 * libc (so the shim sees it); asserts it worked.
 */
void *zt_map(size_t len, int flags, int fd, off_t off);

/*
 * zt_reserve_aligned - a PROT_NONE private anonymous area of len bytes
 * whose start is a multiple of align; the slack around it is unmapped.
 * Tests place mappings into it with MAP_FIXED to control adjacency.
 */
void *zt_reserve_aligned(size_t len, size_t align);

/* ------------------------------------------------------------------ */
/* Shim log                                                             */
/* ------------------------------------------------------------------ */

/*
 * zt_file_contains - true if the file at path contains word (the shim's
 * log format is not fixed: callers only look for stable words such as
 * "REMOVE" or "PUNCH").
 */
bool zt_file_contains(const char *path, const char *word);

/* ------------------------------------------------------------------ */
/* Kernel the shim behaves as                                           */
/* ------------------------------------------------------------------ */

/* ZT_KVER(maj, min) - a kernel version as one comparable number. */
#define ZT_KVER(maj, min) ((unsigned)(maj) << 16 | (unsigned)(min))

/*
 * zt_shim_kernel - the kernel version the shim behaves as: ZAPSHIM_KERNEL
 * ("X.Y") from the environment when it is set and valid, else the running
 * kernel's (uname).  As ZT_KVER.
 */
unsigned zt_shim_kernel(void);

/* zt_kernel_emulated - true if ZAPSHIM_KERNEL names a version (the shim
 * behaves as an older kernel than the one running). */
bool zt_kernel_emulated(void);

/* ------------------------------------------------------------------ */
/* Behind the shim's back                                               */
/* ------------------------------------------------------------------ */

/*
 * zt_syscall - a system call made with the CPU's syscall instruction (the
 * arguments not given are passed as 0), past libc
 * and past the preload, which interposes glibc's syscall() itself: what
 * the kernel alone does.  Same contract as syscall(2): the result, or -1
 * with errno set.  x86_64.
 */
long zt_syscall6(long nr, long a, long b, long c, long d, long e, long f);
#define ZT_SYSCALL_PICK(nr, a, b, c, d, e, f, ...)                                        \
  zt_syscall6((long)(nr), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))
#define zt_syscall(...) ZT_SYSCALL_PICK(__VA_ARGS__, 0, 0, 0, 0, 0, 0, 0)

/*
 * zt_raw_mmap / zt_raw_munmap / zt_raw_madvise - the system calls made
 * with zt_syscall, which the shim cannot see: changes it must not see,
 * and the kernel's own answer to a call.  mmap returns the address or
 * MAP_FAILED; the others 0 or -1; errno is set on failure.
 */
void *zt_raw_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int zt_raw_munmap(void *addr, size_t len);
int zt_raw_madvise(void *addr, size_t len, int advice);

/* ------------------------------------------------------------------ */
/* Running a step in a child process                                    */
/* ------------------------------------------------------------------ */

/* What a step run in a child did. */
struct zt_child {
  bool exited;  /* exited normally, having reported ret/err */
  int signal;   /* the signal that killed it, or 0 */
  int ret, err; /* the step's return value and errno */
};

/*
 * zt_in_child - fork; the child runs step(arg) under alarm(timeout_s),
 * reports its return value and the errno it left through a pipe and
 * leaves with _exit (no atexit handler, no Criterion teardown).  The
 * parent waits and fills *out: a crash or a deadlock (killed by the
 * alarm's SIGALRM) shows as exited false, signal set.  The child shares
 * the parent's shared mappings and files: what it does to them is seen
 * here; its private memory is its own.  Asserts fork and wait work.
 */
void zt_in_child(int (*step)(void *arg), void *arg, unsigned timeout_s, struct zt_child *out);

/* zt_child_desc - "exited" or "killed by signal N (name)" for messages. */
const char *zt_child_desc(const struct zt_child *c, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Filesystems                                                          */
/* ------------------------------------------------------------------ */

/* zt_fs_magic - fstatfs(fd).f_type; asserts fstatfs works. */
long zt_fs_magic(int fd);

/*
 * zt_make_tmpfs_file - a file of len bytes in a tmpfs directory
 * (ZT_TMPFS_DIR if set, else /dev/shm, /tmp, /run: the first that is
 * tmpfs and writable), O_RDWR, removed at exit like zt_make_file_in;
 * zt_need() the directory.
 */
int zt_make_tmpfs_file(size_t len, char *path, size_t pathlen);

#endif
