/*
 * fuzz_registry.c - libFuzzer harness for the shadow registry.
 *
 * An input is a config byte and then 8-byte operation records, run on the
 * real registry (shim/registry.c, with the lock held as its callers must)
 * and on the reference model (model.c) side by side:
 *
 *   config   bits 0-1: where the window of ZF_SLOTS slots lies (at 0, in
 *            the middle of the address space, just below UINTPTR_MAX, just
 *            above a page); bit 2: slot size 4096 (else 1 byte)
 *   record   op a_lo a_hi len off_lo off_hi attr extra
 *     op bits 2-3, before the operation: node allocation failure (the
 *          registry's fault injection, mirrored in the model's budget)
 *          0 as before, 1 never fails, 2 the next (op>>4)&3 allocations
 *          succeed then all fail, 3 every allocation fails (exhausted)
 *     op%4 0 insert [a, a+len) with offset (off << (extra & 31)), fdslot
 *            attr&7 (or -1 if attr&8), kind/prot/flags from attr and extra;
 *            attr>>4 of 12-15: plain anonymous private memory (see
 *            registry.h; flags ZS_MAP_DONTFORK if extra&8, prot extra&7),
 *            11: the same with one field off by extra>>5 (huge pages,
 *            MAP_HUGETLB, shared, shmem kind, a descriptor, an inode, a
 *            device, FD_WRITABLE): never joined to plain entries
 *          1 remove [a, a+len); extra&1: from address 0, extra&2: up to
 *            UINTPTR_MAX (the carve reaches past the window)
 *          2 find at slot a (+ extra within the slot), or below the window
 *            (attr&1), or at UINTPTR_MAX (attr&2)
 *          3 walk: find from address 0 entry by entry, all of them
 *
 * Every find is compared field by field with the model's answer (the
 * offset of a plain anonymous entry excepted: see model.h); after
 * every change the return value (0 or ENOMEM) and the entry count must
 * match, the tree must pass zs_registry_check (order, balance, the
 * subtree heights each node keeps), and the entries at and around both
 * edges of the changed range
 * are compared (the whole registry when an allocation failed: a failed
 * change must leave the range unknown, never an old entry in it; see
 * model.h); at the end of the input the
 * whole registry is walked and every kept-descriptor slot's reference
 * count (counted by the zs_fdkeep_ref/unref stand-ins below) must equal
 * the number of entries holding it.  Any difference aborts with both
 * answers printed.
 *
 * Built with -fsanitize=fuzzer,address under clang; replay.c supplies a
 * main() for builds without libFuzzer (seed corpus and random inputs).
 */
#include "fdkeep.h"
#include "model.h"
#include "registry.h"
#include "sys.h"
#include "zapshim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef ZAPSHIM_FAULT_INJECTION
#error "the registry harness needs shim/registry.c built with ZAPSHIM_FAULT_INJECTION"
#endif

#define ZF_FDSLOTS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long zf_refs[ZF_FDSLOTS]; /* references the registry holds, per fdslot */
static struct zf_model zf_md;    /* static: too large for a fuzzer's stack frame */

/* zf_die - print what went wrong and abort (a libFuzzer crash). */
static void zf_die(const char *what, uintptr_t addr, const struct zs_map *got,
                   const struct zs_map *want) {
  fprintf(stderr, "fuzz_registry: %s at %#lx\n", what, (unsigned long)addr);
  if (got)
    fprintf(stderr, "  registry: [%#lx, %#lx) offset %#llx fdslot %d kind %u prot %u flags %u\n",
            (unsigned long)got->start, (unsigned long)got->end,
            (unsigned long long)got->offset, got->fdslot, got->kind, got->prot, got->flags);
  if (want)
    fprintf(stderr, "  model:    [%#lx, %#lx) offset %#llx fdslot %d kind %u prot %u flags %u\n",
            (unsigned long)want->start, (unsigned long)want->end,
            (unsigned long long)want->offset, want->fdslot, want->kind, want->prot,
            want->flags);
  abort();
}

/* zs_fdkeep_ref - stand-in: count a reference on slot (>= 0). */
void zs_fdkeep_ref(int slot) {
  if (slot < 0)
    return;
  if (slot >= ZF_FDSLOTS)
    zf_die("ref on a slot never inserted", (uintptr_t)slot, NULL, NULL);
  zf_refs[slot]++;
}

