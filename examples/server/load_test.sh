#!/usr/bin/env bash
# Load test of the example server (//examples/server:load_test) and its
# report (//examples/server:load_report).
#
# For each configuration (`configs` below) -- the handlers' work on the
# pool ("pool") and on httplib's own connection threads ("direct") -- it
# starts the server on 127.0.0.1 with an ephemeral port and 2 pool workers,
# then:
#   1. runs wrk (bounded: --threads, --connections, --duration) against
#      /work?us=100 (CPU work) and /sleep?ms=5 (a blocking wait), and reads
#      the throughput and the p50/p99 latency;
#   2. opens a connection, sends /sleep?ms=3000 (then /work?ms=3000),
#      closes the connection once the server logged the request's start,
#      and reads when the server's work observed the cancellation (the
#      disconnect-to-observed latency; skipped, and shown as n/a, when the
#      server says it does not watch for disconnects);
#   3. starts wrk against /sleep?ms=5 again and sends SIGTERM in the middle;
#      the server stops accepting, answers what it read, drains its pool and
#      prints its report, which must add up: every request read was answered
#      (read == written), only 200/499/503/504 were sent, the pool
#      terminated with nothing in flight, and its submit count is the
#      server's.
# Then it prints the table (markdown). Exits non-zero if a check failed.
# Nothing but 127.0.0.1 is used. The whole run takes about
# configurations * (2 * duration + 6) seconds.
#
# Usage: load_test.sh SERVER_BINARY [--duration=3s] [--connections=16]
#                     [--threads=2] [--workers=2] [--report]
# --report only changes the heading (the commit and machine label).
set -euo pipefail

die() { echo "load_test: error: $*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: load_test.sh SERVER_BINARY [flags]"
server_bin="$1"
shift
duration=3s
connections=16
threads=2
workers=2
report=0
for arg in "$@"; do
  case "$arg" in
    --duration=*) duration="${arg#*=}" ;;
    --connections=*) connections="${arg#*=}" ;;
    --threads=*) threads="${arg#*=}" ;;
    --workers=*) workers="${arg#*=}" ;;
    --report) report=1 ;;
    *) die "unknown argument '$arg'" ;;
  esac
done
[[ -x "$server_bin" ]] || die "server binary '$server_bin' is not executable"
command -v wrk >/dev/null ||
  die "wrk is not installed. It is Debian's package 'wrk': tools/bazel" \
      "installs it (or, as root: apt-get install wrk)."

tmp="$(mktemp -d "${TEST_TMPDIR:-/tmp}/load_test.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

failures=()
check() {  # $1: condition result (0 = ok), $2: what
  if [[ "$1" != 0 ]]; then
    failures+=("$2")
    echo "load_test: FAILED: $2" >&2
  fi
}

# Waits up to $2 seconds (in 50 ms steps) for a line matching $1 in $3;
# prints it.
wait_for_line() {
  local pattern="$1" seconds="$2" file="$3" i
  for ((i = 0; i < seconds * 20; ++i)); do
    if grep -m1 -E "$pattern" "$file" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}

# The server configurations compared: "label server-flags...". Each label
# is a column value of the tables and a file name.
configs=(
  "pool --mode=pool"
  "pool-blocking --mode=pool --max_blocking_threads=$((connections * 2))"
  "direct --mode=direct"
)

# Starts the server configuration labelled $1 with flags $2...; sets
# server_pid and port.
start_server() {
  local mode="$1" line
  shift
  : >"$tmp/$mode.out"
  : >"$tmp/$mode.err"
  "$server_bin" --port=0 "$@" --workers="$workers" \
    --http_threads=$((connections + 8)) --grace=5s \
    >"$tmp/$mode.out" 2>"$tmp/$mode.err" &
  server_pid=$!
  line="$(wait_for_line '^listening on ' 20 "$tmp/$mode.out")" ||
    { cat "$tmp/$mode.err" >&2; die "the $mode server did not start"; }
  port="$(sed -E 's|.*127\.0\.0\.1:([0-9]+).*|\1|' <<<"$line")"
  disconnect_watch="$(sed -nE 's/.* disconnect=([a-z]+).*/\1/p' <<<"$line")"
}

# Runs wrk against path $2 for mode $1 and scenario $3; appends a row.
rows=()
run_wrk() {
  local mode="$1" path="$2" name="$3" out="$tmp/wrk.$mode.$3" rps p50 p99 non2xx errors
  wrk --threads="$threads" --connections="$connections" --duration="$duration" \
    --timeout=5s --latency "http://127.0.0.1:$port$path" >"$out" 2>&1 ||
    { cat "$out" >&2; check 1 "wrk failed ($mode $path)"; return; }
  rps="$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")"
  p50="$(awk '$1 == "50%" {print $2}' "$out")"
  p99="$(awk '$1 == "99%" {print $2}' "$out")"
  non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
  errors="$(sed -nE 's/.*Socket errors: (.*)/\1/p' "$out")"
  rows+=("| $name | $mode | ${rps:-?} | ${p50:-?} | ${p99:-?} | ${non2xx:-0} | ${errors:-none} |")
  [[ -n "$rps" && "$rps" -gt 0 ]]
  check $? "$mode $path: no throughput from wrk"
  [[ -z "$non2xx" ]]
  check $? "$mode $path: $non2xx responses were not 2xx under plain load"
}

