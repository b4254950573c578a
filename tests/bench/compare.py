#!/usr/bin/python3
"""Compare nmbench's training-step times with the PyTorch peer (tests/bench/torch_peer.py).

    /usr/bin/python3 tests/bench/compare.py --nmbench build/release/tests/bench/nmbench [--threads 1,2] [--quick]
    /usr/bin/python3 tests/bench/compare.py --nmbench-json old.json          # reuse an nmbench JSON
    /usr/bin/python3 tests/bench/compare.py --peer-only [--threads 1,2]      # PyTorch side only

1. Runs nmbench with --benchmark_format=json --benchmark_out=<tmp> --benchmark_out_format=json
   (or reads --nmbench-json) and takes, per benchmark, the entry whose aggregate_name is
   "median" (without repetitions: the median of the iterations entries), real_time in ms.
   Step benchmarks are named BM_<Model>Step<Recipe>/<threads>, e.g. BM_MlpStep/1 (dense),
   BM_GptStepSrste/2; a "/real_time" suffix is ignored. Models mlp and gpt and recipes
   dense (no suffix or "Dense"), srste and sste (against the peer's srste) have a peer; any other name is listed without a ratio.
   Other entries (BM_Gemm...) are listed with their user counters (gflops, peak_fraction, ...).
2. Runs the peer in a fresh /usr/bin/python3 process per (threads, configuration, model, mode),
   always with OPENBLAS_CORETYPE set (SkylakeX; Haswell on CPUs without AVX-512) because Debian's
   OpenBLAS 0.3.21 picks its SSE3 "Prescott" kernel on recent Intel CPUs; nmbench runs with the same
   OPENBLAS_CORETYPE, whatever the environment says. Per thread count K:
   K=1: torch threads 1, OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1;
   K>1: (torch K, OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=K) and (torch 1, OPENBLAS_NUM_THREADS=K,
   OMP_NUM_THREADS=1); the faster median is kept (the peer gets its best configuration).
   With the pthread build of OpenBLAS the second one is usually faster (the two thread pools do
   not fight); with the OpenMP build (the one this project installs as the system libblas) OpenBLAS
   follows torch's OpenMP thread count, so the second one runs single-threaded and the first wins.
3. Prints a table, then one line per pair:
       ratio model=mlp mode=dense threads=1 nmstudio_ms=... torch_ms=... ratio=... target=0.9 ok
   ratio = nmstudio / torch (lower is better); targets are in TARGETS below.

Needs only the standard library; the peer needs Debian's python3-torch (hence /usr/bin/python3).
The machine is small and shared: every run also reports how much CPU time other processes used
meanwhile (other_cpu_s), and a run that shared the machine is marked "busy".
"""

import argparse
import json
import os
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

# nmstudio_ms / torch_ms must be at most this (lower is better).
TARGETS = {
    ("mlp", "dense"): 0.9,
    ("gpt", "dense"): 0.5,
    ("mlp", "srste"): 0.35,
    ("gpt", "srste"): 0.5,
}
# A sparse step against nmstudio's own plain dense step of the same model and thread count
# (BM_<Model>Step/<threads>): at most this; any other recipe and N:M at most SELF_DEFAULT.
SELF_TARGETS = {
    ("mlp", "srste", "1:16"): 0.55,
    ("gpt", "srste", "1:16"): 0.6,
}
SELF_DEFAULT = 1.05
# Recipe suffixes of step benchmarks: _<N>to<M> is the pattern (2:4 without it), _dense the
# same step with every GEMM dense on W̃ (--sparse-gemm off).
NM_SUFFIX = re.compile(r"^(?P<recipe>[a-z0-9-]*?)(?:_(?P<n>\d+)to(?P<m>\d+))?(?P<dense>_dense)?$")

PEER_MODELS = ("mlp", "gpt")
PEER_MODES = ("dense", "srste")
PEER_PYTHON = "/usr/bin/python3"  # Debian's torch is only importable from the system interpreter
PEER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_peer.py")
# (warm-up, timed) peer steps; None = the peer's own defaults (mlp 20/200, gpt 5/40).
QUICK_STEPS = {"mlp": (3, 20), "gpt": (1, 5)}
QUICK_NMBENCH_ARGS = ["--benchmark_repetitions=3", "--benchmark_min_time=0.1"]
PEER_MAX_SECONDS = 12.0  # per peer measurement; a quiet machine needs 2-6 s for the default steps
QUICK_PEER_MAX_SECONDS = 3.0
BUSY_FRACTION = 0.10  # other processes' CPU time / wall time above which a run is marked busy

