"""`pip install ./python` into a venv made on Debian's Python (--system-site-packages), then used from elsewhere."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

USE = """
import os, sys, torch
import nmstudio, nmstudio.torch as nmt
assert nmstudio.__file__.startswith(sys.prefix), nmstudio.__file__
model = torch.nn.Sequential(torch.nn.Linear(8, 8))
sp = nmt.Sparsifier(model, "srste", "2:4")
opt = torch.optim.SGD(model.parameters(), lr=0.1)
with nmstudio.Recorder(sys.argv[1]) as rec:
    run = rec.add_run("r", recipe="srste", nm="2:4", layers=sp.layer_info, parameter_count=72)
    model(torch.randn(4, 8)).sum().backward()
    sp.step(opt)
    run.log(1, loss=0.5, layers=sp.stats())
    run.finish()
print("installed", nmstudio.__version__)
"""


class PipInstall(unittest.TestCase):
    def test_venv_with_system_site_packages(self):
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "src")  # a copy: the build leaves build/ and *.egg-info/ beside the sources
            shutil.copytree(SOURCE, src, ignore=shutil.ignore_patterns("tests", "__pycache__", "build", "*.egg-info"))
            venv = os.path.join(d, "venv")
            subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
            py = os.path.join(venv, "bin", "python")
            # Debian's h5py carries no "h5py" metadata, so its dependency cannot be resolved by pip:
            # --no-deps uses the system's numpy, h5py and torch as they are.
            pip = subprocess.run([py, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", src],
                                 capture_output=True, text=True)
            self.assertEqual(pip.returncode, 0, pip.stdout + pip.stderr)
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            out = subprocess.run([py, "-c", USE, os.path.join(d, "r.h5")], cwd=d, env=env, capture_output=True,
                                 text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("installed 0.1.0", out.stdout)
            self.assertTrue(os.path.exists(os.path.join(d, "r.h5")))


if __name__ == "__main__":
    unittest.main()
