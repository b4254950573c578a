#!/usr/bin/python3
"""Training-step cost of nmstudio.torch's SR-STE and of nmstudio.Recorder on the CPU.

    /usr/bin/python3 python/bench/bench_step.py                    # full run, 1 thread (~2.5 min)
    /usr/bin/python3 python/bench/bench_step.py --threads 1,2
    /usr/bin/python3 python/bench/bench_step.py --quick            # tiny sizes, a smoke test (~10 s)

Model: MLP 1024-2048-2048-1024 (nn.Linear with bias + ReLU; 8.4 M parameters), batch 256,
random float inputs and random class targets (a few fixed batches, cycled), mean softmax
cross-entropy over the 1024 outputs (classes), SGD(lr 0.01, momentum 0.9). Sparse modes make
all three Linear layers 2:4 sparse.

Step modes (each its own model from the same initial weights, all in this process, interleaved:
after a warm-up, every round runs --steps steps of every mode, the order rotated per round;
each step is timed on its own and a mode's figure is the median over all its timed steps):

  dense           plain PyTorch.
  srste           nmstudio.torch.Sparsifier(model, "srste", "2:4"), diagnostics on (the default);
                  step = zero_grad, forward, loss, backward, sp.step(optimizer).
  srste-nodiag    the same with diagnostics=False (for the statistics' share of the step).
  srste+recorder  srste, plus run.log(step, loss=loss, lr=lr, layers=sp.stats()) every step into
                  an nmstudio.Recorder file in a temporary folder, at the recorder's default
                  flush_seconds (2 s); no snapshots (the recorder only writes them when asked).
  reference       the peer: SR-STE as the autograd function of aojunzz/NM-sparsity, re-implemented
                  here from its description (class Sparse / SparseLinear below): every forward,
                  argsort |W| per group of M, scatter zeros for the M-N smallest into a ones mask,
                  use W*mask; backward returns grad + 2e-4*(1-mask)*W.

Mask timing (what=mask): the mask and W̃ of the three layers' weights, per step, at 2:4, 1:8,
1:16: nmstudio's ops.nm_mask + W·mask (what the recipe's forward does) against the
reference's argsort + scatter + W*mask on the same weights; also the Sparsifier's whole
per-step preparation, sp._prepare(t, first=False), with diagnostics off and on.

Output lines (ratios are the claim; lower is better):
  time mode=M threads=K median_ms=...                    per-step medians
  time what=mask impl=I nm=N:M threads=K median_ms=...    per-step (three layers) medians
  ratio what=mask nm=2:4 threads=K ratio=<nmstudio / reference>            target 0.5
  ratio what=recorder threads=K ratio=<(srste+recorder - srste) / srste+recorder>  target 0.10
  ratio what=statistics threads=K ratio=<(srste - srste-nodiag) / srste>
  ratio what=step mode=srste peer=reference threads=K ratio=<srste / reference>
  ratio what=step mode=srste peer=dense threads=K ratio=<srste / dense>
  load threads=K wall_s=... other_cpu_s=... busy=0|1     CPU time other processes used meanwhile

Only Debian's /usr/bin/python3 has torch 1.13 and h5py here.
"""

import argparse
import math
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))  # python/ (the nmstudio package)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import nmstudio  # noqa: E402
import nmstudio.torch as nmt  # noqa: E402
from nmstudio.torch import ops  # noqa: E402

STEP_MODES = ("dense", "srste", "srste-nodiag", "srste+recorder", "reference")
MASK_NMS = ((2, 4), (1, 8), (1, 16))
MASK_IMPLS = ("nmstudio", "reference", "prepare-diag-off", "prepare-diag-on")
REF_DECAY = 2e-4
LR, MOMENTUM = 0.01, 0.9
TARGETS = {"mask": 0.5, "recorder": 0.10}
BUSY_FRACTION = 0.10

FULL = {"sizes": (1024, 2048, 2048, 1024), "batch": 256, "rounds": 5, "steps": 4, "warmup": 2,
        "mask_rounds": 3, "mask_reps": 1}
QUICK = {"sizes": (64, 128, 128, 64), "batch": 32, "rounds": 2, "steps": 3, "warmup": 1,
         "mask_rounds": 2, "mask_reps": 2}


# ---- the reference (aojunzz/NM-sparsity's SR-STE op, re-implemented from its description) ----

