/*
 * mountinfo.h - which filesystem a device is: the mounted filesystem with
 * a device number, from this process's /proc/self/mountinfo (through the
 * /proc kept from load) and statfs of its mount point.  Device numbers are
 * global, so the answer also holds for a VMA of another process; a device
 * this process has no mount of is 0 (the caller then asks the file itself,
 * through map_files).  No malloc, no stdio.  Uses procfs and lines.
 */
#ifndef ZS_MOUNTINFO_H
#define ZS_MOUNTINFO_H

#include <stdint.h>

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

#endif
