#!/usr/bin/env bash
# Checks README's route for Bazel users of a release: makes the release
# archive of HEAD (tools/make_release.sh), then builds and runs a new
# workspace set up exactly as README's "Use it from another Bazel workspace"
# says:
#   WORKSPACE  the README block "bazel-workspace", with its file:///path/to/
#              URL pointing at the archive and its sha256 the printed one;
#   .bazelrc   the README's .bazelrc block (the same as
#              examples/downstream/.bazelrc: tools/readme_snippet.sh --check);
#   BUILD and sources  examples/downstream's;
# and Bazel run through this checkout's tools/bazel, as README says for an
# offline machine. Runs //:deadline_demo and //:pool_demo; exits non-zero if
# anything fails. The workspace lives in a temporary directory, removed at
# the end with its Bazel output base.
#
# Usage, from the repository root: tools/check_release_consumer.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bazel_flags=(--color=no --curses=no --show_progress_rate_limit=15)

tmp="$(mktemp -d)"
ws="$tmp/consumer"
cleanup() {
  if [[ -d "$ws" ]]; then
    (cd "$ws" && "$repo/tools/bazel" clean --expunge >/dev/null 2>&1) || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

tools/readme_snippet.sh --check

echo "== release archive of HEAD"
release_out="$(tools/make_release.sh --out "$tmp/release")"
echo "$release_out"
archive="$(sed -n 1p <<<"$release_out")"
sha256="$(sed -n 's/^sha256 //p' <<<"$release_out")"
[[ -f "$archive" && "$sha256" =~ ^[0-9a-f]{64}$ ]] ||
  { echo "tools/make_release.sh printed no archive and sha256" >&2; exit 1; }

echo "== workspace from README.md's snippets"
mkdir -p "$ws"
workspace="$(tools/readme_snippet.sh bazel-workspace)"
# The README's block must name this archive: the same version.
grep -qF "\"file:///path/to/$(basename "$archive")\"" <<<"$workspace" ||
  { echo "README's bazel-workspace block does not name $(basename "$archive")" \
         "at file:///path/to/ (update README.md to the version in MODULE.bazel)" >&2
    exit 1; }
{
  echo "workspace(name = \"release_consumer\")"
  echo
  sed -e "s|file:///path/to/|file://$(dirname "$archive")/|" \
      -e "s|^\\( *sha256 = \\)\"[^\"]*\",|\\1\"$sha256\",|" <<<"$workspace"
} >"$ws/WORKSPACE"
grep -qF "\"$sha256\"" "$ws/WORKSPACE" ||
  { echo "README's bazel-workspace block has no 'sha256 = \"...\",' line" >&2; exit 1; }
cat "$ws/WORKSPACE"
cp examples/downstream/.bazelrc examples/downstream/BUILD examples/downstream/*.cc "$ws/"

echo "== build and run it with tools/bazel"
cd "$ws"
"$repo/tools/bazel" run "${bazel_flags[@]}" //:deadline_demo </dev/null
"$repo/tools/bazel" run "${bazel_flags[@]}" //:pool_demo </dev/null
echo "release consumer: ok"
