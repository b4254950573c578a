#!/usr/bin/python3
"""PyTorch peer for nmbench: times one training step of the reference models on the CPU.

Run it with Debian's interpreter, which is the one that has torch (1.13):

    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 tests/bench/torch_peer.py --model mlp --mode dense --threads 1

Models (float32, synthetic data: a few fixed random batches, cycled):
  mlp  MLP 784-512-512-10, ReLU, nn.Linear with bias, batch 256, mean softmax cross-entropy,
       SGD(lr 0.05, momentum 0.9).
  gpt  char GPT: token embedding (V=96, C=128) + learned position embedding (T=64), 2 pre-LN
       blocks [x += proj(attn(ln1(x))); x += fc2(gelu_tanh(fc1(ln2(x))))], 4 heads, causal
       attention written out by hand (torch 1.13 has no fused SDPA), final LayerNorm, untied
       lm head C->V with bias. Batch 32, context 64, mean CE over all B*T tokens,
       AdamW(lr 3e-4, betas (0.9, 0.95), eps 1e-8, weight_decay 0.1).

Modes:
  dense  plain training.
  srste  SR-STE as the reference autograd op of aojunzz/NM-sparsity
         (devkit/sparse_ops/sparse_ops.py, class Sparse): every forward, |W| of each sparse
         Linear is cut into groups of M consecutive elements along the input dimension,
         argsort ascending per group, the first M-N indices are scattered to 0 in a ones mask,
         and the layer uses W*mask. Backward returns grad + 2e-4*(1-mask)*W. Sparse layers:
         all 3 Linears of the MLP; qkv/proj/fc1/fc2 of the GPT (embeddings and head stay dense).

Each step (zero_grad, forward, loss, backward, optimiser step) is timed on its own after the
warm-up steps; one line per measurement goes to stdout:

    RESULT peer=torch model=mlp mode=dense threads=1 median_ms=... p10_ms=... p90_ms=... ...

Thread settings: --threads sets torch.set_num_threads. OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and
OPENBLAS_CORETYPE are read when the libraries load, so they must be set in the environment that
starts this process (tests/bench/compare.py does that). If OPENBLAS_CORETYPE is unset this
script sets it to SkylakeX (AVX-512 CPUs) or Haswell (AVX2) and re-executes itself once, because
Debian's OpenBLAS 0.3.21 falls back to its SSE3 "Prescott" kernel on recent Intel CPUs;
--keep-coretype disables that.
"""

import argparse
import ctypes
import ctypes.util
import math
import os
import sys
import time

MODELS = ("mlp", "gpt")
MODES = ("dense", "srste")
SRSTE_DECAY = 2e-4  # the reference op's default decay (SparseLinear does not pass its own through)

# Default step counts per model: (warm-up, timed). --steps / --warmup override them.
DEFAULT_STEPS = {"mlp": (20, 200), "gpt": (5, 40)}
MIN_TIMED_STEPS = 5  # --max-seconds never cuts the timed loop below this many steps


def cpu_has(flag):
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return flag in line.split()
    except OSError:
        pass
    return False


