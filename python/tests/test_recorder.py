"""nmstudio.Recorder: its files read back in h5py and in nm::RunFileReader (nmrunfile_check),
match nmtrain's files in structure, open in the GUI, and bad input gets clear errors.

Run under ctest (label python), which sets NMRUNFILE_CHECK, NMTRAIN and NMSTUDIO; without them
the tests that need the programs fail.
"""

import json
import math
import os
import subprocess
import tempfile
import unittest

import h5py
import numpy as np

from nmstudio import Recorder, __version__
from nmstudio.recorder import LAYER_FIELDS

LAYERS = [
    {"name": "fc1", "in": 16, "out": 8, "sparse": True, "n": 2, "m": 4, "dense_params": 136, "effective_params": 72},
    {"name": "block/fc2", "in": 8, "out": 8, "sparse": True, "n": 1, "m": 4, "dense_params": 72,
     "effective_params": 24},
    {"name": "head", "in": 8, "out": 3, "sparse": False, "n": 0, "m": 0, "dense_params": 27, "effective_params": 27},
]
SPARSE = [l for l in LAYERS if l["sparse"]]
STEPS = 50
SNAPSHOT_STEPS = (0, 20, 40, 50)


def tool(test, var):
    """The program named by environment variable `var`; the test fails when it is not set."""
    path = os.environ.get(var)
    if not path:
        test.fail("%s is not set: run the Python tests with ctest (label python), which sets it, or set it to the "
                  "program's path" % var)
    if not os.access(path, os.X_OK):
        test.fail("%s=%s is not an executable program; build it first" % (var, path))
    return path


def check_file(test, path, *args):
    """nmrunfile_check's JSON for `path` (the test fails when the reader refuses the file)."""
    p = subprocess.run([tool(test, "NMRUNFILE_CHECK"), path, *args], capture_output=True, text=True, timeout=120)
    test.assertEqual(p.returncode, 0, "nmrunfile_check refused %s: %s" % (path, p.stderr))
    return json.loads(p.stdout)


def f32(v):
    return float(np.float32(v))


def same(a, b):
    """Equal numbers, or both NaN (JSON null reads as None)."""
    a = math.nan if a is None else float(a)
    b = math.nan if b is None else float(b)
    return (math.isnan(a) and math.isnan(b)) or a == b


def layer_stats_row(rng, step):
    row = {}
    for name, dtype in LAYER_FIELDS:
        if dtype.kind == "i":
            row[name] = [int(step * 3 + l) for l in range(len(SPARSE))]
        else:
            row[name] = [float(v) for v in rng.standard_normal(len(SPARSE))]
    del row["sad"]  # a missing column reads as NaN
    return row


def snapshot_layers(rng, step):
    out = []
    for l in SPARSE:
        w = rng.standard_normal((l["out"], l["in"])).astype(np.float32)
        mask = rng.random((l["out"], l["in"])) < 0.5
        out.append({"name": l["name"], "weight": w, "forward": w * mask, "mask": mask, "beta": 1.0 + step,
                    "alpha": 0.5, "n": l["n"], "m": l["m"]})
    return out


