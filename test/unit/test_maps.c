/*
 * test_maps.c - zs_maps_open/query/close: the maps reader of any process
 * (PROCMAP_QUERY and parsed), against real processes: this one, a forked
 * child with a shared memfd, the same child after execve and after exit,
 * and a reader without the right to read (EACCES).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "state.h"
#include "testutil.h"
#include "unit_setup.h"
#include "vma.h"

#define LEN ((size_t)1 << 20)

static size_t ps;

/* setup - the zs_state fields vma.c reads. */
static void setup(void) { ps = unit_setup_state(); }

TestSuite(maps, .init = setup, .timeout = 30);

/* open_as - zs_maps_open with PROCMAP_QUERY allowed (pmq) or not. */
static int open_as(bool pmq, struct zs_maps *r, pid_t pid) {
  zs_state.caps.procmap_query = pmq;
  int rc = zs_maps_open(r, pid);
  zs_state.caps.procmap_query = true;
  return rc;
}

/* same_vma - the facts both sources give are equal. */
static void same_vma(const struct zs_vma *a, const struct zs_vma *b) {
  cr_assert_eq(a->start, b->start, "start %#lx vs %#lx", (unsigned long)a->start,
               (unsigned long)b->start);
  cr_assert_eq(a->end, b->end);
  cr_assert_eq(a->offset, b->offset);
  cr_assert_eq(a->dev_major, b->dev_major);
  cr_assert_eq(a->dev_minor, b->dev_minor);
  cr_assert_eq(a->ino, b->ino);
  cr_assert_eq(a->flags, b->flags);
  cr_assert_str_eq(a->name, b->name);
}

/* Reading this process as pid 0, as its own pid and through zs_vma_query
 * (the cached self path) gives the same VMA, both by PROCMAP_QUERY and by
 * parsing; closing is idempotent and a closed reader says EBADF. */
Test(maps, self_three_ways) {
  int fd = memfd_create("zt-maps-self", MFD_CLOEXEC);
  cr_assert_geq(fd, 0);
  cr_assert_eq(ftruncate(fd, (off_t)LEN), 0);
  char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  cr_assert_neq(p, MAP_FAILED);
  struct zs_vma want, got;
  cr_assert_eq(zs_vma_query((uintptr_t)p + 4096, &want), 0);
  cr_assert_eq(want.start, (uintptr_t)p);
  for (int pmq = 1; pmq >= 0; pmq--) {
    pid_t pids[2] = {0, getpid()};
    for (int i = 0; i < 2; i++) {
      struct zs_maps r;
      cr_assert_eq(open_as(pmq, &r, pids[i]), 0);
      cr_assert_eq(zs_maps_uses_query(&r), pmq);
      memset(&got, 0x5a, sizeof got);
      cr_assert_eq(zs_maps_query(&r, (uintptr_t)p + 4096, &got), 0);
      same_vma(&want, &got);
      cr_assert_eq(got.page_size, pmq ? ps : 0);
      /* a second query on the same descriptor reads it again from the start */
      cr_assert_eq(zs_maps_query(&r, 0, &got), 0);
      cr_assert_lt(got.start, (uintptr_t)p);
      cr_assert_eq(zs_maps_query(&r, UINTPTR_MAX - 4095, &got), ENOENT);
      zs_maps_close(&r);
      zs_maps_close(&r);
      cr_assert_eq(zs_maps_query(&r, 0, &got), EBADF);
    }
  }
  munmap(p, LEN);
  close(fd);
}

/* fork_child - a child that maps a shared memfd, writes its address on
 * *addr_out and waits for a byte on its stdin pipe: 'x' exits 0, 'e' runs
 * execve of "sleep 30".  Returns its pid; *cmd is the write end. */
static pid_t fork_child(uintptr_t *addr_out, int *cmd) {
  int up[2], down[2];
  cr_assert_eq(pipe2(up, O_CLOEXEC), 0);
  cr_assert_eq(pipe(down), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    close(up[0]);
    close(down[1]); /* a parent that fails before its command closes: EOF, exit */
    int fd = memfd_create("zt-maps-child", MFD_CLOEXEC);
    char *p = fd >= 0 && ftruncate(fd, (off_t)LEN) == 0
                ? mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                : MAP_FAILED;
    uintptr_t a = p == MAP_FAILED ? 0 : (uintptr_t)p;
    if (write(up[1], &a, sizeof a) != (ssize_t)sizeof a)
      _exit(3);
    char c = 0;
    if (read(down[0], &c, 1) != 1)
      _exit(4);
    if (c == 'e') {
      dup2(down[0], 0);
      execlp("sleep", "sleep", "30", (char *)NULL);
      _exit(5);
    }
    _exit(0);
  }
  close(up[1]);
  close(down[0]);
  cr_assert_eq(read(up[0], addr_out, sizeof *addr_out), (ssize_t)sizeof *addr_out);
  close(up[0]);
  cr_assert_neq(*addr_out, 0, "child could not map its memfd");
  *cmd = down[1];
  return pid;
}

/* Another process's VMAs: its memfd is found with its name and facts by
 * both sources, every VMA agrees between them, nothing above the top. */
