/*
 * state.c - the one global state (state.h) and the per-thread "inside the
 * shim" mark.  Bringing the shim up is init.c's.
 */
#define _GNU_SOURCE
#include "state.h"

#include <limits.h>

struct zs_state zs_state = {
  .phase = ZS_UNINIT,
  .log_fd = -1,
  .lowest_fd = INT_MAX,
};

/* Nonzero while this thread is inside the shim. initial-exec: no
 * allocation on first use, safe in a preloaded library. */
static __thread int inside __attribute__((tls_model("initial-exec")));

/* zs_enter - see state.h. */
bool zs_enter(void) {
  if (inside || !zs_ready())
    return false;
  inside = 1;
  return true;
}

/* zs_leave - see state.h. */
void zs_leave(void) {
  inside = 0;
}
