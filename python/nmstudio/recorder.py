"""A writer of nmstudio run files (README "Run-file format", schema version 1) in Python.

The files it writes open unchanged in nmstudio (the GUI, ``nm::RunFileReader``) and in h5py,
also while they are being written: like the C++ writer, the recorder lays out the whole file
under ``FILE.partial``, switches it to single-writer/multiple-reader (SWMR) mode, renames it
to ``FILE`` without replacing anything, and then appends rows buffered in memory at least
every ``flush_seconds``: first every value, an HDF5 flush, then the ``step`` columns, another
flush. A process killed at any moment leaves a file in which every visible step has its
values.

Only numpy and h5py are needed. Torch tensors (on any device) are accepted wherever numbers or
arrays are; they are copied to the host in one batch per flush, so logging every step does not
wait for the device.
"""

import atexit
import ctypes
import ctypes.util
import errno
import json
import math
import operator
import os
import re
import shutil
import sys
import threading
import time

import h5py
import numpy as np

SCHEMA = "nmstudio-run"
SCHEMA_VERSION = 1
STATUS_BYTES = 16  # runs/NNN/status: fixed-length, NUL-terminated
FINAL_STATUSES = ("Completed", "Stopped", "Diverged")
TASKS = ("classification", "language")
# A writer flushes at least every few seconds; a run still Running in a file that nobody
# flushed for this long was left by a writer that died (as nmstudio's own writer decides).
STALE_WRITER_SECONDS = 30.0
# Rows buffered per run before a flush regardless of the time (bounds the memory).
MAX_PENDING_ROWS = 8192

F32, F64, I32, I64 = np.dtype("<f4"), np.dtype("<f8"), np.dtype("<i4"), np.dtype("<i8")

TRAIN_FIELDS = (("loss", F32), ("accuracy", F32), ("lr", F64), ("grad_norm", F64),
                ("step_seconds", F64), ("elapsed_seconds", F64), ("flops", F64))
EVAL_FIELDS = (("loss", F32), ("accuracy", F32), ("bits_per_char", F32))
CONTINUITY_FIELDS = (("loss_before", F32), ("dF1", F32), ("dF2", F32), ("aod_actual", F32),
                     ("aod_predicted", F32), ("aod_predicted_ste", F32), ("flips", I64))
# layer_stats/: the order of nmcore/metrics.h (kLayerMetrics).
LAYER_FIELDS = (("flip_rate", F32), ("flips", I64), ("sad", F32), ("oscillation", F32),
                ("grad_norm", F32), ("grad_norm_kept", F32), ("grad_norm_pruned", F32),
                ("pruned_share", F32), ("grad_std_kept", F32), ("grad_std_pruned", F32),
                ("grad_noise", F32), ("grad_noise_kept", F32), ("grad_noise_pruned", F32),
                ("delta_forward", F32), ("decay_norm", F32), ("alpha", F32), ("n", I32), ("m", I32),
                ("lambda", F32), ("beta", F32), ("sparsity", F32))
LAYER_COLUMNS = tuple(name for name, _ in LAYER_FIELDS)
LAYER_KEYS = ("name", "in", "out", "sparse", "n", "m", "dense_params", "effective_params")
SNAPSHOT_KEYS = ("name", "weight", "forward", "mask", "beta", "alpha", "n", "m")
RECIPE_TITLES = {"dense": "Dense", "ste": "STE", "srste": "SR-STE", "sste": "S-STE",
                 "mdgf-linear": "MDGF-Linear", "mdgf-exp": "MDGF-Exp",
                 "sdgf-stepwise": "SDGF-Stepwise", "sdgf-geometric": "SDGF-Geometric",
                 "tsrste-df": "T-SR-STE+DF", "asp": "ASP"}
# Extra user scalars live in runs/NNN/scalars/, next to a `step` column of their own.
SCALARS_GROUP = "scalars"

NAN = float("nan")


# ---- Names -----------------------------------------------------------------------------------

def run_group_name(index, name):
    """``runs/003_ste_s1``: characters other than ``A-Za-z0-9_.-`` become ``_``."""
    clean = "".join(c if (c.isascii() and c.isalnum()) or c in "_.-" else "_" for c in name)
    return "runs/%03d_%s" % (index, clean)


def layer_group_name(layer):
    """The group of a layer under snapshots/ (``/`` is not allowed in HDF5 names)."""
    g = layer.replace("/", "_")
    return "layer_" + g if g in ("", ".", "..", "step") else g


# ---- Values: numbers, numpy arrays and (duck-typed) torch tensors ----------------------------

def _is_tensor(v):
    return hasattr(v, "detach") and hasattr(v, "cpu") and hasattr(v, "numel") and not isinstance(v, np.ndarray)


def _host_dtype(torch, t):
    # MPS has no float64.
    return torch.float32 if t.device.type == "mps" else torch.float64


def _to_numpy(v, what):
    """A host numpy array of anything array-like (synchronises for device tensors)."""
    if _is_tensor(v):
        v = v.detach().cpu().numpy()
    try:
        return np.asarray(v)
    except Exception as e:  # noqa: BLE001 - report what could not be converted
        raise TypeError("%s: cannot convert %r to an array (%s)" % (what, type(v).__name__, e)) from None


def _to_float(v, what):
    if v is None:
        return NAN
    if _is_tensor(v):
        if v.numel() != 1:
            raise ValueError("%s must be a single number, got a tensor of shape %s" % (what, tuple(v.shape)))
        return float(v.detach().reshape(()).cpu().item())
    try:
        return float(v)
    except (TypeError, ValueError):
        raise TypeError("%s must be a number, got %r" % (what, v)) from None


def _to_int(v, what):
    if _is_tensor(v) and v.numel() == 1:
        v = v.detach().reshape(()).cpu()
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError("%s must be an integer, got %r" % (what, v)) from None


class _Row:
    """One buffered row: values that are floats, host arrays, or slots into device tensors."""

    __slots__ = ("step", "values", "lazy", "host")

    def __init__(self, step):
        self.step = step
        self.values = []
        self.lazy = {}  # device -> list of flattened tensors (concatenated once per flush)
        self.host = None


class _Slot:
    __slots__ = ("device", "offset", "length")

    def __init__(self, device, offset, length):
        self.device, self.offset, self.length = device, offset, length


