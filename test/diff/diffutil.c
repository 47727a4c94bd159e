/*
 * diffutil.c - the calls by side, and the state afterwards as text.
 */
#define _GNU_SOURCE
#include "diff.h"
#include "testutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE 4096UL

/* d_madvise - see diff.h. */
int d_madvise(enum dside s, void *a, size_t len, int advice) {
  if (s == D_SHIM)
    return madvise(a, len, advice);
  return (int)zt_syscall(SYS_madvise, a, len, advice);
}

/* d_mmap - see diff.h. */
void *d_mmap(enum dside s, void *a, size_t len, int prot, int flags, int fd, off_t off) {
  if (s == D_SHIM)
    return mmap(a, len, prot, flags, fd, off);
  long r = zt_syscall(SYS_mmap, a, len, prot, flags, fd, off);
  return r == -1 ? MAP_FAILED : (void *)r;
}

/* d_munmap - see diff.h. */
int d_munmap(enum dside s, void *a, size_t len) {
  if (s == D_SHIM)
    return munmap(a, len);
  return (int)zt_syscall(SYS_munmap, a, len);
}

/* d_mremap - see diff.h. new_addr is passed to libc only with the flags
 * that make mremap read it, as a program would. */
void *d_mremap(enum dside s, void *old, size_t old_len, size_t new_len, int flags, void *na) {
  if (s == D_SHIM) {
    if (flags & (MREMAP_FIXED | 4 /* MREMAP_DONTUNMAP */))
      return mremap(old, old_len, new_len, flags, na);
    return mremap(old, old_len, new_len, flags);
  }
  long r = zt_syscall(SYS_mremap, old, old_len, new_len, flags, na);
  return r == -1 ? MAP_FAILED : (void *)r;
}

/* d_shmat - see diff.h. */
void *d_shmat(enum dside s, int id, const void *a, int flags) {
  if (s == D_SHIM)
    return shmat(id, a, flags);
  long r = zt_syscall(SYS_shmat, id, a, flags);
  return r == -1 ? (void *)-1 : (void *)r;
}

/* d_shmdt - see diff.h. */
int d_shmdt(enum dside s, const void *a) {
  if (s == D_SHIM)
    return shmdt(a);
  return (int)zt_syscall(SYS_shmdt, a);
}

/* d_close - see diff.h. */
int d_close(enum dside s, int fd) {
  if (s == D_SHIM)
    return close(fd);
  return (int)zt_syscall(SYS_close, fd);
}

/* d_dup2 - see diff.h. */
int d_dup2(enum dside s, int oldfd, int newfd) {
  if (s == D_SHIM)
    return dup2(oldfd, newfd);
  return (int)zt_syscall(SYS_dup2, oldfd, newfd);
}

/* d_dup3 - see diff.h. */
int d_dup3(enum dside s, int oldfd, int newfd, int flags) {
  if (s == D_SHIM)
    return dup3(oldfd, newfd, flags);
  return (int)zt_syscall(SYS_dup3, oldfd, newfd, flags);
}

/* d_close_range - see diff.h. */
int d_close_range(enum dside s, unsigned first, unsigned last, int flags) {
  if (s == D_SHIM)
    return close_range(first, last, flags);
  return (int)zt_syscall(SYS_close_range, first, last, flags);
}

/* d_result - see diff.h. */
void d_result(struct dres *r, long ret) {
  r->err = ret == -1 ? errno : 0;
  r->ret = ret;
}

/* d_result_ptr - see diff.h. */
void d_result_ptr(struct dres *r, void *p, void *failed) {
  r->err = p == failed ? errno : 0;
  r->ret = p == failed ? -1 : 0;
}

/* d_state_add - see diff.h. */
void d_state_add(struct dres *r, const char *fmt, ...) {
  size_t used = strlen(r->state);
  if (used + 1 >= sizeof r->state)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->state + used, sizeof r->state - used, fmt, ap);
  va_end(ap);
}

/* d_mapped - see diff.h. */
bool d_mapped(const void *p) {
  unsigned char vec[1];
  void *pg = (void *)((uintptr_t)p & ~(PAGE - 1));
  return mincore(pg, PAGE, vec) == 0 || errno != ENOMEM;
}

/* mem_token - the first byte of the page at p as two characters; reads
 * with process_vm_readv, so PROT_NONE and guard pages give "xx" instead
 * of a signal. */
static void mem_token(const void *p, char tok[3]) {
  if (!d_mapped(p)) {
    memcpy(tok, "--", 3);
    return;
  }
  unsigned char b;
  struct iovec local = {&b, 1}, remote = {(void *)p, 1};
  if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != 1) {
    memcpy(tok, "xx", 3);
    return;
  }
  snprintf(tok, 3, "%02X", b);
}

/* file_token - the byte at off of fd ("  " without fd, ".." past EOF). */
static void file_token(int fd, off_t off, char tok[3]) {
  unsigned char b;
  if (fd < 0) {
    memcpy(tok, "  ", 3);
    return;
  }
  if (pread(fd, &b, 1, off) != 1) {
    memcpy(tok, "..", 3);
    return;
  }
  snprintf(tok, 3, "%02X", b);
}

/* d_state_region - see diff.h. */
void d_state_region(struct dres *r, const char *what, const void *base, size_t len, int fd,
                    off_t foff) {
  size_t pages = (len + PAGE - 1) / PAGE;
  char cur[6] = "", tok[6];
  size_t from = 0;
  d_state_add(r, "%s:", what);
  for (size_t i = 0; i <= pages; i++) {
    if (i < pages) {
      char m[3], f[3];
      mem_token((const char *)base + i * PAGE, m);
      file_token(fd, foff + (off_t)(i * PAGE), f);
      snprintf(tok, sizeof tok, "%s%s%s", m, fd >= 0 ? "/" : "", fd >= 0 ? f : "");
      if (i == 0)
        memcpy(cur, tok, sizeof cur);
      if (strcmp(tok, cur) == 0)
        continue;
    }
    if (i - from == 1)
      d_state_add(r, " p%zu=%s", from, cur);
    else
      d_state_add(r, " p%zu-%zu=%s", from, i - 1, cur);
    from = i;
    memcpy(cur, tok, sizeof cur);
  }
  d_state_add(r, ";");
}

/* d_errname - see diff.h. */
const char *d_errname(int e) {
  switch (e) {
  case 0: return "0";
  case EINVAL: return "EINVAL";
  case ENOMEM: return "ENOMEM";
  case EACCES: return "EACCES";
  case EPERM: return "EPERM";
  case EBADF: return "EBADF";
  case EFAULT: return "EFAULT";
  case EEXIST: return "EEXIST";
  case EAGAIN: return "EAGAIN";
  case ENODEV: return "ENODEV";
  case EIDRM: return "EIDRM";
  case EBUSY: return "EBUSY";
  case EOPNOTSUPP: return "EOPNOTSUPP";
  case EOVERFLOW: return "EOVERFLOW";
  case ENXIO: return "ENXIO";
  case ETXTBSY: return "ETXTBSY";
  default: return strerror(e);
  }
}
