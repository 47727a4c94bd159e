/*
 * hooks.c - the shim's behaviour behind each interposed call.
 *
 * Calls that change registered mappings hold the registry write lock
 * across the real call and the registry update, so another thread can
 * never see (or reuse) an address between the kernel's change and the
 * registry's.  A zap holds the read lock across its checks and calls, so
 * the mapping it confirmed cannot be replaced under it by the program's
 * own mmap of any kind the registry keeps.
 *
 * Plain anonymous private memory is not kept (registry.h): where the
 * registry has nothing in the range (a gap this thread noted at the
 * current generation, or a lock-free read), its mmap and munmap are the
 * real call alone, no lock; the mapping thread notes the range for its
 * own zaps (zap.h); a zap the kernel answers with such memory enters it
 * (learn_plain).  Only a program racing its own zap against its own
 * remap of the same range can then see a zap land on the new mapping,
 * which the kernel alone allows too (madvise and mmap in either order);
 * stale entries where such memory lands are carved out under the lock.
 *
 * A thread that enters the shim while already inside it (a signal handler
 * that interrupted a wrapper) must not wait for a lock it may hold: its
 * mmap/munmap pass straight through, and its zap goes by what this thread
 * holds at that moment (zap_nested): always under something that excludes
 * the shim's own remaps for the whole zap.
 */
#define _GNU_SOURCE
#include "hooks.h"
#include "classify.h"
#include "fdkeep.h"
#include "policy.h"
#include "registry.h"
#include "state.h"
#include "sys.h"
#include "vma.h"
#include "zap.h"
#include "zapshim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

/* What this thread holds of the registry lock, for a signal handler that
 * interrupts it inside the shim. BUSY: inside the lock's own code (taking
 * or releasing), where nothing more may be asked of the lock. */
enum lock_held { HELD_NONE, HELD_BUSY, HELD_READ, HELD_WRITE };
static __thread volatile sig_atomic_t held __attribute__((tls_model("initial-exec")));

/* A handler that finds its thread BUSY cannot use the lock, so remaps and
 * such zaps exclude each other through two counters instead (Dekker-style,
 * sequentially consistent): a remap under the write lock announces itself
 * and waits for handler zaps to finish; a handler zap announces itself and
 * backs off while a remap is announced. Neither waits on its own thread. */
static _Atomic int remaps_in_flight;
static _Atomic int handler_zaps;

/* lock_read / lock_write / unlock - the registry lock, with this thread's
 * holding noted around each step; a writer also announces its remap. */
static void lock_read(void) {
  held = HELD_BUSY;
  zs_registry_rdlock();
  held = HELD_READ;
}
static void lock_write(void) {
  held = HELD_BUSY;
  zs_registry_wrlock();
  held = HELD_WRITE;
  atomic_fetch_add(&remaps_in_flight, 1);
  while (atomic_load(&handler_zaps) != 0)
    sched_yield();
}
static void unlock(void) {
  if (held == HELD_WRITE)
    atomic_fetch_sub(&remaps_in_flight, 1);
  held = HELD_BUSY;
  zs_registry_unlock();
  held = HELD_NONE;
}

/* zap_excluding_remaps - for a handler whose thread is inside the lock's
 * code: wait (yielding) until no remap is announced, announce this zap,
 * zap on the kernel's view, withdraw. Returns what zs_zap returns. */
static int zap_excluding_remaps(void *addr, size_t len, int advice) {
  for (;;) {
    atomic_fetch_add(&handler_zaps, 1);
    if (atomic_load(&remaps_in_flight) == 0)
      break;
    atomic_fetch_sub(&handler_zaps, 1);
    while (atomic_load(&remaps_in_flight) != 0)
      sched_yield();
  }
  int r = zs_zap(addr, len, advice, false, NULL);
  int saved = errno;
  atomic_fetch_sub(&handler_zaps, 1);
  errno = saved;
  return r;
}

static uintptr_t page_round_up(uintptr_t v, size_t size) {
  return (v + size - 1) & ~(uintptr_t)(size - 1);
}

