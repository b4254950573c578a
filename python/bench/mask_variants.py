#!/usr/bin/python3
"""Candidate formulations of ops.nm_mask, checked bit-identical against it and timed (CPU).

    /usr/bin/python3 python/bench/mask_variants.py [--threads 1] [--reps 3]

Same weights as bench_step.py's mask timing (the three layers of MLP 1024-2048-2048-1024).
Prints `time what=mask impl=I nm=N:M threads=K median_ms=...` and
`ratio what=mask impl=I nm=N:M ratio=<I / reference>` lines; the implementations run
interleaved, medians of --reps calls.

  current    ops.nm_mask (rank counting on [groups, M, M] broadcasts)
  pairwise   ranks from the M(M-1)/2 comparisons of a group's members, on [M, groups] rows,
             accumulated in uint8: rank_i = #{j>i: k_j > k_i} + #{j<i: k_j >= k_i}
  argmax     N rounds of argmax (first maximal index = the lower-index tie rule) + scatter
  reference  the argsort + scatter of bench_step.reference_mask
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import torch  # noqa: E402

from nmstudio.torch import ops  # noqa: E402
from bench_step import make_mlp, reference_mask  # noqa: E402


def key_of(w):
    return w.detach().abs().nan_to_num_(nan=float("inf"))


def mask_pairwise(w, n, m):
    rows, cols = w.shape
    key = key_of(w).reshape(-1, m).t().contiguous()  # [M, G]: member i of every group in one row
    rank = torch.zeros(m, key.shape[1], dtype=torch.uint8, device=w.device)
    for i in range(m):
        for j in range(i + 1, m):
            c = torch.gt(key[j], key[i]).view(torch.uint8)  # j outranks i; else i outranks j
            rank[i].add_(c)
            rank[j].sub_(c)  # (1 - c); the 1s are added below (uint8 wraps, the end value is exact)
        rank[i].add_(i)
    return (rank < n).t().reshape(rows, cols)


def mask_argmax(w, n, m):
    rows, cols = w.shape
    key = key_of(w).reshape(-1, m)
    keep = torch.zeros_like(key, dtype=torch.bool)
    for r in range(n):
        idx = key.argmax(dim=1, keepdim=True)
        keep.scatter_(1, idx, True)
        if r + 1 < n:
            key.scatter_(1, idx, -1.0)
    return keep.reshape(rows, cols)


def mask_reference(w, n, m):
    return reference_mask(w, n, m)[1]


IMPLS = {"current": ops.nm_mask, "pairwise": mask_pairwise, "argmax": mask_argmax, "reference": mask_reference}
NMS = ((2, 4), (1, 8), (1, 16))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(2)
    weights = [mod.weight.detach() for mod in make_mlp((1024, 2048, 2048, 1024)) if isinstance(mod, torch.nn.Linear)]
    ties = torch.tensor([[1., 1, 1, 1, 0, 0, 0, 0, 2, float("nan"), 2, 1, -3, 3, 0, 3]])
    for n, m in ((2, 4), (1, 4), (1, 8), (3, 8), (1, 16)):
        for name in ("pairwise", "argmax"):
            same = torch.equal(ops.nm_mask(ties, n, m), IMPLS[name](ties, n, m)) and all(
                torch.equal(ops.nm_mask(w, n, m), IMPLS[name](w, n, m)) for w in weights)
            print(f"check impl={name} nm={n}:{m} identical={int(same)}")
    times = {(name, nm): [] for name in IMPLS for nm in NMS}
    for r in range(a.reps):
        for nm in NMS:
            names = list(IMPLS)
            for name in names[r % 4:] + names[:r % 4]:
                t0 = time.perf_counter()
                for w in weights:
                    IMPLS[name](w, *nm)
                times[(name, nm)].append(time.perf_counter() - t0)
    for nm in NMS:
        ref = statistics.median(times[("reference", nm)])
        for name in IMPLS:
            t = statistics.median(times[(name, nm)])
            print(f"time what=mask impl={name} nm={nm[0]}:{nm[1]} threads={a.threads} median_ms={t * 1e3:.1f}")
        for name in ("current", "pairwise", "argmax"):
            r = statistics.median(times[(name, nm)]) / ref
            print(f"ratio what=mask impl={name} nm={nm[0]}:{nm[1]} threads={a.threads} ratio={r:.3f}")


if __name__ == "__main__":
    main()
