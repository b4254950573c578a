"""The recipes: what a sparse layer's forward weight W̃ is at step t, and the gradient for W.

Each recipe mirrors one file of core/src/recipes/ (the README's recipe table is the spec).
`forward(layer, t)` sets layer.mask, layer.n, layer.m, layer.alpha (and layer.beta) for
step t and returns W̃ as a 2-D tensor (no autograd); `grad_scale(layer, t)` is the factor on
∂L/∂W̃ that gives the gradient for W (None: straight through).
"""

import torch

from . import ops
from .schedules import lround, mdgf_alpha, mdgf_kappa, pgf_phases, sdgf_frames

RECIPES = {
    "dense": "Dense",
    "ste": "STE",
    "srste": "SR-STE",
    "sste": "S-STE",
    "mdgf-linear": "MDGF-Linear",
    "mdgf-exp": "MDGF-Exp",
    "sdgf-stepwise": "SDGF-Stepwise",
    "sdgf-geometric": "SDGF-Geometric",
    "asp": "ASP",
}
# Recipes of the core not (yet) available here, with what to do instead.
UNAVAILABLE = {
    "tsrste-df": "tsrste-df (transposable 2:4 masks) is available in nmtrain and the GUI only",
}


def f32(x):
    """x rounded to float32, as the core stores α, β and λ."""
    return float(torch.tensor(x, dtype=torch.float32))


def set_mask(layer, mask):
    """The mask as bool and as 0/1 in the weight's dtype (float products beat torch.where on the CPU)."""
    layer.mask = mask
    f = layer.maskf
    if f is None or f.shape != mask.shape or f.dtype != layer.weight.dtype or f.device != mask.device:
        layer.maskf = mask.to(layer.weight.dtype)
    else:
        f.copy_(mask)


def hard_forward(layer, n, m):
    layer.n, layer.m, layer.alpha = n, m, 0.0
    w = layer.weight2d()
    set_mask(layer, ops.nm_mask(w, n, m))
    # Pruned weights are finite (NaN and inf rank first), so w·0 = 0.
    return torch.mul(w, layer.maskf, out=layer.next_buffer())


def dense_forward(layer):
    layer.n = layer.m = 0
    layer.alpha = 1.0
    set_mask(layer, ops.nm_mask(layer.weight2d(), layer.target_n, layer.target_m))  # the virtual mask
    return layer.next_buffer().copy_(layer.weight2d())


class Recipe:
    persistent_mask = False  # True: forward() may keep the previous mask

    def __init__(self, name, options, steps):
        self.name = name
        self.options = options
        self.steps = steps

    def patterns(self, n, m):
        return [(n, m)]

    def init(self, layer):
        pass

    def forward(self, layer, t):
        raise NotImplementedError

    def grad_scale(self, layer, t):
        return None

    def lam(self, t, live):
        return 0.0

    def after_update(self, layer, t):
        pass


class Dense(Recipe):
    def forward(self, layer, t):
        return dense_forward(layer)


class Ste(Recipe):
    def forward(self, layer, t):
        return hard_forward(layer, layer.target_n, layer.target_m)


class SrSte(Ste):
    def lam(self, t, live):
        return live


class SSte(Recipe):
    def __init__(self, name, options, steps):
        super().__init__(name, options, steps)
        self.dynamic = options["sste_beta"] == "dynamic"

    def init(self, layer):
        w = layer.weight2d()
        layer.beta = float(ops.sste_beta(w, ops.soft_threshold(w, layer.target_n, layer.target_m)))

    def forward(self, layer, t):
        w = layer.weight2d()
        layer.n, layer.m, layer.alpha = layer.target_n, layer.target_m, 0.0
        set_mask(layer, ops.nm_mask(w, layer.n, layer.m))
        s = ops.soft_threshold(w, layer.n, layer.m)
        if self.dynamic:
            layer.beta = float(ops.sste_beta(w, s))
        return s * f32(layer.beta)


class Mdgf(Recipe):
    def __init__(self, name, options, steps):
        super().__init__(name, options, steps)
        self.phases = pgf_phases(steps, options["pgf_dense"], options["pgf_finetune"])
        span = self.phases.finetune_start - self.phases.dense_end
        kappa = options["mdgf_kappa"]
        self.kappa = kappa if kappa > 0 else mdgf_kappa(name, options["mdgf_fraction"], span)
        self.scaled = options["mdgf_grad"] == "scaled"

    def forward(self, layer, t):
        if t < self.phases.dense_end:
            return dense_forward(layer)
        wf = hard_forward(layer, layer.target_n, layer.target_m)
        if t >= self.phases.finetune_start:
            return wf
        layer.alpha = f32(mdgf_alpha(self.name, self.kappa, t - self.phases.dense_end))
        w = layer.weight2d()
        return torch.where(layer.mask, w, layer.alpha * w)

    def grad_scale(self, layer, t):
        if not self.scaled or t < self.phases.dense_end or t >= self.phases.finetune_start:
            return None
        return torch.where(layer.mask, torch.ones_like(layer.maskf), torch.full_like(layer.maskf, layer.alpha))


class Sdgf(Recipe):
    def __init__(self, name, options, steps):
        super().__init__(name, options, steps)
        self.phases = pgf_phases(steps, options["pgf_dense"], options["pgf_finetune"])

    def patterns(self, n, m):
        return [(f.n, f.m) for f in sdgf_frames(self.name, n, m, self.phases)]

    def forward(self, layer, t):
        if t < self.phases.dense_end:
            return dense_forward(layer)
        if t >= self.phases.finetune_start:
            return hard_forward(layer, layer.target_n, layer.target_m)
        frames = sdgf_frames(self.name, layer.target_n, layer.target_m, self.phases)
        frame = frames[0]
        for f in frames:
            if f.start <= t:
                frame = f
        return hard_forward(layer, frame.n, frame.m)


class Asp(Recipe):
    persistent_mask = True

    def __init__(self, name, options, steps):
        super().__init__(name, options, steps)
        self.prune_step = lround(options["asp_prune_at"] * steps)

    def forward(self, layer, t):
        if t < self.prune_step:
            return dense_forward(layer)
        if layer.n == 0:  # the one-shot prune (also when a run continues past the prune step)
            return hard_forward(layer, layer.target_n, layer.target_m)
        return torch.mul(layer.weight2d(), layer.maskf, out=layer.next_buffer())

    def grad_scale(self, layer, t):
        return layer.maskf if t >= self.prune_step else None

    def after_update(self, layer, t):
        if t >= self.prune_step:
            layer.weight2d().mul_(layer.maskf)


_CLASSES = {
    "dense": Dense, "ste": Ste, "srste": SrSte, "sste": SSte,
    "mdgf-linear": Mdgf, "mdgf-exp": Mdgf, "sdgf-stepwise": Sdgf, "sdgf-geometric": Sdgf, "asp": Asp,
}
NEEDS_STEPS = {"mdgf-linear", "mdgf-exp", "sdgf-stepwise", "sdgf-geometric", "asp"}


def make_recipe(name, options, steps):
    if name in UNAVAILABLE:
        raise ValueError(f"recipe: {UNAVAILABLE[name]}; choose one of: {', '.join(RECIPES)}")
    if name not in _CLASSES:
        raise ValueError(f"recipe: unknown value '{name}'; allowed: {', '.join(RECIPES)}")
    if name in NEEDS_STEPS and (steps is None or steps < 1):
        raise ValueError(f"recipe {name}: its schedule needs the run length; pass steps=TOTAL_OPTIMIZER_STEPS")
    return _CLASSES[name](name, options, steps if steps is not None else 0)
