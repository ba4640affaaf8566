"""ResNetBackbone against torchvision's ResNets, its shapes, ImageNet loading and input errors."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from minipose import RESNET_SPEC, ResNetBackbone, make_layer
from minipose.backbone import imagenet_weights_file
from minipose.checks import randomize_bn


def torchvision_features(net: torchvision.models.ResNet, x: torch.Tensor) -> torch.Tensor:
    """torchvision's own forward pass, stopped before average pooling and fc."""
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_strict_parity_with_torchvision(depth):
    torch.manual_seed(depth)
    reference = getattr(torchvision.models, f"resnet{depth}")()
    randomize_bn(reference)
    state = {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    ours = ResNetBackbone(depth)
    ours.load_state_dict(state, strict=True)  # every name and shape must match torchvision
    ours.eval(), reference.eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), torchvision_features(reference, x), rtol=1e-4, atol=1e-5)


def test_resnet50_stage_shapes_for_a_batch_of_32():
    with torch.device("meta"):  # shapes only, computed by the same modules
        net = ResNetBackbone(50)
        x = torch.empty(32, 3, 256, 256)
        shapes = []
        x = net.relu(net.bn1(net.conv1(x)))
        shapes.append(tuple(x.shape))
        x = net.maxpool(x)
        shapes.append(tuple(x.shape))
        for name in ["layer1", "layer2", "layer3", "layer4"]:
            x = getattr(net, name)(x)
            shapes.append(tuple(x.shape))
    assert shapes == [
        (32, 64, 128, 128),
        (32, 64, 64, 64),
        (32, 256, 64, 64),
        (32, 512, 32, 32),
        (32, 1024, 16, 16),
        (32, 2048, 8, 8),
    ]


def test_meta_shapes_equal_real_shapes():
    net = ResNetBackbone(18).eval()
    with torch.no_grad():
        real = net(torch.randn(1, 3, 256, 192)).shape
    with torch.device("meta"):
        meta = ResNetBackbone(18)(torch.empty(1, 3, 256, 192)).shape
    assert real == meta == (1, 512, 8, 6)


@pytest.mark.parametrize("depth,channels", [(18, 512), (34, 512), (50, 2048), (101, 2048), (152, 2048)])
def test_out_channels_and_non_square_input(depth, channels):
    with torch.device("meta"):
        net = ResNetBackbone(depth)
        out = net(torch.empty(2, 3, 256, 192))
    assert net.out_channels == channels
    assert tuple(out.shape) == (2, channels, 8, 6)


def test_official_initialisation(monkeypatch):
    # PyTorch's own BatchNorm defaults are also weight 1, bias 0; make them something else, so that only the
    # backbone's initialisation can bring them to the official values.
    def not_the_default(bn):
        torch.nn.init.constant_(bn.weight, 7.0)
        torch.nn.init.constant_(bn.bias, 3.0)

    monkeypatch.setattr(torch.nn.BatchNorm2d, "reset_parameters", not_the_default)
    net = ResNetBackbone(50)
    conv_std = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, torch.nn.Conv2d)]).std()
    assert abs(conv_std.item() - 0.001) < 0.0001
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 53
    assert all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in bns)


def test_make_layer_shortcut_rule():
    blocks = RESNET_SPEC[50][0]
    assert make_layer(blocks, 64, 64, 3, stride=1)[0].downsample is not None  # channels 64 -> 256
    basic = RESNET_SPEC[18][0]
    assert make_layer(basic, 64, 64, 2, stride=1)[0].downsample is None  # same shape: identity
    stage = make_layer(basic, 64, 128, 2, stride=2)
    assert stage[0].downsample is not None and stage[1].downsample is None


def test_unknown_depth_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"unknown ResNet depth 42.*\[18, 34, 50, 101, 152\]"):
        ResNetBackbone(42)


@pytest.mark.parametrize(
    "shape,fix",
    [
        ((3, 64, 64), "unsqueeze"),
        ((1, 64, 64, 3), "permute"),
        ((1, 1, 64, 64), "expand"),
        ((1, 4, 64, 64), r"\[:, :3\]"),
        ((1, 3, 250, 250), "multiples of 32"),
        ((1, 3, 256, 250), "got 256 x 250"),  # the width alone is wrong
        ((1, 3, 250, 256), "got 250 x 256"),  # the height alone is wrong
        ((1, 3, 256, 240), "got 256 x 240"),  # a multiple of 16 is not enough: five halvings need 32
    ],
)
def test_bad_images_get_a_clear_error(shape, fix):
    with pytest.raises(ValueError, match=fix):
        ResNetBackbone(18)(torch.zeros(shape))


