"""Checkpoints: the official layout, official-format files, round trips and clear errors."""
from __future__ import annotations

import hashlib
import io
import json
import os

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


def test_shipped_reference_is_intact_on_its_own():
    """Runs in every checkout: the shipped copy is byte-for-byte the reference, and holds what the official
    code's architecture implies, counted by hand (not by our model)."""
    # sha256 of ../shared/reference/3dmppe_posenet_state_dict_keys.json when it was copied into data/
    assert hashlib.sha256(REFERENCE.read_bytes()).hexdigest() == (
        "e15f43d38b0e7fc9ec5dad4dfa7554cb145636bed1ff63c31638adda4661001b")
    layouts = json.loads(REFERENCE.read_text())["joint_num"]
    assert sorted(layouts) == ["18", "21"]
    for joints, layout in layouts.items():
        # ResNet-50: 1 stem conv + 16 Bottlenecks x 3 convs + 4 projection shortcuts = 53 convolutions, each
        # followed by a BatchNorm with 5 tensors: 53 + 53 * 5 = 318. Head: 3 deconvolutions + 3 BatchNorms x 5
        # + the 1x1 convolution's weight and bias = 20.
        assert len(layout) == 338 and all(k.startswith("module.") for k in layout)
        assert sum(k.startswith("module.backbone.") for k in layout) == 318
        assert sum(k.endswith("num_batches_tracked") for k in layout) == 53 + 3
        assert not any(".fc." in k for k in layout)
        assert layout["module.backbone.conv1.weight"] == [64, 3, 7, 7]
        assert layout["module.backbone.layer1.0.downsample.0.weight"] == [256, 64, 1, 1]
        assert layout["module.backbone.layer4.2.conv3.weight"] == [2048, 512, 1, 1]
        assert layout["module.head.deconv_layers.0.weight"] == [2048, 256, 4, 4]  # ConvTranspose2d: in x out x k x k
        assert layout["module.head.deconv_layers.3.weight"] == [256, 256, 4, 4]
        assert layout["module.head.final_layer.weight"] == [int(joints) * 64, 256, 1, 1]
        assert layout["module.head.final_layer.bias"] == [int(joints) * 64]


@pytest.mark.parametrize("joints", [18, 21])
def test_state_dict_layout_is_exactly_the_official_one(joints):
    with torch.device("meta"):
        net = get_pose_net(cfg, is_train=False, joint_num=joints)
    ours = {"module." + k: list(v.shape) for k, v in net.state_dict().items()}
    assert ours == official_layout(joints)


class OfficialConfig:
    """Only the attributes the official main/config.py's Config has that a model needs (its values): no
    head_channels, no minipose field at all."""
    resnet_type = 50
    input_shape = (256, 256)
    output_shape = (input_shape[0] // 4, input_shape[1] // 4)
    depth_dim = 64
    bbox_3d_shape = (2000, 2000, 2000)
    pixel_mean = (0.485, 0.456, 0.406)
    pixel_std = (0.229, 0.224, 0.225)


@pytest.mark.parametrize("joints", [18, 21])
def test_get_pose_net_takes_the_official_config_object(joints):
    """A config with only the official attributes builds the paper's network (a head 256 wide): its
    state dict is the released checkpoint's layout."""
    assert not hasattr(OfficialConfig, "head_channels")
    with torch.device("meta"):
        net = get_pose_net(OfficialConfig(), is_train=False, joint_num=joints)
        coord = net(torch.empty(2, 3, *OfficialConfig.input_shape))
    assert {"module." + k: list(v.shape) for k, v in net.state_dict().items()} == official_layout(joints)
    assert tuple(coord.shape) == (2, joints, 3)


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


@pytest.mark.parametrize("prefix", ["", "module."], ids=["bare", "bare-dataparallel"])
def test_loads_a_bare_state_dict(tmp_path, prefix):
    """The docstring promises it: a file holding only model.state_dict() (as many repositories share) loads too."""
    small = Config(resnet_type=18)
    torch.manual_seed(1)
    source = get_pose_net(small, is_train=False, joint_num=4)
    path = tmp_path / "bare.pth"
    torch.save({prefix + k: v for k, v in source.state_dict().items()}, path)
    model = get_pose_net(small, is_train=False, joint_num=4)
    assert load_checkpoint(str(path), model) == 0  # no epoch in a bare state dict
    assert all(torch.equal(model.state_dict()[k], v) for k, v in source.state_dict().items())


def test_an_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    small = Config(resnet_type=18)
    model = get_pose_net(small, is_train=False, joint_num=4)
    path = tmp_path / "last.pth"
    save_checkpoint(str(path), model, epoch=1)
    good = path.read_bytes()
    real_save = torch.save

    def disk_full_half_way(obj, f, *args, **kwargs):  # writes half of the file, then fails, as a full disk would
        buffer = io.BytesIO()
        real_save(obj, buffer)
        half = buffer.getvalue()[: len(buffer.getvalue()) // 2]
        if isinstance(f, (str, os.PathLike)):
            with open(f, "wb") as out:
                out.write(half)
        else:
            f.write(half)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full_half_way)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(str(path), model, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == good  # the last good checkpoint is untouched ...
    assert load_checkpoint(str(path), get_pose_net(small, is_train=False, joint_num=4)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pth"]  # ... and no half-written file is left behind


def test_joint_mismatch_names_the_joint_count(tmp_path):
    path, _ = official_file(tmp_path, joints=21)
    with pytest.raises(ValueError, match=r"the checkpoint has 21 joints \(build the model with joint_num=21\)$"):
        load_checkpoint(path, get_pose_net(cfg, is_train=False, joint_num=18))


def test_depth_dim_mismatch_names_the_bins(tmp_path):
    path = str(tmp_path / "bins16.pth")
    save_checkpoint(path, get_pose_net(Config(resnet_type=18, depth_dim=16), is_train=False, joint_num=18))
    # 18 x 16 = 288 channels; this model has 18 x 32. 288 is also 9 joints x 32 bins: both are named.
    with pytest.raises(ValueError, match=r"has 9 joints \(build the model with joint_num=9\) or 16 depth bins "
                                         r"\(set cfg.depth_dim=16\)"):
        load_checkpoint(path, get_pose_net(Config(resnet_type=18, depth_dim=32), is_train=False, joint_num=18))
    # 18 x 16 into 18 x 20: only the bins fit
    with pytest.raises(ValueError, match=r"the checkpoint has 16 depth bins \(set cfg.depth_dim=16\)$"):
        load_checkpoint(path, get_pose_net(Config(resnet_type=18, depth_dim=20), is_train=False, joint_num=18))


def test_head_width_mismatch_names_the_width(tmp_path):
    # The cpu preset's head is 128 channels wide; into the paper's 256 the message names head_channels and nothing
    # about joints or bins (the final layer's outputs, 18 x 16, are the same; only its inputs differ).
    path = str(tmp_path / "narrow.pth")
    save_checkpoint(path, get_pose_net(Config(resnet_type=18, depth_dim=16, head_channels=128), is_train=False,
                                       joint_num=18))
    with pytest.raises(ValueError, match=r"the checkpoint's head is 128 channels wide, this model's 256: set "
                                         r"cfg.head_channels=128$") as err:
        load_checkpoint(path, get_pose_net(Config(resnet_type=18, depth_dim=16), is_train=False, joint_num=18))
    assert "joints" not in str(err.value) and "ResNet" not in str(err.value)


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
