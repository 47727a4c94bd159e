/*
 * log.h - async-signal-safe log lines, written with one write(2) each.
 *
 * A line is built in a caller-provided buffer (struct zs_line, on the
 * stack) from strings and numbers; nothing allocates, nothing uses stdio.
 */
#ifndef ZS_LOG_H
#define ZS_LOG_H

#include <stddef.h>
#include <stdint.h>

#define ZS_LINE_MAX 512

struct zs_line {
  size_t len;
  char buf[ZS_LINE_MAX];
};

/* zs_line_start - begin a line "zapshim[PID]: " + tag, PID this process's. */
void zs_line_start(struct zs_line *l, const char *tag);
/* zs_line_start_pid - the same for another process (a traced one); pid 0
 * is this process. */
void zs_line_start_pid(struct zs_line *l, int pid, const char *tag);
void zs_line_str(struct zs_line *l, const char *s);
void zs_line_dec(struct zs_line *l, long long v);
void zs_line_udec(struct zs_line *l, unsigned long long v);
void zs_line_hex(struct zs_line *l, unsigned long long v); /* "0x..." */
/* zs_line_errno - " errno=E (name)" for e != 0, nothing for 0 */
void zs_line_errno(struct zs_line *l, int e);
/* zs_line_emit - add '\n' and write the line to the log, if logging is on
 * and the log descriptor still is the shim's file (else logging stops:
 * never a write into a file of the program's). */
void zs_line_emit(struct zs_line *l);
/* zs_line_emit_to - add '\n' and write the line to fd. */
void zs_line_emit_to(struct zs_line *l, int fd);

/* zs_log_enabled - 1 if ZAPSHIM_LOG named a destination. */
int zs_log_enabled(void);

/*
 * zs_log_open - set the destination: "stderr", or a path (appended to;
 * "%p" in it becomes the process id). Returns 0 or errno (then silent).
 */
int zs_log_open(const char *dest);

/* zs_log_owns - 1 if fd is the log file the shim opened (not stderr):
 * the number is zs_state.log_fd AND fstat shows the same file (device,
 * inode) as at open; 0 otherwise (a number the program took over). */
int zs_log_owns(int fd);

/* zs_warn - one line "zapshim[PID]: warning: " + a + b. Always written to
 * the log if enabled, else to stderr (warnings about configuration). */
void zs_warn(const char *a, const char *b);

/* zs_errno_name - "EINVAL" etc. for the errnos the shim meets, else "E?". */
const char *zs_errno_name(int e);

#endif
