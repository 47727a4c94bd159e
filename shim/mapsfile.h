/*
 * mapsfile.h - one VMA as the kernel reports it, and the two ways of asking
 * an open descriptor of a /proc/PID/maps file for it: the PROCMAP_QUERY
 * ioctl (Linux 6.11+; it also gives the page size) and parsing the text.
 * Which descriptor, for which process, and when to use which way is vma.h's
 * business; this knows only the file.  No malloc, no stdio, no shared state:
 * async-signal-safe, a few KiB of stack.  Uses lines.
 */
#ifndef ZS_MAPSFILE_H
#define ZS_MAPSFILE_H

#include <stdint.h>

#define ZS_VMA_READ   0x01
#define ZS_VMA_WRITE  0x02
#define ZS_VMA_EXEC   0x04
#define ZS_VMA_SHARED 0x08

#define ZS_VMA_NAME_MAX 256

/* One VMA as the kernel reports it. */
struct zs_vma {
  uintptr_t start, end;
  uint64_t offset;          /* file offset of start */
  uint64_t ino;             /* 0 for anonymous memory */
  uint32_t dev_major, dev_minor;
  uint64_t page_size;       /* kernel page size; 0 if the source cannot tell */
  uint32_t flags;           /* ZS_VMA_* */
  char name[ZS_VMA_NAME_MAX]; /* "" if none; truncated if longer */
};

/*
 * zs_mapsfile_query - the VMA covering addr or else the next one above it,
 * by one PROCMAP_QUERY on the maps descriptor fd (again with a larger
 * buffer for a name longer than out->name; its head is kept).  Returns 0
 * with *out filled, or the ioctl's errno: ENOENT (nothing at or above
 * addr), ENOTTY/EINVAL (no PROCMAP_QUERY on this kernel), ESRCH (the
 * process's memory is gone), EBADF...
 */
int zs_mapsfile_query(int fd, uintptr_t addr, struct zs_vma *out);

/*
 * zs_mapsfile_query_bare - zs_mapsfile_query without the name (out->name
 * is ""): the kernel skips building the path, about a third of the
 * query's cost.  For callers that know the name cannot change their
 * answer.  Returns what zs_mapsfile_query returns.
 */
int zs_mapsfile_query_bare(int fd, uintptr_t addr, struct zs_vma *out);

/*
 * zs_mapsfile_parse - the same answer from the text of the maps
 * descriptor fd, read from its start (pread: fd may be kept and read
 * again; its offset is not moved).  page_size is 0 (maps does not say).
 * [vsyscall] is skipped: it is not a VMA of the process (PROCMAP_QUERY
 * does not see it either).  Returns 0; ENOENT (the whole file was read and
 * it had lines); ESRCH (an empty file: the process has no memory any more -
 * it exited, or it ran execve since fd was opened); the errno of read
 * (never ENOENT); or EIO for a line that does not parse.
 */
int zs_mapsfile_parse(int fd, uintptr_t addr, struct zs_vma *out);

#endif
