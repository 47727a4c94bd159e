/*
 * testutil.h - helpers shared by the tests: proving a zap against the real
 * kernel (read-back, memory freed, userfaultfd missing fault) and requiring
 * resources (huge pages, userfaultfd, /dev/kvm).
 */
#ifndef ZS_TESTUTIL_H
#define ZS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * zt_need - a resource the test cannot run without is missing.  In CI
 * (CI=true in the environment) this fails the test with the reason; on a
 * user's machine it skips the test and prints the reason.
 */
void zt_need(bool have, const char *what);

/* zt_in_ci - true when CI=true. */
bool zt_in_ci(void);

#endif