/* mapped_end - the end of a mapping of len bytes at p: lengths round up to
 * the mapping's page size, as the kernel does. */
static uintptr_t mapped_end(uintptr_t p, size_t len, const struct zs_map *m) {
  size_t ps = (size_t)1 << m->page_shift;
  if (ps < zs_state.page_size)
    ps = zs_state.page_size;
  return p + page_round_up(len, ps);
}

/* keep_fd_for_mmap - take a kept descriptor for a file mapping whose later
 * zap needs one (policy), and note in m whether the program's descriptor
 * could write the file (the shim never punches through more rights than
 * the program had). Returns the slot or -1. */
static int keep_fd_for_mmap(int fd, struct zs_map *m) {
  if (!zs_policy_needs_fd(m->kind, &zs_state.caps) || (m->flags & ZS_MAP_ANON))
    return -1;
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0 && (fl & O_ACCMODE) != O_RDONLY)
    m->flags |= ZS_MAP_FD_WRITABLE;
  int slot = zs_fdkeep_get(fd, m->dev, m->ino);
  return slot < 0 ? -1 : slot;
}

/* keep_fd_for_anon_huge - MAP_HUGETLB private memory has no descriptor of
 * the program's; where a zap will need to punch it, open the kernel's
 * backing file through /proc/self/map_files. Fills m->dev, m->ino. */
static void keep_fd_for_anon_huge(struct zs_map *m) {
  if (!zs_policy_needs_fd(m->kind, &zs_state.caps) || !(m->flags & ZS_MAP_ANON))
    return;
  struct zs_vma v;
  if (zs_vma_query(m->start, &v) != 0 || v.start != m->start || !v.ino)
    return;
  uint32_t dev = zs_dev_pack(v.dev_major, v.dev_minor);
  int slot = zs_fdkeep_open_map_file(v.start, v.end, dev, v.ino);
  if (slot >= 0) {
    m->fdslot = slot;
    m->dev = dev;
    m->ino = v.ino;
    m->offset = v.offset;
  }
}

/* This thread's last range seen free of registry entries, valid while
 * the registry's generation stays: plain anonymous mmaps and munmaps
 * inside it need no tree walk.  Used only between zs_enter and zs_leave
 * (a signal handler that interrupts this thread there passes straight
 * through), so it is never read half-written. */
struct gap_note {
  uintptr_t lo, hi;
  uint64_t generation;
};
static __thread struct gap_note gap __attribute__((tls_model("initial-exec")));

/* unregistered - true if no registry entry overlaps [a, b) (a < b), known
 * without the lock: from this thread's gap note at the current generation,
 * else from a lock-free read of the registry, noted for the next call.
 * False: an entry overlaps, or the registry was being changed. */
static bool unregistered(uintptr_t a, uintptr_t b) {
  if (gap.generation == zs_registry_generation() && gap.lo <= a && b <= gap.hi)
    return true;
  uintptr_t lo, hi;
  uint64_t gen;
  if (zs_registry_peek_gap(a, &lo, &hi, &gen) != 0)
    return false;
  gap = (struct gap_note){.lo = lo, .hi = hi, .generation = gen};
  return b <= hi;
}

/* mmap_plain - mmap of plain anonymous private memory, which the registry
 * does not keep (registry.h): the real call without the lock, then only
 * entries left where it landed (stale: from calls the shim did not see,
 * or a failed MAP_FIXED's old range) are carved out, under the write
 * lock.  The thread notes the new mapping for its zaps (as asked: every
 * DONTNEED there is the program's own call).  Returns what mmap returns,
 * errno kept. */
