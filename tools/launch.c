/*
 * launch.c - run a command with libzapshim.so preloaded.
 *
 * The library is found next to this executable (/proc/self/exe): in the
 * build tree (tools/zapshim beside ../libzapshim.so) or in an installed
 * prefix (bin/zapshim beside ../lib/<multiarch>/libzapshim.so), then in the
 * libdir baked in at build time.  Exit codes follow env(1).
 *
 * The path: a dynamic ELF gets the preload; a static ELF (no PT_INTERP)
 * or a Go program the syscall path (trace.h), which needs seccomp and
 * ptrace: where it cannot apply the program is not started (126) unless
 * --run-anyway.  One log line (with --log) names the path taken.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init.h"
#include "log.h"
#include "state.h"
#include "tool.h"
#include "trace.h"

#ifndef ZT_INSTALL_LIBDIR
#define ZT_INSTALL_LIBDIR "/usr/local/lib"
#endif
#ifndef ZT_LIBDIR_REL
#define ZT_LIBDIR_REL "lib"
#endif
#ifndef ZT_MULTIARCH
#define ZT_MULTIARCH ""
#endif
#ifndef ZT_SOVERSION
#define ZT_SOVERSION "0"
#endif

extern char **environ;

/* try_lib - if dir/name is a readable file, put its absolute path
 * (directory canonicalised, file name kept) in buf and return true. */
static bool try_lib(const char *dir, const char *name, char *buf, size_t len) {
  char real[PATH_MAX], path[PATH_MAX + 64];
  if (!realpath(dir, real))
    return false;
  snprintf(path, sizeof path, "%s/%s", real, name);
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || access(path, R_OK) != 0)
    return false;
  if (strlen(path) >= len)
    return false;
  strcpy(buf, path);
  return true;
}

/* zt_find_library - see tool.h.  Looks, in order, beside the executable,
 * one level up (the build tree), in the prefix's libdirs, then in the
 * configured libdir; libzapshim.so first, then the versioned name. */
bool zt_find_library(char *buf, size_t len) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  const char *names[] = {"libzapshim.so", "libzapshim.so." ZT_SOVERSION};
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
      *slash = 0;
    const char *rel[] = {".", "..", "../" ZT_LIBDIR_REL, "../lib/" ZT_MULTIARCH, "../lib",
                         "../lib64"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
      char dir[PATH_MAX + 32];
      snprintf(dir, sizeof dir, "%s/%s", exe, rel[i]);
      for (size_t j = 0; j < 2; j++)
        if (try_lib(dir, names[j], buf, len))
          return true;
    }
  }
  for (size_t j = 0; j < 2; j++)
    if (try_lib(ZT_INSTALL_LIBDIR, names[j], buf, len))
      return true;
  return false;
}

/* is_this_shim - true if an LD_PRELOAD entry is our library (same file)
 * or any libzapshim.so*: preloading two shims would translate twice. */
static bool is_this_shim(const char *entry, const char *lib) {
  const char *base = strrchr(entry, '/');
  base = base ? base + 1 : entry;
  if (strncmp(base, "libzapshim.so", 13) == 0)
    return true;
  char a[PATH_MAX], b[PATH_MAX];
  return realpath(entry, a) && realpath(lib, b) && strcmp(a, b) == 0;
}

/* build_preload - lib, then the entries of old (space or colon separated)
 * that are not a zapshim library, joined by ':'.  Returns a malloc'ed
 * string or NULL. */
static char *build_preload(const char *lib, const char *old) {
  size_t cap = strlen(lib) + (old ? strlen(old) : 0) + 2;
  char *out = malloc(cap), *copy = old ? strdup(old) : NULL;
  if (!out || (old && !copy)) {
    free(out);
    free(copy);
    return NULL;
  }
  strcpy(out, lib);
  char *save = NULL;
  for (char *t = copy ? strtok_r(copy, ": ", &save) : NULL; t; t = strtok_r(NULL, ": ", &save)) {
    if (is_this_shim(t, lib))
      continue;
    strcat(out, ":");
    strcat(out, t);
  }
  free(copy);
  return out;
}

