"""Training (python -m minipose.train): the schedule, overfitting one batch, resume, torchrun with 2 processes."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from conftest import ROOT
from minipose import Config
from minipose.data import PoseDataset
from minipose.h36m import Human36M
from minipose.posenet import coord_l1_loss, get_pose_net
from minipose.steps import evaluate
from minipose.train import learning_rate, mirror_crops, preset_config, train

SAMPLE = ROOT / "data" / "synth_sample"
# Small enough for seconds on a CPU, built from the same classes as the paper's network.
TINY = dataclasses.replace(Config(), resnet_type=18, input_shape=(64, 64), depth_dim=8, batch_size=8, lr=1e-3,
                           lr_dec_epoch=(1,), end_epoch=2)


def test_learning_rate_follows_the_official_steps():
    config = Config()  # lr 1e-3, divided by 10 at epochs 17 and 21
    table = {0: 1e-3, 16: 1e-3, 17: 1e-4, 20: 1e-4, 21: 1e-5, 24: 1e-5}
    for epoch, lr in table.items():
        assert learning_rate(config, epoch) == pytest.approx(lr), epoch


def test_overfitting_one_batch_lowers_the_loss_tenfold():
    torch.manual_seed(0)
    batch = next(iter(torch.utils.data.DataLoader(PoseDataset(Human36M(SAMPLE, "train", config=TINY), TINY),
                                                  batch_size=4)))
    net = get_pose_net(TINY, is_train=False, joint_num=18)
    net.head.init_weights()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    target = {"coord": batch["joint_img"], "vis": batch["joint_vis"], "have_depth": batch["have_depth"]}
    losses = []
    for _ in range(150):
        loss = coord_l1_loss(net(batch["img"]), target).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if losses[-1] < losses[0] / 10:
            break
    assert losses[-1] < losses[0] / 10, f"loss {losses[0]:.3f} -> {losses[-1]:.3f} in {len(losses)} steps"


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["network"]


def test_resume_gives_the_same_weights_as_not_stopping(tmp_path):
    common = dict(workers=0, progress=False, seed=3)
    _, straight = train(TINY, SAMPLE, tmp_path / "straight", epochs=2, **common)
    train(TINY, SAMPLE, tmp_path / "stopped", epochs=1, **common)
    _, resumed = train(TINY, SAMPLE, tmp_path / "stopped", epochs=2, resume=True, **common)
    a, b = _weights(tmp_path / "straight" / "snapshot_1.pth.tar"), _weights(tmp_path / "stopped" / "snapshot_1.pth.tar")
    for name in a:
        assert torch.allclose(a[name].float(), b[name].float(), atol=1e-6), name
    assert [r["epoch"] for r in resumed] == [0, 1]
    assert straight[1]["loss"] < straight[0]["loss"]  # it learns
    assert resumed[1]["mpjpe_mm"] == pytest.approx(straight[1]["mpjpe_mm"], abs=1e-3)
    assert resumed[0]["lr"] == 1e-3 and resumed[1]["lr"] == pytest.approx(1e-4)  # the schedule's step at epoch 1
    log = [json.loads(line) for line in (tmp_path / "stopped" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1]


def test_torchrun_two_processes_equal_one_process_with_the_global_batch(tmp_path):
    """2 CPU processes (gloo) with 4 crops each take the steps of 1 process with batches of 8 split the same way.

    Each process normalises its own 4 crops (BatchNorm statistics are per process, as DDP does on CPU); the single
    process reproduces that with 2 strided micro-batches (accumulate=2). Parameters must agree; running statistics
    are each process's own (DDP copies rank 0's at every forward; rank 0 writes the checkpoint), so they are not
    compared.
    """
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import dataclasses, os, torch
        from minipose import Config
        from minipose.train import train
        config = dataclasses.replace(Config(), resnet_type=18, input_shape=(64, 64), depth_dim=8, batch_size=8,
                                     lr=1e-3, lr_dec_epoch=(5,), end_epoch=1)
        net, _ = train(config, {str(SAMPLE)!r}, {str(tmp_path / 'ddp')!r}, epochs=1, workers=0, augment=False,
                       progress=False, seed=5)
        torch.save(net.state_dict(), {str(tmp_path)!r} + f"/rank{{os.environ['RANK']}}.pt")
    """))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    names = [n for n, _ in get_pose_net(TINY, is_train=False, joint_num=18).named_parameters()]
    for name in names:  # buffers (BatchNorm running statistics) differ: each process updates its own after the
        assert torch.equal(rank0[name], rank1[name]), f"replicas differ at {name}"  # last broadcast

    config = dataclasses.replace(TINY, lr_dec_epoch=(5,), end_epoch=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun process (OMP_NUM_THREADS=1): the same sums in the same order
    try:
        net, _ = train(config, SAMPLE, tmp_path / "single", epochs=1, workers=0, augment=False, progress=False,
                       seed=5, accumulate=2)
    finally:
        torch.set_num_threads(threads)
    params = dict(net.named_parameters())
    assert params.keys() <= rank0.keys()
    for name, value in params.items():
        assert torch.allclose(value.detach(), rank0[name], rtol=1e-4, atol=1e-6), name
    # and training did move the weights (a test of nothing would pass too)
    start = get_pose_net(config, is_train=False, joint_num=18).state_dict()
    assert any(not torch.allclose(start[n], rank0[n]) for n in params)


def test_crops_kept_in_memory_train_as_the_loader_does(tmp_path):
    """in_memory=True (the cpu preset) makes each plain crop once; the run must be the one the DataLoader gives."""
    common = dict(epochs=1, workers=0, augment=False, progress=False, seed=4)
    loaded, log_a = train(TINY, SAMPLE, tmp_path / "loader", **common)
    kept, log_b = train(TINY, SAMPLE, tmp_path / "memory", in_memory=True, **common)
    for (name, a), b in zip(loaded.state_dict().items(), kept.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), name
    assert log_b[0]["mpjpe_mm"] == pytest.approx(log_a[0]["mpjpe_mm"], abs=1e-3)


@pytest.mark.parametrize("TINY", [TINY, dataclasses.replace(TINY, input_shape=(64, 48))], ids=["64x64", "64x48"])
def test_mirrored_crops_are_the_mirrored_pictures_crops(monkeypatch, TINY):  # noqa: N803
    """mirror_crops (the cpu preset's flip of crops already made) against the data pipeline's flip, which mirrors
    the picture before cropping as the official code does. The pipeline sends crop column u to W − u, mirror_crops
    to W − 1 − u: the same pictures one column apart, targets one crop pixel apart in x, left and right swapped."""
    records = Human36M(SAMPLE, "train", config=TINY).data[:4]
    for rec in records:  # a right ankle nobody saw: its visibility must follow it to the left side
        rec["joint_vis"] = rec["joint_vis"].copy()
        rec["joint_vis"][3] = 0
    plain = PoseDataset(records, TINY)
    monkeypatch.setattr("minipose.data.get_aug_config", lambda rng: dict(
        scale=1.0, rot=0.0, do_flip=True, color_scale=np.ones(3), do_occlusion=False))
    flipped = PoseDataset(records, TINY, train=True)
    batch = torch.utils.data.default_collate([plain[i] for i in range(4)])
    which = torch.tensor([True, False, True, False])
    mirrored = mirror_crops(batch, TINY, which)
    scale = TINY.input_shape[1] / TINY.output_shape[1]
    for i in range(4):
        if not which[i]:
            for key in ("img", "joint_img", "joint_vis"):
                assert torch.equal(mirrored[key][i], batch[key][i]), key
            continue
        ref = flipped[i]
        assert ref["do_flip"]
        assert torch.allclose(mirrored["img"][i][..., :-1], ref["img"][..., 1:], atol=0.02)
        np.testing.assert_allclose(mirrored["joint_img"][i][:, 0] + 1 / scale, ref["joint_img"][:, 0], atol=1e-4)
        np.testing.assert_allclose(mirrored["joint_img"][i][:, 1:], ref["joint_img"][:, 1:], atol=1e-4)
        assert torch.equal(mirrored["joint_vis"][i], ref["joint_vis"])
    twice = mirror_crops(mirrored, TINY, which)  # a mirror's mirror is the original
    assert torch.equal(twice["img"], batch["img"]) and torch.allclose(twice["joint_img"], batch["joint_img"], atol=1e-5)


def test_resume_with_mirrored_crops_in_memory_gives_the_same_weights(tmp_path):
    """The cpu preset's path (crops kept in memory, half of each batch mirrored) resumes as if it never stopped."""
    common = dict(workers=0, progress=False, seed=5, augment=False, in_memory=True, mirror=True)
    train(TINY, SAMPLE, tmp_path / "straight", epochs=2, **common)
    train(TINY, SAMPLE, tmp_path / "stopped", epochs=1, **common)
    train(TINY, SAMPLE, tmp_path / "stopped", epochs=2, resume=True, **common)
    train(TINY, SAMPLE, tmp_path / "unmirrored", epochs=2, **{**common, "mirror": False})
    a, b = _weights(tmp_path / "straight" / "snapshot_1.pth.tar"), _weights(tmp_path / "stopped" / "snapshot_1.pth.tar")
    for name in a:
        assert torch.allclose(a[name].float(), b[name].float(), atol=1e-6), name
    plain = _weights(tmp_path / "unmirrored" / "snapshot_1.pth.tar")  # and mirroring did change the run
    assert not torch.allclose(a["head.final_layer.weight"], plain["head.final_layer.weight"])


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no preset 'fast'.*cpu, paper"):
        preset_config("fast")
    with pytest.raises(Exception, match="does not exist.*minipose.synth"):
        train(TINY, tmp_path / "nowhere", tmp_path / "out", epochs=1, workers=0, progress=False)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "snapshot_3.pth.tar").write_bytes(b"an earlier run")
    with pytest.raises(FileExistsError, match="earlier run; add --resume"):
        train(TINY, SAMPLE, tmp_path / "used", epochs=1, workers=0, progress=False)
    assert (tmp_path / "used" / "snapshot_3.pth.tar").read_bytes() == b"an earlier run"
    with pytest.raises(ValueError, match="does not split"):
        train(dataclasses.replace(TINY, batch_size=6), SAMPLE, tmp_path / "out", epochs=1, workers=0, progress=False,
              accumulate=4)