/* zs_fdkeep_unref - stand-in: drop a reference; never below zero. */
void zs_fdkeep_unref(int slot) {
  if (slot < 0)
    return;
  if (slot >= ZF_FDSLOTS || zf_refs[slot] == 0)
    zf_die("unref of a slot with no reference", (uintptr_t)slot, NULL, NULL);
  zf_refs[slot]--;
}

/* zs_fdkeep_reset_after_fork - stand-in: nothing to reset. */
void zs_fdkeep_reset_after_fork(void) {}

/* zs_sys_storage - stand-in: anonymous memory for the registry's nodes. */
void *zs_sys_storage(size_t len) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* same_entry - true if every field of a and b is equal (not the padding;
 * not the offset of plain anonymous memory, which the registry does not
 * keep meaningfully). */
static int same_entry(const struct zs_map *a, const struct zs_map *b) {
  bool plain = zf_plain(a) && zf_plain(b);
  return a->start == b->start && a->end == b->end && (plain || a->offset == b->offset) &&
         a->ino == b->ino && a->dev == b->dev && a->fdslot == b->fdslot && a->kind == b->kind &&
         a->prot == b->prot && a->page_shift == b->page_shift && a->flags == b->flags;
}

/* check_gap - zs_registry_gap(addr) (read lock held) and its lock-free
 * twin zs_registry_peek_gap answer as the model does. */
static void check_gap(uintptr_t addr) {
  uintptr_t lo = 1, hi = 1, wlo, whi, plo = 1, phi = 1;
  uint64_t gen;
  zs_registry_rdlock();
  int rc = zs_registry_gap(addr, &lo, &hi);
  zs_registry_unlock();
  bool free = zf_model_gap(&zf_md, addr, &wlo, &whi);
  if (rc != (free ? 0 : EEXIST) || (free && (lo != wlo || hi != whi))) {
    fprintf(stderr, "fuzz_registry: gap at %#lx: rc %d [%#lx, %#lx), model %s [%#lx, %#lx)\n",
            (unsigned long)addr, rc, (unsigned long)lo, (unsigned long)hi,
            free ? "free" : "covered", (unsigned long)wlo, (unsigned long)whi);
    abort();
  }
  int prc = zs_registry_peek_gap(addr, &plo, &phi, &gen);
  if (prc != EAGAIN && (prc != rc || (prc == 0 && (plo != lo || phi != hi ||
                                                   gen != zs_registry_generation())))) {
    fprintf(stderr, "fuzz_registry: peek_gap at %#lx: rc %d [%#lx, %#lx), gap rc %d\n",
            (unsigned long)addr, prc, (unsigned long)plo, (unsigned long)phi, rc);
    abort();
  }
#if !ZS_REGISTRY_NO_PEEK
  if (prc == EAGAIN) {
    fprintf(stderr, "fuzz_registry: peek_gap: EAGAIN with no writer\n");
    abort();
  }
#endif
}

/* check_find - zs_registry_find(addr) (read lock held) answers as the
 * model does. Returns the found entry's end, or 0 for ENOENT. */
static uintptr_t check_find(uintptr_t addr) {
  struct zs_map got, want;
  memset(&got, 0, sizeof got);
  zs_registry_rdlock();
  int rc = zs_registry_find(addr, &got);
  zs_registry_unlock();
  bool have = zf_model_find(&zf_md, addr, &want);
  if (rc != 0 && rc != ENOENT)
    zf_die("find returned neither 0 nor ENOENT", addr, NULL, NULL);
  if ((rc == 0) != have)
    zf_die(have ? "find: registry has nothing" : "find: registry has an entry the model has not",
           addr, rc == 0 ? &got : NULL, have ? &want : NULL);
  if (have && !same_entry(&got, &want))
    zf_die("find: entries differ", addr, &got, &want);
  /* the lock-free read agrees with find when no writer runs (it is off,
   * always EAGAIN, in thread-sanitizer builds) */
  struct zs_map peeked;
  uint64_t gen;
  int prc = zs_registry_peek(addr, &peeked, &gen);
  if (prc != EAGAIN && (prc != rc || (rc == 0 && !same_entry(&peeked, &got)) ||
                        (prc == 0 && gen != zs_registry_generation())))
    zf_die("peek: differs from find", addr, prc == 0 ? &peeked : NULL, rc == 0 ? &got : NULL);
#if !ZS_REGISTRY_NO_PEEK
  if (prc == EAGAIN)
    zf_die("peek: EAGAIN with no writer", addr, NULL, NULL);
#endif
  check_gap(addr);
  return have ? want.end : 0;
}

