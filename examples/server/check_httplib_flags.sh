#!/usr/bin/env bash
# Checks that bazel/cpp_httplib.BUILD defines exactly the macros that the
# installed cpp-httplib's pkg-config file asks for (`pkg-config --cflags
# cpp-httplib`): a mismatch changes httplib's class layouts between our code
# and the shared library, which crashes at run time rather than failing to
# build. Usage: check_httplib_flags.sh path/to/cpp_httplib.BUILD
set -euo pipefail
build_file="$1"
command -v pkg-config >/dev/null ||
  { echo "check_httplib_flags: pkg-config is not installed (tools/bazel installs it)" >&2; exit 1; }
cflags="$(pkg-config --cflags cpp-httplib)" ||
  { echo "check_httplib_flags: no cpp-httplib.pc: install libcpp-httplib-dev (tools/bazel does)" >&2; exit 1; }
want="$(tr ' ' '\n' <<<"$cflags" | sed -n 's/^-D//p' | sort)"
have="$(sed -n '/defines = \[/,/\]/p' "$build_file" | sed -nE 's/^ *"([A-Z0-9_=]+)",?$/\1/p' | sort)"
if [[ "$want" != "$have" ]]; then
  echo "check_httplib_flags: $build_file defines" >&2
  echo "${have:-  (nothing)}" | sed 's/^/  /' >&2
  echo "but pkg-config --cflags cpp-httplib asks for" >&2
  echo "${want:-  (nothing)}" | sed 's/^/  /' >&2
  exit 1
fi
echo "check_httplib_flags: $(wc -l <<<"$want") defines match pkg-config: $(tr '\n' ' ' <<<"$want")"
