/*
 * lines.h - reading a text file of the kernel (maps, mountinfo) line by
 * line into buffers on the caller's stack, and the small parsers of its
 * fields.  No malloc, no stdio, no shared state: async-signal-safe.
 * Uses nothing of zapshim.
 */
#ifndef ZS_LINES_H
#define ZS_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Size of the chunks files are read in. */
#define ZS_LINES_CHUNK 4096

/* A line reader over a descriptor; lives on the caller's stack. */
struct zs_lines {
  int fd;
  uint64_t off; /* file offset of the next read */
  size_t pos, len;
  char buf[ZS_LINES_CHUNK];
};

/* zs_lines_init - start reading fd from its first byte (with pread: the
 * descriptor's own offset is neither used nor moved, so a kept descriptor
 * of a /proc file can be read again from the start). */
void zs_lines_init(struct zs_lines *r, int fd);

/*
 * zs_lines_next - the next line of r (without its newline) in line[cap],
 * NUL-terminated, truncated to cap - 1 bytes (*trunc says so); a line split
 * across two reads is joined.  Returns 1 for a line, 0 at end of file, or
 * -1 with errno from read.
 */
int zs_lines_next(struct zs_lines *r, char *line, size_t cap, size_t *len, bool *trunc);

/* zs_parse_hex - one or more hex digits at *p into *v; advances *p.
 * Returns false (nothing moved) if there is none. */
bool zs_parse_hex(const char **p, uint64_t *v);

/* zs_parse_dec - one or more decimal digits at *p into *v; advances *p.
 * Returns false (nothing moved) if there is none. */
bool zs_parse_dec(const char **p, uint64_t *v);

/* zs_expect - consume the character c at *p; false if it is not there. */
bool zs_expect(const char **p, char c);

#endif