static void *mmap_plain(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  uint64_t gen = zs_registry_generation();
  void *p = zs_sys_mmap(addr, len, prot, flags, fd, off);
  uintptr_t a = p != MAP_FAILED ? (uintptr_t)p : (flags & MAP_FIXED) ? (uintptr_t)addr : 0;
  uintptr_t b = page_round_up(a + len, zs_state.page_size);
  if (a != 0 && b > a && !unregistered(a, b)) {
    int saved = errno;
    lock_write();
    zs_registry_remove(a, b);
    gen = zs_registry_generation();
    unlock();
    errno = saved;
  }
  if (p != MAP_FAILED)
    zs_zap_note_mapped(a, b, gen);
  return p;
}

/* record_mapping - the registry after a successful mmap at p: whatever was
 * there is gone (MAP_FIXED, or entries stale from calls the shim did not
 * see: zs_registry_insert carves them out), m takes its place. Holds the
 * write lock. */
static void record_mapping(struct zs_map *m, uintptr_t p, size_t len) {
  m->start = p;
  m->end = mapped_end(p, len, m);
  keep_fd_for_anon_huge(m);
  zs_registry_insert(m);
  zs_fdkeep_unref(m->fdslot); /* the registry holds its own reference now */
}

/* zs_mmap - see hooks.h. */
void *zs_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (!zs_enter())
    return zs_sys_mmap(addr, len, prot, flags, fd, off);
  if (zs_classify_mmap_plain(flags)) {
    void *p = mmap_plain(addr, len, prot, flags, fd, off);
    zs_leave();
    return p;
  }
  struct zs_map m = {.fdslot = -1, .prot = (uint8_t)prot, .page_shift = 12};
  int slot = -1;
  if (zs_classify_mmap(flags, fd, &m) == 0) {
    m.offset = (flags & MAP_ANONYMOUS) ? 0 : (uint64_t)off;
    slot = keep_fd_for_mmap(fd, &m);
  }
  lock_write();
  void *p = zs_sys_mmap(addr, len, prot, flags, fd, off);
  int saved = errno;
  if (p != MAP_FAILED && m.kind != ZAPSHIM_KIND_UNKNOWN) {
    m.fdslot = slot;
    record_mapping(&m, (uintptr_t)p, len);
  } else {
    /* Unknown kind: drop stale entries, leave it to the kernel. A failed
     * MAP_FIXED may have unmapped the old range already: unknown too. */
    if (p != MAP_FAILED)
      zs_registry_remove((uintptr_t)p, page_round_up((uintptr_t)p + len, zs_state.page_size));
    else if (flags & MAP_FIXED)
      zs_registry_remove((uintptr_t)addr, page_round_up((uintptr_t)addr + len, zs_state.page_size));
    zs_fdkeep_unref(slot);
  }
  unlock();
  zs_leave();
  errno = saved;
  return p;
}

/* zs_munmap - see hooks.h.  This thread's notes of the range are dropped
 * first (a note dropped for a call that then fails is only a cache miss).
 * Where the registry has nothing in the range the call is then the last
 * thing done (a tail call: nothing of the shim's is left on the stack
 * across it). */
int zs_munmap(void *addr, size_t len) {
  if (!zs_enter())
    return zs_sys_munmap(addr, len);
  uintptr_t a = (uintptr_t)addr, b = page_round_up(a + len, zs_state.page_size);
  zs_zap_forget(a, b);
  if (b > a && unregistered(a, b)) {
    zs_leave();
    return zs_sys_munmap(addr, len);
  }
  lock_write();
  int r = zs_sys_munmap(addr, len);
  int saved = errno;
  if (r == 0)
    zs_registry_remove(a, b);
  unlock();
  zs_leave();
  errno = saved;
  return r;
}

/* record_remap - the registry after a successful mremap of old (old_len)
 * to p (new_len): the moved mapping keeps its kind, descriptor and file
 * offset. The old range stays with MREMAP_DONTUNMAP or old_len 0 (a second
 * mapping of shared memory). Holds the write lock. */