def test_half_precision_weights_load_back_and_mismatches_are_named(tmp_path):
    from minipose.checkpoint import save_checkpoint
    from minipose.train import half_state_dict, load_trained

    config = preset_config("cpu")
    torch.manual_seed(0)
    net = get_pose_net(config, is_train=False, joint_num=18)
    for m in net.modules():  # BatchNorm statistics a float16 could not hold
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.fill_(1e5)
    path = tmp_path / "weights.pth.tar"
    torch.save({"epoch": 3, "network": half_state_dict(net.state_dict())}, path)
    stored = torch.load(path, map_location="cpu", weights_only=True)["network"]
    assert stored["backbone.conv1.weight"].dtype == torch.float16
    assert stored["backbone.bn1.running_var"].dtype == torch.float32  # kept: 1e5 > float16's 65504
    loaded = load_trained(path, config)
    assert not loaded.training and all(p.dtype == torch.float32 for p in loaded.parameters())
    for (name, a), b in zip(net.state_dict().items(), loaded.state_dict().values()):
        assert torch.allclose(a.double(), b.double(), rtol=1e-3, atol=1e-6), name  # float16's rounding, no more

    save_checkpoint(str(path), net)
    with pytest.raises(ValueError, match=r"cfg.resnet_type=18"):
        load_trained(path, preset_config("paper"))
    with pytest.raises(ValueError, match=r"the checkpoint has 16 depth bins \(set cfg.depth_dim=16\)"):
        load_trained(path, dataclasses.replace(config, depth_dim=64))


