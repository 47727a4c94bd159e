/*
 * tool.h - the pieces of the zapshim command (tools/zapshim.c is main).
 *
 *   launch.c    run a command with libzapshim.so preloaded, or under the
 *               syscall-path supervisor (trace.h) for static and Go programs
 *   probe.c     --probe: which call really zaps each memory kind here
 *   probe_cell.c  one measurement (kind x call), run in a forked child
 *   explain.c   --explain PID: the kind of each mapping of a process
 *   procmaps.c  the VMAs of another process (PROCMAP_QUERY or smaps)
 *
 * This is a normal program, not the preloaded library: stdio and malloc
 * are fine here.  It links zapshim_core for the classifier and policy.
 */
#ifndef ZS_TOOL_H
#define ZS_TOOL_H

#include <stdbool.h>
#include <sys/types.h>

/* What the command line asked for. */
struct zt_opts {
  const char *log;    /* --log=DEST, or NULL */
  const char *kernel; /* --kernel=X.Y as given, or NULL */
  unsigned kver;      /* --kernel as ZS_KVER, 0 if not given */
  const char *restrict_exe; /* --restrict-exe=NAME[:NAME...], or NULL */
  const char *named_files;  /* --named-files=keep|zap, or NULL (not given) */
  bool verify;        /* --verify */
  bool stats;         /* --stats */
  bool dry_run;       /* --dry-run */
  bool json;          /* --json (with --probe) */
  int path;           /* ZT_PATH_AUTO, --trace: ZT_PATH_TRACE, --preload: ZT_PATH_PRELOAD */
  bool run_anyway;    /* --run-anyway: start the program even where no path can apply */
};

enum { ZT_PATH_AUTO, ZT_PATH_TRACE, ZT_PATH_PRELOAD };

/*
 * zt_launch - run argv[0] with the ZAPSHIM_* variables the options name,
 * on the path it needs: the preload (exec with LD_PRELOAD) for a dynamic
 * program, the syscall path (a supervisor, trace.h) for a static ELF or a
 * Go program, or as --trace/--preload force; with dry_run, print the path,
 * the variables and the command.  Returns with the exit status to use:
 * the program's (syscall path), 0 (dry run), 125 (zapshim's own error),
 * 126 (not executable, setuid/setgid, no path can apply), 127 (not found).
 */
int zt_launch(const struct zt_opts *o, char **argv);

/*
 * zt_find_library - the absolute path of libzapshim.so that belongs to
 * this zapshim (build tree or installed prefix), in buf.  Returns true,
 * or false if none was found.
 */
bool zt_find_library(char *buf, size_t len);

/* zt_probe - measure and print the table; returns the exit status
 * (0, or 1 if the probe itself could not run). */
int zt_probe(const struct zt_opts *o);

/* zt_explain - print the mappings of process pid with their kinds;
 * returns the exit status (0, 1 if the process could not be read). */
int zt_explain(const struct zt_opts *o, pid_t pid);

/* zt_errno_name - "EINVAL" for EINVAL; "E<number>" for one it cannot name. */
const char *zt_errno_name(int e);

/* zt_core_init - fill the zs_state fields the classifier and policy read:
 * page size, default huge page size, shmem device, capabilities limited
 * to kver (0: none).  Safe to call more than once. */
void zt_core_init(unsigned kver);

#endif