# Step 2: a client that closes its connection mid-request ($2: the path,
# $3: a label); sets disconnect_us.
measure_disconnect() {
  local mode="$1" path="$2" id="dc-$1-$3" t_close t_obs
  if [[ "$disconnect_watch" != on ]]; then
    disconnect_us="n/a (server built without disconnect watching)"
    return
  fi
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET %s&id=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' "$path" "$id" >&3
  wait_for_line "^begin id=$id\$" 10 "$tmp/$mode.err" >/dev/null ||
    check 1 "$mode: the disconnect probe's request $path never began"
  # Bash's own clock (microseconds, no fork), read just before the close.
  t_close="${EPOCHREALTIME/./}"
  exec 3<&- 3>&-
  if wait_for_line "^observed id=$id " 4 "$tmp/$mode.err" >"$tmp/obs"; then
    t_obs="$(sed -nE 's/.* t_ns=([0-9]+).*/\1/p' "$tmp/obs")"
    disconnect_us="$((t_obs / 1000 - t_close)) us"
  else
    disconnect_us="not observed"
    check 1 "$mode: the work for $path did not observe the client's disconnect within 4 s"
  fi
}

# Step 3: SIGTERM under load; checks the server's report.
sigterm_under_load() {
  local mode="$1" wrk_pid report rc=0 errors
  wrk --threads="$threads" --connections="$connections" --duration=3s \
    --timeout=5s "http://127.0.0.1:$port/sleep?ms=5" >"$tmp/wrk.$mode.term" 2>&1 &
  wrk_pid=$!
  sleep 1
  kill -TERM "$server_pid"
  # The server finishes what it read, drains, reports and exits.
  local i
  for ((i = 0; i < 300 && rc == 0; ++i)); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    check 1 "$mode: the server did not exit within 15 s of SIGTERM"
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" || rc=$?
  server_pid=""
  wait "$wrk_pid" || true
  report="$(grep -m1 '^server-report ' "$tmp/$mode.out" || true)"
  [[ -n "$report" ]]
  check $? "$mode: no server-report line after SIGTERM"
  check "$rc" "$mode: the server exited with status $rc (its report must add up)"
  local -A r=()
  local kv
  for kv in ${report#server-report }; do r["${kv%%=*}"]="${kv#*=}"; done
  [[ "${r[read]:-x}" == "${r[written]:-y}" ]]
  check $? "$mode: requests read (${r[read]:-?}) != responses written (${r[written]:-?})"
  [[ "${r[s_other]:-1}" == 0 && "${r[s400]:-1}" == 0 && "${r[s502]:-1}" == 0 ]]
  check $? "$mode: statuses other than 200/499/503/504 were sent"
  [[ "${r[adds_up]:-0}" == 1 && "${r[terminated]:-0}" == 1 && "${r[in_flight]:-1}" == 0 ]]
  check $? "$mode: the pool's shutdown report does not add up"
  [[ "${r[submitted]:-x}" == "${r[pool_submits]:-y}" ]]
  check $? "$mode: pool submitted ${r[submitted]:-?} != server's submits ${r[pool_submits]:-?}"
  errors="$(sed -nE 's/.*Socket errors: (.*)/\1/p' "$tmp/wrk.$mode.term")"
  shutdown_rows+=("| $mode | ${r[read]:-?} | ${r[written]:-?} | ${r[s200]:-?} | ${r[s503]:-?} | ${r[s499]:-?} | ${r[submitted]:-?} = ${r[completed]:-?} + ${r[cancelled_before_start]:-?} + ${r[cancelled_while_running]:-?} + ${r[rejected]:-?} + ${r[failed]:-?} + ${r[shed]:-?} | ${r[finish_http_ms]:-?} ms + ${r[drain_pool_ms]:-?} ms | ${errors:-none} |")
}

start_time=$SECONDS
shutdown_rows=()
disconnect_rows=()
for config in "${configs[@]}"; do
  read -r mode flags <<<"$config"
  # shellcheck disable=SC2086  # the flags are words
  start_server "$mode" $flags
  run_wrk "$mode" "/work?us=100" "CPU 100 us"
  run_wrk "$mode" "/sleep?ms=5" "blocking wait 5 ms"
  measure_disconnect "$mode" "/sleep?ms=3000" sleep
  row="| $mode | $disconnect_us"
  measure_disconnect "$mode" "/work?ms=3000" cpu
  disconnect_rows+=("$row | $disconnect_us |")
  sigterm_under_load "$mode"
done

if ((report)); then
  commit="$(git -C "${BUILD_WORKSPACE_DIRECTORY:-.}" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "## Example server under load (commit $commit)"
  echo
  load="$(cut -d' ' -f1 /proc/loadavg)"
  loaded=""
  if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l >= n) }'; then
    loaded=" (loaded machine: other work was running)"
  fi
  echo "Machine: $(nproc) cores, $(uname -sr); load average $load$loaded."
  echo
fi
echo "\`wrk --threads=$threads --connections=$connections --duration=$duration --latency\`;" \
  "server: $workers pool workers, $((connections + 8)) httplib threads, 127.0.0.1."
echo
echo "| scenario | mode | req/s | p50 | p99 | non-2xx | socket errors |"
echo "| --- | --- | ---: | ---: | ---: | ---: | --- |"
printf '%s\n' "${rows[@]}"
echo
echo "SIGTERM 1 s into 3 s of /sleep?ms=5 load:"
echo
echo "| mode | read (whole run) | written | 200 | 503 | 499 | pool: submitted = completed + cancelled before start + while running + rejected + failed + shed | finish HTTP + drain pool | wrk socket errors |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |"
printf '%s\n' "${shutdown_rows[@]}"
echo
echo "Client disconnect (close mid-request) to the task observing cancellation:"
echo
echo "| mode | blocking wait (/sleep) | CPU loop (/work) |"
echo "| --- | ---: | ---: |"
printf '%s\n' "${disconnect_rows[@]}"
echo
echo "load_test: $((SECONDS - start_time)) s"
if ((${#failures[@]} > 0)); then
  echo "load_test: ${#failures[@]} check(s) failed:" >&2
  printf '  %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "load_test: all checks passed"
