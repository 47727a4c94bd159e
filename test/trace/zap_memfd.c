/*
 * zap_memfd.c - a static program (built with gcc -static) for the syscall
 * path: map a shared memfd, fill it, madvise(MADV_DONTNEED) it with the raw
 * system call, and report what the kernel says: st_blocks of the memfd and
 * the first byte read back.  Exit 0 if the memfd was freed and reads zero,
 * 1 if the data stayed, 2 on a setup error.  With an argument "remove" it
 * asks MADV_REMOVE on a private anonymous mapping instead (the kernel says
 * EINVAL; the policy says DONTNEED: 0 and freed).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SIZE (4u << 20)

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "remove") == 0) {
    char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      return 2;
    memset(p, 0x5a, SIZE);
    long r = syscall(SYS_madvise, p, SIZE, MADV_REMOVE);
    printf("zap_memfd: MADV_REMOVE on private anon = %ld, first byte %d\n", r, p[0]);
    return r == 0 && p[0] == 0 ? 0 : 1;
  }
  int fd = memfd_create("zt-trace", 0);
  if (fd < 0 || ftruncate(fd, SIZE) != 0)
    return 2;
  char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return 2;
  memset(p, 0x5a, SIZE);
  long r = syscall(SYS_madvise, p, SIZE, MADV_DONTNEED);
  struct stat st;
  fstat(fd, &st);
  printf("zap_memfd: MADV_DONTNEED = %ld, memfd blocks %lld, first byte %d\n", r,
         (long long)st.st_blocks, p[0]);
  return r == 0 && st.st_blocks == 0 && p[0] == 0 ? 0 : 1;
}