static void record_remap(uintptr_t old, size_t old_len, size_t new_len, int flags, uintptr_t p) {
  struct zs_map m;
  bool known = zs_registry_find(old, &m) == 0 && m.start <= old;
  bool keep_old = (flags & MREMAP_DONTUNMAP) || old_len == 0;
  size_t ps = zs_state.page_size;
  if (known) {
    m.offset += old - m.start;
    zs_fdkeep_ref(m.fdslot); /* keep the slot alive across the removals */
  }
  if (!keep_old)
    zs_registry_remove(old, page_round_up(old + old_len, ps));
  uintptr_t new_end = page_round_up(p + new_len, ps);
  zs_registry_remove(p, new_end);
  if (known) {
    m.start = p;
    m.end = new_end;
    zs_registry_insert(&m);
    zs_fdkeep_unref(m.fdslot);
  }
}

/* zs_mremap - see hooks.h. */
void *zs_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr) {
  if (!zs_enter())
    return zs_sys_mremap(old, old_len, new_len, flags, new_addr);
  lock_write();
  void *p = zs_sys_mremap(old, old_len, new_len, flags, new_addr);
  int saved = errno;
  if (p != MAP_FAILED)
    record_remap((uintptr_t)old, old_len, new_len, flags, (uintptr_t)p);
  unlock();
  if (p != MAP_FAILED) {
    zs_zap_forget((uintptr_t)old, page_round_up((uintptr_t)old + old_len, zs_state.page_size));
    zs_zap_forget((uintptr_t)p, page_round_up((uintptr_t)p + new_len, zs_state.page_size));
  }
  zs_leave();
  errno = saved;
  return p;
}

/* mark_range - set and clear ZS_MAP_* flags on the registry's view of
 * [a, b), splitting entries at the edges. Holds the write lock. */
static void mark_range(uintptr_t a, uintptr_t b, uint8_t set, uint8_t clear) {
  struct zs_map m;
  for (uintptr_t x = a; x < b && zs_registry_find(x, &m) == 0 && m.start < b; x = m.end) {
    uint8_t flags = (uint8_t)((m.flags | set) & ~clear);
    if (flags == m.flags)
      continue;
    struct zs_map piece = m;
    piece.start = m.start > a ? m.start : a;
    piece.end = m.end < b ? m.end : b;
    piece.offset += piece.start - m.start;
    piece.flags = flags;
    zs_registry_insert(&piece); /* carves the old view of the range out */
  }
}

/* fork_advice - MADV_DONTFORK / MADV_DOFORK: the real call, then the
 * registry notes which ranges a fork child will not have. */
static int fork_advice(void *addr, size_t len, int advice) {
  if (!zs_enter())
    return zs_sys_madvise(addr, len, advice);
  lock_write();
  int r = zs_sys_madvise(addr, len, advice);
  int saved = errno;
  if (r == 0) {
    uintptr_t a = (uintptr_t)addr, b = page_round_up(a + len, zs_state.page_size);
    if (advice == MADV_DONTFORK)
      mark_range(a, b, ZS_MAP_DONTFORK, 0);
    else
      mark_range(a, b, 0, ZS_MAP_DONTFORK);
  }
  unlock();
  zs_leave();
  errno = saved;
  return r;
}

/* zs_hooks_fork_child - see hooks.h. */
void zs_hooks_fork_child(void) {
  zs_zap_forget(0, UINTPTR_MAX); /* DONTFORK ranges noted by this thread are gone */
  struct zs_map m;
  for (uintptr_t x = 0; zs_registry_find(x, &m) == 0; x = m.end)
    if (m.flags & ZS_MAP_DONTFORK)
      zs_registry_remove(m.start, m.end);
}

/* zap_nested - a zap made while this thread is already inside the shim (a
 * signal handler). Holding the read lock: the registry is whole and no
 * remap of the shim's can run, so zap as usual. Holding the write lock:
 * no other remap can run but the registry may be mid-change, so zap on the
 * kernel's view alone. Holding nothing: take the read lock (this thread is
 * not in the lock's code). Inside the lock's code: zap_excluding_remaps.
 * Returns what zs_zap returns. */
