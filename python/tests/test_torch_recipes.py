"""nmstudio.torch on its own: the tie rule, thresholds, MVUE, convolutions, errors, DDP."""

import os
import socket
import tempfile
import unittest

import numpy as np
import torch
import torch.multiprocessing as mp
from torch import nn

import nmstudio.torch as nmt
from nmstudio.torch import ops


class TieRule(unittest.TestCase):
    """Equal magnitudes keep the lower index, NaN ranks above everything (the core's nmMask)."""

    def check(self, n, m):
        rows = [
            [0.0] * m,                         # all zero: keeps 0 .. n-1
            [1.0, -1.0] * (m // 2),            # equal magnitude, either sign
            [float("nan")] + [5.0] * (m - 1),  # NaN first, then ties
            list(range(m)),                    # distinct: the n largest
        ]
        mask = ops.nm_mask(torch.tensor(rows, dtype=torch.float32), n, m)
        first = torch.arange(m) < n
        self.assertTrue(torch.equal(mask[0], first), f"{n}:{m} zeros")
        self.assertTrue(torch.equal(mask[1], first), f"{n}:{m} ±1")
        self.assertTrue(torch.equal(mask[2], first), f"{n}:{m} NaN then ties")
        self.assertTrue(torch.equal(mask[3], torch.arange(m) >= m - n), f"{n}:{m} distinct")
        self.assertTrue(torch.all(mask.sum(dim=1) == n))

    def test_small_groups(self):  # rank counting (M <= 8), top-1 and sort paths
        for n, m in ((1, 2), (2, 4), (1, 4), (3, 4), (1, 8), (4, 8), (1, 16), (15, 16)):
            self.check(n, m)

    def test_large_groups(self):
        for n, m in ((1, 32), (8, 32), (16, 64), (1, 128), (127, 128)):
            self.check(n, m)

    def test_paths_agree_on_random_weights_with_ties(self):
        g = torch.Generator().manual_seed(3)
        w = torch.randint(-3, 4, (64, 64), generator=g).float()  # many ties, zeros
        for n, m in ((2, 4), (3, 8), (1, 8), (1, 16), (4, 16), (1, 64)):
            fast = ops.nm_mask(w, n, m)
            key = ops.magnitude_key(w).reshape(-1, m)
            order = torch.sort(key, dim=1, descending=True, stable=True).indices[:, :n]
            slow = torch.zeros_like(key, dtype=torch.bool).scatter_(1, order, True).reshape(w.shape)
            self.assertTrue(torch.equal(fast, slow), f"{n}:{m}")


class SoftThreshold(unittest.TestCase):
    def test_threshold_is_the_m_minus_n_th_smallest(self):
        w = torch.tensor([[0.1, -0.5, 0.3, 0.9, -0.2, 0.7, 0.05, 0.6]])
        # 3:8 -> t = 5th smallest magnitude = 0.5; kept: |w| > 0.5 shrunk by 0.5
        s = ops.soft_threshold(w, 3, 8)
        expect = torch.tensor([[0, 0, 0, 0.4, 0, 0.2, 0, 0.1]])
        self.assertTrue(torch.allclose(s, expect, atol=1e-7), s)
        self.assertLessEqual(int((s != 0).sum()), 3)

    def test_beta_minimises_the_error(self):
        w = torch.randn(32, 64)
        s = ops.soft_threshold(w, 2, 4)
        beta = float(ops.sste_beta(w, s))
        err = lambda b: float(((w - b * s) ** 2).sum())
        self.assertLess(err(beta), err(beta * 1.01))
        self.assertLess(err(beta), err(beta * 0.99))
        self.assertEqual(float(ops.sste_beta(w, torch.zeros_like(w))), 1.0)


class Mvue(unittest.TestCase):
    def test_two_per_group_and_unbiased(self):
        g = torch.Generator().manual_seed(7)
        x = torch.randn(8, 16, generator=g)
        x[0, :4] = 0  # an all-zero group
        draws = 20000
        y = ops.mvue24(x.repeat(draws, 1), generator=g)
        kept = (y.reshape(draws, 8, 4, 4) != 0).sum(dim=3)
        expect = torch.full((8, 4), 2)
        expect[0, 0] = 0  # the zero group: its two drawn values stay 0
        self.assertTrue(torch.all(kept == expect))
        mean = y.double().reshape(draws, 8, 16).mean(dim=0)
        err = (mean - x.double()).abs().max().item()
        self.assertLess(err, 0.06 * x.abs().max().item(), f"E[mvue(x)] deviates from x by {err}")

    def test_training_with_mvue_runs_and_needs_token_multiple_of_4(self):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
        sp = nmt.Sparsifier(model, "srste", "2:4", mvue=True, layers=["2"])
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        model(torch.randn(8, 8)).sum().backward()
        self.assertIsNotNone(model[2].weight.grad)
        sp.step(opt)
        with self.assertRaisesRegex(ValueError, "layer 2: mvue groups 4 tokens, but this forward has 6"):
            model(torch.randn(6, 8))


class Protocol(unittest.TestCase):
    def model(self):
        torch.manual_seed(1)
        return nn.Sequential(nn.Conv2d(4, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))

    def test_conv_groups_run_along_in_channels_times_kernel(self):
        model = self.model()
        sp = nmt.Sparsifier(model, "ste", "2:4")
        w = model[0].weight.detach().reshape(8, -1)
        self.assertTrue(torch.equal(sp.layers[0].mask, ops.nm_mask(w, 2, 4)))
        self.assertEqual(model(torch.randn(2, 4, 6, 6)).shape, (2, 10))
        wf = sp.layers[0].forward_weight.reshape(model[0].weight.shape)
        x = torch.randn(1, 4, 6, 6)
        self.assertTrue(torch.allclose(model[0](x), torch.nn.functional.conv2d(x, wf, model[0].bias)))

    def test_straight_through_gradient_reaches_pruned_weights(self):
        model = self.model()
        nmt.Sparsifier(model, "ste", "2:4")
        model(torch.randn(2, 4, 6, 6)).pow(2).sum().backward()
        g = model[3].weight.grad
        mask = ops.nm_mask(model[3].weight.detach(), 2, 4)
        self.assertGreater(float(g[~mask].abs().sum()), 0.0)

    def test_asp_masks_the_gradient_and_the_weights(self):
        model = nn.Sequential(nn.Linear(8, 8))
        sp = nmt.Sparsifier(model, "asp", "2:4", steps=4, asp_prune_at=0.0)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        model(torch.randn(4, 8)).pow(2).sum().backward()
        mask = sp.layers[0].mask
        self.assertEqual(float(model[0].weight.grad[~mask].abs().sum()), 0.0)
        sp.step(opt)
        self.assertEqual(float(model[0].weight.detach()[~mask].abs().sum()), 0.0)

    def test_errors_name_the_problem(self):
        with self.assertRaisesRegex(ValueError, r"layer 0: input size 36 is not a multiple of M for 1:8.*"
                                                r"keep_indivisible_dense=True"):
            nmt.Sparsifier(self.model(), "ste", "1:8")
        sp = nmt.Sparsifier(self.model(), "ste", "1:8", keep_indivisible_dense=True)
        self.assertEqual([l.name for l in sp.layers], ["3"])
        with self.assertRaisesRegex(ValueError, "recipe: unknown value 'sr-ste'; allowed: dense, ste, srste"):
            nmt.Sparsifier(self.model(), "sr-ste", "2:4")
        with self.assertRaisesRegex(ValueError, "tsrste-df .* nmtrain and the GUI only"):
            nmt.Sparsifier(self.model(), "tsrste-df", "2:4")
        with self.assertRaisesRegex(ValueError, r"nm: 4:4 is out of range; need 1 <= N < M <= 128"):
            nmt.Sparsifier(self.model(), "ste", "4:4")
        with self.assertRaisesRegex(ValueError, "nm: expected N:M such as 2:4"):
            nmt.Sparsifier(self.model(), "ste", "2-4")
        with self.assertRaisesRegex(ValueError, "unknown option 'lamda'; did you mean 'lambda'"):
            nmt.Sparsifier(self.model(), "srste", "2:4", lamda=1e-4)
        with self.assertRaisesRegex(ValueError, "srste_decay: unknown value 'both'"):
            nmt.Sparsifier(self.model(), "srste", "2:4", srste_decay="both")
        with self.assertRaisesRegex(ValueError, "recipe mdgf-exp: its schedule needs the run length; pass steps="):
            nmt.Sparsifier(self.model(), "mdgf-exp", "2:4", keep_indivisible_dense=True)
        with self.assertRaisesRegex(ValueError, "layers: no module named 'fc9'"):
            nmt.Sparsifier(self.model(), "ste", "2:4", layers=["fc9"])
        with self.assertRaisesRegex(ValueError, "layers: '1' is a ReLU, not a Linear or Conv layer"):
            nmt.Sparsifier(self.model(), "ste", "2:4", layers=["1"])

    def test_hooks_out_of_order(self):
        model = self.model()
        sp = nmt.Sparsifier(model, "srste", "2:4")
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with self.assertRaisesRegex(RuntimeError, "no training forward since the last step"):
            sp.before_step()
        with self.assertRaisesRegex(RuntimeError, "after_step\\(\\) called without before_step\\(\\)"):
            sp.after_step(optimizer=opt)
        out = model(torch.randn(2, 4, 6, 6)).sum()
        with self.assertRaisesRegex(RuntimeError, "layer 0 has no gradient; call loss.backward\\(\\) first"):
            sp.before_step()
        out.backward()
        sp.before_step()
        with self.assertRaisesRegex(RuntimeError, "before_step\\(\\) called twice"):
            sp.before_step()
        opt.step()
        sp.after_step(optimizer=opt)
        self.assertEqual(sp.step_count, 1)

    def test_decoupled_decay_shrinks_pruned_weights_by_lr_lambda(self):
        model = nn.Sequential(nn.Linear(8, 4))
        sp = nmt.Sparsifier(model, "srste", "2:4", srste_decay="decoupled", **{"lambda": 0.1})
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        w0 = model[0].weight.detach().clone()
        mask = sp.layers[0].mask.clone()
        model(torch.zeros(1, 8)).sum().backward()
        model[0].weight.grad.zero_()
        sp.step(opt)
        w1 = model[0].weight.detach()
        self.assertTrue(torch.allclose(w1[mask], w0[mask]))
        self.assertTrue(torch.allclose(w1[~mask], w0[~mask] * (1 - 0.5 * 0.1)))

    def test_resume_from_a_state_dict_continues_exactly(self):
        def setup():
            torch.manual_seed(5)
            model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))
            opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            return model, opt

        def steps(model, opt, sp, first, last):
            rows = []
            for step in range(first, last):
                g = torch.Generator().manual_seed(step)
                x, y = torch.randn(8, 16, generator=g), torch.randn(8, 8, generator=g)
                opt.zero_grad()
                torch.nn.functional.mse_loss(model(x), y).backward()
                sp.step(opt)
                rows.append(sp.stats())
            return rows

        for recipe, opts in (("sste", {}), ("asp", {"asp_prune_at": 0.2}), ("srste", {})):
            kw = dict(steps=10, sad_every=3, noise_window=3, **opts)
            model, opt = setup()
            sp = nmt.Sparsifier(model, recipe, "2:4", **kw)
            whole = steps(model, opt, sp, 0, 10)
            trained = model
            model, opt = setup()
            sp = nmt.Sparsifier(model, recipe, "2:4", **kw)
            steps(model, opt, sp, 0, 6)
            saved = {"model": model.state_dict(), "opt": opt.state_dict(), "sparse": sp.state_dict()}
            model2, opt2 = setup()
            with torch.no_grad():  # another initialisation: S-STE's β must come from the state
                for p in model2.parameters():
                    p.mul_(3.0)
            model2.load_state_dict(saved["model"])
            opt2.load_state_dict(saved["opt"])
            sp2 = nmt.Sparsifier(model2, recipe, "2:4", **kw)
            sp2.load_state_dict(saved["sparse"])
            rest = steps(model2, opt2, sp2, 6, 10)
            for a, b in zip(whole[6:], rest):
                for col in nmt.STAT_COLUMNS:
                    self.assertTrue(torch.equal(a[col].nan_to_num(-1.0), b[col].nan_to_num(-1.0)), f"{recipe} {col}")
            for p, q in zip(trained.parameters(), model2.parameters()):
                self.assertTrue(torch.equal(p, q), f"{recipe}: {(p - q).abs().max()}")
        with self.assertRaisesRegex(ValueError, "the state is of srste at 2:4, this Sparsifier trains ste at 2:4"):
            nmt.Sparsifier(setup()[0], "ste", "2:4").load_state_dict(saved["sparse"])

    def test_autocast_bfloat16(self):
        torch.manual_seed(2)
        model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))
        sp = nmt.Sparsifier(model, "sste", "2:4")
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(3):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = model(torch.randn(8, 16))
            self.assertEqual(out.dtype, torch.bfloat16)
            opt.zero_grad()
            out.float().pow(2).mean().backward()
            self.assertEqual(model[0].weight.grad.dtype, torch.float32)
            sp.step(opt)
        self.assertEqual(model[0].weight.dtype, torch.float32)  # masks and W̃ from the fp32 master weights
        self.assertTrue(torch.equal(sp.layers[0].mask, ops.nm_mask(model[0].weight, 2, 4)))
        self.assertTrue(all(torch.isfinite(v.float()).all() for k, v in sp.stats().items() if "noise" not in k
                            and k not in ("sad", "oscillation")))

    def test_remove_restores_the_dense_forward(self):
        model = nn.Sequential(nn.Linear(8, 4))
        sp = nmt.Sparsifier(model, "ste", "1:4")
        x = torch.randn(3, 8)
        self.assertFalse(torch.allclose(model(x), x @ model[0].weight.t() + model[0].bias))
        sp.remove()
        self.assertTrue(torch.allclose(model(x), x @ model[0].weight.t() + model[0].bias))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the same initial weights on both ranks
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))
    sp = nmt.Sparsifier(model, "srste", "2:4")
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(100)
    for _ in range(5):
        x, y = torch.randn(8, 16, generator=g), torch.randn(8, 8, generator=g)
        part = slice(4 * rank, 4 * rank + 4)
        opt.zero_grad()
        torch.nn.functional.mse_loss(ddp(x[part]), y[part]).backward()
        sp.step(opt)
    torch.save({"w": [p.detach() for p in model.parameters()], "masks": [l.mask for l in sp.layers],
                "stats": sp.stats(), "diag": sp.options["diagnostics"]}, os.path.join(out_dir, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


class DistributedDataParallel(unittest.TestCase):
    def test_two_ranks_match_one_process_on_the_whole_batch(self):
        with tempfile.TemporaryDirectory() as d:
            mp.spawn(_ddp_worker, args=(2, _free_port(), d), nprocs=2, join=True)
            r0, r1 = (torch.load(os.path.join(d, f"rank{r}.pt")) for r in (0, 1))
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))
        sp = nmt.Sparsifier(model, "srste", "2:4")
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        g = torch.Generator().manual_seed(100)
        for _ in range(5):
            x, y = torch.randn(8, 16, generator=g), torch.randn(8, 8, generator=g)
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            sp.step(opt)
        for a, b, c in zip(r0["w"], r1["w"], model.parameters()):
            self.assertTrue(torch.equal(a, b), "ranks diverged")
            self.assertTrue(torch.allclose(a, c.detach(), rtol=1e-5, atol=1e-6), "DDP differs from one process")
        for a, b, c in zip(r0["masks"], r1["masks"], sp.layers):
            self.assertTrue(torch.equal(a, b) and torch.equal(a, c.mask))
        self.assertTrue(r0["diag"])
        self.assertFalse(r1["diag"])  # statistics on rank 0 only, by default
        self.assertTrue(torch.equal(r0["stats"]["flips"], sp.stats()["flips"]))


if __name__ == "__main__":
    unittest.main()
