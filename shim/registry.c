/*
 * registry.c - the shadow registry: an AVL tree of struct zs_map, keyed by
 * start address, whose nodes live in a pool of raw anonymous chunks.
 *
 * Nodes refer to each other by 24-bit pool index, not by pointer, so a node
 * is 8 bytes of links and the heights of both subtrees, then the 48-byte
 * entry: 56 bytes.  Index 0 is reserved as "no node".
 *
 * Cache misses are what the tree costs between system calls (which evict
 * the caches), so a change reads only the nodes on its path: each node
 * keeps its children's heights itself (a plain AVL node keeps its own, and
 * balancing then reads both children - the one off the path a miss at
 * every level), and a rotation, which reads a node off the path, happens
 * at most twice per change on average.  A descent reads the links, start
 * and end: the first 24 bytes of a node, which lie in one cache line for
 * six nodes in eight (a 56-byte stride).  Chunks come from zs_sys_storage() on demand and
 * are never given back; freed nodes go on a free list threaded through their
 * left link.  Nothing here allocates with malloc, prints, or takes a lock:
 * the caller holds the registry lock (zs_registry_rdlock / wrlock).
 *
 * Recursion is bounded by the tree height (at most ~1.44 log2 of the node
 * count: under 35 for the largest pool).
 *
 * Out of storage: every change carves before it allocates, so a node that
 * cannot be had never leaves an old entry in place (see registry.h).  With
 * ZAPSHIM_FAULT_INJECTION defined, node allocation can be made to fail on
 * demand (fault_injected below); without it that code is compiled out.
 */
#include "registry.h"
#include "fdkeep.h"
#include "sys.h"
#include "zapshim.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ZS_MAX_CHUNKS 256u    /* so at most 4194303 entries (index 0 unused) */
#define ZS_NIL 0u

struct zs_node {
  uint64_t left : 24;  /* index of the subtree of smaller starts, or ZS_NIL */
  uint64_t right : 24; /* index of the subtree of larger starts, or ZS_NIL */
  uint64_t lh : 8;     /* height of the left subtree (0: none) */
  uint64_t rh : 8;     /* height of the right subtree */
  struct zs_map m;
};

_Static_assert(sizeof(struct zs_node) <= 64, "registry memory per mapping must stay <= 64 bytes");
_Static_assert(sizeof(struct zs_node) == 56, "node layout: 8 bytes of links + 48-byte zs_map");
_Static_assert((uint64_t)ZS_CHUNK_NODES * ZS_MAX_CHUNKS <= (1u << 24),
               "node indices must fit the 24-bit links");

static pthread_rwlock_t zs_reg_lock = PTHREAD_RWLOCK_INITIALIZER;

static struct zs_node *zs_chunks[ZS_MAX_CHUNKS];
static uint32_t zs_nchunks;       /* chunks mapped so far */
static uint32_t zs_fresh = 1;     /* next never-used index (0 is reserved) */
static uint32_t zs_free_head;     /* free list through .left, ZS_NIL if empty */
static uint32_t zs_root;          /* root of the tree, ZS_NIL if empty */
static size_t zs_count;           /* entries in the tree */
/* A sequence count: odd while the tree is being changed (insert, remove:
 * change_begin to change_end), so it moves by 2 with every change.
 * zs_registry_peek reads the tree without the lock and keeps what it read
 * only if the count was even and the same before and after.  A writer
 * holding the lock but not changing the tree (inside the kernel's mmap,
 * say) does not stop a peek. */
static _Atomic uint64_t zs_generation;

/* node - the node of index i (i != ZS_NIL and allocated). */
static inline struct zs_node *node(uint32_t i) {
  return &zs_chunks[i / ZS_CHUNK_NODES][i % ZS_CHUNK_NODES];
}

#ifdef ZAPSHIM_FAULT_INJECTION
/* Node allocations still allowed before every one fails; -1: no limit.
 * Read from ZAPSHIM_FAULT_REGISTRY at the first allocation, then moved only
 * by node_alloc and zs_registry_fault_set, both under the write lock. */
