#!/usr/bin/env bash
# Derives deploy/seccomp-trades.json from the container engine's default seccomp profile
# (containers-common: /usr/share/containers/seccomp.json, the same rules Docker ships):
# identical, plus one rule that allows io_uring_setup, io_uring_enter and io_uring_register,
# which the default profile leaves to its default action (ENOSYS).
#
#   deploy/make-seccomp.sh [DEFAULT_PROFILE] [OUTPUT]
#
# Re-run after a containers-common upgrade and commit the result.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-/usr/share/containers/seccomp.json}
out=${2:-$here/seccomp-trades.json}
[ -r "$src" ] || { echo "make-seccomp: $src not found (apt-get install golang-github-containers-common, pulled in by podman)" >&2; exit 1; }
python3 - "$src" "$out" <<'PY'
import json, sys
src, out = sys.argv[1], sys.argv[2]
with open(src) as f:
    prof = json.load(f)
want = ["io_uring_enter", "io_uring_register", "io_uring_setup"]
if prof.get("defaultAction") == "SCMP_ACT_ALLOW":
    sys.exit("make-seccomp: %s allows by default; expected a deny-list default profile" % src)
# Drop any existing rule entries for these names (a denying one would win over ours only
# by order, but keep the result unambiguous), then add a single unconditional allow.
rules = []
for r in prof["syscalls"]:
    names = [n for n in r.get("names", []) if n not in want]
    if r.get("name") in want:
        continue
    if not names and r.get("names"):
        continue
    if "names" in r:
        r = dict(r, names=names)
    rules.append(r)
rules.append({
    "names": want,
    "action": "SCMP_ACT_ALLOW",
    "args": [],
    "comment": "trades: io_uring sources (multishot recv, provided buffer rings)",
    "includes": {},
    "excludes": {},
})
prof["syscalls"] = rules
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(prof, f, indent=2)
    f.write("\n")
import os
os.replace(tmp, out)
allowed = {n for r in rules if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args") and not r.get("includes") for n in r["names"]}
assert all(n in allowed for n in want)
print("make-seccomp: wrote %s (%d rules; from %s)" % (out, len(rules), src))
PY