class Sparse(torch.autograd.Function):
    """W*mask with the M-N smallest |W| of every group of M zeroed; backward adds decay*(1-mask)*W."""

    @staticmethod
    def forward(ctx, weight, N, M, decay):
        ctx.save_for_backward(weight)
        groups = weight.numel() // M
        mags = weight.detach().abs().reshape(groups, M)
        drop = torch.argsort(mags, dim=1)[:, :M - N]
        mask = torch.ones(mags.shape).scatter_(dim=1, index=drop, value=0).reshape(weight.shape)
        ctx.mask, ctx.decay = mask, decay
        return weight * mask

    @staticmethod
    def backward(ctx, grad_output):
        (weight,) = ctx.saved_tensors
        return grad_output + ctx.decay * (1 - ctx.mask) * weight, None, None, None


class SparseLinear(nn.Linear):
    def __init__(self, *args, N=2, M=4, decay=REF_DECAY, **kwargs):
        super().__init__(*args, **kwargs)
        self.N, self.M, self.decay = N, M, decay

    def forward(self, x):
        return F.linear(x, Sparse.apply(self.weight, self.N, self.M, self.decay), self.bias)


def reference_mask(w, n, m):
    """The reference's masking alone (as in Sparse.forward), returning W̃."""
    mags = w.detach().abs().reshape(-1, m)
    drop = torch.argsort(mags, dim=1)[:, :m - n]
    mask = torch.ones(mags.shape).scatter_(dim=1, index=drop, value=0).reshape(w.shape)
    return w * mask, mask


def nmstudio_mask(w, n, m):
    """nmstudio's masking (recipes.hard_forward): ops.nm_mask, then W times the 0/1 mask, returning W̃."""
    mask = ops.nm_mask(w, n, m)
    return w * mask.to(w.dtype), mask


# ---- models and steps --------------------------------------------------------------------

def make_mlp(sizes, linear=nn.Linear):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Mode:
    """One model + optimiser + (optional) sparsifier/recorder; step() is one timed training step."""

    def __init__(self, name, cfg, init_state, batches, tmpdir, threads):
        self.name = name
        self.batches = batches
        self.i = 0
        self.sp = self.rec = self.run = None
        linear = nn.Linear
        if name == "reference":
            linear = SparseLinear
        self.model = make_mlp(cfg["sizes"], linear)
        self.model.load_state_dict(init_state)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        if name.startswith("srste"):
            self.sp = nmt.Sparsifier(self.model, "srste", "2:4", diagnostics=(name != "srste-nodiag"))
        if name == "srste+recorder":
            path = os.path.join(tmpdir, "bench_t%d.nmrun" % threads)
            self.path = path
            self.rec = nmstudio.Recorder(path, overwrite=True)
            self.run = self.rec.add_run(
                "srste-bench", recipe="srste", nm="2:4", layers=self.sp.layer_info,
                parameter_count=sum(p.numel() for p in self.model.parameters()),
                config=self.sp.config(), model="mlp-%s" % "-".join(map(str, cfg["sizes"])), threads=threads)

    def step(self):
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        self.opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(x), y)
        loss.backward()
        if self.sp is not None:
            self.sp.step(self.opt)
        else:
            self.opt.step()
        if self.run is not None:
            self.run.log(self.sp.step_count, loss=loss.detach(), lr=LR, layers=self.sp.stats())
        return loss

    def close(self):
        if self.rec is None:
            return None
        self.run.finish()
        self.rec.close()
        import h5py
        with h5py.File(self.path, "r") as f:
            g = f["runs"][list(f["runs"])[0]]
            rows = (g["train/step"].shape[0], g["layer_stats/step"].shape[0])
        return rows, os.path.getsize(self.path)


# ---- machine load ------------------------------------------------------------------------

def _busy_seconds():
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(fields[:3]) + sum(fields[5:7])) / os.sysconf("SC_CLK_TCK")


class LoadMeter:
    def __enter__(self):
        self.b0, self.c0, self.t0 = _busy_seconds(), time.process_time(), time.monotonic()
        return self

    def __exit__(self, *exc):
        b1 = _busy_seconds()
        self.wall = time.monotonic() - self.t0
        own = time.process_time() - self.c0
        self.other = None if self.b0 is None or b1 is None else max(0.0, b1 - self.b0 - own)
        return False

    def busy(self):
        return self.other is not None and self.wall > 0 and self.other / self.wall > BUSY_FRACTION


