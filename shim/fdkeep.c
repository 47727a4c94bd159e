/*
 * fdkeep.c - the table of descriptors the shim keeps for later zaps.
 *
 * A fixed table of slots {fd, dev, ino, refs}; a slot is in use while refs
 * > 0.  One slot per file (dev, ino).  Kept descriptors are O_CLOEXEC and
 * sit at a high number (just under the RLIMIT_NOFILE soft limit), never at
 * a number the program would get from open() or dup().
 *
 * The table's mutex guards table updates only.  Inside it the code calls
 * nothing but fstat, which no one interposes; dup, open and close happen
 * outside it.  The program may close or dup2 over a kept number behind our
 * back: every use re-checks with fstat that the number still names the
 * file, and a number that no longer does is never closed by the shim (it is
 * the program's now).  Every public function leaves errno as it found it.
 */
#include "fdkeep.h"
#include "map.h"
#include "sys.h"
#include "vma.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define ZS_FDKEEP_SLOTS 256

struct zs_kept {
  int fd;
  uint32_t dev;
  uint64_t ino;
  uint32_t refs; /* 0: the slot is free */
};

static struct zs_kept zs_table[ZS_FDKEEP_SLOTS];
static pthread_mutex_t zs_table_lock = PTHREAD_MUTEX_INITIALIZER;

/* names - 1 if fd is open and is the file (dev, ino), else 0. */
static int names(int fd, uint32_t dev, uint64_t ino) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0)
    return 0;
  return zs_dev_pack(major(st.st_dev), minor(st.st_dev)) == dev && (uint64_t)st.st_ino == ino;
}

/* find_locked - the in-use slot for (dev, ino), or -1. Table lock held. */
static int find_locked(uint32_t dev, uint64_t ino) {
  for (int s = 0; s < ZS_FDKEEP_SLOTS; s++)
    if (zs_table[s].refs > 0 && zs_table[s].dev == dev && zs_table[s].ino == ino)
      return s;
  return -1;
}

/*
 * ref_existing - if a slot keeps (dev, ino) and its number still names that
 * file, take a reference on it and return it; else -1.
 */
static int ref_existing(uint32_t dev, uint64_t ino) {
  pthread_mutex_lock(&zs_table_lock);
  int s = find_locked(dev, ino);
  if (s >= 0 && names(zs_table[s].fd, dev, ino))
    zs_table[s].refs++;
  else
    s = -1;
  pthread_mutex_unlock(&zs_table_lock);
  return s;
}

/*
 * adopt - put hfd, a high descriptor confirmed to name (dev, ino), in the
 * table with one reference.  If a slot has the file already (another thread
 * got there first) hfd is closed and that slot referenced; if that slot's
 * number no longer names the file, hfd replaces it (the old number is the
 * program's: left open).  Returns the slot, or -ENOSPC (hfd closed).
 */
static int adopt(int hfd, uint32_t dev, uint64_t ino) {
  int extra = -1, s;
  zs_sys_note_fd(hfd);
  pthread_mutex_lock(&zs_table_lock);
  s = find_locked(dev, ino);
  if (s >= 0) {
    if (names(zs_table[s].fd, dev, ino))
      extra = hfd;
    else
      zs_table[s].fd = hfd;
    zs_table[s].refs++;
  } else {
    for (s = 0; s < ZS_FDKEEP_SLOTS && zs_table[s].refs > 0; s++)
      ;
    if (s < ZS_FDKEEP_SLOTS) {
      zs_table[s] = (struct zs_kept){.fd = hfd, .dev = dev, .ino = ino, .refs = 1};
    } else {
      extra = hfd;
      s = -ENOSPC;
    }
  }
  pthread_mutex_unlock(&zs_table_lock);
  if (extra >= 0)
    zs_sys_close(extra);
  return s;
}

/*
 * keep_high - duplicate fd at a high number (zs_sys_dup_high) and keep it for
 * (dev, ino).  Returns the slot, or -errno: EMFILE / EINVAL if no high
 * number is free (never falls back to a low one), ESTALE if fd is not the
 * file (dev, ino), ENOSPC if the table is full.
 */
