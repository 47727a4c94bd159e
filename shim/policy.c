/*
 * policy.c - the default zap policy (table in policy.h).
 */
#include "policy.h"
#include "zapshim.h"

#include <sys/mman.h>

/* zs_policy_action - see policy.h. */
enum zs_action zs_policy_action(int kind, int advice, const struct zs_caps *caps) {
  bool remove = advice == MADV_REMOVE;
  switch (kind) {
  case ZAPSHIM_KIND_ANON_PRIVATE:
  case ZAPSHIM_KIND_FILE_PRIVATE:
    return remove ? ZS_ACT_DONTNEED : ZS_ACT_ASKED;
  case ZAPSHIM_KIND_SHMEM_SHARED:
  case ZAPSHIM_KIND_GUEST_MEMFD:
    return remove ? ZS_ACT_ASKED : ZS_ACT_REMOVE;
  case ZAPSHIM_KIND_HUGETLB_SHARED:
    return ZS_ACT_REMOVE; /* edges handled there, whatever was asked */
  case ZAPSHIM_KIND_HUGETLB_PRIVATE:
    return caps->hugetlb_dontneed ? ZS_ACT_HUGE_DONTNEED : ZS_ACT_HUGE_PUNCH;
  case ZAPSHIM_KIND_SHMEM_PRIVATE:
    return remove ? ZS_ACT_DONTNEED_PUNCH : ZS_ACT_ASKED;
  default: /* persistent shared, other, unknown */
    return ZS_ACT_ASKED;
  }
}

/* zs_policy_decide - see policy.h. A private hugetlb view of a named file
 * keeps DONTNEED where the kernel has it (the file is not touched); where
 * only a punch would free it, it is left as asked. */
enum zs_action zs_policy_decide(int kind, unsigned facts, int advice, const struct zs_caps *caps,
                                bool named_files_zap) {
  enum zs_action act = zs_policy_action(kind, advice, caps);
  if (!(facts & ZS_FACT_NAMED) || named_files_zap)
    return act;
  switch (act) {
  case ZS_ACT_REMOVE: /* shared: the program's own REMOVE only */
    return ZS_ACT_ASKED;
  case ZS_ACT_HUGE_PUNCH: /* would punch the named file */
    return ZS_ACT_ASKED;
  case ZS_ACT_DONTNEED_PUNCH: /* private shmem: never punch the named file */
    return ZS_ACT_ASKED;
  default:
    return act;
  }
}

/* zs_policy_needs_confirm - see policy.h. DONTNEED-type actions never do
 * more than the program's DONTNEED or REMOVE; the rest may. */
bool zs_policy_needs_confirm(enum zs_action act, int advice) {
  switch (act) {
  case ZS_ACT_ASKED:
  case ZS_ACT_DONTNEED:
  case ZS_ACT_HUGE_DONTNEED:
    return false;
  case ZS_ACT_REMOVE:
    return advice != MADV_REMOVE;
  default:
    return true;
  }
}

/* zs_policy_needs_fd - see policy.h. */
bool zs_policy_needs_fd(int kind, const struct zs_caps *caps) {
  if (kind == ZAPSHIM_KIND_SHMEM_PRIVATE)
    return true;
  return kind == ZAPSHIM_KIND_HUGETLB_PRIVATE && !caps->hugetlb_dontneed;
}

/* zs_action_name - see policy.h. */
const char *zs_action_name(enum zs_action act) {
  switch (act) {
  case ZS_ACT_ASKED: return "as-asked";
  case ZS_ACT_DONTNEED: return "MADV_DONTNEED";
  case ZS_ACT_REMOVE: return "MADV_REMOVE";
  case ZS_ACT_HUGE_DONTNEED: return "MADV_DONTNEED(huge)";
  case ZS_ACT_HUGE_PUNCH: return "PUNCH_HOLE(huge)";
  case ZS_ACT_DONTNEED_PUNCH: return "MADV_DONTNEED+PUNCH_HOLE";
  }
  return "?";
}
