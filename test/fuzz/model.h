/*
 * model.h - the reference the registry fuzzer compares against: a window
 * of ZF_SLOTS equal slots (a slot is one unit of address: a byte or a
 * page), each either empty or owned by one entry, with the file offset the
 * entry gives that slot.  Obviously right by construction: an insert
 * overwrites slots, a remove empties them, nothing is ever split or moved,
 * and the entries the registry should hold are read back as maximal runs
 * of slots owned by the same insert.
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
  struct zf_slot slot[ZF_SLOTS];
};

/* zf_model_reset - empty model of ZF_SLOTS slots of unit bytes from base. */
void zf_model_reset(struct zf_model *md, uintptr_t base, uintptr_t unit);

/* zf_addr - the address of slot s (s may be ZF_SLOTS: the window's end). */
uintptr_t zf_addr(const struct zf_model *md, size_t s);

/* zf_model_insert - slots [a, b) now belong to a new entry like *m whose
 * slot a has file offset m->offset. Nothing if a >= b. */
void zf_model_insert(struct zf_model *md, size_t a, size_t b, const struct zs_map *m);

/* zf_model_remove - slots [a, b) become empty. */
void zf_model_remove(struct zf_model *md, size_t a, size_t b);

/*
 * zf_model_find - what zs_registry_find(addr) must answer: the entry
 * covering addr, else the first above it.  Returns false for ENOENT, else
 * true with the whole expected entry in *out.
 */
bool zf_model_find(const struct zf_model *md, uintptr_t addr, struct zs_map *out);

/* zf_model_count - number of entries (maximal runs). */
size_t zf_model_count(const struct zf_model *md);

/* zf_model_refs - entries whose fdslot is slot. */
size_t zf_model_refs(const struct zf_model *md, int32_t slot);

#endif
