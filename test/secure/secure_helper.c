/*
 * secure_helper.c - run setuid-root by an unprivileged user (secure
 * execution, AT_SECURE=1) with the shim preloaded. Exit codes: 0 the shim
 * is loaded and zaps; 2 not in secure execution; 3 shim not loaded; 4 the
 * zap did not free the memfd.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
  if (getauxval(AT_SECURE) != 1)
    return 2;
  if (!dlsym(RTLD_DEFAULT, "zapshim_query"))
    return 3;
  const size_t len = 1u << 20;
  int fd = memfd_create("secure", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
    return 4;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return 4;
  memset(p, 0xAB, len);
  struct stat st;
  if (madvise(p, len, MADV_DONTNEED) != 0 || fstat(fd, &st) != 0 || st.st_blocks != 0)
    return 4;
  return 0;
}