/* resolve_command - the path execvp would run for cmd, in out.  Returns 0,
 * ENOENT (nothing found) or EACCES (found, but not an executable file). */
static int resolve_command(const char *cmd, char *out, size_t len) {
  struct stat st;
  if (strchr(cmd, '/')) {
    snprintf(out, len, "%s", cmd);
    if (stat(cmd, &st) != 0)
      return errno == ENOENT || errno == ENOTDIR ? ENOENT : EACCES;
    return S_ISREG(st.st_mode) && access(cmd, X_OK) == 0 ? 0 : EACCES;
  }
  const char *path = getenv("PATH");
  if (!path || !*path)
    path = "/bin:/usr/bin";
  int err = ENOENT;
  char *copy = strdup(path), *save = NULL;
  if (!copy)
    return ENOMEM;
  for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    snprintf(out, len, "%s/%s", *d ? d : ".", cmd);
    if (stat(out, &st) != 0)
      continue;
    if (S_ISREG(st.st_mode) && access(out, X_OK) == 0) {
      free(copy);
      return 0;
    }
    err = EACCES;
  }
  free(copy);
  snprintf(out, len, "%s", cmd);
  return err;
}

/* print_quoted - s as one shell word: bare if it is safe, else in single
 * quotes. */
static void print_quoted(const char *s) {
  if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./:,@%") ==
                strlen(s)) {
    fputs(s, stdout);
    return;
  }
  putchar('\'');
  for (; *s; s++)
    if (*s == '\'')
      fputs("'\\''", stdout);
    else
      putchar(*s);
  putchar('\'');
}

/* set_var - setenv, remembering the name for the dry run.  Returns 0 or -1. */
static int set_var(const char **names, int *n, const char *name, const char *value) {
  names[(*n)++] = name;
  return setenv(name, value, 1);
}

/* path_reason - why the path is the one taken, for the log. */
static const char *path_reason(const struct zt_opts *o, enum zt_elf kind) {
  if (o->path == ZT_PATH_TRACE)
    return "--trace";
  if (o->path == ZT_PATH_PRELOAD)
    return "--preload";
  switch (kind) {
  case ZT_ELF_STATIC: return "static ELF, no loader to preload into";
  case ZT_ELF_GO: return "Go program, raw system calls";
  case ZT_ELF_DYNAMIC: return "dynamic ELF";
  case ZT_ELF_FOREIGN: return "not an x86_64 ELF";
  default: return "not an ELF, its interpreter is";
  }
}

/* say_path - one log line (when --log is given): the path taken and why. */
static void say_path(const char *what, const char *why, const char *path) {
  if (!zs_log_enabled())
    return;
  struct zs_line l;
  zs_line_start(&l, what);
  zs_line_str(&l, " (");
  zs_line_str(&l, why);
  zs_line_str(&l, "): ");
  zs_line_str(&l, path);
  zs_line_emit(&l);
}

/* run_traced - run the program on the syscall path.  Returns its exit
 * status, or -1 if it could not be traced and --run-anyway asks to start
 * it without zapshim (the caller execs it). */
static int run_traced(const struct zt_opts *o, const char *path, char **argv, const char *why) {
  zt_core_init(o->kver);
  if (o->named_files)
    zs_state.cfg.named_files_zap = strcmp(o->named_files, "zap") == 0;
  const char *no = zt_trace_check();
  if (!no) {
    say_path("syscall path", why, path);
    int r = zt_trace_run(o, path, argv);
    if (r >= 0)
      return r;
    no = "the program cannot be traced (ptrace refused)";
  }
  if (!o->run_anyway) {
    fprintf(stderr,
            "zapshim: %s needs the syscall path (%s), which cannot apply: %s.\n"
            "Not started.  --run-anyway starts it without zapshim (its zaps then free\n"
            "only what the kernel's own madvise frees).\n",
            path, why, no);
    return 126;
  }
  fprintf(stderr, "zapshim: warning: %s runs WITHOUT zapshim: %s\n", path, no);
  return -1;
}

