/*
 * unit_setup.h - the zs_state fields vma.c and classify.c read, set the
 * same way for every unit test suite that queries real mappings.
 */
#ifndef ZS_UNIT_SETUP_H
#define ZS_UNIT_SETUP_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "classify.h"
#include "registry.h"
#include "state.h"

/*
 * unit_setup_state - page size from sysconf, 2 MiB default huge pages,
 * PROCMAP_QUERY on, and the shm device learnt (asserted).  Returns the
 * page size.
 */
static inline size_t unit_setup_state(void) {
  size_t ps = (size_t)sysconf(_SC_PAGESIZE);
  zs_state.page_size = ps;
  zs_state.default_huge_size = 2 * 1024UL * 1024;
  zs_state.caps.procmap_query = true;
  cr_assert_eq(zs_classify_learn_shm_dev(), 0);
  return ps;
}

/* unit_registry_clear - an empty registry, for suites that zap through it. */
static inline void unit_registry_clear(void) {
  zs_registry_wrlock();
  zs_registry_remove(0, UINTPTR_MAX);
  zs_registry_unlock();
}

#endif