TIME_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
# Keys Google Benchmark writes itself; anything else in an entry is a user counter.
GBENCH_KEYS = {
    "name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
    "repetition_index", "threads", "iterations", "real_time", "cpu_time", "time_unit",
    "aggregate_name", "aggregate_unit", "label", "error_occurred", "error_message",
    "bytes_per_second", "items_per_second", "skipped", "skip_message",
}
# Name components Google Benchmark appends itself (not benchmark arguments).
GBENCH_SUFFIX = re.compile(r"^(real_time|manual_time|process_time|min_time:.*|min_warmup_time:.*|"
                           r"iterations:.*|repeats:.*)$")
STEP_NAME = re.compile(r"^BM_(?P<model>[A-Za-z][A-Za-z0-9]*?)Step(?P<recipe>[A-Za-z0-9_]*)$")


def die(msg, code=2):
    print(f"compare.py: error: {msg}", file=sys.stderr)
    sys.exit(code)


def note(msg):
    print(f"compare.py: {msg}", file=sys.stderr, flush=True)


def parse_threads(text):
    try:
        ks = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"--threads wants a comma list of integers, got {text!r}")
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(f"--threads wants positive integers, got {text!r}")
    return ks


def parse_list(allowed):
    def parse(text):
        items = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in items if x not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)} (got {text!r})")
        return items
    return parse


