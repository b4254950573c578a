"""N:M primitives on torch tensors, with the definitions of nmstudio's core (core/src/nm_ops.cpp).

A weight is viewed as a 2-D ``[rows, cols]`` tensor (``[out, in]`` for ``nn.Linear``,
``[out, in_channels·kh·kw]`` for ``nn.Conv2d``); a group is M consecutive elements of a row.
Every function runs on the tensor's device with vectorised ops: no Python loop over groups,
no transfer to the host.

Tie rule (the core's): among equal magnitudes the lower index inside the group is kept, and
NaN ranks as +inf (kept, so it stays visible). An all-zero 2:4 group keeps elements 0 and 1.
"""

import torch

_INF_BITS = 0x7F800000  # +inf as int32


def check_nm(n, m, cols, what="weight"):
    """Raises ValueError unless 1 <= n < m <= 128 and cols is a multiple of m."""
    if not (isinstance(n, int) and isinstance(m, int)) or m < 2 or m > 128 or n < 1 or n >= m:
        raise ValueError(f"{what}: N:M {n}:{m} is out of range; need 1 <= N < M <= 128")
    if cols % m != 0:
        raise ValueError(f"{what}: input size {cols} is not a multiple of M = {m}")


def parse_nm(text, key="nm"):
    """'2:4' -> (2, 4); raises ValueError naming `key` for anything else."""
    if isinstance(text, (tuple, list)) and len(text) == 2:
        text = f"{text[0]}:{text[1]}"
    parts = str(text).split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        n, m = int(parts[0]), int(parts[1])
    except ValueError:
        raise ValueError(f"{key}: expected N:M such as 2:4 or 1:16, got '{text}'") from None
    if m < 2 or m > 128 or n < 1 or n >= m:
        raise ValueError(f"{key}: {text} is out of range; need 1 <= N < M <= 128")
    return n, m


def magnitude_key(w, out=None):
    """|w| with NaN mapped to +inf: the total order the masks use (same shape; into `out` if given)."""
    w = w.detach()
    if w.dtype in (torch.float16, torch.bfloat16):
        w = w.float()
    if w.dtype == torch.float32:
        # Non-negative floats order like their bit patterns; clamping the bits at +inf's maps
        # every NaN to +inf. Two cheap integer passes instead of abs, isnan and where.
        bits = None if out is None else out.view(torch.int32).view(w.shape)
        bits = torch.bitwise_and(w.contiguous().view(torch.int32), 0x7FFFFFFF, out=bits).clamp_(max=_INF_BITS)
        return bits.view(torch.float32)
    a = w.abs()
    return torch.where(torch.isnan(a), torch.full_like(a, float("inf")), a)


# One key buffer per weight size and device, reused from step to step: a fresh tensor of tens
# of MB costs more in page faults on the CPU than the integer passes that fill it.
_KEYS = {}


def _key_buffer(w):
    k = (w.numel(), w.device)
    buf = _KEYS.get(k)
    if buf is None:
        buf = _KEYS[k] = torch.empty(w.numel(), dtype=torch.float32, device=w.device)
    return buf


def nm_mask(w, n, m):
    """Hard top-N-of-M mask of a 2-D weight (bool, same shape): exactly n kept per group."""
    rows, cols = w.shape
    check_nm(n, m, cols)
    key = magnitude_key(w, _key_buffer(w) if w.dtype == torch.float32 else None).view(-1, m)
    if n == 1 and m >= 8:
        keep = _top1_mask(key)
    elif m == 4:
        keep = _mask4(key, n)
    elif m <= 8:
        keep = _rank_mask(key, n, m)
    else:
        order = torch.sort(key, dim=1, descending=True, stable=True).indices[:, :n]
        keep = torch.zeros_like(key, dtype=torch.bool).scatter_(1, order, True)
    return keep.view(rows, cols)


def _rank_mask(key, n, m):
    """rank_i = #{j < i : key_j >= key_i} + #{j > i : key_j > key_i}; keep iff rank < n.

    m(m−1) comparisons of one column against another: no [groups, m, m] temporary, no sort.
    """
    groups = key.shape[0]
    keep = torch.empty(groups, m, dtype=torch.bool, device=key.device)
    for i in range(m):
        ki = key[:, i]
        rank = torch.zeros(groups, dtype=torch.uint8, device=key.device)
        for j in range(m):
            if j != i:
                rank += (key[:, j] >= ki) if j < i else (key[:, j] > ki)
        torch.lt(rank, n, out=keep[:, i])
    return keep