def write_sample(path, **recorder_options):
    """Two runs of 50 steps (2 sparse + 1 dense layer), snapshots, evaluations, an extra scalar;
    returns what was logged."""
    rng = np.random.default_rng(7)
    logged = []
    with Recorder(path, **recorder_options) as rec:
        runs = []
        for k, (name, task) in enumerate((("srste s1", "classification"), ("ste_s2", "language"))):
            runs.append(rec.add_run(name, recipe="srste" if k == 0 else "ste", nm="2:4", seed=k + 1,
                                    config={"steps": STEPS, "lr": 0.1, "seed": k + 1}, model="MLP 16-8-8-3",
                                    data="synthetic", task=task, layers=LAYERS, parameter_count=235, threads=2,
                                    blas_kernel="Haswell", scalars=("grad_scale",)))
        for k, run in enumerate(runs):
            rec_run = {"train": [], "layers": [], "scalars": [], "val": [], "test": [], "continuity": [],
                       "snapshots": []}
            snap = snapshot_layers(rng, 0)
            run.snapshot(0, snap)
            rec_run["snapshots"].append((0, snap))
            for step in range(1, STEPS + 1):
                row = {"loss": 2.0 / step + k, "accuracy": step / 100.0, "lr": 0.1 * (1 - step / 100.0),
                       "grad_norm": 1.0 + step, "step_seconds": 0.01 * (1 + step % 3), "flops": 2.5e9 * step}
                stats = layer_stats_row(rng, step)
                extra = {} if step % 5 == 0 else {"grad_scale": 2.0 ** step}
                run.log(step, layers=stats, **row, **extra)
                rec_run["train"].append((step, row))
                rec_run["layers"].append((step, stats))
                if extra:
                    rec_run["scalars"].append((step, extra["grad_scale"]))
                if step % 10 == 0 and k == 0:
                    c = {"loss_before": 1.0 / step, "dF1": 0.1, "dF2": 0.2, "aod_actual": 0.3, "aod_predicted": 0.4,
                         "aod_predicted_ste": 0.5, "flips": step}
                    run.continuity(step, **c)
                    rec_run["continuity"].append((step, c))
                if step % 25 == 0:
                    run.evaluate(step, "val", loss=0.5 + 1.0 / step, accuracy=0.8)
                    rec_run["val"].append((step, 0.5 + 1.0 / step, 0.8))
                if step in SNAPSHOT_STEPS:
                    snap = snapshot_layers(rng, step)
                    run.snapshot(step, snap)
                    rec_run["snapshots"].append((step, snap))
            run.evaluate(STEPS, "test", loss=0.7, accuracy=0.75)
            rec_run["test"].append((STEPS, 0.7, 0.75))
            run.finish("Completed", val_loss=0.52, val_accuracy=0.8, test_loss=0.7, test_accuracy=0.75)
            logged.append(rec_run)
    return logged


class RecorderFileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.path = os.path.join(cls.tmp.name, "sample.h5")
        cls.logged = write_sample(cls.path)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_h5py_reads_back_what_was_logged(self):
        with h5py.File(self.path, "r") as f:
            self.assertEqual(f.attrs["schema"], "nmstudio-run")
            self.assertEqual(f.attrs["schema_version"].dtype, np.int32)
            self.assertEqual(int(f.attrs["schema_version"]), 1)
            self.assertEqual(f.attrs["tool_version"], "nmstudio-python " + __version__)
            self.assertRegex(f.attrs["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            self.assertEqual(f.attrs["run_count"].dtype, np.int32)
            self.assertEqual(int(f.attrs["run_count"]), 2)
            self.assertEqual(f["updated"].dtype, np.float64)
            self.assertTrue(math.isfinite(f["updated"][()]))
            self.assertEqual(sorted(f["runs"]), ["000_srste_s1", "001_ste_s2"])
            for k, (group, logged) in enumerate(zip(("000_srste_s1", "001_ste_s2"), self.logged)):
                g = f["runs"][group]
                with self.subTest(run=group):
                    self.check_run(g, k, logged)

    def check_run(self, g, k, logged):
        a = g.attrs
        self.assertEqual(a["name"], ["srste s1", "ste_s2"][k])
        self.assertEqual((a["index"].dtype, int(a["index"])), (np.int32, k))
        self.assertEqual(a["recipe"], ["srste", "ste"][k])
        self.assertEqual(a["recipe_title"], ["SR-STE", "STE"][k])
        self.assertEqual((a["seed"].dtype, int(a["seed"])), (np.uint64, k + 1))
        self.assertEqual(json.loads(a["config_json"]), {"steps": STEPS, "lr": 0.1, "seed": k + 1})
        self.assertEqual(a["task"], ["classification", "language"][k])
        self.assertEqual((a["parameter_count"].dtype, int(a["parameter_count"])), (np.int64, 235))
        self.assertEqual(int(a["effective_parameter_count"]), 235 - (136 - 72) - (72 - 24))
        self.assertEqual((a["threads"].dtype, a["blas_kernel"]), (np.int32, "Haswell"))
        self.assertNotIn("fork_step", a)
        self.assertEqual(g["status"].dtype, np.dtype("S16"))
        self.assertEqual(g["status"][()], b"Completed")

        self.assertEqual([n.decode() for n in g["layers/name"][()]], [l["name"] for l in LAYERS])
        for key, dtype in (("in", np.int32), ("out", np.int32), ("sparse", np.int32), ("n", np.int32),
                           ("m", np.int32), ("dense_params", np.int64), ("effective_params", np.int64)):
            self.assertEqual(g["layers"][key].dtype, dtype)
            self.assertEqual(list(g["layers"][key][()]), [int(l[key]) for l in LAYERS])

        train = logged["train"]
        self.assertEqual(list(g["train/step"][()]), [s for s, _ in train])
        self.assertEqual(g["train/step"].maxshape, (None,))
        for key, dtype in (("loss", np.float32), ("accuracy", np.float32), ("lr", np.float64),
                           ("grad_norm", np.float64), ("step_seconds", np.float64), ("flops", np.float64)):
            ds = g["train"][key]
            self.assertEqual((ds.dtype, ds.shape, ds.maxshape), (dtype, (STEPS,), (None,)), key)
            np.testing.assert_array_equal(ds[()], np.array([r[key] for _, r in train], dtype=dtype), key)
        np.testing.assert_allclose(g["train/elapsed_seconds"][()], np.cumsum([r["step_seconds"] for _, r in train]))

        ls = g["layer_stats"]
        self.assertEqual([n.decode() for n in ls["layer"][()]], [l["name"] for l in SPARSE])
        self.assertEqual(list(ls["step"][()]), list(range(1, STEPS + 1)))
        for name, dtype in LAYER_FIELDS:
            ds = ls[name]
            self.assertEqual((ds.dtype, ds.shape, ds.maxshape), (dtype, (STEPS, 2), (None, 2)), name)
            if name == "sad":
                self.assertTrue(np.isnan(ds[()]).all())
            else:
                np.testing.assert_array_equal(ds[()], np.array([r[name] for _, r in logged["layers"]], dtype=dtype))

        self.assertEqual(list(g["scalars/step"][()]), [s for s, _ in logged["scalars"]])
        self.assertEqual(g["scalars/grad_scale"].dtype, np.float64)
        np.testing.assert_array_equal(g["scalars/grad_scale"][()], [v for _, v in logged["scalars"]])

        for split in ("val", "test"):
            rows = logged[split]
            self.assertEqual(list(g[split]["step"][()]), [s for s, _, _ in rows])
            np.testing.assert_array_equal(g[split]["loss"][()], np.float32([l for _, l, _ in rows]))
            np.testing.assert_array_equal(g[split]["accuracy"][()], np.float32([a for _, _, a in rows]))
            bpc = g[split]["bits_per_char"][()]
            if k == 1:  # language
                np.testing.assert_allclose(bpc, [l / math.log(2) for _, l, _ in rows], rtol=1e-6)
            else:
                self.assertTrue(np.isnan(bpc).all())

        cont = logged["continuity"]
        self.assertEqual(list(g["continuity/step"][()]), [s for s, _ in cont])
        self.assertEqual(g["continuity/flips"].dtype, np.int64)
        for key in ("loss_before", "dF1", "dF2", "aod_actual", "aod_predicted", "aod_predicted_ste", "flips"):
            np.testing.assert_array_equal(g["continuity"][key][()],
                                          np.array([c[key] for _, c in cont], dtype=g["continuity"][key].dtype))

        snaps = logged["snapshots"]
        self.assertEqual(list(g["snapshots/step"][()]), [s for s, _ in snaps])
        for li, l in enumerate(SPARSE):
            sg = g["snapshots"][l["name"].replace("/", "_")]
            self.assertEqual(sg.attrs["name"], l["name"])
            w = sg["weight"]
            self.assertEqual((w.dtype, w.shape, w.maxshape), (np.float32, (4, l["out"], l["in"]), (None, l["out"],
                                                                                                   l["in"])))
            self.assertEqual((w.compression, w.compression_opts, w.shuffle), ("gzip", 4, True))
            self.assertEqual(sg["mask"].dtype, np.uint8)
            self.assertEqual(sg["mask"].shape, (4, l["out"], (l["in"] + 7) // 8))
            for i, (step, layers) in enumerate(snaps):
                exp = layers[li]
                np.testing.assert_array_equal(w[i], exp["weight"])
                np.testing.assert_array_equal(sg["forward"][i], exp["forward"])
                bits = np.unpackbits(sg["mask"][i], axis=-1, bitorder="little")[:, :l["in"]]
                np.testing.assert_array_equal(bits, exp["mask"].astype(np.uint8))
                self.assertEqual(float(sg["beta"][i]), exp["beta"])
                self.assertEqual(float(sg["alpha"][i]), exp["alpha"])
                self.assertEqual((int(sg["n"][i]), int(sg["m"][i])), (l["n"], l["m"]))

        sm = g["summary"]
        self.assertEqual((sm["step"].dtype, int(sm["step"][()])), (np.int64, STEPS))
        for key, v in (("val_loss", 0.52), ("val_accuracy", 0.8), ("test_loss", 0.7), ("test_accuracy", 0.75)):
            self.assertEqual(sm[key].dtype, np.float32)
            self.assertEqual(float(sm[key][()]), f32(v))
        self.assertEqual(sm["seconds"].dtype, np.float64)
        self.assertAlmostEqual(float(sm["seconds"][()]), sum(r["step_seconds"] for _, r in train))

    def test_cpp_reader_reads_back_what_was_logged(self):
        j = check_file(self, self.path, "--series", "scalars/grad_scale")
        self.assertEqual((j["schema_version"], j["run_count"], j["tool_version"]),
                         (1, 2, "nmstudio-python " + __version__))
        self.assertTrue(j["follows_writer"])
        for k, (run, logged) in enumerate(zip(j["runs"], self.logged)):
            with self.subTest(run=run["group"]):
                self.assertEqual(run["group"], ["runs/000_srste_s1", "runs/001_ste_s2"][k])
                self.assertEqual((run["name"], run["status"], run["last_step"]), (["srste s1", "ste_s2"][k],
                                                                                 "Completed", STEPS))
                self.assertEqual((run["recipe"], run["seed"], run["nm"], run["threads"]),
                                 (["srste", "ste"][k], k + 1, "2:4", 2))
                self.assertEqual((run["model"], run["data"], run["blas_kernel"]), ("MLP 16-8-8-3", "synthetic",
                                                                                  "Haswell"))
                self.assertEqual(run["fork_step"], -1)
                self.assertEqual(run["layers"], LAYERS)
                self.assertEqual(run["sparse_layers"], [l["name"] for l in SPARSE])
                s = run["summary"]
                self.assertEqual((s["step"], s["status"]), (STEPS, "Completed"))
                self.assertEqual((s["val_loss"], s["test_accuracy"]), (f32(0.52), f32(0.75)))
                series = run["series"]
                train = logged["train"]
                for key in ("loss", "accuracy", "lr", "grad_norm", "step_seconds"):
                    self.assertEqual(series["train/" + key]["steps"], [st for st, _ in train])
                    self.assertEqual(series["train/" + key]["values"], [f32(r[key]) for _, r in train], key)
                for split in ("val", "test"):
                    self.assertEqual(series[split + "/loss"]["steps"], [st for st, _, _ in logged[split]])
                    self.assertEqual(series[split + "/loss"]["values"], [f32(l) for _, l, _ in logged[split]])
                cont = logged["continuity"]
                self.assertEqual(series["continuity/dF2"]["steps"], [st for st, _ in cont])
                self.assertEqual(series["continuity/flips"]["values"], [float(c["flips"]) for _, c in cont])
                self.assertEqual(series["scalars/grad_scale"]["steps"], [st for st, _ in logged["scalars"]])
                self.assertEqual(series["scalars/grad_scale"]["values"], [f32(v) for _, v in logged["scalars"]])
                for name, _ in LAYER_FIELDS:
                    ls = run["layer_series"][name]
                    self.assertEqual((ls["layers"], ls["steps"]), (2, list(range(1, STEPS + 1))), name)
                    expected = [f32(v) for _, r in logged["layers"] for v in r.get(name, [math.nan, math.nan])]
                    self.assertTrue(all(same(a, b) for a, b in zip(ls["values"], expected)), name)
                    self.assertEqual(len(ls["values"]), len(expected))
                self.assertEqual(run["snapshot_steps"], list(SNAPSHOT_STEPS))
                for snap, (step, layers) in zip(run["snapshots"], logged["snapshots"]):
                    self.assertEqual(snap["step"], step)
                    for got, exp in zip(snap["layers"], layers):
                        self.assertEqual(got["name"], exp["name"])
                        self.assertEqual(got["weight"], [float(v) for v in exp["weight"].ravel()])
                        self.assertEqual(got["forward"], [float(v) for v in exp["forward"].ravel()])
                        self.assertEqual(got["mask"], [int(v) for v in exp["mask"].ravel()])
                        self.assertEqual((got["beta"], got["alpha"], got["n"], got["m"]),
                                         (exp["beta"], exp["alpha"], exp["n"], exp["m"]))

    def test_gui_exports_the_charts(self):
        if "NMSTUDIO" not in os.environ:
            self.fail("NMSTUDIO is not set: run the Python tests with ctest (label python), which sets it (empty "
                      "when the build has no GUI)")
        if not os.environ["NMSTUDIO"]:
            self.skipTest("this build has no GUI (NM_BUILD_GUI=OFF)")
        gui = tool(self, "NMSTUDIO")
        with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as runtime:
            os.chmod(runtime, 0o700)
            env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=runtime)
            p = subprocess.run([gui, "--export", out, self.path], capture_output=True, text=True, env=env,
                               timeout=300)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(p.stderr.strip(), "")
            self.assertIn("status=Completed", p.stdout)
            files = os.listdir(out)
            self.assertGreater(len(files), 0)
            self.assertIn("wrote %d files" % len(files), p.stdout)


def structure(path):
    """Every dataset's and group's shape of `path` (not its values): dtype, rank, chunks, maxshape,
    filters, fill value and attributes; checkpoints/ and snapshots/LAYER/flip_count (optional) and
    the run's name left out."""
    out = {}
    with h5py.File(path, "r", swmr=True) as f:
        out["/"] = ("group", sorted(f.attrs), tuple(f.attrs[k].dtype.str if hasattr(f.attrs[k], "dtype") else "str"
                                                      for k in sorted(f.attrs)))

        def visit(name, obj):
            parts = name.split("/")
            if "checkpoints" in parts or (parts[-1] == "flip_count" and "snapshots" in parts):
                return
            if len(parts) >= 2 and parts[0] == "runs":
                parts[1] = "RUN"
            key = "/".join(parts)
            attrs = tuple((k, obj.attrs[k].dtype.str if hasattr(obj.attrs[k], "dtype") else "str")
                          for k in sorted(obj.attrs))
            if isinstance(obj, h5py.Group):
                out[key] = ("group", attrs)
            else:
                strings = h5py.check_string_dtype(obj.dtype)
                fill = None if strings else obj.fillvalue
                fill = "nan" if isinstance(fill, float) and math.isnan(fill) else fill
                out[key] = ("dataset", obj.dtype.str, None if strings is None else (strings.encoding, strings.length),
                            len(obj.shape), obj.chunks, obj.maxshape[:1] if obj.shape else (), obj.maxshape[1:],
                            obj.compression, obj.compression_opts, obj.shuffle, str(fill), attrs)
        f.visititems(visit)
    return out


class NmtrainFileTest(unittest.TestCase):
    """Files of the same run shape from nmtrain and from the recorder have the same structure."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.cxx = os.path.join(cls.tmp.name, "nmtrain.h5")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def nmtrain_file(self):
        if not os.path.exists(self.cxx):
            p = subprocess.run([tool(self, "NMTRAIN"), "--data", "synthetic", "--steps", "30", "--recipe", "srste",
                                "--snapshot-every", "10", "--continuity-every", "10", "--out", self.cxx],
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return self.cxx

    def test_same_structure_as_nmtrain(self):
        cxx = self.nmtrain_file()
        with h5py.File(cxx, "r", swmr=True) as f:
            g = f["runs/000_run"]
            layers = [{"name": n.decode(), "in": int(i), "out": int(o), "sparse": bool(s), "n": int(nn), "m": int(m)}
                      for n, i, o, s, nn, m in zip(*(g["layers"][k][()] for k in ("name", "in", "out", "sparse",
                                                                                  "n", "m")))]
            task = g.attrs["task"]
        py = os.path.join(self.tmp.name, "python.h5")
        rng = np.random.default_rng(1)
        sparse = [l for l in layers if l["sparse"]]
        with Recorder(py) as rec:
            run = rec.add_run("run", recipe="srste", layers=layers, task=task, parameter_count=1000, config={})
            for step in range(1, 31):
                run.log(step, loss=1.0, accuracy=0.5, lr=0.1, grad_norm=1.0, step_seconds=0.01,
                        layers={"flips": [1] * len(sparse)})
                if step % 10 == 0:
                    run.continuity(step, loss_before=1, dF1=0, dF2=0, aod_actual=0, aod_predicted=0)
                    run.snapshot(step, [{"weight": rng.standard_normal((l["out"], l["in"])),
                                         "forward": np.zeros((l["out"], l["in"])),
                                         "mask": np.ones((l["out"], l["in"]), bool)} for l in sparse])
            run.evaluate(30, "val", loss=1.0, accuracy=0.5)
            run.evaluate(30, "test", loss=1.0, accuracy=0.5)
            run.finish()
        a, b = structure(cxx), structure(py)
        self.assertEqual(sorted(set(a) - set(b)), [], "in nmtrain's file only")
        self.assertEqual(sorted(set(b) - set(a)), [], "in the recorder's file only")
        for key in sorted(a):
            if key == "/":  # tool_version differs in value only
                self.assertEqual(a[key][:2], b[key][:2])
                continue
            self.assertEqual(a[key], b[key], key)

    def test_append_to_an_nmtrain_file(self):
        cxx = self.nmtrain_file()
        path = os.path.join(self.tmp.name, "appended.h5")
        with open(cxx, "rb") as src, open(path, "wb") as dst:
            dst.write(src.read())
        with Recorder(path, append=True) as rec:
            run = rec.add_run("from python", layers=[{"name": "fc", "in": 4, "out": 4, "sparse": True}])
            for step in range(1, 4):
                run.log(step, loss=1.0 / step)
            run.finish()
        j = check_file(self, path, "--snapshot-sums")
        self.assertEqual(j["run_count"], 2)
        self.assertEqual([r["group"] for r in j["runs"]], ["runs/000_run", "runs/001_from_python"])
        self.assertEqual([r["status"] for r in j["runs"]], ["Completed", "Completed"])
        self.assertEqual(j["runs"][1]["series"]["train/loss"]["values"], [f32(1.0), f32(0.5), f32(1 / 3)])
        self.assertEqual(j["runs"][0]["series"]["train/loss"]["steps"], list(range(1, 31)))
        self.assertEqual(j["tool_version"], "0.1.0")  # the file's creator stays
        with h5py.File(path, "r") as f:
            self.assertEqual(int(f.attrs["run_count"]), 2)
        self.assertFalse(os.path.exists(path + ".partial"))


def one_run(path, steps=3, **options):
    with Recorder(path, **options) as rec:
        run = rec.add_run("r", layers=LAYERS)
        for step in range(1, steps + 1):
            run.log(step, loss=float(step))
        run.finish()


class ErrorsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.path = os.path.join(self.dir, "runs.h5")

    def tearDown(self):
        self.tmp.cleanup()

    def started(self, **kw):
        rec = Recorder(self.path, **kw)
        self.addCleanup(rec.close)
        run = rec.add_run("r", layers=LAYERS, scalars=("grad_scale",))
        run.log(1, loss=1.0)
        return rec, run

    def test_existing_file_is_refused_and_left_as_it_is(self):
        with open(self.path, "wb") as f:
            f.write(b"user data")
        with self.assertRaises(FileExistsError) as cm:
            Recorder(self.path)
        msg = str(cm.exception)
        for part in (self.path, "overwrite=True", "append=True"):
            self.assertIn(part, msg)
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), b"user data")
        self.assertEqual(os.listdir(self.dir), ["runs.h5"])

    def test_file_appearing_before_start_is_not_replaced(self):
        rec = Recorder(self.path)
        run = rec.add_run("r")
        with open(self.path, "wb") as f:
            f.write(b"user data")
        with self.assertRaises(FileExistsError):
            run.log(1, loss=1.0)
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), b"user data")
        self.assertEqual(os.listdir(self.dir), ["runs.h5"])

    def test_overwrite_replaces(self):
        one_run(self.path, steps=5)
        one_run(self.path, steps=2, overwrite=True)
        j = check_file(self, self.path)
        self.assertEqual(j["run_count"], 1)
        self.assertEqual(j["runs"][0]["series"]["train/loss"]["steps"], [1, 2])

    def test_append_adds_runs_after_the_existing_ones(self):
        one_run(self.path, steps=5)
        one_run(self.path, steps=2, append=True)
        one_run(self.path, steps=3, append=True)
        j = check_file(self, self.path)
        self.assertEqual(j["run_count"], 3)
        self.assertEqual([r["group"] for r in j["runs"]], ["runs/000_r", "runs/001_r", "runs/002_r"])
        self.assertEqual([r["last_step"] for r in j["runs"]], [5, 2, 3])
        with h5py.File(self.path, "r") as f:
            self.assertEqual(int(f.attrs["run_count"]), 3)
            self.assertEqual([int(f["runs"][g].attrs["index"]) for g in sorted(f["runs"])], [0, 1, 2])

    def test_append_refuses_other_files(self):
        with open(self.path, "w") as f:
            f.write("not hdf5")
        with self.assertRaisesRegex(ValueError, "not an HDF5 file.*overwrite=True"):
            Recorder(self.path, append=True)
        other = os.path.join(self.dir, "other.h5")
        with h5py.File(other, "w") as f:
            f["x"] = 1
        with self.assertRaisesRegex(ValueError, "not an nmstudio run file"):
            Recorder(other, append=True)
        with h5py.File(other, "w") as f:
            f.attrs["schema"] = "nmstudio-run"
            f.attrs["schema_version"] = np.int32(2)
        with self.assertRaisesRegex(ValueError, "version 2"):
            Recorder(other, append=True)

    def test_append_refuses_a_file_being_written(self):
        rec, _ = self.started()
        with self.assertRaisesRegex(ValueError, "still being written"):
            Recorder(self.path, append=True)
        rec.close()

    def test_undeclared_scalar(self):
        _, run = self.started()
        with self.assertRaisesRegex(ValueError, "'lr_scale' was not declared; declare it in add_run\\(scalars="):
            run.log(2, loss=1.0, lr_scale=2.0)

    def test_steps_must_increase(self):
        _, run = self.started()
        run.log(2, loss=1.0)
        with self.assertRaisesRegex(ValueError, "step 2 does not follow step 2"):
            run.log(2, loss=1.0)
        with self.assertRaisesRegex(ValueError, "step 1 does not follow step 2"):
            run.log(1, loss=1.0)

    def test_unknown_layer_stats_column(self):
        _, run = self.started()
        with self.assertRaisesRegex(ValueError, "unknown layer_stats column 'flip'"):
            run.log(2, loss=1.0, layers={"flip": [1, 2]})
        with self.assertRaisesRegex(ValueError, r"layers\['flips'\] has 3 values, expected 2"):
            run.log(2, loss=1.0, layers={"flips": [1, 2, 3]})

    def test_add_run_after_start(self):
        rec, _ = self.started()
        with self.assertRaisesRegex(RuntimeError, "runs must be added before the first log"):
            rec.add_run("late")

    def test_snapshot_layer_count_and_shape(self):
        _, run = self.started()
        good = [{"weight": np.zeros((l["out"], l["in"])), "forward": np.zeros((l["out"], l["in"])),
                 "mask": np.ones((l["out"], l["in"]))} for l in SPARSE]
        with self.assertRaisesRegex(ValueError, "snapshot has 1 layers, the run has 2 sparse layers"):
            run.snapshot(1, good[:1])
        bad = [dict(good[0]), good[1]]
        bad[0]["mask"] = np.ones((8, 15))
        with self.assertRaisesRegex(ValueError, r"layer 'fc1' mask has shape \(8, 15\), expected \(8, 16\)"):
            run.snapshot(1, bad)
        run.snapshot(1, good)
        with self.assertRaisesRegex(ValueError, "snapshot step 1 does not follow snapshot step 1"):
            run.snapshot(1, good)

    def test_finish_status_and_after_finish(self):
        _, run = self.started()
        with self.assertRaisesRegex(ValueError, "one of Completed, Stopped, Diverged"):
            run.finish("Done")
        run.finish("Diverged")
        with self.assertRaisesRegex(RuntimeError, "has finished"):
            run.log(5, loss=1.0)

    def test_bad_add_run_arguments(self):
        rec = Recorder(self.path)
        with self.assertRaisesRegex(ValueError, "task must be 'classification' or 'language'"):
            rec.add_run("r", task="regression")
        with self.assertRaisesRegex(ValueError, "unknown key 'inputs'"):
            rec.add_run("r", layers=[{"name": "a", "inputs": 3, "in": 3, "out": 2}])
        with self.assertRaisesRegex(ValueError, "nm must read N:M"):
            rec.add_run("r", nm="2-4")
        with self.assertRaisesRegex(RuntimeError, "add at least one run"):
            rec.start()
        with self.assertRaisesRegex(ValueError, "exclude each other"):
            Recorder(self.path, overwrite=True, append=True)
        rec.close()
        self.assertFalse(os.path.exists(self.path))

    def test_missing_folder(self):
        with self.assertRaisesRegex(FileNotFoundError, "folder .* does not exist"):
            Recorder(os.path.join(self.dir, "no", "runs.h5"))


class StatusTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "runs.h5")

    def tearDown(self):
        self.tmp.cleanup()

    def statuses(self):
        with h5py.File(self.path, "r") as f:
            return [(f["runs"][g]["status"][()].decode(), int(f["runs"][g]["summary/step"][()]))
                    for g in sorted(f["runs"])]

    def test_exception_stops_started_runs_and_close_stops_the_rest(self):
        with self.assertRaises(KeyError):
            with Recorder(self.path) as rec:
                a = rec.add_run("a")
                b = rec.add_run("b")
                c = rec.add_run("c")
                a.log(1, loss=1.0)
                a.log(2, loss=1.0)
                b.log(1, loss=1.0)
                b.finish()
                del c
                raise KeyError("boom")
        self.assertEqual(self.statuses(), [("Stopped", 2), ("Completed", 1), ("Stopped", 0)])

    def test_running_until_close(self):
        rec = Recorder(self.path, flush_seconds=0)
        run = rec.add_run("a")
        pending = rec.add_run("b")
        run.log(1, loss=1.0)
        j = check_file(self, self.path)  # another process, as a reader is
        self.assertEqual([(r["status"], r["last_step"]) for r in j["runs"]], [("Running", 1), ("Pending", 0)])
        run.log(2, loss=1.0)
        self.assertEqual(pending.status, "Pending")
        rec.close()
        # Like nmstudio's own writer: runs not ended at close are Stopped at their last step.
        self.assertEqual(self.statuses(), [("Stopped", 2), ("Stopped", 0)])

    def test_other_ranks_write_nothing(self):
        with Recorder(self.path, rank=1) as rec:
            run = rec.add_run("a")
            run.log(1, loss=1.0, undeclared=3)
            run.snapshot(1, [])
            run.finish()
        self.assertEqual(os.listdir(self.tmp.name), [])

    def test_fork(self):
        with Recorder(self.path) as rec:
            run = rec.add_run("child", parent="parent", fork_step=10)
            with self.assertRaisesRegex(ValueError, "step 10 does not follow step 10"):
                run.log(10, loss=1.0)
            run.log(11, loss=1.0)
            run.finish()
        j = check_file(self, self.path)
        self.assertEqual((j["runs"][0]["parent"], j["runs"][0]["fork_step"]), ("parent", 10))

    def test_sweep_attribute_reads_as_nmtrain_writes_it(self):
        with Recorder(self.path) as rec:
            with self.assertRaisesRegex(TypeError, "sweep must be a dict"):
                rec.add_run("bad", sweep=[("lambda", "1")])
            runs = [rec.add_run("srste_lambda=" + lam, recipe="srste", sweep={"lambda": lam, "nm": "1:8"},
                                config={"recipe": "srste", "lambda": float(lam), "nm": "1:8"})
                    for lam in ("1e-4", "2e-4")]
            for run in runs:
                run.log(1, loss=1.0)
                run.finish()
        j = check_file(self, self.path)
        self.assertEqual([r["sweep"] for r in j["runs"]], [[["lambda", "1e-4"], ["nm", "1:8"]],
                                                           [["lambda", "2e-4"], ["nm", "1:8"]]])
        self.assertEqual(j["runs"][1]["config"]["lambda"], 2e-4)


if __name__ == "__main__":
    unittest.main()