def test_imagenet_init_offline_from_the_hub_cache(hub_dir):
    reference = torchvision.models.resnet18()
    randomize_bn(reference)
    path = imagenet_weights_file(18)
    assert path.startswith(str(hub_dir)) and path.endswith("resnet18-f37072fd.pth")  # torchvision's own file name
    torch.save(reference.state_dict(), path)
    net = ResNetBackbone(18)
    net.init_weights()
    for name, value in net.state_dict().items():
        torch.testing.assert_close(value, reference.state_dict()[name], rtol=0, atol=0)


def test_imagenet_file_without_batchnorm_counters_loads(hub_dir):
    """torchvision's real ImageNet files predate BatchNorm's num_batches_tracked: they must still load."""
    reference = torchvision.models.resnet18()
    randomize_bn(reference)
    state = {k: v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, imagenet_weights_file(18))
    net = ResNetBackbone(18)
    net.init_weights()
    torch.testing.assert_close(net.layer3[1].bn2.running_var, reference.layer3[1].bn2.running_var, rtol=0, atol=0)
    assert net.bn1.num_batches_tracked.item() == 0


@pytest.mark.parametrize(
    "damage,named",
    [
        (lambda s: s.pop("layer2.0.downsample.0.weight"), "1 missing key(s) ['layer2.0.downsample.0.weight']"),
        (lambda s: s.update({"layer5.0.conv1.weight": torch.zeros(1)}), "1 unexpected ['layer5.0.conv1.weight']"),
        (lambda s: s.update({"conv1.weight": torch.zeros(64, 1, 7, 7)}), "1 of another shape ['conv1.weight']"),
    ],
    ids=["missing", "unexpected", "wrong-shape"],
)
def test_wrong_imagenet_file_is_refused_and_changes_nothing(hub_dir, damage, named):
    state = torchvision.models.resnet18().state_dict()
    damage(state)
    torch.save(state, imagenet_weights_file(18))
    net = ResNetBackbone(18)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(RuntimeError) as info:
        net.init_weights()
    message = str(info.value)
    assert named in message and "resnet18-f37072fd.pth" in message and "fetch it again" in message
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # not half-loaded


def test_a_resnet34_file_under_the_resnet18_name_is_refused(hub_dir):
    torch.save(torchvision.models.resnet34().state_dict(), imagenet_weights_file(18))
    with pytest.raises(RuntimeError, match="does not hold torchvision's ResNet-18 ImageNet weights"):
        ResNetBackbone(18).init_weights()


def test_missing_imagenet_file_names_the_file_and_the_fix(hub_dir):
    with pytest.raises(FileNotFoundError) as info:
        ResNetBackbone(50).init_weights()
    message = str(info.value)
    assert str(hub_dir / "checkpoints" / "resnet50-0676ba61.pth") in message
    assert "weights='IMAGENET1K_V1'" in message and "allow_download=True" in message


def test_corrupt_imagenet_file_is_reported(hub_dir):
    path = Path(imagenet_weights_file(18))
    torch.save(torchvision.models.resnet18().state_dict(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])  # an interrupted download
    with pytest.raises(RuntimeError, match="corrupt or incomplete: delete it"):
        ResNetBackbone(18).init_weights()


def test_randomize_bn_makes_every_batchnorm_non_trivial():
    """The parity tests rely on it: a BatchNorm left at the identity would hide a misplaced or misnamed BN."""
    net = torchvision.models.resnet18().eval()
    randomize_bn(net)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 20
    for m in norms:
        x = torch.randn(2, m.num_features, 3, 3)
        assert not torch.allclose(m(x), x, atol=1e-3)
        # Each of the four numbers must move away from a fresh BatchNorm's, in every channel: a BN that only
        # scaled, or only shifted, would let a swapped mean/variance or weight/bias go unnoticed.
        for value, fresh in [(m.running_mean, 0.0), (m.running_var, 1.0), (m.weight, 1.0), (m.bias, 0.0)]:
            assert (value != fresh).all()
            assert value.unique().numel() == m.num_features  # no two channels alike