def maybe_reexec_with_coretype(argv):
    """OPENBLAS_CORETYPE only works if it is in the environment when OpenBLAS loads."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return
    if os.environ.get("NM_TORCH_PEER_REEXEC"):  # never loop
        return
    core = "SkylakeX" if cpu_has("avx512f") else ("Haswell" if cpu_has("avx2") else "")
    if not core:
        return
    env = dict(os.environ, OPENBLAS_CORETYPE=core, NM_TORCH_PEER_REEXEC="1")
    print(f"torch_peer: OPENBLAS_CORETYPE unset; re-executing with OPENBLAS_CORETYPE={core}", file=sys.stderr)
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable] + argv, env)


def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch CPU training-step peer for nmbench")
    p.add_argument("--model", default="mlp", help="mlp, gpt, or a comma list (default mlp)")
    p.add_argument("--mode", default="dense", help="dense, srste, or a comma list (default dense)")
    p.add_argument("--nm", default="2:4", help="N:M pattern for --mode srste (default 2:4)")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps (default: mlp %d, gpt %d)" % (DEFAULT_STEPS["mlp"][1], DEFAULT_STEPS["gpt"][1]))
    p.add_argument("--warmup", type=int, default=None,
                   help="warm-up steps (default: mlp %d, gpt %d)" % (DEFAULT_STEPS["mlp"][0], DEFAULT_STEPS["gpt"][0]))
    p.add_argument("--max-seconds", type=float, default=0.0, metavar="S",
                   help="time budget per measurement: warm-up stops after S/4, the timed loop after S "
                        "(but not before %d steps); the RESULT line gives the steps actually run. "
                        "0 = no limit (default)" % MIN_TIMED_STEPS)
    p.add_argument("--batches", type=int, default=4, help="distinct random batches, cycled (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-foreach", dest="foreach", action="store_false",
                   help="use the per-parameter optimiser loop instead of the multi-tensor (foreach) one, "
                        "which is the default because it is a few %% faster")
    p.add_argument("--keep-coretype", action="store_true",
                   help="do not set OPENBLAS_CORETYPE and re-execute when it is unset")
    p.add_argument("--info", action="store_true",
                   help="print one INFO line about torch and the BLAS in use, then exit")
    a = p.parse_args(argv)
    a.models = [m.strip() for m in a.model.split(",") if m.strip()]
    a.modes = [m.strip() for m in a.mode.split(",") if m.strip()]
    for m in a.models:
        if m not in MODELS:
            p.error(f"unknown model {m!r} (choose from {', '.join(MODELS)})")
    for m in a.modes:
        if m not in MODES:
            p.error(f"unknown mode {m!r} (choose from {', '.join(MODES)})")
    try:
        n, m = (int(x) for x in a.nm.split(":"))
    except ValueError:
        p.error(f"--nm must look like N:M, got {a.nm!r}")
    if not (0 < n <= m):
        p.error(f"--nm needs 0 < N <= M, got {a.nm!r}")
    a.N, a.M = n, m
    if a.threads < 1:
        p.error("--threads must be >= 1")
    if a.batches < 1:
        p.error("--batches must be >= 1")
    return a


# --------------------------------------------------------------------------------------------
# BLAS identification (which OpenBLAS torch's sgemm resolves to, its kernel and thread count)

class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _mapped_libraries():
    libs = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[5].startswith("/") and parts[5] not in libs:
                    libs.append(parts[5])
    except OSError:
        pass
    return libs


def _sgemm_provider():
    """Path of the shared object that provides the sgemm_ torch calls (dlsym through libtorch_cpu's
    dependency chain, then dladdr), or None."""
    torch_cpu = next((p for p in _mapped_libraries() if "libtorch_cpu" in os.path.basename(p)), None)
    if torch_cpu is None:
        return None
    try:
        handle = ctypes.CDLL(torch_cpu)  # already loaded: same handle, lookup covers its dependencies
        addr = ctypes.cast(handle.sgemm_, ctypes.c_void_p).value
        libdl = ctypes.CDLL(ctypes.util.find_library("dl") or "libc.so.6")
        info = _DlInfo()
        libdl.dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
        if libdl.dladdr(addr, ctypes.byref(info)) and info.dli_fname:
            return os.path.realpath(info.dli_fname.decode())
    except (OSError, AttributeError, ValueError):
        pass
    return None


class BlasInfo:
    def __init__(self):
        self.lib = None
        self.path = None
        provider = _sgemm_provider()
        candidates = ([provider] if provider else []) + [
            p for p in _mapped_libraries() if "blas" in os.path.basename(p).lower()]
        for path in candidates:
            try:
                lib = ctypes.CDLL(path)
                lib.openblas_get_corename.restype = ctypes.c_char_p
                lib.openblas_get_corename()
            except (OSError, AttributeError):
                continue
            self.lib, self.path = lib, path
            break

    def corename(self):
        if self.lib is None:
            return "unknown"
        try:
            return self.lib.openblas_get_corename().decode() or "unknown"
        except Exception:  # noqa: BLE001 - any ctypes failure means "unknown"
            return "unknown"

    def num_threads(self):
        if self.lib is None:
            return -1
        try:
            return int(self.lib.openblas_get_num_threads())
        except Exception:  # noqa: BLE001
            return -1

    def parallel(self):
        """'openmp', 'pthread', 'serial' or 'unknown'."""
        if self.lib is None:
            return "unknown"
        try:
            return {0: "serial", 1: "pthread", 2: "openmp"}.get(int(self.lib.openblas_get_parallel()), "unknown")
        except Exception:  # noqa: BLE001
            return "unknown"


# --------------------------------------------------------------------------------------------
# Models

def build(torch, args, model_name, mode):
    nn = torch.nn
    F = torch.nn.functional
    N, M = args.N, args.M

    class SparseSRSTE(torch.autograd.Function):
        """Same semantics as the reference op (aojunzz/NM-sparsity sparse_ops.Sparse)."""

        @staticmethod
        def forward(ctx, weight, n, m, decay):
            ctx.save_for_backward(weight)
            output = weight.clone()
            group = weight.numel() // m
            weight_temp = weight.detach().abs().reshape(group, m)
            index = torch.argsort(weight_temp, dim=1)[:, :m - n]
            w_b = torch.ones(weight_temp.shape, device=weight_temp.device)
            w_b = w_b.scatter_(dim=1, index=index, value=0).reshape(weight.shape)
            ctx.mask = w_b
            ctx.decay = decay
            return output * w_b

        @staticmethod
        def backward(ctx, grad_output):
            weight, = ctx.saved_tensors
            return grad_output + ctx.decay * (1 - ctx.mask) * weight, None, None, None

    sparse = mode == "srste"

    class SparseLinear(nn.Linear):
        def __init__(self, fan_in, fan_out):
            super().__init__(fan_in, fan_out, bias=True)
            if sparse and fan_in % M != 0:
                raise SystemExit(f"torch_peer: input dim {fan_in} is not a multiple of M={M}")

        def forward(self, x):
            w = SparseSRSTE.apply(self.weight, N, M, SRSTE_DECAY) if sparse else self.weight
            return F.linear(x, w, self.bias)

    g = torch.Generator().manual_seed(args.seed + 1)

    if model_name == "mlp":
        class MLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = SparseLinear(784, 512)
                self.fc2 = SparseLinear(512, 512)
                self.fc3 = SparseLinear(512, 10)

            def forward(self, x):
                return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

        model = MLP()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, dampening=0.0,
                              weight_decay=0.0, nesterov=False, foreach=args.foreach)
        B = 256
        data = [(torch.randn(B, 784, generator=g), torch.randint(0, 10, (B,), generator=g))
                for _ in range(args.batches)]

        def loss_fn(xb, yb):
            return F.cross_entropy(model(xb), yb)

    else:
        V, C, T, H, L, B = 96, 128, 64, 4, 2, 32

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.ln1 = nn.LayerNorm(C)
                self.qkv = SparseLinear(C, 3 * C)
                self.proj = SparseLinear(C, C)
                self.ln2 = nn.LayerNorm(C)
                self.fc1 = SparseLinear(C, 4 * C)
                self.fc2 = SparseLinear(4 * C, C)
                self.register_buffer("causal", torch.tril(torch.ones(T, T, dtype=torch.bool)).view(1, 1, T, T))

            def attn(self, x):
                b, t, c = x.shape
                hs = c // H
                q, k, v = self.qkv(x).split(c, dim=2)
                q = q.view(b, t, H, hs).transpose(1, 2)
                k = k.view(b, t, H, hs).transpose(1, 2)
                v = v.view(b, t, H, hs).transpose(1, 2)
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
                att = att.masked_fill(~self.causal[:, :, :t, :t], float("-inf"))
                att = F.softmax(att, dim=-1)
                y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
                return self.proj(y)

            def forward(self, x):
                x = x + self.attn(self.ln1(x))
                x = x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))
                return x

        class GPT(nn.Module):
            def __init__(self):
                super().__init__()
                self.wte = nn.Embedding(V, C)
                self.wpe = nn.Embedding(T, C)
                self.blocks = nn.ModuleList([Block() for _ in range(L)])
                self.ln_f = nn.LayerNorm(C)
                self.head = nn.Linear(C, V, bias=True)  # dense, not tied to wte
                self.register_buffer("pos", torch.arange(T))

            def forward(self, idx):
                _, t = idx.shape
                x = self.wte(idx) + self.wpe(self.pos[:t])
                for blk in self.blocks:
                    x = blk(x)
                return self.head(self.ln_f(x))

        model = GPT()
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1,
                                foreach=args.foreach)
        data = []
        for _ in range(args.batches):
            seq = torch.randint(0, V, (B, T + 1), generator=g)
            data.append((seq[:, :-1].contiguous(), seq[:, 1:].contiguous()))

        def loss_fn(xb, yb):
            logits = model(xb)
            return F.cross_entropy(logits.view(-1, V), yb.view(-1))

    def step(i):
        xb, yb = data[i % len(data)]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(xb, yb)
        loss.backward()
        opt.step()
        return loss

    return step


def percentile(sorted_vals, q):
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not sorted_vals:
        return float("nan")
    pos = (len(sorted_vals) - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def measure(torch, args, model_name, mode):
    warmup, steps = DEFAULT_STEPS[model_name]
    if args.warmup is not None:
        warmup = args.warmup
    if args.steps is not None:
        steps = args.steps
    steps = max(1, steps)
    torch.manual_seed(args.seed)
    step = build(torch, args, model_name, mode)
    clock = time.perf_counter
    budget = args.max_seconds if args.max_seconds and args.max_seconds > 0 else float("inf")
    start = clock()
    loss = None
    done_warmup = 0
    for i in range(warmup):
        loss = step(i)
        done_warmup += 1
        if clock() - start > 0.25 * budget:  # a loaded machine: do not spend the budget warming up
            break
    times = []
    for i in range(done_warmup, done_warmup + steps):
        t0 = clock()
        loss = step(i)
        t1 = clock()
        times.append(t1 - t0)
        if t1 - start > budget and len(times) >= min(steps, MIN_TIMED_STEPS):
            break
    if len(times) < steps or done_warmup < warmup:
        print(f"torch_peer: --max-seconds {args.max_seconds:g} reached: {done_warmup}/{warmup} warm-up and "
              f"{len(times)}/{steps} timed steps ({model_name} {mode})", file=sys.stderr)
    warmup, steps = done_warmup, len(times)
    final_loss = float(loss.detach()) if loss is not None else float("nan")
    if not math.isfinite(final_loss):
        print(f"torch_peer: warning: non-finite loss {final_loss} ({model_name} {mode})", file=sys.stderr)
    times.sort()
    ms = [t * 1e3 for t in times]
    return {
        "median_ms": percentile(ms, 50), "p10_ms": percentile(ms, 10), "p90_ms": percentile(ms, 90),
        "min_ms": ms[0], "steps": steps, "warmup": warmup, "loss": final_loss,
    }


def main():
    args = parse_args(sys.argv[1:])
    if not args.keep_coretype:
        maybe_reexec_with_coretype(sys.argv)
    try:
        import torch
    except ImportError as e:
        sys.exit(f"torch_peer: cannot import torch with {sys.executable} ({e}); install python3-torch "
                 "and run this script with /usr/bin/python3")
    torch.set_num_threads(args.threads)
    blas = BlasInfo()
    coretype_env = os.environ.get("OPENBLAS_CORETYPE", "unset")

    common = (f"torch_version={torch.__version__} torch_threads={{tt}} openblas_threads={{ot}} "
              f"openblas_build={blas.parallel()} corename={blas.corename()} coretype_env={coretype_env} "
              f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')} "
              f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    if args.info:
        print("INFO peer=torch " + common.format(tt=torch.get_num_threads(), ot=blas.num_threads())
              + f" blas_path={blas.path or 'unknown'}")
        return
    for model_name in args.models:
        for mode in args.modes:
            r = measure(torch, args, model_name, mode)
            nm = f" nm={args.N}:{args.M}" if mode != "dense" else ""
            # openblas_get_num_threads() is read after the run: the OpenMP build of OpenBLAS adopts
            # omp_get_max_threads() (which torch.set_num_threads sets) at its first call.
            print(f"RESULT peer=torch model={model_name} mode={mode}{nm} threads={args.threads} "
                  f"median_ms={r['median_ms']:.3f} p10_ms={r['p10_ms']:.3f} p90_ms={r['p90_ms']:.3f} "
                  f"min_ms={r['min_ms']:.3f} steps={r['steps']} warmup={r['warmup']} loss={r['loss']:.4f} "
                  f"foreach={int(args.foreach)} "
                  + common.format(tt=torch.get_num_threads(), ot=blas.num_threads()), flush=True)


if __name__ == "__main__":
    main()
