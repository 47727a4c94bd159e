/*
 * zap.h - the zap policy: turn MADV_DONTNEED / MADV_REMOVE into the call that
 * really frees each piece of a range, by memory kind.
 */
#ifndef ZS_ZAP_H
#define ZS_ZAP_H

#include <stddef.h>

/*
 * zs_zap - apply the policy to [addr, addr+len) for advice MADV_DONTNEED or
 * MADV_REMOVE.  Bad arguments (unaligned addr, wrapping length) get the
 * kernel's own answer; each mapped piece is zapped by its kind; holes give
 * ENOMEM after the mapped parts are done, as the kernel does.  A translated
 * call that fails where the original would work falls back to the original
 * call and logs why.  Returns 0, or -1 with errno.
 */
int zs_zap(void *addr, size_t len, int advice);

#endif