static int zap_nested(void *addr, size_t len, int advice) {
  int r;
  switch (held) {
  case HELD_READ:
    return zs_zap(addr, len, advice, true, NULL);
  case HELD_WRITE:
    return zs_zap(addr, len, advice, false, NULL);
  case HELD_NONE:
    lock_read();
    r = zs_zap(addr, len, advice, true, NULL);
    int saved = errno;
    unlock();
    errno = saved;
    return r;
  default:
    return zap_excluding_remaps(addr, len, advice);
  }
}

/* learn_plain - after a zap the kernel answered with plain anonymous
 * memory (which mmap does not register): enter it into the registry, if
 * the registry has not changed since the kernel's answer, so later zaps
 * there from any thread find it without a query.  An entry that goes
 * stale later (a raw munmap) is what any registered anonymous mapping
 * was: the program's own call, confirmed before anything more. */
static void learn_plain(void) {
  struct zs_map m;
  uint64_t gen;
  if (!zs_zap_take_learned(&m, &gen))
    return;
  lock_write();
  if (zs_registry_generation() == gen)
    zs_registry_insert(&m);
  unlock();
}

/* zs_madvise - see hooks.h. MADV_DONTFORK/DOFORK are noted in the
 * registry; advice other than MADV_DONTNEED and MADV_REMOVE goes straight
 * to the kernel. */
int zs_madvise(void *addr, size_t len, int advice) {
  if (advice == MADV_DONTFORK || advice == MADV_DOFORK)
    return fork_advice(addr, len, advice);
  if (advice != MADV_DONTNEED && advice != MADV_REMOVE)
    return zs_sys_madvise(addr, len, advice);
  if (!zs_ready())
    return zs_sys_madvise(addr, len, advice);
  int r;
  struct zs_zap_hint hint;
  if (zs_zap_lockfree(addr, len, advice, &r, &hint))
    return r;
  if (!zs_enter())
    return zap_nested(addr, len, advice);
  lock_read();
  r = zs_zap(addr, len, advice, true, &hint);
  int saved = errno;
  unlock();
  learn_plain();
  zs_leave();
  errno = saved;
  return r;
}

/* record_shm - the registry after shmat attached at p: the kernel's view
 * of the new VMA (shmem or hugetlb, flagged SysV). Holds the write lock. */
static void record_shm(int id, uintptr_t p) {
  struct zs_vma v;
  struct zs_map m;
  if (zs_vma_query(p, &v) != 0 || v.start != p) {
    /* The kernel cannot say: whatever the registry had there (SHM_REMAP)
     * is gone, and the segment stays unknown. */
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) == 0)
      zs_registry_remove(p, page_round_up(p + ds.shm_segsz, zs_state.page_size));
    return;
  }
  zs_registry_remove(v.start, v.end);
  zs_classify_vma(&v, &m);
  if (m.kind == ZAPSHIM_KIND_UNKNOWN)
    return;
  m.flags |= ZS_MAP_SYSV;
  zs_registry_insert(&m);
}

/* zs_shmat - see hooks.h. */
void *zs_shmat(int id, const void *addr, int flags) {
  if (!zs_enter())
    return zs_sys_shmat(id, addr, flags);
  lock_write();
  void *p = zs_sys_shmat(id, addr, flags);
  int saved = errno;
  if (p != (void *)-1)
    record_shm(id, (uintptr_t)p);
  unlock();
  zs_leave();
  errno = saved;
  return p;
}

/* zs_shmdt - see hooks.h. The registry drops the SysV entry that starts
 * at addr, as the kernel detaches it. */
int zs_shmdt(const void *addr) {
  if (!zs_enter())
    return zs_sys_shmdt(addr);
  lock_write();
  struct zs_map m;
  bool known = zs_registry_find((uintptr_t)addr, &m) == 0 && m.start == (uintptr_t)addr;
  int r = zs_sys_shmdt(addr);
  int saved = errno;
  if (r == 0 && known)
    zs_registry_remove(m.start, m.end);
  unlock();
  zs_leave();
  errno = saved;
  return r;
}
