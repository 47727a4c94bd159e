/*
 * jail_zap.c - a jailer-like program: it maps memory of every kind it can
 * have without /proc, fills it, then (mode "chroot DIR") chroot()s into an
 * empty directory the way Firecracker's jailer does, or (mode "here") stays
 * where it was started (already inside a root that has no /proc), and zaps
 * each mapping with MADV_DONTNEED and with MADV_REMOVE.  Mode "chroot DIR
 * fork" chroot()s first, then forks: the child (a process that never had
 * /proc of its own) maps, fills and zaps, as a jailed VMM's worker would.
 *
 * It judges nothing: for each cell it prints one line
 *
 *   CELL <kind> <advice> <ret> <errno name> zapped=<0|1> freed=<0|1|-1>
 *
 * and the harness (run_chroot.sh, run_unpriv.sh) compares the lines of a
 * run without the shim (the kernel's own answers) with a run under
 * LD_PRELOAD=libzapshim.so.  zapped: every byte of the mapped part reads
 * zero after the call.  freed: the memory is gone - mincore(2) reports no
 * page resident (anonymous: no page table entry; shmem: no page cache
 * page), a memfd's st_blocks is 0, or for huge pages the free huge page
 * count rose by the mapping's pages (read from a descriptor of sysfs opened
 * before the chroot, or passed in as JZ_HPFREE_FD); -1 when it cannot be
 * measured.  freed is measured before the read-back (reading a shmem hole
 * allocates a page).
 *
 * Lines starting "JAIL" tell the harness about the setting: whether
 * /proc/self/maps can be opened at zap time.  Exit status: 0 when every
 * cell ran (whatever its result), 77 when huge pages cannot be had (the
 * harness decides whether that skips or fails), 2 on a setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB ((size_t)1024 * 1024)
#define LEN (4 * MIB)          /* every mapping but the stack */
#define HUGE ((size_t)2 * MIB) /* the default huge page size (checked) */
#define STACK_LEN ((size_t)256 * 1024)
#define MALLOC_LEN (8 * MIB) /* far above glibc's mmap threshold */
#define FILL 0xAB

enum measure { M_MINCORE, M_BLOCKS, M_HUGE, M_NONE };

/* One mapping to zap: where, how much, and how "freed" is measured. */
struct cell {
  const char *kind;
  int advice;
  char *zap;          /* the range given to madvise */
  size_t zap_len;
  char *check;        /* the mapped part read back and measured */
  size_t check_len;
  char *check2;       /* a second mapped part (the hole cell), or NULL */
  size_t check2_len;
  enum measure how;
  int fd;             /* memfd for M_BLOCKS */
};

#define MAX_CELLS 32
static struct cell cells[MAX_CELLS];
static int ncells;
static int hpfree_fd = -1;
static size_t page;

/* die - a setup step failed: say which, exit 2. Never returns. */
static void die(const char *what) {
  fprintf(stderr, "jail_zap: %s: %s\n", what, strerror(errno));
  exit(2);
}

/* advice_name - "DONTNEED" or "REMOVE". */
static const char *advice_name(int advice) {
  return advice == MADV_REMOVE ? "REMOVE" : "DONTNEED";
}

/* add - append a cell whose checked range is its zapped range; returns it. */
static struct cell *add(const char *kind, int advice, void *p, size_t len, enum measure how) {
  if (ncells == MAX_CELLS) {
    errno = ENOSPC;
    die("too many cells");
  }
  struct cell *c = &cells[ncells++];
  *c = (struct cell){kind, advice, p, len, p, len, NULL, 0, how, -1};
  return c;
}

/* map_or_die - mmap through libc (the shim sees it) and fill it. */
static char *map_or_die(size_t len, int flags, int fd, const char *what) {
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
  if (p == MAP_FAILED)
    die(what);
  memset(p, FILL, len);
  return p;
}

/* map_huge - a MAP_HUGETLB mapping, filled; exits 77 if huge pages cannot
 * be had (no pool, all in use). */
static char *map_huge(int flags) {
  char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
  if (p == MAP_FAILED) {
    printf("JAIL need huge pages: mmap(MAP_HUGETLB) of 4 MiB: %s\n", strerror(errno));
    exit(77);
  }
  memset(p, FILL, LEN);
  return p;
}

