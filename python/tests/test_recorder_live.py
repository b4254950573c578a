"""nmstudio.Recorder while it writes: a writer killed with SIGKILL leaves a readable file, a
reader follows a file being written, torch tensors are copied to the host once per flush, and
importing nmstudio needs no torch."""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

import h5py
import numpy as np

from test_recorder import check_file

WRITER = textwrap.dedent("""
    import sys, time
    from nmstudio import Recorder
    rec = Recorder(sys.argv[1], flush_seconds=0.2)
    run = rec.add_run("live", layers=[{"name": "fc", "in": 8, "out": 4, "sparse": True}])
    stop = float(sys.argv[2])
    t0 = time.monotonic()
    step = 0
    while stop <= 0 or time.monotonic() - t0 < stop:
        step += 1
        run.log(step, loss=1.0 / step, lr=step * 0.5, layers={"flips": [step], "sparsity": [step / 1e6]})
        time.sleep(0.002)
    run.finish()
    rec.close()
""")


def start_writer(path, seconds):
    return subprocess.Popen([sys.executable, "-c", WRITER, path, str(seconds)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(path, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("the writer did not create %s: %s" % (path, proc.communicate()[1]))
        time.sleep(0.02)


class LiveTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "live.h5")

    def tearDown(self):
        self.tmp.cleanup()

    def test_sigkill_leaves_a_readable_file(self):
        proc = start_writer(self.path, 0)
        wait_for(self.path, proc)
        time.sleep(1.5)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        self.assertEqual(proc.returncode, -signal.SIGKILL)
        with h5py.File(self.path, "r", swmr=True) as f:
            g = f["runs/000_live"]
            self.assertEqual(g["status"][()], b"Running")
            steps = g["train/step"][()]
            n = min(len(steps), len(g["train/loss"]), len(g["train/lr"]))
            visible = steps[:n][steps[:n] >= 0]
            self.assertGreater(len(visible), 10)
            np.testing.assert_array_equal(visible, np.arange(1, len(visible) + 1))
            np.testing.assert_array_equal(g["train/loss"][:len(visible)], np.float32(1.0 / visible))
            np.testing.assert_array_equal(g["train/lr"][:len(visible)], visible * 0.5)
            ls = g["layer_stats/step"][()]
            m = min(len(ls), len(g["layer_stats/flips"]))
            lv = ls[:m][ls[:m] >= 0]
            np.testing.assert_array_equal(g["layer_stats/flips"][:len(lv), 0], lv)
            self.assertTrue(np.isfinite(g["/updated"][()]))
        j = check_file(self, self.path)
        run = j["runs"][0]
        self.assertEqual(run["status"], "Running")
        self.assertGreaterEqual(run["last_step"], len(visible))
        steps = run["series"]["train/loss"]["steps"]
        self.assertEqual(steps, list(range(1, len(steps) + 1)))
        self.assertEqual(run["series"]["train/loss"]["values"], [float(np.float32(1.0 / s)) for s in steps])
        self.assertEqual(run["layer_series"]["flips"]["values"], [float(s) for s in
                                                                  run["layer_series"]["flips"]["steps"]])

    def test_a_reader_follows_the_writer(self):
        proc = start_writer(self.path, 2.5)
        try:
            wait_for(self.path, proc)
            seen = []
            mid = None
            with h5py.File(self.path, "r", swmr=True) as f:
                ds = f["runs/000_live/train/step"]
                while proc.poll() is None:
                    ds.refresh()
                    if not seen or ds.shape[0] != seen[-1]:
                        seen.append(ds.shape[0])
                    if mid is None and ds.shape[0] > 0:
                        mid = check_file(self, self.path)
                    time.sleep(0.05)
            self.assertEqual(proc.wait(), 0, proc.stderr.read())
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        self.assertGreaterEqual(len([s for s in seen if s > 0]), 3, "step counts seen: %s" % seen)
        self.assertEqual(seen, sorted(seen))
        self.assertEqual(mid["runs"][0]["status"], "Running")
        j = check_file(self, self.path)
        self.assertEqual(j["runs"][0]["status"], "Completed")
        self.assertGreaterEqual(j["runs"][0]["last_step"], seen[-1])


class TorchTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "torch.h5")

    def tearDown(self):
        self.tmp.cleanup()

    def test_tensors_are_copied_once_per_flush(self):
        import torch
        from nmstudio import Recorder
        copies = []
        original = torch.Tensor.cpu

        def counting_cpu(self, *a, **k):
            copies.append(tuple(self.shape))
            return original(self, *a, **k)

        torch.Tensor.cpu = counting_cpu
        try:
            rec = Recorder(self.path, flush_seconds=3600)
            run = rec.add_run("t", layers=[{"name": "a", "in": 4, "out": 2, "sparse": True},
                                           {"name": "b", "in": 4, "out": 2, "sparse": True}], scalars=("s",))
            flips = torch.tensor([1, 2])
            for step in range(1, 6):
                loss = torch.tensor(1.0 / step, requires_grad=True) * 1
                run.log(step, loss=loss, lr=torch.tensor(0.1, dtype=torch.float64),
                        layers={"flips": flips * step, "sparsity": [torch.tensor(0.5), torch.tensor(0.25)]},
                        s=torch.tensor(step))
                flips += 100  # an in-place change after the log does not reach the logged row
            self.assertEqual(copies, [])
            rec.flush()
            self.assertEqual(len(copies), 1, copies)  # one transfer for every buffered tensor
            w = torch.arange(8.0).reshape(2, 4)
            run.snapshot(5, [{"weight": w, "forward": w, "mask": w > 2}] * 2)
            run.finish(val_loss=torch.tensor(0.5))
            rec.close()
        finally:
            torch.Tensor.cpu = original
        with h5py.File(self.path, "r") as f:
            g = f["runs/000_t"]
            np.testing.assert_array_equal(g["train/loss"][()], np.float32([1.0 / s for s in range(1, 6)]))
            np.testing.assert_array_equal(g["train/lr"][()], [0.1] * 5)
            np.testing.assert_array_equal(g["layer_stats/flips"][()], [[(1 + 100 * (s - 1)) * s,
                                                                        (2 + 100 * (s - 1)) * s]
                                                                       for s in range(1, 6)])
            np.testing.assert_array_equal(g["layer_stats/sparsity"][()], [[0.5, 0.25]] * 5)
            np.testing.assert_array_equal(g["scalars/s"][()], [1, 2, 3, 4, 5])
            bits = np.unpackbits(g["snapshots/a/mask"][0], axis=-1, bitorder="little")[:, :4]
            np.testing.assert_array_equal(bits, (np.arange(8).reshape(2, 4) > 2).astype(np.uint8))
            self.assertEqual(float(g["summary/val_loss"][()]), 0.5)

    def test_import_needs_no_torch(self):
        code = textwrap.dedent("""
            import sys
            sys.modules["torch"] = None  # import torch now fails
            import nmstudio
            from nmstudio import Recorder
            with Recorder(sys.argv[1]) as rec:
                run = rec.add_run("r")
                run.log(1, loss=1.0)
                run.finish()
            print(nmstudio.__version__, "torch" in sys.modules and sys.modules["torch"] is not None)
        """)
        p = subprocess.run([sys.executable, "-c", code, self.path], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), ["0.1.0", "False"])
        self.assertEqual(check_file(self, self.path)["runs"][0]["status"], "Completed")


if __name__ == "__main__":
    unittest.main()
