#!/usr/bin/env bash
# test_probe.sh ZAPSHIM - run `zapshim --probe --json` and check every cell
# against the truth table of this kernel (docs: kernel-truth-table.md) and
# that every call zapshim's policy makes zaps; named tmpfs/hugetlbfs files
# (still linked) are left as asked on DONTNEED unless --named-files=zap.  Missing huge pages fail in
# CI (CI=true) and skip (77) elsewhere; a missing /dev/kvm only skips that row.
set -u
Z=$1
command -v python3 >/dev/null || { echo "SKIP: python3 is needed to read the JSON"; exit 77; }
json=$("$Z" --probe --json) || { echo "FAIL: zapshim --probe --json exited $?"; exit 1; }
"$Z" --probe | grep -q '^memory kind' || { echo "FAIL: text table has no header"; exit 1; }
# The policy column follows --kernel: on 5.10 hugetlb private is punched via its fd.
"$Z" --probe --json --kernel=5.10 | python3 -c '
import json, sys
d = json.load(sys.stdin)
k = {r["id"]: r for r in d["kinds"]}["hugetlbfs-private"]
assert d["policy_kernel"] == "5.10", d["policy_kernel"]
assert k["policy"]["MADV_DONTNEED"]["call"] == "PUNCH_HOLE", k["policy"]
print("ok   --kernel=5.10: hugetlbfs private gets PUNCH_HOLE")' || exit 1

# The policy column for named files: kept by default, zapped with --named-files=zap
# (ZAPSHIM_NAMED_FILES=zap the same); a private view of a named file is never punched.
check_named() { # check_named ZAP-EXPECTED ARGS...: the policy of the named rows
  "$Z" --probe --json "${@:2}" | python3 -c '
import json, sys
zap = sys.argv[1] == "zap"
d = json.load(sys.stdin)
rows = {r["id"]: r for r in d["kinds"]}
assert d["named_files"] == sys.argv[1], d["named_files"]
def call(kid, asked): return rows[kid]["policy"][asked]["action"], rows[kid]["policy"][asked]["call"]
for kid in ("tmpfs-named-shared", "hugetlbfs-named-shared"):
    assert rows[kid]["named"], kid
    want = ("MADV_REMOVE", "MADV_REMOVE") if zap else ("as-asked", "MADV_DONTNEED")
    assert call(kid, "MADV_DONTNEED") == want, (kid, call(kid, "MADV_DONTNEED"))
    assert call(kid, "MADV_REMOVE")[1] == "MADV_REMOVE", (kid, call(kid, "MADV_REMOVE"))
for kid in ("tmpfs-shared", "hugetlbfs-shared"):  # unlinked: zapped either way
    assert not rows[kid]["named"], kid
    assert call(kid, "MADV_DONTNEED") == ("MADV_REMOVE", "MADV_REMOVE"), (kid, call(kid, "MADV_DONTNEED"))
assert call("tmpfs-named-private", "MADV_REMOVE") == ("as-asked", "MADV_REMOVE"), call("tmpfs-named-private", "MADV_REMOVE")
assert call("tmpfs-private", "MADV_REMOVE")[1] == "MADV_DONTNEED+PUNCH_HOLE"
print("ok   named files " + sys.argv[1] + ": " + " ".join(sys.argv[2:]))' "$@" || exit 1
}
check_named keep
check_named keep --named-files=keep
check_named zap --named-files=zap
ZAPSHIM_NAMED_FILES=zap check_named zap
"$Z" --probe --named-files=maybe >/dev/null 2>&1
[ $? -eq 125 ] || { echo "FAIL: --named-files=maybe is not refused with 125"; exit 1; }

python3 - "$json" <<'PY'
import json, os, sys
d = json.loads(sys.argv[1])
ci = os.environ.get("CI") == "true"
major, minor = (int(x) for x in d["kernel"].split(".")[:2])
huge_dn = "zaps" if (major, minor) >= (5, 18) else "EINVAL"
KEPT, NOFD = "0, data kept", "n/a (no fd)"
NOT_ZAP = ("0, data kept", "0, not freed", "0, no fault")  # returns 0, does not zap
# id: (MADV_DONTNEED, MADV_REMOVE, PUNCH_HOLE); a tuple means "one of".
expect = {
    "anon-private": ("zaps", "EINVAL", NOFD),
    "anon-shared": (KEPT, "zaps", NOFD),
    "memfd-shared": (KEPT, "zaps", "zaps"),
    "memfd-private": (NOT_ZAP, "EACCES", KEPT),  # private copies stay after the punch
    "tmpfs-shared": (KEPT, "zaps", "zaps"),
    "tmpfs-private": (NOT_ZAP, "EACCES", KEPT),
    "tmpfs-named-shared": (KEPT, "zaps", "zaps"),   # the kernel does not care about names
    "tmpfs-named-private": (NOT_ZAP, "EACCES", KEPT),
    "sysv-shm": (KEPT, "zaps", NOFD),
    "hugetlbfs-shared": (KEPT, "zaps", "zaps"),
    "hugetlbfs-private": (huge_dn, "EACCES", "zaps"),
    "hugetlbfs-named-shared": (KEPT, "zaps", "zaps"),
    "hugetlbfs-named-private": (huge_dn, "EACCES", "zaps"),
    "hugetlb-memfd-shared": (KEPT, "zaps", "zaps"),
    "hugetlb-memfd-private": (huge_dn, "EACCES", "zaps"),
    "map-hugetlb-private": (huge_dn, "EACCES", NOFD),
    "map-hugetlb-shared": (KEPT, "zaps", NOFD),
    "guest-memfd": (KEPT, "zaps", "zaps"),
    "file-shared": (KEPT, "zaps", "zaps"),   # REMOVE and PUNCH punch the file
    "file-private": (KEPT, "EACCES", KEPT),  # reads the file's data / private copies stay
}
ops = ("MADV_DONTNEED", "MADV_REMOVE", "PUNCH_HOLE")
fails, skipped = 0, []
rows = {r["id"]: r for r in d["kinds"]}
for kid, want in expect.items():
    r = rows.get(kid)
    if r is None:
        print(f"FAIL {kid}: missing from the probe"); fails += 1; continue
    if not r["tested"]:
        msg = f"{kid}: not tested: {r['reason']} (enable: {r['enable']})"
        if "huge" in kid and ci:
            print("FAIL " + msg); fails += 1
        else:
            print("SKIP " + msg); skipped.append(kid)
        continue
    for op, w in zip(ops, want):
        got = r[op]["result"]
        ok = got in w if isinstance(w, tuple) else got == w
        print(f"{'ok  ' if ok else 'FAIL'} {kid} {op}: {got}" + ("" if ok else f" (want {w}; {r[op]['detail']})"))
        fails += not ok
    for asked, p in r["policy"].items():
        if not p["ok"]:
            print(f"FAIL {kid}: zapshim's {p['call']} for {asked} gives {p['result']}"); fails += 1
if fails:
    sys.exit(1)
if any("huge" in k for k in skipped):
    print("SKIP: huge pages missing (see above); run tools/setup-host.sh")
    sys.exit(77)
PY
