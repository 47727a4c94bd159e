/*
 * zapdemo.c - the smallest program that needs zapshim: 4 MiB of shared
 * memfd memory (or, with a path argument, of a new file at that path that
 * stays linked: a named file), filled, then a plain madvise(MADV_DONTNEED).
 * Prints how many bytes of the file are still allocated afterwards
 * ("freed" when 0).  Exit 0 if madvise returned 0.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
  const size_t len = 4u << 20;
  const char *what = argc > 1 ? "named file" : "memfd";
  int fd = argc > 1 ? open(argv[1], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)
                    : memfd_create("zapdemo", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
    return 2;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return 2;
  memset(p, 0xAB, len);
  int r = madvise(p, len, MADV_DONTNEED);
  struct stat st;
  fstat(fd, &st);
  printf("zapdemo: madvise(MADV_DONTNEED) = %d; %s still holds %lld bytes: %s\n", r, what,
         (long long)st.st_blocks * 512, st.st_blocks ? "NOT freed" : "freed");
  return r == 0 ? 0 : 1;
}
