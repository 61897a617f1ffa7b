#!/usr/bin/env bash
# Checks MODULE.bazel against what CI builds, since no Bazel here can build
# the module (README, "Use it from a Bazel module"): each dependency that
# both MODULE.bazel and bazel/repositories.bzl declare must have the same
# version in both, and in tools/bazel's offline sources, and MODULE.bazel's
# repo_name must be the repository name the BUILD files use.
#
# Usage, from the repository root: tools/check_module.sh
set -euo pipefail

errors=0
fail() { echo "check_module: $*" >&2; errors=$((errors + 1)); }

# module name, repository name, strip_prefix in repositories.bzl before the
# version, tools/bazel's Debian source package.
checks=(
  "abseil-cpp com_google_absl abseil-cpp- abseil"
  "googletest com_google_googletest googletest-release- googletest"
  "google_benchmark com_github_google_benchmark benchmark- benchmark"
)
for c in "${checks[@]}"; do
  read -r module repo prefix debian <<<"$c"
  line="$(grep -E "^bazel_dep\\(name = \"$module\"," MODULE.bazel || true)"
  if [[ -z "$line" ]]; then fail "MODULE.bazel has no bazel_dep for $module"; continue; fi
  version="$(sed -n 's/.*version = "\([^"]*\)".*/\1/p' <<<"$line")"
  grep -qF "repo_name = \"$repo\"" <<<"$line" ||
    fail "MODULE.bazel: $module needs repo_name = \"$repo\" (the name the BUILD files use)"
  grep -qF "strip_prefix = \"$prefix$version\"" bazel/repositories.bzl ||
    fail "MODULE.bazel has $module $version, bazel/repositories.bzl another version"
  grep -qE "^  \"$repo $debian $version " tools/bazel ||
    fail "MODULE.bazel has $module $version, tools/bazel's offline sources another version"
done
grep -qE '^module\(' MODULE.bazel || fail "MODULE.bazel has no module()"
grep -qE '^    name = "cancelpool",' MODULE.bazel || fail "MODULE.bazel: the module is not named cancelpool"
((errors == 0)) || exit 1
echo "check_module: MODULE.bazel's dependency versions match bazel/repositories.bzl and tools/bazel"
