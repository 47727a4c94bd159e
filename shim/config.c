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

/* The variables read at load, in the order of known_vars. */
enum { V_LOG, V_KERNEL, V_VERIFY, V_STATS, V_RESTRICT, V_NAMED, N_READ };

/* The ZAPSHIM_* entries of the environment, gathered in one pass. */
struct zs_env {
  const char *val[N_READ]; /* the first value of each, as getenv finds it; NULL if unset */
  bool unknown;            /* some ZAPSHIM_* name is not a known one */
};

/* known_index - the index in known_vars of the name entry[0, name_len),
 * or -1.  Plain loops: this runs at every program's start, before any
 * string function of libc has been bound. */
static int known_index(const char *entry, size_t name_len) {
  for (size_t i = 0; i < N_KNOWN; i++) {
    const char *k = known_vars[i];
    size_t j = 0;
    while (j < name_len && k[j] && k[j] == entry[j])
      j++;
    if (j == name_len && !k[j])
      return (int)i;
  }
  return -1;
}

/* scan_env - one pass over environ: the values of the variables read and
 * whether an unknown ZAPSHIM_* name is there.  An entry without '=' has no
 * value (getenv skips it) but still counts as a name.  Most programs have
 * no ZAPSHIM_* variable but LD_PRELOAD's neighbours, so the prefix test
 * comes first. */
static void scan_env(struct zs_env *env) {
  static const char prefix[] = "ZAPSHIM_";
  for (char **e = environ; e && *e; e++) {
    const char *s = *e;
    size_t n = 0;
    while (n < sizeof prefix - 1 && s[n] == prefix[n])
      n++;
    if (n < sizeof prefix - 1)
      continue;
    while (s[n] && s[n] != '=')
      n++;
    int i = known_index(s, n);
    if (i < 0)
      env->unknown = true;
    else if (i < N_READ && s[n] == '=' && !env->val[i])
      env->val[i] = s + n + 1;
  }
}

/* is_known - 1 if the NAME=value entry names a known variable. */
static int is_known(const char *entry, size_t name_len) {
  return known_index(entry, name_len) >= 0;
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

/* load_kernel - ZAPSHIM_KERNEL (value v, NULL if unset): a version X.Y,
 * else a warning. */
static void load_kernel(struct zs_config *cfg, const char *v) {
  if (!v || !*v)
    return;
  cfg->kernel_override = zs_kernel_parse_version(v);
  if (!cfg->kernel_override)
    zs_warn("ZAPSHIM_KERNEL is not a version like 5.10; ignored: ", v);
}

/* load_flag - a 0/1 variable name with value v (NULL if unset); anything
 * else gets a warning and counts as 0. */
static bool load_flag(const char *name, const char *v) {
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

/* load_restrict - ZAPSHIM_RESTRICT_EXE (value list, NULL if unset): true
 * if this program is left out. */
static bool load_restrict(const char *list) {
  if (!list || !*list)
    return false;
  char buf[4096];
  return !list_has(list, exe_name(buf, sizeof buf));
}

/* load_named_files - ZAPSHIM_NAMED_FILES (value v, NULL if unset): "keep"
 * (the default) or "zap"; any other value gets one warning and the
 * default. Returns true for zap. */
static bool load_named_files(const char *v) {
  if (!v || !*v || strcmp(v, "keep") == 0)
    return false;
  if (strcmp(v, "zap") == 0)
    return true;
  zs_warn("ZAPSHIM_NAMED_FILES must be keep or zap; using keep, ignored: ", v);
  return false;
}

/* load_log - ZAPSHIM_LOG (present: set, NULL if unset); secure_getenv,
 * so a setuid program ignores it. */
static void load_log(const char *set) {
  if (!set)
    return;
  const char *dest = secure_getenv("ZAPSHIM_LOG");
  if (!dest) {
    zs_warn("ZAPSHIM_LOG ignored in a secure-execution (setuid) process", NULL);
    return;
  }
  if (!*dest)
    return;
  int e = zs_log_open(dest);
  if (e)
    zs_warn("ZAPSHIM_LOG cannot be opened, logging is off: ", zs_errno_name(e));
}

/* zs_config_load - see config.h. One pass over the environment finds
 * every ZAPSHIM_* entry; a process without any (the common case: every
 * program a VMM's environment reaches) calls no libc function here. The
 * log opens first so that later warnings go to it. */
void zs_config_load(struct zs_config *cfg) {
  struct zs_env env = {.unknown = false};
  scan_env(&env);
  load_log(env.val[V_LOG]);
  load_kernel(cfg, env.val[V_KERNEL]);
  cfg->verify = load_flag("ZAPSHIM_VERIFY", env.val[V_VERIFY]);
  cfg->stats = load_flag("ZAPSHIM_STATS", env.val[V_STATS]);
  cfg->excluded = load_restrict(env.val[V_RESTRICT]);
  cfg->named_files_zap = load_named_files(env.val[V_NAMED]);
  if (env.unknown)
    warn_unknown_vars();
}
