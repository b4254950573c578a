"""python/examples/fmnist_ddp.py under DDP (2 processes, gloo): its file opens live in the C++ reader and in nmstudio."""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

import h5py

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "fmnist_ddp.py")
DATA = "/usr/share/datasets/fashion-mnist"


def tool(name):
    path = os.environ.get(name)
    if path is None:
        raise RuntimeError(f"set {name} (ctest does)")
    return path


def check(path):
    out = subprocess.run([tool("NMRUNFILE_CHECK"), path], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


class ExampleUnderDdp(unittest.TestCase):
    def test_two_processes_write_one_file_that_opens_while_written(self):
        if not os.path.isdir(DATA):
            self.fail(f"{DATA} is missing: install dataset-fashion-mnist (.ci/setup does)")
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "fmnist.h5")
            proc = subprocess.Popen(
                [sys.executable, EXAMPLE, "--out", out, "--nproc", "2", "--threads", "1", "--recipes", "ste,sste",
                 "--steps", "40", "--eval-every", "20", "--snapshot-every", "20", "--batch", "64",
                 "--val-count", "1000", "--test-count", "2000"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                live = None
                deadline = time.time() + 240
                while time.time() < deadline and proc.poll() is None:
                    if os.path.exists(out):
                        with h5py.File(out, "r", swmr=True) as f:
                            steps = f["runs/000_ste_s1/train/step"]
                            steps.refresh()
                            if steps.shape[0] > 0 and steps[-1] >= 0:
                                live = check(out)
                                export = os.path.join(d, "live")
                                if tool("NMSTUDIO"):  # empty in a build without the GUI
                                    gui = subprocess.run([tool("NMSTUDIO"), "--export", export, out],
                                                         capture_output=True, text=True, timeout=120,
                                                         env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
                                break
                    time.sleep(0.2)
                stdout, stderr = proc.communicate(timeout=300)
            finally:
                if proc.poll() is None:
                    proc.kill()
            self.assertEqual(proc.returncode, 0, stderr)
            self.assertIsNotNone(live, "the file never showed a step while the example ran")
            self.assertEqual(live["runs"][0]["status"], "Running")
            self.assertEqual(live["runs"][1]["status"], "Pending")
            if tool("NMSTUDIO"):
                self.assertEqual(gui.returncode, 0, gui.stderr)
                self.assertGreater(len(os.listdir(export)), 0)

            self.assertEqual(stdout.count("final run="), 2, stdout)
            done = check(out)
            self.assertEqual([r["name"] for r in done["runs"]], ["ste_s1", "sste_s1"])
            for r in done["runs"]:
                self.assertEqual(r["status"], "Completed")
                self.assertEqual(r["last_step"], 40)
                self.assertEqual(r["sparse_layers"], ["conv2", "fc1", "fc2"])
                self.assertEqual(r["snapshot_steps"], [0, 20, 40])
                self.assertEqual(r["config"]["recipe"], r["recipe"])  # the reader takes the recipe's settings
                self.assertEqual(r["config"]["steps"], 40)
                self.assertEqual(len(r["series"]["train/loss"]["values"]), 40)
                self.assertGreater(r["summary"]["test_accuracy"], 0.5)  # 40 steps of a CNN: well above chance
            with h5py.File(out, "r") as f:
                flips = f["runs/000_ste_s1/layer_stats/flips"][:]
                self.assertEqual(flips.shape, (40, 3))
                self.assertGreater(int(flips.sum()), 0)
                self.assertEqual(f["runs/001_sste_s1/layer_stats/beta"].shape, (40, 3))


if __name__ == "__main__":
    unittest.main()