static long zs_fault_budget;
static bool zs_fault_read;

/* fault_parse - the decimal value of s (at most 18 digits, nothing else),
 * or -1 if s is NULL, empty or anything else.  No malloc, no stdio. */
static long fault_parse(const char *s) {
  long n = 0;
  int digits = 0;
  if (s == NULL)
    return -1;
  for (; *s; s++, digits++) {
    if (*s < '0' || *s > '9' || digits == 18)
      return -1;
    n = n * 10 + (*s - '0');
  }
  return digits ? n : -1;
}

/* fault_injected - true if this node allocation is to fail: the budget
 * (ZAPSHIM_FAULT_REGISTRY, or zs_registry_fault_set) is used up.  Each
 * allocation that is let through uses one. */
static bool fault_injected(void) {
  if (!zs_fault_read) {
    zs_fault_read = true;
    zs_fault_budget = fault_parse(getenv("ZAPSHIM_FAULT_REGISTRY"));
  }
  if (zs_fault_budget < 0)
    return false;
  if (zs_fault_budget == 0)
    return true;
  zs_fault_budget--;
  return false;
}

/* zs_registry_fault_set - see registry.h. */
__attribute__((visibility("default"))) void zs_registry_fault_set(long n) {
  zs_registry_wrlock();
  zs_fault_read = true; /* the environment no longer counts */
  zs_fault_budget = n < 0 ? -1 : n;
  zs_registry_unlock();
}
#else
static inline bool fault_injected(void) {
  return false;
}
#endif

/*
 * node_alloc - a node off the free list, or a never-used one, mapping a new
 * chunk if the mapped ones are used up.  Returns its index with links and
 * subtree heights cleared, or ZS_NIL if the pool is full, no chunk could be mapped,
 * or (fault-injection builds only) an injected failure was due, which
 * refuses free-list nodes too.
 */
static uint32_t node_alloc(void) {
  uint32_t i;
  if (fault_injected())
    return ZS_NIL;
  if (zs_free_head != ZS_NIL) {
    i = zs_free_head;
    zs_free_head = (uint32_t)node(i)->left;
  } else {
    if (zs_fresh >= zs_nchunks * ZS_CHUNK_NODES) {
      if (zs_nchunks == ZS_MAX_CHUNKS)
        return ZS_NIL;
      void *c = zs_sys_storage(ZS_CHUNK_NODES * sizeof(struct zs_node));
      if (c == NULL || c == MAP_FAILED)
        return ZS_NIL;
      __atomic_store_n(&zs_chunks[zs_nchunks++], (struct zs_node *)c, __ATOMIC_RELEASE); /* peek */
    }
    i = zs_fresh++;
  }
  struct zs_node *n = node(i);
  n->left = ZS_NIL;
  n->right = ZS_NIL;
  n->lh = 0;
  n->rh = 0;
  return i;
}

/* node_free - put node i back on the free list. */
static void node_free(uint32_t i) {
  node(i)->left = zs_free_head;
  zs_free_head = i;
}

/* own_height - the height of the subtree whose root is n (read from n). */
static inline unsigned own_height(const struct zs_node *n) {
  return 1u + (n->lh > n->rh ? (unsigned)n->lh : (unsigned)n->rh);
}

/* height - the height of subtree t, 0 for ZS_NIL. */
static inline unsigned height(uint32_t t) {
  return t == ZS_NIL ? 0 : own_height(node(t));
}

/* set_left / set_right - make c t's left / right subtree, noting its height. */
static inline void set_left(uint32_t t, uint32_t c) {
  node(t)->left = c;
  node(t)->lh = height(c);
}
static inline void set_right(uint32_t t, uint32_t c) {
  node(t)->right = c;
  node(t)->rh = height(c);
}