static int keep_high(int fd, uint32_t dev, uint64_t ino) {
  int hfd = zs_sys_dup_high(fd);
  if (hfd < 0)
    return hfd;
  if (!names(hfd, dev, ino)) {
    zs_sys_close(hfd);
    return -ESTALE;
  }
  return adopt(hfd, dev, ino);
}

/*
 * zs_fdkeep_get - the slot keeping (dev, ino), taking one reference;
 * duplicates fd at a high number when no slot has that file (or the slot's
 * number was taken over by the program).  Returns the slot, or -errno
 * (EINVAL: bad fd or unknown dev/ino; plus those of keep_high).
 */
int zs_fdkeep_get(int fd, uint32_t dev, uint64_t ino) {
  int saved = errno, s;
  if (fd < 0 || dev == 0 || ino == 0)
    s = -EINVAL;
  else if ((s = ref_existing(dev, ino)) < 0)
    s = keep_high(fd, dev, ino);
  errno = saved;
  return s;
}

/*
 * keep_opened - keep lfd, a descriptor the shim just opened (or -1 with
 * errno from the open), for (dev, ino) at a high number, and close lfd.
 * Returns the slot or -errno (those of the open, or of keep_high).
 */
static int keep_opened(int lfd, uint32_t dev, uint64_t ino) {
  if (lfd < 0)
    return -errno;
  int s = keep_high(lfd, dev, ino);
  zs_sys_close(lfd);
  return s;
}

/*
 * zs_fdkeep_open_path - like zs_fdkeep_get for a path: a slot already
 * keeping (dev, ino) is referenced without opening anything; otherwise path
 * is opened O_RDWR|O_CLOEXEC, checked to be (dev, ino), moved to a high
 * number and the low one closed.  Returns the slot or -errno (ESTALE if the
 * path is another file, EINVAL if dev or ino is unknown).
 */
int zs_fdkeep_open_path(const char *path, uint32_t dev, uint64_t ino) {
  int saved = errno, s;
  if (path == NULL || dev == 0 || ino == 0) {
    s = -EINVAL;
  } else if ((s = ref_existing(dev, ino)) < 0) {
    s = keep_opened(open(path, O_RDWR | O_CLOEXEC), dev, ino);
  }
  errno = saved;
  return s;
}

/* zs_fdkeep_ref - one more user of an in-use slot; others are ignored. */
void zs_fdkeep_ref(int slot) {
  if (slot < 0 || slot >= ZS_FDKEEP_SLOTS)
    return;
  pthread_mutex_lock(&zs_table_lock);
  if (zs_table[slot].refs > 0)
    zs_table[slot].refs++;
  pthread_mutex_unlock(&zs_table_lock);
}

/*
 * zs_fdkeep_unref - one fewer user of a slot; the last one frees the slot
 * and closes its descriptor, unless the number no longer names the file
 * (then it is the program's and stays open).  Free or bad slots are ignored.
 */
void zs_fdkeep_unref(int slot) {
  if (slot < 0 || slot >= ZS_FDKEEP_SLOTS)
    return;
  int saved = errno, fd = -1;
  struct zs_kept k = {0};
  pthread_mutex_lock(&zs_table_lock);
  if (zs_table[slot].refs > 0 && --zs_table[slot].refs == 0) {
    k = zs_table[slot];
    fd = k.fd;
    zs_table[slot].fd = -1;
  }
  pthread_mutex_unlock(&zs_table_lock);
  if (fd >= 0 && names(fd, k.dev, k.ino))
    zs_sys_close(fd);
  errno = saved;
}

/*
 * zs_fdkeep_fd - the descriptor of an in-use slot if fstat confirms it
 * still names (dev, ino); else -1.
 */
int zs_fdkeep_fd(int slot, uint32_t dev, uint64_t ino) {
  if (slot < 0 || slot >= ZS_FDKEEP_SLOTS)
    return -1;
  int saved = errno, fd = -1;
  pthread_mutex_lock(&zs_table_lock);
  if (zs_table[slot].refs > 0 && zs_table[slot].dev == dev && zs_table[slot].ino == ino)
    fd = zs_table[slot].fd;
  pthread_mutex_unlock(&zs_table_lock);
  if (!names(fd, dev, ino))
    fd = -1;
  errno = saved;
  return fd;
}

