#!/usr/bin/env python3
# Copyright 2026 The cancelpool Authors.
"""Runs the benchmark suite and prints cancelpool-versus-peers tables.

    tools/bazel run -c opt //benchmarks:report                # full run
    tools/bazel run -c opt //benchmarks:report -- --quick     # CI smoke test

Runs //benchmarks:peer_benchmark and //benchmarks:pool_benchmark with
repetitions in random interleaved order (Google Benchmark's
--benchmark_enable_random_interleaving), JSON results to files, then prints,
per scenario, cancelpool's median, each peer's median and the ratio
cancelpool / peer (for rates: peer rate / our rate, so in every row a ratio
< 1 means cancelpool is faster or cheaper), the goals, and the
idle_spin_rounds sweep; and draws the same data as a PNG chart with gnuplot.

Outputs (directory from --out; default $BUILD_WORKSPACE_DIRECTORY/benchmarks/out
under `bazel run`, else ./benchmarks/out): peer.json, pool.json (raw Google
Benchmark results), report.md (the tables), chart.dat/chart.gp/chart.png.

Exit status: 0 on success; 1 if a benchmark binary fails or any benchmark
reports an error (a wrong result, say); 2 on bad usage; 3 if the chart could
not be drawn.
"""

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys

# ---------------------------------------------------------------------------
# What the tables show.

OURS = "Cancelpool"
# Display order of systems. Variants of ours are shown but not compared.
SYSTEMS = ["Cancelpool", "CancelpoolLatch", "CancelpoolBatch",
           "CancelpoolParent", "CancelpoolEvent", "CancelpoolSubmit", "Tbb",
           "TbbGroup", "Asio", "Plain", "Async", "Seq"]
VARIANTS = {"CancelpoolLatch", "CancelpoolBatch", "CancelpoolParent",
            "CancelpoolEvent", "CancelpoolSubmit"}
BASELINES = {"Seq"}  # shown with a ratio, but not a peer for the goals
PEERS = ["Tbb", "TbbGroup", "Asio", "Plain", "Async"]

# Metric kinds: (how to read it from a result, unit label, lower_is_better).
#   ns_per_item: 1e9 / items_per_second
#   rate:        items_per_second
#   time:        real_time (converted to the unit given)
#   counter:X:   the counter X
NOT_APPLICABLE_FIB = ("n/a: Plain, Asio, Async: no helping wait -- a task blocked on a child "
                      "inside a worker deadlocks a fixed pool (Plain, Asio); "
                      "std::async needs a thread per spawn (1.35M threads). "
                      "See scenario 1b.")

