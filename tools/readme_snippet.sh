#!/usr/bin/env bash
# README.md's build snippets, for CI (.ci/run) to use and check.
#
# Two markers, each on the line right before a fenced block:
#   <!-- snippet: NAME -->
#       a block that CI uses as it is (runs it, or builds a workspace from
#       it); `tools/readme_snippet.sh NAME` prints it.
#   <!-- file: PATH -->  or  <!-- file: PATH#REGION -->
#       a block that must be the file PATH, or its REGION: the lines between
#       lines containing "[START REGION]" and "[END REGION]", in any
#       comment syntax (other regions' tag lines are left out);
#       `tools/readme_snippet.sh --check` compares them all.
# (C++ blocks use examples/check_readme.sh's "<!-- example: ... -->".)
#
# Usage, from the repository root:
#   tools/readme_snippet.sh NAME [README.md]
#   tools/readme_snippet.sh --check [README.md]
set -euo pipefail

die() { echo "readme_snippet: $*" >&2; exit 1; }

# Prints each marked block of $1 as records: "KIND<TAB>ARG<TAB>LINE" then
# the block's lines prefixed with "|", then a line "END".
blocks() {
  awk '
    in_block && /^```/ { print "END"; in_block = 0; next }
    in_block { print "|" $0; next }
    /^```/ {
      if (marker != "" && marker_line == NR - 1) {
        print marker "\t" NR; in_block = 1
      }
      marker = ""; next
    }
    match($0, /^<!-- (snippet|file): [^ ]+ -->$/) {
      split($0, f, " "); kind = f[2]; sub(/:$/, "", kind)
      marker = kind "\t" f[3]; marker_line = NR
    }
  ' "$1"
}

# Prints file $1, or its region $2.
region() {
  local file="$1" name="$2"
  if [[ -z "$name" ]]; then cat "$file"; return; fi
  grep -qF "[START $name]" "$file" || return 1
  awk -v start="[START $name]" -v end="[END $name]" '
    index($0, end) { on = 0 }
    on && !/\[(START|END) [^]]+\]/ { print }
    index($0, start) { on = 1 }
  ' "$file"
}

if [[ "${1:-}" == --check ]]; then
  readme="${2:-README.md}"
  [[ -f "$readme" ]] || die "no $readme"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  errors=0 checked=0 kind="" arg="" line=0
  while IFS= read -r rec; do
    if [[ "$rec" == END ]]; then
      if [[ "$kind" == file ]]; then
        path="${arg%%#*}" name=""
        [[ "$arg" == *"#"* ]] && name="${arg#*#}"
        if [[ ! -f "$path" ]]; then
          echo "$readme:$line: $path not found" >&2; errors=$((errors + 1))
        elif ! region "$path" "$name" >"$tmp/expected"; then
          echo "$readme:$line: $path has no region '$name'" >&2; errors=$((errors + 1))
        elif ! diff -u --label "$arg" --label "$readme:$line" \
                  "$tmp/expected" "$tmp/block" >&2; then
          echo "$readme:$line: the block differs from $arg (above)" >&2
          errors=$((errors + 1))
        else
          checked=$((checked + 1))
        fi
      fi
      kind=""
    elif [[ "$rec" == "|"* ]]; then
      printf '%s\n' "${rec#|}" >>"$tmp/block"
    else
      IFS=$'\t' read -r kind arg line <<<"$rec"
      : >"$tmp/block"
    fi
  done < <(blocks "$readme")
  ((errors == 0)) || die "$errors README block(s) differ from their files"
  echo "readme_snippet: $checked file block(s) match their files"
  exit 0
fi

name="${1:-}"
[[ -n "$name" && "$name" != -* ]] || die "usage: $0 NAME [README.md] | --check [README.md]"
readme="${2:-README.md}"
[[ -f "$readme" ]] || die "no $readme"
out="$(blocks "$readme" | awk -v want="$name" '
  $0 == "END" { if (on) exit; next }
  on { print substr($0, 2); next }
  /^snippet\t/ { split($0, f, "\t"); if (f[2] == want) { on = 1; found = 1 } }
  END { if (!found) exit 1 }
')" || die "$readme has no block marked <!-- snippet: $name -->"
printf '%s\n' "$out"
