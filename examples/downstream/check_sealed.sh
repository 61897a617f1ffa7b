#!/usr/bin/env bash
# Checks that this (outside) workspace cannot depend on cancelpool's internal
# targets: each target of sealed/BUILD must fail to build with a visibility
# error. Run from examples/downstream with the Bazel to use as $1 (default
# bazel) and any further flags after it; .ci/run calls it.
set -uo pipefail
bazel="${1:-bazel}"
shift || true
rc=0
for target in //sealed:uses_pool_internal //sealed:uses_cancel_internal \
  //sealed:uses_sync_internal; do
  out="$("$bazel" build "$@" "$target" 2>&1 </dev/null)"
  if [[ $? -eq 0 ]]; then
    echo "FAIL: $target built: an outside workspace can use an internal target"
    rc=1
  elif ! grep -q "is not visible from target" <<<"$out"; then
    echo "FAIL: $target failed, but not with a visibility error:"
    echo "$out" | tail -20
    rc=1
  else
    echo "ok: $target is refused (not visible)"
  fi
done
exit "$rc"
