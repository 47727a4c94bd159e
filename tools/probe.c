/*
 * probe.c - zapshim --probe: for every memory kind this machine can make,
 * which of MADV_DONTNEED, MADV_REMOVE and fallocate(PUNCH_HOLE) really
 * zaps it (probe_cell.c measures), and the call zapshim's policy makes
 * for it on this kernel.  Kinds that cannot be tested here are listed with
 * the reason and how to enable them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "classify.h"
#include "policy.h"
#include "probe.h"
#include "state.h"
#include "tool.h"
#include "zapshim.h"

#define ZT_MIB ((size_t)1 << 20)

/* tmpfs and hugetlbfs files come twice: unlinked right after creation (how
 * VMMs make guest RAM files) and still linked in their directory ("named":
 * data anyone may open by path, which zapshim leaves alone on DONTNEED
 * unless ZAPSHIM_NAMED_FILES=zap).  The kernel treats both alike; the
 * policy does not. */
static const struct zt_kind_def kinds[] = {
  {"anon-private", "anon private", ZT_B_ANON, false, false, ZAPSHIM_KIND_ANON_PRIVATE},
  {"anon-shared", "anon shared (shmem)", ZT_B_ANON, true, false, ZAPSHIM_KIND_SHMEM_SHARED},
  {"memfd-shared", "memfd shared", ZT_B_MEMFD, true, false, ZAPSHIM_KIND_SHMEM_SHARED},
  {"memfd-private", "memfd private", ZT_B_MEMFD, false, false, ZAPSHIM_KIND_SHMEM_PRIVATE},
  {"tmpfs-shared", "tmpfs unlinked shared", ZT_B_TMPFS, true, false, ZAPSHIM_KIND_SHMEM_SHARED},
  {"tmpfs-private", "tmpfs unlinked private", ZT_B_TMPFS, false, false,
   ZAPSHIM_KIND_SHMEM_PRIVATE},
  {"tmpfs-named-shared", "tmpfs named shared", ZT_B_TMPFS, true, true, ZAPSHIM_KIND_SHMEM_SHARED},
  {"tmpfs-named-private", "tmpfs named private", ZT_B_TMPFS, false, true,
   ZAPSHIM_KIND_SHMEM_PRIVATE},
  {"sysv-shm", "SysV shm (shmat)", ZT_B_SYSV, true, false, ZAPSHIM_KIND_SHMEM_SHARED},
  {"hugetlbfs-shared", "hugetlbfs unlinked shared", ZT_B_HUGETLBFS, true, false,
   ZAPSHIM_KIND_HUGETLB_SHARED},
  {"hugetlbfs-private", "hugetlbfs unlinked private", ZT_B_HUGETLBFS, false, false,
   ZAPSHIM_KIND_HUGETLB_PRIVATE},
  {"hugetlbfs-named-shared", "hugetlbfs named shared", ZT_B_HUGETLBFS, true, true,
   ZAPSHIM_KIND_HUGETLB_SHARED},
  {"hugetlbfs-named-private", "hugetlbfs named private", ZT_B_HUGETLBFS, false, true,
   ZAPSHIM_KIND_HUGETLB_PRIVATE},
  {"hugetlb-memfd-shared", "hugetlb memfd shared", ZT_B_HUGE_MEMFD, true, false,
   ZAPSHIM_KIND_HUGETLB_SHARED},
  {"hugetlb-memfd-private", "hugetlb memfd private", ZT_B_HUGE_MEMFD, false, false,
   ZAPSHIM_KIND_HUGETLB_PRIVATE},
  {"map-hugetlb-private", "MAP_HUGETLB private", ZT_B_MAP_HUGETLB, false, false,
   ZAPSHIM_KIND_HUGETLB_PRIVATE},
  {"map-hugetlb-shared", "MAP_HUGETLB shared", ZT_B_MAP_HUGETLB, true, false,
   ZAPSHIM_KIND_HUGETLB_SHARED},
  {"guest-memfd", "KVM guest_memfd", ZT_B_GMEM, true, false, ZAPSHIM_KIND_GUEST_MEMFD},
  {"file-shared", "persistent file shared", ZT_B_DISK, true, false, ZAPSHIM_KIND_FILE_SHARED},
  {"file-private", "persistent file private", ZT_B_DISK, false, false,
   ZAPSHIM_KIND_FILE_PRIVATE},
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

static const char *const op_names[ZT_OP_COUNT] = {"MADV_DONTNEED", "MADV_REMOVE", "PUNCH_HOLE",
                                                  "MADV_DONTNEED+PUNCH_HOLE"};

/* One row of the table. */
struct zt_row {
  const char *why, *how; /* not tested: the reason and the remedy; else NULL */
  struct zt_cell cell[ZT_OP_COUNT];
  bool measured[ZT_OP_COUNT];
  enum zs_action act[2];  /* policy for MADV_DONTNEED, MADV_REMOVE asked */
  enum zt_op act_op[2];   /* the measured call each action amounts to */
};

/* parse_size - "2M", "1G", "2048k" to bytes; 0 if not a size. */
static size_t parse_size(const char *s) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  switch (*end) {
  case 'k': case 'K': return (size_t)v << 10;
  case 'm': case 'M': return (size_t)v << 20;
  case 'g': case 'G': return (size_t)v << 30;
  default: return *end ? 0 : (size_t)v;
  }
}

