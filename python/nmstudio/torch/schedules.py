"""Schedules of the PGF recipes, as pure functions of the step (core/src/recipes/schedules.cpp)."""

import math
from dataclasses import dataclass


def lround(x):
    """C's lround: halves away from zero (Python's round() rounds halves to even)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


@dataclass(frozen=True)
class PgfPhases:
    dense_end: int       # first sparse step
    finetune_start: int  # first fine-tune step (== total when there is none)


def pgf_phases(total, dense_fraction, finetune_fraction):
    """Dense for the first dense_fraction of the steps, hard-mask fine-tune for the last finetune_fraction."""
    dense_end = min(max(lround(dense_fraction * total), 0), total)
    finetune_start = min(max(total - lround(finetune_fraction * total), dense_end), total)
    return PgfPhases(dense_end, finetune_start)


def mdgf_alpha(kind, kappa, t):
    """α(t) for t steps into the sparse span: linear max(1 − κt, 0), exponential exp(−κt)."""
    x = kappa * max(t, 0)
    return max(1.0 - x, 0.0) if kind == "mdgf-linear" else math.exp(-x)


def mdgf_kappa(kind, fraction, span):
    """κ reaching α ≈ 0 at `fraction` of a span: linear 1/(f·span) (exactly 0), exponential 5/(f·span)."""
    steps = max(1.0, fraction * max(span, 1))
    return (1.0 if kind == "mdgf-linear" else 5.0) / steps


@dataclass(frozen=True)
class NmFrame:
    start: int
    n: int
    m: int


def sdgf_frames(kind, n, m, phases):
    """SDGF frames over the sparse span; frame i starts at dense_end + floor(i·span/frames).

    Stepwise: (M−1):M, then M/2^i : M down to N:M (1:8 → 7:8, 4:8, 2:8, 1:8).
    Geometric: 4 frames (N·2^(3−i)) : (M·2^(3−i)) (1:8 → 8:64, 4:32, 2:16, 1:8).
    """
    if kind == "sdgf-geometric":
        nm = [(n << (3 - i), m << (3 - i)) for i in range(4)]
    else:
        nm = [(m - 1, m)]
        k = m // 2
        while k > n:
            nm.append((k, m))
            k //= 2
        if nm[-1][0] != n:
            nm.append((n, m))
    span = phases.finetune_start - phases.dense_end
    frames = len(nm)
    return [NmFrame(phases.dense_end + i * span // frames, a, b) for i, (a, b) in enumerate(nm)]
