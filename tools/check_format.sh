#!/usr/bin/env bash
# Checks that cancelpool's C++ sources are formatted by clang-format with the
# repository's .clang-format (Google style).
#
# Usage, from anywhere in the checkout:
#   tools/check_format.sh         lists each file clang-format would change
#                                 and exits 1 if there is any
#   tools/check_format.sh --fix   reformats those files in place
#   tools/check_format.sh [--fix] FILE...   only these files
# Files: the tracked and untracked-but-not-ignored *.h, *.cc under cancel/,
# pool/, tests/, benchmarks/ and examples/. CLANG_FORMAT picks the binary
# (default: clang-format, Debian 12's is version 14; tools/bazel installs it).
# BUILD and .bzl files are not checked: buildifier is not packaged in
# Debian 12.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
clang_format="${CLANG_FORMAT:-clang-format}"
command -v "$clang_format" >/dev/null || {
  echo "check_format: $clang_format not found; install it (Debian: apt-get install clang-format)" >&2
  exit 2
}

fix=0
if [[ "${1:-}" == --fix ]]; then fix=1; shift; fi
if (($# > 0)); then
  files=("$@")
else
  mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
    'cancel/*.h' 'cancel/*.cc' 'pool/*.h' 'pool/*.cc' 'tests/*.h' 'tests/*.cc' \
    'benchmarks/*.h' 'benchmarks/*.cc' 'examples/*.h' 'examples/*.cc' | sort -u)
fi

bad=()
for f in "${files[@]}"; do
  [[ -f "$f" ]] || continue  # deleted but still in the index
  if ! "$clang_format" --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done

if ((${#bad[@]} == 0)); then
  echo "check_format: ${#files[@]} file(s) formatted"
  exit 0
fi
if ((fix)); then
  "$clang_format" --style=file -i "${bad[@]}"
  printf 'check_format: reformatted %s\n' "${bad[@]}"
  exit 0
fi
printf 'check_format: not formatted: %s\n' "${bad[@]}"
echo "check_format: ${#bad[@]} of ${#files[@]} file(s) need formatting;" \
     "run tools/check_format.sh --fix (or show the changes with" \
     "clang-format --style=file FILE | diff FILE -)"
exit 1
