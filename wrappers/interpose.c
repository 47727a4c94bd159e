/*
 * interpose.c - the libc entry points libzapshim.so stands in front of.
 *
 * Thin shells: each hands its arguments to the core (shim/hooks.c), which
 * makes the real call. mmap and mmap64 are one function under two names
 * (with _FILE_OFFSET_BITS=64, as CPython and QEMU build, calls bind to
 * mmap64). close, close_range, closefrom, dup2 and dup3 keep the shim's own
 * descriptors out of the program's way (shim/fdguard.c). Only these
 * symbols and the public API are exported.
 */
#define _GNU_SOURCE
#include "fdguard.h"
#include "hooks.h"
#include "init.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/shm.h>

#define ZS_EXPORT __attribute__((visibility("default")))

/* Bring the shim up when the library loads, before main(). Calls made
 * before (other libraries' constructors) pass straight through. */
__attribute__((constructor)) static void zs_load(void) {
  zs_init();
}

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

ZS_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  return zs_mmap(addr, len, prot, flags, fd, off);
}

ZS_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
    __attribute__((alias("mmap")));

ZS_EXPORT int munmap(void *addr, size_t len) {
  return zs_munmap(addr, len);
}

/* mremap's fifth argument exists only with MREMAP_FIXED or MREMAP_DONTUNMAP. */
ZS_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...) {
  void *new_addr = NULL;
  if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void *);
    va_end(ap);
  }
  return zs_mremap(old, old_len, new_len, flags, new_addr);
}

ZS_EXPORT int madvise(void *addr, size_t len, int advice) {
  return zs_madvise(addr, len, advice);
}

ZS_EXPORT void *shmat(int id, const void *addr, int flags) {
  return zs_shmat(id, addr, flags);
}

ZS_EXPORT int shmdt(const void *addr) {
  return zs_shmdt(addr);
}

ZS_EXPORT int close(int fd) {
  return zs_close(fd);
}

ZS_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  return zs_close_range(first, last, flags);
}

ZS_EXPORT void closefrom(int lowfd) {
  zs_closefrom(lowfd);
}

ZS_EXPORT int dup2(int oldfd, int newfd) {
  return zs_dup2(oldfd, newfd);
}

ZS_EXPORT int dup3(int oldfd, int newfd, int flags) {
  return zs_dup3(oldfd, newfd, flags);
}
