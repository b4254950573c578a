#!/usr/bin/env python3
"""Fashion-MNIST with N:M sparse recipes under DistributedDataParallel, into one nmstudio run file.

    PYTHONPATH=python python3 python/examples/fmnist_ddp.py --out fmnist.h5           # 2 CPU processes (gloo)
    nmstudio fmnist.h5                                                                 # watch it, live
    torchrun --nproc-per-node 8 python/examples/fmnist_ddp.py --device cuda --out f.h5  # GPUs (NCCL)

Trains a small CNN (or `--model vit`, a small vision transformer) once per recipe (STE, SR-STE
and S-STE at 2:4 by default), one after the other, every run in the same file. Each step's
global batch is split across the processes; the masks are computed on every rank from the same
weights, and rank 0 writes the file. Data: Debian's IDX files (package dataset-fashion-mnist).
"""

import argparse
import gzip
import math
import os
import socket
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import nmstudio  # noqa: E402
import nmstudio.torch as nmt  # noqa: E402

MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(folder, prefix):
    def find(stem):
        for name in (stem, stem + ".gz"):
            if os.path.exists(os.path.join(folder, name)):
                return os.path.join(folder, name)
        raise FileNotFoundError(f"{stem}[.gz] not found in {folder}; install dataset-fashion-mnist or pass --data-dir")
    images = read_idx(find(f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find(f"{prefix}-labels-idx1-ubyte"))
    x = (torch.from_numpy(images.astype(np.float32) / 255.0) - MEAN) / STD
    return x.unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


class Cnn(nn.Module):
    """conv 1→32 (dense: 9 inputs per output), conv 32→64, fc 3136→128, fc 128→10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // self.heads), dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, c))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Vit(nn.Module):
    """4×4 patches (49 tokens), width 64, 2 pre-LayerNorm blocks of 4 heads, mean pooling."""

    def __init__(self, width=64, depth=2, heads=4, patch=4):
        super().__init__()
        self.patch = patch
        self.embed = nn.Linear(patch * patch, width)
        self.pos = nn.Parameter(torch.zeros(1, (28 // patch) ** 2, width))
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(depth))
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        p = self.patch
        x = x.unfold(2, p, p).unfold(3, p, p).reshape(x.shape[0], -1, p * p)
        x = self.embed(x) + self.pos
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x).mean(dim=1))


def sparse_layers(model_name):
    if model_name == "vit":  # the blocks' Linear layers; embedding and head stay dense
        return lambda name, module: name.startswith("blocks.")
    return ["conv2", "fc1", "fc2"]


def lr_at(step, steps, peak):
    """Cosine decay from peak to 0 over the run (nmtrain's default for the MLP)."""
    return 0.5 * peak * (1.0 + math.cos(math.pi * min(step / max(steps - 1, 1), 1.0)))


@torch.no_grad()
def evaluate(model, x, y, device, rank, world, batch=1000):
    """Mean loss and accuracy over (x, y); every rank takes its share, the sums are all-reduced."""
    model.eval()
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    for i in range(rank * batch, len(x), world * batch):
        out = model(x[i:i + batch].to(device))
        target = y[i:i + batch].to(device)
        sums[0] += F.cross_entropy(out, target, reduction="sum").double()
        sums[1] += (out.argmax(dim=1) == target).sum()
    if world > 1:
        dist.all_reduce(sums)
    model.train()
    return float(sums[0]) / len(x), float(sums[1]) / len(x)


def train(rank, world, args):
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if args.device == "cuda" else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world)
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = torch.device(f"cuda:{local_rank % torch.cuda.device_count()}" if args.device == "cuda" else "cpu")
    if args.device == "cuda":
        torch.cuda.set_device(device)
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // world) if args.threads == 0 else args.threads)

    train_x, train_y = load_split(args.data_dir, "train")
    val_x, val_y = train_x[-args.val_count:], train_y[-args.val_count:]
    train_x, train_y = train_x[:-args.val_count], train_y[:-args.val_count]
    test_x, test_y = load_split(args.data_dir, "t10k")
    if args.test_count:
        test_x, test_y = test_x[:args.test_count], test_y[:args.test_count]
    if args.batch % world != 0:
        raise SystemExit(f"--batch {args.batch} must be a multiple of the number of processes ({world})")
    local = args.batch // world

    recorder = nmstudio.Recorder(args.out, overwrite=args.overwrite, append=args.append)
    setups = []
    for recipe in args.recipes.split(","):
        torch.manual_seed(args.seed)  # every recipe starts from the same weights on every rank
        model = (Vit() if args.model == "vit" else Cnn()).to(device)
        sparse = nmt.Sparsifier(model, recipe, args.nm, steps=args.steps, layers=sparse_layers(args.model))
        params = sum(p.numel() for p in model.parameters())
        config = dict(sparse.config(), model=args.model, steps=args.steps, batch=args.batch, lr=args.lr,
                      momentum=0.9, nesterov=True, weight_decay=5e-4, seed=args.seed, processes=world,
                      device=str(device))
        run = recorder.add_run(
            f"{recipe}_s{args.seed}", recipe=recipe, nm=args.nm, seed=args.seed, config=config,
            model=f"PyTorch {args.model.upper()} ({params} parameters), "
                  f"{f'DDP × {world}' if world > 1 else '1 process'} on {device.type}",
            data="fashion-mnist", layers=sparse.layer_info, parameter_count=params,
            effective_parameter_count=sparse.effective_parameter_count(), threads=torch.get_num_threads(),
            blas_kernel=f"torch {torch.__version__}")
        setups.append((recipe, model, sparse, run))

    for recipe, model, sparse, run in setups:
        ddp = nn.parallel.DistributedDataParallel(model) if world > 1 else model
        opt = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
        order = torch.Generator().manual_seed(args.seed)  # the same data order on every rank
        perm, cursor, elapsed = torch.randperm(len(train_x), generator=order), 0, 0.0
        run.snapshot(0, sparse)
        for step in range(args.steps):
            t0 = time.perf_counter()
            if cursor + args.batch > len(perm):
                perm, cursor = torch.randperm(len(train_x), generator=order), 0
            idx = perm[cursor + rank * local:cursor + (rank + 1) * local]
            cursor += args.batch
            x, y = train_x[idx].to(device, non_blocking=True), train_y[idx].to(device, non_blocking=True)
            lr = lr_at(step, args.steps, args.lr)
            for group in opt.param_groups:
                group["lr"] = lr
            out = ddp(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = sparse.clip_grad_norm_(math.inf)  # records the statistics before any clipping
            sparse.step(opt)
            metrics = torch.stack([loss.detach(), (out.argmax(dim=1) == y).float().mean()])
            if world > 1:
                dist.all_reduce(metrics)
                metrics /= world
            seconds = time.perf_counter() - t0
            elapsed += seconds
            run.log(step + 1, loss=metrics[0], accuracy=metrics[1], lr=lr, grad_norm=grad_norm,
                    step_seconds=seconds, layers=sparse.stats())
            last = step + 1 == args.steps
            if (step + 1) % args.eval_every == 0 or last:
                val_loss, val_acc = evaluate(model, val_x, val_y, device, rank, world)
                run.evaluate(step + 1, "val", loss=val_loss, accuracy=val_acc)
            if (step + 1) % args.snapshot_every == 0 or last:
                run.snapshot(step + 1, sparse)
        test_loss, test_acc = evaluate(model, test_x, test_y, device, rank, world)
        if rank == 0:
            run.evaluate(args.steps, "test", loss=test_loss, accuracy=test_acc)
            run.finish("Completed", val_loss=val_loss, val_accuracy=val_acc, test_loss=test_loss,
                       test_accuracy=test_acc, seconds=elapsed)
            print(f"final run={recipe}_s{args.seed} step={args.steps} val_loss={val_loss:.4f} val_acc={val_acc:.4f} "
                  f"test_loss={test_loss:.4f} test_acc={test_acc:.4f} processes={world} seconds={elapsed:.1f}",
                  flush=True)
        sparse.remove()
    recorder.close()
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


def _spawned(rank, world, port, args):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    train(rank, world, args)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="fmnist_ddp.h5", help="run file to write (refused if it exists)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--append", action="store_true", help="add the runs to an existing --out file")
    p.add_argument("--recipes", default="ste,srste,sste")
    p.add_argument("--nm", default="2:4")
    p.add_argument("--model", choices=("cnn", "vit"), default="cnn")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=128, help="global batch (split across the processes)")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--val-count", type=int, default=5000,
                   help="validation images held out from the end of the training file (as nmtrain)")
    p.add_argument("--test-count", type=int, default=0, help="test images to evaluate (0: all 10000)")
    p.add_argument("--snapshot-every", type=int, default=500)
    p.add_argument("--nproc", type=int, default=2, help="processes to spawn on this machine (ignored under torchrun)")
    p.add_argument("--threads", type=int, default=0, help="torch threads per process (0: cores / processes)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: this PyTorch sees no CUDA device")
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # torchrun, or a cluster launcher
        world = int(os.environ["WORLD_SIZE"])
        if world > 1:
            dist.init_process_group("nccl" if args.device == "cuda" else "gloo")
        train(int(os.environ["RANK"]), world, args)
    elif args.nproc > 1:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        torch.multiprocessing.spawn(_spawned, args=(args.nproc, port, args), nprocs=args.nproc, join=True)
    else:
        train(0, 1, args)


if __name__ == "__main__":
    main()
