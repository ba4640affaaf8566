# Written directly, not generated: tools/gather.py leaves this module alone. It assembles lesson 11's pieces
# (minipose.steps: train_step, learning_rate, evaluate) into the training command.
"""Train PoseNet on the official Human3.6M layout (synthetic or real): `python -m minipose.train`.

    python -m minipose.train --preset cpu                       # a 2-core laptop: ResNet-18, 64 × 64 crops
    python -m minipose.train --preset paper --data ~/h36m       # the paper's settings, on a GPU
    torchrun --nproc_per_node=4 -m minipose.train --preset paper --data ~/h36m   # several GPUs (or CPU processes)

What it does, as the official main/train.py: Adam, the learning rate divided by `lr_dec_factor` at the epochs in
`lr_dec_epoch`, the per-joint L1 loss on soft-argmax's coordinates. Each epoch ends with the held-out MPJPE in mm,
a checkpoint in the official format ({'epoch', 'network', 'optimizer'}) and one JSON line in `log.jsonl`;
`--resume` continues from the last checkpoint and gives the same weights as a run that never stopped.
Under torchrun it uses DistributedDataParallel (gloo on CPU, NCCL on CUDA) and a DistributedSampler; the global
batch is `batch_size`, split over the processes; only rank 0 writes.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from minipose.camera import pixel2cam
from minipose.checkpoint import load_checkpoint, save_checkpoint
from minipose.config import Config, pick_device
from minipose.data import PoseDataset
from minipose.h36m import Human36M
from minipose.infer import flip_test, output_to_camera, root_depth_prior
from minipose.metrics import mpjpe  # noqa: F401 - tools/ship_weights.py takes it from here
from minipose.posenet import get_pose_net
from minipose.skeleton import FLIP_PAIRS, JOINT_NUM
from minipose.steps import evaluate, learning_rate, train_step  # lesson 11 writes these three pieces

# Named settings. "paper" is the paper's Config; "cpu" is small enough to learn on two CPU cores in minutes.
PRESETS: dict[str, dict] = {
    "paper": dict(config={}, pretrained=True, augment=True, occlusion=True, in_memory=False, mirror=False,
                  scenes=None),
    "cpu": dict(config=dict(resnet_type=18, input_shape=(64, 64), depth_dim=16, head_channels=128, batch_size=32,
                            lr=1e-3, lr_dec_epoch=(17, 19), end_epoch=20),
                pretrained=False, augment=False, occlusion=False, in_memory=True, mirror=True, scenes=6000),
}


def preset_config(name: str) -> Config:
    if name not in PRESETS:
        raise ValueError(f"no preset {name!r}; the presets are {', '.join(sorted(PRESETS))}")
    return dataclasses.replace(Config(), **PRESETS[name]["config"])


def predict_cam(net, loader, config: Config, device, flip: bool = False, exact: bool = True,
                root: str = "true") -> tuple[np.ndarray, np.ndarray]:
    """(predicted, true) camera-space joints, N × J × 3 mm, for every item of an evaluation loader.

    flip=True averages each crop's answer with its mirror image's (`minipose.infer.flip_test`), as the official
    test does (its config's flip_test = True); the training log's per-epoch figure is without it. exact=False
    undoes the mirror the official way (output width − 1 − x) instead of exactly.
    root: the root depth each person's joints are placed at. "true": the annotated one (the official test with
    use_gt_info = True, its config's default); "prior": RootNet's distance prior k from the box
    (`root_depth_prior`), a stand-in for RootNet's output, which the official test reads with use_gt_info = False.
    """
    if root not in ("true", "prior"):
        raise ValueError(f"root must be 'true' or 'prior', got {root!r}")
    net.eval()
    preds, trues = [], []
    with torch.no_grad():
        for batch in loader:
            img = batch["img"].to(device)
            coord = (flip_test(net, img, config, exact) if flip else net(img)).double().cpu().numpy()
            for i in range(len(coord)):
                f = batch["f"][i].numpy()
                depth = (batch["root_cam"][i, 2].item() if root == "true"
                         else root_depth_prior(batch["bbox"][i].numpy(), f))
                preds.append(output_to_camera(coord[i], batch["trans"][i].numpy(), depth, f,
                                              batch["c"][i].numpy(), config)[1])
                trues.append(batch["joint_cam"][i].numpy())
    return np.stack(preds), np.stack(trues)


def baselines(train_records, test_records) -> dict[str, float]:
    """Two answers that need no network, to read MPJPE against.

    mean pose: the training set's mean root-relative pose, for everyone. perfect 2D, zero depth: every joint at its
    true pixel but at the root's depth — what a network that learned the picture but no depth would score.
    """
    true = np.stack([r["joint_cam"] for r in test_records])
    mean_pose = np.mean([r["joint_cam"] - r["root_cam"] for r in train_records], axis=0)
    flat = []
    for r in test_records:
        px = r["joint_img"].copy()
        px[:, 2] = r["root_cam"][2]
        flat.append(pixel2cam(px, r["f"], r["c"]))
    return {"mean_pose": mpjpe(np.broadcast_to(mean_pose, true.shape), true),
            "flat_2d": mpjpe(np.stack(flat), true)}


def init_from_scratch(backbone: torch.nn.Module) -> None:
    """He (kaiming) initialisation of the backbone's convolutions, as torchvision's ResNet starts without weights.

    The official backbone sets every convolution to normal(0, 0.001), a placeholder that ImageNet's weights
    overwrite at once; a network trained from scratch starts here instead, with activations and gradients of the
    usual size in every layer.
    """
    for m in backbone.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def _distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device); starts the process group when run by torchrun (it sets RANK, WORLD_SIZE, ...)."""
    if "RANK" not in os.environ:
        return 0, 1, pick_device()
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))  # processes share the cores
    return rank, world, torch.device("cpu")