/* check_count - the registry holds as many entries as the model, and its
 * tree is whole (zs_registry_check). */
static void check_count(void) {
  zs_registry_rdlock();
  int broken = zs_registry_check();
  zs_registry_unlock();
  if (broken) {
    fprintf(stderr, "fuzz_registry: zs_registry_check: the tree is broken\n");
    abort();
  }
  size_t n = zs_registry_count(), want = zf_model_count(&zf_md);
  if (n != want) {
    fprintf(stderr, "fuzz_registry: %zu entries, model has %zu\n", n, want);
    abort();
  }
}

/* check_walk - every entry, found one after the other from address 0. */
static void check_walk(void) {
  uintptr_t addr = 0;
  for (size_t i = 0; i <= ZF_SLOTS; i++) {
    uintptr_t end = check_find(addr);
    if (end == 0 || end == UINTPTR_MAX)
      return;
    addr = end;
  }
  zf_die("walk: more entries than slots", addr, NULL, NULL);
}

/* check_refs - each fdslot's references equal the entries holding it. */
static void check_refs(void) {
  for (int s = 0; s < ZF_FDSLOTS; s++)
    if ((size_t)zf_refs[s] != zf_model_refs(&zf_md, s)) {
      fprintf(stderr, "fuzz_registry: fdslot %d has %ld references, %zu entries hold it\n", s,
              zf_refs[s], zf_model_refs(&zf_md, s));
      abort();
    }
}

/* check_rc - the registry's return value of a change is the model's. */
static void check_rc(const char *what, int rc, int want, uintptr_t addr) {
  if (rc != want) {
    fprintf(stderr, "fuzz_registry: %s at %#lx returned %d, model says %d\n", what,
            (unsigned long)addr, rc, want);
    abort();
  }
}

/* check_around - after a change of slots [a, b): the count, and the
 * entries found at and next to both edges; everything if an allocation
 * failed (rc ENOMEM), since a failed split forgets a whole entry. */
static void check_around(size_t a, size_t b, int rc) {
  check_count();
  if (rc != 0) {
    check_walk();
    return;
  }
  size_t at[4] = {a, b, a > 0 ? a - 1 : a, b > 0 ? b - 1 : b};
  for (int k = 0; k < 4; k++)
    if (at[k] < ZF_SLOTS)
      check_find(zf_addr(&zf_md, at[k]));
}

/* make_plain - record r's insert (attr>>4 of 11-15) as plain anonymous
 * private memory, or for 11 as nearly so: one field off by extra>>5. */
static void make_plain(struct zs_map *m, const uint8_t *r) {
  m->kind = ZAPSHIM_KIND_ANON_PRIVATE;
  m->flags = (r[7] & 8) ? ZS_MAP_ANON | ZS_MAP_DONTFORK : ZS_MAP_ANON;
  m->prot = (uint8_t)(r[7] & 7);
  m->page_shift = 12;
  m->fdslot = -1;
  m->ino = 0;
  m->dev = 0;
  if (r[6] >> 4 != 11)
    return;
  switch (r[7] >> 5) {
  case 0: m->page_shift = 21; break;
  case 1: m->flags |= ZS_MAP_HUGETLB; break;
  case 2: m->flags |= ZS_MAP_SHARED; break;
  case 3: m->kind = ZAPSHIM_KIND_SHMEM_SHARED; break;
  case 4: m->fdslot = (int32_t)(r[6] & 7); break;
  case 5: m->ino = 1; break;
  case 6: m->dev = 1; break;
  default: m->flags |= ZS_MAP_FD_WRITABLE; break;
  }
}