SCENARIOS = [
    # key, number, title, metric, unit, notes {system: note}
    ("Fib30", "1", "fork-join fib(30), a task per call (1.35M spawns)",
     "ns_per_item", "ns/spawn",
     {"Plain": NOT_APPLICABLE_FIB, "Asio": NOT_APPLICABLE_FIB,
      "Async": NOT_APPLICABLE_FIB}),
    ("Fib30Leaves", "1b", "fib(30) as 144 independent fib(<=20) leaves "
     "submitted from the caller (the equivalent a pool without helping waits "
     "can run)", "time", "ms", {}),
    ("EmptyTasks100k", "2", "100k empty tasks from 1 outside thread, wait all",
     "rate", "tasks/s", {}),
    ("EmptyTasks100kMulti/submitters:2", "3", "the same from 2 outside threads "
     "(100k in total)", "rate", "tasks/s", {}),
    ("EmptyTasks100kMulti/submitters:4", "3", "the same from 4 outside threads "
     "(100k in total)", "rate", "tasks/s", {}),
    ("RoundTrip", "4", "round trip, idle pool: p50", "counter:p50_ns", "ns", {}),
    ("RoundTrip#p99", "4", "round trip, idle pool: p99", "counter:p99_ns", "ns",
     {}),
    ("Chain1M", "5", "chained spawn, each task submits the next (1M)",
     "ns_per_item", "ns/link", {}),
    ("ParallelFor1M", "6", "parallel-for over 2^20 items", "time", "us", {}),
    ("CancelQueued100k", "7a", "cancel 100k queued tasks until all resolved",
     "time", "ms",
     {"Async": "n/a: std::async tasks are never queued (a thread each)"}),
    ("CancelBlockedWait", "7b", "cancel -> task blocked in a wait returns: p50",
     "counter:p50_ns", "ns", {}),
    ("CancelBlockedWait#p99", "7b", "cancel -> task blocked in a wait "
     "returns: p99", "counter:p99_ns", "ns", {}),
    ("AllocsPerTask", "8", "heap allocations per task (outside submit, as in 2)",
     "counter:allocs_per_task", "allocs", {}),
    ("AllocsPerTaskWithResult", "8", "heap allocations per task with a result "
     "(peers: std::promise)", "counter:allocs_per_task", "allocs", {}),
    ("AllocsPerSpawn", "8", "heap allocations per fork-join spawn (fib(20))",
     "counter:allocs_per_task", "allocs", {}),
    ("FanOut1000", "11", "fan-out/join of 1,000 empty tasks from outside "
     "(ours: TaskGroup; Tbb: tbb::task_group)", "time", "us",
     {"Asio": "n/a: no task group", "Plain": "n/a: no task group",
      "Async": "n/a: no task group"}),
    ("WhenAnyLosers", "12", "first success -> every running loser returned: "
     "p50 (ours: WhenAny + tokens; peers: a hand-wired flag)",
     "counter:p50_ns", "ns", {"Async": "n/a"}),
    ("WhenAnyLosers#p99", "12", "first success -> every running loser "
     "returned: p99", "counter:p99_ns", "ns", {"Async": "n/a"}),
    ("Shutdown/queued:0", "10", "cancel-shutdown -> all workers joined, "
     "1 blocked task per worker (Plain: broadcast-and-join)", "time", "us", {}),
    ("Shutdown/queued:10000", "10", "the same with 10k tasks queued", "time",
     "us", {}),
]
CALIBRATION = [
    ("FetchAdd", "uncontended fetch_add", "time", "ns"),
    ("CvPingPong", "condition-variable ping-pong round trip (2 threads)",
     "time", "ns"),
]
ALLOC_SCENARIOS = {"AllocsPerTask", "AllocsPerTaskWithResult", "AllocsPerSpawn"}

TIME_UNITS_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def die(code, msg):
    print("report: " + msg, file=sys.stderr)
    sys.exit(code)


# ---------------------------------------------------------------------------
# Running the binaries.

def find_binary(name, explicit):
    """The benchmark binary: --NAME flag, runfiles, or next to this script."""
    if explicit:
        return os.path.abspath(explicit)
    candidates = []
    for root in (os.environ.get("RUNFILES_DIR"), os.getcwd(),
                 os.path.abspath(sys.argv[0]) + ".runfiles"):
        if root:
            candidates.append(os.path.join(root, "benchmarks", name))
            candidates.append(os.path.join(root, "cancelpool", "benchmarks",
                                           name))
    candidates.append(os.path.join(os.path.dirname(os.path.abspath(
        sys.argv[0])), name))
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    die(2, "cannot find %s (looked in %s); pass --%s" %
        (name, ", ".join(candidates), name))