def _last_snapshot(out: Path) -> Path | None:
    snaps = sorted(out.glob("snapshot_*.pth.tar"), key=lambda p: int(p.name.split("_")[1].split(".")[0]))
    return snaps[-1] if snaps else None


def mirror_crops(batch: dict, config: Config, which: torch.Tensor) -> dict:
    """The batch with the crops where `which` (a bool mask) is True mirrored left-right, their targets with them.

    A crop's pixel column u goes to W − 1 − u, so a joint at crop x goes to W − 1 − x (on the output grid: divided
    by W / output width); y and depth stay. A left wrist seen in a mirror is a right wrist, so every left joint's
    row trades places with its right partner's (targets and visibility both). The official code mirrors the whole
    picture before cropping instead; on crops already made, this is the same augmentation at no cost.
    """
    width, scale = config.input_shape[1], config.input_shape[1] / config.output_shape[1]
    order = list(range(batch["joint_img"].shape[1]))
    for right, left in FLIP_PAIRS:
        order[right], order[left] = left, right
    img, joint_img, joint_vis = batch["img"].clone(), batch["joint_img"].clone(), batch["joint_vis"].clone()
    img[which] = img[which].flip(-1)
    mirrored = joint_img[which][:, order]
    mirrored[..., 0] = (width - 1 - mirrored[..., 0] * scale) / scale
    joint_img[which] = mirrored
    joint_vis[which] = joint_vis[which][:, order]
    return {**batch, "img": img, "joint_img": joint_img, "joint_vis": joint_vis}


class InMemory(torch.utils.data.Dataset):
    """A data set's items made once (with `workers` processes) and kept as tensors."""

    def __init__(self, dataset, workers: int = 0):
        parts = list(torch.utils.data.DataLoader(dataset, batch_size=64, num_workers=workers))
        self.tensors = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    def __len__(self) -> int:
        return len(self.tensors["img"])

    def __getitem__(self, i: int) -> dict:
        return {k: v[i] for k, v in self.tensors.items()}


