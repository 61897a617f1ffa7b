#!/usr/bin/env bash
# Checks that README.md's code examples are the code that CI compiles.
#
# Every C++ code block in README.md (```c++, ```cpp, ```cc) must directly
# follow a marker naming the file it is copied from:
#   <!-- example: examples/readme_cancel.cc#quickstart -->
# `#quickstart` names the region between the lines `// [START quickstart]`
# and `// [END quickstart]` (other regions' tag lines inside it are left
# out); without `#region` the block is the whole file. A block of another
# language may carry a marker too and is then checked the same way.
#
# Usage, from the repository root:  examples/check_readme.sh [README.md]
# Bazel runs it as //examples:readme_in_sync_test; files it reads must be in
# that target's `data`.
set -euo pipefail

readme="${1:-README.md}"
[[ -f "$readme" ]] || { echo "check_readme: no $readme" >&2; exit 1; }

# Prints region $2 of file $1 (the whole file if $2 is empty).
extract() {
  local file="$1" region="$2"
  if [[ -z "$region" ]]; then
    cat "$file"
    return
  fi
  grep -qF "// [START $region]" "$file" || return 1
  awk -v start="// [START $region]" -v end="// [END $region]" '
    index($0, end) { on = 0 }
    on && !/\/\/ \[(START|END) [^]]+\]/ { print }
    index($0, start) { on = 1 }
  ' "$file"
}

errors=0
fail() {
  echo "README check: $readme:$1: $2" >&2
  errors=$((errors + 1))
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

lineno=0
marker=""         # "file#region" of the marker right before a block
marker_line=0
in_block=0
block_start=0
block_lang=""
blocks=0
while IFS= read -r line || [[ -n "$line" ]]; do
  lineno=$((lineno + 1))
  if ((in_block)); then
    if [[ "$line" =~ ^\`\`\` ]]; then
      in_block=0
      if [[ -n "$marker" ]]; then
        file="${marker%%#*}"
        region=""
        [[ "$marker" == *"#"* ]] && region="${marker#*#}"
        if [[ ! -f "$file" ]]; then
          fail "$block_start" "$file not found (add it to //examples:readme_in_sync_test's data)"
        elif ! extract "$file" "$region" >"$tmp/expected"; then
          fail "$block_start" "$file has no region '$region' (// [START $region] ... // [END $region])"
        elif ! diff -u --label "$marker" --label "$readme:$block_start" \
                  "$tmp/expected" "$tmp/block" >"$tmp/diff"; then
          fail "$block_start" "block differs from $marker; make them the same:"
          cat "$tmp/diff" >&2
        else
          blocks=$((blocks + 1))
        fi
      elif [[ "$block_lang" =~ ^(c\+\+|cpp|cc|cxx)$ ]]; then
        fail "$block_start" "C++ block without a marker; put the code in a file under examples/ that a target compiles and precede the block with <!-- example: examples/FILE.cc[#region] -->"
      fi
      marker=""
    else
      printf '%s\n' "$line" >>"$tmp/block"
    fi
    continue
  fi
  if [[ "$line" =~ ^\`\`\`(.*)$ ]]; then
    in_block=1
    block_start=$lineno
    block_lang="${BASH_REMATCH[1],,}"
    block_lang="${block_lang// /}"
    : >"$tmp/block"
    # A marker counts only on the line right before the block.
    ((marker_line == lineno - 1)) || marker=""
  elif [[ "$line" =~ ^\<\!--\ example:\ ([^ ]+)\ --\>$ ]]; then
    marker="${BASH_REMATCH[1]}"
    marker_line=$lineno
  fi
done <"$readme"
((in_block == 0)) || fail "$block_start" "code block never closed"

if ((errors > 0)); then
  echo "README check: $errors problem(s)" >&2
  exit 1
fi
echo "README check: $blocks example block(s) match their files"