/* rotate_right - lift t's left child above t. Returns the new subtree
 * root.  Reads t and that child only. */
static uint32_t rotate_right(uint32_t t) {
  struct zs_node *n = node(t);
  uint32_t l = (uint32_t)n->left;
  struct zs_node *ln = node(l);
  n->left = ln->right;
  n->lh = ln->rh;
  ln->right = t;
  ln->rh = own_height(n);
  return l;
}

/* rotate_left - lift t's right child above t. Returns the new subtree
 * root.  Reads t and that child only. */
static uint32_t rotate_left(uint32_t t) {
  struct zs_node *n = node(t);
  uint32_t r = (uint32_t)n->right;
  struct zs_node *rn = node(r);
  n->right = rn->left;
  n->rh = rn->lh;
  rn->left = t;
  rn->lh = own_height(n);
  return r;
}

/*
 * rebalance - restore the AVL property at t, whose subtrees are AVL trees
 * differing in height by at most 2 (as t's lh and rh say).  Returns the
 * new subtree root.  Reads only t unless a rotation is due.
 */
static uint32_t rebalance(uint32_t t) {
  struct zs_node *n = node(t);
  int bf = (int)n->lh - (int)n->rh;
  if (bf > 1) {
    uint32_t l = (uint32_t)n->left;
    if (node(l)->lh < node(l)->rh)
      set_left(t, rotate_left(l));
    return rotate_right(t);
  }
  if (bf < -1) {
    uint32_t r = (uint32_t)n->right;
    if (node(r)->rh < node(r)->lh)
      set_right(t, rotate_right(r));
    return rotate_left(t);
  }
  return t;
}

/* tree_insert - add leaf n (unique start) to subtree t. Returns the new root. */
static uint32_t tree_insert(uint32_t t, uint32_t n) {
  if (t == ZS_NIL)
    return n;
  if (node(n)->m.start < node(t)->m.start)
    set_left(t, tree_insert((uint32_t)node(t)->left, n));
  else
    set_right(t, tree_insert((uint32_t)node(t)->right, n));
  return rebalance(t);
}

/*
 * tree_unlink_min - detach the node of smallest start from subtree t (not
 * ZS_NIL) into *min.  Returns the new root of what is left.
 */
static uint32_t tree_unlink_min(uint32_t t, uint32_t *min) {
  if (node(t)->left == ZS_NIL) {
    *min = t;
    return (uint32_t)node(t)->right;
  }
  set_left(t, tree_unlink_min((uint32_t)node(t)->left, min));
  return rebalance(t);
}

/*
 * tree_unlink - detach the node whose start is key from subtree t (the node
 * itself is not freed).  Returns the new root; t unchanged if key is absent.
 */
static uint32_t tree_unlink(uint32_t t, uintptr_t key) {
  if (t == ZS_NIL)
    return ZS_NIL;
  struct zs_node *n = node(t);
  if (key < n->m.start) {
    set_left(t, tree_unlink((uint32_t)n->left, key));
  } else if (key > n->m.start) {
    set_right(t, tree_unlink((uint32_t)n->right, key));
  } else {
    uint32_t l = (uint32_t)n->left, r = (uint32_t)n->right, s;
    if (r == ZS_NIL)
      return l;
    if (l == ZS_NIL)
      return r;
    r = tree_unlink_min(r, &s);
    struct zs_node *sn = node(s);
    sn->left = l;
    sn->lh = n->lh; /* l's height, known without reading l */
    set_right(s, r);
    return rebalance(s);
  }
  return rebalance(t);
}

/*
 * lookup - the node covering addr, else the node of smallest start above
 * addr, else ZS_NIL.  Iterative, O(log n).
 */
static uint32_t lookup(uintptr_t addr) {
  uint32_t t = zs_root, above = ZS_NIL;
  while (t != ZS_NIL) {
    struct zs_node *n = node(t);
    if (addr < n->m.start) {
      above = t;
      t = (uint32_t)n->left;
    } else if (addr < n->m.end) {
      return t;
    } else {
      t = (uint32_t)n->right;
    }
  }
  return above;
}

