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

/* zs_policy_decide - see policy.h. A punch through a private view reaches
 * every user of the file, so a named file is never punched that way, not
 * even with the opt-in (which is about shared guest RAM in a named file);
 * private hugetlb keeps DONTNEED where the kernel has it (the file is not
 * touched). */
enum zs_action zs_policy_decide(int kind, unsigned facts, int advice, const struct zs_caps *caps,
                                bool named_files_zap) {
  enum zs_action act = zs_policy_action(kind, advice, caps);
  bool named = (facts & ZS_FACT_NAMED) != 0;
  switch (act) {
  case ZS_ACT_HUGE_PUNCH:
    return named || (facts & ZS_FACT_OTHER_USERS) ? ZS_ACT_ASKED : act;
  case ZS_ACT_DONTNEED_PUNCH:
    return named ? ZS_ACT_ASKED : act;
  case ZS_ACT_REMOVE: /* shared: a named file gets the program's own call only */
    if (named && !named_files_zap)
      return ZS_ACT_ASKED;
    return advice == MADV_DONTNEED && (facts & ZS_FACT_READONLY) ? ZS_ACT_ASKED : act;
  default:
    return act;
  }
}

/* zs_policy_why - see policy.h. */
const char *zs_policy_why(int kind, unsigned facts, int advice, const struct zs_caps *caps,
                          bool named_files_zap) {
  enum zs_action plain = zs_policy_action(kind, advice, caps);
  if (plain == ZS_ACT_ASKED ||
      zs_policy_decide(kind, facts, advice, caps, named_files_zap) != ZS_ACT_ASKED)
    return NULL;
  if (facts & ZS_FACT_NAMED)
    return "the file is still linked (anyone may open it by name): left as asked, its data kept"
           " (ZAPSHIM_NAMED_FILES=zap frees shared named files)";
  if (plain == ZS_ACT_HUGE_PUNCH)
    return "private huge pages left as asked: this kernel frees them only by punching the file,"
           " which may have other users (another mapping, a fork child)";
  return "read-only mapping of shared memory: left as asked, memory not freed (map it"
         " writable to let DONTNEED free it)";
}

/* zs_policy_beyond_call - see policy.h. */
bool zs_policy_beyond_call(enum zs_action act, int advice, bool aligned) {
  switch (act) {
  case ZS_ACT_ASKED:
    return false;
  case ZS_ACT_HUGE_DONTNEED: /* whole huge pages: the program's DONTNEED */
    return advice != MADV_DONTNEED || !aligned;
  case ZS_ACT_REMOVE: /* the program's REMOVE, unless partial pages are zeroed */
    return advice != MADV_REMOVE || !aligned;
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