/* find_hugetlbfs - the mount point of a hugetlbfs of page size huge (its
 * pagesize= option, or none: the default size) into dir, a writable one
 * if there is; true if a writable one was found. */
static bool find_hugetlbfs(size_t huge, char *dir, size_t len) {
  FILE *f = fopen("/proc/mounts", "re");
  char line[4096], mnt[PATH_MAX], type[64], opts[2048];
  bool found = false;
  if (!f)
    return false;
  while (!found && fgets(line, sizeof line, f)) {
    if (sscanf(line, "%*s %4095s %63s %2047s", mnt, type, opts) != 3 ||
        strcmp(type, "hugetlbfs") != 0)
      continue;
    char *ps = strstr(opts, "pagesize=");
    size_t size = huge;
    if (ps) {
      char *comma = strchr(ps, ',');
      if (comma)
        *comma = 0;
      size = parse_size(ps + 9);
    }
    if (size == huge && (!found || access(mnt, W_OK) == 0)) {
      snprintf(dir, len, "%s", mnt); /* a writable one wins */
      found = access(mnt, W_OK) == 0;
    }
  }
  fclose(f);
  return found;
}

/* free_huge_pages - free huge pages of this size from sysfs; -1 if none. */
static long free_huge_pages(size_t huge) {
  char path[128];
  long n = -1;
  snprintf(path, sizeof path, "/sys/kernel/mm/hugepages/hugepages-%zukB/free_hugepages",
           huge >> 10);
  FILE *f = fopen(path, "re");
  if (f) {
    if (fscanf(f, "%ld", &n) != 1)
      n = -1;
    fclose(f);
  }
  return n;
}

/* find_disk_dir - the first of /var/tmp, /tmp, the current directory on a
 * persistent filesystem we know (ext4, xfs, btrfs); true if found. */
static bool find_disk_dir(struct zt_probe_env *env) {
  static const struct { unsigned long magic; const char *name; } fss[] = {
    {0xEF53, "ext4"}, {0x58465342, "xfs"}, {0x9123683E, "btrfs"}};
  const char *dirs[] = {"/var/tmp", "/tmp", "."};
  for (size_t i = 0; i < 3; i++) {
    struct statfs s;
    if (statfs(dirs[i], &s) != 0 || access(dirs[i], W_OK) != 0)
      continue;
    for (size_t j = 0; j < 3; j++)
      if ((unsigned long)(uint32_t)s.f_type == fss[j].magic) {
        if (!realpath(dirs[i], env->disk_dir))
          continue;
        snprintf(env->disk_fs, sizeof env->disk_fs, "%s", fss[j].name);
        return true;
      }
  }
  return false;
}

