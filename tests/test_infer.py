"""Inference (lesson 12): the way back from network output to pixels and millimetres, flip test, root prior."""
from __future__ import annotations

import dataclasses
import json
import re

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


# Crops taller than wide, as the official 256 x 192 setting for MPII/COCO: a height and width swapped anywhere
# between heatmap cells and picture pixels shows up in the tests that take these.
NON_SQUARE = {f"{h}x{w}": dataclasses.replace(CONFIG, input_shape=(h, w)) for h, w in [(64, 48), (128, 96), (256, 192)]}


@pytest.mark.parametrize("config", [CONFIG, *NON_SQUARE.values()], ids=["square", *NON_SQUARE])
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


def test_unflip_of_a_non_square_crop_against_hand_numbers():
    """64 x 48 crops, 16 x 12 cells of s = 4 pixels: crop column u -> 47 - u is x -> 47 / 4 - x = 11.75 - x in
    cells (exact), 12 - 1 - x = 11 - x officially. The height (64, 16 cells) must play no part."""
    config = NON_SQUARE["64x48"]
    coord = torch.zeros(1, 18, 3, dtype=torch.float64)
    coord[0, :, 0] = torch.arange(18) * 0.5
    coord[0, :, 1] = 3.0
    exact, official = unflip(coord, config), unflip(coord, config, exact=False)
    np.testing.assert_allclose(exact[0, 0, 0], 11.75)  # the pelvis (no partner) at x = 0
    np.testing.assert_allclose(exact[0, 1, 0], 11.75 - 4 * 0.5)  # the right hip takes the left hip's (joint 4) x
    np.testing.assert_allclose(official[0, 1, 0], 11.0 - 4 * 0.5)
    assert torch.equal(exact[..., 1:], coord[:, [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13, 17], 1:])


@pytest.mark.parametrize("config", [CONFIG, NON_SQUARE["64x48"]], ids=["square", "64x48"])
def test_estimate_poses_cuts_the_datasets_crops_and_returns_the_true_joints(config):
    CONFIG = config  # noqa: N806 - the whole way, crop to camera, in this configuration
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


def test_estimate_poses_normalises_0_to_255_pixels_as_the_official_demo_does():
    """pixel_range=255: the official demo feeds (pixel - mean) / std on 0..255 pixels (ToTensor on a float
    array divides by nothing); the default feeds (pixel / 255 - mean) / std. A one-colour picture, a box well
    inside it: every crop pixel is that colour, so the expected input is a hand table per channel."""
    picture = np.empty((200, 300, 3), np.uint8)
    picture[...] = (200, 100, 50)
    mean, std = np.array(CONFIG.pixel_mean), np.array(CONFIG.pixel_std)
    for pixel_range, expected in [(255, (np.array([200.0, 100.0, 50.0]) - mean) / std),
                                  (1, (np.array([200.0, 100.0, 50.0]) / 255 - mean) / std)]:
        oracle = Oracle(torch.zeros(1, 18, 3))
        estimate_poses(oracle, picture, [[130, 80, 40, 40]], (1000, 1000), (150, 100), CONFIG, flip=False,
                       pixel_range=pixel_range)
        crop = oracle.seen[0][0].double()
        assert crop.shape == (3, *CONFIG.input_shape)
        for channel in range(3):
            np.testing.assert_allclose(crop[channel].numpy(), expected[channel], rtol=1e-5)


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


def _inference_page_section(title: str) -> str:
    """One section of docs/inference.md: from its heading to the next heading of the same or a higher level."""
    text = (ROOT / "docs" / "inference.md").read_text()
    level = title.split(" ", 1)[0]
    section = text[text.index(f"\n{title}\n"):]
    return re.split(rf"\n#{{1,{len(level)}}} ", section[1:], maxsplit=1)[0]


def test_inference_pages_picture_example_runs_as_written(monkeypatch, capsys):
    section = _inference_page_section("## Run it on a picture")
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    exec(compile(code, "docs/inference.md", "exec"), {})  # noqa: S102 - our own page
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.startswith("root ") and "mm away, head at" in line for line in lines)


