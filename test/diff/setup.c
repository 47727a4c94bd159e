/*
 * setup.c - the memory set-ups of the madvise cases (enum dkind in
 * diff.h).  Every set-up is made through libc, so under LD_PRELOAD the
 * shim has seen it mapped, as it would have in a real program; only the
 * call under test differs between the sides.
 */
#define _GNU_SOURCE
#include "setup.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21U << 26)
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif

#define RW (PROT_READ | PROT_WRITE)

/* map_memfd - a memfd of len bytes (flags for memfd_create) mapped with
 * prot and flags at e->base; the file is filled with file_fill by pwrite
 * first if file_fill is nonzero. */
static void map_memfd(struct denv *e, size_t len, unsigned mfd, int prot, int flags,
                      unsigned char file_fill) {
  e->fd = zt_make_memfd(len, mfd);
  if (file_fill)
    zt_pfill(e->fd, 0, len, file_fill);
  e->base = mmap(NULL, len, prot, flags, e->fd, 0);
  cr_assert(e->base != MAP_FAILED, "set-up mmap: %s", strerror(errno));
  e->len = len;
}

/* map_memfd_rdonly - a memfd of len bytes filled with ZT_FILE_FILL, mapped
 * with prot and flags through an O_RDONLY descriptor (reopened from
 * /proc/self/fd), which is the one kept in e->fd. */
static void map_memfd_rdonly(struct denv *e, size_t len, int prot, int flags) {
  char proc[64];
  int w = zt_make_memfd(len, 0);
  zt_pfill(w, 0, len, ZT_FILE_FILL);
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", w);
  e->fd = open(proc, O_RDONLY | O_CLOEXEC);
  cr_assert(e->fd >= 0, "reopen O_RDONLY: %s", strerror(errno));
  close(w);
  e->base = mmap(NULL, len, prot, flags, e->fd, 0);
  cr_assert(e->base != MAP_FAILED, "set-up mmap: %s", strerror(errno));
  e->len = len;
}

