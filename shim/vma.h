/*
 * vma.h - what the kernel says is mapped at an address.
 *
 * PROCMAP_QUERY on /proc/self/maps where the kernel has it (6.11+, and not
 * hidden by ZAPSHIM_KERNEL), parsing /proc/self/maps otherwise.  Files
 * under /proc are opened relative to a descriptor of /proc kept from load
 * time (zs_vma_init), so a later chroot does not lose them.  No malloc,
 * no stdio: buffers live on the caller's stack.
 */
#ifndef ZS_VMA_H
#define ZS_VMA_H

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * ZS_VMA_UNAVAILABLE - zs_vma_query's answer when the kernel cannot be
 * asked: neither the /proc kept from load time nor the path /proc reaches
 * this process's maps (a chroot without /proc entered before the shim
 * loaded, a /proc of another PID namespace, no descriptor left).  Nothing
 * is known then: not "nothing mapped" (that is ENOENT).
 */
#define ZS_VMA_UNAVAILABLE ENOSYS

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
 * zs_vma_query - the VMA covering addr, or else the next one above it.
 * Returns 0 and fills *out; ENOENT only when the kernel answered that
 * nothing is mapped at or above addr; ZS_VMA_UNAVAILABLE when the kernel
 * could not be asked; another errno when asking failed midway (EIO: a line
 * that does not parse, a read error).  Anything but 0 and ENOENT means
 * nothing is known.
 */
int zs_vma_query(uintptr_t addr, struct zs_vma *out);

/*
 * struct zs_maps - a reader of one process's maps: the kernel's view of
 * any process, for the shim (its own), `zapshim --explain PID` and a
 * supervisor of traced processes.  Holds a descriptor of /proc/PID/maps
 * opened through the /proc kept from load (so a later chroot does not
 * matter), and whether PROCMAP_QUERY is used on it (else the file is
 * parsed from its start at each query, with pread).  Fields are private.
 * One reader is for one thread at a time; no malloc, no stdio, no locks,
 * no signal-unsafe call.
 *
 * The descriptor names the process's memory as it was at open: after the
 * process runs execve or exits, queries answer ESRCH (open a new reader).
 * The right to read another process (PTRACE_MODE_READ: same user and
 * dumpable, or CAP_SYS_PTRACE, or its tracer) is checked once, at open.
 */
struct zs_maps {
  pid_t pid; /* 0: this process ("self") */
  int fd;    /* /proc/PID/maps, -1 when closed */
  int pmq;   /* 1: PROCMAP_QUERY is used on fd; 0: the file is parsed */
};

/*
 * zs_maps_open - open the maps of process pid (0: this process) into *r.
 * Returns 0; ESRCH (no such process); EACCES (not allowed to read it);
 * EMFILE/ENFILE/ENOMEM (no descriptor); ZS_VMA_UNAVAILABLE (no /proc
 * reaches it).  On failure r->fd is -1 and zs_maps_close is harmless.
 */
int zs_maps_open(struct zs_maps *r, pid_t pid);

/*
 * zs_maps_query - the VMA of r's process covering addr, or else the next
 * one above it: the same contract as zs_vma_query.  Returns 0 with *out
 * filled; ENOENT only when the kernel answered that nothing is mapped at
 * or above addr; ESRCH when the process's memory is gone (exited, or
 * replaced by execve since zs_maps_open); EBADF for a closed reader;
 * another errno when asking failed (EIO: a line that does not parse).
 * Anything but 0 and ENOENT means nothing is known.  page_size is 0 when
 * the file is parsed (maps does not say).
 */
int zs_maps_query(struct zs_maps *r, uintptr_t addr, struct zs_vma *out);

/* zs_maps_uses_query - 1 if r asks with PROCMAP_QUERY, 0 if it parses the
 * file (decided at open, turned off on the kernel's first refusal). */
static inline int zs_maps_uses_query(const struct zs_maps *r) {
  return r->pmq;
}

/* zs_maps_close - close r's descriptor; idempotent. */
void zs_maps_close(struct zs_maps *r);

/*
 * zs_vma_init - keep a descriptor of the /proc directory (O_PATH, at a
 * high number, close-on-exec, identity recorded) for every later open of
 * a file under /proc.  Called once at load: one open, fstat, fstatfs (it
 * must be procfs), one dup.  Returns 0 or errno (then the path is used).
 */
