/*
 * proc_zap.c - a static zapper for the process-control tests of
 * test/static (proc_control.sh), issue 10.  Every mode first proves one
 * zap: a 2 MiB shared memfd filled, madvise(MADV_DONTNEED), then the memfd
 * must hold no block and the mapping read zero.  A zap that was not made
 * whole makes the mode fail (exit 1), so a test passes only if the
 * supervisor really serves this process.
 *
 *   zap                     one proved zap; exit 0
 *   exit CODE               one proved zap, then exit CODE
 *   segv                    one proved zap, then a real SIGSEGV (NULL write)
 *   chain N EXE_A EXE_B     one proved zap; if N > 0: fork (N even) or
 *                           vfork (N odd) a child that (fork only: proves
 *                           a zap itself, then) execs EXE_A with
 *                           "chain N-1 EXE_B EXE_A" - so a musl and a
 *                           glibc static program alternate; the parent
 *                           waits, proves one more zap and exits 0 only if
 *                           every zap down the chain was whole
 *   loop DIR [NPROC]        NPROC processes (default 1: this one; more are
 *                           forked) each write DIR/pid.PID, then zap and
 *                           prove forever, 5 ms apart; a zap that was not
 *                           whole appends a line to DIR/lost; DIR/ready.PID
 *                           after the first zap.  Stops itself after 30 s
 *                           (alarm), so a leftover cannot live long.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zst.h"

#define LEN (2 * ZST_MIB)

/* one_zap - map, fill, zap and prove; true if the zap was whole.  Prints a
 * line naming what failed, as who (NULL: silent). */
static bool one_zap(const char *who) {
  int fd = zst_memfd("zst-proc", MFD_CLOEXEC, LEN);
  if (fd < 0) {
    printf("%s[%d]: memfd_create: %s\n", who, (int)getpid(), strerror(errno));
    return false;
  }
  char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    printf("%s[%d]: mmap: %s\n", who, (int)getpid(), strerror(errno));
    close(fd);
    return false;
  }
  zst_fill(p, LEN, 0xAB);
  int r = madvise(p, LEN, MADV_DONTNEED);
  int e = errno;
  long long bl = zst_blocks(fd);
  long bad = zst_find_not(p, LEN, 0);
  munmap(p, LEN);
  close(fd);
  bool ok = r == 0 && bl == 0 && bad < 0;
  if (!ok && who)
    printf("%s[%d]: zap not whole: madvise = %d (%s), memfd holds %lld blocks, %s\n", who,
           (int)getpid(), r, r ? strerror(e) : "-", bl, bad < 0 ? "reads zero" : "data kept");
  return ok;
}

/* append - append a line to path (O_APPEND: atomic for short lines). */
static void append(const char *path, const char *line) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    if (write(fd, line, strlen(line)) < 0) {
    }
    close(fd);
  }
}

/* loop - see the header: zap forever, record lost zaps. */
_Noreturn static void loop(const char *dir) {
  char path[512], line[128];
  alarm(30); /* also in forked copies: a pending alarm is not inherited */
  unsigned long lost = 0; /* only the first lost zap is printed */
  snprintf(path, sizeof path, "%s/pid.%d", dir, (int)getpid());
  append(path, "");
  for (unsigned long n = 0;; n++) {
    if (!one_zap(lost ? NULL : "loop")) {
      lost++;
      snprintf(path, sizeof path, "%s/lost", dir);
      snprintf(line, sizeof line, "pid %d zap %lu not whole\n", (int)getpid(), n);
      append(path, line);
    }
    if (n == 0) {
      snprintf(path, sizeof path, "%s/ready.%d", dir, (int)getpid());
      append(path, "");
    }
    usleep(5000);
  }
}

/* chain - see the header. */
static int chain(int n, const char *exe_a, const char *exe_b) {
  bool ok = one_zap("chain");
  if (n <= 0)
    return ok ? 0 : 1;
  char nbuf[16];
  snprintf(nbuf, sizeof nbuf, "%d", n - 1);
  char *args[] = {(char *)exe_a, "chain", nbuf, (char *)exe_b, (char *)exe_a, NULL};
  bool use_vfork = n % 2 == 1;
  pid_t pid = use_vfork ? vfork() : fork();
  if (pid < 0) {
    printf("chain[%d]: fork: %s\n", (int)getpid(), strerror(errno));
    return 1;
  }
  if (pid == 0) {
    if (!use_vfork && !one_zap("chain-child"))
      _exit(1);
    execv(exe_a, args);
    _exit(126);
  }
  int st = 0;
  if (waitpid(pid, &st, 0) != pid)
    return 1;
  bool child_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  if (!child_ok)
    printf("chain[%d]: child %d (%s) status 0x%x\n", (int)getpid(), (int)pid,
           use_vfork ? "vfork" : "fork", st);
  ok = one_zap("chain-after") && ok;
  printf("chain[%d]: depth %d %s\n", (int)getpid(), n, ok && child_ok ? "ok" : "FAILED");
  return ok && child_ok ? 0 : 1;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) {
    fprintf(stderr, "usage: %s zap|exit CODE|segv|chain N A B|loop DIR [NPROC]\n", argv[0]);
    return 2;
  }
  const char *mode = argv[1];
  if (strcmp(mode, "loop") == 0 && argc >= 3) {
    int nproc = argc >= 4 ? atoi(argv[3]) : 1;
    for (int i = 1; i < nproc; i++)
      if (fork() == 0)
        break;
    loop(argv[2]);
  }
  alarm(20);
  if (strcmp(mode, "zap") == 0)
    return one_zap("zap") ? 0 : 1;
  if (strcmp(mode, "exit") == 0 && argc >= 3)
    return one_zap("exit") ? atoi(argv[2]) : 1;
  if (strcmp(mode, "segv") == 0) {
    if (!one_zap("segv"))
      return 1;
    *(volatile int *)(uintptr_t)0 = 1;
    return 1;
  }
  if (strcmp(mode, "chain") == 0 && argc >= 5)
    return chain(atoi(argv[2]), argv[3], argv[4]);
  fprintf(stderr, "proc_zap: bad arguments\n");
  return 2;
}