/* map_anon - len bytes of private anonymous memory filled with ZT_FILL. */
static void map_anon(struct denv *e, size_t len) {
  e->base = zt_map(len, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  e->len = len;
  zt_fill(e->base, len, ZT_FILL);
}

/* sealed_memfd - a sealable memfd of len bytes filled with ZT_FILE_FILL. */
static int sealed_memfd(size_t len) {
  int fd = memfd_create("zt-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  cr_assert(fd >= 0 && ftruncate(fd, (off_t)len) == 0, "sealable memfd: %s", strerror(errno));
  zt_pfill(fd, 0, len, ZT_FILE_FILL);
  return fd;
}

/* setup_sysv - a SysV segment of len bytes; read-only attach if ro (the
 * segment is filled with ZT_FILE_FILL through a writable attach first). */
static void setup_sysv(struct denv *e, size_t len, bool ro) {
  int id = shmget(IPC_PRIVATE, len, IPC_CREAT | 0600);
  cr_assert(id >= 0, "shmget: %s", strerror(errno));
  char *w = shmat(id, NULL, 0);
  cr_assert(w != (void *)-1, "shmat: %s", strerror(errno));
  zt_fill(w, len, ro ? ZT_FILE_FILL : ZT_FILL);
  if (ro) {
    cr_assert(shmdt(w) == 0);
    w = shmat(id, NULL, SHM_RDONLY);
    cr_assert(w != (void *)-1, "shmat(SHM_RDONLY): %s", strerror(errno));
  }
  shmctl(id, IPC_RMID, NULL);
  e->base = w;
  e->len = len;
  e->sysv = true;
}

/* setup_huge - two 2 MiB huge pages, AB: a shared or private hugetlb
 * memfd, or MAP_HUGETLB anonymous memory. */
static void setup_huge(struct denv *e, enum dkind k) {
  size_t len = 2 * ZT_HPAGE_2M;
  zt_need_hugepages(ZT_HPAGE_2M, 2);
  e->unit = ZT_HPAGE_2M;
  if (k == K_HUGE_ANON) {
    e->base = mmap(NULL, len, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
    cr_assert(e->base != MAP_FAILED, "MAP_HUGETLB: %s", strerror(errno));
    e->len = len;
  } else {
    map_memfd(e, len, MFD_HUGETLB | MFD_HUGE_2MB, RW, k == K_HUGE_SHARED ? MAP_SHARED : MAP_PRIVATE,
              0);
  }
  zt_fill(e->base, len, ZT_FILL);
}

/* setup_named_file - issue 14: a file on /dev/shm (unit 4 KiB, 4 pages) or
 * hugetlbfs (2 huge pages) mapped at e->base, shared (AB) or private (file
 * CD, mapping AB); unlinked after the mmap unless named.  hugetlbfs has no
 * write(2): its CD goes in through a shared mapping first. */
static void setup_named_file(struct denv *e, bool huge, bool priv, bool named) {
  size_t len = huge ? 2 * ZT_HPAGE_2M : 4 * 4096;
  if (huge) {
    zt_need_hugepages(ZT_HPAGE_2M, priv ? 4 : 2);
    e->unit = ZT_HPAGE_2M;
    e->fd = zt_make_hugetlbfs_file(ZT_HPAGE_2M, len, e->path, sizeof e->path);
  } else {
    e->fd = zt_make_file_in("/dev/shm", len, e->path, sizeof e->path);
  }
  if (priv && huge) {
    char *w = zt_map(len, MAP_SHARED, e->fd, 0);
    zt_fill(w, len, ZT_FILE_FILL);
    cr_assert(munmap(w, len) == 0);
  } else if (priv) {
    zt_pfill(e->fd, 0, len, ZT_FILE_FILL);
  }
  e->base = zt_map(len, priv ? MAP_PRIVATE : MAP_SHARED, e->fd, 0);
  e->len = len;
  zt_fill(e->base, len, ZT_FILL);
  if (!named) {
    cr_assert(unlink(e->path) == 0, "unlink %s: %s", e->path, strerror(errno));
    e->path[0] = 0;
  }
}

/* d_setup - see setup.h. */
void d_setup(enum dkind k, struct denv *e) {
  const size_t P = 4096, LEN = 4 * P;
  memset(e, 0, sizeof *e);
  e->fd = -1;
  e->unit = P;
  switch (k) {
  case K_ANON:
  case K_NONE_ANON:
  case K_LOCKED:
  case K_HOLE_ANON:
  case K_UNMAPPED:
    map_anon(e, LEN);
    break;
  case K_TAIL_ANON:
    map_anon(e, 2 * LEN);
    cr_assert(munmap(e->base + LEN, LEN) == 0);
    break;
  case K_MEMFD:
  case K_NONE_MEMFD:
  case K_LOCKED_MEMFD:
  case K_HOLE_MEMFD:
    map_memfd(e, LEN, 0, RW, MAP_SHARED, 0);
    zt_fill(e->base, LEN, ZT_FILL);
    break;
  case K_MEMFD_PRIV:
    map_memfd(e, LEN, 0, RW, MAP_PRIVATE, ZT_FILE_FILL);
    zt_fill(e->base, LEN, ZT_FILL);
    break;
  case K_MEMFD_RO:
    map_memfd(e, LEN, 0, PROT_READ, MAP_SHARED, ZT_FILE_FILL);
    break;
  case K_MEMFD_ROFD:
    map_memfd_rdonly(e, LEN, PROT_READ, MAP_SHARED);
    break;
  case K_SEALED:
    e->fd = sealed_memfd(LEN);
    cr_assert(fcntl(e->fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW) == 0,
              "F_SEAL_WRITE: %s", strerror(errno));
    e->base = mmap(NULL, LEN, PROT_READ, MAP_SHARED, e->fd, 0);
    cr_assert(e->base != MAP_FAILED, "mmap sealed: %s", strerror(errno));
    e->len = LEN;
    break;
  case K_PRIV_ROFD: /* issue 9: the shim may punch only what the program could write */
    map_memfd_rdonly(e, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    zt_fill(e->base, LEN, ZT_FILL);
    break;
  case K_PRIV_SEALED:
    e->fd = sealed_memfd(LEN);
    cr_assert(fcntl(e->fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW) == 0,
              "F_SEAL_WRITE: %s", strerror(errno));
    e->base = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, e->fd, 0);
    cr_assert(e->base != MAP_FAILED, "mmap sealed private: %s", strerror(errno));
    e->len = LEN;
    zt_fill(e->base, LEN, ZT_FILL);
    break;
  case K_FSEALED:
    e->fd = sealed_memfd(LEN);
    e->base = zt_map(LEN, MAP_SHARED, e->fd, 0);
    e->len = LEN;
    zt_fill(e->base, LEN, ZT_FILL);
    cr_assert(fcntl(e->fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0,
              "F_SEAL_FUTURE_WRITE: %s", strerror(errno));
    break;
  case K_SYSV:
  case K_SYSV_RO:
    setup_sysv(e, LEN, k == K_SYSV_RO);
    break;
  case K_EXT4_SHARED:
  case K_EXT4_PRIV:
    e->fd = zt_make_ext4_file(LEN, ZT_FILE_FILL, e->path, sizeof e->path);
    e->base = zt_map(LEN, k == K_EXT4_SHARED ? MAP_SHARED : MAP_PRIVATE, e->fd, 0);
    e->len = LEN;
    zt_fill(e->base, LEN, ZT_FILL);
    break;
  case K_HUGE_SHARED:
  case K_HUGE_PRIV:
  case K_HUGE_ANON:
    setup_huge(e, k);
    break;
  case K_SHMFILE_NAMED:
  case K_SHMFILE_NAMED_PRIV:
  case K_SHMFILE_GONE:
  case K_SHMFILE_GONE_PRIV:
  case K_HUGEFILE_NAMED:
  case K_HUGEFILE_NAMED_PRIV:
  case K_HUGEFILE_GONE:
    setup_named_file(e, k >= K_HUGEFILE_NAMED,
                     k == K_SHMFILE_NAMED_PRIV || k == K_SHMFILE_GONE_PRIV ||
                         k == K_HUGEFILE_NAMED_PRIV,
                     k == K_SHMFILE_NAMED || k == K_SHMFILE_NAMED_PRIV || k == K_HUGEFILE_NAMED ||
                         k == K_HUGEFILE_NAMED_PRIV);
    break;
  }
  /* The finishing touches that turn the plain set-ups into their kind. */
  if (k == K_NONE_ANON || k == K_NONE_MEMFD)
    cr_assert(mprotect(e->base, LEN, PROT_NONE) == 0, "mprotect: %s", strerror(errno));
  if (k == K_LOCKED || k == K_LOCKED_MEMFD)
    cr_assert(mlock(e->base, LEN) == 0, "mlock: %s", strerror(errno));
  if (k == K_HOLE_ANON || k == K_HOLE_MEMFD) {
    cr_assert(munmap(e->base + P, P) == 0);
    cr_assert(!d_mapped(e->base + P), "the hole stays a hole");
  }
  if (k == K_UNMAPPED)
    cr_assert(munmap(e->base, LEN) == 0);
}

/* d_teardown - see setup.h. */
void d_teardown(struct denv *e) {
  if (e->sysv)
    shmdt(e->base);
  else if (e->base)
    munmap(e->base, e->len);
  if (e->fd >= 0)
    close(e->fd);
  if (e->path[0])
    unlink(e->path);
}