/* sysv_map - a SysV segment attached and already marked for removal. */
static char *sysv_map(void) {
  int id = shmget(IPC_PRIVATE, LEN, IPC_CREAT | 0600);
  if (id < 0)
    die("shmget");
  char *p = shmat(id, NULL, 0);
  int e = errno;
  shmctl(id, IPC_RMID, NULL);
  errno = e;
  if (p == (void *)-1)
    die("shmat");
  printf("JAIL sysv shmid=%d\n", id);
  memset(p, FILL, LEN);
  return p;
}

/* hugepages_free - free default-size huge pages (pread of sysfs at 0
 * re-reads the value), or -1 without a descriptor. */
static long hugepages_free(void) {
  char buf[32];
  if (hpfree_fd < 0)
    return -1;
  ssize_t n = pread(hpfree_fd, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return -1;
  buf[n] = 0;
  return strtol(buf, NULL, 10);
}

/* resident - base pages of [p, p+len) that mincore reports resident, or
 * -1 if mincore fails. */
static long resident(const char *p, size_t len) {
  static unsigned char vec[MALLOC_LEN / 4096 + 2];
  size_t n = (len + page - 1) / page;
  if (n > sizeof vec || mincore((void *)p, len, vec) != 0)
    return -1;
  long r = 0;
  for (size_t i = 0; i < n; i++)
    r += vec[i] & 1;
  return r;
}

/* all_zero - true if every byte of [p, p+len) reads zero. */
static bool all_zero(const char *p, size_t len) {
  const volatile char *v = p;
  for (size_t i = 0; i < len; i++)
    if (v[i])
      return false;
  return true;
}

/* freed_after - 1 if the cell's memory is gone, 0 if not, -1 if it cannot
 * be told; hp_before is the free huge page count before the call. */
static int freed_after(const struct cell *c, long hp_before) {
  switch (c->how) {
  case M_MINCORE: {
    long r = resident(c->check, c->check_len);
    long r2 = c->check2 ? resident(c->check2, c->check2_len) : 0;
    return r < 0 || r2 < 0 ? -1 : r + r2 == 0;
  }
  case M_BLOCKS: {
    struct stat st;
    return fstat(c->fd, &st) != 0 ? -1 : st.st_blocks == 0;
  }
  case M_HUGE: {
    long after = hugepages_free();
    if (after < 0 || hp_before < 0)
      return -1;
    return after - hp_before >= (long)(c->check_len / HUGE);
  }
  case M_NONE:
    break;
  }
  return -1;
}

/* zap_cell - the program's own madvise through libc (the shim, when
 * preloaded), then the measures; prints the CELL line. */
static void zap_cell(const struct cell *c) {
  long hp_before = c->how == M_HUGE ? hugepages_free() : -1;
  errno = 0;
  int r = madvise(c->zap, c->zap_len, c->advice);
  int e = r == 0 ? 0 : errno;
  int freed = freed_after(c, hp_before);
  bool zapped = all_zero(c->check, c->check_len) &&
                (!c->check2 || all_zero(c->check2, c->check2_len));
  printf("CELL %s %s %d %s zapped=%d freed=%d\n", c->kind, advice_name(c->advice), r,
         e ? strerrorname_np(e) : "0", zapped, freed);
  fflush(stdout);
}

/* huge_page_is_2m - the default huge page size is 2 MiB (the sizes above
 * assume it); read /proc/meminfo while it can be read, else assume so. */
static bool huge_page_is_2m(void) {
  FILE *f = fopen("/proc/meminfo", "re");
  if (!f)
    return true;
  char line[128];
  bool ok = true;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "Hugepagesize:", 13) == 0)
      ok = strtoul(line + 13, NULL, 10) == HUGE / 1024;
  fclose(f);
  return ok;
}

