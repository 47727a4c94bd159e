/*
 * oom_envcheck.c - ZAPSHIM_FAULT_REGISTRY=N as libzapshim_fi.so reads it:
 * the first N node allocations succeed, every later one fails.  A plain
 * program (no test framework), so the only mappings the shim records are
 * the two below: with N = 1 the first is recorded and the second is not.
 *
 *   oom_envcheck fail   expects the second mapping unknown (N = 1)
 *   oom_envcheck keep   expects both recorded (unset, or not a number)
 *
 * Layout: a PROT_NONE guard of 4 pages made with the raw syscall (the shim
 * does not see it), then through libc: A = 2 read-write pages at page 1,
 * B = 1 page MAP_FIXED at page 2.  The kernel merges B into A's VMA, the
 * registry keeps [page 1, page 2) and [page 2, page 3), so zapshim_query
 * of page 2 tells a recorded B (the page) from an unknown one (the
 * kernel's merged VMA, from page 1).  Exits 0 if as expected, else 1.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "zapshim.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef int (*query_fn)(const void *, struct zapshim_range_info *);

/* bounds - what zapshim_query says of p; false if it failed. */
static int bounds(query_fn q, const char *p, uintptr_t *s, uintptr_t *e) {
  struct zapshim_range_info i;
  if (q(p, &i) != 0)
    return 0;
  *s = i.start;
  *e = i.end;
  return 1;
}

/* main - see the top of the file. */
int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "fail") && strcmp(argv[1], "keep"))) {
    fprintf(stderr, "usage: %s fail|keep\n", argv[0]);
    return 2;
  }
  int want_fail = !strcmp(argv[1], "fail");
  query_fn q = (query_fn)dlsym(RTLD_DEFAULT, "zapshim_query");
  if (!q || !dlsym(RTLD_DEFAULT, "zs_registry_fault_set")) {
    fprintf(stderr, "oom_envcheck: not under LD_PRELOAD=libzapshim_fi.so\n");
    return 1;
  }
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  long g = zt_syscall(SYS_mmap, NULL, 4 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g == -1) {
    perror("oom_envcheck: guard");
    return 1;
  }
  char *a = (char *)g + pg, *b = (char *)g + 2 * pg;
  int prot = PROT_READ | PROT_WRITE, fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
  if (mmap(a, 2 * pg, prot, fl, -1, 0) != a || mmap(b, pg, prot, fl, -1, 0) != b) {
    perror("oom_envcheck: mmap");
    return 1;
  }
  uintptr_t as, ae, bs, be;
  if (!bounds(q, a, &as, &ae) || !bounds(q, b, &bs, &be)) {
    fprintf(stderr, "oom_envcheck: zapshim_query failed\n");
    return 1;
  }
  int a_known = as == (uintptr_t)a && ae == (uintptr_t)b;  /* trimmed: the registry's */
  int b_known = bs == (uintptr_t)b && be == (uintptr_t)b + pg;
  int b_unknown = bs == (uintptr_t)a && be == (uintptr_t)b + pg; /* the merged VMA */
  int ok = a_known && (want_fail ? b_unknown : b_known);
  printf("oom_envcheck %s: A [%#lx, %#lx) %s, B [%#lx, %#lx) %s: %s\n", argv[1],
         (unsigned long)as, (unsigned long)ae, a_known ? "recorded" : "not recorded",
         (unsigned long)bs, (unsigned long)be,
         b_known ? "recorded" : b_unknown ? "unknown (the kernel's merged VMA)" : "?",
         ok ? "as expected" : "NOT as expected");
  return ok ? 0 : 1;
}