/* drop - take node i out of the tree, free it, release its descriptor ref. */
static void drop(uint32_t i) {
  int32_t slot = node(i)->m.fdslot;
  zs_root = tree_unlink(zs_root, node(i)->m.start);
  node_free(i);
  zs_count--;
  zs_fdkeep_unref(slot);
}

/*
 * split - node i strictly contains [start, end): keep [i.start, start) in i
 * and put [end, i.end) in a new node, whose offset advances by the distance
 * and which takes its own descriptor ref.  Returns 0, or ENOMEM after
 * dropping i whole if no node could be had.
 */
static int split(uint32_t i, uintptr_t start, uintptr_t end) {
  uint32_t j = node_alloc();
  if (j == ZS_NIL) {
    drop(i);
    return ENOMEM;
  }
  struct zs_node *a = node(i), *b = node(j);
  b->m = a->m;
  b->m.offset += end - a->m.start;
  b->m.start = end;
  a->m.end = start;
  zs_fdkeep_ref(b->m.fdslot);
  zs_root = tree_insert(zs_root, j);
  zs_count++;
  return 0;
}

/*
 * remove_range - carve [start, end) out of the registry.  Entries
 * inside are dropped (their descriptor refs released), an entry across the
 * lower edge loses its tail, one across the upper edge loses its head (its
 * offset advancing by as much), one containing the whole range is split in
 * two.  The offset advances with start for every entry: for an anonymous
 * mapping it is the offset into its (shmem) object, 0 at mmap time.  Each
 * affected entry costs one O(log n) lookup.  Only the split allocates; if
 * it finds no node, that entry is dropped whole and ENOMEM returned.
 * Either way nothing in [start, end) is left in the registry.  Returns 0
 * or ENOMEM; an empty range changes nothing.
 */
static int remove_range(uintptr_t start, uintptr_t end) {
  while (start < end) {
    uint32_t i = lookup(start);
    if (i == ZS_NIL)
      return 0;
    struct zs_map *e = &node(i)->m;
    if (e->start >= end)
      return 0;
    if (e->start < start) {
      if (e->end > end)
        return split(i, start, end);
      e->end = start; /* key unchanged: the tree stays ordered */
      continue;
    }
    if (e->end > end) {
      /* the new start stays below the next entry's: order is kept */
      e->offset += end - e->start;
      e->start = end;
      return 0;
    }
    drop(i);
  }
  return 0;
}

/* joinable - true if entry e and plain *m may be one entry: e is plain
 * with the same flags. */
static inline bool joinable(const struct zs_map *e, const struct zs_map *m) {
  return e->flags == m->flags && zs_map_plain(e);
}

/*
 * neighbours - the node of greatest start at or below start into *l (the
 * one covering start, if any does) and the node of smallest start above
 * it into *r (ZS_NIL where there is none).  One descent, iterative,
 * O(log n).
 */
static void neighbours(uintptr_t start, uint32_t *l, uint32_t *r) {
  uint32_t t = zs_root;
  *l = *r = ZS_NIL;
  while (t != ZS_NIL) {
    struct zs_node *n = node(t);
    if (start < n->m.start) {
      *r = t;
      t = (uint32_t)n->left;
    } else {
      *l = t;
      t = (uint32_t)n->right;
    }
  }
}

/*
 * clear - before an insert of [start, end), given *l and *r as neighbours
 * (start) left them: carve the range out (zs_registry_remove) if an entry
 * overlaps it, and then find the neighbours again; if none does, only
 * bump the generation (the insert is a change).  The common insert, into
 * a hole, so costs one descent here instead of three.
 */
