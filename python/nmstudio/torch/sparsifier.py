"""N:M sparse training for any PyTorch model: the Sparsifier and its step protocol.

The Sparsifier takes over the forward weight of the selected nn.Linear / nn.Conv layers: their
``weight`` parameter stays the dense W (the optimiser, state_dict and DDP see it unchanged)
and their forward uses W̃, prepared once per optimiser step by the recipe. The gradient reaches
W through a straight-through function (scaled where the recipe says so), so DDP's all-reduce
of W.grad is untouched. Per step:

    loss.backward()
    sparse.step(optimizer)      # = before_step(); optimizer.step(); after_step()

``before_step()`` (after any clipping of yours) records the gradient statistics and adds
SR-STE's coupled term λ(1−m)⊙W once per optimiser step; ``after_step()`` applies decoupled
terms, re-masks, and prepares W̃, the mask and the statistics of the transition for the next
step. ``clip_grad_norm_()`` records the statistics before clipping, as nmtrain does.
"""

import difflib
import math

import torch
import torch.nn.functional as F
from torch import nn

from . import ops
from .recipes import RECIPES, make_recipe, set_mask

# The options of nmtrain's option table that this implementation honours, with their defaults.
DEFAULTS = {
    "lambda": 2e-4,
    "srste_decay": "coupled",
    "sste_beta": "frozen",
    "mdgf_fraction": 0.5,
    "mdgf_kappa": 0.0,
    "mdgf_grad": "identity",
    "pgf_dense": 0.0,
    "pgf_finetune": 0.0,
    "asp_prune_at": 0.5,
    "mvue": False,
    "diagnostics": None,  # None: on for rank 0 (all ranks compute the same masks)
    "noise_window": 40,
    "sad_every": 100,
    "keep_indivisible_dense": False,
    "seed": 0,  # MVUE's random stream
}
CHOICES = {
    "srste_decay": ("coupled", "decoupled"),
    "sste_beta": ("frozen", "dynamic"),
    "mdgf_grad": ("identity", "scaled"),
}
RANGES = {
    "lambda": (0.0, 10.0), "mdgf_fraction": (1e-6, 1.0), "mdgf_kappa": (0.0, 1.0),
    "pgf_dense": (0.0, 0.99), "pgf_finetune": (0.0, 0.99), "asp_prune_at": (0.0, 0.99),
    "noise_window": (2, 100000), "sad_every": (1, 10 ** 8),
}
STAT_COLUMNS = (
    "flips", "flip_rate", "sad", "oscillation", "grad_norm", "grad_norm_kept", "grad_norm_pruned",
    "pruned_share", "grad_std_kept", "grad_std_pruned", "grad_noise", "grad_noise_kept",
    "grad_noise_pruned", "delta_forward", "decay_norm", "alpha", "n", "m", "lambda", "beta", "sparsity",
)
_INT_COLUMNS = {"flips", "n", "m"}
SPARSIFIABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NAN = float("nan")


