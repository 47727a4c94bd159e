/*
 * model.c - the registry fuzzer's reference model (see model.h): a plain
 * array of slots, searched linearly.  Slow and simple on purpose.
 */
#include "model.h"

#include <errno.h>
#include <string.h>

#include "zapshim.h"

/* zf_plain - see model.h. */
bool zf_plain(const struct zs_map *m) {
  return m->kind == ZAPSHIM_KIND_ANON_PRIVATE &&
         (m->flags == ZS_MAP_ANON || m->flags == (ZS_MAP_ANON | ZS_MAP_DONTFORK)) &&
         m->page_shift == 12 && m->fdslot == -1 && m->ino == 0 && m->dev == 0;
}

/* joins - true if plain *m and slot s (used or not) would be one entry. */
static bool joins(const struct zf_model *md, size_t s, const struct zs_map *m) {
  const struct zf_slot *x = &md->slot[s];
  return x->id != 0 && zf_plain(&x->m) && x->m.flags == m->flags;
}

/* linked - true if slots s and s + 1 belong to the same entry: both used,
 * and owned by the same insert or both plain with the same flags. */
static bool linked(const struct zf_model *md, size_t s) {
  const struct zf_slot *x = &md->slot[s], *y = &md->slot[s + 1];
  if (x->id == 0 || y->id == 0)
    return false;
  return x->id == y->id || (zf_plain(&x->m) && joins(md, s + 1, &x->m));
}

/* zf_model_reset - see model.h. */
void zf_model_reset(struct zf_model *md, uintptr_t base, uintptr_t unit) {
  memset(md, 0, sizeof *md);
  md->base = base;
  md->unit = unit;
  md->next_id = 1;
  md->budget = -1;
}

/* zf_addr - see model.h. */
uintptr_t zf_addr(const struct zf_model *md, size_t s) {
  return md->base + (uintptr_t)s * md->unit;
}

/* zf_model_set_budget - see model.h. */
void zf_model_set_budget(struct zf_model *md, long n) {
  md->budget = n < 0 ? -1 : n;
}

/* take_node - one node allocation: true if it succeeds (and is counted). */
static bool take_node(struct zf_model *md) {
  if (md->budget < 0)
    return true;
  if (md->budget == 0)
    return false;
  md->budget--;
  return true;
}

/* empty_run - every slot of the entry (maximal run) holding used slot s
 * becomes empty. */
static void empty_run(struct zf_model *md, size_t s) {
  size_t a = s, b = s + 1;
  while (a > 0 && linked(md, a - 1))
    a--;
  while (b < ZF_SLOTS && linked(md, b - 1))
    b++;
  for (size_t t = a; t < b; t++)
    md->slot[t].id = 0;
}

/* zf_model_remove - see model.h. */
int zf_model_remove(struct zf_model *md, size_t a, size_t b) {
  if (b > ZF_SLOTS)
    b = ZF_SLOTS;
  if (a >= b)
    return 0;
  /* slots a-1 .. b all in one run: one entry strictly contains [a, b) */
  bool contained = a > 0 && b < ZF_SLOTS;
  for (size_t s = a - 1; contained && s < b; s++)
    contained = linked(md, s);
  if (contained && !take_node(md)) {
    empty_run(md, a - 1);
    return ENOMEM;
  }
  for (size_t s = a; s < b; s++)
    md->slot[s].id = 0;
  return 0;
}

/* zf_model_insert - see model.h. */
int zf_model_insert(struct zf_model *md, size_t a, size_t b, const struct zs_map *m) {
  if (a >= b)
    return 0;
  bool plain = zf_plain(m);
  if (plain) { /* one joinable entry covers [a, b) already: no change */
    bool covered = true;
    for (size_t s = a; covered && s < b; s++)
      covered = joins(md, s, m);
    if (covered)
      return 0;
  }
  zf_model_remove(md, a, b);
  bool joined = plain && ((a > 0 && joins(md, a - 1, m)) || (b < ZF_SLOTS && joins(md, b, m)));
  if (!joined && !take_node(md))
    return ENOMEM;
  uint32_t id = md->next_id++;
  for (size_t s = a; s < b; s++) {
    md->slot[s].id = id;
    md->slot[s].m = *m;
    md->slot[s].m.offset = m->offset + (uint64_t)(s - a) * md->unit;
  }
  return 0;
}

/* run_end - one past the last slot of the entry that holds used slot s. */
static size_t run_end(const struct zf_model *md, size_t s) {
  size_t e = s + 1;
  while (e < ZF_SLOTS && linked(md, e - 1))
    e++;
  return e;
}

/* run_start - the first slot of the entry that holds used slot s. */
static size_t run_start(const struct zf_model *md, size_t s) {
  while (s > 0 && linked(md, s - 1))
    s--;
  return s;
}

/* zf_model_find - see model.h. */
bool zf_model_find(const struct zf_model *md, uintptr_t addr, struct zs_map *out) {
  size_t s = 0;
  if (addr >= md->base) {
    uintptr_t d = (addr - md->base) / md->unit;
    if (d >= ZF_SLOTS)
      return false;
    s = (size_t)d;
  }
  if (!md->slot[s].id || addr < md->base) {
    /* not covered: the first used slot above addr starts the answer */
    if (md->slot[s].id)
      s = run_start(md, s);
    else
      while (s < ZF_SLOTS && !md->slot[s].id)
        s++;
    if (s == ZF_SLOTS)
      return false;
  } else {
    s = run_start(md, s);
  }
  *out = md->slot[s].m;
  if (zf_plain(out))
    out->prot = 0; /* plain entries keep no protection */
  out->start = zf_addr(md, s);
  out->end = zf_addr(md, run_end(md, s));
  return true;
}

/* zf_model_count - see model.h. */
size_t zf_model_count(const struct zf_model *md) {
  size_t n = 0;
  for (size_t s = 0; s < ZF_SLOTS; s = md->slot[s].id ? run_end(md, s) : s + 1)
    if (md->slot[s].id)
      n++;
  return n;
}

/* zf_model_refs - see model.h. */
size_t zf_model_refs(const struct zf_model *md, int32_t slot) {
  size_t n = 0;
  for (size_t s = 0; s < ZF_SLOTS; s = md->slot[s].id ? run_end(md, s) : s + 1)
    if (md->slot[s].id && md->slot[s].m.fdslot == slot)
      n++;
  return n;
}

/* zf_model_gap - see model.h. */
bool zf_model_gap(const struct zf_model *md, uintptr_t addr, uintptr_t *lo, uintptr_t *hi) {
  struct zs_map above;
  bool have = zf_model_find(md, addr, &above);
  if (have && above.start <= addr)
    return false;
  *hi = have ? above.start : UINTPTR_MAX;
  *lo = 0;
  if (addr < md->base)
    return true;
  uintptr_t d = (addr - md->base) / md->unit;
  size_t s = d >= ZF_SLOTS ? ZF_SLOTS : (size_t)d; /* slots below s end at or below addr */
  while (s > 0 && !md->slot[s - 1].id)
    s--;
  if (s > 0)
    *lo = zf_addr(md, s);
  return true;
}