static void clear(uintptr_t start, uintptr_t end, uint32_t *l, uint32_t *r) {
  if ((*l != ZS_NIL && node(*l)->m.end > start) || (*r != ZS_NIL && node(*r)->m.start < end)) {
    remove_range(start, end); /* ENOMEM: a split entry was dropped whole */
    neighbours(start, l, r);
  }
}

/*
 * insert_plain - zs_registry_insert of plain *m (see zs_map_plain).  If one
 * entry joinable with it already covers the range, the registry's view
 * is already *m's (prot and offset aside, which plain entries do not
 * keep): nothing changes and nothing is allocated.  Otherwise the range is
 * carved out first, then *m is joined to the entry ending at m->start
 * and/or the one starting at m->end where they are joinable: the left one
 * is extended (its key and offset stay), or the right one is lowered (it
 * takes m's start and offset; the carve left the range empty, so the
 * order holds), or both become one (the right one's node is freed).  Only
 * with no joinable neighbour is a node allocated.  The entry keeps prot 0.
 * Returns 0, or ENOMEM if the node was needed and none could be had (the
 * range is then unknown, as for any insert).
 */
static int insert_plain(const struct zs_map *m) {
  uint32_t l, r;
  neighbours(m->start, &l, &r);
  if (l != ZS_NIL && node(l)->m.end >= m->end && joinable(&node(l)->m, m))
    return 0; /* l starts at or below m->start and covers the range */
  clear(m->start, m->end, &l, &r);
  bool jl = l != ZS_NIL && node(l)->m.end == m->start && joinable(&node(l)->m, m);
  bool jr = r != ZS_NIL && node(r)->m.start == m->end && joinable(&node(r)->m, m);
  if (jl && jr) {
    uintptr_t end = node(r)->m.end;
    drop(r);
    node(l)->m.end = end;
    return 0;
  }
  if (jl) {
    node(l)->m.end = m->end;
    return 0;
  }
  if (jr) {
    node(r)->m.start = m->start;
    node(r)->m.offset = m->offset;
    return 0;
  }
  uint32_t i = node_alloc();
  if (i == ZS_NIL)
    return ENOMEM;
  node(i)->m = *m;
  node(i)->m.prot = 0;
  zs_root = tree_insert(zs_root, i);
  zs_count++;
  return 0;
}

/*
 * insert_entry - add a copy of *m and take a ref on m->fdslot (if
 * >= 0).  Whatever the registry held in [m->start, m->end) is carved out
 * first (remove_range), and only then is a node allocated: if none
 * can be had, the old view of the range is gone all the same and the
 * range is unknown, never stale.  The ref is taken before the carve, which
 * may drop the slot's last other user, and given back if no node is had.
 * Plain anonymous private memory joins its neighbours instead
 * (insert_plain).  An empty range is not kept.  Returns 0 if *m was added,
 * or ENOMEM if no node could be had (nothing in the range, no ref taken).
 */
static int insert_entry(const struct zs_map *m) {
  if (m->start >= m->end)
    return 0;
  if (zs_map_plain(m))
    return insert_plain(m);
  zs_fdkeep_ref(m->fdslot);
  uint32_t l, r;
  neighbours(m->start, &l, &r);
  clear(m->start, m->end, &l, &r);
  uint32_t i = node_alloc();
  if (i == ZS_NIL) {
    zs_fdkeep_unref(m->fdslot);
    return ENOMEM;
  }
  node(i)->m = *m;
  zs_root = tree_insert(zs_root, i);
  zs_count++;
  return 0;
}

/* change_begin / change_end - around every change of the tree: the
 * sequence count is odd from before the first node is touched until after
 * the last, so zs_registry_peek keeps nothing it read meanwhile. */