SHIPPED = ROOT / "data" / "posenet_cpu"


def _camera_mm(coord, trans, root_z, f, c, config):
    """Network output → camera mm, written apart from minipose.infer: solve the crop's affine for the picture
    pixel, then the pinhole model, joint by joint."""
    out = []
    for x, y, z in coord:
        crop = [x * config.input_shape[1] / config.output_shape[1], y * config.input_shape[0] / config.output_shape[0]]
        u, v = np.linalg.solve(trans[:, :2], np.subtract(crop, trans[:, 2]))
        depth = root_z + (z / config.depth_dim - 0.5) * config.bbox_3d_shape[0]
        out.append([(u - c[0]) / f[0] * depth, (v - c[1]) / f[1] * depth, depth])
    return np.array(out)


def test_shipped_weights_load_and_score_what_training_json_records():
    """data/posenet_cpu: made by the documented command within 30 minutes, at most 32 MB, loadable with
    weights_only=True, and on the shipped sample's held-out people as good as training.json says (MPJPE recomputed
    here by other code than minipose's: the crop's affine solved per joint, the pinhole model written out)."""
    from minipose.skeleton import EVAL_JOINTS, ROOT_IDX
    from minipose.train import load_trained, read_log

    meta = json.loads((SHIPPED / "training.json").read_text())
    weights = SHIPPED / "weights.pth.tar"
    assert weights.stat().st_size <= 32 * 2**20
    checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    assert set(checkpoint) == {"epoch", "network"}
    assert meta["command"].startswith("python -m minipose.train --preset cpu") and meta["seed"] == 0
    assert len(meta["commit"]) == 40 and meta["wall_seconds"] <= 30 * 60
    held = meta["held_out"]  # the run's held-out split (3444 people of its 6000 scenes): depth was learnt
    assert held["mpjpe_flip_test_mm"] < held["mpjpe_mm"] < held["baseline_flat_2d_mm"] < held["baseline_mean_pose_mm"]
    log = read_log(SHIPPED / "log.jsonl")
    assert len(log) == checkpoint["epoch"] + 1 == meta["epochs"]
    assert log[-1]["mpjpe_mm"] == pytest.approx(held["mpjpe_mm"], abs=0.05)  # float32 weights then, float16 now

    config = preset_config("cpu")
    net = load_trained(weights, config)
    assert not net.training and all(p.dtype == torch.float32 for p in net.parameters())
    records = Human36M(SAMPLE, "test", config=config).data
    data = PoseDataset(records, config)
    errors = []
    with torch.no_grad():
        for i, rec in enumerate(records):
            item = data[i]
            coord = net(item["img"][None])[0].double().numpy()
            pred = _camera_mm(coord, item["trans"].numpy(), rec["root_cam"][2], rec["f"], rec["c"], config)
            pred, true = pred - pred[ROOT_IDX], rec["joint_cam"] - rec["joint_cam"][ROOT_IDX]
            errors += [np.linalg.norm(pred[j] - true[j]) for j in EVAL_JOINTS]
    sample = meta["shipped_sample"]
    assert sample["people"] == len(records)
    assert np.mean(errors) == pytest.approx(sample["mpjpe_mm"], abs=1.0)
    assert np.mean(errors) < sample["baseline_flat_2d_mm"]
    # Lesson 11's evaluate, which the training command logs every epoch, gives the figure recomputed here.
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    assert evaluate(net, loader, config) == pytest.approx(np.mean(errors), abs=1e-4)  # 0.1 micrometre


