/*
 * policy.h - which call zaps which memory kind (the default policy).
 *
 * | mapping                          | MADV_DONTNEED asked | MADV_REMOVE asked        |
 * |----------------------------------|---------------------|--------------------------|
 * | anonymous private                | DONTNEED            | DONTNEED                 |
 * | shmem / hugetlb shared, gmem     | MADV_REMOVE         | MADV_REMOVE              |
 * | hugetlb private                  | DONTNEED (5.18+); before, PUNCH_HOLE via the |
 * |                                  | kept fd if the file is unnamed and has no    |
 * |                                  | other user in sight, else as asked           |
 * | shmem private                    | DONTNEED            | PUNCH_HOLE + DONTNEED, or |
 * |                                  |                     | as asked if no punch      |
 * | named tmpfs/hugetlbfs, shared    | as asked (opt-in:   | as asked                 |
 * |                                  | MADV_REMOVE)        |                          |
 * | named tmpfs/hugetlbfs, private   | as private shmem/hugetlb, never a punch        |
 * | persistent file, shared          | DONTNEED            | as asked (kernel punches)|
 * | persistent file, private         | DONTNEED            | DONTNEED                 |
 * | other, unknown                   | as asked            | as asked                 |
 *
 * The facts beyond the kind (named, read-only, other users) come from the
 * kernel's view at the moment of the zap; zs_policy_decide weighs them.
 * A read-only (or PROT_NONE) view of shared memory is not freed on
 * MADV_DONTNEED: the program cannot write that memory, so its DONTNEED can
 * only mean "drop my view"; freeing it could lose another process's data.
 * It is left as asked, and logged.

 * Where the result differs from what the kernel alone would return (the
 * deliberate exceptions; test/diff lists the same):
 *  - MADV_REMOVE on private memory (anonymous, shmem, hugetlb, persistent
 *    file) is answered as the policy's DONTNEED-type zap is, where the
 *    kernel says EINVAL or EACCES: 0, or ENOMEM for holes after the mapped
 *    parts are zapped. The program asked for the memory to be freed, and
 *    it is.
 *  - On hugetlb, a range that ends inside a huge page: the kernel's
 *    DONTNEED silently skips that page; the shim zeroes its covered part
 *    (and logs it), so success never leaves stale data behind. With
 *    MADV_REMOVE on private hugetlb the same holds for a range that starts
 *    inside a huge page (with DONTNEED that start is the kernel's EINVAL).
 */
#ifndef ZS_POLICY_H
#define ZS_POLICY_H

#include <stdbool.h>
#include "kernel.h"

enum zs_action {
  ZS_ACT_ASKED,          /* the program's own call, untouched */
  ZS_ACT_DONTNEED,       /* MADV_DONTNEED instead of what was asked */
  ZS_ACT_REMOVE,         /* MADV_REMOVE */
  ZS_ACT_HUGE_DONTNEED,  /* DONTNEED on whole huge pages, edges zeroed */
  ZS_ACT_HUGE_PUNCH,     /* PUNCH_HOLE on whole huge pages via kept fd, edges zeroed */
  ZS_ACT_DONTNEED_PUNCH, /* DONTNEED, then PUNCH_HOLE of the backing range */
};

/* zs_policy_action - the action for a piece of memory of this kind when the
 * program asked for advice (MADV_DONTNEED or MADV_REMOVE). */
enum zs_action zs_policy_action(int kind, int advice, const struct zs_caps *caps);

/* Facts about a piece, beyond its kind, that the policy weighs. They come
 * from the kernel's view at the moment of the zap (never from memory). */
#define ZS_FACT_NAMED 0x01 /* a tmpfs or hugetlbfs file still linked in a
                            * directory: anyone may open it by name */
#define ZS_FACT_OTHER_USERS 0x02 /* the file behind a private mapping may be
                                  * mapped elsewhere (another mapping of it in
                                  * this process, or a fork child): a punch
                                  * would destroy their data */
#define ZS_FACT_READONLY 0x04 /* the mapping is not writable (the kernel's
                               * protection, mprotect included) */

/*
 * zs_policy_decide - the action for a piece of this kind with these facts
 * when the program asked for advice, with named_files_zap the user's
 * opt-in (ZAPSHIM_NAMED_FILES=zap).  A shared mapping of a named file is
 * treated like a persistent one unless opted in: left as asked on
 * MADV_DONTNEED (the data stays), MADV_REMOVE passed through (the program
 * asked).  Through a private mapping a named file is never punched, opt-in
 * or not (the program's own call: the kernel's answer).  A private hugetlb
 * view that only a punch could free (kernels before 5.18) is punched only
 * if the file is neither named nor ZS_FACT_OTHER_USERS; else left as asked.
 * A read-only view of shared memory is left as asked on MADV_DONTNEED: the
 * program cannot write that memory, so its DONTNEED can only mean "drop my
 * view"; freeing it could lose another process's data.  Without facts this is
 * zs_policy_action.
 */
enum zs_action zs_policy_decide(int kind, unsigned facts, int advice, const struct zs_caps *caps,
                                bool named_files_zap);

/*
 * zs_policy_why - why zs_policy_decide leaves as asked what the plain
 * table (zs_policy_action) would translate, for the log; NULL if it does
 * not.  Same arguments as zs_policy_decide.
 */
const char *zs_policy_why(int kind, unsigned facts, int advice, const struct zs_caps *caps,
                          bool named_files_zap);

/*
 * zs_policy_beyond_call - true if carrying out act does more than, or other
 * than, the program's own call (advice over a range whose ends are, or
 * are not, aligned to the mapping's page size): such an action may be
 * taken only on the kernel's word at that moment.  The program's own call
 * (ZS_ACT_ASKED), and the same advice over whole huge pages, are not.
 */
bool zs_policy_beyond_call(enum zs_action act, int advice, bool aligned);

/* zs_policy_needs_fd - true if mappings of this kind keep a descriptor for
 * later zaps (private shmem; private hugetlb without hugetlb DONTNEED). */
bool zs_policy_needs_fd(int kind, const struct zs_caps *caps);

/* zs_action_name - "MADV_REMOVE", "PUNCH_HOLE" ... for the log. */
const char *zs_action_name(enum zs_action act);

#endif
