/*
 * walk.h - the kernel's view of a range, piece by piece, for one process:
 * this one (the preload path) or a traced one (the supervisor of the
 * syscall path).  Both paths cut a range, describe each piece, learn its
 * facts (named file, read-only, other users) and ask the policy with this
 * same code: only where the kernel is asked differs (struct zs_proc).
 *
 * No malloc, no stdio: usable from the interposed paths.
 */
#ifndef ZS_WALK_H
#define ZS_WALK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "map.h"
#include "policy.h"
#include "vma.h"

/*
 * A process whose mappings are asked of the kernel.  query has
 * zs_vma_query's contract (0; ENOENT: nothing at or above; other errno:
 * nothing known); open_map_file opens the file behind the VMA [start, end)
 * through that process's map_files (-1 with errno); classify fills m from
 * the kernel's VMA v as zs_classify_vma does.  forked: once true, a private file
 * of the process may be mapped by a fork child.
 */
struct zs_proc {
  int (*query)(struct zs_proc *p, uintptr_t addr, struct zs_vma *out);
  /* the same without the VMA's name (name ""), cheaper; NULL: use query */
  int (*query_bare)(struct zs_proc *p, uintptr_t addr, struct zs_vma *out);
  int (*open_map_file)(struct zs_proc *p, uintptr_t start, uintptr_t end, int flags);
  void (*classify)(struct zs_proc *p, const struct zs_vma *v, struct zs_map *m);
  const _Atomic bool *forked; /* true once the process may share private files with a child */
  void *ctx; /* the reader's own state */
};

/* zs_proc_self - this process, through zs_vma_query and /proc/self
 * (forked: zs_state.has_forked, read at each use). */
struct zs_proc *zs_proc_self(void);

/* One piece of a range: [start, end) inside one mapping described by m. */
struct zs_piece {
  uintptr_t start, end;
  struct zs_map m;
  bool from_registry;
  bool confirmed; /* m is the kernel's view at this moment */
  bool hole;      /* nothing is mapped in [start, end) */
  unsigned facts; /* ZS_FACT_*, from the kernel (0 until confirmed) */
};

/*
 * zs_walk_kernel_piece - describe [a, limit) of process pr from the
 * kernel's view: a mapped piece up to the VMA's end (confirmed, with its
 * facts named and read-only), a hole up to the next VMA, or, if the kernel
 * cannot be asked, an unknown piece (the program's own call; logged once).
 * If vout is not NULL it receives the VMA (when one was found).
 */
void zs_walk_kernel_piece(struct zs_proc *pr, uintptr_t a, uintptr_t limit, struct zs_piece *p,
                          struct zs_vma *vout);

/*
 * zs_walk_confirm - check a piece described by someone else (the
 * registry) against the kernel of pr.  On agreement the piece is
 * confirmed, ends where the VMA ends at the latest, and takes the
 * kernel's protection and facts; on disagreement it takes the kernel's
 * view (zs_walk_kernel_piece; it may become a hole, or unknown).  Returns
 * true if the description was right.
 */
bool zs_walk_confirm(struct zs_proc *pr, struct zs_piece *p);

/*
 * zs_walk_same_object - true if the kernel's VMA v maps the same memory
 * at p->start as p->m says (sharing, device, inode, file offset; kind
 * where there is no inode).
 */
bool zs_walk_same_object(struct zs_proc *pr, const struct zs_piece *p, const struct zs_vma *v);

/*
 * zs_walk_other_users - ZS_FACT_OTHER_USERS if the file behind confirmed
 * private piece p may be mapped by someone else: pr has forked and the
 * range is not MADV_DONTFORK, another VMA of pr maps the file, or the
 * kernel cannot be asked; else 0.  Scans every mapping of pr.
 */
unsigned zs_walk_other_users(struct zs_proc *pr, const struct zs_piece *p);

/* zs_walk_decide - the policy's action for piece p when advice was asked,
 * with the caps and the named-files opt-in of zs_state. */
enum zs_action zs_walk_decide(const struct zs_piece *p, int advice);

/* zs_walk_aligned - true if the piece starts and ends on its mapping's pages. */
bool zs_walk_aligned(const struct zs_piece *p);

#endif