def parse_args(argv):
    p = argparse.ArgumentParser(description="nmbench vs PyTorch peer: training-step time ratios",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Ratios are nmstudio/torch, lower is better. Targets: "
                                       + ", ".join(f"{m} {r} <= {t}" for (m, r), t in TARGETS.items()))
    src = p.add_mutually_exclusive_group()
    src.add_argument("--nmbench", metavar="PATH", help="the nmbench binary to run")
    src.add_argument("--nmbench-json", metavar="FILE", help="reuse a Google Benchmark JSON from nmbench")
    src.add_argument("--peer-only", action="store_true", help="skip nmbench, time only the PyTorch peer")
    p.add_argument("--threads", type=parse_threads, default=None,
                   help="thread counts to compare, e.g. 1,2 (default: those in the nmbench results; "
                        "with --peer-only: 1,2)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: few peer steps (mlp %d, gpt %d) and nmbench %s"
                        % (QUICK_STEPS["mlp"][1], QUICK_STEPS["gpt"][1], " ".join(QUICK_NMBENCH_ARGS)))
    p.add_argument("--models", type=parse_list(PEER_MODELS), default=list(PEER_MODELS),
                   help="peer models to consider (default mlp,gpt)")
    p.add_argument("--modes", type=parse_list(PEER_MODES), default=list(PEER_MODES),
                   help="peer modes to consider (default dense,srste; without --peer-only only the "
                        "modes nmbench has are run)")
    p.add_argument("--nm", default="2:4", help="N:M pattern for the peer's srste mode (default 2:4)")
    p.add_argument("--peer-steps", type=int, default=None, help="timed peer steps (overrides the defaults)")
    p.add_argument("--peer-warmup", type=int, default=None, help="peer warm-up steps")
    p.add_argument("--peer-max-seconds", type=float, default=None, metavar="S",
                   help="time budget per peer measurement, passed to torch_peer.py --max-seconds "
                        "(default %g, with --quick %g): bounds the run time on a loaded machine"
                        % (PEER_MAX_SECONDS, QUICK_PEER_MAX_SECONDS))
    p.add_argument("--nmbench-args", default="", help="extra arguments for nmbench (one string, shell-split)")
    p.add_argument("--coretype", default=None,
                   help="OPENBLAS_CORETYPE for the peer (default SkylakeX, or Haswell without AVX-512)")
    p.add_argument("--wait-quiet", type=float, default=30.0, metavar="S",
                   help="before each run wait for the machine to be idle, at most S seconds in all "
                        "(default 30; 0 = never wait)")
    p.add_argument("--python", default=PEER_PYTHON,
                   help=f"interpreter with torch for the peer (default {PEER_PYTHON}, Debian's python3-torch)")
    p.add_argument("--json-out", metavar="FILE", help="also write all results as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    a = p.parse_args(argv)
    if not (a.nmbench or a.nmbench_json or a.peer_only):
        p.error("give --nmbench PATH, --nmbench-json FILE or --peer-only")
    return a


# --------------------------------------------------------------------------------------------
# Machine load: CPU time used by other processes while one of our runs was going

def _busy_seconds():
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...
    busy = sum(fields[:3]) + sum(fields[5:7])
    return busy / os.sysconf("SC_CLK_TCK")


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class LoadMeter:
    def __enter__(self):
        self.b0, self.c0, self.t0 = _busy_seconds(), _children_cpu(), time.monotonic()
        return self

    def __exit__(self, *exc):
        b1, c1 = _busy_seconds(), _children_cpu()
        self.wall = time.monotonic() - self.t0
        self.own = c1 - self.c0
        self.other = None if self.b0 is None or b1 is None else max(0.0, (b1 - self.b0) - self.own)
        return False

    def busy(self):
        return self.other is not None and self.wall > 0 and self.other / self.wall > BUSY_FRACTION


class QuietWaiter:
    """Waits before each run until the machine is (nearly) idle; all waits together take at most
    budget_s seconds, so a machine that never gets quiet costs that once, not once per run."""

    def __init__(self, budget_s, sample_s=0.3, idle_fraction=0.9):
        self.left, self.sample_s, self.idle_fraction = max(0.0, budget_s), sample_s, idle_fraction
        self.enabled = budget_s > 0

    def __call__(self):
        """True if the machine was idle when we stopped waiting."""
        if not self.enabled:
            return True
        ncpu = os.cpu_count() or 1
        t0 = time.monotonic()
        try:
            while True:
                b0 = _busy_seconds()
                time.sleep(self.sample_s)
                b1 = _busy_seconds()
                if b0 is None or b1 is None:
                    return True
                if (b1 - b0) <= (1.0 - self.idle_fraction) * self.sample_s * ncpu:
                    return True
                if time.monotonic() - t0 >= self.left:
                    return False
        finally:
            self.left = max(0.0, self.left - (time.monotonic() - t0))


# --------------------------------------------------------------------------------------------
# nmbench

def run_nmbench(args):
    exe = os.path.abspath(args.nmbench)
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        die(f"nmbench not found or not executable: {args.nmbench}")
    fd, out = tempfile.mkstemp(prefix="nmbench-", suffix=".json")
    os.close(fd)
    cmd = [exe, "--benchmark_format=json", f"--benchmark_out={out}", "--benchmark_out_format=json"]
    if args.quick:
        cmd += QUICK_NMBENCH_ARGS
    cmd += shlex.split(args.nmbench_args)
    if not args.waiter():
        note("the machine is busy; running nmbench anyway")
    # Both sides on the same OpenBLAS kernel: an OPENBLAS_CORETYPE in the environment (some
    # machines set Haswell) would otherwise hold nmbench to AVX2 while the peer runs AVX-512.
    coretype = peer_coretype(args)
    env = dict(os.environ, OPENBLAS_CORETYPE=coretype)
    note(f"running OPENBLAS_CORETYPE={coretype} " + " ".join(shlex.quote(c) for c in cmd))
    try:
        with LoadMeter() as lm:
            # stdout repeats the JSON; nmbench's own banner on stderr goes through.
            rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, env=env).returncode
        if rc != 0:
            die(f"nmbench exited with status {rc}")
        note(f"nmbench took {lm.wall:.1f} s"
             + (f"; other processes used {lm.other:.1f} s CPU meanwhile" if lm.other is not None else "")
             + (" (busy machine: expect noisy numbers)" if lm.busy() else ""))
        return load_json(out), lm
    finally:
        try:
            os.unlink(out)
        except OSError:
            pass


