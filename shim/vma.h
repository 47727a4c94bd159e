/*
 * vma.h - what the kernel says is mapped at an address, in this process
 * (zs_vma_query: a cached descriptor, fork-safe) or in any process
 * (struct zs_maps).  PROCMAP_QUERY on /proc/PID/maps where the kernel has
 * it (6.11+, and not hidden by ZAPSHIM_KERNEL), parsing the file otherwise
 * (mapsfile.h).  Files under /proc are opened relative to a descriptor of
 * /proc kept from load time (procfs.h), so a later chroot does not lose
 * them.  No malloc, no stdio: buffers live on the caller's stack.
 * Uses procfs, mapsfile, state (caps), sys (descriptor numbers).
 */
#ifndef ZS_VMA_H
#define ZS_VMA_H

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>

#include "mapsfile.h" /* struct zs_vma, ZS_VMA_* */
#include "procfs.h"   /* the /proc kept from load: modules above reach it through vma.h */

/*
 * ZS_VMA_UNAVAILABLE - zs_vma_query's answer when the kernel cannot be
 * asked: neither the /proc kept from load time nor the path /proc reaches
 * this process's maps (a chroot without /proc entered before the shim
 * loaded, a /proc of another PID namespace, no descriptor left).  Nothing
 * is known then: not "nothing mapped" (that is ENOENT).
 */
#define ZS_VMA_UNAVAILABLE ENOSYS

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
 * zs_vma_query_bare - zs_vma_query where the VMA's name is not wanted:
 * with PROCMAP_QUERY out->name is "" (the kernel builds no path); where
 * maps is parsed the name comes along anyway.  Same returns.
 */
int zs_vma_query_bare(uintptr_t addr, struct zs_vma *out);

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

/* zs_vma_release_fd - if fd is the cached /proc/self/maps descriptor,
 * forget it without closing it (the program is about to close or replace
 * that number); the next query opens a new one. */
void zs_vma_release_fd(int fd);

/* zs_vma_release_range - zs_vma_release_fd for any number in [first, last]. */
void zs_vma_release_range(unsigned first, unsigned last);

/* zs_vma_forget_fd - drop the cached /proc/self/maps descriptor (fork child). */
void zs_vma_forget_fd(void);

#endif
