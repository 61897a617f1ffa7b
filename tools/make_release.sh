#!/usr/bin/env bash
# Makes a release archive, cancelpool-<version>.tar.gz, from a commit.
#
# Usage: tools/make_release.sh [--commit REV] [--out DIR]
#   --commit REV  the commit to archive (default HEAD); uncommitted changes
#                 are never included
#   --out DIR     where to write the archive (default: the current directory)
#
# <version> is MODULE.bazel's module version at that commit, and CHANGELOG.md
# there must have a section for it ("## [<version>]"). The archive holds the
# commit's tracked files under the directory cancelpool-<version>/ -- the
# sources, BUILD files, bazel/, MODULE.bazel, CMakeLists.txt and cmake/,
# LICENSE, README.md, CHANGELOG.md, tests and benchmarks -- minus the nested
# example workspaces (examples/downstream/), whose packages would otherwise
# show up under @cancelpool//... . Nothing untracked goes in (no bazel-*,
# benchmarks/out/, caches). The archive is reproducible: the same commit
# gives the same bytes (git archive's file times are the commit's; gzip -n).
#
# Prints the archive's path, its sha256 (for http_archive's sha256) and its
# integrity (for Bzlmod's archive_override); README, "Releases":
#   /path/to/cancelpool-0.1.0.tar.gz
#   sha256 87fd...
#   integrity sha256-h/3W...
set -euo pipefail

die() { echo "make_release: error: $*" >&2; exit 1; }

commit=HEAD
out=.
while (($# > 0)); do
  case "$1" in
    --commit) (($# >= 2)) || die "--commit needs a value"; commit="$2"; shift 2 ;;
    --out) (($# >= 2)) || die "--out needs a value"; out="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rev="$(git -C "$repo" rev-parse --verify --quiet "$commit^{commit}")" ||
  die "'$commit' is not a commit in $repo"

module="$(git -C "$repo" show "$rev:MODULE.bazel" 2>/dev/null)" ||
  die "commit $rev has no MODULE.bazel"
version="$(sed -n 's/^ *version = "\([0-9]*\.[0-9]*\.[0-9]*\)",*$/\1/p' <<<"$module" | head -1)"
[[ -n "$version" ]] || die "MODULE.bazel at $rev has no version = \"X.Y.Z\" line"
git -C "$repo" show "$rev:CHANGELOG.md" 2>/dev/null |
  grep -qF "## [$version]" ||
  die "CHANGELOG.md at $rev has no section '## [$version]'; add one before releasing"

if [[ "$(git -C "$repo" rev-parse HEAD)" == "$rev" &&
      -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]]; then
  echo "make_release: note: uncommitted changes are not in the archive" >&2
fi

mkdir -p "$out"
name="cancelpool-$version"
archive="$(cd "$out" && pwd)/$name.tar.gz"
tmp="$(mktemp "$archive.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
git -C "$repo" archive --format=tar --prefix="$name/" "$rev" -- . \
    ':(exclude)examples/downstream' |
  gzip -n -9 >"$tmp"
mv "$tmp" "$archive"
trap - EXIT

sha256="$(sha256sum "$archive" | cut -d' ' -f1)"
# Bzlmod's integrity: "sha256-" and the digest's bytes in base64.
integrity="sha256-$(printf "$(sed 's/../\\x&/g' <<<"$sha256")" | base64 -w0)"
echo "$archive"
echo "sha256 $sha256"
echo "integrity $integrity"