def train(config: Config, data, out, *, pretrained: bool = False, epochs: int | None = None, seed: int = 0,
          resume: bool = False, workers: int = 2, sync_bn: bool = False, augment: bool = True,
          accumulate: int = 1, occlusion: bool = True, in_memory: bool = False, mirror: bool = False,
          progress: bool = True, snapshots: bool = True) -> tuple[torch.nn.Module, list[dict]]:
    """Train on the layout at `data`, write snapshots and log.jsonl into `out`; return the network and the log.

    accumulate=k splits each process's batch into k strided micro-batches (items 0, k, 2k, … then 1, k+1, …), each
    with its own BatchNorm statistics, and sums their gradients before one step. One process with accumulate=k takes
    exactly the steps of k processes under torchrun (DistributedSampler deals the batch out the same way), on a
    machine that holds only a k-th of the batch at once.

    in_memory=True makes every crop once and keeps the tensors (the held-out crops, and the training crops when they
    are not augmented, so the same every epoch): for a small data set, it saves decoding and warping each picture
    again every epoch. The network runs in channels-last memory layout, which PyTorch's convolutions prefer.

    mirror=True mirrors a random half of every batch of plain crops (`mirror_crops`): twice the different pictures
    for the cost of none. Augmented crops are mirrored by the augmentation already; then it does nothing.

    snapshots=False writes no checkpoint (a short demonstration, as in lesson 11); the log is written either way.
    """
    rank, world, device = _distributed()
    out = Path(out)
    end_epoch = config.end_epoch if epochs is None else epochs
    if config.batch_size % (world * accumulate):
        raise ValueError(f"batch_size {config.batch_size} does not split over {world} process(es) × {accumulate} "
                         "micro-batches; pick a multiple")
    if sync_bn and world > 1 and device.type != "cuda":
        raise ValueError("SyncBatchNorm works on CUDA only (PyTorch's rule); leave --sync-bn out on CPU")
    train_db, test_db = Human36M(data, "train", config=config), Human36M(data, "test", config=config)
    train_set = PoseDataset(train_db, config, train=augment, occlusion=occlusion)
    test_set = PoseDataset(test_db, config, train=False)
    if len(train_set) < config.batch_size:
        raise ValueError(f"{data} has {len(train_set)} training people, fewer than one batch of {config.batch_size}")
    if in_memory:
        test_set = InMemory(test_set, workers)
        if not augment:
            train_set = InMemory(train_set, workers)

    torch.manual_seed(seed)
    net = get_pose_net(config, is_train=pretrained, joint_num=JOINT_NUM)
    if not pretrained:
        net.head.init_weights()  # the official head initialisation
        init_from_scratch(net.backbone)
    if sync_bn and world > 1:
        net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    net.to(device, memory_format=torch.channels_last)
    # fused: the same Adam update in one kernel over all weights, not a few per tensor; 10 ms instead of 47 per step
    # for the cpu preset's 15 M weights (on CUDA too; other devices keep the default).
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, fused=device.type in ("cpu", "cuda"))
    start = 0
    if not resume and _last_snapshot(out) is not None:
        raise FileExistsError(f"{out} holds snapshots of an earlier run; add --resume to continue it, or give another "
                              "--out (nothing was overwritten)")
    if resume:
        snapshot = _last_snapshot(out)
        if snapshot is None:
            raise FileNotFoundError(f"--resume: no snapshot_*.pth.tar in {out}; train without --resume first")
        start = load_checkpoint(str(snapshot), net, optimizer) + 1
        for state in optimizer.state.values():  # Adam's averages onto the model's device
            for k, v in state.items():
                if isinstance(v, torch.Tensor) and k != "step":
                    state[k] = v.to(device)
    model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None) \
        if world > 1 else net

    log_path = out / "log.jsonl"
    records = []
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        if log_path.exists():  # keep what came before the epoch we resume at
            records = read_log(log_path)
            records = [r for r in records if r["epoch"] < start] if resume else []
        _write_log(log_path, records)
        base = baselines(train_db.data, test_db.data)

    sampler = torch.utils.data.DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=seed,
                                                  drop_last=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=config.batch_size,
                                              num_workers=0 if isinstance(test_set, InMemory) else workers)
    for epoch in range(start, end_epoch):
        lr = learning_rate(config, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        sampler.set_epoch(epoch)
        torch.manual_seed(seed * 100_003 + epoch * 101 + rank)  # augmentation draws, the same after a resume
        loader = torch.utils.data.DataLoader(
            train_set, batch_size=config.batch_size // world, sampler=sampler, drop_last=True,
            num_workers=0 if isinstance(train_set, InMemory) else workers,
            generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        started, seen, total = time.perf_counter(), 0, 0.0
        if progress and rank == 0:
            from tqdm.auto import tqdm  # here, not at the top: importing tqdm.auto warns in a notebook without ipywidgets
            bar = tqdm(loader, desc=f"epoch {epoch}", leave=False)
        else:
            bar = loader
        for batch in bar:
            if mirror and not augment:  # torch's generator, seeded above: the same draws after a resume
                batch = mirror_crops(batch, config, torch.rand(len(batch["img"])) < 0.5)
            step_loss = train_step(model, optimizer, batch, device, accumulate)
            seen += len(batch["img"]) * world
            total += step_loss * len(batch["img"])
            if bar is not loader:
                bar.set_postfix(loss=f"{step_loss:.3f}", img_s=f"{seen / (time.perf_counter() - started):.1f}")
        seconds = time.perf_counter() - started
        if rank == 0:
            record = {"epoch": epoch, "lr": lr, "loss": total / max(1, seen // world),
                      "mpjpe_mm": evaluate(net, test_loader, config, device),
                      "images_per_s": seen / seconds, "seconds": seconds,
                      "baseline_mean_pose_mm": base["mean_pose"], "baseline_flat_2d_mm": base["flat_2d"]}
            records.append(record)
            if snapshots:
                save_checkpoint(str(out / f"snapshot_{epoch}.pth.tar"), net, optimizer, epoch)
            _write_log(log_path, records)
            if progress:
                print(f"epoch {epoch}: loss {record['loss']:.3f}, held-out MPJPE {record['mpjpe_mm']:.1f} mm "
                      f"(mean pose {base['mean_pose']:.1f}, flat 2D {base['flat_2d']:.1f}), "
                      f"{record['images_per_s']:.1f} images/s", flush=True)
        if world > 1:
            dist.barrier()
    if world > 1:
        dist.destroy_process_group()
    return net, records


def half_state_dict(state_dict: dict) -> dict:
    """A state dict for shipping: weights in half precision (half the bytes); BatchNorm's running statistics and
    counters stay as they are (a running variance can exceed what float16 holds)."""
    return {k: v.half() if v.is_floating_point() and "running_" not in k else v for k, v in state_dict.items()}


def load_trained(path, config: Config) -> torch.nn.Module:
    """PoseNet with the weights of a checkpoint (the shipped half-precision one too), in float32 and eval mode.

    Read with weights_only=True by minipose.checkpoint.load_checkpoint, which names any mismatch (depth, joints,
    depth_dim) before loading anything.
    """
    net = get_pose_net(config, is_train=False, joint_num=JOINT_NUM)
    load_checkpoint(str(path), net)  # load_state_dict copies half-precision values into the float32 tensors
    return net.eval()


def read_log(path) -> list[dict]:
    """The records of a log.jsonl, one dict per epoch (what a notebook plots)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _write_log(path: Path, records: list[dict]) -> None:
    """One JSON object per line, written to a temporary file and renamed (a crash never leaves half a log)."""
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minipose.train", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu", help=f"one of {', '.join(sorted(PRESETS))} (default cpu)")
    parser.add_argument("--data", help="a folder in the official Human3.6M layout (default for the cpu preset: "
                                       "synthetic scenes in the cache, made on first use)")
    parser.add_argument("--out", help="where snapshots and log.jsonl go (default output/<preset>)")
    parser.add_argument("--epochs", type=int, help="stop after this many epochs (default: the preset's end_epoch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from the last snapshot in --out")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across GPUs under torchrun")
    parser.add_argument("--accumulate", type=int, default=1, help="micro-batches per step (gradient accumulation)")
    parser.add_argument("--no-augment", action="store_true", help="train on plain crops, none mirrored")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = preset_config(args.preset)
    except ValueError as err:
        parser.error(str(err))
    preset = PRESETS[args.preset]
    data = args.data
    if data is None:
        if preset["scenes"] is None:
            parser.error(f"--preset {args.preset} needs --data: a folder of parsed Human3.6M (see docs/data.md)")
        from minipose import synth
        data = synth.default_cache_dir() / f"synth-seed0-{preset['scenes']}"
        if not (data / "minipose_synth.json").exists() and int(os.environ.get("RANK", 0)) == 0:
            print(f"making {preset['scenes']} synthetic scenes in {data} (once)")
            synth.write_dataset(data, preset["scenes"], seed=0, progress=not args.no_progress)
        if "RANK" in os.environ:  # the others wait until rank 0 has written the data
            while not (data / "minipose_synth.json").exists():
                time.sleep(1)
    out = Path(args.out or Path("output") / args.preset)
    train(config, data, out, pretrained=preset["pretrained"], epochs=args.epochs, seed=args.seed,
          resume=args.resume, workers=args.workers, sync_bn=args.sync_bn, augment=preset["augment"] and not args.no_augment,
          accumulate=args.accumulate, occlusion=preset["occlusion"], in_memory=preset["in_memory"],
          mirror=preset["mirror"] and not args.no_augment, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
