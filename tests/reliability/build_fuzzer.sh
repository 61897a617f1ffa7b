#!/usr/bin/env bash
# Builds the API-sequence fuzzer (fuzz_target.cc) as a libFuzzer binary with
# clang-14, outside Bazel (Bazel's toolchain here is gcc).
#
#   tests/reliability/build_fuzzer.sh            # builds, prints the binary
#   tests/reliability/build_fuzzer.sh run [SECS] # builds, then fuzzes SECS
#                                                # seconds (default 60) from
#                                                # the checked-in corpus
#
# cancelpool's sources, the harness and the target are compiled with
# -fsanitize=fuzzer,address (coverage-guided, ASan); Abseil's sources (from
# the same Debian source tree tools/bazel uses) with ASan only, cached in
# $OUT/absl. New interesting inputs go to $OUT/corpus (not the checked-in
# corpus: copy a few small ones into tests/reliability/fuzz_corpus/ by hand,
# then fuzz_replay_test replays them in every build).
#
# Environment: CANCELPOOL_CACHE (default ~/.cache/cancelpool), OUT (default
# $CANCELPOOL_CACHE/fuzz-build), JOBS (default 2), CXX (default clang++-14).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${CANCELPOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cancelpool}"
absl_src="$cache/src/abseil-20220623.1"
out="${OUT:-$cache/fuzz-build}"
jobs="${JOBS:-2}"
cxx="${CXX:-clang++-14}"

command -v "$cxx" >/dev/null ||
  { echo "build_fuzzer.sh: $cxx not found (apt-get install clang-14)" >&2; exit 1; }
[[ -d "$absl_src/absl" ]] ||
  { echo "build_fuzzer.sh: no Abseil sources at $absl_src (run tools/bazel once)" >&2; exit 1; }

mkdir -p "$out/absl" "$out/obj" "$out/include" "$out/corpus"
# Sources include "cancelpool/<dir>/..." (Bazel's include_prefix).
ln -sfn "$repo" "$out/include/cancelpool"

common=(-std=c++20 -O1 -g -fno-omit-frame-pointer -pthread
        -I"$absl_src" -I"$out/include" -I"$repo")

# Abseil: the libraries the pool links, ASan without fuzzer coverage.
mapfile -t absl_srcs < <(
  cd "$absl_src" &&
  find absl/base absl/strings absl/synchronization absl/time absl/debugging \
       absl/numeric absl/types absl/status absl/hash absl/profiling \
       absl/container/internal -name '*.cc' \
    | grep -Ev '(_test|_benchmark|test_|_testing|mock|print_hash_of|_test_common|gentables)' \
    | sort)
compile_absl() {
  local src="$1" obj
  obj="$out/absl/$(echo "$src" | tr / _).o"
  [[ -f "$obj" && "$obj" -nt "$absl_src/$src" ]] && return 0
  "$cxx" "${common[@]}" -fsanitize=address -w -c "$absl_src/$src" -o "$obj"
}
export -f compile_absl
export out absl_src cxx
export COMMON_FLAGS="${common[*]}"
printf '%s\n' "${absl_srcs[@]}" |
  xargs -P "$jobs" -I{} bash -c 'common=($COMMON_FLAGS); compile_absl "$1"' _ {}
rm -f "$out/libabsl.a"
ar rcs "$out/libabsl.a" "$out"/absl/*.o

# cancelpool + harness + target: coverage-guided.
ours=(cancel/cancellation.cc cancel/current.cc cancel/wait.cc
      cancel/internal/cancel_state.cc cancel/internal/deadline_timer.cc
      pool/future.cc pool/thread_pool.cc pool/internal/scheduler.cc
      pool/internal/task.cc
      tests/reliability/stress_harness.cc tests/reliability/fuzz_target.cc)
objs=()
for src in "${ours[@]}"; do
  obj="$out/obj/$(echo "$src" | tr / _).o"
  "$cxx" "${common[@]}" -fsanitize=fuzzer-no-link,address -c "$repo/$src" -o "$obj"
  objs+=("$obj")
done
"$cxx" "${common[@]}" -fsanitize=fuzzer,address "${objs[@]}" "$out/libabsl.a" \
  -o "$out/cancelpool_fuzzer"
echo "$out/cancelpool_fuzzer"

if [[ "${1:-}" == run ]]; then
  secs="${2:-60}"
  # -timeout: a schedule taking 60 s is a hang. -rss_limit_mb: pools are
  # cheap, but ASan's quarantine grows.
  "$out/cancelpool_fuzzer" -max_total_time="$secs" -timeout=60 \
    -rss_limit_mb=4096 -max_len=512 -print_final_stats=1 \
    "$out/corpus" "$repo/tests/reliability/fuzz_corpus"
fi