# ---- measurements ------------------------------------------------------------------------

def ms(values):
    return statistics.median(values) * 1e3


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q * (len(v) - 1)))))] * 1e3


def bench_steps(cfg, threads, tmpdir):
    torch.manual_seed(0)
    init_state = make_mlp(cfg["sizes"]).state_dict()
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(cfg["batch"], cfg["sizes"][0], generator=g),
                torch.randint(0, cfg["sizes"][-1], (cfg["batch"],), generator=g)) for _ in range(4)]
    modes = [Mode(name, cfg, init_state, batches, tmpdir, threads) for name in STEP_MODES]
    for m in modes:
        for _ in range(cfg["warmup"]):
            m.step()
    times = {m.name: [] for m in modes}
    for r in range(cfg["rounds"]):
        order = modes[r % len(modes):] + modes[:r % len(modes)]
        for m in order:
            for _ in range(cfg["steps"]):
                t0 = time.perf_counter()
                m.step()
                times[m.name].append(time.perf_counter() - t0)
    rec_check = None
    for m in modes:
        out = m.close()
        if out is not None:
            rec_check = out
    return times, rec_check


def bench_masks(cfg, threads):
    torch.manual_seed(2)
    model = make_mlp(cfg["sizes"])
    weights = [mod.weight.detach() for mod in model if isinstance(mod, nn.Linear)]
    checks = {}
    sps = {}
    for n, m in MASK_NMS:
        # Both keep the N largest |w| of a group; they may differ only where magnitudes tie
        # (nmstudio keeps the lower index, argsort's order among equals is unspecified).
        differ = ties = 0
        for w in weights:
            x, y = nmstudio_mask(w, n, m)[1], reference_mask(w, n, m)[1].bool()
            differ += int((x != y).reshape(-1, m).any(dim=1).sum())
            s = w.abs().reshape(-1, m).sort(dim=1).values
            ties += int((s[:, 1:] == s[:, :-1]).any(dim=1).sum())
        checks[(n, m)] = (differ, ties)
        for diag in (False, True):
            mdl = make_mlp(cfg["sizes"])
            mdl.load_state_dict(model.state_dict())
            sps[(n, m, diag)] = nmt.Sparsifier(mdl, "srste", "%d:%d" % (n, m), diagnostics=diag)

    tcount = [0]

    def run(impl, n, m):
        if impl == "nmstudio":
            for w in weights:
                nmstudio_mask(w, n, m)
        elif impl == "reference":
            for w in weights:
                reference_mask(w, n, m)
        else:
            tcount[0] += 1
            sps[(n, m, impl == "prepare-diag-on")]._prepare(tcount[0], first=False)

    for n, m in MASK_NMS:  # warm-up
        for impl in MASK_IMPLS:
            run(impl, n, m)
    times = {(impl, n, m): [] for impl in MASK_IMPLS for n, m in MASK_NMS}
    for r in range(cfg["mask_rounds"]):
        for n, m in MASK_NMS:
            order = MASK_IMPLS[r % len(MASK_IMPLS):] + MASK_IMPLS[:r % len(MASK_IMPLS)]
            for impl in order:
                for _ in range(cfg["mask_reps"]):
                    t0 = time.perf_counter()
                    run(impl, n, m)
                    times[(impl, n, m)].append(time.perf_counter() - t0)
    return times, checks


