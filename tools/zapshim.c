/*
 * zapshim.c - the zapshim command: run a program with libzapshim.so
 * preloaded, measure what zaps what on this machine (--probe), or explain
 * the mappings of a running process (--explain PID).  See zapshim(1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init.h"
#include "classify.h"
#include "kernel.h"
#include "state.h"
#include "tool.h"
#include "zapshim.h"

/* usage - print the help text to f. */
static void usage(FILE *f) {
  fprintf(f,
          "Usage: zapshim [OPTIONS] [--] COMMAND [ARGS...]\n"
          "       zapshim --probe [--json] [--kernel=X.Y] [--named-files=keep|zap]\n"
          "       zapshim --explain PID [--kernel=X.Y] [--named-files=keep|zap]\n"
          "\n"
          "Run COMMAND with libzapshim.so preloaded, so that its madvise(MADV_DONTNEED)\n"
          "and madvise(MADV_REMOVE) really free every kind of memory; a static or Go\n"
          "program, which no preload reaches, runs under a supervisor (seccomp + ptrace)\n"
          "that does the same from outside (the syscall path).  Memory shared with\n"
          "other processes (a fork child, a vhost-user backend) is then freed for all of\n"
          "them: scope it with --restrict-exe and --named-files.\n"
          "\n"
          "  --log=DEST      log translated calls: stderr, or a file (%%p = pid)  [ZAPSHIM_LOG]\n"
          "  --kernel=X.Y    behave as on kernel X.Y (only its calls)            [ZAPSHIM_KERNEL]\n"
          "  --verify        check each translated zap really freed the range     [ZAPSHIM_VERIFY=1]\n"
          "  --stats         print a summary per memory kind at exit             [ZAPSHIM_STATS=1]\n"
          "  --restrict-exe=NAME[:NAME...]  be active only in these executables\n"
          "                  (helpers that inherit LD_PRELOAD are left alone) [ZAPSHIM_RESTRICT_EXE]\n"
          "  --named-files=keep|zap  a shared tmpfs or hugetlbfs file still linked in a\n"
          "                  directory: keep (default) leaves its data on MADV_DONTNEED,\n"
          "                  like a persistent file; zap frees it like memfd (guest RAM\n"
          "                  in a named file). With --probe/--explain: the policy shown\n"
          "                                                                    [ZAPSHIM_NAMED_FILES]\n"
          "  --trace         the syscall path for any program (raw syscall(2) callers)\n"
          "  --preload       the preload for any program\n"
          "  --run-anyway    start COMMAND even where no path can apply (no seccomp or\n"
          "                  ptrace), without zapshim; default: refuse (exit 126)\n"
          "  -n, --dry-run   print the path, the environment and command, run nothing\n"
          "  --probe         measure which call zaps each memory kind on this machine\n"
          "  --json          with --probe: print JSON\n"
          "  --explain PID   list the mappings of process PID, their kind and the call\n"
          "                  that zaps them, warning where a plain MADV_DONTNEED does not\n"
          "  -h, --help      this text\n"
          "  -V, --version   the version\n"
          "\n"
          "Exit status: that of COMMAND; 125 zapshim failed; 126 COMMAND not executable or\n"
          "setuid/setgid; 127 COMMAND not found.  See zapshim(1) and zapshim(7).\n");
}

/* zt_errno_name - see tool.h. */
const char *zt_errno_name(int e) {
  static char buf[16];
  const char *n = strerrorname_np(e);
  if (n)
    return n;
  snprintf(buf, sizeof buf, "E%d", e);
  return buf;
}

/* meminfo_huge_size - Hugepagesize of /proc/meminfo in bytes; 0 if none. */
static size_t meminfo_huge_size(void) {
  FILE *f = fopen("/proc/meminfo", "re");
  char line[256];
  size_t kb = 0;
  if (!f)
    return 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Hugepagesize: %zu kB", &kb) == 1)
      break;
  fclose(f);
  return kb * 1024;
}

/* zt_core_init - see tool.h.  The core comes up as in a preloaded
 * program (ZAPSHIM_* read); an explicit kver wins over ZAPSHIM_KERNEL. */
void zt_core_init(unsigned kver) {
  zs_init();
  zs_state.page_size = (size_t)sysconf(_SC_PAGESIZE);
  zs_state.default_huge_size = meminfo_huge_size();
  zs_classify_learn_shm_dev();
  zs_kernel_detect(kver ? kver : zs_state.cfg.kernel_override, &zs_state.caps);
}

enum { OPT_LOG = 256, OPT_KERNEL, OPT_VERIFY, OPT_STATS, OPT_PROBE, OPT_JSON, OPT_EXPLAIN, OPT_RESTRICT,
       OPT_NAMED, OPT_TRACE, OPT_PRELOAD, OPT_RUN_ANYWAY };

