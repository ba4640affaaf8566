"""ResPoseNet: the whole trace, the masked L1 loss, get_pose_net and the paper's settings."""
from __future__ import annotations

import pytest
import torch
import torchvision

from minipose import Config, ResPoseNet, cfg, coord_l1_loss, get_pose_net, pick_device
from minipose.backbone import imagenet_weights_file
from minipose.checks import randomize_bn
from minipose.posenet import print_shape_trace, shape_trace


def test_paper_settings():
    assert cfg.resnet_type == 50 and cfg.input_shape == (256, 256) and cfg.output_shape == (64, 64)
    assert cfg.depth_dim == 64 and cfg.bbox_3d_shape == (2000, 2000, 2000)
    assert cfg.pixel_mean == (0.485, 0.456, 0.406) and cfg.pixel_std == (0.229, 0.224, 0.225)
    assert cfg.batch_size == 32 and cfg.lr == 1e-3
    assert Config(input_shape=(256, 192)).output_shape == (64, 48)


@pytest.mark.parametrize("joints", [18, 21])
def test_whole_trace_for_a_batch_of_32(joints):
    with torch.device("meta"):
        net = get_pose_net(cfg, is_train=False, joint_num=joints)
        features = net.backbone(torch.empty(32, 3, 256, 256))
        heatmaps = net.head(features)
        coords = net(torch.empty(32, 3, 256, 256))
    assert tuple(features.shape) == (32, 2048, 8, 8)
    assert tuple(heatmaps.shape) == (32, joints * 64, 64, 64)
    assert tuple(coords.shape) == (32, joints, 3)


def test_real_forward_non_square_and_resnet18():
    net = get_pose_net(Config(resnet_type=18, input_shape=(256, 192)), is_train=False, joint_num=5).eval()
    with torch.no_grad():
        coords = net(torch.randn(2, 3, 256, 192))
    assert tuple(coords.shape) == (2, 5, 3)
    assert (coords[..., 0] <= 47).all() and (coords[..., 1] <= 63).all() and (coords[..., 2] <= 63).all()


def make_target(batch=2, joints=4):
    torch.manual_seed(3)
    return {
        "coord": torch.rand(batch, joints, 3) * 16,
        "vis": torch.ones(batch, joints, 1),
        "have_depth": torch.ones(batch, 1),
    }


def test_loss_matches_the_formula_and_masks():
    coord = torch.rand(2, 4, 3) * 16
    target = make_target()
    target["vis"][0, 1] = 0
    target["have_depth"][1] = 0
    loss = coord_l1_loss(coord, target)
    d = (coord - target["coord"]).abs()
    expected = torch.empty(2, 4)
    for b in range(2):
        for j in range(4):
            v, hd = target["vis"][b, j, 0], target["have_depth"][b, 0]
            expected[b, j] = (d[b, j, 0] * v + d[b, j, 1] * v + d[b, j, 2] * v * hd) / 3
    torch.testing.assert_close(loss, expected)
    assert loss[0, 1] == 0
    # have_depth = 0: moving z changes nothing; have_depth = 1: it does
    moved = coord.clone()
    moved[:, :, 2] += 5
    new = coord_l1_loss(moved, target)
    torch.testing.assert_close(new[1], loss[1])
    assert not torch.allclose(new[0, 0], loss[0, 0])


def test_loss_accepts_flat_masks_and_refuses_wrong_ones():
    coord = torch.zeros(2, 4, 3)
    target = make_target()
    flat = dict(target, vis=target["vis"].reshape(2, 4), have_depth=target["have_depth"].reshape(2))
    torch.testing.assert_close(coord_l1_loss(coord, flat), coord_l1_loss(coord, target))
    with pytest.raises(ValueError, match="vis with 2 x 4"):
        coord_l1_loss(coord, dict(target, vis=torch.ones(2, 3)))
    with pytest.raises(KeyError, match="have_depth"):
        coord_l1_loss(coord, {"coord": coord, "vis": target["vis"]})


def test_forward_with_target_returns_the_loss_and_trains():
    net = get_pose_net(Config(resnet_type=18), is_train=False, joint_num=4)
    net.head.init_weights()
    img = torch.randn(2, 3, 64, 64)
    target = make_target()
    loss = net(img, target)
    assert tuple(loss.shape) == (2, 4)
    torch.testing.assert_close(loss, coord_l1_loss(net(img), target))
    loss.mean().backward()
    assert net.backbone.conv1.weight.grad.abs().sum() > 0


def test_get_pose_net_for_training_loads_imagenet(hub_dir):
    reference = torchvision.models.resnet18()
    randomize_bn(reference)
    torch.save(reference.state_dict(), imagenet_weights_file(18))
    net = get_pose_net(Config(resnet_type=18), is_train=True, joint_num=18)
    assert isinstance(net, ResPoseNet)
    torch.testing.assert_close(net.backbone.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)
    torch.testing.assert_close(net.backbone.conv1.weight, reference.conv1.weight)
    assert torch.all(net.head.final_layer.bias == 0)
    assert abs(net.head.final_layer.weight.std().item() - 0.001) < 0.0002


def test_get_pose_net_for_training_without_weights_says_what_to_do(hub_dir):
    with pytest.raises(FileNotFoundError, match="resnet50-0676ba61.pth"):
        get_pose_net(cfg, is_train=True, joint_num=18)


def test_head_and_joint_num_must_agree():
    net = get_pose_net(Config(resnet_type=18), is_train=False, joint_num=18)
    with pytest.raises(ValueError, match="18 joints but joint_num=21"):
        ResPoseNet(net.backbone, net.head, 21)


def test_pick_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device().type == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device().type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device().type == "cuda"


def test_shape_trace_follows_forward_and_the_meta_device():
    net = get_pose_net(Config(resnet_type=18), is_train=False, joint_num=3).eval()
    img = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        trace = shape_trace(net, img)
        assert trace[-1] == ("soft-argmax", tuple(net(img).shape))
    with torch.device("meta"):
        meta = shape_trace(get_pose_net(Config(resnet_type=18), is_train=False, joint_num=3), torch.empty(1, 3, 64, 96))
    assert meta == trace
    assert [name for name, _ in trace][:3] == ["input", "backbone stem", "backbone max-pool"]
    assert len(trace) == 12
    with pytest.raises(ValueError, match="multiples of 32"):
        shape_trace(net, torch.zeros(1, 3, 50, 50))


def test_print_shape_trace_prints_the_real_trace_and_marks_only_matching_rows(capsys):
    small = Config(resnet_type=18, input_shape=(64, 96), batch_size=2)
    net = get_pose_net(small, is_train=False, joint_num=3).eval()
    with torch.no_grad():
        real = shape_trace(net, torch.randn(2, 3, 64, 96))  # computed for real, not on the meta device
    print_shape_trace(mark="head", note="<- here", joint_num=3, config=small)
    expected = [f"{name:<22} {shape}" + ("   <- here" if name.startswith("head") else "") for name, shape in real]
    assert capsys.readouterr().out.splitlines() == expected
    print_shape_trace()  # the paper's settings: a batch of 32 crops of 256 x 256, ResNet-50, 18 joints
    out = capsys.readouterr().out
    assert "backbone layer4        (32, 2048, 8, 8)" in out and "soft-argmax            (32, 18, 3)" in out
    assert "<-" not in out