/* op_insert - insert record r on both sides. */
static void op_insert(const uint8_t *r, size_t a, size_t b) {
  uint64_t off = (uint64_t)(r[4] | r[5] << 8) << (r[7] & 31);
  struct zs_map m = {
      .start = zf_addr(&zf_md, a), .end = zf_addr(&zf_md, b), .offset = off,
      .ino = r[7] >> 5, .dev = r[6] >> 4, .fdslot = (r[6] & 8) ? -1 : (int32_t)(r[6] & 7),
      .kind = (uint8_t)(r[6] >> 4), .prot = (uint8_t)(r[7] & 7), .page_shift = 12,
      .flags = (uint8_t)(r[7] >> 3)};
  if (r[6] >> 4 >= 11)
    make_plain(&m, r);
  zs_registry_wrlock();
  int rc = zs_registry_insert(&m);
  zs_registry_unlock();
  check_rc("insert", rc, zf_model_insert(&zf_md, a, b, &m), m.start);
  check_around(a, b, rc);
}

/* op_remove - remove record r's range on both sides. */
static void op_remove(const uint8_t *r, size_t a, size_t b) {
  uintptr_t start = (r[7] & 1) ? 0 : zf_addr(&zf_md, a);
  uintptr_t end = (r[7] & 2) ? UINTPTR_MAX : zf_addr(&zf_md, b);
  if (r[7] & 1)
    a = 0;
  if (r[7] & 2)
    b = ZF_SLOTS;
  struct zs_map first;
  bool overlaps = zf_model_find(&zf_md, start, &first) && first.start < end;
  zs_registry_wrlock();
  uint64_t gen = zs_registry_generation();
  int rc = zs_registry_remove(start, end);
  bool moved = zs_registry_generation() != gen;
  zs_registry_unlock();
  if (!overlaps && moved)
    zf_die("remove of a range no entry overlaps moved the generation", start, NULL, NULL);
  check_rc("remove", rc, zf_model_remove(&zf_md, a, b), start);
  check_around(a, b, rc);
}

/* set_faults - op byte bits 2-3 (see the top of the file): the node
 * allocation budget of the registry and the model alike. */
static void set_faults(uint8_t op) {
  long n;
  switch ((op >> 2) & 3) {
  case 0: return;
  case 1: n = -1; break;
  case 2: n = (op >> 4) & 3; break;
  default: n = 0; break;
  }
  zs_registry_fault_set(n);
  zf_model_set_budget(&zf_md, n);
}

/* op_find - look up record r's address on both sides. */
static void op_find(const uint8_t *r, size_t a) {
  uintptr_t addr = zf_addr(&zf_md, a) + (uintptr_t)r[7] % zf_md.unit;
  if (r[6] & 1)
    addr = zf_md.base > r[7] ? zf_md.base - 1 - r[7] : 0;
  if (r[6] & 2)
    addr = UINTPTR_MAX;
  if (a == ZF_SLOTS && zf_md.base + ZF_SLOTS * zf_md.unit == UINTPTR_MAX)
    addr = UINTPTR_MAX; /* the window ends at the top: nothing above */
  check_find(addr);
}

/* LLVMFuzzerTestOneInput - run one input (see the top of the file). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uintptr_t unit = (data[0] & 4) ? 4096 : 1;
  uintptr_t span = (uintptr_t)ZF_SLOTS * unit;
  static const uintptr_t bases[4] = {0, (uintptr_t)0x7f0000000000ull, 0, 4096};
  uintptr_t base = (data[0] & 3) == 2 ? UINTPTR_MAX - span : bases[data[0] & 3];
  zs_registry_fault_set(-1); /* the previous input's failures end here */
  zs_registry_wrlock();
  zs_registry_remove(0, UINTPTR_MAX); /* whatever the previous input left */
  zs_registry_unlock();
  memset(zf_refs, 0, sizeof zf_refs);
  zf_model_reset(&zf_md, base, unit);
  check_count();
  for (size_t i = 1; i + 8 <= size; i += 8) {
    const uint8_t *r = data + i;
    size_t a = (size_t)(r[1] | r[2] << 8) % (ZF_SLOTS + 1);
    size_t b = a + r[3] > ZF_SLOTS ? ZF_SLOTS : a + r[3];
    set_faults(r[0]);
    switch (r[0] % 4) {
    case 0: op_insert(r, a, b); break;
    case 1: op_remove(r, a, b); break;
    case 2: op_find(r, a); break;
    default: check_walk(); break;
    }
  }
  check_walk();
  check_refs();
  return 0;
}
