/*
 * trace_elf.c - which path a program needs (trace.h): the preload for a
 * dynamic ELF, the syscall path for a static ELF (no PT_INTERP: no loader
 * to preload into) or a Go program (its runtime makes raw system calls
 * and never enters libc, dynamic or not).
 */
#define _GNU_SOURCE
#include "trace.h"

#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* read_at - exactly n bytes at off; false otherwise. */
static bool read_at(int fd, void *buf, size_t n, off_t off) {
  return pread(fd, buf, n, off) == (ssize_t)n;
}

/* has_go_section - true if the section headers name ".go.buildinfo" or
 * ".note.go.buildid" (the Go toolchain writes both). */
static bool has_go_section(int fd, const Elf64_Ehdr *eh) {
  if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shnum == 0 ||
      eh->e_shnum > 4096 || eh->e_shstrndx >= eh->e_shnum)
    return false;
  Elf64_Shdr strh;
  if (!read_at(fd, &strh, sizeof strh, (off_t)(eh->e_shoff + eh->e_shstrndx * sizeof strh)) ||
      strh.sh_size == 0 || strh.sh_size > (1u << 20))
    return false;
  char *names = malloc(strh.sh_size + 1);
  bool go = false;
  if (names && read_at(fd, names, strh.sh_size, (off_t)strh.sh_offset)) {
    names[strh.sh_size] = 0;
    for (unsigned i = 0; i < eh->e_shnum && !go; i++) {
      Elf64_Shdr sh;
      if (!read_at(fd, &sh, sizeof sh, (off_t)(eh->e_shoff + i * sizeof sh)) ||
          sh.sh_name >= strh.sh_size)
        continue;
      const char *n = names + sh.sh_name;
      go = strcmp(n, ".go.buildinfo") == 0 || strcmp(n, ".note.go.buildid") == 0;
    }
  }
  free(names);
  return go;
}

/* zt_elf_kind - see trace.h. */
enum zt_elf zt_elf_kind(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ZT_ELF_UNKNOWN;
  Elf64_Ehdr eh;
  enum zt_elf kind = ZT_ELF_UNKNOWN;
  if (!read_at(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
    goto out;
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64) {
    kind = ZT_ELF_FOREIGN;
    goto out;
  }
  kind = ZT_ELF_STATIC;
  for (unsigned i = 0; i < eh.e_phnum && i < 256; i++) {
    Elf64_Phdr ph;
    if (!read_at(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * (size_t)eh.e_phentsize)))
      break;
    if (ph.p_type == PT_INTERP)
      kind = ZT_ELF_DYNAMIC;
  }
  if (has_go_section(fd, &eh))
    kind = ZT_ELF_GO;
out:
  close(fd);
  return kind;
}