Test(maps, child_both_sources_agree) {
  uintptr_t a;
  int cmd;
  pid_t pid = fork_child(&a, &cmd);
  struct zs_maps q, m;
  cr_assert_eq(open_as(true, &q, pid), 0);
  cr_assert_eq(open_as(false, &m, pid), 0);
  cr_assert_eq(zs_maps_uses_query(&q), 1);
  cr_assert_eq(zs_maps_uses_query(&m), 0);
  struct zs_vma vq, vm;
  cr_assert_eq(zs_maps_query(&q, a + 8192, &vq), 0);
  cr_assert_eq(vq.start, a);
  cr_assert_eq(vq.end, a + LEN);
  cr_assert_eq(vq.flags, ZS_VMA_READ | ZS_VMA_WRITE | ZS_VMA_SHARED);
  cr_assert_str_eq(vq.name, "/memfd:zt-maps-child (deleted)");
  cr_assert_neq(vq.ino, 0);
  /* walk every VMA with both */
  uintptr_t addr = 0;
  unsigned n = 0;
  for (;;) {
    int rq = zs_maps_query(&q, addr, &vq), rm = zs_maps_query(&m, addr, &vm);
    cr_assert_eq(rq, rm, "at %#lx: PROCMAP_QUERY %d, parsed %d", (unsigned long)addr, rq, rm);
    if (rq == ENOENT)
      break;
    cr_assert_eq(rq, 0);
    same_vma(&vq, &vm);
    cr_assert_gt(vq.end, addr);
    addr = vq.end;
    n++;
  }
  cr_assert_gt(n, 5, "only %u VMAs", n);
  zs_maps_close(&q);
  zs_maps_close(&m);
  cr_assert_eq(write(cmd, "x", 1), 1);
  close(cmd);
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* After the child runs execve, a reader opened before says ESRCH (its
 * descriptor names the old memory) with both sources; a new reader sees
 * the new program, without the memfd.  After exit (a zombie), ESRCH too;
 * once reaped, zs_maps_open says ESRCH. */
Test(maps, execve_and_exit_say_esrch) {
  uintptr_t a;
  int cmd;
  pid_t pid = fork_child(&a, &cmd);
  struct zs_maps q, m;
  struct zs_vma v;
  cr_assert_eq(open_as(true, &q, pid), 0);
  cr_assert_eq(open_as(false, &m, pid), 0);
  cr_assert_eq(zs_maps_query(&q, a, &v), 0);
  cr_assert_eq(zs_maps_query(&m, a, &v), 0);
  cr_assert_eq(write(cmd, "e", 1), 1);
  /* wait until the new program is in place: its exe is sleep */
  char link[256] = "", path[64];
  snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
  for (int i = 0; i < 400; i++) {
    ssize_t k = readlink(path, link, sizeof link - 1);
    link[k > 0 ? k : 0] = 0;
    if (strstr(link, "sleep"))
      break;
    usleep(5000);
  }
  cr_assert(strstr(link, "sleep"), "child did not exec sleep: %s", link);
  cr_assert_eq(zs_maps_query(&q, a, &v), ESRCH);
  cr_assert_eq(zs_maps_query(&m, a, &v), ESRCH);
  zs_maps_close(&q);
  zs_maps_close(&m);
  for (int pmq = 1; pmq >= 0; pmq--) {
    cr_assert_eq(open_as(pmq, &q, pid), 0);
    int rc = zs_maps_query(&q, a, &v);
    cr_assert(rc == ENOENT || (rc == 0 && strstr(v.name, "zt-maps-child") == NULL),
              "the memfd of the old program is still seen (rc %d, %s)", rc, v.name);
    zs_maps_close(&q);
  }
  /* exit: a zombie has no memory */
  cr_assert_eq(open_as(true, &q, pid), 0);
  cr_assert_eq(open_as(false, &m, pid), 0);
  cr_assert_eq(kill(pid, SIGKILL), 0);
  siginfo_t si;
  cr_assert_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
  cr_assert_eq(zs_maps_query(&q, 0, &v), ESRCH);
  cr_assert_eq(zs_maps_query(&m, 0, &v), ESRCH);
  zs_maps_close(&q);
  zs_maps_close(&m);
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  close(cmd);
  cr_assert_eq(zs_maps_open(&q, pid), ESRCH);
  cr_assert_eq(q.fd, -1);
  zs_maps_close(&q);
  cr_assert_eq(zs_maps_open(&q, -5), ESRCH);
}

/* A process without the right to read another (another uid, no
 * CAP_SYS_PTRACE): EACCES, not ESRCH and not "nothing mapped". */
Test(maps, not_allowed_is_eacces) {
  zt_need(geteuid() == 0, "root, to drop to another uid");
  pid_t parent = getpid();
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
      _exit(10);
    struct zs_maps r;
    int rc = zs_maps_open(&r, parent);
    zs_maps_close(&r);
    _exit(rc == EACCES ? 0 : rc == 0 ? 11 : 12);
  }
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st), "child died");
  cr_assert_eq(WEXITSTATUS(st), 0, "child's zs_maps_open: exit %d (11: allowed, 12: other errno)",
               WEXITSTATUS(st));
}