/* detect_uffd - userfaultfd with UFFD_FEATURE_SIGBUS: sets env->uffd and
 * the features to ask (SIGBUS plus the shmem and hugetlbfs missing modes). */
static void detect_uffd(struct zt_probe_env *env) {
  int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
  struct uffdio_api api = {.api = UFFD_API, .features = 0};
  if (fd < 0)
    return;
  if (ioctl(fd, UFFDIO_API, &api) == 0 && (api.features & UFFD_FEATURE_SIGBUS)) {
    env->uffd = true;
    env->uffd_features = api.features & (UFFD_FEATURE_SIGBUS | UFFD_FEATURE_MISSING_SHMEM |
                                         UFFD_FEATURE_MISSING_HUGETLBFS);
  }
  close(fd);
}

/* detect_env - what this machine offers (see struct zt_probe_env). */
static void detect_env(struct zt_probe_env *env) {
  memset(env, 0, sizeof *env);
  env->page_size = zs_state.page_size;
  env->huge_size = zs_state.default_huge_size;
  env->len = 4 * ZT_MIB;
  env->huge_len = env->huge_size * 2 > env->len ? env->huge_size * 2 : env->len;
  snprintf(env->shm_dir, sizeof env->shm_dir, "/dev/shm");
  if (env->huge_size)
    find_hugetlbfs(env->huge_size, env->huge_dir, sizeof env->huge_dir);
  find_disk_dir(env);
  detect_uffd(env);
  int64_t offered = zt_gmem_offered();
  if (offered >= 0 && (offered & ZT_GMEM_FLAG_MMAP)) {
    env->kvm = true;
    env->gmem_flags = ZT_GMEM_FLAG_MMAP | ((uint64_t)offered & ZT_GMEM_FLAG_INIT_SHARED);
  }
}

/* untestable - why kind k cannot be measured here (and *how to fix it),
 * or NULL if it can. */
static const char *untestable(const struct zt_probe_env *env, const struct zt_kind_def *k,
                              const char **how) {
  static char why[160], fix[256];
  bool huge = k->backing == ZT_B_HUGETLBFS || k->backing == ZT_B_HUGE_MEMFD ||
              k->backing == ZT_B_MAP_HUGETLB;
  struct statfs s;
  *how = NULL;
  if (k->backing == ZT_B_TMPFS && (statfs(env->shm_dir, &s) != 0 || s.f_type != TMPFS_MAGIC)) {
    *how = "mount -t tmpfs tmpfs /dev/shm";
    return "no tmpfs mounted at /dev/shm";
  }
  if (huge && !env->huge_size) {
    *how = "a kernel built with CONFIG_HUGETLBFS";
    return "this kernel has no huge pages";
  }
  long need = huge ? (long)(env->huge_len / env->huge_size) : 0;
  if (huge && free_huge_pages(env->huge_size) < need) {
    snprintf(why, sizeof why, "fewer than %ld free %zu KiB huge pages (%ld free)", need,
             env->huge_size >> 10, free_huge_pages(env->huge_size));
    snprintf(fix, sizeof fix, "echo 256 > /sys/kernel/mm/hugepages/hugepages-%zukB/nr_hugepages",
             env->huge_size >> 10);
    *how = fix;
    return why;
  }
  if (k->backing == ZT_B_HUGETLBFS && env->huge_dir[0] && access(env->huge_dir, W_OK) != 0) {
    snprintf(why, sizeof why, "hugetlbfs at %.100s is not writable by this user", env->huge_dir);
    *how = "run as root, or mount hugetlbfs with uid=, gid= and mode= options for this user";
    return why;
  }
  if (k->backing == ZT_B_HUGETLBFS && !env->huge_dir[0]) {
    snprintf(why, sizeof why, "no writable hugetlbfs mount for %zu KiB pages", env->huge_size >> 10);
    snprintf(fix, sizeof fix, "mkdir -p /dev/hugepages; mount -t hugetlbfs -o pagesize=%zuK none "
             "/dev/hugepages", env->huge_size >> 10);
    *how = fix;
    return why;
  }
  if (k->backing == ZT_B_GMEM && !env->kvm) {
    *how = "a 6.18+ kernel with KVM, and access to /dev/kvm (root or the kvm group)";
    return "no /dev/kvm, or its guest_memfd cannot be mmap'ed";
  }
  if (k->backing == ZT_B_DISK && !env->disk_dir[0]) {
    *how = "run from a directory on ext4, xfs or btrfs";
    return "no writable ext4/xfs/btrfs directory (/var/tmp, /tmp, .)";
  }
  return NULL;
}

