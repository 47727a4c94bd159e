/*
 * init.h - bringing the shim up once.
 */
#ifndef ZS_INIT_H
#define ZS_INIT_H

#include <stdbool.h>

/*
 * zs_init - bring the shim up once: resolve the real functions (those of
 * mmap, munmap, mremap, madvise, shmat and shmdt on first use), read the
 * configuration, detect the kernel, open the log and keep /proc.  Safe to
 * call from any thread at any time; a call made while init runs (from
 * dlsym's calloc, or another thread) returns false at once, and until the
 * shim is ready every hook passes straight through (zs_enter).  The
 * preload library calls it from its constructor; programs linking the core
 * directly (tests) call it themselves.  Returns true if the shim is ready
 * to apply its policy.
 */
bool zs_init(void);

#endif
