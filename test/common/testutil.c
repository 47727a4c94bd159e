#include "testutil.h"
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

bool zt_in_ci(void) {
  const char *ci = getenv("CI");
  return ci && strcmp(ci, "true") == 0;
}

void zt_need(bool have, const char *what) {
  if (have)
    return;
  if (zt_in_ci())
    cr_assert_fail("missing in CI: %s", what);
  cr_skip_test("skipped: %s", what);
}