def _check_options(options):
    out = dict(DEFAULTS)
    for key, value in options.items():
        k = key.replace("-", "_")
        if k == "lambda_":
            k = "lambda"
        if k not in DEFAULTS:
            close = difflib.get_close_matches(k, DEFAULTS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            if k == "fp8":
                hint = "; simulated FP8 is available in nmtrain and the GUI only"
            raise ValueError(f"unknown option '{key}'{hint} (options: {', '.join(DEFAULTS)})")
        if k in CHOICES and value not in CHOICES[k]:
            raise ValueError(f"{k}: unknown value '{value}'; allowed: {', '.join(CHOICES[k])}")
        if k in RANGES:
            lo, hi = RANGES[k]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not lo <= value <= hi:
                raise ValueError(f"{k}: {value!r} is out of range; allowed [{lo:g}, {hi:g}]")
        out[k] = value
    if out["pgf_dense"] + out["pgf_finetune"] >= 1.0:
        raise ValueError("pgf_dense + pgf_finetune must leave a sparse span (their sum is >= 1)")
    return out


def _rank():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return 0


class _StraightThrough(torch.autograd.Function):
    """Returns the prepared W̃ (shaped like W); the gradient for W is ∂L/∂W̃ (times `scale`)."""

    @staticmethod
    def forward(ctx, weight, forward_weight, scale):
        ctx.save_for_backward(scale)
        ctx.has_scale = scale.numel() > 0
        return forward_weight.view_as(weight)

    @staticmethod
    def backward(ctx, grad):
        (scale,) = ctx.saved_tensors
        if ctx.has_scale:
            grad = grad * scale.view_as(grad)
        return grad, None, None


class _MvueLinear(torch.autograd.Function):
    """y = x·W̃ᵀ + b with the weight gradient MVUE24(dYᵀ)·X: groups of 4 tokens per output feature."""

    @staticmethod
    def forward(ctx, x, weight, bias, layer):
        ctx.save_for_backward(x, weight)
        ctx.layer = layer
        ctx.has_bias = bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        dy2 = dy.reshape(-1, dy.shape[-1])
        x2 = x.reshape(-1, x.shape[-1])
        dx = (dy2 @ weight.to(dy2.dtype)).reshape(x.shape) if ctx.needs_input_grad[0] else None
        dw = ops.mvue24(dy2.t().contiguous(), generator=ctx.layer.generator) @ x2.to(dy2.dtype)
        db = dy2.sum(dim=0) if ctx.has_bias else None
        return dx, dw, db, None


class SparseLayer:
    """The state of one sparse layer between steps (the core's SparseLayerState)."""

    def __init__(self, name, module, n, m):
        self.name = name
        self.module = module
        self.weight = module.weight
        self.out = module.weight.shape[0]
        self.inp = module.weight[0].numel()
        self.size = self.out * self.inp
        self.target_n, self.target_m = n, m
        self.n = self.m = 0
        self.alpha = self.beta = 1.0
        self.mask = self.prev_mask = self.sad_mask = None  # bool, [out, in]
        self.maskf = None  # the mask as 0/1 in the weight dtype
        self.forward_weight = None  # W̃ of the coming step, 2-D, no autograd
        self._spare = None  # the buffer of the W̃ before it, reused for the next one
        self.grad_scale = None
        self.sparsity = 0.0
        self.flips_since_sad = None
        self.history = []  # per step: tensor [3] of ‖G‖, ‖G‖ kept, ‖G‖ pruned
        self.generator = None
        self.mvue_on = False
        self.lam = 0.0
        self.stats = {}

    def weight2d(self):
        return self.weight.detach().view(self.out, self.inp)

    def next_buffer(self):
        """A W̃-sized tensor that is not the current W̃: recipes write the next W̃ into it (on the
        CPU a fresh tensor of this size costs more in page faults than filling it)."""
        b, w = self._spare, self.weight
        if b is None or b.dtype != w.dtype or b.device != w.device:
            b = self._spare = torch.empty(self.out, self.inp, dtype=w.dtype, device=w.device)
        return b

    def forward(self, x):
        """The module's forward with W̃ in place of W."""
        mod = self.module
        scale = self.grad_scale if self.grad_scale is not None else self._no_scale
        w = _StraightThrough.apply(mod.weight, self.forward_weight, scale)
        if self.mvue_on:
            if isinstance(mod, nn.Linear):
                tokens = x.numel() // self.inp
                if tokens % 4 != 0:
                    raise ValueError(
                        f"layer {self.name}: mvue groups 4 tokens, but this forward has {tokens} "
                        "(batch × sequence); use a multiple of 4")
                return _MvueLinear.apply(x, w, mod.bias, self)
        if isinstance(mod, nn.Linear):
            return F.linear(x, w, mod.bias)
        return mod._conv_forward(x, w, mod.bias)


class Sparsifier:
    """N:M sparsity for the selected Linear/Conv layers of `model`, trained with `recipe`.

    recipe: dense, ste, srste, sste, mdgf-linear, mdgf-exp, sdgf-stepwise, sdgf-geometric, asp.
    nm: "N:M" (1 <= N < M <= 128). steps: the run's optimiser steps (MDGF, SDGF and ASP schedules).
    layers: "all" (every Linear/Conv layer), a list of module names, a module type or tuple of
        types, or a predicate f(name, module) -> bool.
    options: nmtrain's option names (lambda, srste_decay, sste_beta, mdgf_fraction, mdgf_kappa,
        mdgf_grad, pgf_dense, pgf_finetune, asp_prune_at, mvue, diagnostics, noise_window,
        sad_every, keep_indivisible_dense, seed); `lambda` can be given as lambda_.
    start_step: steps already taken (a continued run): masks for that step from the current W.
    """

    def __init__(self, model, recipe="ste", nm="2:4", *, steps=None, layers="all", start_step=0, **options):
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        self.model = model
        self.recipe_name = recipe
        self.nm = "%d:%d" % ops.parse_nm(nm)
        self.options = _check_options(options)
        if self.options["diagnostics"] is None:
            self.options["diagnostics"] = _rank() == 0
        self.steps = steps
        self.recipe = make_recipe(recipe, self.options, steps)
        self.live_lambda = float(self.options["lambda"])
        self.step_count = int(start_step)
        self._phase = "ready"  # ready -> forward -> before_step -> ready
        self._scratch_buffers = {}
        n, m = ops.parse_nm(nm)
        self.layer_info = []
        self.layers = []
        self._select(model, layers, n, m)
        for layer in self.layers:
            self.recipe.init(layer)
        self._prepare(self.step_count, first=True)
        for layer in self.layers:
            layer.module.forward = self._make_forward(layer)

    # ---- selection ---------------------------------------------------------------------

    def _select(self, model, layers, n, m):
        candidates = [(name, mod) for name, mod in model.named_modules() if isinstance(mod, SPARSIFIABLE)]
        by_name = dict(candidates)
        if isinstance(layers, str) and layers == "all":
            chosen = {name for name, _ in candidates}
        elif isinstance(layers, str) and layers == "none":
            chosen = set()
        elif isinstance(layers, type) or (isinstance(layers, tuple) and all(isinstance(t, type) for t in layers)):
            chosen = {name for name, mod in candidates if isinstance(mod, layers)}
        elif callable(layers):
            chosen = {name for name, mod in candidates if layers(name, mod)}
        else:
            names = [layers] if isinstance(layers, str) else list(layers)
            modules = dict(model.named_modules())
            for name in names:
                if name not in modules:
                    raise ValueError(f"layers: no module named '{name}'; this model's Linear/Conv layers: "
                                     f"{', '.join(by_name) or '(none)'}")
                if name not in by_name:
                    raise ValueError(f"layers: '{name}' is a {type(modules[name]).__name__}, not a Linear or Conv "
                                     "layer")
            chosen = set(names)
        patterns = self.recipe.patterns(n, m)
        for name, mod in candidates:
            if getattr(mod, "groups", 1) != 1 and name in chosen:
                raise ValueError(f"layer {name}: grouped convolutions are not supported; leave it out of layers")
            layer = SparseLayer(name, mod, n, m)
            info = {"name": name, "in": layer.inp, "out": layer.out, "sparse": False, "n": n, "m": m,
                    "dense_params": layer.size + (mod.bias.numel() if mod.bias is not None else 0)}
            info["effective_params"] = info["dense_params"]
            if name in chosen:
                bad = next((f"{pn}:{pm}" for pn, pm in patterns if layer.inp % pm != 0), None)
                if bad and not self.options["keep_indivisible_dense"]:
                    raise ValueError(
                        f"layer {name}: input size {layer.inp} is not a multiple of M for {bad} (recipe "
                        f"{self.recipe_name}, nm {self.nm}); keep it dense with keep_indivisible_dense=True "
                        "or choose layers with layers=")
                info["sparse"] = bad is None
            if info["sparse"]:
                if self.recipe_name != "dense":
                    info["effective_params"] = info["dense_params"] - layer.size + layer.out * (layer.inp // m) * n
                layer.mvue_on = bool(self.options["mvue"])
                if layer.mvue_on and not isinstance(mod, nn.Linear):
                    raise ValueError(f"layer {name}: mvue is implemented for nn.Linear only; leave it out of "
                                     "layers or turn mvue off")
                if layer.mvue_on:
                    layer.generator = torch.Generator(device=mod.weight.device)
                    layer.generator.manual_seed(int(self.options["seed"]) * 1000003 + len(self.layers) + 1)
                layer._no_scale = torch.empty(0, device=mod.weight.device)
                self.layers.append(layer)
            self.layer_info.append(info)

    def _make_forward(self, layer):
        def forward(x):
            if torch.is_grad_enabled() and self._phase in ("ready", "forward"):
                self._phase = "forward"
            return layer.forward(x)
        return forward

    def refresh(self, step=None, keep_masks=False):
        """Recomputes masks and W̃ for `step` (default: the current one) from the current weights.

        Call it after loading weights into the model (e.g. from a checkpoint of your own): the
        statistics start afresh as at the first step. S-STE's frozen β is kept; ASP's one-shot
        mask is recomputed from the weights unless keep_masks.
        """
        if self._phase not in ("ready", "forward"):
            raise RuntimeError("Sparsifier.refresh(): not between before_step() and after_step()")
        if step is not None:
            self.step_count = int(step)
        if not keep_masks and self.recipe.persistent_mask:
            for layer in self.layers:
                layer.n = 0
        self._prepare(self.step_count, first=True)
        self._phase = "ready"

    def state_dict(self):
        """What the recipe carries between steps besides W: save it with the model and optimiser.

        Per sparse layer: S-STE's β, the mask, α and N:M of the coming step (ASP's fixed mask), the
        SAD reference mask, the flips since it and the gradient-noise window; plus the step.
        """
        if self._phase not in ("ready", "forward"):
            raise RuntimeError("Sparsifier.state_dict(): not between before_step() and after_step()")
        return {
            "recipe": self.recipe_name, "nm": self.nm, "step": self.step_count, "lambda": self.live_lambda,
            "layers": [{"name": l.name, "beta": l.beta, "alpha": l.alpha, "n": l.n, "m": l.m, "mask": l.mask.clone(),
                        "sad_mask": l.sad_mask.clone(), "flips_since_sad": l.flips_since_sad.clone(),
                        "history": [h.clone() for h in l.history]} for l in self.layers],
        }

    def load_state_dict(self, state):
        """Continues a run: load the model's weights first, then this (recipe and layers must match)."""
        if state.get("recipe") != self.recipe_name or state.get("nm") != self.nm:
            raise ValueError(f"Sparsifier.load_state_dict(): the state is of {state.get('recipe')} at "
                             f"{state.get('nm')}, this Sparsifier trains {self.recipe_name} at {self.nm}")
        names = [l["name"] for l in state["layers"]]
        if names != [l.name for l in self.layers]:
            raise ValueError(f"Sparsifier.load_state_dict(): the state's sparse layers are {names}, this "
                             f"Sparsifier's are {[l.name for l in self.layers]}")
        self.step_count = int(state["step"])
        self.live_lambda = float(state["lambda"])
        for layer, s in zip(self.layers, state["layers"]):
            device = layer.weight.device
            layer.beta, layer.alpha = float(s["beta"]), float(s["alpha"])
            layer.n, layer.m = int(s["n"]), int(s["m"])
            set_mask(layer, s["mask"].to(device))
        self._prepare(self.step_count, first=True)
        for layer, s in zip(self.layers, state["layers"]):
            device = layer.weight.device
            layer.sad_mask = s["sad_mask"].to(device)
            layer.flips_since_sad = s["flips_since_sad"].to(device)
            layer.history = [h.to(device) for h in s["history"]]
        self._phase = "ready"

    def remove(self):
        """Gives the layers their own forward back (W stays as trained)."""
        for layer in self.layers:
            if "forward" in layer.module.__dict__:
                del layer.module.forward

    # ---- the step protocol -------------------------------------------------------------

    def before_step(self):
        """After backward (and any clipping), before optimizer.step(): statistics, SR-STE's coupled term."""
        if self._phase == "before_step":
            raise RuntimeError("Sparsifier.before_step() called twice; call after_step() after optimizer.step()")
        if self._phase != "forward" and not getattr(self, "_stats_taken", False):
            raise RuntimeError("Sparsifier.before_step(): no training forward since the last step; run the model "
                               "and loss.backward() first")
        for layer in self.layers:
            if layer.weight.grad is None:
                raise RuntimeError(f"Sparsifier.before_step(): layer {layer.name} has no gradient; call "
                                   "loss.backward() first")
        if not getattr(self, "_stats_taken", False):
            self._gradient_stats()
        self._stats_taken = False
        t = self.step_count
        coupled = self.options["srste_decay"] == "coupled"
        for layer in self.layers:
            lam = self.recipe.lam(t, self.live_lambda)
            layer.stats["lambda"] = lam
            layer.lam = lam
            if lam <= 0:
                layer.stats["decay_norm"] = 0.0
                continue
            w = layer.weight2d()
            term = torch.mul(w, layer.maskf, out=self._scratch(0, w))
            torch.sub(w, term, out=term).mul_(torch.tensor(lam, dtype=w.dtype))  # λ(1−m)⊙W, exactly 0 where kept
            if self.options["diagnostics"]:
                layer.stats["decay_norm"] = torch.linalg.vector_norm(term)
            if coupled:
                layer.weight.grad.view(layer.out, layer.inp).add_(term)
        self._phase = "before_step"

    def after_step(self, lr=None, optimizer=None):
        """After optimizer.step(): decoupled terms, re-masking, and W̃ for the next step."""
        if self._phase != "before_step":
            raise RuntimeError("Sparsifier.after_step() called without before_step(); the order is backward, "
                               "before_step(), optimizer.step(), after_step()")
        t = self.step_count
        if self.options["srste_decay"] == "decoupled":
            for layer in self.layers:
                if layer.lam <= 0:
                    continue
                layer_lr = lr if lr is not None else self._lr_of(optimizer, layer)
                shrink = torch.tensor(layer_lr, dtype=torch.float32) * torch.tensor(layer.lam, dtype=torch.float32)
                with torch.no_grad():
                    w = layer.weight2d()
                    term = torch.mul(w, layer.maskf, out=self._scratch(0, w))
                    w.sub_(torch.sub(w, term, out=term).mul_(shrink.to(w.device)))  # W ← W − lr·λ(1−m)⊙W
        with torch.no_grad():
            for layer in self.layers:
                self.recipe.after_update(layer, t)
                st = layer.stats
                st["n"], st["m"], st["alpha"], st["beta"] = layer.n, layer.m, layer.alpha, layer.beta
                st["sparsity"] = layer.sparsity
        self.step_count = t + 1
        self._prepare(self.step_count, first=False)
        self._phase = "ready"

    def step(self, optimizer, scaler=None):
        """before_step(); optimizer.step() (or scaler.step(optimizer)); after_step().

        With a GradScaler the gradients are unscaled first (unless you did, e.g. to clip), so the
        statistics and SR-STE's term see the true gradient; call scaler.update() afterwards.
        """
        if scaler is not None:
            try:
                scaler.unscale_(optimizer)
            except RuntimeError as e:  # unscaled already in this iteration
                if "already been called" not in str(e):
                    raise
        self.before_step()
        if scaler is not None:
            scaler.step(optimizer)
        else:
            optimizer.step()
        self.after_step(optimizer=optimizer)

    def clip_grad_norm_(self, max_norm, parameters=None):
        """Records the gradient statistics (before clipping, as nmtrain), then clips; returns the total norm."""
        if self._phase != "forward":
            raise RuntimeError("Sparsifier.clip_grad_norm_(): call it after loss.backward(), before before_step()")
        self._gradient_stats()
        self._stats_taken = True
        params = self.model.parameters() if parameters is None else parameters
        return torch.nn.utils.clip_grad_norm_(params, max_norm)

    @staticmethod
    def _lr_of(optimizer, layer):
        if optimizer is None:
            raise ValueError("Sparsifier.after_step(): srste_decay='decoupled' needs the learning rate; pass "
                             "lr= or optimizer=")
        for group in optimizer.param_groups:
            if any(p is layer.weight for p in group["params"]):
                return group["lr"]
        raise ValueError(f"Sparsifier.after_step(): the optimizer does not train layer {layer.name}'s weight")

    # ---- masks, W̃ and the statistics of a step -----------------------------------------

    def _prepare(self, t, first):
        diag = self.options["diagnostics"]
        sad_every = self.options["sad_every"]
        with torch.no_grad():
            for layer in self.layers:
                old_mask, old_wf = layer.mask, layer.forward_weight
                if self.recipe.persistent_mask and old_mask is not None:
                    layer.prev_mask = old_mask.clone()
                else:
                    layer.prev_mask = old_mask
                wf = self.recipe.forward(layer, t)
                if wf is layer._spare:  # written into the spare buffer: the old W̃ becomes the spare
                    layer._spare = old_wf
                layer.forward_weight = wf
                layer.grad_scale = self.recipe.grad_scale(layer, t)
                st = layer.stats
                if diag or first:
                    layer.sparsity = _count(wf == 0) / layer.size
                st["sad"] = st["oscillation"] = _NAN
                if first:
                    st["sparsity"] = layer.sparsity
                    st["flips"], st["flip_rate"], st["delta_forward"] = 0, 0.0, 0.0
                    layer.sad_mask = layer.mask.clone()
                    layer.flips_since_sad = torch.zeros((), dtype=torch.int64, device=wf.device)
                    continue
                flips = _count(torch.logical_xor(layer.prev_mask, layer.mask))
                st["flips"] = flips
                st["flip_rate"] = flips / layer.size
                st["delta_forward"] = (torch.linalg.vector_norm(torch.sub(wf, old_wf, out=self._scratch(0, wf)))
                                       if diag else _NAN)
                layer.flips_since_sad = layer.flips_since_sad + flips
                if t % sad_every == 0:
                    net = _count(torch.logical_xor(layer.sad_mask, layer.mask))
                    st["sad"] = net / layer.size
                    since = layer.flips_since_sad
                    st["oscillation"] = torch.where(
                        net > 0, since / net.clamp(min=1),
                        torch.where(since > 0, torch.tensor(math.inf, device=wf.device),
                                    torch.tensor(_NAN, device=wf.device)))
                    layer.sad_mask = layer.mask.clone()
                    layer.flips_since_sad = torch.zeros_like(layer.flips_since_sad)

    def _gradient_stats(self):
        window = self.options["noise_window"]
        if not self.options["diagnostics"]:
            for layer in self.layers:
                for k in ("grad_norm", "grad_norm_kept", "grad_norm_pruned", "pruned_share", "grad_std_kept",
                          "grad_std_pruned", "grad_noise", "grad_noise_kept", "grad_noise_pruned"):
                    layer.stats[k] = _NAN
            return
        with torch.no_grad():
            for layer in self.layers:
                g = layer.weight.grad.detach().view(-1)
                maskf = layer.maskf.view(-1)
                kept = torch.mul(g, maskf, out=self._scratch(0, g))
                pruned = torch.sub(g, kept, out=self._scratch(1, g))  # exact: g or 0 where kept
                sk, sp = kept.sum(), pruned.sum()
                sk2, sp2 = torch.dot(kept, kept), torch.dot(pruned, pruned)
                nk = _count(layer.mask)
                np_ = layer.size - nk
                st = layer.stats
                st["grad_norm_kept"], st["grad_norm_pruned"] = sk2.sqrt(), sp2.sqrt()
                norm = (sk2 + sp2).sqrt()
                st["grad_norm"] = norm
                st["pruned_share"] = torch.where(norm > 0, sp2.sqrt() / norm.clamp(min=1e-30), torch.zeros_like(norm))
                st["grad_std_kept"] = _std(sk, sk2, nk)
                st["grad_std_pruned"] = _std(sp, sp2, np_)
                # Norms rounded to float32 first, as the core keeps them.
                norms = torch.stack([norm, sk2.sqrt(), sp2.sqrt()]).float().double()
                layer.history.append(norms)
                if len(layer.history) > window:
                    layer.history.pop(0)
                if len(layer.history) < window:
                    st["grad_noise"] = st["grad_noise_kept"] = st["grad_noise_pruned"] = _NAN
                    continue
                h = torch.stack(layer.history)  # [window, 3]
                mean = h.mean(dim=0)
                var = ((h * h).sum(dim=0) / window - mean * mean).clamp(min=0)
                cv = torch.where(mean > 0, var.sqrt() / mean.clamp(min=1e-300), torch.full_like(mean, _NAN))
                st["grad_noise"], st["grad_noise_kept"], st["grad_noise_pruned"] = cv[0], cv[1], cv[2]

    def _scratch(self, k, like):
        """Scratch tensor k shaped like `like`, kept between steps (one per k, of the largest layer)."""
        buf = self._scratch_buffers.get(k)
        if buf is None or buf.numel() < like.numel() or buf.dtype != like.dtype or buf.device != like.device:
            buf = self._scratch_buffers[k] = torch.empty(like.numel(), dtype=like.dtype, device=like.device)
        return buf[:like.numel()].view(like.shape)

    # ---- what a recorder reads -----------------------------------------------------------

    def stats(self):
        """The last step's row of per-layer statistics: column -> tensor [sparse layers] on the device.

        The columns are the run file's layer_stats datasets (README, "Run-file format"); one row
        describes one optimiser step (its forward, its gradient, and what it changed).
        """
        if not self.layers:
            return {}
        device = self.layers[0].weight.device
        out = {}
        for col in STAT_COLUMNS:
            dtype = torch.int64 if col in _INT_COLUMNS else torch.float32
            vals = [layer.stats.get(col, _NAN if dtype == torch.float32 else 0) for layer in self.layers]
            out[col] = torch.stack([torch.as_tensor(v, device=device).to(dtype) for v in vals])
        return out

    def snapshot(self):
        """Per sparse layer: W, W̃, mask, β, α and N:M of the coming step (2-D, detached, on the device)."""
        return [{"name": layer.name, "weight": layer.weight2d().clone(), "forward": layer.forward_weight.clone(),
                 "mask": layer.mask.clone(), "beta": layer.beta, "alpha": layer.alpha, "n": layer.n, "m": layer.m}
                for layer in self.layers]

    @property
    def recipe_title(self):
        return RECIPES[self.recipe_name]

    def config(self):
        """The recipe's settings, as nmtrain's option names (for a run file's config_json)."""
        c = {"recipe": self.recipe_name, "nm": self.nm, "steps": self.steps,
             "sparse_layers": ",".join(layer.name for layer in self.layers)}
        c.update({k: v for k, v in self.options.items()})
        c["lambda"] = self.live_lambda
        return c

    def effective_parameter_count(self):
        """Every parameter of the model, with the sparse layers' weights counted at the final N:M."""
        total = sum(p.numel() for p in self.model.parameters())
        return total - sum(i["dense_params"] - i["effective_params"] for i in self.layer_info)


def _count(flags):
    """Number of True entries (a uint8 sum: on the CPU the bool sum converts to int64 first)."""
    return flags.view(torch.uint8).sum(dtype=torch.int32).long()


def _std(s, s2, n):
    s, s2, n = s.double(), s2.double(), n.double()
    mean = s / n.clamp(min=1)
    return torch.where(n > 0, (s2 / n.clamp(min=1) - mean * mean).clamp(min=0).sqrt(), torch.zeros_like(s))


def sparsify(model, recipe="ste", nm="2:4", **kwargs):
    """Sparsifier(model, recipe, nm, **kwargs): the one line that makes a model N:M sparse."""
    return Sparsifier(model, recipe, nm, **kwargs)
