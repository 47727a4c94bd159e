/*
 * zap_suite.c - every memory kind x both advices, proved against the real
 * kernel, in a program zapshim's preload cannot reach (issue 10).
 *
 * Built three ways by test/static/CMakeLists.txt: `gcc -static`,
 * `musl-gcc -static`, and dynamically calling syscall(SYS_madvise) (the
 * raw-syscall caller; `--raw` selects that in any build, ZST_RAW_DEFAULT
 * makes it the default).  Run under `zapshim --` (`--trace --` for the raw
 * one) every case must pass; run alone, the shared kinds' MADV_DONTNEED
 * and the private kinds' MADV_REMOVE fail - proof that the suite sees a
 * zap that did not happen.
 *
 * Each case maps 4 MiB of one kind, fills it, calls madvise once over the
 * whole range and checks what README's policy table says zapshim gives:
 *
 *   ZAP   returns 0; freed (st_blocks of the file, mincore, smaps Rss or
 *         *_Hugetlb of the mapping); a userfaultfd missing fault on the
 *         next touch where userfaultfd can register that memory (not SysV);
 *         reads back zero
 *   COPY  (memfd/tmpfs private, DONTNEED) returns 0; the private copies
 *         are gone (smaps Anonymous 0) and the mapping reads the file,
 *         whose data is kept (pre-filled with 0xCD)
 *   KEEP  (ext4 DONTNEED, ext4 private REMOVE) returns 0; the file keeps
 *         every byte and block
 *   PUNCH (ext4 shared REMOVE: the program's own call, passed through)
 *         returns 0; the file range reads zero and its blocks are gone
 *
 * Usage: zap_suite [--raw] [--libc] [--only SUBSTRING]
 * Exit 0 when every case passed (skips allowed), 1 otherwise.  Huge page
 * cases need 2 free huge pages and a 2 MiB hugetlbfs mount: with CI=true
 * their absence fails the case, elsewhere it skips it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "zst.h"

#define LEN (4 * ZST_MIB)
#define FILL 0xAB
#define FILE_FILL 0xCD
#define TMPFS_MAGIC_ 0x01021994

enum expect { EX_ZAP, EX_COPY, EX_KEEP, EX_PUNCH };

enum backing { B_ANON, B_MEMFD, B_TMPFS, B_SYSV, B_HUGEFILE, B_HUGEMEMFD, B_MAPHUGE, B_EXT4 };

struct kind {
  const char *name;
  enum backing b;
  bool shared;
};

static const struct kind kinds[] = {
    {"anon-private", B_ANON, false},
    {"anon-shared", B_ANON, true},
    {"memfd-shared", B_MEMFD, true},
    {"memfd-private", B_MEMFD, false},
    {"tmpfs-unlinked-shared", B_TMPFS, true},
    {"tmpfs-unlinked-private", B_TMPFS, false},
    {"sysv-shm", B_SYSV, true},
    {"hugetlbfs-unlinked-shared", B_HUGEFILE, true},
    {"hugetlbfs-unlinked-private", B_HUGEFILE, false},
    {"hugetlb-memfd-shared", B_HUGEMEMFD, true},
    {"hugetlb-memfd-private", B_HUGEMEMFD, false},
    {"map-hugetlb-shared", B_MAPHUGE, true},
    {"map-hugetlb-private", B_MAPHUGE, false},
    {"ext4-file-shared", B_EXT4, true},
    {"ext4-file-private", B_EXT4, false},
};

/* One case's memory. */
struct mem {
  char *p;
  char *guard;       /* anon private: the guarded area it sits in, or NULL */
  int fd;            /* backing file, or -1 */
  bool huge;
  uint64_t uffd;     /* features a missing-fault probe needs; 0: none can */
  unsigned char file_byte; /* what the file holds before the zap */
};

static bool is_huge(enum backing b) { return b == B_HUGEFILE || b == B_HUGEMEMFD || b == B_MAPHUGE; }

/* expect_of - what README's policy table says zapshim gives. */
static enum expect expect_of(const struct kind *k, int advice) {
  if (k->b == B_EXT4) {
    if (k->shared && advice == MADV_REMOVE)
      return EX_PUNCH;
    return EX_KEEP;
  }
  if ((k->b == B_MEMFD || k->b == B_TMPFS) && !k->shared && advice == MADV_DONTNEED)
    return EX_COPY;
  return EX_ZAP;
}