/* zt_launch - see tool.h. */
int zt_launch(const struct zt_opts *o, char **argv) {
  char lib[PATH_MAX], path[PATH_MAX];
  if (!zt_find_library(lib, sizeof lib)) {
    fprintf(stderr, "zapshim: cannot find libzapshim.so beside %s or in %s\n",
            "this executable", ZT_INSTALL_LIBDIR);
    return 125;
  }
  int err = resolve_command(argv[0], path, sizeof path);
  if (err) {
    fprintf(stderr, "zapshim: %s: %s\n", argv[0],
            err == ENOENT ? "command not found" : strerror(err));
    return err == ENOENT ? 127 : 126;
  }
  struct stat st;
  if (stat(path, &st) == 0 &&
      ((st.st_mode & S_ISUID) || ((st.st_mode & S_ISGID) && (st.st_mode & S_IXGRP)))) {
    fprintf(stderr,
            "zapshim: %s is set-%s-ID: the dynamic loader runs it in secure-execution mode and\n"
            "ignores LD_PRELOAD for it, and the syscall path would take its privileges away\n"
            "(no_new_privs), so zapshim cannot apply; refusing to run it.\n"
            "Run it without zapshim, or run an unprivileged copy of it.\n",
            path, (st.st_mode & S_ISUID) ? "user" : "group");
    return 126;
  }
  enum zt_elf kind = zt_elf_kind(path);
  bool trace = o->path == ZT_PATH_TRACE ||
               (o->path == ZT_PATH_AUTO && (kind == ZT_ELF_STATIC || kind == ZT_ELF_GO));
  const char *why = path_reason(o, kind);

  const char *names[8];
  int n = 0;
  char *preload = trace ? NULL : build_preload(lib, getenv("LD_PRELOAD"));
  if ((!trace && (!preload || set_var(names, &n, "LD_PRELOAD", preload) != 0)) ||
      (o->log && set_var(names, &n, "ZAPSHIM_LOG", o->log) != 0) ||
      (o->kernel && set_var(names, &n, "ZAPSHIM_KERNEL", o->kernel) != 0) ||
      (o->verify && set_var(names, &n, "ZAPSHIM_VERIFY", "1") != 0) ||
      (o->stats && set_var(names, &n, "ZAPSHIM_STATS", "1") != 0) ||
      (o->restrict_exe && set_var(names, &n, "ZAPSHIM_RESTRICT_EXE", o->restrict_exe) != 0) ||
      (o->named_files && set_var(names, &n, "ZAPSHIM_NAMED_FILES", o->named_files) != 0)) {
    fprintf(stderr, "zapshim: cannot set the environment: %s\n", strerror(errno));
    return 125;
  }
  free(preload);

  if (o->dry_run)
    printf("# %s path (%s)\n", trace ? "syscall" : "preload", why);
  if (o->dry_run) {
    for (int i = 0; i < n; i++) {
      printf("%s=", names[i]);
      print_quoted(getenv(names[i]));
      putchar('\n');
    }
    print_quoted(path);
    for (char **a = argv + 1; *a; a++) {
      putchar(' ');
      print_quoted(*a);
    }
    putchar('\n');
    return fflush(stdout) == 0 ? 0 : 125;
  }

  if (trace) {
    int r = run_traced(o, path, argv, why);
    if (r >= 0)
      return r;
  } else if (o->log) {
    zs_init(); /* the log, as the preloaded library will open it (same pid after exec) */
    say_path("preload path", why, path);
  }
  fflush(NULL);
  execve(path, argv, environ);
  if (errno == ENOEXEC) { /* a script without #!: run it with sh, as execvp does */
    int argc = 0;
    while (argv[argc])
      argc++;
    char **sh = calloc((size_t)argc + 2, sizeof *sh);
    if (sh) {
      sh[0] = "sh";
      sh[1] = path;
      for (int i = 1; i <= argc; i++)
        sh[i + 1] = argv[i];
      execve("/bin/sh", sh, environ);
    }
    errno = ENOEXEC;
  }
  int e = errno;
  fprintf(stderr, "zapshim: %s: %s\n", path, strerror(e));
  return e == ENOENT ? 127 : 126;
}
