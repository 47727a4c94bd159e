/*
 * classify.h - decide the memory kind of a mapping.
 *
 * Three sources: the mmap flags and descriptor (at mmap time: fstat and
 * fstatfs), SysV attach, and the kernel's own view of a VMA (for ranges the
 * shim did not see mapped, and to confirm a kind before any call more
 * destructive than the program's own) - of this process or another.
 * Uses map, vma (the kernel's view, /proc), mountinfo, state.
 */
#ifndef ZS_CLASSIFY_H
#define ZS_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "map.h"
#include "vma.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif
#ifndef ANON_INODE_FS_MAGIC
#define ANON_INODE_FS_MAGIC 0x09041934
#endif

/* The name KVM gives guest_memfd inodes, as /proc shows it. */
#define ZS_GMEM_NAME "anon_inode:[kvm-gmem]"

/*
 * zs_classify_mmap - fill m->kind, flags, page_shift, dev, ino for a new
 * mapping made with these mmap flags and descriptor (ignored with
 * MAP_ANONYMOUS).  Start, end, offset, prot and fdslot are the caller's.
 * Returns 0, or an errno from fstat/fstatfs (m->kind is then
 * ZAPSHIM_KIND_UNKNOWN and the range will be classified from the kernel).
 */
int zs_classify_mmap(int mmap_flags, int fd, struct zs_map *m);

/*
 * zs_classify_mmap_plain - true if a mapping made with these mmap flags is
 * plain anonymous private memory (registry.h's zs_map_plain of what
 * zs_classify_mmap fills in, with no descriptor kept): MAP_ANONYMOUS,
 * not shared, without MAP_HUGETLB, on 4 KiB base pages.  No call, no
 * state but the page size: for the mmap hook's fast path.
 */
bool zs_classify_mmap_plain(int mmap_flags);

/*
 * zs_classify_vma_of - the kind of a VMA of process pid (0: this process)
 * from the kernel's view alone: shared flag, page size, device (the shmem
 * device, the internal hugetlb device, mountinfo), and where mountinfo has
 * no checked word the file itself (/proc/PID/map_files + fstatfs,
 * identity-checked; needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE, and
 * for another process the right to read it); names only add SYSV/ANON
 * flags on the kernel's own mounts.  Inode 0 is not "no file" (SysV shmid
 * 0).  Fills m->start, end, offset, dev, ino, kind, flags, page_shift,
 * prot; fdslot -1.  Never guesses: what it cannot confirm is
 * ZAPSHIM_KIND_UNKNOWN.  Device numbers are global, so the shmem and
 * hugetlb devices and mountinfo learned in this process hold for another.
 */
void zs_classify_vma_of(pid_t pid, const struct zs_vma *v, struct zs_map *m);

/* zs_classify_vma - zs_classify_vma_of for this process (pid 0). */
void zs_classify_vma(const struct zs_vma *v, struct zs_map *m);

/*
 * zs_classify_learn_shm_dev - note the device of the kernel's internal
 * shmem mount (memfd, SysV, shared anonymous) by creating a memfd once.
 * Called at init. Returns 0 or errno.
 */
int zs_classify_learn_shm_dev(void);

/*
 * zs_default_huge_size - the default huge page size in bytes, read from
 * /proc/meminfo on first use (not at load: process start stays cheap);
 * 0 if the kernel has no huge pages.
 */
size_t zs_default_huge_size(void);

/*
 * zs_shm_dev - the device of the kernel's internal shmem mount (memfd,
 * SysV, shared anonymous memory), learned on first use; 0 if unknown.
 */
uint32_t zs_shm_dev(void);

#endif