def _mask4(key, n):
    """Groups of 4: six comparisons, one per pair, decide every rank."""
    a, b, c, d = key[:, 0], key[:, 1], key[:, 2], key[:, 3]
    # xy = key_y > key_x: the later element y outranks x; its complement key_x >= key_y is x
    # outranking y (the earlier one wins ties).
    ab, ac, ad, bc, bd, cd = b > a, c > a, d > a, c > b, d > b, d > c
    outranked = ((ab, ac, ad), (~ab, bc, bd), (~ac, ~bc, cd), (~ad, ~bd, ~cd))
    keep = torch.empty(key.shape, dtype=torch.bool, device=key.device)
    for i, (x, y, z) in enumerate(outranked):
        if n == 1:
            keep[:, i] = ~(x | y | z)
        elif n == 2:  # at most one of the three outranks it
            keep[:, i] = ~((x & y) | (z & (x | y)))
        else:  # n == 3: not all three
            keep[:, i] = ~(x & y & z)
    return keep


def _top1_mask(key):
    """1:M: the largest key of each group; argmax returns the first of equal maxima."""
    first = key.argmax(dim=1, keepdim=True)
    return torch.zeros_like(key, dtype=torch.bool).scatter_(1, first, True)


def group_threshold(w, n, m):
    """The (M−N)-th smallest magnitude of every group (1-indexed), shape [rows, cols/m, 1]."""
    rows, cols = w.shape
    check_nm(n, m, cols)
    key = magnitude_key(w).view(rows, cols // m, m)
    if m == 4:  # a 5-comparator sorting network over the four columns
        a, b, c, d = (key[:, :, i] for i in range(4))
        a, b = torch.minimum(a, b), torch.maximum(a, b)
        c, d = torch.minimum(c, d), torch.maximum(c, d)
        a, c = torch.minimum(a, c), torch.maximum(a, c)
        b, d = torch.minimum(b, d), torch.maximum(b, d)
        b, c = torch.minimum(b, c), torch.maximum(b, c)
        return (a, b, c)[3 - n].unsqueeze(2)
    return torch.sort(key, dim=2).values[:, :, m - n - 1 : m - n]


def soft_threshold(w, n, m, threshold=None):
    """S-STE's soft threshold: sign(w)·max(|w| − t, 0) per group, t = group_threshold().

    NaN passes through. Differentiable in w where the threshold is held fixed.
    """
    rows, cols = w.shape
    t = group_threshold(w, n, m) if threshold is None else threshold
    g = w.reshape(rows, cols // m, m)
    d = g.abs() - t
    out = torch.where(torch.isnan(d), g, torch.copysign(d.clamp(min=0), g))
    return out.reshape(rows, cols)


def sste_beta(w, s):
    """S-STE's per-tensor scale β = <w,s>/<s,s> (least squares), accumulated in float64; 1 if <s,s> = 0."""
    w64, s64 = w.detach().double().reshape(-1), s.detach().double().reshape(-1)
    num, den = torch.dot(w64, s64), torch.dot(s64, s64)
    return torch.where(den == 0, torch.ones_like(den), num / torch.where(den == 0, torch.ones_like(den), den)).float()


def mvue24(g, generator=None):
    """Unbiased approximate-MVUE 2:4 of a 2-D gradient along its rows (the core's scheme).

    Per group x of 4 consecutive elements, a_j = |x_j| + 1.19209e-7 and S = Σ a_j: draw i with
    P = a_i/S, then j ≠ i with P = a_j/(S − a_i); p_k = a_k/S + a_k·Σ_{l≠k}(a_l/S)/(S − a_l);
    out_k = x_k/p_k at the two drawn positions, 0 elsewhere, so E[out] = x. Exactly two
    positions per group are kept. cols must be a multiple of 4.
    """
    rows, cols = g.shape
    if cols % 4 != 0:
        raise ValueError(f"mvue24: the grouped dimension ({cols}) must be a multiple of 4")
    x = g.reshape(-1, 4)
    a = x.abs().double() + 1.19209e-7
    a = torch.where(torch.isfinite(a), a, torch.full_like(a, 1.19209e-7))
    S = a.sum(dim=1, keepdim=True)
    u = torch.rand(x.shape[0], 2, dtype=torch.float64, device=g.device, generator=generator)
    c = a.cumsum(dim=1)
    i = (c <= u[:, :1] * S).sum(dim=1, keepdim=True).clamp(max=3)
    a_i = a.gather(1, i)
    rest = a.scatter(1, i, 0.0)
    c2 = rest.cumsum(dim=1)
    j = (c2 <= u[:, 1:] * (S - a_i)).sum(dim=1, keepdim=True).clamp(max=3)
    # Rounding at the top of the CDF may land on i itself: take the last other position.
    j = torch.where(j == i, torch.where(i == 3, torch.full_like(i, 2), torch.full_like(i, 3)), j)
    q = (a / S) / (S - a)
    p = a / S + a * (q.sum(dim=1, keepdim=True) - q)
    kept = torch.zeros_like(x, dtype=torch.bool).scatter_(1, i, True).scatter_(1, j, True)
    out = torch.where(kept, (x.double() / p).to(x.dtype), torch.zeros_like(x))
    return out.reshape(rows, cols)