/* make_mem - map LEN bytes of kind k; false (case failed or skipped) if it
 * could not be made.  The file of a file-backed kind holds FILE_FILL for
 * private kinds (so the mapping reading the file can be told from one
 * reading zeros), nothing (a hole) for shared shmem/hugetlb kinds. */
static bool make_mem(const struct kind *k, struct mem *m) {
  int share = k->shared ? MAP_SHARED : MAP_PRIVATE;
  int prot = PROT_READ | PROT_WRITE;
  char dir[512], path[640];
  memset(m, 0, sizeof *m);
  m->fd = -1;
  m->p = MAP_FAILED;
  m->huge = is_huge(k->b);
  if (m->huge) {
    long free_hp = zst_hugepages_free();
    if (!zst_need(free_hp >= (long)(LEN / ZST_HPAGE), "2 free 2 MiB huge pages"))
      return false;
  }
  switch (k->b) {
  case B_ANON:
    if (!k->shared) {
      /* Between two PROT_NONE guard pages, so the kernel cannot merge the
       * mapping with a neighbour and smaps describes exactly this one. */
      char *g = mmap(NULL, LEN + 2 * ZST_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (!zst_check(g != MAP_FAILED, "mmap: %s", strerror(errno)))
        return false;
      m->guard = g;
      if (!zst_check(mprotect(g + ZST_PAGE, LEN, prot) == 0, "mprotect: %s", strerror(errno)))
        return false;
      m->p = g + ZST_PAGE;
    } else {
      m->p = mmap(NULL, LEN, prot, share | MAP_ANONYMOUS, -1, 0);
    }
    m->uffd = k->shared ? ZST_UFFD_SHMEM : ZST_UFFD_ANON;
    break;
  case B_MEMFD:
  case B_HUGEMEMFD:
    m->fd = zst_memfd("zst", MFD_CLOEXEC | (k->b == B_HUGEMEMFD ? MFD_HUGETLB | MFD_HUGE_2MB : 0),
                      LEN);
    if (!zst_check(m->fd >= 0, "memfd_create: %s", strerror(errno)))
      return false;
    m->uffd = k->b == B_HUGEMEMFD ? ZST_UFFD_HUGETLB : ZST_UFFD_SHMEM;
    break;
  case B_TMPFS: {
    struct statfs sf;
    if (!zst_need(statfs("/dev/shm", &sf) == 0 && sf.f_type == TMPFS_MAGIC_, "tmpfs at /dev/shm"))
      return false;
    snprintf(path, sizeof path, "/dev/shm/zst-suite.%d", (int)getpid());
    m->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (!zst_check(m->fd >= 0, "open %s: %s", path, strerror(errno)))
      return false;
    unlink(path);
    if (!zst_check(ftruncate(m->fd, LEN) == 0, "ftruncate: %s", strerror(errno)))
      return false;
    m->uffd = ZST_UFFD_SHMEM;
    break;
  }
  case B_HUGEFILE:
    if (!zst_need(zst_hugetlbfs_dir(dir, sizeof dir), "a 2 MiB hugetlbfs mount"))
      return false;
    snprintf(path, sizeof path, "%s/zst-suite.%d", dir, (int)getpid());
    m->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (!zst_check(m->fd >= 0, "open %s: %s", path, strerror(errno)))
      return false;
    unlink(path);
    if (!zst_check(ftruncate(m->fd, LEN) == 0, "ftruncate: %s", strerror(errno)))
      return false;
    m->uffd = ZST_UFFD_HUGETLB;
    break;
  case B_SYSV: {
    int id = shmget(IPC_PRIVATE, LEN, IPC_CREAT | 0600);
    if (!zst_check(id >= 0, "shmget: %s", strerror(errno)))
      return false;
    void *a = shmat(id, NULL, 0);
    shmctl(id, IPC_RMID, NULL);
    if (!zst_check(a != (void *)-1, "shmat: %s", strerror(errno)))
      return false;
    m->p = a;
    m->uffd = 0; /* userfaultfd cannot register SysV shm */
    break;
  }
  case B_MAPHUGE:
    m->p = mmap(NULL, LEN, prot, share | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
    m->uffd = ZST_UFFD_HUGETLB;
    break;
  case B_EXT4: {
    const char *d = zst_ext4_dir();
    if (!zst_need(d != NULL, "a writable ext4 directory (ZT_EXT4_DIR, /var/tmp, /tmp)"))
      return false;
    snprintf(path, sizeof path, "%s/zst-suite.%d", d, (int)getpid());
    m->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (!zst_check(m->fd >= 0, "open %s: %s", path, strerror(errno)))
      return false;
    unlink(path);
    if (!zst_check(zst_pfill(m->fd, 0, LEN, FILE_FILL) && fsync(m->fd) == 0, "fill the file"))
      return false;
    m->file_byte = FILE_FILL;
    m->uffd = 0; /* userfaultfd cannot register ext4 files */
    break;
  }
  }
  if (m->fd >= 0 && !k->shared && k->b != B_EXT4 && !m->huge) {
    /* Private shmem: give the file data of its own. */
    if (!zst_check(zst_pfill(m->fd, 0, LEN, FILE_FILL), "fill the file: %s", strerror(errno)))
      return false;
    m->file_byte = FILE_FILL;
  }
  if (m->p == MAP_FAILED && m->fd >= 0)
    m->p = mmap(NULL, LEN, prot, share, m->fd, 0);
  if (!zst_check(m->p != MAP_FAILED, "mmap: %s", strerror(errno))) {
    m->p = MAP_FAILED;
    return false;
  }
  return true;
}

/* free_mem - undo make_mem. */
static void free_mem(const struct kind *k, struct mem *m) {
  if (m->guard) {
    munmap(m->guard, LEN + 2 * ZST_PAGE);
  } else if (m->p != MAP_FAILED) {
    if (k->b == B_SYSV)
      shmdt(m->p);
    else
      munmap(m->p, LEN);
  }
  if (m->fd >= 0)
    close(m->fd);
}

/* file_blocks - st_blocks of what backs the mapping (its fd, or the file
 * behind it through /proc/self/map_files); -1 if unknown. */
static long long file_blocks(const struct mem *m) {
  return m->fd >= 0 ? zst_blocks(m->fd) : zst_map_blocks(m->p);
}

/* mapped_kb - what this mapping maps now: *_Hugetlb for huge kinds, Rss
 * otherwise. */
static long mapped_kb(const struct mem *m) {
  return m->huge ? zst_smaps_kb(m->p, "Private_Hugetlb", "Shared_Hugetlb")
                 : zst_smaps_kb(m->p, "Rss", NULL);
}

/* check_filled - the fill is visible to the measures (proves they can see
 * memory, so a 0 after the zap means freed). */
static void check_filled(const struct kind *k, const struct mem *m) {
  long kb = mapped_kb(m);
  zst_check(kb == (long)(LEN / 1024), "after the fill the mapping maps %ld kB, want %zu", kb,
            LEN / 1024);
  if (k->shared && k->b != B_EXT4) {
    long long bl = file_blocks(m);
    if (bl >= 0)
      zst_check(bl == (long long)(LEN / 512), "after the fill the file has %lld blocks, want %zu",
                bl, LEN / 512);
  }
}

/* check_zapped - EX_ZAP: freed, missing fault, zeros. */
static void check_zapped(const struct kind *k, const struct mem *m) {
  long kb = mapped_kb(m);
  zst_check(kb == 0, "smaps: the mapping still maps %ld kB (%s)", kb, m->huge ? "hugetlb" : "Rss");
  if (!m->huge) {
    long res = zst_resident(m->p, LEN);
    zst_check(res == 0, "mincore: %ld of %zu pages resident", res, LEN / ZST_PAGE);
  }
  if (k->shared || m->fd >= 0) {
    long long bl = file_blocks(m);
    if (bl < 0)
      zst_note("st_blocks of the backing file unknown (map_files: %s)", strerror(errno));
    else
      zst_check(bl == 0, "the backing file still holds %lld blocks (%lld KiB)", bl, bl / 2);
  }
  if (m->fd >= 0 && !m->huge)
    zst_check(zst_hole(m->fd, 0, LEN), "SEEK_DATA finds data in the file");
  if (m->uffd) {
    int mf = zst_missing_fault(m->p, LEN, m->uffd);
    if (mf < 0) {
      if (!zst_need(errno != ENOSYS && errno != EPERM, "userfaultfd"))
        return;
      zst_check(false, "userfaultfd register: %s", strerror(errno));
    } else {
      zst_check(mf == 2, "userfaultfd: %d of 2 probe reads were missing faults", mf);
    }
  }
  long bad = zst_find_not(m->p, LEN, 0);
  zst_check(bad < 0, "reads back 0x%02x at offset %ld, want 0",
            bad < 0 ? 0 : ((unsigned char *)m->p)[bad], bad);
}

/* check_case - run one (kind, advice) case. */
static void check_case(const struct kind *k, int advice) {
  struct mem m;
  if (!make_mem(k, &m)) {
    free_mem(k, &m);
    return;
  }
  zst_fill(m.p, LEN, FILL);
  if (k->b == B_EXT4 && k->shared)
    m.file_byte = FILL; /* the program's writes are the file's data */
  long long blocks_before = m.fd >= 0 ? zst_blocks(m.fd) : -1;
  check_filled(k, &m);

  errno = 0;
  int r = zst_madvise(m.p, LEN, advice);
  int e = errno;
  enum expect ex = expect_of(k, advice);
  zst_check(r == 0, "madvise(%s) = %d, errno %d (%s); zapshim gives 0", zst_advice_name(advice), r,
            e, r ? strerror(e) : "-");

  switch (ex) {
  case EX_ZAP:
    check_zapped(k, &m);
    break;
  case EX_COPY: {
    long anon = zst_smaps_kb(m.p, "Anonymous", NULL);
    zst_check(anon == 0, "private copies still mapped: Anonymous %ld kB", anon);
    long bad = zst_find_not(m.p, LEN, m.file_byte);
    zst_check(bad < 0, "the mapping should read the file (0x%02x), reads 0x%02x at %ld", m.file_byte,
              bad < 0 ? 0 : ((unsigned char *)m.p)[bad], bad);
    long pb = zst_pfind_not(m.fd, 0, LEN, m.file_byte);
    zst_check(pb == -1, "the file lost data: pread finds a byte not 0x%02x at %ld", m.file_byte, pb);
    break;
  }
  case EX_KEEP: {
    long pb = zst_pfind_not(m.fd, 0, LEN, m.file_byte);
    zst_check(pb == -1, "the ext4 file lost data: pread finds a byte not 0x%02x at %ld",
              m.file_byte, pb);
    long long bl = zst_blocks(m.fd);
    zst_check(bl == blocks_before, "the ext4 file has %lld blocks, had %lld", bl, blocks_before);
    long bad = zst_find_not(m.p, LEN, m.file_byte);
    zst_check(bad < 0, "the mapping should read the file (0x%02x), reads 0x%02x at %ld",
              m.file_byte, bad < 0 ? 0 : ((unsigned char *)m.p)[bad], bad);
    break;
  }
  case EX_PUNCH: {
    long pb = zst_pfind_not(m.fd, 0, LEN, 0);
    zst_check(pb == -1, "the program's own MADV_REMOVE should punch the file: byte %ld not 0", pb);
    long long bl = zst_blocks(m.fd);
    zst_check(bl == 0, "the file still holds %lld blocks after its punch", bl);
    long bad = zst_find_not(m.p, LEN, 0);
    zst_check(bad < 0, "the mapping reads non-zero at %ld after the punch", bad);
    break;
  }
  }
  free_mem(k, &m);
}

int main(int argc, char **argv) {
#ifdef ZST_RAW_DEFAULT
  zst_raw = true;
#endif
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--raw") == 0)
      zst_raw = true;
    else if (strcmp(argv[i], "--libc") == 0)
      zst_raw = false;
    else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
      only = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--raw|--libc] [--only SUBSTRING]\n", argv[0]);
      return 2;
    }
  }
  alarm(25); /* bounded: ctest allows 30 s */
  printf("zap_suite: pid %d, madvise through %s\n", (int)getpid(),
         zst_raw ? "syscall(SYS_madvise)" : "libc madvise()");
  int advices[] = {MADV_DONTNEED, MADV_REMOVE};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    for (int a = 0; a < 2; a++) {
      char name[96];
      snprintf(name, sizeof name, "%s/%s", kinds[i].name, zst_advice_name(advices[a]));
      if (only && !strstr(name, only))
        continue;
      zst_begin(name);
      check_case(&kinds[i], advices[a]);
      zst_end();
    }
  }
  return zst_summary();
}