/* parse_pid - a positive decimal pid, or -1. */
static pid_t parse_pid(const char *s) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v <= 0 || v > 0x7fffffff)
    return -1;
  return (pid_t)v;
}

/* main - parse options (stopping at the first non-option: it is the
 * command), then launch, probe or explain.  Returns the exit status. */
int main(int argc, char **argv) {
  static const struct option longopts[] = {
    {"help", no_argument, NULL, 'h'},        {"version", no_argument, NULL, 'V'},
    {"dry-run", no_argument, NULL, 'n'},     {"log", required_argument, NULL, OPT_LOG},
    {"kernel", required_argument, NULL, OPT_KERNEL}, {"verify", no_argument, NULL, OPT_VERIFY},
    {"stats", no_argument, NULL, OPT_STATS}, {"probe", no_argument, NULL, OPT_PROBE},
    {"json", no_argument, NULL, OPT_JSON},   {"explain", required_argument, NULL, OPT_EXPLAIN},
    {"restrict-exe", required_argument, NULL, OPT_RESTRICT},
    {"named-files", required_argument, NULL, OPT_NAMED},
    {"trace", no_argument, NULL, OPT_TRACE},
    {"preload", no_argument, NULL, OPT_PRELOAD},
    {"run-anyway", no_argument, NULL, OPT_RUN_ANYWAY},
    {NULL, 0, NULL, 0},
  };
  struct zt_opts o = {0};
  bool probe = false;
  pid_t explain = 0;
  int c;
  while ((c = getopt_long(argc, argv, "+hVn", longopts, NULL)) != -1) {
    switch (c) {
    case 'h': usage(stdout); return 0;
    case 'V': printf("zapshim %s\n", ZAPSHIM_VERSION_STRING); return 0;
    case 'n': o.dry_run = true; break;
    case OPT_LOG: o.log = optarg; break;
    case OPT_KERNEL:
      o.kernel = optarg;
      o.kver = zs_kernel_parse_version(optarg);
      if (!o.kver) {
        fprintf(stderr, "zapshim: --kernel wants a version like 5.10, not '%s'\n", optarg);
        return 125;
      }
      break;
    case OPT_VERIFY: o.verify = true; break;
    case OPT_STATS: o.stats = true; break;
    case OPT_RESTRICT: o.restrict_exe = optarg; break;
    case OPT_NAMED:
      if (strcmp(optarg, "keep") != 0 && strcmp(optarg, "zap") != 0) {
        fprintf(stderr, "zapshim: --named-files wants keep or zap, not '%s'\n", optarg);
        return 125;
      }
      o.named_files = optarg;
      break;
    case OPT_TRACE:
    case OPT_PRELOAD:
      if (o.path && o.path != (c == OPT_TRACE ? ZT_PATH_TRACE : ZT_PATH_PRELOAD)) {
        fprintf(stderr, "zapshim: --trace and --preload exclude each other\n");
        return 125;
      }
      o.path = c == OPT_TRACE ? ZT_PATH_TRACE : ZT_PATH_PRELOAD;
      break;
    case OPT_RUN_ANYWAY: o.run_anyway = true; break;
    case OPT_PROBE: probe = true; break;
    case OPT_JSON: o.json = true; break;
    case OPT_EXPLAIN:
      explain = parse_pid(optarg);
      if (explain < 0) {
        fprintf(stderr, "zapshim: --explain wants a process id, not '%s'\n", optarg);
        return 125;
      }
      break;
    default:
      fprintf(stderr, "Try 'zapshim --help'.\n");
      return 125;
    }
  }
  if (probe && explain) {
    fprintf(stderr, "zapshim: --probe and --explain are separate modes; pick one\n");
    return 125;
  }
  if (probe || explain) {
    if (optind < argc) {
      fprintf(stderr, "zapshim: --%s takes no command\n", probe ? "probe" : "explain");
      return 125;
    }
    zt_core_init(o.kver);
    if (o.named_files) /* the policy shown follows the option, as ZAPSHIM_NAMED_FILES would */
      zs_state.cfg.named_files_zap = strcmp(o.named_files, "zap") == 0;
    return probe ? zt_probe(&o) : zt_explain(&o, explain);
  }
  if (o.json) {
    fprintf(stderr, "zapshim: --json goes with --probe\n");
    return 125;
  }
  if (optind >= argc) {
    fprintf(stderr, "zapshim: no command given\n");
    usage(stderr);
    return 125;
  }
  return zt_launch(&o, argv + optind);
}