def test_shipped_weights_score_the_inference_pages_table_on_the_sample():
    """The metrics table of docs/inference.md, recomputed: the shipped checkpoint on data/synth_sample's held-out
    people."""
    from minipose.metrics import auc, joint_errors, mpjpe, pa_mpjpe, pck3d
    from minipose.train import load_trained, predict_cam

    section = _inference_page_section("## The shipped weights, measured")
    table = {}
    for line in section.splitlines():
        cells = [c.strip().rstrip(" %") for c in line.strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith(("PoseNet", "mean pose")):
            table[cells[0]] = [float(c) for c in cells[1:]]
    assert len(table) == 5
    net = load_trained(ROOT / "data" / "posenet_cpu" / "weights.pth.tar", CONFIG)
    test = Human36M(SAMPLE, "test", config=CONFIG).data
    loader = torch.utils.data.DataLoader(PoseDataset(test, CONFIG), batch_size=32)
    flipped, true = predict_cam(net, loader, CONFIG, "cpu", flip=True)
    plain, _ = predict_cam(net, loader, CONFIG, "cpu")
    train_records = Human36M(SAMPLE, "train", config=CONFIG).data
    mean_pose = np.mean([r["joint_cam"] - r["root_cam"] for r in train_records], axis=0)
    rows = {"PoseNet, flip test": flipped, "PoseNet": plain,
            "mean pose (training split's)": np.broadcast_to(mean_pose, true.shape),
            "PoseNet, flip test, root from the k prior": predict_cam(net, loader, CONFIG, "cpu", flip=True,
                                                                     root="prior")[0],
            "PoseNet, root from the k prior": predict_cam(net, loader, CONFIG, "cpu", root="prior")[0]}
    for name, pred in rows.items():
        errors = joint_errors(pred, true)
        got = [mpjpe(pred, true), pa_mpjpe(pred, true), pa_mpjpe(pred, true, scale=True), pck3d(errors), auc(errors)]
        np.testing.assert_allclose(got, table[name], atol=0.15, err_msg=name)  # the page rounds to 0.1
    prior = np.mean([abs(root_depth_prior(r["bbox"], r["f"]) - r["root_cam"][2]) for r in test])
    assert f"off by {prior:.0f} mm on average" in section


class Perfect(torch.nn.Module):
    """Answers every crop of a data set with its true targets."""

    def __init__(self, data):
        super().__init__()
        self.items = [data[i] for i in range(len(data))]

    def forward(self, img):
        return torch.stack([next(it["joint_img"] for it in self.items if torch.equal(it["img"], one))
                            for one in img])


def test_predict_cam_places_people_at_the_true_root_or_at_the_k_prior():
    """Perfect 2D and relative depth: with the true root the joints come back; with RootNet's prior k each joint
    is its true pixel seen at depth Z - Z_root + k (the pinhole model written out here), so x and y scale with
    the depth and even the root-relative MPJPE is not 0."""
    from minipose.metrics import mpjpe
    from minipose.train import predict_cam

    records = Human36M(SAMPLE, "test", config=CONFIG).data
    data = PoseDataset(records, CONFIG)
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    pred, true = predict_cam(Perfect(data), loader, CONFIG, "cpu")
    assert np.abs(pred - true).max() < 1.0
    pred, _ = predict_cam(Perfect(data), loader, CONFIG, "cpu", root="prior")
    for p, rec in zip(pred, records):
        k = root_depth_prior(rec["bbox"], rec["f"])
        depth = rec["joint_cam"][:, 2] - rec["root_cam"][2] + k
        (fx, fy), (cx, cy) = rec["f"], rec["c"]
        x, y = rec["joint_img"][:, 0], rec["joint_img"][:, 1]
        want = np.column_stack([(x - cx) / fx * depth, (y - cy) / fy * depth, depth])
        assert np.abs(p - want).max() < 1.0
    assert mpjpe(pred, true) > 5.0
    with pytest.raises(ValueError, match="root must be 'true' or 'prior'"):
        predict_cam(Perfect(data), loader, CONFIG, "cpu", root="rootnet")
