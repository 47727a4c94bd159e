/*
 * log.c - async-signal-safe log lines.
 *
 * Lines are built on the caller's stack and leave with one write(2), so a
 * line is never torn by another thread's line (O_APPEND, < PIPE_BUF).  The
 * destination descriptor is set once by zs_log_open() during init.
 */
#define _GNU_SOURCE
#include "log.h"
#include "state.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Identity of the log file zs_log_open opened (not for "stderr"): a log
 * number that no longer names it is the program's and is never written. */
static _Atomic uint64_t g_log_dev, g_log_ino;
static atomic_bool g_log_own; /* true once a file of the shim's own is open */

/* log_names - true if fd is open and is the log file zs_log_open opened. */
static bool log_names(int fd) {
  struct stat st;
  int e = errno;
  bool same = atomic_load_explicit(&g_log_own, memory_order_acquire) && fd > 2 &&
              fstat(fd, &st) == 0 &&
              (uint64_t)st.st_dev == atomic_load_explicit(&g_log_dev, memory_order_relaxed) &&
              (uint64_t)st.st_ino == atomic_load_explicit(&g_log_ino, memory_order_relaxed);
  errno = e;
  return same;
}

/* zs_log_owns - see log.h. */
int zs_log_owns(int fd) {
  return fd >= 0 && fd == zs_state.log_fd && log_names(fd);
}

/* log_dest - the descriptor to write log lines to: stderr as set, the
 * shim's own file while it still is that file; -1 (and logging off) if
 * its number now names something of the program's. */
static int log_dest(void) {
  int fd = zs_state.log_fd;
  if (fd <= 2 || log_names(fd))
    return fd;
  zs_state.log_fd = -1;
  return -1;
}


/* zs_line_str - append s, truncating at the buffer's end. */
void zs_line_str(struct zs_line *l, const char *s) {
  while (*s && l->len < ZS_LINE_MAX - 1)
    l->buf[l->len++] = *s++;
}

/* zs_line_udec - append v in decimal. */
void zs_line_udec(struct zs_line *l, unsigned long long v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n > 0 && l->len < ZS_LINE_MAX - 1)
    l->buf[l->len++] = tmp[--n];
}

/* zs_line_dec - append v in decimal, with a sign if negative. */
void zs_line_dec(struct zs_line *l, long long v) {
  if (v < 0) {
    zs_line_str(l, "-");
    zs_line_udec(l, 0ULL - (unsigned long long)v);
  } else {
    zs_line_udec(l, (unsigned long long)v);
  }
}

/* zs_line_hex - append v as 0x-prefixed lower-case hex. */
void zs_line_hex(struct zs_line *l, unsigned long long v) {
  char tmp[20];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  zs_line_str(l, "0x");
  while (n > 0 && l->len < ZS_LINE_MAX - 1)
    l->buf[l->len++] = tmp[--n];
}

/* zs_errno_name - symbolic name of the errnos the shim meets. */
const char *zs_errno_name(int e) {
  switch (e) {
  case EINVAL: return "EINVAL";
  case ENOMEM: return "ENOMEM";
  case EACCES: return "EACCES";
  case EPERM: return "EPERM";
  case EBADF: return "EBADF";
  case EMFILE: return "EMFILE";
  case ENFILE: return "ENFILE";
  case EOPNOTSUPP: return "EOPNOTSUPP";
  case ENODEV: return "ENODEV";
  case ENOENT: return "ENOENT";
  case EAGAIN: return "EAGAIN";
  case EBUSY: return "EBUSY";
  case EFAULT: return "EFAULT";
  case ENOSYS: return "ENOSYS";
  case ENOTTY: return "ENOTTY";
  case ESPIPE: return "ESPIPE";
  case ETXTBSY: return "ETXTBSY";
  case EIO: return "EIO";
  case ENOSPC: return "ENOSPC";
  default: return "E?";
  }
}