def load_json(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        die(f"cannot read benchmark JSON {path}: {e}")
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        die(f"{path} is not a Google Benchmark JSON (no 'benchmarks' list)")
    return data


def strip_name(name):
    """'BM_MlpStep/1/real_time' -> ('BM_MlpStep', ['1'])."""
    parts = name.split("/")
    return parts[0], [x for x in parts[1:] if not GBENCH_SUFFIX.match(x)]


def classify(name):
    """Returns (model, mode, threads, recipe, nm) for a step benchmark, with mode None when the peer
    has no such model/recipe, or None when the name is not BM_<Model>Step<Recipe>/<threads>."""
    base, rest = strip_name(name)
    m = STEP_NAME.match(base)
    if not m or len(rest) != 1:
        return None
    arg = rest[0].split(":")[-1]  # allow ArgNames, e.g. "threads:2"
    if not arg.isdigit():
        return None
    model = m.group("model").lower()
    recipe = m.group("recipe").lower()
    nm = "2:4"
    s = NM_SUFFIX.match(recipe)
    if s and s.group("n"):
        nm = f"{s.group('n')}:{s.group('m')}"
    base = s.group("recipe") if s else recipe
    # S-STE has no PyTorch peer of its own: it is compared with the reference SR-STE step.
    mode = {"": "dense", "dense": "dense", "srste": "srste", "sste": "srste"}.get(base)
    if model not in PEER_MODELS or (s and s.group("dense")):
        mode = None  # the step with dense GEMMs on W̃: only against nmstudio's own dense step
    if base in ("", "dense"):
        nm = ""
    return model, mode, int(arg), (recipe or "dense"), nm


def collect(data):
    """Groups entries by run name; one record per benchmark with the median real time in ms."""
    groups = {}
    order = []
    for e in data["benchmarks"]:
        run = e.get("run_name") or e.get("name", "?")
        if run not in groups:
            groups[run] = []
            order.append(run)
        groups[run].append(e)
    records = []
    for run in order:
        entries = groups[run]
        errors = [e for e in entries if e.get("error_occurred") or e.get("skipped")]
        med = [e for e in entries if e.get("run_type") == "aggregate" and e.get("aggregate_name") == "median"]
        iters = [e for e in entries if e.get("run_type", "iteration") == "iteration"
                 and not (e.get("error_occurred") or e.get("skipped"))]
        rec = {"name": run, "counters": {}, "source": None, "ms": None, "error": None}
        if med:
            e = med[0]
            rec["ms"] = e["real_time"] * TIME_UNIT_MS.get(e.get("time_unit", "ns"), 1e-6)
            rec["source"] = "median"
            rec["counters"] = {k: v for k, v in e.items() if k not in GBENCH_KEYS}
            rec["repetitions"] = e.get("repetitions")
        elif iters:
            times = [e["real_time"] * TIME_UNIT_MS.get(e.get("time_unit", "ns"), 1e-6) for e in iters]
            rec["ms"] = statistics.median(times)
            rec["source"] = "iteration" if len(iters) == 1 else f"median of {len(iters)}"
            keys = [k for k in iters[0] if k not in GBENCH_KEYS]
            rec["counters"] = {k: statistics.median([e[k] for e in iters if isinstance(e.get(k), (int, float))])
                               for k in keys if all(isinstance(e.get(k), (int, float)) for e in iters)}
            rec["repetitions"] = len(iters)
        elif errors:
            rec["error"] = errors[0].get("error_message") or errors[0].get("skip_message") or "error"
        else:
            continue  # only mean/stddev/cv aggregates: nothing we use
        records.append(rec)
    return records


# --------------------------------------------------------------------------------------------
# Peer

def peer_coretype(args):
    if args.coretype:
        return args.coretype
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln.split() for ln in f if ln.startswith("flags")), [])
    except OSError:
        flags = []
    if flags and "avx512f" not in flags:
        return "Haswell"  # forcing SkylakeX on a CPU without AVX-512 would fault
    return "SkylakeX"


def peer_configs(k):
    """(torch threads, OPENBLAS_NUM_THREADS, OMP_NUM_THREADS) candidates for k threads."""
    if k == 1:
        return [(1, 1, 1)]
    return [(k, 1, k), (1, k, 1)]


def check_torch(python):
    try:
        r = subprocess.run([python, "-c", "import torch"], capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        die(f"{python} not found; the PyTorch peer needs Debian's python3 with python3-torch "
            "(install python3-torch)")
    except subprocess.TimeoutExpired:
        die(f"{python} -c 'import torch' timed out")
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["?"])[-1]
        die(f"{python} cannot import torch ({last}); install python3-torch (apt-get install python3-torch)")


def parse_result_line(line):
    kv = {}
    for tok in line.split()[1:]:
        if "=" in tok:
            k, v = tok.split("=", 1)
            kv[k] = v
    return kv