def verdict(ratio, target):
    return f" target={target} {'ok' if ratio <= target else 'MISSED'}"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def parse_args(argv):
    p = argparse.ArgumentParser(description="nmstudio.torch SR-STE / Recorder training-step benchmark (CPU)")
    p.add_argument("--threads", default="1", help="comma list of torch.set_num_threads values (default 1)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default %d)" % FULL["rounds"])
    p.add_argument("--steps", type=int, default=None, help="timed steps per mode per round (default %d)"
                   % FULL["steps"])
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps per mode (default %d)" % FULL["warmup"])
    p.add_argument("--quick", action="store_true", help="tiny sizes, a smoke test (~10 s)")
    p.add_argument("--no-masks", action="store_true", help="skip the mask timing")
    p.add_argument("--no-steps", action="store_true", help="skip the step timing")
    a = p.parse_args(argv)
    try:
        a.thread_list = [int(t) for t in a.threads.split(",") if t.strip()]
    except ValueError:
        p.error("--threads must be a comma list of integers, e.g. 1,2")
    if not a.thread_list or min(a.thread_list) < 1:
        p.error("--threads needs positive integers")
    for k in ("rounds", "steps"):
        v = getattr(a, k)
        if v is not None and v < 1:
            p.error(f"--{k} must be >= 1")
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = dict(QUICK if a.quick else FULL)
    for k in ("rounds", "steps", "warmup"):
        if getattr(a, k) is not None:
            cfg[k] = getattr(a, k)
    params = sum(p.numel() for p in make_mlp(cfg["sizes"]).parameters())
    print(f"info torch={torch.__version__} cpu=\"{cpu_model()}\" cores={os.cpu_count()} "
          f"model=mlp-{'-'.join(map(str, cfg['sizes']))} params={params} batch={cfg['batch']} "
          f"loss=cross_entropy classes={cfg['sizes'][-1]} optim=sgd(lr={LR},momentum={MOMENTUM}) "
          f"rounds={cfg['rounds']} steps={cfg['steps']} warmup={cfg['warmup']} "
          f"date={time.strftime('%Y-%m-%d')}", flush=True)
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nmbench_step_") as tmpdir:
        for k in a.thread_list:
            torch.set_num_threads(k)
            with LoadMeter() as lm:
                st = mt = None
                if not a.no_steps:
                    st, rec_check = bench_steps(cfg, k, tmpdir)
                    for mode in STEP_MODES:
                        v = st[mode]
                        print(f"time mode={mode} threads={k} median_ms={ms(v):.2f} p10_ms={pct(v, .1):.2f} "
                              f"p90_ms={pct(v, .9):.2f} n={len(v)}", flush=True)
                    if rec_check is not None:
                        (train_rows, layer_rows), size = rec_check
                        print(f"check recorder threads={k} train_rows={train_rows} layer_stats_rows={layer_rows} "
                              f"file_bytes={size}")
                if not a.no_masks:
                    mt, checks = bench_masks(cfg, k)
                    for n, m in MASK_NMS:
                        for impl in MASK_IMPLS:
                            v = mt[(impl, n, m)]
                            print(f"time what=mask impl={impl} nm={n}:{m} threads={k} median_ms={ms(v):.2f} "
                                  f"n={len(v)}")
                        print(f"check masks nm={n}:{m} threads={k} differing_groups={checks[(n, m)][0]} "
                              f"groups_with_ties={checks[(n, m)][1]}")
            if mt is not None:
                for n, m in MASK_NMS:
                    r = ms(mt[("nmstudio", n, m)]) / ms(mt[("reference", n, m)])
                    line = f"ratio what=mask nm={n}:{m} threads={k} ratio={r:.3f}"
                    print(line + (verdict(r, TARGETS["mask"]) if (n, m) == (2, 4) else ""))
                for n, m in MASK_NMS:
                    r = ms(mt[("prepare-diag-on", n, m)]) / ms(mt[("reference", n, m)])
                    print(f"ratio what=prepare nm={n}:{m} threads={k} ratio={r:.3f}")
            if st is not None:
                s, sn, sr = ms(st["srste"]), ms(st["srste-nodiag"]), ms(st["srste+recorder"])
                ref, dense = ms(st["reference"]), ms(st["dense"])
                r = (sr - s) / sr
                print(f"ratio what=recorder threads={k} ratio={r:.3f}" + verdict(r, TARGETS["recorder"]))
                print(f"ratio what=statistics threads={k} ratio={(s - sn) / s:.3f}")
                print(f"ratio what=step mode=srste peer=reference threads={k} ratio={s / ref:.3f}")
                print(f"ratio what=step mode=srste peer=dense threads={k} ratio={s / dense:.3f}")
                print(f"ratio what=step mode=reference peer=dense threads={k} ratio={ref / dense:.3f}")
            other = "NA" if lm.other is None else f"{lm.other:.1f}"
            print(f"load threads={k} wall_s={lm.wall:.1f} other_cpu_s={other} busy={int(lm.busy())}", flush=True)
    sys.stdout.flush()
    print(f"done in {time.monotonic() - t_start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
