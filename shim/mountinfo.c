/*
 * mountinfo.c - which filesystem a device is (see mountinfo.h).
 *
 * mountinfo is per mount namespace and relative to the process root:
 * mounts outside a chroot are not listed, and a mount point that stat()
 * cannot confirm (overmounted, no access) is answered from its type name
 * only for pseudo and persistent filesystems, never tmpfs or hugetlbfs.
 */
#define _GNU_SOURCE
#include "mountinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include "lines.h"
#include "procfs.h"

/* Longest mountinfo line kept; longer lines are used only if the mount
 * point and type fit. */
#define ZS_MOUNTINFO_LINE 1536

/*
 * zs_unescape_path - undo the octal escapes (\040 space, \011 tab, \012
 * newline, \134 backslash) mountinfo uses in paths, in place.
 */
static void zs_unescape_path(char *s) {
  char *w = s;
  for (const char *r = s; *r;) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
        r[3] >= '0' && r[3] <= '7') {
      *w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
      r += 4;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
}

/*
 * zs_next_field - the next space-separated field of a line: NUL-terminates
 * it in place and advances *p past it.  Returns NULL at end of line.
 */
static char *zs_next_field(char **p) {
  char *s = *p;
  while (*s == ' ')
    s++;
  if (!*s)
    return NULL;
  char *f = s;
  while (*s && *s != ' ')
    s++;
  if (*s)
    *s++ = '\0';
  *p = s;
  return f;
}

/*
 * zs_fs_magic_by_name - the magic for a mountinfo fs type when statfs
 * could not be used on the mount point (overmounted, no access, a root
 * that is not the one the mount points are relative to).  Only names that
 * make the shim do less are believed: pseudo filesystems (their mappings
 * are left alone) and persistent ones.  tmpfs, hugetlbfs and every unknown
 * name are ZS_FS_UNVERIFIED (treated as persistent): a memory filesystem
 * is never concluded from a name the shim could not check.  *bsize 0.
 */
static unsigned long zs_fs_magic_by_name(const char *type, uint64_t *bsize) {
  static const struct {
    const char *name;
    unsigned long magic;
  } tab[] = {
      {"devtmpfs", ZS_FS_DEVTMPFS}, {"proc", 0x9fa0UL},        {"sysfs", 0x62656572UL},
      {"debugfs", 0x64626720UL},  {"tracefs", 0x74726163UL},   {"devpts", 0x1cd1UL},
      {"ext4", 0xEF53UL},         {"ext3", 0xEF53UL},          {"ext2", 0xEF53UL},
      {"xfs", 0x58465342UL},      {"btrfs", 0x9123683EUL},
  };
  *bsize = 0;
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (strcmp(type, tab[i].name) == 0)
      return tab[i].magic;
  return ZS_FS_UNVERIFIED;
}

/*
 * See mountinfo.h.  For each mountinfo line with that device: if stat() of its
 * mount point shows the same device, statfs() of it gives the answer (f_type,
 * f_bsize), except that devtmpfs (which statfs reports as tmpfs) is
 * ZS_FS_DEVTMPFS.  A mount that cannot be checked so (overmounted, no
 * access, btrfs subvolume devices, a mount point path that does not lead
 * to it from this root) is answered from its type name by
 * zs_fs_magic_by_name (never tmpfs or hugetlbfs), after the other mounts
 * of the device were tried.  0 if none has the device (internal mounts,
 * and in a chroot, mounts outside it, which mountinfo does not list);
 * ZS_FS_UNVERIFIED if mountinfo cannot be read at all.
 */
unsigned long zs_vma_fs_type(uint32_t dev_major, uint32_t dev_minor, uint64_t *bsize) {
  struct zs_lines r;
  char line[ZS_MOUNTINFO_LINE];
  size_t len;
  bool trunc;
  unsigned long fallback = 0;
  uint64_t fallback_bsize = 0;
  dev_t want = makedev(dev_major, dev_minor);

  if (bsize)
    *bsize = 0;
  int fd = zs_vma_proc_open("self/mountinfo", O_RDONLY);
  if (fd < 0)
    return ZS_FS_UNVERIFIED; /* cannot ask: not "internal", just unknown */
  zs_lines_init(&r, fd);
  for (;;) {
    int k = zs_lines_next(&r, line, sizeof line, &len, &trunc);
    if (k <= 0)
      break;
    /* 36 35 98:0 /root /mnt opts [optional...] - type source superopts */
    char *p = line;
    char *f_id = zs_next_field(&p), *f_parent = zs_next_field(&p);
    char *f_dev = zs_next_field(&p), *f_root = zs_next_field(&p);
    char *f_mnt = zs_next_field(&p);
    (void)f_id, (void)f_parent, (void)f_root;
    if (!f_dev || !f_mnt)
      continue;
    const char *d = f_dev;
    uint64_t maj, min;
    if (!zs_parse_dec(&d, &maj) || !zs_expect(&d, ':') || !zs_parse_dec(&d, &min) || *d ||
        maj != dev_major || min != dev_minor)
      continue;
    char *type = NULL, *f;
    while ((f = zs_next_field(&p)) != NULL) {
      if (strcmp(f, "-") == 0) {
        type = zs_next_field(&p);
        break;
      }
    }
    bool is_devtmpfs = type && strcmp(type, "devtmpfs") == 0;
    /* A truncated line is usable only if its type (and so the whole mount
     * point before it) was kept. */
    if (!type)
      continue;
    zs_unescape_path(f_mnt);
    struct stat st;
    struct statfs sfs;
    if (stat(f_mnt, &st) == 0 && st.st_dev == want && statfs(f_mnt, &sfs) == 0) {
      unsigned long magic = (unsigned long)(uint32_t)sfs.f_type;
      if (is_devtmpfs)
        magic = ZS_FS_DEVTMPFS;
      if (bsize)
        *bsize = (uint64_t)sfs.f_bsize;
      zs_proc_close(fd);
      return magic;
    }
    if (!fallback)
      fallback = zs_fs_magic_by_name(type, &fallback_bsize);
  }
  zs_proc_close(fd);
  if (bsize)
    *bsize = fallback_bsize;
  return fallback;
}
