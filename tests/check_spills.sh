#!/usr/bin/env bash
# Fails when a kernel of the project (a device function whose name contains "sptrain") in BINARY
# uses per-thread local memory, as `cuobjdump -res-usage` reports it: STACK (the stack frame, where
# ptxas puts spilled registers and local arrays it cannot keep in registers) or LOCAL (static local
# memory) above 0. A kernel may keep local memory only when a line of the allowlist
# (tests/spill_allowlist.txt, or $SPTRAIN_SPILL_ALLOWLIST) names it:
#   <mangled name or a substring of it>  # why the local memory is acceptable
#
# Usage: check_spills.sh BINARY [CUOBJDUMP]
# Exit status: 0 clean, 1 a kernel uses local memory (or the check could not run), 77 no cuobjdump
# (ctest counts the test as skipped).
set -euo pipefail

binary=${1:?usage: check_spills.sh BINARY [CUOBJDUMP]}
tool=${2:-}
allowlist=${SPTRAIN_SPILL_ALLOWLIST:-$(dirname "$0")/spill_allowlist.txt}

if [[ -z $tool ]]; then tool=$(command -v cuobjdump || true); fi
if [[ -z $tool || ! -x $tool ]]; then
  echo "check_spills: no cuobjdump (looked for '${2:-cuobjdump on PATH}');" \
       "install the CUDA toolkit's cuobjdump to run this check"
  exit 77
fi
if [[ ! -f $binary ]]; then
  echo "check_spills: no such file: $binary"
  exit 1
fi
if [[ ! -f $allowlist ]]; then
  echo "check_spills: no allowlist file: $allowlist"
  exit 1
fi

if ! usage=$("$tool" -res-usage "$binary" 2>&1); then
  echo "$usage"
  echo "check_spills: '$tool -res-usage $binary' failed"
  exit 1
fi

# cuobjdump prints, per compiled kernel:
#    Function _ZN7sptrain...:
#     REG:40 STACK:16 SHARED:0 LOCAL:0 CONSTANT[0]:1056 TEXTURE:0 SURFACE:0 SAMPLER:0
printf '%s\n' "$usage" | awk -v allowlist="$allowlist" -v binary="$binary" '
  BEGIN {
    n_allow = 0
    while ((getline line < allowlist) > 0) {
      if (line ~ /^[ \t]*(#|$)/) continue
      hash = index(line, "#")
      pattern = hash ? substr(line, 1, hash - 1) : line
      why = hash ? substr(line, hash + 1) : ""
      gsub(/^[ \t]+|[ \t]+$/, "", pattern)
      gsub(/^[ \t]+|[ \t]+$/, "", why)
      if (why == "") { printf "check_spills: allowlist line without a reason (\"# why\"): %s\n", line; bad_list = 1 }
      allow[++n_allow] = pattern
      used[n_allow] = 0
    }
    close(allowlist)
  }
  /^[ \t]*Function .*:[ \t]*$/ {
    name = $0
    sub(/^[ \t]*Function[ \t]+/, "", name)
    sub(/:[ \t]*$/, "", name)
    next
  }
  /STACK:/ && name != "" {
    stack = -1; local_bytes = -1; reg = "?"
    for (i = 1; i <= NF; ++i) {
      split($i, kv, ":")
      if (kv[1] == "STACK") stack = kv[2] + 0
      if (kv[1] == "LOCAL") local_bytes = kv[2] + 0
      if (kv[1] == "REG") reg = kv[2]
    }
    if (index(name, "sptrain") == 0) { name = ""; next }
    ++kernels
    if (stack < 0 || local_bytes < 0) {
      printf "FAIL     %s: no STACK/LOCAL figures in \"%s\"\n", name, $0
      ++failed
    } else if (stack > 0 || local_bytes > 0) {
      hit = 0
      for (j = 1; j <= n_allow; ++j) if (index(name, allow[j])) { hit = j; break }
      if (hit) {
        used[hit] = 1
        printf "allowed  %s: REG %s STACK %d LOCAL %d (allowlist: %s)\n", name, reg, stack, local_bytes, allow[hit]
        ++allowed
      } else {
        printf "FAIL     %s: REG %s STACK %d LOCAL %d\n", name, reg, stack, local_bytes
        ++failed
      }
    }
    name = ""
  }
  END {
    for (j = 1; j <= n_allow; ++j)
      if (!used[j]) printf "note     allowlist entry \"%s\" matches no kernel with local memory\n", allow[j]
    if (kernels == 0) {
      printf "check_spills: no kernel of the project (name containing \"sptrain\") in %s\n", binary
      exit 1
    }
    printf "check_spills: %d kernels, %d with allowed local memory, %d failing\n", kernels, allowed + 0, failed + 0
    if (failed)
      print "check_spills: spilled registers or local arrays slow a kernel down;" \
            " fix the kernel, or list it in the allowlist with the reason"
    exit (failed || bad_list) ? 1 : 0
  }
'
