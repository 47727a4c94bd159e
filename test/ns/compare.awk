# compare.awk - judge jail_zap's CELL lines: the first file is the run
# without the shim (the kernel's own answers), the second the run under the
# shim.  Prints one line per cell, "ok ..." or "FAIL ...".
#   -v mode=noproc  the kernel cannot be asked: result, errno and effect
#                   must equal the kernel's exactly.
#   otherwise       the result is the kernel's, or the policy's documented
#                   answer for MADV_REMOVE on private memory (0 where the
#                   kernel says EINVAL/EACCES; ENOMEM for a hole); a call
#                   that succeeded must have zapped (read back zero) and
#                   freed (freed=1, or -1 when it cannot be measured); a
#                   call that failed must not have changed the memory.
# In every mode: never ENOMEM for memory that is mapped.
# Columns: CELL kind advice ret errno zapped=Z freed=F
function private_kind(k) {
  return k ~ /^(anon-private|malloc|stack|hugetlb-private|anon-hole|anon-unaligned)$/
}
$1 == "CELL" && FNR == NR { key = $2 " " $3; ref[key] = $4 " " $5; rz[key] = $6; rf[key] = $7; order[n++] = key; next }
$1 == "CELL" { key = $2 " " $3; got[key] = $4 " " $5; sz[key] = $6; sf[key] = $7 }
END {
  for (i = 0; i < n; i++) {
    key = order[i]; split(key, kk, " ")
    if (!(key in got)) { print "FAIL " key ": no result under the shim (crashed before it?)"; continue }
    split(got[key], g, " "); split(ref[key], r, " ")
    what = key ": shim " got[key] " " sz[key] " " sf[key] "; kernel " ref[key] " " rz[key] " " rf[key]
    if (g[2] == "ENOMEM" && kk[1] != "anon-hole") { print "FAIL " what ": ENOMEM invented for mapped memory"; continue }
    if (mode == "noproc") {
      if (got[key] != ref[key] || sz[key] != rz[key] || sf[key] != rf[key])
        print "FAIL " what ": not exactly the program's own call"
      else
        print "ok " what
      continue
    }
    same = got[key] == ref[key]
    policy = kk[2] == "REMOVE" && private_kind(kk[1]) && (r[2] == "EINVAL" || r[2] == "EACCES") &&
             (g[1] == "0" || (kk[1] == "anon-hole" && g[2] == "ENOMEM"))
    if (!same && !policy) { print "FAIL " what ": result differs from the kernel's"; continue }
    did = g[1] == "0" || (kk[1] == "anon-hole" && g[2] == "ENOMEM")
    if (did && (sz[key] != "zapped=1" || sf[key] == "freed=0")) { print "FAIL " what ": success but not zapped and freed"; continue }
    if (!did && sz[key] != rz[key]) { print "FAIL " what ": a failed call changed the memory"; continue }
    print "ok " what
  }
}
