#!/usr/bin/python3
"""Reads run files written by nmtrain with h5py, as an outside tool would: a finished
experiment (plain read-only open) and one whose nmtrain was killed with SIGKILL (SWMR open,
as the README says). Exits 77 (skipped) when h5py or numpy is missing.

Usage: test_runfile_h5py.py PATH/TO/nmtrain
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

try:
    import h5py
    import numpy as np
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAIL: {what}")


def check_finished(path):
    with h5py.File(path, "r") as f:
        check(f.attrs["schema"] == "nmstudio-run", "schema attribute")
        check(int(f.attrs["schema_version"]) == 1, "schema version")
        runs = f["runs"]
        check(sorted(runs) == ["000_ste_s1", "001_ste_s2", "002_sste_s1", "003_sste_s2"], f"run groups {list(runs)}")
        for name, r in runs.items():
            check(r["status"][()] == b"Completed", f"{name} status")
            steps = r["train/step"][:]
            check(steps.dtype == np.int64 and np.array_equal(steps, np.arange(1, 61)), f"{name} train/step")
            check(r["train/loss"].dtype == np.float32 and r["train/loss"].shape == (60,), f"{name} train/loss")
            check(r["train/lr"].dtype == np.float64, f"{name} train/lr dtype")
            layers = [x.decode() for x in r["layer_stats/layer"][:]]
            check(layers == ["fc2"], f"{name} sparse layers {layers}")
            check(r["layer_stats/flip_rate"].shape == (60, 1), f"{name} flip_rate shape")
            check(np.all(r["layer_stats/n"][:] == 2) and np.all(r["layer_stats/m"][:] == 4), f"{name} N:M")
            check(list(r["snapshots/step"][:]) == [0, 20, 40, 60], f"{name} snapshot steps")
            w = r["snapshots/fc2/weight"]
            check(w.shape == (4, 32, 32) and w.dtype == np.float32, f"{name} weight shape {w.shape}")
            packed = r["snapshots/fc2/mask"]
            check(packed.shape == (4, 32, 4) and packed.dtype == np.uint8, f"{name} mask shape {packed.shape}")
            mask = np.unpackbits(packed[:], axis=-1, bitorder="little")[..., :32]
            groups = mask.reshape(4, 32, 8, 4).sum(axis=-1)
            check(np.all(groups == 2), f"{name}: every group of 4 keeps 2")
            forward = r["snapshots/fc2/forward"][:]
            check(np.all(forward[mask == 0] == 0), f"{name}: pruned weights are zero in W~")
            if name.startswith("000_ste"):
                check(np.array_equal(forward, w[:] * mask), f"{name}: STE forward is W * mask")
            counts = r["snapshots/fc2/flip_count"]
            check(counts.shape == (4, 32, 32) and counts.dtype == np.uint16, f"{name} flip_count {counts.shape}")
            counts = counts[:].astype(np.int64)
            grown = np.diff(counts, axis=0)
            changed = mask[1:] != mask[:-1]
            check(np.all(counts[0] == 0) and np.all(grown >= changed) and np.all(grown % 2 == changed),
                  f"{name}: flip counts grow by at least, and with the parity of, the mask changes between snapshots")
            check(int(grown.sum()) == int(r["layer_stats/flips"][:].sum()), f"{name}: flip counts add up to the flips")
            info = r["layers"]
            check([x.decode() for x in info["name"][:]] == ["fc1", "fc2", "fc3"], "layer table")
            check(list(info["sparse"][:]) == [0, 1, 0], "sparse flags")
            check(np.isfinite(r["summary/test_accuracy"][()]), f"{name} summary")
            check(r["val/step"][-1] == 60, f"{name} val/step")
            check_checkpoints(name, r)


def check_checkpoints(name, r):
    # Checkpoints at 20, 40 and 60, next to the snapshots of those steps; the parameter row holds
    # fc2's weights as the snapshot does, the optimiser row one momentum value per parameter.
    c = r["checkpoints"]
    check(list(c["step"][:]) == [20, 40, 60], f"{name} checkpoint steps {list(c['step'][:])}")
    count = int(r.attrs["parameter_count"])
    check(c["params"].shape == (3, count) and c["params"].dtype == np.float32, f"{name} params shape")
    check(c["optimizer"].shape == (3, count), f"{name} optimizer shape (SGD: one buffer)")
    check(c.attrs["optimizer"] == "sgd", f"{name} optimizer attribute")
    for k in range(3):
        w = r["snapshots/fc2/weight"][k + 1]
        check(c["params"][k].tobytes().find(w.tobytes()) >= 0, f"{name}: checkpoint {k} holds fc2's weights")
    check(c["fc2/prev_mask"].shape == (3, 32, 4), f"{name} prev_mask shape")
    prev = np.unpackbits(c["fc2/prev_mask"][:], axis=-1, bitorder="little")[..., :32]
    check(np.all(prev.reshape(3, 32, 8, 4).sum(axis=-1) == 2), f"{name}: the previous masks keep 2 of 4")
    check(c["fc2/rng"].shape == (3, 6) and c["fc2/rng"].dtype == np.uint64, f"{name} rng")
    hist = c["fc2/noise_history"]
    check(hist.shape[:2] == (3, 3), f"{name} noise_history shape {hist.shape}")
    length = c["fc2/noise_history_length"][:]
    window = hist.shape[2]
    steps = c["step"][:]
    check(np.array_equal(length, np.minimum(steps, window)), f"{name}: one gradient norm per step, up to the window")
    for k in range(3):
        pad = window - int(length[k])
        check(np.all(np.isnan(hist[k, :, :pad])) and np.all(np.isfinite(hist[k, :, pad:])),
              f"{name}: windows NaN-padded in front, newest last")
    check(np.all(c["lr"][:] == float(json_config(r)["lr"])), f"{name}: the learning rate in effect")


def json_config(r):
    import json
    return json.loads(r.attrs["config_json"])


def check_killed(nmtrain, path):
    proc = subprocess.Popen([nmtrain, "--quiet", "--data", "synthetic", "--steps", "1000000", "--mlp-hidden",
                             "32,32", "--recipes", "ste,srste", "--seeds", "1", "--out", path],
                            stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            time.sleep(0.2)
            if not os.path.exists(path):
                continue
            try:
                with h5py.File(path, "r", swmr=True) as f:
                    if all(len(r["train/step"]) > 0 for r in f["runs"].values()):
                        break
            except OSError:
                pass
        else:
            raise SystemExit("FAIL: nmtrain never flushed a step")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with h5py.File(path, "r", swmr=True) as f:
        for name, r in f["runs"].items():
            check(r["status"][()] == b"Running", f"{name}: a killed run stays Running")
            steps = r["train/step"][:]
            loss = r["train/loss"][:len(steps)]
            check(len(steps) > 0 and np.array_equal(steps, np.arange(1, len(steps) + 1)), f"{name} steps")
            check(len(loss) == len(steps) and np.all(np.isfinite(loss)), f"{name} loss")
            check(r["layer_stats/flip_rate"].shape[0] >= len(r["layer_stats/step"]), f"{name} layer rows")
            check(r["snapshots/fc2/weight"].shape[0] >= 1, f"{name} snapshot at step 0")


def main():
    nmtrain = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        done = os.path.join(d, "done.h5")
        subprocess.run([nmtrain, "--quiet", "--data", "synthetic", "--steps", "60", "--mlp-hidden", "32,32",
                        "--recipes", "ste,sste", "--seeds", "1,2", "--snapshot-every", "20", "--out", done],
                       check=True, stdout=subprocess.DEVNULL)
        check_finished(done)
        check_killed(nmtrain, os.path.join(d, "killed.h5"))
    print("h5py reads finished and killed run files: ok")


if __name__ == "__main__":
    main()
