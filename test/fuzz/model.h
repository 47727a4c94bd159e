/*
 * model.h - the reference the registry fuzzer compares against: a window
 * of ZF_SLOTS equal slots (a slot is one unit of address: a byte or a
 * page), each either empty or owned by one entry, with the file offset the
 * entry gives that slot.  Obviously right by construction: an insert
 * overwrites slots, a remove empties them, nothing is ever split or moved,
 * and the entries the registry should hold are read back as maximal runs
 * of slots owned by the same insert.
 *
 * Plain anonymous private memory (zf_plain, as registry.h defines it):
 * the registry joins neighbouring plain entries of the same flags, so an
 * entry here is a maximal run of slots each owned by the same insert or,
 * slot to slot, both plain with the same flags; never across an empty
 * slot, never between plain and anything else or different flags.  Such
 * an entry answers prot 0 and an offset the model does not predict (the
 * harness does not compare it); every other field is exact.  A plain
 * insert allocates no node when an entry joinable with it already covers
 * its slots (nothing changes), nor when a joinable entry ends just below
 * or starts just above them after the carve.
 *
 * Allocation failure: the model counts the node allocations the registry
 * makes (one to split an entry that strictly contains a removed range,
 * one per insert, after its carve) against a budget, as the registry's
 * fault injection does.  When one fails the expectation is "unknown": the
 * range holds no entry, and an entry that needed the split is gone whole;
 * never the old entry kept.
 */
#ifndef ZF_MODEL_H
#define ZF_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

#define ZF_SLOTS 512u

struct zf_slot {
  uint32_t id;     /* the insert that owns the slot, 0 if empty */
  struct zs_map m; /* that insert's fields; m.offset: the slot's own file offset */
};

struct zf_model {
  uintptr_t base;                /* address of slot 0 */
  uintptr_t unit;                /* bytes per slot */
  uint32_t next_id;              /* id of the next insert */
  long budget;                   /* node allocations left before they fail, -1: no limit */
  struct zf_slot slot[ZF_SLOTS];
};

/* zf_plain - true if *m is plain anonymous private memory: kind
 * ZAPSHIM_KIND_ANON_PRIVATE, flags ZS_MAP_ANON alone or with
 * ZS_MAP_DONTFORK, page_shift 12, fdslot -1, ino 0, dev 0. */
bool zf_plain(const struct zs_map *m);

/* zf_model_reset - empty model of ZF_SLOTS slots of unit bytes from base,
 * with no limit on node allocations. */
void zf_model_reset(struct zf_model *md, uintptr_t base, uintptr_t unit);

/* zf_addr - the address of slot s (s may be ZF_SLOTS: the window's end). */
uintptr_t zf_addr(const struct zf_model *md, size_t s);

/* zf_model_set_budget - n more node allocations succeed, then all fail;
 * n < 0: no limit (as zs_registry_fault_set). */
void zf_model_set_budget(struct zf_model *md, long n);

/*
 * zf_model_insert - zs_registry_insert of *m over slots [a, b): nothing if
 * a >= b, or if *m is plain and one entry joinable with it covers [a, b);
 * else the slots are carved out (zf_model_remove), then, if *m is plain
 * with a joinable neighbour at a-1 or b, or if a node allocation is left,
 * they belong to a new insert like *m whose slot a has file offset
 * m->offset.  Returns what the registry must return: 0, or
 * ENOMEM when the new entry's node failed (the slots are then empty).
 */
int zf_model_insert(struct zf_model *md, size_t a, size_t b, const struct zs_map *m);

/*
 * zf_model_remove - zs_registry_remove over slots [a, b): they become
 * empty.  If one entry strictly contains them (slots a-1 to b all in it)
 * the registry splits it, which takes a node allocation; if that fails,
 * the whole entry becomes empty.  Returns what the registry must return:
 * 0, or ENOMEM for the failed split.  Callers whose address range reaches
 * past the window pass a = 0 or b = ZF_SLOTS: nothing contains such a
 * range strictly.
 */
int zf_model_remove(struct zf_model *md, size_t a, size_t b);

/*
 * zf_model_find - what zs_registry_find(addr) must answer: the entry
 * covering addr, else the first above it.  Returns false for ENOENT, else
 * true with the whole expected entry in *out.
 */
bool zf_model_find(const struct zf_model *md, uintptr_t addr, struct zs_map *out);

/*
 * zf_model_gap - what zs_registry_gap(addr) must answer: false for
 * EEXIST (an entry covers addr), else true with the free range around
 * addr in [*lo, *hi).
 */
bool zf_model_gap(const struct zf_model *md, uintptr_t addr, uintptr_t *lo, uintptr_t *hi);

/* zf_model_count - number of entries (maximal runs, joined as above). */
size_t zf_model_count(const struct zf_model *md);

/* zf_model_refs - entries whose fdslot is slot. */
size_t zf_model_refs(const struct zf_model *md, int32_t slot);

#endif
