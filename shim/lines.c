/*
 * lines.c - reading a text file of the kernel line by line, and the small
 * parsers of its fields.  Raw syscalls only (never interposed by another
 * preload, never a cancellation point); buffers on the caller's stack.
 */
#define _GNU_SOURCE
#include "lines.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* zs_pread - pread(2) at off, retried on EINTR; bytes, 0 at end, or -1.
 * Reading at an explicit offset lets one descriptor of a maps file be read
 * again from the start without lseek (the seq_file restarts at 0). */
static ssize_t zs_pread(int fd, char *buf, size_t len, uint64_t off) {
  ssize_t n;
  do
    n = (ssize_t)syscall(SYS_pread64, fd, buf, len, (off_t)off);
  while (n < 0 && errno == EINTR);
  return n;
}

/* zs_lines_init - see lines.h. */
void zs_lines_init(struct zs_lines *r, int fd) {
  r->fd = fd;
  r->off = 0;
  r->pos = r->len = 0;
}

/* zs_lines_next - see lines.h. */
int zs_lines_next(struct zs_lines *r, char *line, size_t cap, size_t *len, bool *trunc) {
  size_t n = 0;
  bool any = false;
  *trunc = false;
  for (;;) {
    if (r->pos == r->len) {
      ssize_t k = zs_pread(r->fd, r->buf, sizeof r->buf, r->off);
      if (k < 0)
        return -1;
      r->off += (uint64_t)k;
      if (k == 0) {
        if (!any)
          return 0;
        break; /* last line without a newline */
      }
      r->pos = 0;
      r->len = (size_t)k;
    }
    const char *s = r->buf + r->pos;
    size_t avail = r->len - r->pos;
    const char *nl = memchr(s, '\n', avail);
    size_t take = nl ? (size_t)(nl - s) : avail;
    any = true;
    if (n + 1 < cap) {
      size_t c = take < cap - 1 - n ? take : cap - 1 - n;
      memcpy(line + n, s, c);
      n += c;
      if (c < take)
        *trunc = true;
    } else if (take) {
      *trunc = true;
    }
    r->pos += take + (nl ? 1 : 0);
    if (nl)
      break;
  }
  line[n] = '\0';
  *len = n;
  return 1;
}

/* zs_parse_hex - see lines.h. */
bool zs_parse_hex(const char **p, uint64_t *v) {
  const char *s = *p;
  uint64_t x = 0;
  for (;; s++) {
    unsigned d;
    if (*s >= '0' && *s <= '9')
      d = (unsigned)(*s - '0');
    else if (*s >= 'a' && *s <= 'f')
      d = (unsigned)(*s - 'a' + 10);
    else if (*s >= 'A' && *s <= 'F')
      d = (unsigned)(*s - 'A' + 10);
    else
      break;
    x = x << 4 | d;
  }
  if (s == *p)
    return false;
  *p = s;
  *v = x;
  return true;
}

/* zs_parse_dec - see lines.h. */
bool zs_parse_dec(const char **p, uint64_t *v) {
  const char *s = *p;
  uint64_t x = 0;
  for (; *s >= '0' && *s <= '9'; s++)
    x = x * 10 + (uint64_t)(*s - '0');
  if (s == *p)
    return false;
  *p = s;
  *v = x;
  return true;
}

/* zs_expect - see lines.h. */
bool zs_expect(const char **p, char c) {
  if (**p != c)
    return false;
  (*p)++;
  return true;
}
