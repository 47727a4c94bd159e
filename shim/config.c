/*
 * config.c - reading the ZAPSHIM_* environment variables (see config.h).
 */
#define _GNU_SOURCE
#include "config.h"
#include "kernel.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* Every variable the shim reads. */
static const char *const known_vars[] = {
  "ZAPSHIM_LOG",
  "ZAPSHIM_KERNEL",
  "ZAPSHIM_VERIFY",
  "ZAPSHIM_STATS",
  "ZAPSHIM_RESTRICT_EXE",
  "ZAPSHIM_NAMED_FILES",
  "ZAPSHIM_TRACE_SPIN_US", /* the zapshim command's syscall path (tools/trace_run.c) */
  "ZAPSHIM_TRACE_FOLLOW",
#ifdef ZAPSHIM_FAULT_INJECTION
  "ZAPSHIM_FAULT_REGISTRY", /* test builds: registry node allocation fails */
#endif
};
#define N_KNOWN (sizeof known_vars / sizeof known_vars[0])

/* edit_distance - Levenshtein distance of a and b, both at most 63 chars
 * (longer names are cut there: they are far from every valid name anyway). */
static unsigned edit_distance(const char *a, const char *b) {
  unsigned row[64];
  size_t la = strnlen(a, 63), lb = strnlen(b, 63);
  for (size_t j = 0; j <= lb; j++)
    row[j] = (unsigned)j;
  for (size_t i = 1; i <= la; i++) {
    unsigned diag = row[0];
    row[0] = (unsigned)i;
    for (size_t j = 1; j <= lb; j++) {
      unsigned up = row[j];
      unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
      unsigned best = diag + cost;
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

/* zs_config_closest - nearest known name within distance 4, else NULL. */
const char *zs_config_closest(const char *name) {
  const char *best = NULL;
  unsigned best_d = 5;
  for (size_t i = 0; i < N_KNOWN; i++) {
    unsigned d = edit_distance(name, known_vars[i]);
    if (d < best_d) {
      best_d = d;
      best = known_vars[i];
    }
  }
  return best;
}

/* is_known - 1 if the NAME=value entry names a known variable. */
static int is_known(const char *entry, size_t name_len) {
  for (size_t i = 0; i < N_KNOWN; i++)
    if (strlen(known_vars[i]) == name_len && !strncmp(entry, known_vars[i], name_len))
      return 1;
  return 0;
}

/* warn_unknown_vars - one warning per ZAPSHIM_* variable the shim does not
 * know, with the closest valid name. */
static void warn_unknown_vars(void) {
  for (char **e = environ; e && *e; e++) {
    if (strncmp(*e, "ZAPSHIM_", 8) != 0)
      continue;
    const char *eq = strchr(*e, '=');
    size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
    if (is_known(*e, n))
      continue;
    char name[64];
    if (n >= sizeof name)
      n = sizeof name - 1;
    memcpy(name, *e, n);
    name[n] = 0;
    const char *near = zs_config_closest(name);
    struct zs_line msg = {.len = 0};
    zs_line_str(&msg, "unknown variable ");
    zs_line_str(&msg, name);
    if (near) {
      zs_line_str(&msg, " ignored (did you mean ");
      zs_line_str(&msg, near);
      zs_line_str(&msg, "?)");
    }
    msg.buf[msg.len] = 0;
    zs_warn(msg.buf, NULL);
  }
}

/* load_kernel - ZAPSHIM_KERNEL: a version X.Y, else a warning. */
static void load_kernel(struct zs_config *cfg) {
  const char *v = getenv("ZAPSHIM_KERNEL");
  if (!v || !*v)
    return;
  cfg->kernel_override = zs_kernel_parse_version(v);
  if (!cfg->kernel_override)
    zs_warn("ZAPSHIM_KERNEL is not a version like 5.10; ignored: ", v);
}

/* load_flag - a 0/1 variable; anything else gets a warning and counts as 0. */
static bool load_flag(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v || strcmp(v, "0") == 0)
    return false;
  if (strcmp(v, "1") == 0)
    return true;
  struct zs_line msg = {.len = 0};
  zs_line_str(&msg, name);
  zs_line_str(&msg, " must be 0 or 1; ignored: ");
  msg.buf[msg.len] = 0;
  zs_warn(msg.buf, v);
  return false;
}

/* exe_name - the base name of this process's executable into buf, from
 * /proc/self/exe. Returns buf, or "" if it cannot be read. */
static const char *exe_name(char *buf, size_t cap) {
  ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
  if (n <= 0)
    n = 0;
  buf[n] = 0;
  const char *slash = strrchr(buf, '/');
  return slash ? slash + 1 : buf;
}

/* list_has - 1 if the colon-separated list names name. */
static int list_has(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && n && strncmp(p, name, n) == 0)
      return 1;
    p += len + (end ? 1 : 0);
  }
  return 0;
}

/* load_restrict - ZAPSHIM_RESTRICT_EXE: true if this program is left out. */
static bool load_restrict(void) {
  const char *list = getenv("ZAPSHIM_RESTRICT_EXE");
  if (!list || !*list)
    return false;
  char buf[4096];
  return !list_has(list, exe_name(buf, sizeof buf));
}

/* load_named_files - ZAPSHIM_NAMED_FILES: "keep" (the default) or "zap";
 * any other value gets one warning and the default. Returns true for zap. */
static bool load_named_files(void) {
  const char *v = getenv("ZAPSHIM_NAMED_FILES");
  if (!v || !*v || strcmp(v, "keep") == 0)
    return false;
  if (strcmp(v, "zap") == 0)
    return true;
  zs_warn("ZAPSHIM_NAMED_FILES must be keep or zap; using keep, ignored: ", v);
  return false;
}

/* load_log - ZAPSHIM_LOG; secure_getenv, so a setuid program ignores it. */
static void load_log(void) {
  const char *dest = secure_getenv("ZAPSHIM_LOG");
  if (!dest) {
    if (getenv("ZAPSHIM_LOG"))
      zs_warn("ZAPSHIM_LOG ignored in a secure-execution (setuid) process", NULL);
    return;
  }
  if (!*dest)
    return;
  int e = zs_log_open(dest);
  if (e)
    zs_warn("ZAPSHIM_LOG cannot be opened, logging is off: ", zs_errno_name(e));
}

/* zs_config_load - see config.h. The log opens first so that later
 * warnings go to it. */
void zs_config_load(struct zs_config *cfg) {
  load_log();
  load_kernel(cfg);
  cfg->verify = load_flag("ZAPSHIM_VERIFY");
  cfg->stats = load_flag("ZAPSHIM_STATS");
  cfg->excluded = load_restrict();
  cfg->named_files_zap = load_named_files();
  warn_unknown_vars();
}