/* op_of - the measured call that zapshim's action amounts to when the
 * program asked for `asked` (aligned whole ranges: the huge variants are
 * the plain calls). */
static enum zt_op op_of(enum zs_action a, enum zt_op asked) {
  switch (a) {
  case ZS_ACT_DONTNEED:
  case ZS_ACT_HUGE_DONTNEED: return ZT_OP_DONTNEED;
  case ZS_ACT_REMOVE: return ZT_OP_REMOVE;
  case ZS_ACT_HUGE_PUNCH: return ZT_OP_PUNCH;
  case ZS_ACT_DONTNEED_PUNCH: return ZT_OP_DONTNEED_PUNCH;
  default: return asked;
  }
}

/* cell_text - the table's words for a cell. */
static const char *cell_text(const struct zt_cell *c) {
  static char buf[64];
  switch (c->verdict) {
  case ZT_V_ZAPS: return "zaps";
  case ZT_V_KEPT: return "0, data kept";
  case ZT_V_NOT_FREED: return "0, not freed";
  case ZT_V_NO_FAULT: return "0, no fault";
  case ZT_V_ERRNO: return zt_errno_name(c->err);
  case ZT_V_NO_FD: return "n/a (no fd)";
  case ZT_V_SETUP: return "setup failed";
  default: snprintf(buf, sizeof buf, "crashed (%.40s)", c->detail); return buf;
  }
}

/* json_str - s as a JSON string on stdout. */
static void json_str(const char *s) {
  putchar('"');
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\')
      printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      printf("\\u%04x", *s);
    else
      putchar(*s);
  }
  putchar('"');
}

/* policy_ok - true unless zapshim's action was measured here and does not
 * zap.  Left out by design: persistent files (their data must stay), named
 * tmpfs/hugetlbfs files left as asked (the same; ZAPSHIM_NAMED_FILES=zap
 * changes the action of shared ones, never punches through a private one)
 * and a DONTNEED on private shmem that zapshim passes as asked (the mapping
 * then reads the file again, which keeps its pages). */
static bool policy_ok(const struct zt_kind_def *k, const struct zt_row *r, int i) {
  if (r->why || k->zkind == ZAPSHIM_KIND_FILE_SHARED || k->zkind == ZAPSHIM_KIND_FILE_PRIVATE)
    return true;
  if (k->named && r->act[i] == ZS_ACT_ASKED)
    return true;
  if (k->zkind == ZAPSHIM_KIND_SHMEM_PRIVATE && r->act[i] == ZS_ACT_ASKED)
    return true;
  return r->cell[r->act_op[i]].verdict == ZT_V_ZAPS;
}

