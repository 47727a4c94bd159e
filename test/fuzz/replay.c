/*
 * replay.c - main() for the registry harness where libFuzzer is not
 * linked (the gcc build, the UBSan/TSan builds): runs every file named,
 * every file in every directory named, and then -n N pseudo-random inputs
 * (-s SEED), each through LLVMFuzzerTestOneInput.  A mismatch aborts.
 *
 * Usage: fuzz_registry_replay [-n N] [-s SEED] [FILE|DIR]...
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* run_file - one input from path. Returns 0, or -1 if it cannot be read. */
static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return -1;
  static uint8_t buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  LLVMFuzzerTestOneInput(buf, n);
  return 0;
}

/* run_path - a file, or every regular file of a directory. Returns the
 * number of inputs run, or -1 if path cannot be read. */
static long run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    return -1;
  if (!S_ISDIR(st.st_mode))
    return run_file(path) == 0 ? 1 : -1;
  DIR *d = opendir(path);
  if (!d)
    return -1;
  long n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", path, e->d_name);
    if (run_file(p) == 0)
      n++;
  }
  closedir(d);
  return n;
}

/* next - xorshift64 step. */
static uint64_t next(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

/* main - replay the paths, then the random inputs; print the figures. */
int main(int argc, char **argv) {
  unsigned long runs = 0, seed = 1;
  int c;
  while ((c = getopt(argc, argv, "n:s:")) != -1) {
    if (c == 'n')
      runs = strtoul(optarg, NULL, 0);
    else if (c == 's')
      seed = strtoul(optarg, NULL, 0);
    else {
      fprintf(stderr, "usage: %s [-n N] [-s SEED] [FILE|DIR]...\n", argv[0]);
      return 2;
    }
  }
  long files = 0;
  for (int i = optind; i < argc; i++) {
    long n = run_path(argv[i]);
    if (n < 0) {
      fprintf(stderr, "fuzz_registry_replay: cannot read %s\n", argv[i]);
      return 2;
    }
    files += n;
  }
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  static uint8_t buf[2049];
  for (unsigned long r = 0; r < runs; r++) {
    size_t len = 1 + (size_t)(next(&x) % (sizeof buf - 1));
    for (size_t i = 0; i < len; i++)
      buf[i] = (uint8_t)(next(&x) >> 32);
    LLVMFuzzerTestOneInput(buf, len);
  }
  printf("fuzz_registry_replay: %ld corpus inputs and %lu random inputs (seed %lu) agree with "
         "the model\n", files, runs, seed);
  return 0;
}