static void change_begin(void) {
  atomic_fetch_add_explicit(&zs_generation, 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
}
static void change_end(void) {
  atomic_fetch_add_explicit(&zs_generation, 1, memory_order_release);
}

/* zs_registry_remove - see registry.h and remove_range.  A range no
 * entry overlaps is no change: the generation stays. */
int zs_registry_remove(uintptr_t start, uintptr_t end) {
  uint32_t i = lookup(start);
  if (i == ZS_NIL || node(i)->m.start >= end)
    return 0;
  change_begin();
  int r = remove_range(start, end);
  change_end();
  return r;
}

/* zs_registry_insert - see registry.h and insert_entry. */
int zs_registry_insert(const struct zs_map *m) {
  change_begin();
  int r = insert_entry(m);
  change_end();
  return r;
}

/*
 * zs_registry_find - the entry covering addr, else the first entry that
 * starts above addr.  Returns 0 with a copy in *out (if out is not NULL),
 * or ENOENT if no entry ends above addr.
 */
int zs_registry_find(uintptr_t addr, struct zs_map *out) {
  uint32_t i = lookup(addr);
  if (i == ZS_NIL)
    return ENOENT;
  if (out)
    *out = node(i)->m;
  return 0;
}

/* gap_around - given the node covering addr or the first above it (i,
 * as lookup() answers) and the node of greatest start at or below addr
 * (below): the free range around addr into *lo, *hi.  Returns 0, or
 * EEXIST if i covers addr. */
static int gap_around(uintptr_t addr, const struct zs_map *below, const struct zs_map *above,
                      uintptr_t *lo, uintptr_t *hi) {
  if (above && above->start <= addr)
    return EEXIST;
  *lo = below ? below->end : 0;
  *hi = above ? above->start : UINTPTR_MAX;
  return 0;
}

/* zs_registry_gap - see registry.h.  One descent. */
int zs_registry_gap(uintptr_t addr, uintptr_t *lo, uintptr_t *hi) {
  uint32_t l, r;
  neighbours(addr, &l, &r);
  if (l != ZS_NIL && node(l)->m.end > addr)
    return EEXIST;
  return gap_around(addr, l == ZS_NIL ? NULL : &node(l)->m, r == ZS_NIL ? NULL : &node(r)->m,
                    lo, hi);
}

/*
 * check_subtree - walk subtree t in order (depth is its depth; deeper
 * than 64 is a broken tree), checking what the tree promises: entries
 * non-empty, in order and not overlapping, no two joinable plain entries
 * neighbours, each node's lh/rh its subtrees' heights, AVL balance.
 * *prev is the entry walked before (NULL at first), *n counts entries.
 * Returns the height of t, or -1 at the first broken promise.
 */
static int check_subtree(uint32_t t, int depth, const struct zs_map **prev, size_t *n) {
  if (t == ZS_NIL)
    return 0;
  if (depth > 64 || t >= zs_fresh)
    return -1;
  struct zs_node *x = node(t);
  int l = check_subtree((uint32_t)x->left, depth + 1, prev, n);
  if (l < 0 || l != (int)x->lh || x->m.start >= x->m.end)
    return -1;
  const struct zs_map *p = *prev;
  if (p && (p->end > x->m.start ||
            (p->end == x->m.start && zs_map_plain(p) && joinable(&x->m, p))))
    return -1;
  *prev = &x->m;
  (*n)++;
  int r = check_subtree((uint32_t)x->right, depth + 1, prev, n);
  if (r < 0 || r != (int)x->rh || l - r > 1 || r - l > 1)
    return -1;
  return 1 + (l > r ? l : r);
}

/* zs_registry_check - see registry.h. */
int zs_registry_check(void) {
  const struct zs_map *prev = NULL;
  size_t n = 0;
  if (check_subtree(zs_root, 0, &prev, &n) < 0 || n != zs_count)
    return EINVAL;
  return 0;
}

/* zs_registry_generation - see registry.h; lock-free. */
uint64_t zs_registry_generation(void) {
  return atomic_load_explicit(&zs_generation, memory_order_acquire);
}

/* zs_registry_count - number of entries, O(1). */
size_t zs_registry_count(void) {
  return zs_count;
}

/* zs_registry_bytes - bytes of chunks mapped for nodes (never shrinks). */
size_t zs_registry_bytes(void) {
  return (size_t)zs_nchunks * ZS_CHUNK_NODES * sizeof(struct zs_node);
}

/* ---- lock-free reading (zs_registry_peek) ---- */
#if !ZS_REGISTRY_NO_PEEK

/* A word of a node, read while a writer may be changing it: an aligned
 * 8-byte load is whole on the architectures the shim runs on; what it
 * reads counts only if the sequence count then says no writer ran. */
typedef uint64_t __attribute__((may_alias)) zs_word;
_Static_assert(sizeof(struct zs_map) % sizeof(zs_word) == 0, "an entry is whole words");
_Static_assert(offsetof(struct zs_node, m) == sizeof(zs_word), "the links are the node's first word");

static inline uint64_t peek_word(const void *p) {
  return __atomic_load_n((const zs_word *)p, __ATOMIC_RELAXED);
}

/* peek_node - node i if its chunk is mapped, else NULL (i may be any value
 * read from a node being changed: chunks are never given back, so any
 * node of a mapped chunk can be read). */
static const struct zs_node *peek_node(uint32_t i) {
  uint32_t c = i / ZS_CHUNK_NODES;
  if (c >= ZS_MAX_CHUNKS)
    return NULL;
  const struct zs_node *chunk = __atomic_load_n(&zs_chunks[c], __ATOMIC_ACQUIRE);
  return chunk ? &chunk[i % ZS_CHUNK_NODES] : NULL;
}

/* peek_links - the left and right links of node n, read as one word. */
static void peek_links(const struct zs_node *n, uint32_t *left, uint32_t *right) {
  uint64_t w = peek_word(n);
  struct zs_node links;
  memcpy(&links, &w, sizeof w);
  *left = (uint32_t)links.left;
  *right = (uint32_t)links.right;
}

/* peek_entry - a copy of n's entry, word by word. */
static void peek_entry(const struct zs_node *n, struct zs_map *out) {
  uint64_t w[sizeof(struct zs_map) / sizeof(zs_word)];
  for (size_t k = 0; k < sizeof w / sizeof w[0]; k++)
    w[k] = peek_word((const char *)&n->m + k * sizeof(zs_word));
  memcpy(out, w, sizeof w);
}

/* peek_neighbours - neighbours() over words read without the lock (as
 * peek_lookup): the nodes of greatest start at or below addr and of
 * smallest start above it into *l, *r.  Returns false if the walk went
 * astray. */
static bool peek_neighbours(uintptr_t addr, uint32_t *l, uint32_t *r) {
  uint32_t t = __atomic_load_n(&zs_root, __ATOMIC_RELAXED);
  *l = *r = ZS_NIL;
  for (int steps = 0; t != ZS_NIL; steps++) {
    const struct zs_node *n = peek_node(t);
    if (n == NULL || steps == 64)
      return false;
    uint32_t left, right;
    peek_links(n, &left, &right);
    if (addr < (uintptr_t)peek_word(&n->m.start)) {
      *r = t;
      t = left;
    } else {
      *l = t;
      t = right;
    }
  }
  return true;
}

/* peek_bounds - the start and end of node i (ZS_NIL: none) into *m;
 * false if its chunk is not mapped. */
static bool peek_bounds(uint32_t i, struct zs_map *m) {
  if (i == ZS_NIL)
    return true;
  const struct zs_node *n = peek_node(i);
  if (n == NULL)
    return false;
  m->start = (uintptr_t)peek_word(&n->m.start);
  m->end = (uintptr_t)peek_word(&n->m.end);
  return true;
}

/* peek_lookup - lookup() over words read without the lock, through
 * peek_neighbours: the node covering addr, else the first above it, else
 * ZS_NIL; UINT32_MAX if the walk went astray (a writer was moving the
 * nodes read). */
static uint32_t peek_lookup(uintptr_t addr) {
  uint32_t l, r;
  struct zs_map below;
  if (!peek_neighbours(addr, &l, &r) || !peek_bounds(l, &below))
    return UINT32_MAX;
  return l != ZS_NIL && below.end > addr ? l : r;
}

#endif /* !ZS_REGISTRY_NO_PEEK */

/* zs_registry_peek_gap - see registry.h.  The same sequence-count read
 * as zs_registry_peek, of the two neighbours' bounds. */
int zs_registry_peek_gap(uintptr_t addr, uintptr_t *lo, uintptr_t *hi, uint64_t *gen) {
#if ZS_REGISTRY_NO_PEEK
  (void)addr, (void)lo, (void)hi, (void)gen;
  return EAGAIN;
#else
  uint64_t g = atomic_load_explicit(&zs_generation, memory_order_acquire);
  if (g & 1)
    return EAGAIN;
  uint32_t l, r;
  struct zs_map below = {0}, above = {0}; /* read only where l, r name nodes */
  bool whole = peek_neighbours(addr, &l, &r) && peek_bounds(l, &below) && peek_bounds(r, &above);
  atomic_thread_fence(memory_order_acquire);
  if (!whole || atomic_load_explicit(&zs_generation, memory_order_relaxed) != g)
    return EAGAIN;
  if (l != ZS_NIL && below.end > addr)
    return EEXIST;
  *gen = g;
  return gap_around(addr, l == ZS_NIL ? NULL : &below, r == ZS_NIL ? NULL : &above, lo, hi);
#endif
}

/* zs_registry_peek - see registry.h.  A sequence-count read: the count
 * before (even: no change running), the walk and the copy, then the count again;
 * any difference and nothing read is kept.  Thread-sanitizer builds do
 * not peek (the reads race with the writers by design). */
int zs_registry_peek(uintptr_t addr, struct zs_map *out, uint64_t *gen) {
#if ZS_REGISTRY_NO_PEEK
  (void)addr, (void)out, (void)gen;
  return EAGAIN;
#else
  uint64_t g = atomic_load_explicit(&zs_generation, memory_order_acquire);
  if (g & 1)
    return EAGAIN;
  uint32_t i = peek_lookup(addr);
  struct zs_map m;
  const struct zs_node *n = i == ZS_NIL || i == UINT32_MAX ? NULL : peek_node(i);
  if (n)
    peek_entry(n, &m);
  atomic_thread_fence(memory_order_acquire);
  if (i == UINT32_MAX || (i != ZS_NIL && !n) ||
      atomic_load_explicit(&zs_generation, memory_order_relaxed) != g)
    return EAGAIN;
  if (i == ZS_NIL)
    return ENOENT;
  *out = m;
  *gen = g;
  return 0;
#endif
}

/* zs_registry_rdlock - take the registry lock for reading (lookups). */
void zs_registry_rdlock(void) {
  pthread_rwlock_rdlock(&zs_reg_lock);
}

/* zs_registry_wrlock - take the registry lock for writing (changes). */
void zs_registry_wrlock(void) {
  pthread_rwlock_wrlock(&zs_reg_lock);
}

/* zs_registry_unlock - release the registry lock, read or write. */
void zs_registry_unlock(void) {
  pthread_rwlock_unlock(&zs_reg_lock);
}

/*
 * zs_registry_reset_after_fork - in a fork child, make the registry lock
 * (which a thread that no longer exists may have held) free again, and the
 * kept-descriptor table's lock too, since the registry owns its refs.  The
 * entries are kept: the child has the same mappings.
 */
void zs_registry_reset_after_fork(void) {
  pthread_rwlock_init(&zs_reg_lock, NULL);
  if (atomic_load_explicit(&zs_generation, memory_order_relaxed) & 1)
    atomic_fetch_add_explicit(&zs_generation, 1, memory_order_relaxed); /* no change runs here */
  zs_fdkeep_reset_after_fork();
}