/* print_json - the whole result as one JSON object. */
static void print_json(const struct zt_probe_env *env, const struct zt_row *rows,
                       const char *release) {
  printf("{\n  \"version\": \"%s\",\n  \"kernel\": ", ZAPSHIM_VERSION_STRING);
  json_str(release);
  printf(",\n  \"policy_kernel\": \"%u.%u\",\n  \"page_size\": %zu,\n  \"huge_page_size\": %zu,\n"
         "  \"bytes_per_test\": %zu,\n  \"userfaultfd\": %s,\n  \"named_files\": \"%s\",\n"
         "  \"kinds\": [\n",
         ZS_KVER_MAJOR(zs_state.caps.version), ZS_KVER_MINOR(zs_state.caps.version),
         env->page_size, env->huge_size, env->len, env->uffd ? "true" : "false",
         zs_state.cfg.named_files_zap ? "zap" : "keep");
  for (size_t i = 0; i < N_KINDS; i++) {
    const struct zt_row *r = &rows[i];
    printf("    {\"id\": \"%s\", \"label\": \"%s\", \"zapshim_kind\": \"%s\", \"named\": %s, "
           "\"tested\": %s",
           kinds[i].id, kinds[i].label, zapshim_kind_name(kinds[i].zkind),
           kinds[i].named ? "true" : "false", r->why ? "false" : "true");
    if (r->why) {
      printf(", \"reason\": ");
      json_str(r->why);
      printf(", \"enable\": ");
      json_str(r->how);
    }
    for (int op = 0; op < ZT_OP_COUNT && !r->why; op++) {
      if (!r->measured[op])
        continue;
      printf(",\n     \"%s\": {\"result\": \"%s\", \"errno\": ", op_names[op], cell_text(&r->cell[op]));
      json_str(r->cell[op].verdict == ZT_V_ERRNO ? zt_errno_name(r->cell[op].err) : "");
      printf(", \"detail\": ");
      json_str(r->cell[op].detail);
      putchar('}');
    }
    printf(",\n     \"policy\": {");
    for (int a = 0; a < 2; a++) {
      printf("%s\"%s\": {\"action\": \"%s\", \"call\": \"%s\"", a ? ", " : "",
             a ? "MADV_REMOVE" : "MADV_DONTNEED", zs_action_name(r->act[a]),
             op_names[r->act_op[a]]);
      if (!r->why)
        printf(", \"result\": \"%s\", \"ok\": %s", cell_text(&r->cell[r->act_op[a]]),
               policy_ok(&kinds[i], r, a) ? "true" : "false");
      putchar('}');
    }
    printf("}}%s\n", i + 1 < N_KINDS ? "," : "");
  }
  printf("  ]\n}\n");
}

