/*
 * test_sysv_ns.c - SysV shared memory in a fresh IPC namespace (every
 * container, a freshly booted machine): the first segment gets shmid 0,
 * and the kernel shows the shmid as the inode, so /proc/self/maps says
 * inode 0 for it.  It must still be classified as SysV shmem (or hugetlb)
 * on both query paths, and a plain MADV_DONTNEED through the core
 * (zs_shmat + zs_madvise, no LD_PRELOAD) must free it: a second view of
 * the segment, attached past the shim, shows no resident page and reads
 * zero.
 *
 * Each case runs in a fork child that unshare(CLONE_NEWIPC)s (root): the
 * shmid is 0 by construction, whatever ids the machine used before.  If
 * unshare is refused, the case fails under CI=true and is skipped with the
 * reason otherwise (zt_need).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "classify.h"
#include "hooks.h"
#include "sys.h"
#include "state.h"
#include "testutil.h"
#include "unit_setup.h"
#include "vma.h"
#include "zapshim.h"

#ifndef SHM_HUGETLB
#define SHM_HUGETLB 04000
#endif

#define MiB ((size_t)1 << 20)
#define NO_NS 77 /* child exit: unshare(CLONE_NEWIPC) refused */

static size_t ps;

static void setup(void) {
  cr_assert(zs_init(), "the core comes up (the hooks pass through until it does)");
  ps = unit_setup_state();
}

TestSuite(sysv_ns, .init = setup);

/* fail - in the child: say why on stderr and exit with code. */
static void fail(int code, const char *what) {
  fprintf(stderr, "sysv_ns child: %s (errno %s)\n", what, strerror(errno));
  _exit(code);
}

/* classify_both - the kind, flags and inode of the VMA at p on the
 * PROCMAP_QUERY and on the maps path; exits the child on a mismatch. */
static void classify_both(void *p, size_t len, int kind, uint8_t flags) {
  for (int pmq = 1; pmq >= 0; pmq--) {
    struct zs_vma v;
    struct zs_map m;
    zs_state.caps.procmap_query = pmq;
    int rc = zs_vma_query((uintptr_t)p, &v);
    zs_state.caps.procmap_query = true;
    if (rc != 0 || v.start != (uintptr_t)p || v.end != (uintptr_t)p + len)
      fail(10 + pmq, "zs_vma_query does not find the segment");
    if (v.ino != 0)
      fail(12, "the kernel does not show inode 0 for shmid 0");
    zs_classify_vma(&v, &m);
    if (m.kind != kind || m.flags != flags) {
      fprintf(stderr, "sysv_ns child: %s path: kind %d flags %#x, want %d %#x (name '%s')\n",
              pmq ? "PROCMAP_QUERY" : "maps", m.kind, m.flags, kind, flags, v.name);
      _exit(20 + pmq);
    }
  }
}

/*
 * run_case - in a fork child with a fresh IPC namespace: a segment of len
 * bytes (shmflg adds SHM_HUGETLB) must get shmid 0, classify as kind with
 * flags, and a plain DONTNEED through zs_madvise must free it.  The parent
 * reports the child's verdict.
 */
static void run_case(size_t len, int shmflg, int kind, uint8_t flags) {
  pid_t pid = fork();
  cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    alarm(20); /* bounded */
    if (unshare(CLONE_NEWIPC) != 0)
      _exit(NO_NS);
    int id = shmget(IPC_PRIVATE, len, IPC_CREAT | shmflg | 0600);
    if (id < 0)
      fail(2, "shmget");
    if (id != 0)
      fail(3, "a fresh IPC namespace did not give shmid 0");
    char *p = zs_shmat(id, NULL, 0);
    if (p == (void *)-1)
      fail(4, "zs_shmat");
    char *view = zs_sys_shmat(id, NULL, 0); /* past the shim's registry */
    if (view == (void *)-1)
      fail(5, "second shmat");
    shmctl(id, IPC_RMID, NULL);
    memset(p, 0xab, len);
    if (zs_madvise(p, len, MADV_DONTNEED) != 0)
      fail(6, "zs_madvise(MADV_DONTNEED)");
    /* freed, not just unmapped from this view: the other view maps nothing
     * (checked before reading, which would allocate) and reads zero */
    size_t pages = len / ps;
    unsigned char vec[1024];
    if (pages > sizeof vec || mincore(view, len, vec) != 0)
      fail(7, "mincore");
    for (size_t i = 0; i < pages; i++)
      if (vec[i] & 1)
        fail(8, "a page of the segment is still resident after the zap");
    for (size_t i = 0; i < len; i++)
      if (view[i] || p[i])
        fail(9, "the segment still holds data after the zap");
    classify_both(p, len, kind, flags);
    _exit(0);
  }
  int st = 0;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  zt_need(!(WIFEXITED(st) && WEXITSTATUS(st) == NO_NS),
          "unshare(CLONE_NEWIPC): needs root (CAP_SYS_ADMIN) for a fresh IPC namespace");
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
            "shmid 0 in a fresh IPC namespace: child status %#x (see its stderr)", st);
}

/* shmem SysV segment, shmid 0. */
Test(sysv_ns, shmem_shmid0_classified_and_zapped) {
  run_case(64 * ps, 0, ZAPSHIM_KIND_SHMEM_SHARED, ZS_MAP_SHARED | ZS_MAP_SYSV);
}

/* SHM_HUGETLB segment, shmid 0 (the maps path has no page size: the
 * internal hugetlb device or the file itself must say it). */
Test(sysv_ns, hugetlb_shmid0_classified_and_zapped) {
  zt_need_hugepages(ZT_HPAGE_2M, 2);
  run_case(2 * ZT_HPAGE_2M, SHM_HUGETLB, ZAPSHIM_KIND_HUGETLB_SHARED,
           ZS_MAP_SHARED | ZS_MAP_HUGETLB | ZS_MAP_SYSV);
}
