/*
 * hooks.h - the shim's behaviour behind each interposed call.
 *
 * The wrappers in wrappers/ are one-line shells around these; tests link
 * these directly, without LD_PRELOAD.  Each makes the real call, keeps the
 * registry true to what the kernel did (a failed call changes nothing), and
 * returns exactly what the real call returned, errno included.
 */
#ifndef ZS_HOOKS_H
#define ZS_HOOKS_H

#include <stddef.h>
#include <sys/types.h>

void *zs_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int zs_munmap(void *addr, size_t len);
void *zs_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);
int zs_madvise(void *addr, size_t len, int advice);
void *zs_shmat(int id, const void *addr, int flags);
int zs_shmdt(const void *addr);

/*
 * zs_hooks_fork_child - in a fork child (registry lock freshly reset, one
 * thread): drop the entries of MADV_DONTFORK ranges, which the child does
 * not have, and the thread's zap notes (zs_zap_forget).
 */
void zs_hooks_fork_child(void);

#endif