/* zs_line_errno - append " errno=N (NAME)" for a nonzero e. */
void zs_line_errno(struct zs_line *l, int e) {
  if (!e)
    return;
  zs_line_str(l, " errno=");
  zs_line_dec(l, e);
  zs_line_str(l, " (");
  zs_line_str(l, zs_errno_name(e));
  zs_line_str(l, ")");
}

/* zs_line_start - reset l to "zapshim[PID]: TAG". */
void zs_line_start(struct zs_line *l, const char *tag) {
  zs_line_start_pid(l, 0, tag);
}

/* zs_line_start_pid - see log.h. */
void zs_line_start_pid(struct zs_line *l, int pid, const char *tag) {
  l->len = 0;
  zs_line_str(l, "zapshim[");
  zs_line_dec(l, pid ? (long long)pid : (long long)syscall(SYS_getpid));
  zs_line_str(l, "]: ");
  zs_line_str(l, tag);
}

/* write_all - write the whole buffer to fd, retrying on EINTR and short
 * writes; keeps the caller's errno. */
static void write_all(int fd, const char *p, size_t n) {
  int saved = errno;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break;
    p += w;
    n -= (size_t)w;
  }
  errno = saved;
}

/* zs_line_emit_to - finish the line and write it to fd. */
void zs_line_emit_to(struct zs_line *l, int fd) {
  l->buf[l->len++] = '\n';
  write_all(fd, l->buf, l->len);
}

/* zs_line_emit - finish the line and write it if logging is on. */
void zs_line_emit(struct zs_line *l) {
  int fd = log_dest();
  if (fd >= 0)
    zs_line_emit_to(l, fd);
}

/* zs_log_enabled - 1 if a destination is open (and, for a file of the
 * shim's, still is that file). */
int zs_log_enabled(void) {
  return log_dest() >= 0;
}

/* expand_pid - copy dest to out, replacing "%p" with the pid. Returns 0,
 * or ENAMETOOLONG. */
static int expand_pid(const char *dest, char *out, size_t cap) {
  struct zs_line pid;
  pid.len = 0;
  zs_line_dec(&pid, (long long)syscall(SYS_getpid));
  size_t n = 0;
  for (const char *s = dest; *s; s++) {
    const char *piece = s;
    size_t plen = 1;
    if (s[0] == '%' && s[1] == 'p') {
      piece = pid.buf;
      plen = pid.len;
      s++;
    }
    if (n + plen >= cap)
      return ENAMETOOLONG;
    memcpy(out + n, piece, plen);
    n += plen;
  }
  out[n] = 0;
  return 0;
}

/* high_fd - move fd to the shim's high numbers, so that the program's own
 * numbering is not disturbed. Returns the new fd (or fd itself if it
 * cannot be moved). */
static int high_fd(int fd) {
  int hi = zs_sys_dup_high(fd);
  if (hi < 0)
    return fd;
  zs_sys_close(fd);
  return hi;
}

/* zs_log_open - open the destination named by ZAPSHIM_LOG. */
int zs_log_open(const char *dest) {
  if (!dest || !*dest)
    return 0;
  if (strcmp(dest, "stderr") == 0) {
    zs_state.log_fd = 2;
    return 0;
  }
  char path[4096];
  int e = expand_pid(dest, path, sizeof path);
  if (e)
    return e;
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return errno;
  fd = high_fd(fd);
  struct stat st;
  if (fstat(fd, &st) == 0) {
    atomic_store_explicit(&g_log_dev, (uint64_t)st.st_dev, memory_order_relaxed);
    atomic_store_explicit(&g_log_ino, (uint64_t)st.st_ino, memory_order_relaxed);
    atomic_store_explicit(&g_log_own, true, memory_order_release);
  }
  zs_state.log_fd = fd;
  zs_sys_note_fd(fd);
  return 0;
}

/* zs_warn - a warning line; to the log, or to stderr if there is none. */
void zs_warn(const char *a, const char *b) {
  struct zs_line l;
  zs_line_start(&l, "warning: ");
  zs_line_str(&l, a);
  if (b)
    zs_line_str(&l, b);
  int fd = log_dest();
  zs_line_emit_to(&l, fd >= 0 ? fd : 2);
}
