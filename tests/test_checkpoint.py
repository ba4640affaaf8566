"""Checkpoints: the official layout, official-format files, round trips and clear errors."""
from __future__ import annotations

import json

import pytest
import torch

from conftest import ROOT
from minipose import Config, cfg, get_pose_net, load_checkpoint, save_checkpoint

REFERENCE = ROOT / "data" / "3dmppe_posenet_state_dict_keys.json"
SHARED = ROOT.parent / "shared" / "reference" / "3dmppe_posenet_state_dict_keys.json"


def official_layout(joints: int) -> dict[str, list[int]]:
    return json.loads(REFERENCE.read_text())["joint_num"][str(joints)]


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/reference is not beside this checkout")
def test_shipped_reference_is_the_shared_one():
    assert json.loads(REFERENCE.read_text()) == json.loads(SHARED.read_text())


@pytest.mark.parametrize("joints", [18, 21])
def test_state_dict_layout_is_exactly_the_official_one(joints):
    with torch.device("meta"):
        net = get_pose_net(cfg, is_train=False, joint_num=joints)
    ours = {"module." + k: list(v.shape) for k, v in net.state_dict().items()}
    assert ours == official_layout(joints)


def official_file(tmp_path, joints=18):
    """A file in the official release's format: DataParallel keys, epoch, optimizer."""
    torch.manual_seed(0)
    net = get_pose_net(cfg, is_train=False, joint_num=joints)
    net.head.init_weights()
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    network = {"module." + k: v for k, v in net.state_dict().items()}
    assert {k: list(v.shape) for k, v in network.items()} == official_layout(joints)
    path = tmp_path / "snapshot_24.pth.tar"
    torch.save({"epoch": 24, "network": network, "optimizer": optimizer.state_dict()}, path)
    return str(path), net


def test_loads_an_official_format_checkpoint(tmp_path):
    path, saved = official_file(tmp_path)
    model = get_pose_net(cfg, is_train=False, joint_num=18)
    assert load_checkpoint(path, model) == 24
    for name, value in saved.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


def test_round_trip_with_optimizer(tmp_path):
    small = Config(resnet_type=18)
    net = get_pose_net(small, is_train=False, joint_num=4)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(2, 3, 64, 64), {"coord": torch.zeros(2, 4, 3), "vis": torch.ones(2, 4), "have_depth": torch.ones(2)}).mean().backward()
    optimizer.step()
    path = str(tmp_path / "ckpt.pth")
    save_checkpoint(path, net, optimizer, epoch=7)
    assert not (tmp_path / "ckpt.pth.tmp").exists()
    again = get_pose_net(small, is_train=False, joint_num=4)
    again_optimizer = torch.optim.Adam(again.parameters(), lr=1e-3)
    assert load_checkpoint(path, again, again_optimizer) == 7
    for a, b in zip(again.state_dict().values(), net.state_dict().values()):
        assert torch.equal(a, b)
    state_a, state_b = again_optimizer.state_dict()["state"], optimizer.state_dict()["state"]
    assert state_a.keys() == state_b.keys()
    assert all(torch.equal(state_a[k]["exp_avg"], state_b[k]["exp_avg"]) for k in state_a)


def test_joint_mismatch_names_the_joint_count(tmp_path):
    path, _ = official_file(tmp_path, joints=21)
    with pytest.raises(ValueError, match="predicts 21 joints: build the model with joint_num=21"):
        load_checkpoint(path, get_pose_net(cfg, is_train=False, joint_num=18))


def test_depth_mismatch_names_the_depth(tmp_path):
    path = str(tmp_path / "r50.pth")
    save_checkpoint(path, get_pose_net(cfg, is_train=False, joint_num=18))
    model = get_pose_net(Config(resnet_type=34), is_train=False, joint_num=18)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="a ResNet-50: build the model with cfg.resnet_type=50"):
        load_checkpoint(path, model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched


def test_corrupt_missing_and_unsafe_files(tmp_path):
    model = get_pose_net(Config(resnet_type=18), is_train=False, joint_num=4)
    path = tmp_path / "ok.pth"
    save_checkpoint(str(path), model)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(RuntimeError, match="truncated, corrupt or not a PyTorch checkpoint"):
        load_checkpoint(str(broken), model)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(str(tmp_path / "nope.pth"), model)
    whole = tmp_path / "whole_module.pth"
    torch.save(model, whole)  # a pickled module, not a state dict: weights_only=True refuses it
    with pytest.raises(RuntimeError, match="weights_only=True"):
        load_checkpoint(str(whole), model)
    listing = tmp_path / "list.pth"
    torch.save([1, 2, 3], listing)
    with pytest.raises(ValueError, match="not a checkpoint dictionary"):
        load_checkpoint(str(listing), model)