/* map_all - every cell's memory except the stack's, for one advice. */
static void map_all(int advice) {
  add("anon-private", advice, map_or_die(LEN, MAP_PRIVATE | MAP_ANONYMOUS, -1, "anon private"),
      LEN, M_MINCORE);

  /* malloc's own mapping: glibc maps it with its internal mmap, which the
   * shim cannot see; the page-aligned interior is zapped. */
  char *m = malloc(MALLOC_LEN);
  if (!m)
    die("malloc");
  memset(m, FILL, MALLOC_LEN);
  char *ma = (char *)(((uintptr_t)m + page - 1) & ~(uintptr_t)(page - 1));
  size_t mlen = (MALLOC_LEN - (size_t)(ma - m)) & ~(page - 1);
  add("malloc", advice, ma, mlen, M_MINCORE);

  add("anon-shared", advice, map_or_die(LEN, MAP_SHARED | MAP_ANONYMOUS, -1, "anon shared"),
      LEN, M_MINCORE);

  int fd = memfd_create("jail_zap", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)LEN) != 0)
    die("memfd");
  add("memfd-shared", advice, map_or_die(LEN, MAP_SHARED, fd, "memfd shared"), LEN, M_BLOCKS)
      ->fd = fd;

  add("hugetlb-shared", advice, map_huge(MAP_SHARED), LEN, M_HUGE);
  add("hugetlb-private", advice, map_huge(MAP_PRIVATE), LEN, M_HUGE);
  add("sysv", advice, sysv_map(), LEN, M_MINCORE);

  /* bad input: a hole in the middle (the kernel: ENOMEM after zapping the
   * mapped parts), an unaligned start (EINVAL). */
  char *h = map_or_die(3 * page, MAP_PRIVATE | MAP_ANONYMOUS, -1, "hole");
  if (munmap(h + page, page) != 0)
    die("munmap");
  struct cell *c = add("anon-hole", advice, h, 3 * page, M_MINCORE);
  c->check_len = page;
  c->check2 = h + 2 * page;
  c->check2_len = page;
  char *u = map_or_die(2 * page, MAP_PRIVATE | MAP_ANONYMOUS, -1, "unaligned");
  c = add("anon-unaligned", advice, u + 1, page, M_MINCORE);
  c->check = u;
  c->check_len = 2 * page;
}

/* jail - chroot into dir and make it the working directory. */
static void jail(const char *dir) {
  if (chroot(dir) != 0)
    die("chroot");
  if (chdir("/") != 0)
    die("chdir /");
}

/* run - map, fill, jail if asked, zap; the stack buffers live in this
 * frame so they stay mapped while the cells are zapped. */
static int run(const char *jail_dir) {
  char stack_dn[STACK_LEN] __attribute__((aligned(4096)));
  char stack_rm[STACK_LEN] __attribute__((aligned(4096)));

  map_all(MADV_DONTNEED);
  map_all(MADV_REMOVE);
  memset(stack_dn, FILL, sizeof stack_dn);
  memset(stack_rm, FILL, sizeof stack_rm);
  add("stack", MADV_DONTNEED, stack_dn, sizeof stack_dn, M_MINCORE);
  add("stack", MADV_REMOVE, stack_rm, sizeof stack_rm, M_MINCORE);

  if (jail_dir)
    jail(jail_dir);
  int maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  printf("JAIL proc=%d uid=%d\n", maps >= 0, (int)getuid());
  if (maps >= 0)
    close(maps);
  fflush(stdout);

  for (int i = 0; i < ncells; i++)
    zap_cell(&cells[i]);
  /* keep the stack buffers live past the zaps */
  __asm__ volatile("" : : "r"(stack_dn), "r"(stack_rm) : "memory");
  return 0;
}

/* run_forked - chroot into dir, then fork: the child maps and zaps (run);
 * returns the child's exit status (128 + signal if it was killed). */
static int run_forked(const char *dir) {
  jail(dir);
  pid_t pid = fork();
  if (pid < 0)
    die("fork");
  if (pid == 0)
    _exit(run(NULL));
  int st;
  if (waitpid(pid, &st, 0) != pid)
    die("waitpid");
  if (WIFSIGNALED(st)) {
    printf("JAIL child killed by signal %d\n", WTERMSIG(st));
    return 128 + WTERMSIG(st);
  }
  return WEXITSTATUS(st);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  page = (size_t)sysconf(_SC_PAGESIZE);
  bool chroot_mode = (argc == 3 || argc == 4) && strcmp(argv[1], "chroot") == 0;
  bool fork_mode = chroot_mode && argc == 4 && strcmp(argv[3], "fork") == 0;
  if ((!chroot_mode && !(argc == 2 && strcmp(argv[1], "here") == 0)) ||
      (chroot_mode && argc == 4 && !fork_mode)) {
    fprintf(stderr, "usage: jail_zap chroot EMPTY_DIR [fork] | jail_zap here\n");
    return 2;
  }
  if (!huge_page_is_2m()) {
    printf("JAIL need huge pages: the default huge page size is not 2 MiB\n");
    return 77;
  }
  const char *hp = getenv("JZ_HPFREE_FD");
  hpfree_fd = hp ? atoi(hp)
                 : open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
                        O_RDONLY | O_CLOEXEC);
  if (fork_mode)
    return run_forked(argv[2]);
  return run(chroot_mode ? argv[2] : NULL);
}
