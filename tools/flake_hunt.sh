#!/usr/bin/env bash
# tools/flake_hunt.sh: hunt for flaky tests by running each test many times
# under two hostile schedules:
#   1. every test process pinned to one CPU (taskset -c 0, via --run_under),
#      so threads interleave only at preemption points;
#   2. the machine loaded by stress-ng --cpu 2 (time-bounded; killed when the
#      phase ends, also on Ctrl-C or error).
# Prints "0 flaky out of N runs" -- or the flaky/failing targets -- and exits
# non-zero if any target failed at least once.
#
# Usage: tools/flake_hunt.sh [-n RUNS] [-m MINUTES] [-c CONFIG] [TARGETS...]
#   -n RUNS     --runs_per_test (default 10)
#   -m MINUTES  time limit per phase; also bounds stress-ng (default 20)
#   -c CONFIG   a --config to add (e.g. tsan, asan); default none
#   TARGETS     default: //tests/...
set -euo pipefail

runs=10
minutes=20
config=()
while getopts "n:m:c:h" opt; do
  case "$opt" in
    n) runs="$OPTARG" ;;
    m) minutes="$OPTARG" ;;
    c) config=("--config=$OPTARG") ;;
    h) sed -n '2,16p' "$0"; exit 0 ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
((${#targets[@]})) || targets=(//tests/...)

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bazel=(tools/bazel)
command -v taskset >/dev/null || { echo "flake_hunt: taskset missing (util-linux)" >&2; exit 1; }
command -v stress-ng >/dev/null ||
  { echo "flake_hunt: stress-ng missing (apt-get install stress-ng)" >&2; exit 1; }

log_dir="$(mktemp -d -t flake_hunt.XXXXXX)"
stress_pid=""
cleanup() {
  if [[ -n "$stress_pid" ]] && kill -0 "$stress_pid" 2>/dev/null; then
    kill "$stress_pid" 2>/dev/null || true
    wait "$stress_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM

common=(test "${config[@]}" --runs_per_test="$runs" --runs_per_test_detects_flakes
        --cache_test_results=no --test_summary=short --test_output=summary)

# Runs one phase; leaves Bazel's output in $log_dir/$1.log.
phase() {
  local name="$1"; shift
  echo "flake_hunt: phase '$name' (runs_per_test=$runs, limit ${minutes} min)..."
  set +e
  timeout --foreground "$((minutes * 60))" "${bazel[@]}" "${common[@]}" "$@" \
    -- "${targets[@]}" >"$log_dir/$name.log" 2>&1
  local rc=$?
  set -e
  if ((rc == 124)); then
    echo "flake_hunt: phase '$name' hit its ${minutes}-minute limit" |
      tee -a "$log_dir/$name.log"
  fi
  return 0
}

phase pinned --run_under="taskset -c 0"

stress-ng --cpu 2 --timeout "$((minutes * 60 + 60))s" --quiet &
stress_pid=$!
phase stressed
cleanup
stress_pid=""

# Bazel's summary: "//t:x   PASSED in ...", "FLAKY, failed in 1 out of 10",
# "FAILED in 3 out of 10", "TIMEOUT", "NO STATUS".
bad=()
targets_seen=0
for name in pinned stressed; do
  log="$log_dir/$name.log"
  while read -r line; do
    t="${line%% *}"
    targets_seen=$((targets_seen + 1))
    case "$line" in
      *PASSED*) ;;
      *) bad+=("[$name] $line") ;;
    esac
  done < <(grep -E '^//[^ ]+ +(PASSED|FLAKY|FAILED|TIMEOUT|NO STATUS|INCOMPLETE)' "$log" |
             sed -E 's/ +/ /g')
  if grep -qE "hit its|ERROR: " "$log"; then
    bad+=("[$name] the phase did not complete: see $log")
  fi
done

total_runs=$((targets_seen * runs))
if ((${#bad[@]} == 0)); then
  echo "0 flaky out of $total_runs runs ($((targets_seen / 2)) targets x $runs runs x 2 phases: taskset -c 0, stress-ng --cpu 2)"
  rm -rf "$log_dir"
  exit 0
fi
echo "flaky or failing targets (out of $total_runs runs; logs in $log_dir):"
printf '  %s\n' "${bad[@]}"
exit 1
