/*
 * zapshim.h - public interface of libzapshim.
 *
 * Programs normally get zapshim without any change, through
 * LD_PRELOAD=libzapshim.so: a plain madvise(MADV_DONTNEED) or
 * madvise(MADV_REMOVE) is then turned into the call that really frees the
 * memory kind behind the range.  Programs that prefer to link the library
 * can call the functions below directly; they apply the same policy.
 */
#ifndef ZAPSHIM_H
#define ZAPSHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZAPSHIM_VERSION_MAJOR 0
#define ZAPSHIM_VERSION_MINOR 1
#define ZAPSHIM_VERSION_PATCH 0
#define ZAPSHIM_VERSION_STRING "0.1.0"
/* One number that grows with every release: 0x00MMmmpp. */
#define ZAPSHIM_VERSION \
  ((ZAPSHIM_VERSION_MAJOR << 16) | (ZAPSHIM_VERSION_MINOR << 8) | ZAPSHIM_VERSION_PATCH)

/* The memory kinds zapshim tells apart; each needs its own zap call. */
enum zapshim_kind {
  ZAPSHIM_KIND_UNKNOWN = 0,     /* not mapped, or the kernel could not say */
  ZAPSHIM_KIND_ANON_PRIVATE,    /* MAP_PRIVATE|MAP_ANONYMOUS, private /dev/zero */
  ZAPSHIM_KIND_SHMEM_SHARED,    /* shared anon, memfd, tmpfs, SysV shm */
  ZAPSHIM_KIND_SHMEM_PRIVATE,   /* MAP_PRIVATE of a memfd or tmpfs file */
  ZAPSHIM_KIND_HUGETLB_SHARED,  /* hugetlbfs file, MFD_HUGETLB, MAP_HUGETLB, shared */
  ZAPSHIM_KIND_HUGETLB_PRIVATE, /* the same, private */
  ZAPSHIM_KIND_GUEST_MEMFD,     /* KVM guest_memfd mapped with mmap (6.18+) */
  ZAPSHIM_KIND_FILE_SHARED,     /* a persistent file (ext4, xfs, nfs...), shared */
  ZAPSHIM_KIND_FILE_PRIVATE,    /* a persistent file, private */
  ZAPSHIM_KIND_OTHER,           /* devices, PFN maps: left alone */
  ZAPSHIM_KIND_COUNT
};

/* What zapshim knows of the mapping that covers an address. */
struct zapshim_range_info {
  uintptr_t start;     /* first byte of the mapping */
  uintptr_t end;       /* one past its last byte */
  int kind;            /* enum zapshim_kind */
  int fd;              /* descriptor the shim keeps for it, or -1 */
  uint64_t offset;     /* file offset that corresponds to start */
  size_t page_size;    /* 4096, or the huge page size */
};

/*
 * zapshim_madvise - madvise(2) with zapshim's policy applied to
 * MADV_DONTNEED and MADV_REMOVE; every other advice goes to the kernel as
 * it is.  Returns 0, or -1 with errno set as madvise(2) would.
 */
int zapshim_madvise(void *addr, size_t length, int advice);

/*
 * zapshim_query - describe the mapping covering addr, from the shim's
 * registry or, for ranges it did not see mapped, from the kernel.
 * Returns 0 and fills *info, or -1 with errno ENOMEM (not mapped).
 */
int zapshim_query(const void *addr, struct zapshim_range_info *info);

/* zapshim_kind_name - a short stable name for a kind ("shmem-shared"). */
const char *zapshim_kind_name(int kind);

#ifdef __cplusplus
}
#endif
#endif /* ZAPSHIM_H */