class _RowBuilder:
    """Builds a _Row, keeping tensors on their device until the flush."""

    def __init__(self, step):
        self.row = _Row(step)
        self.sizes = {}

    def scalar(self, v, what):
        if _is_tensor(v):
            if v.numel() != 1:
                raise ValueError("%s must be a single number, got a tensor of shape %s" % (what, tuple(v.shape)))
            self.row.values.append(self._defer(v))
        elif v is None:
            self.row.values.append(NAN)
        else:
            self.row.values.append(_to_float(v, what))

    def vector(self, v, width, what):
        if v is None:
            self.row.values.append(None)
            return
        if _is_tensor(v):
            if v.numel() != width:
                raise ValueError("%s has %d values, expected %d (one per sparse layer)" % (what, v.numel(), width))
            self.row.values.append(self._defer(v))
            return
        if isinstance(v, (list, tuple)) and v and all(_is_tensor(e) for e in v):
            if len(v) != width:
                raise ValueError("%s has %d values, expected %d (one per sparse layer)" % (what, len(v), width))
            torch = sys.modules["torch"]
            self.row.values.append(self._defer(torch.stack([e.detach().reshape(()) for e in v])))
            return
        if isinstance(v, (list, tuple)):
            v = [_to_float(e, what) if _is_tensor(e) else e for e in v]
        try:
            a = np.asarray(v, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise TypeError("%s must be numbers, one per sparse layer; got %r" % (what, v)) from None
        if a.size != width:
            raise ValueError("%s has %d values, expected %d (one per sparse layer)" % (what, a.size, width))
        self.row.values.append(a)

    def _defer(self, t):
        torch = sys.modules["torch"]
        t = t.detach().reshape(-1)
        dt = _host_dtype(torch, t)
        if t.dtype != dt:
            t = t.to(dt)
        dev = t.device
        self.row.lazy.setdefault(dev, []).append(t)
        off = self.sizes.get(dev, 0)
        self.sizes[dev] = off + t.numel()
        return _Slot(dev, off, t.numel())

    def done(self):
        torch = sys.modules.get("torch")
        for dev, ts in self.row.lazy.items():
            # One fresh tensor per device: later in-place changes to the logged tensors do not
            # reach the buffered row.
            self.row.lazy[dev] = torch.cat(ts) if len(ts) > 1 else ts[0].clone()
        return self.row


def _resolve(rows):
    """Copies the device tensors of buffered rows to the host, one transfer per device."""
    by_device = {}
    for r in rows:
        for dev, t in r.lazy.items():
            by_device.setdefault(dev, []).append((r, t))
    for dev, items in by_device.items():
        torch = sys.modules["torch"]
        host = torch.cat([t for _, t in items]).cpu().numpy().astype(np.float64, copy=False)
        pos = 0
        for r, t in items:
            n = t.numel()
            if r.host is None:
                r.host = {}
            r.host[dev] = host[pos:pos + n]
            pos += n
    for r in rows:
        r.lazy = {}


def _cast(values, dtype):
    a = np.asarray(values, dtype=np.float64)
    if dtype.kind == "i":
        a = np.where(np.isfinite(a), a, 0.0)
    return a.astype(dtype)


# ---- HDF5 helpers ----------------------------------------------------------------------------

def _create_group(parent, name):
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    h5py.h5g.create(parent.id, name.encode("utf-8"), gcpl=gcpl)
    return parent[name]


def _status_type():
    t = h5py.h5t.C_S1.copy()
    t.set_size(STATUS_BYTES)
    t.set_strpad(h5py.h5t.STR_NULLTERM)
    t.set_cset(h5py.h5t.CSET_UTF8)
    return t


def _status_bytes(status):
    return np.array(status.encode("utf-8")[:STATUS_BYTES - 1], dtype="S%d" % STATUS_BYTES)


def _create_scalar(group, name, tid, fill):
    """A scalar dataset with its space allocated at creation (rewritten in place in SWMR mode)."""
    space = h5py.h5s.create(h5py.h5s.SCALAR)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_obj_track_times(False)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_ALLOC)
    if fill is not None:
        dcpl.set_fill_value(fill)
    dsid = h5py.h5d.create(group.id, name.encode("utf-8"), tid, space, dcpl=dcpl)
    return h5py.Dataset(dsid)


def _numeric_scalar(group, name, dtype, fill):
    return _create_scalar(group, name, h5py.h5t.py_create(dtype), np.array(fill, dtype=dtype))


def _write_scalar(ds, value, dtype):
    ds.id.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array(value, dtype=dtype))


def _write_status(ds, status):
    ds.id.write(h5py.h5s.ALL, h5py.h5s.ALL, _status_bytes(status), mtype=_status_type())


def _growing(group, name, dtype, inner=(), chunk_rows=512, chunk_inner=None, deflate=0, fill=None):
    kw = {}
    if deflate:
        kw.update(compression="gzip", compression_opts=deflate, shuffle=True)
    if fill is not None:
        kw["fillvalue"] = fill
    inner = tuple(int(i) for i in inner)
    chunks = (int(chunk_rows),) + (tuple(chunk_inner) if chunk_inner else inner)
    return group.create_dataset(name, shape=(0,) + inner, maxshape=(None,) + inner, chunks=chunks, dtype=dtype,
                                track_times=False, **kw)


