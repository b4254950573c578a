"""The torch recipes against nmstudio's core: same masks, W̃, β, α, N:M, optimiser steps and statistics.

Short runs are trained with `nmtrain --out` (env NMTRAIN); each snapshot's W goes through
nmstudio.torch and must give the core's mask bit for bit and its W̃ to 1e-6.
"""

import json
import os
import subprocess
import tempfile
import unittest

import h5py
import numpy as np
import torch
from torch import nn

import nmstudio.torch as nmt

RECIPES = ["dense", "ste", "srste", "sste", "mdgf-linear", "mdgf-exp", "sdgf-stepwise", "sdgf-geometric", "asp"]
SPARSE = ["fc2", "fc3"]  # MLP 64-128-128-10 on the synthetic task: fc2 is 128x128, fc3 is 10x128


def nmtrain(out, *args):
    exe = os.environ.get("NMTRAIN")
    if not exe:
        raise RuntimeError("set NMTRAIN to the nmtrain executable (ctest does)")
    cmd = [exe, "--data", "synthetic", "--mlp-hidden", "128,128", "--sparse-layers", ",".join(SPARSE),
           "--quiet", "--out", out, *args]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def unpack(mask, cols):
    return np.unpackbits(mask, axis=-1, bitorder="little")[:, :cols].astype(bool)


class Layers(nn.Module):
    """One nn.Linear per sparse layer of the core's run, under the same names."""

    def __init__(self, shapes):
        super().__init__()
        for name, (out, inp) in shapes.items():
            setattr(self, name, nn.Linear(inp, out))


def run_groups(path):
    with h5py.File(path, "r") as f:
        for key in sorted(f["runs"]):
            yield key


def load_run(f, key):
    g = f["runs"][key]
    config = json.loads(g.attrs["config_json"])
    snaps = g["snapshots"]
    steps = snaps["step"][:]
    layers = {}
    for name in SPARSE:
        s = snaps[name]
        cols = s["weight"].shape[2]
        layers[name] = {
            "weight": s["weight"][:], "forward": s["forward"][:],
            "mask": np.stack([unpack(s["mask"][k], cols) for k in range(len(steps))]),
            "beta": s["beta"][:], "alpha": s["alpha"][:], "n": s["n"][:], "m": s["m"][:],
        }
    return config, steps, layers


def options_of(config):
    opts = {k: config[k] for k in nmt.DEFAULTS if k in config and k not in ("diagnostics", "seed")}
    opts["diagnostics"] = True
    return opts


def sparsifier_for(config, layers, k=0):
    """A torch model holding snapshot k's weights and a Sparsifier at that step."""
    shapes = {name: layers[name]["weight"].shape[1:] for name in SPARSE}
    model = Layers(shapes)
    with torch.no_grad():
        for name in SPARSE:
            getattr(model, name).weight.copy_(torch.from_numpy(layers[name]["weight"][k]))
    sp = nmt.Sparsifier(model, config["recipe"], config["nm"], steps=config["steps"], layers=SPARSE,
                        **options_of(config))
    return model, sp


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


class SnapshotsMatch(unittest.TestCase):
    """Every snapshot's W gives the core's mask, W̃, β, α and N:M, for every recipe at 2:4, 1:8 and 1:16."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.files = {}
        common = ["--recipes", ",".join(RECIPES), "--steps", "40", "--snapshot-every", "5"]
        variants = {
            "2:4": [],
            "1:8": ["--pgf-dense", "0.2", "--pgf-finetune", "0.2", "--asp-prune-at", "0.3"],
            "1:16": ["--sste-beta", "dynamic", "--mdgf-grad", "scaled", "--asp-prune-at", "0"],
        }
        for nm, extra in variants.items():
            path = os.path.join(cls.tmp.name, nm.replace(":", "_") + ".h5")
            nmtrain(path, "--nm", nm, *common, *extra)
            cls.files[nm] = path

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check_file(self, nm):
        path = self.files[nm]
        seen = set()
        with h5py.File(path, "r") as f:
            for key in sorted(f["runs"]):
                config, steps, layers = load_run(f, key)
                seen.add(config["recipe"])
                model, sp = sparsifier_for(config, layers, 0)
                for k, step in enumerate(steps):
                    with torch.no_grad():
                        for name in SPARSE:
                            getattr(model, name).weight.copy_(torch.from_numpy(layers[name]["weight"][k]))
                    # Persistent masks (ASP after its prune) carry over: keep the Sparsifier's state.
                    sp.refresh(int(step), keep_masks=config["recipe"] == "asp")
                    for i, name in enumerate(SPARSE):
                        snap, L = layers[name], sp.layers[i]
                        where = f"{key} {name} step {step} ({nm})"
                        np.testing.assert_array_equal(L.mask.numpy(), snap["mask"][k], err_msg="mask " + where)
                        self.assertLessEqual(rel(L.forward_weight.numpy(), snap["forward"][k]), 1e-6, "W̃ " + where)
                        self.assertEqual((L.n, L.m), (snap["n"][k], snap["m"][k]), "N:M " + where)
                        self.assertAlmostEqual(L.alpha, float(snap["alpha"][k]), delta=1e-7, msg="α " + where)
                        self.assertLessEqual(abs(L.beta - snap["beta"][k]), 1e-6 * abs(snap["beta"][k]),
                                             "β " + where)
        self.assertEqual(seen, set(RECIPES))

    def test_2_4(self):
        self.check_file("2:4")

    def test_1_8_with_dense_and_finetune_phases(self):
        self.check_file("1:8")

    def test_1_16_dynamic_beta_scaled_mdgf(self):
        self.check_file("1:16")


def flat_offsets(weight_shapes):
    """Offsets of each layer's weight in the MLP's flat parameter vector (fc1.w, fc1.b, fc2.w, ...)."""
    off, out = 0, {}
    for name, (rows, cols) in weight_shapes:
        out[name] = off
        off += rows * cols + rows
    return out


class OneStepMatches(unittest.TestCase):
    """From the same W, momentum and G, one step in torch gives the core's W_{t+1} and W̃_{t+1}.

    G is recovered from two consecutive checkpoints: SGD with Nesterov momentum μ keeps
    b_{t+1} = μ b_t + d with d = G + wd·W_t (+ λ(1−m_t)⊙W_t for coupled SR-STE).
    """

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.path = os.path.join(cls.tmp.name, "steps.h5")
        nmtrain(cls.path, "--recipes", "srste,sste,ste", "--nm", "2:4", "--steps", "6", "--snapshot-every", "1",
                "--sad-every", "2", "--noise-window", "3")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def replay(self, key, take_optimizer_step):
        with h5py.File(self.path, "r") as f:
            config, steps, layers = load_run(f, key)
            g = f["runs"][key]
            ck = g["checkpoints"]
            buf, ck_steps = ck["optimizer"][:], ck["step"][:]
            lrs = dict(zip(g["train/step"][:], g["train/lr"][:]))
            stats = {c: g["layer_stats"][c][:] for c in nmt.STAT_COLUMNS}
            stat_steps = g["layer_stats/step"][:]
            lin = g["layers"]
            shapes = [(n.decode() if isinstance(n, bytes) else n, (o, i))
                      for n, o, i in zip(lin["name"][:], lin["out"][:], lin["in"][:])]
        offsets = flat_offsets(shapes)
        mu, wd, lam = config["momentum"], config["weight_decay"], config["lambda"]
        coupled = config["recipe"] == "srste" and config["srste_decay"] == "coupled"
        model, sp = sparsifier_for(config, layers, 0)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=mu, nesterov=config["nesterov"], weight_decay=wd)
        ck_index = {int(st): c for c, st in enumerate(ck_steps)}
        checked = 0
        for k in range(len(steps) - 1):
            s = int(steps[k])
            x = torch.zeros(4, 128)
            sum(getattr(model, name)(x).sum() for name in SPARSE).backward()  # a training forward
            for name in SPARSE:
                lin = getattr(model, name)
                rows, cols = lin.weight.shape
                o = offsets[name]

                def momentum(step):  # the optimiser starts with zero momentum
                    if step == 0:
                        return np.zeros((rows, cols), np.float32)
                    return buf[ck_index[step], o:o + rows * cols].reshape(rows, cols)

                w_t = layers[name]["weight"][k]
                b_t = momentum(s)
                d = momentum(s + 1) - np.float32(mu) * b_t
                grad = d - np.float32(wd) * w_t
                if coupled:
                    grad = grad - np.float32(lam) * np.where(layers[name]["mask"][k], 0, w_t)
                with torch.no_grad():
                    lin.weight.copy_(torch.from_numpy(w_t))
                    lin.weight.grad = torch.from_numpy(grad.astype(np.float32))
                    lin.bias.grad = torch.zeros_like(lin.bias)
                opt.state[lin.weight]["momentum_buffer"] = torch.from_numpy(b_t.copy())
                opt.state[lin.bias]["momentum_buffer"] = torch.zeros_like(lin.bias)
                lin._next = layers[name]["weight"][k + 1]
            for group in opt.param_groups:
                group["lr"] = float(lrs[s + 1])
            sp.before_step()
            if take_optimizer_step:
                opt.step()
            else:
                with torch.no_grad():
                    for name in SPARSE:
                        lin = getattr(model, name)
                        lin.weight.copy_(torch.from_numpy(lin._next))
            sp.after_step(optimizer=opt)
            row = list(stat_steps).index(s + 1)
            for i, name in enumerate(SPARSE):
                lin = getattr(model, name)
                where = f"{key} {name} step {s + 1}"
                self.assertLessEqual(rel(lin.weight.detach().numpy(), lin._next), 1e-6, "W_{t+1} " + where)
                np.testing.assert_array_equal(sp.layers[i].mask.numpy(), layers[name]["mask"][k + 1],
                                              err_msg="mask " + where)
                self.assertLessEqual(rel(sp.layers[i].forward_weight.numpy(), layers[name]["forward"][k + 1]), 1e-6,
                                     "W̃ " + where)
                if not take_optimizer_step:
                    self.check_stats(sp.stats(), stats, row, i, where)
            checked += 1
        self.assertGreaterEqual(checked, 5)

    def check_stats(self, mine, core, row, i, where):
        for col in nmt.STAT_COLUMNS:
            a, b = float(mine[col][i]), float(core[col][row, i])
            if np.isnan(b):
                self.assertTrue(np.isnan(a), f"{col} {where}: {a} where the core has NaN")
                continue
            tol = 0 if col in ("flips", "n", "m") else 2e-5 * max(abs(b), 1e-3)
            self.assertLessEqual(abs(a - b), tol, f"{col} {where}: {a} vs the core's {b}")

    def test_srste_step(self):
        self.replay("000_srste_s1", True)

    def test_sste_step(self):
        self.replay("001_sste_s1", True)

    def test_statistics_on_replayed_weights(self):
        for key in ("000_srste_s1", "001_sste_s1", "002_ste_s1"):
            self.replay(key, False)


if __name__ == "__main__":
    unittest.main()
