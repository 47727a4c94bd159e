/*
 * fdguard.h - keeping the shim's own descriptors out of the program's way.
 *
 * The shim holds a few descriptors at high numbers: kept files for later
 * punches (fdkeep), the /proc directory kept from load and the
 * /proc/self/maps cache (vma), and the log.  Each is recognised by number
 * AND identity (fstat device and inode): after a raw close_range the
 * program may get one of those numbers for a file of its own, and then
 * the number is the program's.  Programs
 * close descriptors they did not open (close loops up to the limit,
 * close_range(3, ~0U), closefrom) and dup2 onto any number.  So:
 *  - close() of a kept, /proc or log descriptor succeeds without closing it;
 *  - close_range()/closefrom() close everything else in the range;
 *  - dup2()/dup3() onto one of them first moves the shim's descriptor to
 *    another high number, then gives the program the number it asked for;
 *  - the maps cache is simply forgotten (it reopens on demand).
 * Only in the process that owns the descriptors: a clone(CLONE_VM) child
 * shares the shim's memory but not its descriptor table, and passes
 * straight through. Whatever slips past (glibc's internal close_range in
 * closefrom, raw syscalls) is caught later: every kept descriptor is checked
 * with fstat before use.
 */
#ifndef ZS_FDGUARD_H
#define ZS_FDGUARD_H

/* zs_fdguard_set_owner - the process whose descriptor table holds the
 * shim's descriptors (at init, and in a fork child). */
void zs_fdguard_set_owner(void);

/* The behaviour behind the wrappers; each returns what the real call
 * returns, errno included. */
int zs_close(int fd);
int zs_close_range(unsigned first, unsigned last, int flags);
void zs_closefrom(int lowfd);
int zs_dup2(int oldfd, int newfd);
int zs_dup3(int oldfd, int newfd, int flags);

#endif
