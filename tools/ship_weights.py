"""Ship a trained run's weights in data/: `python tools/ship_weights.py output/cpu --wall-seconds S`.

Writes data/posenet_cpu/: weights.pth.tar (the last snapshot, weights in half precision, no optimizer state),
log.jsonl (the run's log) and training.json (command, seed, commit, wall time, metrics, including the held-out
MPJPE on data/synth_sample that tests/test_train.py reproduces). Run it once, for the final run only.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from minipose import synth  # noqa: E402
from minipose.data import PoseDataset  # noqa: E402
from minipose.h36m import Human36M  # noqa: E402
from minipose.train import (PRESETS, _last_snapshot, baselines, half_state_dict, load_trained, mpjpe, predict_cam,  # noqa: E402
                            preset_config, read_log)

SAMPLE = ROOT / "data" / "synth_sample"


def metrics(weights: Path, config, data: Path) -> dict:
    """Held-out MPJPE of the shipped weights on a data folder's test split, with and without flip test, and the
    two baselines (the mean pose of that folder's training split)."""
    torch.set_num_threads(2)
    net = load_trained(weights, config)
    train_db, test_db = Human36M(data, "train", config=config), Human36M(data, "test", config=config)
    loader = torch.utils.data.DataLoader(PoseDataset(test_db, config, train=False), batch_size=64, num_workers=2)
    pred, true = predict_cam(net, loader, config, torch.device("cpu"))
    flipped, _ = predict_cam(net, loader, config, torch.device("cpu"), flip=True)
    base = baselines(train_db.data, test_db.data)
    return {"people": len(true), "mpjpe_mm": mpjpe(pred, true), "mpjpe_flip_test_mm": mpjpe(flipped, true),
            "baseline_mean_pose_mm": base["mean_pose"], "baseline_flat_2d_mm": base["flat_2d"]}


def machine() -> str:
    """'2 CPU cores (AMD EPYC, AVX512), torch 2.14.1+cu130': what the run's wall time was measured on."""
    model = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():  # Linux: platform.processor() is often empty or just the architecture
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    kind = ", ".join(x for x in (model, torch.backends.cpu.get_cpu_capability()) if x)
    return f"{os.cpu_count()} CPU cores ({kind}), torch {torch.__version__}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the --out folder of the finished run")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--command", default="python -m minipose.train --preset cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wall-seconds", type=float, required=True, help="the whole command's wall time")
    parser.add_argument("--data", type=Path, help="the run's data folder (default: the preset's synthetic scenes)")
    parser.add_argument("--dest", type=Path, default=ROOT / "data" / "posenet_cpu")
    parser.add_argument("--commit", help="the commit the run was made from (default: HEAD)")
    args = parser.parse_args()
    # --verify: a mistyped --commit stops here, before any work, instead of being recorded as the run's commit
    found = subprocess.run(["git", "rev-parse", "--verify", f"{args.commit or 'HEAD'}^{{commit}}"], cwd=ROOT,
                           capture_output=True, text=True)
    if found.returncode:
        parser.error(f"--commit {args.commit}: no such commit in {ROOT}")
    commit = found.stdout.strip()
    config = preset_config(args.preset)
    snapshot = _last_snapshot(args.run)
    checkpoint = torch.load(snapshot, map_location="cpu", weights_only=True)
    log = read_log(args.run / "log.jsonl")
    tmp = Path(tempfile.mkdtemp(dir=args.dest.parent, prefix=".ship-"))
    torch.save({"epoch": checkpoint["epoch"], "network": half_state_dict(checkpoint["network"])},
               tmp / "weights.pth.tar")
    shutil.copy(args.run / "log.jsonl", tmp / "log.jsonl")
    data = args.data or synth.default_cache_dir() / f"synth-seed0-{PRESETS[args.preset]['scenes']}"
    held_out = metrics(tmp / "weights.pth.tar", config, data)  # the half-precision weights, as they ship
    last = log[-1]
    meta = {
        "command": args.command, "preset": args.preset, "seed": args.seed, "commit": commit,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(config).items()},
        "epochs": len(log), "wall_seconds": round(args.wall_seconds, 1),
        "machine": machine(),
        "held_out": {**held_out, "mpjpe_mm_logged": last["mpjpe_mm"],
                     "images_per_s_median": float(np.median([r["images_per_s"] for r in log]))},
        "shipped_sample": metrics(tmp / "weights.pth.tar", config, SAMPLE),
    }
    (tmp / "training.json").write_text(json.dumps(meta, indent=1) + "\n")
    if args.dest.exists():
        shutil.rmtree(args.dest)
    os.replace(tmp, args.dest)
    print(json.dumps(meta, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
