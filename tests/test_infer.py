"""Inference (lesson 10): the way back from network output to pixels and millimetres, flip test, root prior."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from conftest import ROOT
from minipose.camera import cam2pixel
from minipose.data import PoseDataset, load_image
from minipose.h36m import Human36M
from minipose.infer import (bins_to_mm, crop_to_image, estimate_poses, flip_test, output_to_camera,
                            root_depth_prior, unflip)
from minipose.posenet import get_pose_net
from minipose.train import mirror_crops, preset_config

SAMPLE = ROOT / "data" / "synth_sample"
CONFIG = preset_config("cpu")  # 64 x 64 crops, 16 x 16 heatmaps, 16 depth bins


def test_bins_to_mm_on_a_hand_table():
    table = {0: -1000.0, 4: -500.0, 8: 0.0, 12: 500.0, 16: 1000.0}  # 16 bins over a 2000 mm box centred on the root
    np.testing.assert_allclose(bins_to_mm(np.array(list(table)), CONFIG), list(table.values()))


@pytest.mark.parametrize("config", [CONFIG, dataclasses.replace(CONFIG, input_shape=(128, 96))], ids=["square", "128x96"])
def test_perfect_targets_come_back_to_the_true_joints(config):
    data = PoseDataset(Human36M(SAMPLE, "test", config=config), config)
    for i, rec in enumerate(data.records):
        item = data[i]
        pixels, cam = output_to_camera(item["joint_img"].double().numpy(), item["trans"].numpy(), rec["root_cam"][2],
                                       rec["f"], rec["c"], config)
        assert np.abs(cam - rec["joint_cam"]).max() < 1.0  # mm (the targets are float32)
        assert np.abs(pixels - rec["joint_img"][:, :2]).max() < 0.01
        # the official evaluation's formula for unrotated crops: x / output width * box width + box x
        box = rec["bbox"]
        grid = item["joint_img"][:, :2].double().numpy()
        official = grid / [config.output_shape[1], config.output_shape[0]] * box[2:] + box[:2]
        np.testing.assert_allclose(crop_to_image(grid, item["trans"].numpy(), config), official, atol=1e-6)


def _net(seed=0):
    torch.manual_seed(seed)
    net = get_pose_net(CONFIG, is_train=False, joint_num=18)
    net.head.init_weights()
    return net.eval()


class Lookup(torch.nn.Module):
    """A perfect network for one batch of crops: their true targets, and for the mirrored crops the mirrored crops'
    true targets (made by mirror_crops, which tests/test_train.py checks against the data pipeline's flip)."""

    def __init__(self, batch):
        super().__init__()
        self.batch = batch
        self.mirrored = mirror_crops(batch, CONFIG, torch.ones(len(batch["img"]), dtype=torch.bool))

    def forward(self, img):
        for known in (self.batch, self.mirrored):
            if torch.equal(img, known["img"]):
                return known["joint_img"]
        raise AssertionError("a crop this network does not know")


def test_flip_test_of_a_perfect_network_is_perfect_with_the_exact_unflip():
    """Fed the true answers for a crop and for its mirror image, the exact unflip gives the truth back; the
    official output_width - 1 - x leaves (1 - 1/s) / 2 = 0.375 cell of bias in x (s = 64 / 16)."""
    data = PoseDataset(Human36M(SAMPLE, "test", config=CONFIG), CONFIG)
    batch = torch.utils.data.default_collate([data[i] for i in range(6)])
    net = Lookup(batch)
    truth = batch["joint_img"]
    torch.testing.assert_close(flip_test(net, batch["img"], CONFIG), truth, atol=1e-5, rtol=0)
    official = flip_test(net, batch["img"], CONFIG, exact=False)
    torch.testing.assert_close(official[..., 0], truth[..., 0] - 0.375, atol=1e-5, rtol=0)
    torch.testing.assert_close(official[..., 1:], truth[..., 1:], atol=1e-5, rtol=0)
    mirrored = net(batch["img"].flip(-1))  # a right wrist in the mirror is the left wrist: rows swapped back
    assert torch.allclose(unflip(mirrored, CONFIG)[:, 16, 1:], mirrored[:, 13, 1:])


def test_the_root_prior_returns_the_distance_of_a_2_m_square():
    f, c = (1150.0, 1100.0), (500.0, 400.0)
    for Z in (3000.0, 4700.0, 9000.0):
        corners = cam2pixel(np.array([[-1000.0, -1000.0, Z], [1000.0, 1000.0, Z]]) + [300.0, -200.0, 0.0], f, c)
        (x0, y0, _), (x1, y1, _) = corners
        assert root_depth_prior([x0, y0, x1 - x0, y1 - y0], f) == pytest.approx(Z)


class Oracle(torch.nn.Module):
    """A stand-in network that answers with given outputs, and keeps the crops it was shown."""

    def __init__(self, outputs):
        super().__init__()
        self.outputs, self.seen = outputs, []
        self.weight = torch.nn.Parameter(torch.zeros(1))  # estimate_poses reads the device from a parameter

    def forward(self, img):
        self.seen.append(img)
        return self.outputs


def test_estimate_poses_cuts_the_datasets_crops_and_returns_the_true_joints():
    records = Human36M(SAMPLE, "test", config=CONFIG).data
    image_id = records[0]["img_id"]
    here = [i for i, r in enumerate(records) if r["img_id"] == image_id]
    data = PoseDataset(records, CONFIG)
    annotations = json.loads((SAMPLE / "annotations" / "Human36M_subject9_data.json").read_text())
    boxes = [a["bbox"] for a in annotations["annotations"] if a["image_id"] == image_id]
    assert len(boxes) == len(here) > 1
    oracle = Oracle(torch.stack([data[i]["joint_img"] for i in here]))
    rec = records[here[0]]
    people = estimate_poses(oracle, load_image(rec["img_path"]), boxes, rec["f"], rec["c"], CONFIG,
                            root_depths=[records[i]["root_cam"][2] for i in here], flip=False)
    torch.testing.assert_close(oracle.seen[0], torch.stack([data[i]["img"] for i in here]))
    for person, i in zip(people, here):
        assert np.abs(person["joints_cam"] - records[i]["joint_cam"]).max() < 1.0
        np.testing.assert_allclose(person["bbox"], records[i]["bbox"])
    prior = estimate_poses(oracle, load_image(rec["img_path"]), boxes, rec["f"], rec["c"], CONFIG, flip=False)
    assert prior[0]["root_depth"] == pytest.approx(root_depth_prior(records[here[0]]["bbox"], rec["f"]))


def test_estimate_poses_names_bad_input():
    net = _net()
    picture = np.zeros((100, 120, 3), np.uint8)
    with pytest.raises(ValueError, match="H x W x 3 uint8 RGB"):
        estimate_poses(net, picture[..., 0], [[0, 0, 10, 10]], (1000, 1000), (60, 50), CONFIG)
    with pytest.raises(ValueError, match="2 boxes but 1 root depths"):
        estimate_poses(net, picture, [[0, 0, 10, 10], [5, 5, 20, 20]], (1000, 1000), (60, 50), CONFIG,
                       root_depths=[4000.0])
    with pytest.raises(ValueError, match=r"box 0 .* no area inside the 120 x 100 picture"):
        estimate_poses(net, picture, [[200, 0, 10, 10]], (1000, 1000), (60, 50), CONFIG)
    assert estimate_poses(net, picture, [], (1000, 1000), (60, 50), CONFIG) == []


def _readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index(title):].split("\n## ", 1)[0]


