/*
 * test_kernel.c - the running kernel's version, linked directly: what
 * zs_kernel_detect reads without a system call (the vDSO's note) is what
 * uname says, and an older ZAPSHIM_KERNEL limits the capabilities.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <sys/utsname.h>

#include "kernel.h"

/* uname_version - ZS_KVER of uname's release; asserts it parses. */
static unsigned uname_version(void) {
  struct utsname u;
  cr_assert_eq(uname(&u), 0);
  unsigned v = zs_kernel_parse_version(u.release);
  cr_assert_neq(v, 0, "uname release %s does not parse", u.release);
  return v;
}

/* The version found at load (the vDSO's, where there is one) is uname's. */
Test(kernel, running_version_is_unames) {
  struct zs_caps caps;
  zs_kernel_detect(0, &caps);
  cr_assert_eq(caps.running, uname_version(), "detected %u.%u, uname says %u.%u", caps.running >> 16,
               caps.running & 0xffff, uname_version() >> 16, uname_version() & 0xffff);
  cr_assert_eq(caps.version, caps.running);
  cr_assert(caps.supported);
}

/* An older version named by the user limits every capability to it; a
 * newer one changes nothing. */
Test(kernel, override_limits_capabilities) {
  struct zs_caps caps;
  zs_kernel_detect(ZS_KVER(5, 10), &caps);
  cr_assert_eq(caps.running, uname_version());
  cr_assert_eq(caps.version, ZS_KVER(5, 10));
  cr_assert(caps.supported);
  cr_assert_not(caps.hugetlb_dontneed);
  cr_assert_not(caps.hugetlb_punch_partial);
  cr_assert_not(caps.procmap_query);
  zs_kernel_detect(ZS_KVER(99, 0), &caps);
  cr_assert_eq(caps.version, caps.running);
  zs_kernel_detect(ZS_KVER(4, 2), &caps);
  cr_assert_not(caps.supported);
}

/* Versions as users write them. */
Test(kernel, parse_version) {
  cr_assert_eq(zs_kernel_parse_version("6.18.44-fc-v669"), ZS_KVER(6, 18));
  cr_assert_eq(zs_kernel_parse_version("5.4"), ZS_KVER(5, 4));
  cr_assert_eq(zs_kernel_parse_version("4.19+"), ZS_KVER(4, 19));
  cr_assert_eq(zs_kernel_parse_version("6"), 0);
  cr_assert_eq(zs_kernel_parse_version("x.1"), 0);
  cr_assert_eq(zs_kernel_parse_version("6.1x"), 0);
  cr_assert_eq(zs_kernel_parse_version(NULL), 0);
}