/*
 * zs_fdkeep_owns - 1 if an in-use slot keeps the number fd and fstat
 * shows the number still names that slot's file; else 0.  A slot whose
 * number now names something else (closed behind the shim's back, then
 * reused by the program) loses the number: it is the program's.
 */
int zs_fdkeep_owns(int fd) {
  int owned = 0, saved = errno;
  if (fd < 0)
    return 0;
  pthread_mutex_lock(&zs_table_lock);
  for (int s = 0; s < ZS_FDKEEP_SLOTS && !owned; s++) {
    if (zs_table[s].refs == 0 || zs_table[s].fd != fd)
      continue;
    if (names(fd, zs_table[s].dev, zs_table[s].ino))
      owned = 1;
    else
      zs_table[s].fd = -1;
  }
  pthread_mutex_unlock(&zs_table_lock);
  errno = saved;
  return owned;
}

/*
 * zs_fdkeep_reset_after_fork - in a fork child, make the table lock free
 * again (a thread that no longer exists may have held it).  The slots stay:
 * the child inherited the descriptors.
 */
void zs_fdkeep_reset_after_fork(void) {
  pthread_mutex_init(&zs_table_lock, NULL);
}

/*
 * zs_fdkeep_relocate - the program wants the number fd: if a slot keeps
 * it and it still names the slot's file, move the slot to another high
 * number (the old number is left for the program's dup2 to replace).  A
 * number that names something else is the program's: the slot forgets it
 * and nothing is duplicated (the program's descriptor never enters the
 * table).  Returns 1 if moved, 0 if fd is not kept, -errno if it was kept
 * but no other number was free (the slot then has no descriptor: later
 * punches of that file fall back and log).
 */
int zs_fdkeep_relocate(int fd) {
  int r = 0, saved = errno;
  if (fd < 0)
    return 0;
  pthread_mutex_lock(&zs_table_lock);
  for (int s = 0; s < ZS_FDKEEP_SLOTS; s++) {
    if (zs_table[s].refs == 0 || zs_table[s].fd != fd)
      continue;
    if (!names(fd, zs_table[s].dev, zs_table[s].ino)) {
      zs_table[s].fd = -1;
      continue;
    }
    int hi = zs_sys_dup_high(fd);
    zs_table[s].fd = hi >= 0 ? hi : -1;
    if (hi >= 0)
      zs_sys_note_fd(hi);
    r = hi >= 0 ? 1 : hi;
    break;
  }
  pthread_mutex_unlock(&zs_table_lock);
  errno = saved;
  return r;
}

/* zs_fdkeep_list - the kept descriptor numbers that fstat confirms still
 * name their slot's file, at most cap of them, into out (a number the
 * program took over is forgotten, not listed).  Returns how many. */
int zs_fdkeep_list(int *out, int cap) {
  int n = 0, saved = errno;
  pthread_mutex_lock(&zs_table_lock);
  for (int s = 0; s < ZS_FDKEEP_SLOTS && n < cap; s++) {
    if (zs_table[s].refs == 0 || zs_table[s].fd < 0)
      continue;
    if (names(zs_table[s].fd, zs_table[s].dev, zs_table[s].ino))
      out[n++] = zs_table[s].fd;
    else
      zs_table[s].fd = -1;
  }
  pthread_mutex_unlock(&zs_table_lock);
  errno = saved;
  return n;
}

/*
 * zs_fdkeep_open_map_file - see fdkeep.h.  A slot already keeping (dev,
 * ino) is referenced without opening anything; otherwise the map_files
 * entry is opened O_RDWR through the kept /proc (zs_vma_open_map_file),
 * checked to be (dev, ino), moved to a high number and the low one closed.
 */
int zs_fdkeep_open_map_file(uintptr_t start, uintptr_t end, uint32_t dev, uint64_t ino) {
  int saved = errno, s;
  if (dev == 0 || ino == 0) {
    s = -EINVAL;
  } else if ((s = ref_existing(dev, ino)) < 0) {
    s = keep_opened(zs_vma_open_map_file(start, end, O_RDWR), dev, ino);
  }
  errno = saved;
  return s;
}
