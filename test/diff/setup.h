/*
 * setup.h - fresh memory set-ups for the madvise cases, one per side.
 */
#ifndef ZS_DIFF_SETUP_H
#define ZS_DIFF_SETUP_H

#include "diff.h"

/* One side's set-up. */
struct denv {
  char *base;     /* the region the case works in */
  size_t len;     /* its length (holes included) */
  size_t unit;    /* its page size: 4096 or the huge page size */
  int fd;         /* the backing file (memfd, ext4, hugetlb memfd) or -1 */
  bool sysv;      /* attached with shmat: detach with shmdt */
  char path[256]; /* a file to remove at teardown, or "" */
};

/* d_setup - build set-up k into *e (asserts; zt_need for missing huge
 * pages or ext4). */
void d_setup(enum dkind k, struct denv *e);

/* d_teardown - unmap, close and remove what d_setup made. */
void d_teardown(struct denv *e);

#endif
