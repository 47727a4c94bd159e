/*
 * map.h - one mapping as the shim knows it, and file identities.
 *
 * Plain data shared by the registry (which keeps these), classify (which
 * fills them), the kept-descriptor table and the executors.  No code but
 * one inline helper; depends on nothing of the shim's.
 */
#ifndef ZS_MAP_H
#define ZS_MAP_H

#include <stdint.h>

/* zs_map.flags */
#define ZS_MAP_SHARED  0x01 /* MAP_SHARED (or SysV shm) */
#define ZS_MAP_ANON    0x02 /* no file of the program's behind it */
#define ZS_MAP_HUGETLB 0x04 /* backed by huge pages */
#define ZS_MAP_SYSV    0x08 /* attached with shmat */
#define ZS_MAP_DEVZERO 0x10 /* a mapping of /dev/zero */
#define ZS_MAP_DONTFORK 0x20 /* madvise(MADV_DONTFORK): not in a fork child */
#define ZS_MAP_FD_WRITABLE 0x40 /* the program's descriptor was open for writing */

/* One mapping as the shim knows it. 48 bytes; 56 with the tree links. */
struct zs_map {
  uintptr_t start;      /* first byte */
  uintptr_t end;        /* one past the last byte */
  uint64_t offset;      /* file offset of start (0 if anonymous) */
  uint64_t ino;         /* st_ino of the backing file, 0 if unknown */
  uint32_t dev;         /* zs_dev_pack() of st_dev, 0 if unknown */
  int32_t fdslot;       /* slot in the kept-descriptor table, or -1 */
  uint8_t kind;         /* enum zapshim_kind */
  uint8_t prot;         /* PROT_* at mmap time */
  uint8_t page_shift;   /* 12, or 21 / 30 for huge pages */
  uint8_t flags;        /* ZS_MAP_* */
};

/* zs_dev_pack - fold a dev_t into 32 bits (12-bit major, 20-bit minor). */
static inline uint32_t zs_dev_pack(unsigned major, unsigned minor) {
  return (uint32_t)((major & 0xfffu) << 20 | (minor & 0xfffffu));
}

#endif
