/*
 * fdkeep.h - descriptors the shim keeps for later zaps.
 *
 * Only mappings whose zap may need fallocate(PUNCH_HOLE) get one: private
 * shmem, and private hugetlb where the kernel lacks hugetlb MADV_DONTNEED.
 * One descriptor per file (st_dev, st_ino), reference counted by the
 * registry entries that use it, O_CLOEXEC, at a high number.  The table has
 * its own small lock; it is never taken while calling out of the shim.
 */
#ifndef ZS_FDKEEP_H
#define ZS_FDKEEP_H

#include <stdint.h>

/*
 * zs_fdkeep_get - the slot keeping a descriptor for the file behind fd,
 * duplicating fd at a high number if no slot has that file yet; takes one
 * reference.  Returns the slot (>= 0) or -errno (EMFILE, ENOSPC: the table
 * is full).  Never fails the program's own call: callers just go without.
 */
int zs_fdkeep_get(int fd, uint32_t dev, uint64_t ino);

/*
 * zs_fdkeep_open_path - like zs_fdkeep_get, for a path the shim opens
 * itself (O_RDWR|O_CLOEXEC), e.g. /proc/self/map_files/A-B for memory the
 * program holds no descriptor of.  The file must have dev and ino, or
 * nothing is kept.  Returns the slot or -errno.
 */
int zs_fdkeep_open_path(const char *path, uint32_t dev, uint64_t ino);

/*
 * zs_fdkeep_open_map_file - like zs_fdkeep_open_path for the file behind
 * the VMA [start, end), opened through /proc/self/map_files relative to
 * the /proc kept at load (so it works after a chroot).  Returns the slot
 * or -errno (ESTALE if the mapping is another file now).
 */
int zs_fdkeep_open_map_file(uintptr_t start, uintptr_t end, uint32_t dev, uint64_t ino);

/* zs_fdkeep_ref / zs_fdkeep_unref - one more / one fewer user of a slot;
 * the descriptor is closed when the last user goes. slot < 0 is ignored. */
void zs_fdkeep_ref(int slot);
void zs_fdkeep_unref(int slot);

/*
 * zs_fdkeep_fd - the descriptor of a slot, confirmed by fstat to still
 * name the file (dev, ino) it was kept for.  Returns the descriptor, or -1
 * if the slot is empty or the number now names something else.
 */
int zs_fdkeep_fd(int slot, uint32_t dev, uint64_t ino);

/* zs_fdkeep_owns - 1 if fd is one of the shim's kept descriptors: a slot
 * has that number AND fstat shows it still names the slot's file (dev,
 * ino).  A number the program took over is not the shim's: 0. */
int zs_fdkeep_owns(int fd);

/*
 * zs_fdkeep_reset_after_fork - reinitialise the table's lock in a fork
 * child (the slots stay: the child inherited the descriptors).  Called by
 * zs_registry_reset_after_fork, so a fork handler need not call it itself.
 */
void zs_fdkeep_reset_after_fork(void);

/*
 * zs_fdkeep_relocate - move a kept descriptor off number fd (the program
 * dup2s onto it), only if the number still names the kept file; a number
 * the program took over is never duplicated into the table. Returns 1 if
 * moved, 0 if fd is not kept, -errno if no other number was free (the slot
 * is then left without a descriptor).
 */
int zs_fdkeep_relocate(int fd);

/* zs_fdkeep_list - up to cap kept descriptor numbers into out, only those
 * that still name their file (number and identity); returns how many. */
int zs_fdkeep_list(int *out, int cap);

#endif
