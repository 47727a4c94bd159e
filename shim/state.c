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

/* Nonzero while this thread is inside the shim (zs_enter, zs_leave).
 * initial-exec: no allocation on first use, safe in a preloaded library. */
__thread int zs_inside __attribute__((tls_model("initial-exec")));
