"""ResPoseNet: the whole trace, the masked L1 loss, get_pose_net and the paper's settings."""
from __future__ import annotations

import pytest
import torch
import torchvision

from minipose import Config, ResPoseNet, cfg, coord_l1_loss, get_pose_net, pick_device
from minipose.backbone import imagenet_weights_file
from minipose.checks import randomize_bn
from minipose.integral import soft_argmax
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


def test_loss_accepts_flat_masks():
    coord = torch.zeros(2, 4, 3)
    target = make_target()
    flat = dict(target, vis=target["vis"].reshape(2, 4), have_depth=target["have_depth"].reshape(2))
    torch.testing.assert_close(coord_l1_loss(coord, flat), coord_l1_loss(coord, target))


def test_loss_with_one_mask_per_coordinate():
    """vis B x J x 3, as in the integral-regression code: each of x, y, z has its own mask."""
    coord = torch.rand(2, 4, 3) * 16
    target = make_target()
    target["have_depth"][1] = 0
    vis = torch.ones(2, 4, 3)
    vis[0, 0, 0] = 0  # x of joint 0 unknown
    vis[0, 2, 2] = 0  # z of joint 2 unknown
    vis[1, 3] = torch.tensor([1.0, 0.0, 1.0])  # y unknown (z masked anyway: no depth in image 1)
    loss = coord_l1_loss(coord, dict(target, vis=vis))
    d = (coord - target["coord"]).abs()
    expected = torch.tensor([  # written out joint by joint
        [d[0, 0, 1] + d[0, 0, 2], d[0, 1].sum(), d[0, 2, 0] + d[0, 2, 1], d[0, 3].sum()],
        [d[1, 0, 0] + d[1, 0, 1], d[1, 1, 0] + d[1, 1, 1], d[1, 2, 0] + d[1, 2, 1], d[1, 3, 0]],
    ]) / 3
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize(
    "key,shape",
    [
        ("vis", (4, 2)),  # J x B: the right number of values, the wrong joints
        ("vis", (4, 2, 1)),
        ("vis", (2, 3)),
        ("vis", (2, 4, 2)),
        ("vis", (1, 4, 1)),  # would broadcast over the batch
        ("vis", (8,)),
        ("have_depth", (1, 2)),
        ("have_depth", (2, 4)),
        ("have_depth", (1,)),
        ("have_depth", (2, 1, 1)),
    ],
)
def test_loss_refuses_other_mask_shapes_and_names_the_expected_ones(key, shape):
    target = dict(make_target(), **{key: torch.ones(shape)})
    expected = "B x J, B x J x 1 or B x J x 3 = (2, 4), (2, 4, 1) or (2, 4, 3)" if key == "vis" else "B or B x 1 = (2,) or (2, 1)"
    with pytest.raises(ValueError) as info:
        coord_l1_loss(torch.zeros(2, 4, 3), target)
    assert f"target['{key}'] must be {expected}" in str(info.value) and f"got {shape}" in str(info.value)


def test_loss_refuses_a_missing_key_or_a_wrong_coord_shape():
    target = make_target()
    with pytest.raises(KeyError, match="have_depth"):
        coord_l1_loss(torch.zeros(2, 4, 3), {"coord": target["coord"], "vis": target["vis"]})
    with pytest.raises(ValueError, match=r"prediction's shape \(2, 4, 3\)"):
        coord_l1_loss(torch.zeros(2, 4, 3), dict(target, coord=torch.zeros(2, 3, 4)))


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


@pytest.mark.parametrize("depth_dim", [16, 32])
def test_get_pose_net_uses_the_configs_depth_dim(depth_dim):
    net = get_pose_net(Config(resnet_type=18, depth_dim=depth_dim), is_train=False, joint_num=5).eval()
    assert net.head.depth_dim == depth_dim and net.head.final_layer.out_channels == 5 * depth_dim
    # A volume peaked at the last depth bin must come out as z = depth_dim - 1.
    with torch.no_grad():
        net.head.final_layer.weight.zero_()
        net.head.final_layer.bias.zero_()
        net.head.final_layer.bias[depth_dim - 1 :: depth_dim] = 1e4  # every joint's last depth slice
        coords = net(torch.randn(1, 3, 64, 64))
    assert tuple(coords.shape) == (1, 5, 3)
    torch.testing.assert_close(coords[..., 2], torch.full((1, 5), depth_dim - 1.0))


def test_depth_dim_default_is_written_once_in_config():
    import inspect
    import re

    import minipose

    assert inspect.signature(minipose.HeadNet).parameters["depth_dim"].default == Config().depth_dim == 64
    assert inspect.signature(minipose.soft_argmax).parameters["depth_dim"].default == Config().depth_dim
    for module in ["head", "integral", "posenet", "backbone", "checkpoint"]:
        source = inspect.getsource(getattr(minipose, module))
        assert not re.search(r"depth_dim[^=\n]*=\s*64\b", source), f"minipose/{module}.py repeats depth_dim = 64"


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


