/*
 * explain_target.c - a process for the --explain test: maps a shared
 * memfd, a private anonymous region, a shared file in /dev/shm that stays
 * linked (a named tmpfs file) and (if a hugetlbfs directory is given as
 * argv[1]) a shared hugetlbfs file, unlinked; prints "KIND START" per
 * mapping, then waits until its stdin closes and removes the named file.
 * With ZT_TRACER_COMM=NAME in the environment it is first traced
 * (PTRACE_SEIZE) by a child of its own whose command name is NAME (prints
 * "tracer PID"): how --explain tells who traces a process.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#define LEN ((size_t)4 << 20)

/* map_or_die - mmap read-write; exits 2 on failure. Returns the address. */
static char *map_or_die(int flags, int fd) {
  char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, flags, fd, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    _exit(2);
  }
  memset(p, 0xAB, LEN);
  return p;
}

/*
 * traced_by - fork a child named comm that seizes this process with ptrace
 * and passes every signal stop on until this process exits (it dies with
 * its parent: PR_SET_PDEATHSIG).  Returns the child's pid once it traces
 * this process; exits 2 on failure.
 */
static pid_t traced_by(const char *comm) {
  int ok[2];
  pid_t parent = getpid();
  if (pipe(ok) != 0)
    _exit(2);
  prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
  pid_t t = fork();
  if (t < 0)
    _exit(2);
  if (t == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    prctl(PR_SET_NAME, comm, 0, 0, 0);
    char r = ptrace(PTRACE_SEIZE, parent, 0, 0) == 0 ? 'y' : 'n';
    if (write(ok[1], &r, 1) != 1 || r != 'y')
      _exit(1);
    int st;
    while (waitpid(parent, &st, __WALL) == parent && WIFSTOPPED(st))
      ptrace(PTRACE_CONT, parent, 0, (void *)(long)WSTOPSIG(st));
    _exit(0);
  }
  char r = 0;
  if (read(ok[0], &r, 1) != 1 || r != 'y') {
    fprintf(stderr, "explain_target: could not be traced\n");
    _exit(2);
  }
  close(ok[0]);
  close(ok[1]);
  return t;
}

/* main - map, report, wait for EOF on stdin; returns 0 (2 on failure). */
int main(int argc, char **argv) {
  const char *tracer = getenv("ZT_TRACER_COMM");
  if (tracer && *tracer)
    printf("tracer %d\n", (int)traced_by(tracer));
  int mfd = memfd_create("zt-explain", MFD_CLOEXEC);
  if (mfd < 0 || ftruncate(mfd, (off_t)LEN) != 0)
    return 2;
  printf("memfd %lx\n", (unsigned long)map_or_die(MAP_SHARED, mfd));
  printf("anon %lx\n", (unsigned long)map_or_die(MAP_PRIVATE | MAP_ANONYMOUS, -1));
  char named[128];
  snprintf(named, sizeof named, "/dev/shm/zt-explain-named.%d", (int)getpid());
  int nfd = open(named, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (nfd < 0 || ftruncate(nfd, (off_t)LEN) != 0)
    return 2;
  printf("named %lx %s\n", (unsigned long)map_or_die(MAP_SHARED, nfd), named);
  if (argc > 1) {
    char path[4096];
    snprintf(path, sizeof path, "%s/zt-explain.%d", argv[1], (int)getpid());
    int hfd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (hfd < 0 || ftruncate(hfd, (off_t)LEN) != 0)
      return 2;
    printf("hugetlbfs %lx %s\n", (unsigned long)map_or_die(MAP_SHARED, hfd), path);
    unlink(path);
  }
  printf("ready\n");
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0)
    ;
  unlink(named);
  return 0;
}
