/*
 * consumer.c - a program that links libzapshim instead of preloading it,
 * built by the install test through pkg-config and through find_package.
 * It uses the public API: version macros, zapshim_query, zapshim_madvise,
 * zapshim_kind_name. Exit 0 if everything holds; otherwise it says what.
 */
#define _GNU_SOURCE
#include <zapshim.h>

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if ZAPSHIM_VERSION_MAJOR < 0 || !defined(ZAPSHIM_VERSION_STRING)
#error "version macros missing"
#endif

/* fail - print why and return 1. */
static int fail(const char *why) {
  fprintf(stderr, "consumer: %s\n", why);
  return 1;
}

int main(void) {
  const size_t len = 4u << 20;
  int fd = memfd_create("consumer", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
    return fail("memfd");
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return fail("mmap");
  memset(p, 0xAB, len);

  struct zapshim_range_info info;
  if (zapshim_query(p + 4096, &info) != 0)
    return fail("zapshim_query failed");
  if (info.kind != ZAPSHIM_KIND_SHMEM_SHARED || info.start != (uintptr_t)p ||
      info.end != (uintptr_t)p + len || info.page_size != 4096)
    return fail("zapshim_query: wrong description of a shared memfd mapping");
  if (strcmp(zapshim_kind_name(info.kind), "shmem-shared") != 0)
    return fail("zapshim_kind_name");

  if (zapshim_madvise(p, len, MADV_DONTNEED) != 0)
    return fail("zapshim_madvise failed");
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_blocks != 0)
    return fail("zapshim_madvise(MADV_DONTNEED) did not free the shared memfd");
  for (size_t i = 0; i < len; i += 4096)
    if (p[i] != 0)
      return fail("zapped memory does not read zero");
  printf("consumer: zapshim %s (0x%06x) ok\n", ZAPSHIM_VERSION_STRING, ZAPSHIM_VERSION);
  return 0;
}
