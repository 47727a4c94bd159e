/*
 * procfs.h - the /proc directory kept from load, and opening files under
 * it: this process's ("self/...") or another's ("PID/...").
 *
 * Files under /proc are opened relative to a descriptor of /proc taken at
 * load (zs_vma_init), so a later chroot (a VMM jailer) or a /proc of
 * another PID namespace mounted over it does not cut the shim off from the
 * kernel's word; the plain path /proc is the fallback.  No malloc, no
 * stdio, no locks: async-signal-safe.  Uses sys (descriptor numbers).
 *
 * The names that begin with zs_vma_ are those they had when this was part
 * of vma.c; the modules above use them.
 */
#ifndef ZS_PROCFS_H
#define ZS_PROCFS_H

#include <stdint.h>
#include <sys/types.h>

/*
 * zs_vma_init - keep a descriptor of the /proc directory (O_PATH, at a
 * high number, close-on-exec, identity recorded) for every later open of
 * a file under /proc.  Called once at load: one open, fstat, one dup.
 * That it is procfs is checked (fstatfs) on first use, before anything is
 * opened relative to it; a stand-in directory is then dropped and the path
 * used.  Returns 0 or errno (then the path is used).
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

/* zs_proc_close - close a descriptor opened here (raw syscall) without
 * disturbing errno. */
void zs_proc_close(int fd);

/*
 * zs_proc_open_of - open the file leaf (e.g. "maps", "status") of process
 * pid under /proc ("PID/leaf"; pid 0: "self/leaf"), in the same order as
 * zs_vma_proc_open.  leaf at most 32 bytes.  Returns the descriptor or -1
 * with errno (ENOENT: no such process, or no /proc: see zs_proc_reachable).
 */
int zs_proc_open_of(pid_t pid, const char *leaf, int flags);

/* zs_proc_reachable - 1 if files under /proc can be opened at all (the
 * kept /proc descriptor is ours, or the path /proc is procfs), else 0.
 * Tells "no such process" from "no /proc here" after an ENOENT. */
int zs_proc_reachable(void);

#define ZS_MAP_FILES_PATH_MAX 64

/*
 * zs_vma_open_map_file - open the file behind the VMA [start, end) through
 * map_files, relative to the kept /proc (works after a chroot), with these
 * open flags (O_CLOEXEC added).  The caller confirms it is the file it
 * expects (fstat dev/ino).  Returns the descriptor or -1 with errno.
 */
int zs_vma_open_map_file(uintptr_t start, uintptr_t end, int flags);


/*
 * zs_proc_open_map_file_of - zs_vma_open_map_file for the VMA [start, end)
 * of process pid (0: this process): "PID/map_files/START-END" under the
 * kept /proc.  Opening another process's map_files needs CAP_SYS_ADMIN (or
 * CAP_CHECKPOINT_RESTORE) and the right to read it (PTRACE_MODE_READ).
 * Returns the descriptor or -1 with errno; the caller confirms the file.
 */
int zs_proc_open_map_file_of(pid_t pid, uintptr_t start, uintptr_t end, int flags);

#endif