def peer_key(r):
    """The peer measurement a step record is compared with: (model, mode, nm, threads)."""
    return (r["model"], r["mode"], r.get("nm", "") if r["mode"] != "dense" else "", r["threads"])


def run_peer(args, model, mode, nm, k, cfg, coretype):
    tt, ob, omp = cfg
    env = dict(os.environ, OPENBLAS_CORETYPE=coretype, OPENBLAS_NUM_THREADS=str(ob), OMP_NUM_THREADS=str(omp))
    cmd = [args.python, PEER_SCRIPT, "--model", model, "--mode", mode, "--threads", str(tt), "--nm", nm]
    warm, steps = (QUICK_STEPS[model] if args.quick else (None, None))
    if args.peer_warmup is not None:
        warm = args.peer_warmup
    if args.peer_steps is not None:
        steps = args.peer_steps
    if warm is not None:
        cmd += ["--warmup", str(warm)]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    limit = args.peer_max_seconds
    if limit is None:
        limit = QUICK_PEER_MAX_SECONDS if args.quick else PEER_MAX_SECONDS
    cmd += ["--max-seconds", f"{limit:g}"]
    quiet = args.waiter()
    with LoadMeter() as lm:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    res = {"model": model, "mode": mode, "threads": k, "torch_threads": tt, "OPENBLAS_NUM_THREADS": ob,
           "OMP_NUM_THREADS": omp, "wall_s": lm.wall, "other_cpu_s": lm.other, "busy": lm.busy() or not quiet,
           "ok": False}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    if r.returncode != 0 or not lines:
        tail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        res["error"] = f"exit {r.returncode}: {tail}"
        return res
    kv = parse_result_line(lines[-1])
    res.update(ok=True, median_ms=float(kv["median_ms"]), p10_ms=float(kv["p10_ms"]), p90_ms=float(kv["p90_ms"]),
               openblas_threads=kv.get("openblas_threads", "?"), corename=kv.get("corename", "?"),
               openblas_build=kv.get("openblas_build", "?"), steps=int(kv.get("steps", 0)))
    return res


def fmt_ms(x):
    return "NA" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.2f}")


