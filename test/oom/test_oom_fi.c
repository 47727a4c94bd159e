/*
 * test_oom_fi.c - issue 9 case 3 under libzapshim_fi.so: from the
 * replacing MAP_FIXED on, every node allocation of the registry fails
 * (zs_registry_fault_set(0), found with dlsym), free-list nodes included,
 * so the replaced range can only become unknown.  See oomcase.h for what
 * each case asserts.
 */
#define _GNU_SOURCE
#include "oomcase.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <dlfcn.h>

static void (*fault_set)(long);

/* exhaust - every node allocation fails from now on. */
static void exhaust(void) {
  fault_set(0);
}

/* restore - allocations succeed again. */
static void restore(void) {
  fault_set(-1);
}

static const struct oom_env fi = {exhaust, restore};

/* setup - find the switch; the test is meaningless without it. */
static void setup(void) {
  fault_set = (void (*)(long))dlsym(RTLD_DEFAULT, "zs_registry_fault_set");
  cr_assert_not_null(fault_set, "zs_registry_fault_set not found: run under "
                                "LD_PRELOAD=libzapshim_fi.so (test/oom)");
}

TestSuite(oom_fi, .init = setup, .timeout = 60);

/* A 2 MiB huge mapping wholly replaced by the ext4 file. */
Test(oom_fi, ext4_file_over_known_hugetlb) {
  oom_ext4_over_hugetlb(&fi, ZT_HPAGE_2M, 0);
}

/* The file replaces the second half of a 4 MiB huge mapping: the carve
 * needs a split, which finds no node, so the whole entry goes. */
Test(oom_fi, ext4_file_over_half_of_known_hugetlb) {
  oom_ext4_over_hugetlb(&fi, 2 * ZT_HPAGE_2M, ZT_HPAGE_2M);
}

/* And over its first half. */
Test(oom_fi, ext4_file_over_first_half_of_known_hugetlb) {
  oom_ext4_over_hugetlb(&fi, 2 * ZT_HPAGE_2M, 0);
}

Test(oom_fi, shared_memfd_over_known_anon) {
  oom_memfd_over_anon(&fi);
}