# Written out by hand from the paper's shapes (stem /2, max-pool /2, layer2-4 /2 each, three deconvolutions x2,
# 18 joints x 64 depth bins), not computed: the trace must reproduce them.
RESNET50_32 = [
    ("input", (32, 3, 256, 256)),
    ("backbone stem", (32, 64, 128, 128)),
    ("backbone max-pool", (32, 64, 64, 64)),
    ("backbone layer1", (32, 256, 64, 64)),
    ("backbone layer2", (32, 512, 32, 32)),
    ("backbone layer3", (32, 1024, 16, 16)),
    ("backbone layer4", (32, 2048, 8, 8)),
    ("head deconv-bn-relu", (32, 256, 16, 16)),
    ("head deconv-bn-relu", (32, 256, 32, 32)),
    ("head deconv-bn-relu", (32, 256, 64, 64)),
    ("head 1x1 conv", (32, 1152, 64, 64)),
    ("soft-argmax", (32, 18, 3)),
]
RESNET18_32 = [  # BasicBlocks: no x4 expansion, 512 channels at the end
    ("input", (32, 3, 256, 256)),
    ("backbone stem", (32, 64, 128, 128)),
    ("backbone max-pool", (32, 64, 64, 64)),
    ("backbone layer1", (32, 64, 64, 64)),
    ("backbone layer2", (32, 128, 32, 32)),
    ("backbone layer3", (32, 256, 16, 16)),
    ("backbone layer4", (32, 512, 8, 8)),
    ("head deconv-bn-relu", (32, 256, 16, 16)),
    ("head deconv-bn-relu", (32, 256, 32, 32)),
    ("head deconv-bn-relu", (32, 256, 64, 64)),
    ("head 1x1 conv", (32, 1152, 64, 64)),
    ("soft-argmax", (32, 18, 3)),
]
RESNET50_2_TALL = [  # a 256 x 192 crop: the width follows its own divisions (192 / 32 = 6, x 8 = 48)
    ("input", (2, 3, 256, 192)),
    ("backbone stem", (2, 64, 128, 96)),
    ("backbone max-pool", (2, 64, 64, 48)),
    ("backbone layer1", (2, 256, 64, 48)),
    ("backbone layer2", (2, 512, 32, 24)),
    ("backbone layer3", (2, 1024, 16, 12)),
    ("backbone layer4", (2, 2048, 8, 6)),
    ("head deconv-bn-relu", (2, 256, 16, 12)),
    ("head deconv-bn-relu", (2, 256, 32, 24)),
    ("head deconv-bn-relu", (2, 256, 64, 48)),
    ("head 1x1 conv", (2, 1152, 64, 48)),
    ("soft-argmax", (2, 18, 3)),
]


@pytest.mark.parametrize(
    "depth,batch,size,expected",
    [(50, 32, (256, 256), RESNET50_32), (18, 32, (256, 256), RESNET18_32), (50, 2, (256, 192), RESNET50_2_TALL)],
    ids=["resnet50", "resnet18", "resnet50-256x192"],
)
def test_shape_trace_equals_the_papers_table(depth, batch, size, expected):
    with torch.device("meta"):
        net = get_pose_net(Config(resnet_type=depth), is_train=False, joint_num=18)
        assert shape_trace(net, torch.empty(batch, 3, *size)) == expected


def test_shape_trace_on_real_numbers_equals_the_meta_device_and_forward():
    net = get_pose_net(Config(resnet_type=18), is_train=False, joint_num=3).eval()
    img = torch.randn(1, 3, 64, 96)
    trace = shape_trace(net, img)
    with torch.no_grad():
        assert trace[-1] == ("soft-argmax", tuple(net(img).shape))
    with torch.device("meta"):
        meta = shape_trace(get_pose_net(Config(resnet_type=18), is_train=False, joint_num=3), torch.empty(1, 3, 64, 96))
    assert meta == trace
    with pytest.raises(ValueError, match="multiples of 32"):
        shape_trace(net, torch.zeros(1, 3, 50, 50))


def test_shape_trace_is_what_forward_does():
    """The trace is recorded during forward: a network whose forward differs gives a different trace."""

    class NoMaxPool(ResPoseNet):  # a forward that skips a stage, as an edited lesson might
        def forward(self, img, target=None):
            b = self.backbone
            x = b.layer4(b.layer3(b.layer2(b.layer1(b.relu(b.bn1(b.conv1(img)))))))
            return soft_argmax(self.head(x), self.joint_num, self.head.depth_dim)

    with torch.device("meta"):
        net = get_pose_net(Config(resnet_type=18), is_train=False, joint_num=18)
        trace = shape_trace(NoMaxPool(net.backbone, net.head, 18), torch.empty(32, 3, 256, 256))
    names = [name for name, _ in trace]
    assert "backbone max-pool" not in names
    assert trace[names.index("backbone layer4")] == ("backbone layer4", (32, 512, 16, 16))


def test_shape_trace_leaves_the_model_as_it_was():
    net = get_pose_net(Config(resnet_type=18), is_train=False, joint_num=3).train()
    randomize_bn(net)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    shape_trace(net, torch.randn(2, 3, 64, 64))
    assert net.training  # mode restored
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # BatchNorm statistics untouched
    assert not any(m._forward_hooks for m in net.modules())  # hooks removed
    with pytest.raises(ValueError):
        shape_trace(net, torch.zeros(2, 3, 50, 50))  # forward fails ...
    assert net.training and not any(m._forward_hooks for m in net.modules())  # ... and still nothing is left behind


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