def test_a_run_without_snapshots_writes_only_its_log(tmp_path):
    _, log = train(TINY, SAMPLE, tmp_path, epochs=1, workers=0, progress=False, snapshots=False)
    assert [p.name for p in tmp_path.iterdir()] == ["log.jsonl"] and len(log) == 1


def test_the_cpu_preset_is_the_configuration_the_shipped_weights_were_trained_with():
    """The command docs/training.md gives must still make the shipped run: the preset's Config field for field, its
    epochs, and the learning rate of every logged epoch, as data/posenet_cpu recorded them."""
    from minipose.train import PRESETS, read_log

    meta = json.loads((SHIPPED / "training.json").read_text())
    config = preset_config("cpu")
    recorded = json.loads(json.dumps(dataclasses.asdict(config)))  # tuples as JSON lists, as recorded
    assert recorded == meta["config"], "the cpu preset no longer matches data/posenet_cpu/training.json"
    assert meta["preset"] == "cpu" and meta["epochs"] == config.end_epoch
    assert [row["lr"] for row in read_log(SHIPPED / "log.jsonl")] == [
        pytest.approx(learning_rate(config, e)) for e in range(config.end_epoch)]
    assert PRESETS["cpu"]["scenes"] == 6000 and not PRESETS["cpu"]["pretrained"]


def test_training_page_reports_the_shipped_run_as_recorded():
    """docs/training.md's account of the shipped weights, against data/posenet_cpu's training.json and log.jsonl:
    the command, commit, wall time, speed, the per-epoch table with its learning-rate steps, and the figures."""
    from minipose.train import read_log

    page = (ROOT / "docs" / "training.md").read_text()
    meta = json.loads((SHIPPED / "training.json").read_text())
    log = read_log(SHIPPED / "log.jsonl")
    held_out = meta["held_out"]
    command = f"python -m minipose.train --preset {meta['preset']}"
    assert meta["command"].startswith(command) and f"Made once by `{command}` (seed {meta['seed']}, commit " \
        f"`{meta['commit'][:7]}`)" in page
    minutes, seconds = divmod(round(meta["wall_seconds"]), 60)
    assert f"Wall time **{minutes} min {seconds} s**" in page
    assert f"{held_out['images_per_s_median']:.1f} images/s (median over epochs)" in page
    header = next(line for line in page.splitlines() if line.startswith("| epoch |"))
    row = next(line for line in page.splitlines() if line.startswith("| MPJPE (mm) |"))
    epochs = [c.strip() for c in header.strip("|").split("|")][1:]
    values = [c.strip().strip("*") for c in row.strip("|").split("|")][1:]
    assert values == [f"{r['mpjpe_mm']:.1f}" for r in log], "the per-epoch table is not the shipped run's log"
    assert epochs == [f"{r['epoch']}" + (f" (lr {r['lr']:.0e})".replace("e-0", "e-") if r["epoch"] and
                                         r["lr"] != log[r["epoch"] - 1]["lr"] else "") for r in log]
    mean_pose, flat = held_out["baseline_mean_pose_mm"], held_out["baseline_flat_2d_mm"]
    assert (f"The three figures on the held-out split ({held_out['people']} people): **{held_out['mpjpe_mm']:.1f} mm** "
            f"({held_out['mpjpe_flip_test_mm']:.1f} mm with the flip test") in " ".join(page.split())
    assert f"against **{mean_pose:.1f} mm** for the mean pose and **{flat:.1f} mm** for flat 2D" in " ".join(
        page.split())
    assert (f"half the mean pose ({mean_pose / 2:.1f} mm), is met with {mean_pose / 2 - held_out['mpjpe_mm']:.1f} mm "
            "to spare") in " ".join(page.split())