def run_benchmark(binary, json_path, args, log):
    cmd = [binary, "--benchmark_out=" + json_path,
           "--benchmark_out_format=json"] + args
    print("report: running " + " ".join(cmd), file=sys.stderr)
    sys.stderr.flush()
    # Console output goes to stderr (progress); the tables go to stdout.
    proc = subprocess.run(cmd, stdout=log, stderr=log)
    if proc.returncode != 0:
        die(1, "%s exited with status %d" % (os.path.basename(binary),
                                            proc.returncode))
    try:
        with open(json_path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        die(1, "cannot read %s: %s" % (json_path, e))


# ---------------------------------------------------------------------------
# Reading results.

def parse_name(run_name):
    """'BM_Tbb_EmptyTasks100kMulti/submitters:2/real_time' ->
    ('Tbb', 'EmptyTasks100kMulti/submitters:2')."""
    parts = [p for p in run_name.split("/")
             if p not in ("real_time", "manual_time")
             and not p.startswith("iterations:")
             and not p.startswith("repeats:")]
    head = parts[0]
    if not head.startswith("BM_") or head.count("_") < 2:
        return None, None
    _, system, scenario = head.split("_", 2)
    return system, "/".join([scenario] + parts[1:])


def collect(data, errors):
    """{(system, scenario): result dict}, medians when repeated."""
    by_key = {}
    raw = {}
    for b in data.get("benchmarks", []):
        if b.get("error_occurred"):
            errors.append("%s: %s" % (b.get("name"), b.get("error_message")))
            continue
        system, scenario = parse_name(b.get("run_name", b["name"]))
        if system is None:
            continue
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                by_key[(system, scenario)] = b
        else:
            raw.setdefault((system, scenario), []).append(b)
    for key, runs in raw.items():  # single repetition: no aggregates
        if key not in by_key:
            by_key[key] = runs[len(runs) // 2] if len(runs) == 1 else \
                median_of(runs)
    return by_key


def median_of(runs):
    """A synthetic median over repetitions (used only without aggregates)."""
    out = dict(runs[0])
    for field in set().union(*[r.keys() for r in runs]):
        vals = [r[field] for r in runs if isinstance(r.get(field), (int, float))
                and not isinstance(r.get(field), bool)]
        if len(vals) == len(runs):
            vals.sort()
            n = len(vals)
            out[field] = vals[n // 2] if n % 2 else (vals[n // 2 - 1] +
                                                     vals[n // 2]) / 2
    return out


def value(result, metric, unit):
    if result is None:
        return None
    if metric == "ns_per_item":
        ips = result.get("items_per_second")
        return 1e9 / ips if ips else None
    if metric == "rate":
        return result.get("items_per_second")
    if metric == "time":
        t = result.get("real_time")
        if t is None:
            return None
        ns = t * TIME_UNITS_NS[result.get("time_unit", "ns")]
        return ns / TIME_UNITS_NS[unit]
    if metric.startswith("counter:"):
        v = result.get(metric.split(":", 1)[1])
        return None if v is None or v < 0 else v
    raise ValueError(metric)


def lookup(results, system, key):
    """Result for a scenario key (handles the '#p99' and Shutdown aliases)."""
    scen = key.split("#")[0]
    if scen.startswith("Shutdown/"):
        arg = scen.split("/", 1)[1]
        name = {"Cancelpool": "ShutdownCancel",
                "Plain": "ShutdownBroadcast"}.get(system)
        return results.get((system, name + "/" + arg)) if name else None
    return results.get((system, scen))


def time_ratio(ours, peer, metric):
    """cancelpool / peer in 'time' terms: < 1 means cancelpool is better."""
    if ours is None or peer is None:
        return None
    if metric == "rate":
        return peer / ours if ours > 0 else None
    if peer == 0:
        return None if ours != 0 else 1.0
    return ours / peer


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "tasks/s":
        if v >= 1e6:
            return "%.2fM/s" % (v / 1e6)
        return "%.0fk/s" % (v / 1e3)
    if unit == "allocs":
        return "%.3g" % v
    if v >= 100:
        return "%.0f %s" % (v, unit)
    if v >= 10:
        return "%.1f %s" % (v, unit)
    return "%.2f %s" % (v, unit)


def fmt_ratio(r):
    if r is None:
        return "-"
    return "%.2fx" % r


def verdict(r):
    if r is None:
        return ""
    if r < 0.95:
        return "ours faster/cheaper"
    if r > 1.05:
        return "ours SLOWER/costlier"
    return "about even"


# ---------------------------------------------------------------------------
# Tables.

def table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header])
              for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in
                                       zip(r, widths)) + " |"
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def scenario_rows(results):
    rows = []
    summary = []  # (key, title, metric, ours, best_peer_name, best_value)
    for key, num, title, metric, unit, notes in SCENARIOS:
        ours = value(lookup(results, OURS, key), metric, unit)
        first = True
        best = (None, None)
        present = [s for s in SYSTEMS if s != OURS and
                   (lookup(results, s, key) is not None or s in notes)]
        if ours is None and not present:
            continue
        for system in present or [None]:
            label = "%s %s (%s)" % (num, key.replace("#", " "), unit) \
                if first else ""
            ours_cell = fmt(ours, unit) if first else ""
            first = False
            if system is None:
                rows.append([label, ours_cell, "", "", "", ""])
                continue
            if system in notes and lookup(results, system, key) is None:
                rows.append([label, ours_cell, system,
                             notes[system].split(":")[0] + " (see legend)",
                             "", ""])
                continue
            v = value(lookup(results, system, key), metric, unit)
            note = (lookup(results, system, key) or {}).get("label", "")
            peer_cell = fmt(v, unit) + (" (%s)" % note if note else "")
            if system in VARIANTS:
                rows.append([label, ours_cell, system + " (our variant)",
                             peer_cell, "", ""])
                continue
            r = time_ratio(ours, v, metric)
            if key.split("#")[0] in ALLOC_SCENARIOS:
                rows.append([label, ours_cell, system, peer_cell, "", ""])
            else:
                rows.append([label, ours_cell, system, peer_cell,
                             fmt_ratio(r), verdict(r)])
            if system in PEERS and v is not None and not note:
                better = (best[1] is None or
                          (v > best[1] if metric == "rate" else v < best[1]))
                if better:
                    best = (system, v)
        summary.append((key, num, title, metric, unit, ours) + best)
    return rows, summary


GOALS = {
    # key: (description, max ratio ours/best in time terms)
    "Fib30": ("fork-join fib: at most 0.5x the best peer's time", 0.5),
    "EmptyTasks100k": ("outside submission: at least 2x the best peer's "
                       "throughput", 0.5),
    "EmptyTasks100kMulti/submitters:2": ("outside submission (2 threads): at "
                                         "least 2x the best peer", 0.5),
    "EmptyTasks100kMulti/submitters:4": ("outside submission (4 threads): at "
                                         "least 2x the best peer", 0.5),
    "RoundTrip": ("round trip p50: at most 0.5x the best peer's latency", 0.5),
    "FanOut1000": ("fan-out/join 1,000: at most 1.0x tbb::task_group", 1.0),
    "WhenAnyLosers": ("losers stopped through tokens: at most 1.5x a "
                      "hand-wired flag (p50)", 1.5),
    "ParallelFor1M": ("parallel-for 2^20: at most 1.0x tbb::parallel_for",
                      1.0),
}


def goal_rows(summary):
    rows = []
    for key, num, title, metric, unit, ours, best_name, best in summary:
        if key.split("#")[0] in ALLOC_SCENARIOS:
            if key == "AllocsPerTask" or key == "AllocsPerTaskWithResult":
                ok = ours is not None and ours <= 1.0
                rows.append([num + " " + key, "at most 1 allocation per task",
                             fmt(ours, unit), "", "met" if ok else "MISSED"])
            continue
        r = time_ratio(ours, best, metric)
        limit = GOALS.get(key, ("ahead of the best peer", 1.0))
        ok = r is not None and r <= limit[1]
        rows.append([num + " " + key, limit[0],
                     "%s vs %s %s" % (fmt(ours, unit), best_name or "-",
                                      fmt(best, unit)),
                     fmt_ratio(r), "met" if ok else "MISSED"])
    return rows


def calibration_rows(results):
    rows = []
    for key, title, metric, unit in CALIBRATION:
        v = value(results.get(("Calib", key)), metric, unit)
        rows.append([title, fmt(v, unit)])
    return rows


def diagnostic_rows(results):
    """Counters that explain the fork-join numbers."""
    rows = []
    for system in ("Cancelpool", "Tbb", "Seq"):
        r = results.get((system, "Fib30"))
        if r is None:
            continue
        cell = lambda k, f="%.2f": (f % r[k]) if isinstance(
            r.get(k), (int, float)) else "-"
        rows.append([system, cell("cores_busy"), cell("steals", "%.0f"),
                     cell("parks", "%.0f")])
    return rows


def spin_rows(results):
    rows = []
    for spin in (0, 16, 64, 256):
        s = "/spin:%d" % spin
        fib = results.get(("Pool", "Fib30" + s))
        rt = results.get(("Pool", "RoundTrip" + s))
        rtp = results.get(("Pool", "RoundTripAfterPause" + s))
        et = results.get(("Pool", "EmptyTasks100k" + s))
        if not any((fib, rt, rtp, et)):
            continue
        rows.append([
            str(spin),
            fmt(value(fib, "ns_per_item", "ns"), "ns/spawn"),
            fmt(value(fib, "counter:cpu_ns_per_op", "ns"), "ns"),
            fmt(value(rt, "counter:p50_ns", "ns"), "ns"),
            fmt(value(rt, "counter:p99_ns", "ns"), "ns"),
            fmt(value(rt, "counter:cpu_ns_per_op", "ns"), "ns"),
            fmt(value(rtp, "counter:p50_ns", "ns"), "ns"),
            fmt(value(et, "rate", "tasks/s"), "tasks/s"),
        ])
    return rows


# ---------------------------------------------------------------------------
# Chart.

def write_chart(out_dir, results, summary):
    """Two panels: time relative to cancelpool (log), and allocations."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        return "gnuplot not found (Debian: apt-get install gnuplot-nox; " \
               "tools/bazel installs it)"
    systems = [s for s in SYSTEMS if s not in VARIANTS]
    rel_path = os.path.join(out_dir, "chart.dat")
    alloc_path = os.path.join(out_dir, "chart_allocs.dat")
    n_rel = 0
    with open(rel_path, "w") as rel, open(alloc_path, "w") as al:
        rel.write("# time relative to cancelpool (peer time / our time; rates "
                  "inverted); ? = not run\nscenario " + " ".join(systems) +
                  "\n")
        al.write("# heap allocations per task\nscenario " +
                 " ".join(systems) + "\n")
        for key, num, title, metric, unit, ours, _, _ in summary:
            label = '"%s %s"' % (num, key.replace("EmptyTasks100kMulti/"
                                                  "submitters:", "Multi").
                                 replace("#", " ").replace("/queued:", " q"))
            cells = []
            alloc = key.split("#")[0] in ALLOC_SCENARIOS
            for s in systems:
                v = value(lookup(results, s, key), metric, unit)
                if alloc:
                    cells.append("?" if v is None else "%g" % v)
                    continue
                r = time_ratio(v, ours, metric)  # peer / ours
                cells.append("?" if r is None or r <= 0 else "%g" % r)
            (al if alloc else rel).write(label + " " + " ".join(cells) + "\n")
            n_rel += 0 if alloc else 1
    png = os.path.join(out_dir, "chart.png")
    gp = os.path.join(out_dir, "chart.gp")
    ncols = len(systems) + 1
    with open(gp, "w") as f:
        f.write("""set terminal pngcairo size 1500,1000 noenhanced font ",10"
set output '%(png)s'
set datafile missing '?'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set key outside right top vertical
set grid ytics
set multiplot layout 2,1
set title "cancelpool vs peers: time relative to cancelpool (log scale; > 1 = the peer is slower; rates inverted)"
set logscale y
set ylabel "peer / cancelpool"
set xtics rotate by -30 left
set yrange [*:*]
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2
plot for [i=2:%(ncols)d] '%(rel)s' using i:xtic(1) title columnheader(i)
unset arrow 1
unset logscale y
set title "heap allocations per task (malloc-level count)"
set ylabel "allocations"
set yrange [0:*]
plot for [i=2:%(ncols)d] '%(al)s' using i:xtic(1) title columnheader(i)
unset multiplot
""" % {"png": png, "rel": rel_path, "al": alloc_path, "ncols": ncols})
    proc = subprocess.run([gnuplot, gp], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0 or not os.path.exists(png):
        # pngcairo missing in some builds: retry with the plain png terminal.
        with open(gp) as f:
            script = f.read().replace("pngcairo", "png")
        with open(gp, "w") as f:
            f.write(script)
        proc = subprocess.run([gnuplot, gp], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            return "gnuplot failed: " + proc.stdout.strip()[-500:]
    return None


# ---------------------------------------------------------------------------

def machine_line(context):
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = "unknown commit"
    ws = os.environ.get("BUILD_WORKSPACE_DIRECTORY")
    if ws:
        try:
            h = subprocess.run(["git", "-C", ws, "rev-parse", "--short=10",
                                "HEAD"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True).stdout
            dirty = subprocess.run(["git", "-C", ws, "status", "--porcelain",
                                    "--untracked-files=no"],
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True).stdout
            if h.strip():
                commit = "commit " + h.strip() + (" (dirty)" if dirty.strip()
                                                  else "")
        except OSError:
            pass
    load = context.get("load_avg") or []
    return ("%s | %s | %d CPUs @ %s MHz | load %s | %s | %s | benchmark "
            "library %s" % (
                context.get("date", datetime.datetime.now().isoformat()),
                context.get("host_name", platform.node()), context.get(
                    "num_cpus", os.cpu_count() or 0), context.get(
                        "mhz_per_cpu", "?"), " ".join("%.2f" % x for x in load),
                cpu, commit, context.get("library_build_type", "?")))


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="output directory")
    p.add_argument("--quick", action="store_true",
                   help="one short repetition, reduced iteration counts: "
                   "checks the report end to end in seconds (CI)")
    p.add_argument("--repetitions", type=int, default=5)
    p.add_argument("--min_time", type=float, default=0.3,
                   help="Google Benchmark --benchmark_min_time per repetition")
    p.add_argument("--filter", default=".",
                   help="--benchmark_filter for peer_benchmark")
    p.add_argument("--pool_filter", default=".",
                   help="--benchmark_filter for pool_benchmark (the spin sweep "
                   "and shutdown); 'none' skips it")
    p.add_argument("--no_chart", action="store_true")
    p.add_argument("--peer_benchmark", help="path of peer_benchmark")
    p.add_argument("--pool_benchmark", help="path of pool_benchmark")
    args = p.parse_args()

    out_dir = args.out
    if not out_dir:
        ws = os.environ.get("BUILD_WORKSPACE_DIRECTORY")
        out_dir = os.path.join(ws or os.getcwd(), "benchmarks", "out")
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)

    reps, min_time = args.repetitions, args.min_time
    extra = []
    if args.quick:
        reps, min_time = 1, 0.001
        extra = ["--cancelpool_quick"]
    if reps < 1:
        die(2, "--repetitions must be at least 1")
    common = ["--benchmark_repetitions=%d" % reps,
              "--benchmark_min_time=%g" % min_time,
              "--benchmark_enable_random_interleaving=true"] + extra
    if reps > 1:
        common.append("--benchmark_report_aggregates_only=false")

    peer_bin = find_binary("peer_benchmark", args.peer_benchmark)
    pool_bin = None
    if args.pool_filter != "none":
        pool_bin = find_binary("pool_benchmark", args.pool_benchmark)

    errors = []
    log = sys.stderr
    peer = run_benchmark(peer_bin, os.path.join(out_dir, "peer.json"),
                         common + ["--benchmark_filter=" + args.filter], log)
    results = collect(peer, errors)
    context = peer.get("context", {})
    if pool_bin:
        pool = run_benchmark(pool_bin, os.path.join(out_dir, "pool.json"),
                             common + ["--benchmark_filter=" + args.pool_filter],
                             log)
        results.update(collect(pool, errors))

    lines = []
    lines.append("# cancelpool benchmark report")
    lines.append("")
    lines.append(machine_line(context))
    lines.append("")
    lines.append("%s: %d repetition(s), random interleaving, min time %gs per "
                 "repetition; medians across repetitions. Workers = %s. "
                 "Allocation counting: %s." % (
                     "QUICK MODE (smoke test, numbers not meaningful)"
                     if args.quick else "Full run", reps, min_time,
                     context.get("workers", "?"),
                     context.get("alloc_counting", "?")))
    if context.get("library_build_type") == "debug":
        lines.append("")
        lines.append("WARNING: built without -c opt; numbers are meaningless. "
                     "Use: tools/bazel run -c opt //benchmarks:report")
    lines.append("")
    lines.append("Ratio = cancelpool / peer in time terms (for rates: peer "
                 "rate / our rate). Ratio < 1: cancelpool is faster; > 1: "
                 "slower.")
    lines.append("")
    rows, summary = scenario_rows(results)
    lines.append(table(rows, ["Scenario", "Cancelpool", "Peer", "Peer median",
                              "Ours/peer", "Verdict"]))
    lines.append("")
    lines.append("Legend:")
    seen = set()
    for key, num, title, metric, unit, notes in SCENARIOS:
        lines.append("  %s %s: %s" % (num, key.replace("#", " "), title))
        for system, note in sorted(notes.items()):
            if note not in seen:
                seen.add(note)
                lines.append("      %s" % note)
    lines.append("")
    lines.append("## Goals (against the best peer; TbbGroup lets the caller "
                 "run tasks, labelled rows ran a reduced size and are not "
                 "counted)")
    lines.append("")
    lines.append(table(goal_rows(summary), ["Scenario", "Goal", "Medians",
                                            "Ours/best", "Status"]))
    lines.append("")
    drows = diagnostic_rows(results)
    if drows:
        lines.append("## Fork-join diagnostics (Fib30: cores kept busy = "
                     "process CPU time / wall time; steals and parks per "
                     "fib(30), from ThreadPool::Stats)")
        lines.append("")
        lines.append(table(drows, ["System", "cores busy", "steals",
                                   "parks"]))
        lines.append("")
    lines.append("## Calibration")
    lines.append("")
    lines.append(table(calibration_rows(results), ["Row", "Median"]))
    srows = spin_rows(results)
    if srows:
        lines.append("")
        lines.append("## idle_spin_rounds sweep (BM_Pool_*; cpu = whole-process "
                     "CPU time per operation)")
        lines.append("")
        lines.append(table(srows, ["spin", "fib30", "fib30 cpu/spawn",
                                   "round trip p50", "p99", "cpu/trip",
                                   "after pause p50", "100k empty tasks"]))
    if errors:
        lines.append("")
        lines.append("## ERRORS")
        lines += ["  " + e for e in errors]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)

    chart_error = None
    if not args.no_chart:
        chart_error = write_chart(out_dir, results, summary)
        if chart_error:
            print("report: chart: " + chart_error, file=sys.stderr)
        else:
            print("\nChart: " + os.path.join(out_dir, "chart.png"))
    print("Results: " + out_dir)
    if errors:
        die(1, "%d benchmark(s) reported errors (see above)" % len(errors))
    if chart_error:
        sys.exit(3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
