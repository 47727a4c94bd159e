/*
 * api.c - the public functions of include/zapshim.h.
 */
#define _GNU_SOURCE
#include "zapshim.h"
#include "classify.h"
#include "fdkeep.h"
#include "hooks.h"
#include "registry.h"
#include "state.h"
#include "vma.h"

#include <errno.h>
#include <string.h>

#define ZS_API __attribute__((visibility("default")))

/* zapshim_madvise - see zapshim.h: the same path as the madvise wrapper. */
ZS_API int zapshim_madvise(void *addr, size_t length, int advice) {
  return zs_madvise(addr, length, advice);
}

/* fill_info - the public description of a registry or kernel entry. */
static void fill_info(const struct zs_map *m, struct zapshim_range_info *info) {
  info->start = m->start;
  info->end = m->end;
  info->kind = m->kind;
  info->fd = m->fdslot >= 0 ? zs_fdkeep_fd(m->fdslot, m->dev, m->ino) : -1;
  info->offset = m->offset;
  info->page_size = (size_t)1 << m->page_shift;
}

/* zapshim_query - see zapshim.h. The registry first; ranges it does not
 * know are described from the kernel. */
ZS_API int zapshim_query(const void *addr, struct zapshim_range_info *info) {
  uintptr_t a = (uintptr_t)addr;
  struct zs_map m;
  if (zs_enter()) {
    zs_registry_rdlock();
    int found = zs_registry_find(a, &m) == 0 && m.start <= a;
    if (found)
      fill_info(&m, info);
    zs_registry_unlock();
    zs_leave();
    if (found)
      return 0;
  }
  struct zs_vma v;
  if (zs_vma_query(a, &v) != 0 || v.start > a) {
    errno = ENOMEM;
    return -1;
  }
  zs_classify_vma(&v, &m);
  fill_info(&m, info);
  return 0;
}

/* zapshim_kind_name - see zapshim.h. */
ZS_API const char *zapshim_kind_name(int kind) {
  static const char *const names[ZAPSHIM_KIND_COUNT] = {
    [ZAPSHIM_KIND_UNKNOWN] = "unknown",
    [ZAPSHIM_KIND_ANON_PRIVATE] = "anon-private",
    [ZAPSHIM_KIND_SHMEM_SHARED] = "shmem-shared",
    [ZAPSHIM_KIND_SHMEM_PRIVATE] = "shmem-private",
    [ZAPSHIM_KIND_HUGETLB_SHARED] = "hugetlb-shared",
    [ZAPSHIM_KIND_HUGETLB_PRIVATE] = "hugetlb-private",
    [ZAPSHIM_KIND_GUEST_MEMFD] = "guest-memfd",
    [ZAPSHIM_KIND_FILE_SHARED] = "file-shared",
    [ZAPSHIM_KIND_FILE_PRIVATE] = "file-private",
    [ZAPSHIM_KIND_OTHER] = "other",
  };
  if (kind < 0 || kind >= ZAPSHIM_KIND_COUNT)
    return "invalid";
  return names[kind];
}