def test_readmes_picture_example_runs_as_written(monkeypatch, capsys):
    section = _readme_section("### Run it on a picture")
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - our own README
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.startswith("root ") and "mm away, head at" in line for line in lines)


def test_shipped_weights_score_the_readme_table_on_the_sample():
    """README's metrics table, recomputed: the shipped checkpoint on data/synth_sample's held-out people."""
    from minipose.metrics import auc, joint_errors, mpjpe, pa_mpjpe, pck3d
    from minipose.train import load_trained, predict_cam

    section = _readme_section("### The shipped weights, measured")
    table = {}
    for line in section.splitlines():
        cells = [c.strip().rstrip(" %") for c in line.strip("|").split("|")]
        if len(cells) == 6 and cells[0] in ("PoseNet, flip test", "PoseNet", "mean pose (training split's)"):
            table[cells[0]] = [float(c) for c in cells[1:]]
    assert len(table) == 3
    net = load_trained(ROOT / "data" / "posenet_cpu" / "weights.pth.tar", CONFIG)
    test = Human36M(SAMPLE, "test", config=CONFIG).data
    loader = torch.utils.data.DataLoader(PoseDataset(test, CONFIG), batch_size=32)
    flipped, true = predict_cam(net, loader, CONFIG, "cpu", flip=True)
    plain, _ = predict_cam(net, loader, CONFIG, "cpu")
    train_records = Human36M(SAMPLE, "train", config=CONFIG).data
    mean_pose = np.mean([r["joint_cam"] - r["root_cam"] for r in train_records], axis=0)
    rows = {"PoseNet, flip test": flipped, "PoseNet": plain,
            "mean pose (training split's)": np.broadcast_to(mean_pose, true.shape)}
    for name, pred in rows.items():
        errors = joint_errors(pred, true)
        got = [mpjpe(pred, true), pa_mpjpe(pred, true), pa_mpjpe(pred, true, scale=True), pck3d(errors), auc(errors)]
        np.testing.assert_allclose(got, table[name], atol=1.0, err_msg=name)
    prior = np.mean([abs(root_depth_prior(r["bbox"], r["f"]) - r["root_cam"][2]) for r in test])
    assert f"off by {prior:.0f} mm on average" in section