/* print_table - the result as a text table, then the kinds not tested. */
static void print_table(const struct zt_probe_env *env, const struct zt_row *rows,
                        const char *release) {
  printf("zapshim %s probe on Linux %s (policy for %u.%u, named files: %s); %zu MiB per test",
         ZAPSHIM_VERSION_STRING, release, ZS_KVER_MAJOR(zs_state.caps.version),
         ZS_KVER_MINOR(zs_state.caps.version), zs_state.cfg.named_files_zap ? "zap" : "keep",
         env->len >> 20);
  if (env->huge_size)
    printf(", hugetlb %zu x %zu KiB pages", env->huge_len / env->huge_size, env->huge_size >> 10);
  printf("\n\"zaps\" = returned 0, reads back zero, freed (st_blocks, mincore)%s\n\n",
         env->uffd ? " and a userfaultfd missing fault on the next touch" : "");
  printf("%-26s %-14s %-14s %-14s %s\n", "memory kind", "MADV_DONTNEED", "MADV_REMOVE",
         "PUNCH_HOLE", "zapshim does, for DONTNEED | for REMOVE");
  int bad = 0, untested = 0;
  for (size_t i = 0; i < N_KINDS; i++) {
    const struct zt_row *r = &rows[i];
    if (r->why) {
      untested++;
      continue;
    }
    printf("%-26s", kinds[i].label);
    for (int op = 0; op < 3; op++)
      printf(" %-14s", cell_text(&r->cell[op]));
    for (int a = 0; a < 2; a++) {
      printf("%s%s: %s", a ? " | " : " ", op_names[r->act_op[a]], cell_text(&r->cell[r->act_op[a]]));
      bad += !policy_ok(&kinds[i], r, a);
    }
    putchar('\n');
  }
  if (!env->uffd)
    printf("\nuserfaultfd with UFFD_FEATURE_SIGBUS is not available: cells are judged without the "
           "fault check\n  (enable: run as root, or sysctl vm.unprivileged_userfaultfd=1)\n");
  printf("\nNo userfaultfd fault check (the kernel cannot watch them): SysV shm, guest_memfd, "
         "persistent files.\nBy design zapshim leaves as asked: DONTNEED on persistent files "
         "(their data stays) and on\nprivate memfd/unlinked tmpfs (the mapping reads the file "
         "again); it zaps those on MADV_REMOVE.\n");
  if (zs_state.cfg.named_files_zap)
    printf("Named tmpfs/hugetlbfs files (still linked in a directory): their shared mappings are "
           "zapped\nlike memfd (ZAPSHIM_NAMED_FILES=zap); a private view of one is never "
           "punched.\n");
  else
    printf("Named tmpfs/hugetlbfs files (still linked in a directory: anyone may open them) "
           "keep their data\non DONTNEED, like persistent files, and a private view of one is "
           "never punched;\nZAPSHIM_NAMED_FILES=zap (zapshim --named-files=zap) zaps their shared "
           "mappings like memfd.\n");
  printf("A translated DONTNEED frees shared memory for every process that maps it (a fork "
         "child,\na vhost-user backend): the point for guest RAM, a loss for a program that "
         "relied on the\nkernel keeping it.  Scope zapshim with ZAPSHIM_RESTRICT_EXE and "
         "ZAPSHIM_NAMED_FILES.\n");
  if (untested) {
    printf("\nNot tested here:\n");
    for (size_t i = 0; i < N_KINDS; i++)
      if (rows[i].why)
        printf("  %-26s %s\n  %-26s enable: %s\n", kinds[i].label, rows[i].why, "", rows[i].how);
  }
  if (bad)
    printf("\nWARNING: %d policy call(s) above do not zap on this machine.\n", bad);
}

/* zt_probe - see tool.h.  Every cell runs in its own child. */
int zt_probe(const struct zt_opts *o) {
  struct zt_probe_env env;
  struct zt_row rows[N_KINDS];
  struct utsname u;
  detect_env(&env);
  if (uname(&u) != 0)
    snprintf(u.release, sizeof u.release, "?");
  memset(rows, 0, sizeof rows);
  for (size_t i = 0; i < N_KINDS; i++) {
    struct zt_row *r = &rows[i];
    unsigned facts = kinds[i].named ? ZS_FACT_NAMED : 0;
    bool zap = zs_state.cfg.named_files_zap;
    r->act[0] = zs_policy_decide(kinds[i].zkind, facts, MADV_DONTNEED, &zs_state.caps, zap);
    r->act[1] = zs_policy_decide(kinds[i].zkind, facts, MADV_REMOVE, &zs_state.caps, zap);
    r->act_op[0] = op_of(r->act[0], ZT_OP_DONTNEED);
    r->act_op[1] = op_of(r->act[1], ZT_OP_REMOVE);
    r->why = untestable(&env, &kinds[i], &r->how);
    if (r->why) {
      r->why = strdup(r->why);
      r->how = strdup(r->how);
      continue;
    }
    for (int op = 0; op < ZT_OP_COUNT; op++) {
      if (op == ZT_OP_DONTNEED_PUNCH && (int)r->act_op[0] != op && (int)r->act_op[1] != op)
        continue;
      zt_probe_cell(&env, &kinds[i], (enum zt_op)op, &r->cell[op]);
      r->measured[op] = true;
    }
  }
  if (o->json)
    print_json(&env, rows, u.release);
  else
    print_table(&env, rows, u.release);
  return fflush(stdout) == 0 ? 0 : 1;
}