int zs_vma_init(void);

/* zs_vma_proc_fd - the kept /proc descriptor while it still is ours
 * (number and device/inode), else -1. */
int zs_vma_proc_fd(void);

/* zs_vma_proc_owns - 1 if fd is the kept /proc descriptor: the number
 * matches and fstat still shows that directory; 0 otherwise (a number the
 * program reused is the program's). */
int zs_vma_proc_owns(int fd);

/* zs_vma_proc_relocate - the program wants number fd: if it is the kept
 * /proc descriptor, move it to another high number.  Returns 1 if moved,
 * 0 if fd is not it, -errno if no number was free (then it is dropped and
 * the path is used). */
int zs_vma_proc_relocate(int fd);

/*
 * zs_vma_proc_open - open "/proc/" + rel (e.g. "self/maps"): relative to
 * the kept /proc descriptor, else by path.  flags as for open(2);
 * O_CLOEXEC is added.  Returns the descriptor or -1 with errno.
 */
int zs_vma_proc_open(const char *rel, int flags);

/* zs_vma_proc_readlink - readlink of "/proc/" + rel, in the same order as
 * zs_vma_proc_open.  Returns the length (not NUL-terminated) or -1. */
ssize_t zs_vma_proc_readlink(const char *rel, char *buf, size_t cap);

/*
 * zs_vma_fs_type - the filesystem magic (statfs f_type) of the mounted
 * filesystem with device major:minor, from /proc/self/mountinfo, and its
 * block size (the huge page size on hugetlbfs) in *bsize if not NULL.
 * Returns the magic, or 0 if no mounted filesystem has that device
 * (internal mounts: shmem of memfd/SysV/shared anon, hugetlb of
 * MAP_HUGETLB and MFD_HUGETLB, anon inodes).
 */
unsigned long zs_vma_fs_type(uint32_t dev_major, uint32_t dev_minor, uint64_t *bsize);

/*
 * zs_vma_fs_type results that are not statfs(2) magics:
 * ZS_FS_DEVTMPFS - devtmpfs; statfs reports it as TMPFS_MAGIC, but what is
 *   mapped from it are device nodes, not shmem.  (0x1373 was devfs' magic.)
 * ZS_FS_UNVERIFIED - the device is mounted but statfs of its mount point
 *   could not confirm the type (overmounted, no access, btrfs subvolume
 *   devices) and the type name is not one zapshim knows: some filesystem,
 *   to be treated as persistent.
 */
#define ZS_FS_DEVTMPFS 0x1373UL
#define ZS_FS_UNVERIFIED 0x7a737566UL

/* zs_vma_release_fd - if fd is the cached /proc/self/maps descriptor,
 * forget it without closing it (the program is about to close or replace
 * that number); the next query opens a new one. */
void zs_vma_release_fd(int fd);

/* zs_vma_release_range - zs_vma_release_fd for any number in [first, last]. */
void zs_vma_release_range(unsigned first, unsigned last);

#define ZS_MAP_FILES_PATH_MAX 64

/*
 * zs_vma_map_files_path - "/proc/self/map_files/START-END" for the VMA
 * [start, end), as the kernel names it (lower-case hex), into path (at
 * least ZS_MAP_FILES_PATH_MAX bytes).  Opening it reaches the file behind
 * a mapping even when no descriptor of it is left (needs CAP_SYS_ADMIN or
 * CAP_CHECKPOINT_RESTORE).  The path fails after a chroot: prefer
 * zs_vma_open_map_file.
 */
void zs_vma_map_files_path(uintptr_t start, uintptr_t end, char *path);

/*
 * zs_vma_open_map_file - open the file behind the VMA [start, end) through
 * map_files, relative to the kept /proc (works after a chroot), with these
 * open flags (O_CLOEXEC added).  The caller confirms it is the file it
 * expects (fstat dev/ino).  Returns the descriptor or -1 with errno.
 */
int zs_vma_open_map_file(uintptr_t start, uintptr_t end, int flags);

/* zs_vma_forget_fd - drop the cached /proc/self/maps descriptor (fork child). */
void zs_vma_forget_fd(void);

#endif