def main():
    args = parse_args(sys.argv[1:])
    args.waiter = QuietWaiter(args.wait_quiet)
    t_start = time.monotonic()
    check_torch(args.python)
    if not os.path.isfile(PEER_SCRIPT):
        die(f"peer script missing: {PEER_SCRIPT}")

    records, context, nmbench_load = [], {}, None
    if args.nmbench:
        data, nmbench_load = run_nmbench(args)
    elif args.nmbench_json:
        data = load_json(args.nmbench_json)
    else:
        data = None
    if data is not None:
        records = collect(data)
        context = data.get("context", {}) or {}

    # What to compare: (model, mode, k) from nmbench step benchmarks, or everything requested.
    steps, others = [], []
    for rec in records:
        c = classify(rec["name"])
        if c is None:
            others.append(rec)
            continue
        model, mode, k, recipe, nm = c
        rec.update(model=model, mode=mode, threads=k, recipe=recipe, nm=nm)
        steps.append(rec)
    if args.peer_only:
        ks = args.threads or [1, 2]
        wanted = [(m, md, "" if md == "dense" else args.nm, k) for k in ks for m in args.models for md in args.modes]
    else:
        ks = sorted({r["threads"] for r in steps if args.threads is None or r["threads"] in args.threads})
        wanted = []
        for r in steps:
            key = peer_key(r)
            if (r["mode"] and r["model"] in args.models and r["mode"] in args.modes and r["threads"] in ks
                    and r["ms"] is not None and key not in wanted):
                wanted.append(key)
        if args.threads:
            missing = sorted(set(args.threads) - {r["threads"] for r in steps})
            if missing:
                note(f"nmbench has no step benchmarks for threads {missing}")

    # Peer runs: one fresh process per (k, configuration, model, mode); keep the fastest median per k.
    coretype = peer_coretype(args)
    peer_runs, best = [], {}
    for (model, mode, nm, k) in sorted(wanted, key=lambda w: (w[3], PEER_MODELS.index(w[0]),
                                                             PEER_MODES.index(w[1]), w[2])):
        for cfg in peer_configs(k):
            note(f"peer: {model} {mode} {nm} threads={k} (torch {cfg[0]}, OPENBLAS_NUM_THREADS={cfg[1]}, "
                 f"OMP_NUM_THREADS={cfg[2]}, OPENBLAS_CORETYPE={coretype})")
            res = run_peer(args, model, mode, nm or args.nm, k, cfg, coretype)
            res["nm"] = nm
            peer_runs.append(res)
            if not res["ok"]:
                note(f"peer failed: {res['error']}")
                continue
            cur = best.get((model, mode, nm, k))
            if cur is None or res["median_ms"] < cur["median_ms"]:
                best[(model, mode, nm, k)] = res

    # ---- report ------------------------------------------------------------------------------
    print()
    if context:
        keys = ["host_name", "num_cpus", "mhz_per_cpu", "library_build_type", "blas_kernel", "fma_peak_gflops_per_core"]
        print("nmbench context: " + " ".join(f"{k}={context[k]}" for k in keys if k in context))
    if nmbench_load is not None and nmbench_load.other is not None:
        print(f"nmbench run: wall {nmbench_load.wall:.1f} s, other processes {nmbench_load.other:.1f} s CPU"
              + (" (BUSY: noisy)" if nmbench_load.busy() else ""))

    if peer_runs:
        print("\nPyTorch peer runs (each a fresh process; * = kept; ! = other processes were busy):")
        hdr = (f"{'model':<5} {'mode':<6} {'K':>2} {'torch':>5} {'OB':>3} {'OMP':>3} {'median':>9} {'p10':>9} "
               f"{'p90':>9} {'ob_thr':>6} {'kernel':<10} {'other_cpu_s':>11}")
        print(hdr)
        print("-" * len(hdr))
        for r in peer_runs:
            kept = r["ok"] and best.get((r["model"], r["mode"], r["nm"], r["threads"])) is r
            flag = ("*" if kept else " ") + ("!" if r["busy"] else " ")
            other = "NA" if r["other_cpu_s"] is None else f"{r['other_cpu_s']:.1f}"
            if r["ok"]:
                print(f"{r['model']:<5} {(r['mode'] + ' ' + r['nm']).strip():<6} {r['threads']:>2} {r['torch_threads']:>5} "
                      f"{r['OPENBLAS_NUM_THREADS']:>3} {r['OMP_NUM_THREADS']:>3} {fmt_ms(r['median_ms']):>9} "
                      f"{fmt_ms(r['p10_ms']):>9} {fmt_ms(r['p90_ms']):>9} {r['openblas_threads']:>6} "
                      f"{r['corename']:<10} {other:>11} {flag}")
            else:
                print(f"{r['model']:<5} {r['mode']:<6} {r['threads']:>2} {r['torch_threads']:>5} "
                      f"{r['OPENBLAS_NUM_THREADS']:>3} {r['OMP_NUM_THREADS']:>3} FAILED: {r['error']}")

    if steps:
        print("\nTraining step, median ms (nmstudio = nmbench; ratio = nmstudio/torch, lower is better):")
        hdr = f"{'benchmark':<28} {'model':<5} {'mode':<7} {'K':>2} {'nmstudio':>9} {'torch':>9} {'ratio':>7} {'target':>11}"
        print(hdr)
        print("-" * len(hdr))
        for r in steps:
            peer = best.get(peer_key(r)) if r["mode"] else None
            mode = r["mode"] or r["recipe"]
            if r["error"]:
                print(f"{r['name']:<28} {r['model']:<5} {mode:<7} {r['threads']:>2} ERROR: {r['error']}")
                continue
            ratio = r["ms"] / peer["median_ms"] if peer else None
            tgt = TARGETS.get((r["model"], r["mode"])) if peer else None
            print(f"{r['name']:<28} {r['model']:<5} {mode:<7} {r['threads']:>2} {fmt_ms(r['ms']):>9} "
                  f"{fmt_ms(peer['median_ms']) if peer else '-':>9} {f'{ratio:.3f}' if ratio else '-':>7} "
                  f"{(str(tgt) + (' ok' if ratio <= tgt else ' MISSED')) if tgt and ratio else '':>11}")

    if others:
        print("\nOther benchmarks (median real time and user counters):")
        for r in others:
            if r["error"]:
                print(f"  {r['name']}: ERROR: {r['error']}")
                continue
            c = dict(r["counters"])
            if "peak_fraction" not in c and c.get("gflops") and c.get("peak_gflops"):
                c["peak_fraction(computed)"] = c["gflops"] / c["peak_gflops"]
            cs = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in c.items())
            print(f"  {r['name']:<48} {fmt_ms(r['ms']):>9} ms  {cs}")

    # machine-readable lines
    print()
    missed = 0
    for r in peer_runs:
        if r["ok"] and best.get((r["model"], r["mode"], r["nm"], r["threads"])) is r:
            print(f"peer model={r['model']} mode={r['mode']} nm={r['nm'] or '-'} threads={r['threads']} torch_ms={r['median_ms']:.3f} "
                  f"p10_ms={r['p10_ms']:.3f} p90_ms={r['p90_ms']:.3f} torch_threads={r['torch_threads']} "
                  f"OPENBLAS_NUM_THREADS={r['OPENBLAS_NUM_THREADS']} OMP_NUM_THREADS={r['OMP_NUM_THREADS']} "
                  f"openblas_threads={r['openblas_threads']} corename={r['corename']} busy={int(r['busy'])}")
    for r in steps:
        if r["error"] or r["ms"] is None:
            continue
        peer = best.get(peer_key(r)) if r["mode"] else None
        if peer is None:
            continue
        ratio = r["ms"] / peer["median_ms"]
        line = (f"ratio model={r['model']} mode={r['mode']} nm={r['nm'] or '-'} threads={r['threads']} "
                f"recipe={r['recipe']} nmstudio_ms={r['ms']:.3f} torch_ms={peer['median_ms']:.3f} ratio={ratio:.3f}")
        tgt = TARGETS.get((r["model"], r["mode"])) if r["nm"] in ("", "2:4") else None
        if tgt is not None:
            ok = ratio <= tgt
            missed += not ok
            line += f" target={tgt} {'ok' if ok else 'MISSED'}"
        print(line)
    # Each recipe step against nmstudio's own plain dense step (BM_<Model>Step/<threads>).
    plain = {(r["model"], r["threads"]): r for r in steps if r["name"].split("/")[0] == f"BM_{r['model'].capitalize()}Step"
             and r["ms"]}
    for r in steps:
        base = plain.get((r["model"], r["threads"]))
        if r["error"] or not r["ms"] or base is None or base is r:
            continue
        recipe = NM_SUFFIX.match(r["recipe"])
        name = recipe.group("recipe") if recipe else r["recipe"]
        gemm = "dense" if recipe and recipe.group("dense") else "auto"
        ratio = r["ms"] / base["ms"]
        tgt = SELF_TARGETS.get((r["model"], name, r["nm"]), SELF_DEFAULT) if gemm == "auto" else None
        line = (f"self model={r['model']} mode={name} nm={r['nm'] or '-'} gemm={gemm} threads={r['threads']} "
                f"nmstudio_ms={r['ms']:.3f} dense_ms={base['ms']:.3f} ratio={ratio:.3f}")
        if tgt is not None:
            ok = ratio <= tgt
            missed += not ok
            line += f" target={tgt} {'ok' if ok else 'MISSED'}"
        print(line)
    if not args.peer_only and not steps:
        note("no BM_<Model>Step<Recipe>/<threads> benchmarks in the nmbench results")
    busy = [r for r in peer_runs if r["busy"]]
    if busy:
        note(f"{len(busy)} of {len(peer_runs)} peer runs shared the CPUs with other processes (other_cpu_s); "
             "their times, 2-thread ones above all, are not trustworthy")
    if nmbench_load is not None and nmbench_load.busy():
        note("nmbench shared the CPUs with other processes; its times are not trustworthy")

    if args.json_out:
        out = {"targets": {f"{m}/{r}": t for (m, r), t in TARGETS.items()}, "context": context,
               "nmbench": records, "peer_runs": peer_runs,
               "ratios": [{"model": r["model"], "mode": r["mode"], "nm": r["nm"], "threads": r["threads"],
                           "nmstudio_ms": r["ms"], "torch_ms": best[peer_key(r)]["median_ms"],
                           "ratio": r["ms"] / best[peer_key(r)]["median_ms"],
                           "target": TARGETS.get((r["model"], r["mode"])) if r["nm"] in ("", "2:4") else None}
                          for r in steps if r["mode"] and r["ms"] and peer_key(r) in best]}
        with open(args.json_out, "w") as f:
            json.dump(out, f, indent=1)
    note(f"done in {time.monotonic() - t_start:.0f} s")
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