def _series(group, name, dtype, width=0, rows=512):
    """A growing series like the C++ writer's: chunks of `rows` rows capped near 16 KiB."""
    chunk = max(16, min(rows, 2048 // max(width, 1)))
    fill = np.nan if dtype.kind == "f" else None
    return _growing(group, name, dtype, (width,) if width else (), chunk, fill=fill)


def _step_column(group, rows):
    # A step row whose data never arrived reads as -1.
    return _growing(group, "step", I64, (), max(16, min(rows, 2048)), fill=-1)


def _write_array(group, name, dtype, values):
    """A small 1-D dataset written once (contiguous, like the C++ writer's layer table)."""
    strings = h5py.check_string_dtype(dtype) is not None
    ds = group.create_dataset(name, shape=(len(values),), dtype=dtype, track_times=False)
    if len(values):
        ds[...] = np.array(values, dtype=object) if strings else np.asarray(values, dtype=dtype)
    return ds


def _append(ds, data):
    n = ds.shape[0]
    k = data.shape[0]
    if k == 0:
        return
    ds.resize(n + k, axis=0)
    ds[n:n + k] = data


def _file_kwargs():
    kw = {"libver": "latest"}
    if tuple(int(x) for x in h5py.__version__.split(".")[:2]) >= (3, 5):
        kw["locking"] = "best-effort"  # lock where the file system can, else go on
    return kw


def _open_existing_run_file(path):
    """Opens an existing file for reading, SWMR first (a killed writer's file), else plainly."""
    try:
        return h5py.File(path, "r", swmr=True)
    except OSError:
        pass
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise ValueError("cannot append to '%s': it is not an HDF5 file, so not an nmstudio run file (%s); "
                         "write to another file, or pass overwrite=True to replace it" % (path, e)) from None


def _read_text(v):
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _check_run_file(path, now):
    """The index of the first appended run; a ValueError unless `path` is a schema-1 run file
    that nobody is writing."""
    with _open_existing_run_file(path) as f:
        schema = _read_text(f.attrs["schema"]) if "schema" in f.attrs else None
        if schema != SCHEMA:
            raise ValueError("cannot append to '%s': it is an HDF5 file but not an nmstudio run file (%s); write to "
                             "another file, or pass overwrite=True to replace it"
                             % (path, "no 'schema' attribute" if schema is None else "schema '%s'" % schema))
        version = int(f.attrs["schema_version"]) if "schema_version" in f.attrs else None
        if version != SCHEMA_VERSION:
            raise ValueError("cannot append to run file '%s': it has run-file version %s, this recorder writes "
                             "version %d; write to another file, or pass overwrite=True to replace it"
                             % (path, version, SCHEMA_VERSION))
        if "runs" not in f or not isinstance(f["runs"], h5py.Group):
            raise ValueError("cannot append to run file '%s': it has no 'runs' group; the file is corrupt" % path)
        updated = float(f["updated"][()]) if "updated" in f else NAN
        age = now - updated
        nxt = 0
        for name, g in f["runs"].items():
            status = ""
            if "status" in g:
                status = _read_text(g["status"][()]).rstrip("\0")
            if status in ("Running", "Pending") and not age > STALE_WRITER_SECONDS:
                raise ValueError("cannot append to run file '%s': its run '%s' is still being written (last flush "
                                 "%s); wait until it ends, or write to another file"
                                 % (path, _read_text(g.attrs.get("name", name)),
                                    "%d s ago" % age if math.isfinite(age) else "never"))
            m = re.match(r"(\d+)", name)
            if m:
                nxt = max(nxt, int(m.group(1)) + 1)
        return nxt


_libc = None


def _rename_noreplace(src, dst):
    """Moves src to dst unless something exists at dst (renameat2 RENAME_NOREPLACE, else a hard link)."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        except OSError:
            _libc = False
    fn = getattr(_libc, "renameat2", None) if _libc else None
    if fn is not None:
        at_fdcwd, rename_noreplace = -100, 1
        if fn(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), rename_noreplace) == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(errno.EEXIST, _exists_message(dst), dst)
        if err not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(err, "cannot create run file '%s': renaming '%s' failed (%s; is the directory writable?)"
                          % (dst, src, os.strerror(err)))
    try:
        os.link(src, dst)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, _exists_message(dst), dst) from None
    os.unlink(src)


def _exists_message(path):
    return ("run file '%s' already exists and was left as it is; write to another file, or pass overwrite=True "
            "to replace it or append=True to add the new runs to it" % path)


def _path_exists(path):
    return os.path.lexists(path)


def _detect_rank():
    torch = sys.modules.get("torch")  # a process that runs torch.distributed has imported torch
    if torch is None:
        return 0
    try:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            return int(dist.get_rank())
    except Exception:  # noqa: BLE001 - no usable process group: a single process
        pass
    return 0


# ---- Runs ------------------------------------------------------------------------------------

class _Table:
    """Columns that share a `step` column; rows are buffered until the recorder flushes."""

    def __init__(self, fields, width=0):
        self.fields = fields  # (name, dtype)
        self.width = width
        self.rows = []
        self.datasets = None  # [value datasets], step dataset
        self.step_ds = None
        self.staged_steps = None

    def layout(self, group, rows):
        self.datasets = [_series(group, name, dtype, self.width, rows) for name, dtype in self.fields]
        self.step_ds = _step_column(group, rows)

    def write_values(self):
        """Writes every buffered value (not the steps, which follow after a flush)."""
        if not self.rows:
            return False
        rows, self.rows = self.rows, []
        _resolve(rows)
        for i, (ds, (_, dtype)) in enumerate(zip(self.datasets, self.fields)):
            if self.width:
                data = np.empty((len(rows), self.width), dtype=np.float64)
                for k, r in enumerate(rows):
                    data[k] = _value(r, r.values[i], self.width, dtype)
            else:
                data = np.array([_value(r, r.values[i], 0, dtype) for r in rows], dtype=np.float64)
            _append(ds, _cast(data, dtype))
        self.staged_steps = np.array([r.step for r in rows], dtype=I64)
        return True

    def write_steps(self):
        if self.staged_steps is not None:
            _append(self.step_ds, self.staged_steps)
            self.staged_steps = None


def _value(row, v, width, dtype):
    if isinstance(v, _Slot):
        a = row.host[v.device][v.offset:v.offset + v.length]
        return a if width else a[0]
    if v is None:  # a per-layer column not given
        return np.full(width, 0.0 if dtype.kind == "i" else np.nan)
    return v


class Run:
    """One run of a Recorder (returned by Recorder.add_run)."""

    def __init__(self, recorder, index_hint, name, recipe, recipe_title, nm, seed, config, model, data, task, layers,
                 parameter_count, effective_parameter_count, threads, blas_kernel, parent, fork_step, scalars,
                 snapshot_capacity):
        self._rec = recorder
        self.name = name
        self.recipe = recipe
        self.recipe_title = recipe_title
        self.nm = nm
        self.seed = seed
        self.config_json = config
        self.model = model
        self.data = data
        self.task = task
        self.layers = layers
        self.sparse_layers = [l for l in layers if l["sparse"]]
        self.parameter_count = parameter_count
        self.effective_parameter_count = effective_parameter_count
        self.threads = threads
        self.blas_kernel = blas_kernel
        self.parent = parent
        self.fork_step = fork_step
        self.scalar_names = scalars
        self.snapshot_capacity = snapshot_capacity
        self.sweep_json = None
        self.index = index_hint
        self.group_name = None
        self.status = "Pending"
        self._started = False
        self._ended = False
        self._last_step = fork_step if fork_step is not None else None
        self._flushed_step = 0
        self._elapsed = None  # running total of step_seconds (the default elapsed_seconds)
        self._last_elapsed = NAN
        self._last_snapshot = None
        L = len(self.sparse_layers)
        self._train = _Table(TRAIN_FIELDS)
        self._layer_stats = _Table(LAYER_FIELDS, L) if L else None
        self._continuity = _Table(CONTINUITY_FIELDS)
        self._val = _Table(EVAL_FIELDS)
        self._test = _Table(EVAL_FIELDS)
        self._scalars = _Table(tuple((s, F64) for s in scalars)) if scalars else None
        self._elapsed_default = []  # per buffered train row: whether elapsed_seconds was defaulted

    # -- layout (before SWMR mode) --

    def _layout(self, f, index):
        self.index = index
        self.group_name = run_group_name(index, self.name)
        runs = f["runs"]
        g = _create_group(runs, self.group_name.split("/", 1)[1])
        a = g.attrs
        a["name"] = self.name
        a.create("index", np.int32(index))
        a["recipe"] = self.recipe
        a["recipe_title"] = self.recipe_title
        a["nm"] = self.nm
        a.create("seed", np.uint64(self.seed))
        a["config_json"] = self.config_json
        a["model"] = self.model
        a["data"] = self.data
        a["task"] = self.task
        a.create("parameter_count", np.int64(self.parameter_count))
        a.create("effective_parameter_count", np.int64(self.effective_parameter_count))
        a.create("threads", np.int32(self.threads))
        a["blas_kernel"] = self.blas_kernel
        if self.sweep_json:
            a["sweep"] = self.sweep_json
        if self.fork_step is not None:
            a["parent"] = self.parent or ""
            a.create("fork_step", np.int64(self.fork_step))

        lg = _create_group(g, "layers")
        _write_array(lg, "name", h5py.string_dtype("utf-8"), [l["name"] for l in self.layers])
        for key, dtype in (("in", I32), ("out", I32), ("sparse", I32), ("n", I32), ("m", I32),
                           ("dense_params", I64), ("effective_params", I64)):
            _write_array(lg, key, dtype, [int(l[key]) for l in self.layers])
        # nmstudio's compressed N:M GEMM paths (nmtrain's record per layer); PyTorch runs use
        # PyTorch's own GEMMs, so the record is empty: "dense GEMMs" to every reader.
        _write_array(lg, "gemm", h5py.string_dtype("utf-8"), ["" for _ in self.layers])

        self._train.layout(_create_group(g, "train"), 512)
        self._val.layout(_create_group(g, "val"), 16)
        self._test.layout(_create_group(g, "test"), 16)
        self._continuity.layout(_create_group(g, "continuity"), 64)
        ls = _create_group(g, "layer_stats")
        _write_array(ls, "layer", h5py.string_dtype("utf-8"), [l["name"] for l in self.sparse_layers])
        if self._layer_stats is not None:
            self._layer_stats.layout(ls, 512)
        else:
            _step_column(ls, 512)
        if self._scalars is not None:
            self._scalars.layout(_create_group(g, SCALARS_GROUP), 512)

        sg = _create_group(g, "snapshots")
        small_rows = 16 if self.snapshot_capacity is None else max(16, min(int(self.snapshot_capacity), 1024))
        self._snap_step = _step_column(sg, small_rows)
        self._snap = []
        for l in self.sparse_layers:
            rows, cols = int(l["out"]), int(l["in"])
            lg = _create_group(sg, layer_group_name(l["name"]))
            lg.attrs["name"] = l["name"]
            chunk_r = min(max((1 << 18) // max(cols, 1), 1), rows)  # chunks of at most ~1 MiB
            d = {
                "weight": _growing(lg, "weight", F32, (rows, cols), 1, (chunk_r, cols), deflate=4),
                "forward": _growing(lg, "forward", F32, (rows, cols), 1, (chunk_r, cols), deflate=4),
                "mask": _growing(lg, "mask", np.dtype("u1"), (rows, (cols + 7) // 8), 1, deflate=4),
                "beta": _growing(lg, "beta", F32, (), max(64, small_rows)),
                "alpha": _growing(lg, "alpha", F32, (), max(64, small_rows)),
                "n": _growing(lg, "n", I32, (), max(64, small_rows)),
                "m": _growing(lg, "m", I32, (), max(64, small_rows)),
            }
            self._snap.append(d)

        self._status_ds = _create_scalar(g, "status", _status_type(), None)
        _write_status(self._status_ds, "Pending")
        sm = _create_group(g, "summary")
        self._summary = {"step": _numeric_scalar(sm, "step", I64, 0)}
        for key in ("val_loss", "val_accuracy", "test_loss", "test_accuracy"):
            self._summary[key] = _numeric_scalar(sm, key, F32, np.nan)
        self._summary["seconds"] = _numeric_scalar(sm, "seconds", F64, np.nan)

    def _tables(self):
        return [t for t in (self._train, self._layer_stats, self._continuity, self._val, self._test, self._scalars)
                if t is not None]

    def _pending_rows(self):
        return sum(len(t.rows) for t in self._tables())

    def _write_values(self):
        # The default elapsed_seconds: the running total of step_seconds, in row order.
        rows = self._train.rows
        if rows:
            _resolve(rows)
            for r, defaulted in zip(rows, self._elapsed_default):
                ss = _value(r, r.values[4], 0, F64)
                if defaulted:
                    if math.isfinite(ss):
                        self._elapsed = (self._elapsed or 0.0) + float(ss)
                    r.values[5] = NAN if self._elapsed is None else self._elapsed
                else:
                    e = _value(r, r.values[5], 0, F64)
                    self._elapsed = float(e) if math.isfinite(e) else self._elapsed
                    r.values[5] = e
                self._last_elapsed = float(r.values[5])
            self._elapsed_default = []
        any_rows = False
        for t in self._tables():
            any_rows = t.write_values() or any_rows
        return any_rows

    def _write_steps(self):
        for t in self._tables():
            t.write_steps()
        if self._last_step is not None:
            self._flushed_step = self._last_step

    # -- recording --

    def _begin(self, what):
        rec = self._rec
        if self._ended:
            raise RuntimeError("run '%s' has finished; %s after finish() is not recorded (add another run for "
                               "more training)" % (self.name, what))
        rec._ensure_started()
        if not self._started:
            self._started = True
            self.status = "Running"
            _write_status(self._status_ds, "Running")
            rec._flush_file()

    def log(self, step, *, loss, accuracy=NAN, lr=NAN, grad_norm=NAN, step_seconds=NAN, elapsed_seconds=None,
            flops=NAN, layers=None, sparsifier=None, **scalars):
        """Records one optimiser step (see the module documentation for the columns)."""
        with self._rec._lock:
            step = _to_int(step, "log: step")
            if self._last_step is not None and step <= self._last_step:
                raise ValueError("run '%s': step %d does not follow step %d; steps must increase strictly%s"
                                 % (self.name, step, self._last_step,
                                    " (a forked run's series start after fork_step)"
                                    if self._last_step == self.fork_step else ""))
            if step < 0:
                raise ValueError("run '%s': step %d is negative; steps count completed updates (1 after the first)"
                                 % (self.name, step))
            for k in scalars:
                if k not in self.scalar_names:
                    raise ValueError("run '%s': scalar '%s' was not declared; declare it in add_run(scalars=[...])"
                                     " (declared: %s)" % (self.name, k, ", ".join(self.scalar_names) or "none"))
            if sparsifier is not None:
                if layers is not None:
                    raise ValueError("log: pass either layers= or sparsifier=, not both")
                layers = sparsifier.stats()
            b = _RowBuilder(step)
            for key, v in (("loss", loss), ("accuracy", accuracy), ("lr", lr), ("grad_norm", grad_norm),
                           ("step_seconds", step_seconds), ("elapsed_seconds", elapsed_seconds),
                           ("flops", flops)):
                b.scalar(v, "log: " + key)
            layer_row = None
            if layers is not None:
                if not hasattr(layers, "items"):
                    raise TypeError("log: layers must be a dict of layer_stats column -> one value per sparse "
                                    "layer, got %s" % type(layers).__name__)
                for k in layers:
                    if k not in LAYER_COLUMNS:
                        raise ValueError("log: unknown layer_stats column '%s'; the columns are: %s"
                                         % (k, ", ".join(LAYER_COLUMNS)))
                if self._layer_stats is None:
                    if any(v is not None for v in layers.values()):
                        raise ValueError("run '%s' has no sparse layers (add_run(layers=[...]) with \"sparse\": "
                                         "True), so it has no layer_stats to log" % self.name)
                else:
                    lb = _RowBuilder(step)
                    for name, _ in LAYER_FIELDS:
                        lb.vector(layers.get(name), self._layer_stats.width, "log: layers['%s']" % name)
                    layer_row = lb
            scalar_row = None
            if scalars:
                sb = _RowBuilder(step)
                for s in self.scalar_names:
                    sb.scalar(scalars.get(s), "log: " + s)
                scalar_row = sb
            self._begin("log")
            self._train.rows.append(b.done())
            self._elapsed_default.append(elapsed_seconds is None)
            if layer_row is not None:
                self._layer_stats.rows.append(layer_row.done())
            if scalar_row is not None:
                self._scalars.rows.append(scalar_row.done())
            self._last_step = step
            self._rec._maybe_flush(self)

    def evaluate(self, step, split="val", *, loss, accuracy=NAN):
        """Records an evaluation on the validation or test split."""
        with self._rec._lock:
            if split not in ("val", "test"):
                raise ValueError("evaluate: split must be 'val' or 'test', got %r" % (split,))
            step = _to_int(step, "evaluate: step")
            loss_f = _to_float(loss, "evaluate: loss")
            b = _RowBuilder(step)
            b.row.values = [loss_f, _to_float(accuracy, "evaluate: accuracy"),
                            loss_f / math.log(2) if self.task == "language" else NAN]
            self._begin("evaluate")
            (self._val if split == "val" else self._test).rows.append(b.done())
            self._rec.flush()

    def continuity(self, step, *, loss_before, dF1, dF2, aod_actual, aod_predicted, aod_predicted_ste=NAN, flips=0):
        """Records one continuity measurement (README: continuity/*)."""
        with self._rec._lock:
            step = _to_int(step, "continuity: step")
            b = _RowBuilder(step)
            for key, v in (("loss_before", loss_before), ("dF1", dF1), ("dF2", dF2), ("aod_actual", aod_actual),
                           ("aod_predicted", aod_predicted), ("aod_predicted_ste", aod_predicted_ste),
                           ("flips", flips)):
                b.scalar(v, "continuity: " + key)
            self._begin("continuity")
            self._continuity.rows.append(b.done())
            self._rec._maybe_flush(self)

    def snapshot(self, step, layers):
        """Records the weights, forward weights and masks of every sparse layer at `step`."""
        with self._rec._lock:
            step = _to_int(step, "snapshot: step")
            if not isinstance(layers, (list, tuple)) and hasattr(layers, "snapshot"):
                layers = layers.snapshot()
            layers = list(layers)
            if self._last_snapshot is not None and step <= self._last_snapshot:
                raise ValueError("run '%s': snapshot step %d does not follow snapshot step %d; snapshot steps must "
                                 "increase strictly" % (self.name, step, self._last_snapshot))
            if len(layers) != len(self.sparse_layers):
                raise ValueError("run '%s': snapshot has %d layers, the run has %d sparse layers (%s); pass one dict "
                                 "per sparse layer, in order" % (self.name, len(layers), len(self.sparse_layers),
                                                                 ", ".join(l["name"] for l in self.sparse_layers)))
            prepared = [self._snapshot_layer(info, l) for info, l in zip(self.sparse_layers, layers)]
            self._begin("snapshot")
            rec = self._rec
            # The series first, so they reach at least the snapshot's step.
            rec.flush()
            for d, p in zip(self._snap, prepared):
                for key in ("weight", "forward", "mask"):
                    _append(d[key], p[key][None])
                for key in ("beta", "alpha", "n", "m"):
                    _append(d[key], np.array([p[key]], dtype=d[key].dtype))
            rec._flush_file()
            _append(self._snap_step, np.array([step], dtype=I64))
            rec._flush_file()
            self._last_snapshot = step

    def _snapshot_layer(self, info, l):
        lname = info["name"]
        if not hasattr(l, "get"):
            raise TypeError("snapshot: layer '%s' must be a dict with weight, forward and mask, got %s"
                            % (lname, type(l).__name__))
        for k in l:
            if k not in SNAPSHOT_KEYS:
                raise ValueError("snapshot: layer '%s' has an unknown key '%s'; the keys are: %s"
                                 % (lname, k, ", ".join(SNAPSHOT_KEYS)))
        if l.get("name") is not None and l["name"] != lname:
            raise ValueError("snapshot: layer %d is '%s', the run's sparse layer there is '%s'; pass the sparse "
                             "layers in the order of add_run(layers=...)"
                             % (self.sparse_layers.index(info), l["name"], lname))
        rows, cols = int(info["out"]), int(info["in"])
        out = {}
        for key in ("weight", "forward", "mask"):
            if l.get(key) is None:
                raise ValueError("snapshot: layer '%s' has no '%s'" % (lname, key))
            a = _to_numpy(l[key], "snapshot: layer '%s' %s" % (lname, key))
            if a.ndim > 2 and a.shape[0] == rows and int(np.prod(a.shape[1:])) == cols:
                a = a.reshape(rows, cols)  # a convolution's (out, in, kh, kw)
            if a.shape != (rows, cols):
                raise ValueError("snapshot: layer '%s' %s has shape %s, expected (%d, %d) = (out, in) as declared "
                                 "in add_run(layers=...)" % (lname, key, tuple(a.shape), rows, cols))
            if key == "mask":
                a = np.packbits(a != 0, axis=-1, bitorder="little")
            else:
                a = a.astype(F32, copy=False)
            out[key] = a
        out["beta"] = _to_float(l.get("beta", 1.0), "snapshot: beta")
        out["alpha"] = _to_float(l.get("alpha", 1.0), "snapshot: alpha")
        out["n"] = _to_int(l["n"], "snapshot: n") if l.get("n") is not None else int(info["n"])
        out["m"] = _to_int(l["m"], "snapshot: m") if l.get("m") is not None else int(info["m"])
        return out

    def finish(self, status="Completed", *, val_loss=NAN, val_accuracy=NAN, test_loss=NAN, test_accuracy=NAN,
               seconds=None):
        """Ends the run: writes summary/* and its final status, and flushes."""
        with self._rec._lock:
            if status not in FINAL_STATUSES:
                raise ValueError("finish: status must be one of %s, got %r" % (", ".join(FINAL_STATUSES), status))
            if self._ended:
                raise RuntimeError("run '%s' has already finished (status %s)" % (self.name, self.status))
            values = {"val_loss": _to_float(val_loss, "finish: val_loss"),
                      "val_accuracy": _to_float(val_accuracy, "finish: val_accuracy"),
                      "test_loss": _to_float(test_loss, "finish: test_loss"),
                      "test_accuracy": _to_float(test_accuracy, "finish: test_accuracy")}
            secs = None if seconds is None else _to_float(seconds, "finish: seconds")
            self._begin("finish")
            rec = self._rec
            rec.flush()
            self._end(status, values, self._last_elapsed if secs is None else secs)
            rec._flush_file()

    def _end(self, status, values, seconds):
        step = self._last_step if self._last_step is not None else 0
        _write_scalar(self._summary["step"], step, I64)
        for key, v in values.items():
            _write_scalar(self._summary[key], v, F32)
        _write_scalar(self._summary["seconds"], seconds, F64)
        _write_status(self._status_ds, status)
        self.status = status
        self._ended = True

    def _mark_stopped(self):
        """A run that never ended: Stopped at its last flushed step (as the C++ writer's close)."""
        if self._ended:
            return
        self._last_step = self._flushed_step
        self._end("Stopped", {k: NAN for k in ("val_loss", "val_accuracy", "test_loss", "test_accuracy")}, NAN)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and self._started and not self._ended and not self._rec._closed:
            self.finish("Stopped")
        return False


class _NullRun:
    """The run of a recorder on a rank other than 0: records nothing."""

    def __init__(self, name=""):
        self.name = name
        self.status = "Pending"

    def log(self, *a, **k):
        pass

    evaluate = continuity = snapshot = finish = log

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---- Recorder --------------------------------------------------------------------------------

class Recorder:
    """Writes one nmstudio run file (schema version 1) with one group per run.

    Recorder(path, overwrite=False, append=False, flush_seconds=2.0, rank=None)

    An existing file at `path` is refused (FileExistsError) unless overwrite=True (it is
    replaced once the new file is laid out) or append=True (the new runs are added after its
    own). Only rank 0 writes (rank None: torch.distributed's rank when a process group is
    initialised, else 0); elsewhere every method does nothing.
    """

    def __init__(self, path, overwrite=False, append=False, flush_seconds=2.0, rank=None):
        self.path = os.fspath(path)
        self.rank = _detect_rank() if rank is None else int(rank)
        self.overwrite = bool(overwrite)
        self.append = bool(append)
        self.flush_seconds = float(flush_seconds)
        self.runs = []
        self._lock = threading.RLock()
        self._file = None
        self._updated = None
        self._started = False
        self._closed = False
        self._last_flush = 0.0
        if self.overwrite and self.append:
            raise ValueError("Recorder: overwrite=True and append=True exclude each other; pick one")
        if not (self.flush_seconds >= 0):
            raise ValueError("Recorder: flush_seconds must be >= 0, got %r" % flush_seconds)
        if not self.path:
            raise ValueError("Recorder: the path is empty; give the run file to write, e.g. 'runs.h5'")
        if self.rank != 0:
            return
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise FileNotFoundError(errno.ENOENT, "cannot create run file '%s': the folder '%s' does not exist"
                                    % (self.path, folder), folder)
        if os.path.isdir(self.path):
            raise IsADirectoryError(errno.EISDIR, "cannot write run file '%s': it is a directory" % self.path,
                                    self.path)
        if _path_exists(self.path):
            if not (self.overwrite or self.append):
                raise FileExistsError(errno.EEXIST, _exists_message(self.path), self.path)
            if self.append:
                _check_run_file(self.path, time.time())

    @property
    def active(self):
        """True on the rank that writes."""
        return self.rank == 0

    def add_run(self, name, *, recipe="dense", recipe_title=None, nm="2:4", seed=0, config=None, model="", data="",
                task="classification", layers=None, parameter_count=0, effective_parameter_count=None, threads=1,
                blas_kernel="", parent=None, fork_step=None, scalars=(), snapshot_capacity=None, sweep=None):
        """Declares a run; every run is added before the first log (the file is laid out once)."""
        if self.rank != 0:
            return _NullRun(name)
        with self._lock:
            if self._closed:
                raise RuntimeError("Recorder for '%s' is closed; create a new one" % self.path)
            if self._started:
                raise RuntimeError("add_run('%s'): runs must be added before the first log, evaluate or snapshot "
                                   "(or start()); the file '%s' is already laid out" % (name, self.path))
            if not isinstance(name, str) or not name:
                raise ValueError("add_run: the run name must be a non-empty string, got %r" % (name,))
            for key, v in (("recipe", recipe), ("nm", nm), ("model", model), ("data", data),
                           ("blas_kernel", blas_kernel)):
                if not isinstance(v, str):
                    raise TypeError("add_run('%s'): %s must be a string, got %r" % (name, key, v))
            if not re.fullmatch(r"\d+:\d+", nm):
                raise ValueError("add_run('%s'): nm must read N:M, e.g. '2:4', got %r" % (name, nm))
            if task not in TASKS:
                raise ValueError("add_run('%s'): task must be 'classification' or 'language', got %r" % (name, task))
            if recipe_title is None:
                recipe_title = RECIPE_TITLES.get(recipe, recipe)
            seed = _to_int(seed, "add_run: seed")
            if not 0 <= seed < 2 ** 64:
                raise ValueError("add_run('%s'): seed must be in [0, 2^64), got %d" % (name, seed))
            if config is None:
                config_json = "{}"
            elif isinstance(config, str):
                try:
                    json.loads(config)
                except ValueError as e:
                    raise ValueError("add_run('%s'): config is a string but not JSON (%s); pass a dict" % (name, e))
                config_json = config
            elif hasattr(config, "items"):
                config_json = json.dumps(dict(config), sort_keys=True, default=str)
            else:
                raise TypeError("add_run('%s'): config must be a dict (or a JSON string), got %s"
                                % (name, type(config).__name__))
            default_n, default_m = (int(x) for x in nm.split(":"))
            table = self._layer_table(name, layers, default_n, default_m)
            parameter_count = _to_int(parameter_count, "add_run: parameter_count")
            if effective_parameter_count is None:
                effective_parameter_count = parameter_count - sum(
                    l["dense_params"] - l["effective_params"] for l in table if l["sparse"]) if parameter_count else 0
            effective_parameter_count = _to_int(effective_parameter_count, "add_run: effective_parameter_count")
            threads = _to_int(threads, "add_run: threads")
            if parent is not None and fork_step is None:
                raise ValueError("add_run('%s'): parent needs fork_step (the step the run continues from)" % name)
            if fork_step is not None:
                fork_step = _to_int(fork_step, "add_run: fork_step")
                if fork_step < 0:
                    raise ValueError("add_run('%s'): fork_step must be >= 0, got %d" % (name, fork_step))
                if parent is not None and not isinstance(parent, str):
                    raise TypeError("add_run('%s'): parent must be the name of the run it continues" % name)
            if isinstance(scalars, str):
                scalars = (scalars,)
            scalars = tuple(scalars)
            for s in scalars:
                if not isinstance(s, str) or not s or "/" in s or s in (".", "..", "step"):
                    raise ValueError("add_run('%s'): scalar name %r cannot name a dataset (no '/', not 'step'); "
                                     "use e.g. 'grad_scale'" % (name, s))
                if s in ("loss", "accuracy", "lr", "grad_norm", "step_seconds", "elapsed_seconds", "flops",
                         "layers", "sparsifier"):
                    raise ValueError("add_run('%s'): scalar '%s' is a parameter of log(); choose another name"
                                     % (name, s))
            if len(set(scalars)) != len(scalars):
                raise ValueError("add_run('%s'): scalars %s name one scalar twice" % (name, list(scalars)))
            if snapshot_capacity is not None:
                snapshot_capacity = _to_int(snapshot_capacity, "add_run: snapshot_capacity")
                if snapshot_capacity < 0:
                    raise ValueError("add_run('%s'): snapshot_capacity must be >= 0" % name)
            run = Run(self, len(self.runs), name, recipe, recipe_title, nm, seed, config_json, model, data, task,
                      table, parameter_count, effective_parameter_count, threads, blas_kernel, parent, fork_step,
                      scalars, snapshot_capacity)
            if sweep:  # the run attribute `sweep`: swept option -> value, in sweep order (as nmtrain --sweep)
                if not hasattr(sweep, "items"):
                    raise TypeError("add_run('%s'): sweep must be a dict of option -> value, got %s"
                                    % (name, type(sweep).__name__))
                run.sweep_json = json.dumps({str(k): str(v) for k, v in sweep.items()})
            self.runs.append(run)
            return run

    @staticmethod
    def _layer_table(run, layers, default_n, default_m):
        table = []
        groups = {}
        for i, l in enumerate(layers or ()):
            if not hasattr(l, "get"):
                raise TypeError("add_run('%s'): layers[%d] must be a dict with name, in, out, sparse (and n, m, "
                                "dense_params, effective_params), got %s" % (run, i, type(l).__name__))
            for k in l:
                if k not in LAYER_KEYS:
                    raise ValueError("add_run('%s'): layers[%d] has an unknown key '%s'; the keys are: %s"
                                     % (run, i, k, ", ".join(LAYER_KEYS)))
            for k in ("name", "in", "out"):
                if l.get(k) is None:
                    raise ValueError("add_run('%s'): layers[%d] has no '%s'" % (run, i, k))
            name = l["name"]
            if not isinstance(name, str) or not name:
                raise ValueError("add_run('%s'): layers[%d] name must be a non-empty string" % (run, i))
            fan_in, fan_out = _to_int(l["in"], "layer in"), _to_int(l["out"], "layer out")
            if fan_in <= 0 or fan_out <= 0:
                raise ValueError("add_run('%s'): layer '%s' has in=%d, out=%d; both must be positive"
                                 % (run, name, fan_in, fan_out))
            sparse = bool(l.get("sparse", False))
            n = _to_int(l["n"], "layer n") if l.get("n") is not None else (default_n if sparse else 0)
            m = _to_int(l["m"], "layer m") if l.get("m") is not None else (default_m if sparse else 0)
            dense = _to_int(l["dense_params"], "layer dense_params") if l.get("dense_params") is not None \
                else fan_in * fan_out
            if l.get("effective_params") is not None:
                eff = _to_int(l["effective_params"], "layer effective_params")
            else:
                eff = dense - (fan_in * fan_out - fan_in * fan_out * n // m) if sparse and m > 0 else dense
            if sparse:
                g = layer_group_name(name)
                if g in groups:
                    raise ValueError("add_run('%s'): sparse layers '%s' and '%s' would share the snapshot group "
                                     "'%s'; rename one" % (run, groups[g], name, g))
                groups[g] = name
            if any(t["name"] == name for t in table):
                raise ValueError("add_run('%s'): two layers are named '%s'; layer names must be unique" % (run, name))
            table.append({"name": name, "in": fan_in, "out": fan_out, "sparse": sparse, "n": n, "m": m,
                          "dense_params": dense, "effective_params": eff})
        return table

    # -- the file --

    def start(self):
        """Lays out every added run and switches the file to SWMR mode (implicit at the first record)."""
        if self.rank != 0:
            return
        with self._lock:
            self._ensure_started()

    def _ensure_started(self):
        if self._closed:
            raise RuntimeError("Recorder for '%s' is closed; create a new one" % self.path)
        if self._started:
            return
        if not self.runs:
            raise RuntimeError("Recorder for '%s': add at least one run with add_run() before the first log"
                               % self.path)
        path, partial = self.path, self.path + ".partial"
        exists = _path_exists(path)
        if exists and not (self.overwrite or self.append):
            raise FileExistsError(errno.EEXIST, _exists_message(path), path)
        append = exists and self.append
        first = _check_run_file(path, time.time()) if append else 0
        if append:
            # Extend a copy, so the original stays whole whatever fails before the rename.
            try:
                shutil.copyfile(path, partial)
            except OSError as e:
                raise OSError(e.errno, "cannot append to run file '%s': copying it to '%s' failed (%s)"
                              % (path, partial, e.strerror)) from None
        try:
            f = h5py.File(partial, "r+" if append else "w", **_file_kwargs())
        except OSError as e:
            if append:
                _remove(partial)
                raise OSError("cannot append to run file '%s': it does not open for writing (%s; if a writer was "
                              "killed, `h5clear -s %s` clears its open-for-writing mark)" % (path, e, path)) from None
            raise OSError("cannot create run file '%s' (%s; is the directory writable?)" % (partial, e)) from None
        try:
            total = first + len(self.runs)
            if append:
                del f.attrs["run_count"]
                self._updated = f["updated"]
            else:
                f.attrs["schema"] = SCHEMA
                f.attrs.create("schema_version", np.int32(SCHEMA_VERSION))
                from . import __version__
                f.attrs["tool_version"] = "nmstudio-python " + __version__
                f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                self._updated = _numeric_scalar(f, "updated", F64, np.nan)
                _create_group(f, "runs")
            f.attrs.create("run_count", np.int32(total))
            self._file = f
            for i, run in enumerate(self.runs):
                run._layout(f, first + i)
            f.swmr_mode = True
            self._flush_file()
            if not exists or not (self.overwrite or self.append):
                _rename_noreplace(partial, path)
            else:
                try:
                    os.replace(partial, path)
                except OSError as e:
                    raise OSError(e.errno, "cannot write run file '%s': renaming '%s' over it failed (%s; is the "
                                  "directory writable?)" % (path, partial, e.strerror)) from None
        except BaseException:
            self._file = None
            self._updated = None
            try:
                f.close()
            except Exception:  # noqa: BLE001 - the original error is the one to report
                pass
            _remove(partial)
            raise
        self._started = True
        self._last_flush = time.monotonic()
        atexit.register(self._at_exit)

    def _flush_file(self):
        _write_scalar(self._updated, time.time(), F64)
        self._file.flush()

    def _maybe_flush(self, run):
        if time.monotonic() - self._last_flush >= self.flush_seconds or run._pending_rows() >= MAX_PENDING_ROWS:
            self.flush()

    def flush(self):
        """Writes every buffered row: values, an HDF5 flush, then the steps, another flush."""
        if self.rank != 0:
            return
        with self._lock:
            if self._started and not self._closed:
                self._flush_locked()

    def _flush_locked(self):
        # Every buffered device tensor of every run to the host in one transfer per device.
        _resolve([row for r in self.runs for t in r._tables() for row in t.rows])
        wrote = False
        for r in self.runs:
            wrote = r._write_values() or wrote
        if wrote:
            self._flush_file()
            for r in self.runs:
                r._write_steps()
        self._flush_file()
        self._last_flush = time.monotonic()

    def close(self):
        """Flushes and closes the file; runs that never finished are recorded as Stopped at their last
        flushed step (like nmstudio's own writer). A recorder that never started writes no file."""
        if self.rank != 0:
            return
        with self._lock:
            if self._closed:
                return
            self._closed = True
            atexit.unregister(self._at_exit)
            if not self._started:
                return
            try:
                self._flush_locked()
                for r in self.runs:
                    r._mark_stopped()
                self._flush_file()
            finally:
                self._closed = True
                f, self._file, self._updated = self._file, None, None
                f.close()

    def _at_exit(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing to report to at exit
            pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.rank != 0:
            return False
        if exc_type is not None and self._started and not self._closed:
            with self._lock:
                for r in self.runs:
                    if r._started and not r._ended:
                        try:
                            r.finish("Stopped")
                        except Exception:  # noqa: BLE001 - keep the original exception
                            pass
        self.close()
        return False


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass
