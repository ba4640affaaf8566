"""HeadNet: shapes, width taken from the backbone, initialisation, errors."""
from __future__ import annotations

import pytest
import torch

from minipose import HeadNet, ResNetBackbone
from minipose.checks import randomize_bn


def test_shapes_for_a_batch_of_32():
    with torch.device("meta"):
        head = HeadNet(18)
        x = torch.empty(32, 2048, 8, 8)
        shapes = []
        for i in range(0, 9, 3):
            x = head.deconv_layers[i : i + 3](x)
            shapes.append(tuple(x.shape))
        shapes.append(tuple(head.final_layer(x).shape))
    assert shapes == [(32, 256, 16, 16), (32, 256, 32, 32), (32, 256, 64, 64), (32, 18 * 64, 64, 64)]


def test_layers_are_the_papers():
    head = HeadNet(17)
    deconvs = [m for m in head.deconv_layers if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(deconvs) == 3
    for m in deconvs:
        assert (m.kernel_size, m.stride, m.padding, m.output_padding) == ((4, 4), (2, 2), (1, 1), (0, 0))
        assert m.bias is None and m.out_channels == 256
    assert head.final_layer.kernel_size == (1, 1) and head.final_layer.bias is not None
    assert head.final_layer.out_channels == 17 * 64


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_every_backbone_depth_gets_a_working_head(depth):
    backbone = ResNetBackbone(depth).eval()
    head = HeadNet(18, in_channels=backbone.out_channels).eval()
    with torch.no_grad():
        out = head(backbone(torch.randn(1, 3, 64, 64)))
    assert tuple(out.shape) == (1, 18 * 64, 16, 16)


def test_official_initialisation():
    head = HeadNet(18)
    randomize_bn(head)  # fresh BatchNorms already hold weight 1, bias 0: start elsewhere
    torch.nn.init.constant_(head.final_layer.bias, 0.5)
    head.init_weights()
    weights = torch.cat([m.weight.flatten() for m in head.modules() if isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.Conv2d))])
    assert abs(weights.std().item() - 0.001) < 0.0001
    assert torch.all(head.final_layer.bias == 0)
    bns = [m for m in head.deconv_layers if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 3
    assert all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in bns)


def test_wrong_feature_width_names_the_fix():
    with pytest.raises(ValueError, match="in_channels=backbone.out_channels"):
        HeadNet(18)(torch.zeros(1, 512, 8, 8))
