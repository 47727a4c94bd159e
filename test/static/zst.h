/*
 * zst.h - a tiny self-contained test harness for the static programs of
 * test/static (issue 10): no Criterion, no libzapshim, plain C that builds
 * with `musl-gcc -static`, `gcc -static` and dynamically.
 *
 * A program runs cases; each case records checks and ends as passed,
 * failed or skipped; the last line printed is "N passed, M failed"
 * (", K skipped" when some were) and zst_summary() gives the exit status
 * (0 = all passed).  Every measure talks to the kernel directly (mincore,
 * fstat, /proc/self/smaps, userfaultfd), so a case proves what happened to
 * the memory, not what a shim or a supervisor believes.
 *
 * Resources a case cannot run without (huge pages, hugetlbfs, ext4,
 * userfaultfd) go through zst_need(): with CI=true their absence fails the
 * case, elsewhere it skips it with the printed reason.
 */
#ifndef ZST_H
#define ZST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ZST_KIB ((size_t)1024)
#define ZST_MIB ((size_t)1024 * 1024)
#define ZST_HPAGE ((size_t)2 * ZST_MIB)
#define ZST_PAGE ((size_t)4096)

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 4U
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1U
#endif
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21U << 26)
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif
#ifndef MADV_REMOVE
#define MADV_REMOVE 9
#endif

/* ---- cases and the summary ---- */

/* zst_begin - start a case named name (printed with its result). */
void zst_begin(const char *name);

/* zst_check - record one check of the current case: if cond is false the
 * case fails and the formatted reason is printed.  Returns cond. */
bool zst_check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* zst_note - print an informational line for the current case. */
void zst_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* zst_skip - mark the current case skipped, with a reason (ignored if it
 * already failed). */
void zst_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* zst_end - close the current case: prints PASS, FAIL or SKIP with its name
 * and counts it.  Returns true if it did not fail. */
bool zst_end(void);

/* zst_failed_now - true if the current case has failed a check so far. */
bool zst_failed_now(void);

/* zst_summary - print "N passed, M failed[, K skipped]" as the last line;
 * returns the exit status: 0 if nothing failed, 1 otherwise. */
int zst_summary(void);

/* zst_in_ci - true when CI=true in the environment. */
bool zst_in_ci(void);

/* zst_need - a resource the case needs: returns have.  When it is missing,
 * the case fails under CI=true and is skipped (reason printed) elsewhere;
 * either way the caller stops the case. */
bool zst_need(bool have, const char *what);

/* ---- madvise ---- */

/* zst_raw - when true, zst_madvise() calls syscall(SYS_madvise) directly
 * (the raw-syscall caller) instead of libc's madvise(). */
extern bool zst_raw;

/* zst_madvise - madvise through libc or raw per zst_raw; 0 or -1/errno. */
int zst_madvise(void *p, size_t len, int advice);

/* zst_advice_name - "MADV_REMOVE" or "MADV_DONTNEED". */
const char *zst_advice_name(int advice);

/* ---- patterns ---- */

/* zst_fill - write byte v over [p, p+len). */
void zst_fill(void *p, size_t len, unsigned char v);

/* zst_find_not - offset of the first byte of [p, p+len) that is not v, or
 * -1.  Reads (populates) the memory. */
long zst_find_not(const void *p, size_t len, unsigned char v);

/* zst_pfill - pwrite byte v over the file range; true if all written. */
bool zst_pfill(int fd, off_t off, size_t len, unsigned char v);

/* zst_pfind_not - pread the file range: offset of the first byte that is
 * not v, -1 if none, -2 if it could not be read. */
long zst_pfind_not(int fd, off_t off, size_t len, unsigned char v);

/* ---- is it freed? ---- */

/* zst_resident - base pages of [p, p+len) mincore() says resident, or -1. */
long zst_resident(const void *p, size_t len);

/* zst_blocks - fstat(fd).st_blocks (512-byte units), or -1. */
long long zst_blocks(int fd);

/* zst_map_blocks - st_blocks of the file behind the mapping at p, through
 * /proc/self/map_files (anon shared, SysV, MAP_HUGETLB); -1 if it cannot be
 * stat'ed (needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE). */
long long zst_map_blocks(const void *p);

/* zst_smaps_kb - the sum of the named fields ("Rss", "Anonymous",
 * "Private_Hugetlb"...; up to 2 names, the second may be NULL) in the
 * /proc/self/smaps entry of the mapping that contains p; -1 if not found. */
long zst_smaps_kb(const void *p, const char *field, const char *field2);

/* zst_hole - true if the file range [off, off+len) of fd holds no data
 * (lseek SEEK_DATA from off finds none before off+len). */
bool zst_hole(int fd, off_t off, size_t len);

/* ---- userfaultfd ---- */

#define ZST_UFFD_SIGBUS ((uint64_t)1 << 7)
#define ZST_UFFD_EVENT_REMOVE ((uint64_t)1 << 3)
#define ZST_UFFD_MISSING_HUGETLBFS ((uint64_t)1 << 4)
#define ZST_UFFD_MISSING_SHMEM ((uint64_t)1 << 5)
#define ZST_UFFD_ANON ZST_UFFD_SIGBUS
#define ZST_UFFD_SHMEM (ZST_UFFD_SIGBUS | ZST_UFFD_MISSING_SHMEM)
#define ZST_UFFD_HUGETLB (ZST_UFFD_SIGBUS | ZST_UFFD_MISSING_HUGETLBFS)

/* zst_uffd_open - userfaultfd(O_CLOEXEC) + UFFDIO_API with features;
 * the descriptor, or -1 with errno. */
int zst_uffd_open(uint64_t features);

/* zst_uffd_register - UFFDIO_REGISTER MODE_MISSING over the range; 0 or
 * -1 with errno (EINVAL: the kernel cannot watch that memory). */
int zst_uffd_register(int uffd, void *p, size_t len);

/* zst_missing_fault - is [p, p+len) missing?  Registers a SIGBUS-mode
 * userfaultfd over it and reads the first and the middle byte.  Returns 2
 * if both reads raised SIGBUS (missing), 1 if one did, 0 if none (present),
 * -1 if userfaultfd could not be opened or registered (errno kept). */
int zst_missing_fault(void *p, size_t len, uint64_t features);

/* ---- resources ---- */

/* zst_hugepages_free - free 2 MiB huge pages, or -1 without a pool. */
long zst_hugepages_free(void);

/* zst_hugetlbfs_dir - a hugetlbfs mount of 2 MiB pages into dir; false if
 * none. */
bool zst_hugetlbfs_dir(char *dir, size_t len);

/* zst_ext4_dir - a directory on ext4 (ZT_EXT4_DIR, /var/tmp, /tmp, "."),
 * or NULL. */
const char *zst_ext4_dir(void);

/* zst_memfd - memfd_create(name, flags) through syscall(2), sized to len;
 * -1 on failure. */
int zst_memfd(const char *name, unsigned flags, size_t len);

/* zst_now_ns - CLOCK_MONOTONIC in nanoseconds. */
uint64_t zst_now_ns(void);

#endif
