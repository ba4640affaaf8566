"""Exercise checks of lesson 04 (head): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import torch
from torch import nn

from exercise_helpers import assert_verdicts, reference
from minipose.checks import randomize_bn
from minipose.exercises import PASSED, ex04
from minipose.head import HeadNet


def _pad(k, s):
    """A valid pair written as a search over real layers (not the checker's arithmetic), or None."""
    for p in range(k + 1):
        for op in range(s):
            layer = nn.ConvTranspose2d(1, 1, k, s, p, op)
            try:
                if all(layer(torch.zeros(1, 1, n, n)).shape[-1] == s * n for n in (1, 4)):
                    return p, op
            except RuntimeError:  # an empty output
                pass
    return None


def test_exact_scale_padding_check():
    assert_verdicts(ex04.q1, reference("04.1", "exact_scale_padding"), [
        (lambda k, s: ((k - 1) // 2, 0), "'same' padding of an ordinary convolution"),
        (lambda k, s: ((k - s) // 2, 0), "output_padding is always 0 in your answer"),
        (lambda k, s: ((k - s) // 2, (k - s) % 2), "2 * p - op = k - s"),
        (lambda k, s: _pad(k, s) if (k - s) % 2 == 0 else None,
         "for kernel_size=3, stride=2 you returned None, but a pair exists"),
        (lambda k, s: f"{_pad(k, s)}", "return a pair (padding, output_padding) or None"),
        (lambda k, s: _pad(k, s) and (_pad(k, s)[0] / 1, _pad(k, s)[1]), "whole numbers (ints): avoid `/`"),
        (lambda k, s: _pad(k, s) if k >= s else ((k - s) // 2, 0), "kernel_size=2, stride=4 your padding is -1"),
        (lambda k, s: ((k - s + 1) // 2, -((k - s) % 2)), "kernel_size=3, stride=2 your output_padding is -1"),
        (lambda k, s: _pad(k, s) or (k // 2, 1), "kernel_size=4, stride=1 your output_padding is 1: PyTorch"),
        (lambda k, s: _pad(k, s) if k >= s else (0, 0), "kernel_size=2, stride=4 your pair (0, 0) turns h into "
                                                        "4h - 2, not 4h"),
        (lambda k, s: _pad(k, s) or (50, 0), "kernel_size=4, stride=1 your pair (50, 0) turns h into 1h - 97"),
    ])


def test_exact_scale_padding_reference():
    """The checker's search and its size arithmetic against real layers and the closed form."""
    for k, s in ex04._SCALE_CASES + [(9, 3), (12, 5), (2, 1)]:
        assert ex04._scale_pair_exists(k, s) == (_pad(k, s) is not None) == (s > 1 or k % 2 == 1)
    assert ex04._layer_sizes(4, 2, 1, 0) == [(2 * n, 2 * (n + 3)) for n in ex04._SCALE_SIZES]
    assert ex04._layer_sizes(1, 3, 1, 2) == [(3 * n - 2, 3 * n + 7) for n in ex04._SCALE_SIZES]  # p > k - 1
    assert ex04._scaled_size(8, 4, 2, 1, 0) == 16 and ex04._scaled_size(7, 3, 2, 1, 1) == 14


def test_first_deconv_weights_check():
    assert_verdicts(ex04.q0, reference("04.0", "first_deconv_weights"), [
        (2048 * 256 * 9, "not 3 x 3"),
        (2048 * 256, "multiply by 16"),
        (512 * 256 * 16, "ResNet-18's width"),
        (2048 * 256 * 16 + 256, "no bias"),
        (2048 * 256 * 16 + 512, "belong to the next layer"),
        (256 * 256 * 16, "is the second (and the third) deconvolution"),
        (10_783_360, "the whole head"),
        ("8.4 million", "give one number of weights"),
        (8388608.5, "whole number"),
        (1000, "1,000 is not it"),
    ])
    assert ex04.q0.result("8,388,608").passed  # a number written as text counts too
    assert ex04.q0.result(8.388608e6).status == PASSED  # a float that is the count counts too


def test_first_deconv_weights_reference_against_the_layer():
    """The checker's count, written as arithmetic, against the layer the lesson builds."""
    assert ex04.q0.result(HeadNet(18).deconv_layers[0].weight.numel()).status == PASSED
    assert HeadNet(18).deconv_layers[0].bias is None


def _x8(c_in, c=256, steps=None, bias=False, bn=True, relu=True, first_in=None, width=None, dilation=1):
    """The two-step head (x2 first when the input is wider), with one thing done differently."""
    if steps is None:
        steps = [(4, 2, 1, 0), (8, 4, 2, 0)] if c_in > c else [(8, 4, 2, 0), (4, 2, 1, 0)]
    layers, ch = [], first_in or c_in
    for k, s, p, op in steps:
        layers.append(nn.ConvTranspose2d(ch, width or c, k, s, p, op, bias=bias, dilation=dilation))
        layers += ([nn.BatchNorm2d(width or c)] if bn else []) + ([nn.ReLU()] if relu else [])
        ch = width or c
    return nn.Sequential(*layers)


def _x8_relu_first(c_in, c):
    """Same names, but the second BatchNorm reads a ReLU'd map: a Sequential whose modules run in another order."""
    class Swapped(nn.Sequential):
        def forward(self, x):
            x = self[2](self[1](self[0](x)))
            return self[4](self[5](self[3](x)))
    return Swapped(*_x8(c_in, c))


def _x8_cropped(c_in, c):
    class Cropped(nn.Sequential):
        def forward(self, x):
            return super().forward(x)[..., :-1]
    return Cropped(*_x8(c_in, c))


def test_x8_check():
    x4, x2 = (8, 4, 2, 0), (4, 2, 1, 0)
    assert_verdicts(ex04.q2, reference("04.2", "make_x8_deconv"), [
        (lambda c_in, c=256: _x8(c_in, c, [x2, (8, 4, 1, 0)]), "turns h into 4h + 2, not 4h"),
        (lambda c_in, c=256: _x8(c_in, c, [(4, 2, 0, 0), x4]), "your x2 step turns h into 2h + 2"),
        (lambda c_in, c=256: _x8(c_in, c, [x2, (8, 4, 3, 2)]), "crops 3 pixels at the top and left"),
        (lambda c_in, c=256: _x8(c_in, c, [x2, (4, 4, 0, 0)]), "no overlap at all"),
        (lambda c_in, c=256: _x8(c_in, c, [x2, (6, 4, 1, 0)]), "kernel 6 stamps unevenly"),
        (lambda c_in, c=256: _x8(c_in, c, [x2, (12, 4, 4, 0)]), "kernel 12 stamps evenly"),
        (lambda c_in, c=256: _x8(c_in, c, [x2, x2]), "enlarge 4 times, not 8"),
        (lambda c_in, c=256: _x8(c_in, c, [x2, x2, x2]), "has 3 transposed convolutions"),
        (lambda c_in, c=256: _x8(c_in, c, [x4, x2]), "your x4 then x2 holds 2,162,688 weights, x2 then x4"),
        (lambda c_in, c=256: _x8(c_in, c, [x2, x4]), "your x2 then x4 holds 4,718,592 weights, x4 then x2"),
        (lambda c_in, c=256: _x8(c_in, c, [(16, 8, 4, 0)]), "your one x8 step holds 8,388,608 weights"),
        (lambda c_in, c=256: _x8(c_in, c, first_in=2048), "takes 2048 channels; it must take in_channels = 512"),
        (lambda c_in, c=256: _x8(c_in, c, width=256), "outputs 256 channels; every step outputs `channels` = 64"),
        (lambda c_in, c=256: nn.Sequential(nn.ConvTranspose2d(c_in, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c),
                                           nn.ReLU(), nn.ConvTranspose2d(c_in, c, 8, 4, 2, bias=False),
                                           nn.BatchNorm2d(c), nn.ReLU()), "reads the first step's output"),
        (lambda c_in, c=256: nn.Sequential(nn.ConvTranspose2d(c_in, c, (4, 8), (2, 4), (1, 2), bias=False),
                                           nn.BatchNorm2d(c), nn.ReLU()), "use square kernels"),
        (lambda c_in, c=256: _x8(c_in, c, bias=True), "have a bias"),
        (lambda c_in, c=256: _x8(c_in, c, dilation=2), "default dilation and groups"),
        (lambda c_in, c=256: _x8(c_in, c, bn=False), "has 0 BatchNorm layers for 2"),
        (lambda c_in, c=256: _x8(c_in, c, relu=False), "has 0 ReLUs for 2"),
        (lambda c_in, c=256: nn.Sequential(nn.Upsample(scale_factor=2), *_x8(c_in, c)), "holds Upsample"),
        (lambda c_in, c=256: nn.Sequential(*_x8(c_in, c)[:1], nn.ReLU(), *_x8(c_in, c)[1:2], *_x8(c_in, c)[3:]),
         "the state dict's names differ (missing: 1.bias, 1.num_batches_tracked, 1.running_mean; unexpected: "
         "2.bias"),
        (_x8_relu_first, "compute something else"),
        (_x8_cropped, "your layers returned (2, 64, 32, 23), expected (2, 64, 32, 24)"),
        (lambda c_in, c=256: list(_x8(c_in, c)), "you returned a list"),
        (lambda c_in, c=256: nn.ModuleDict(), "return an nn.Sequential"),
    ])


def test_x8_reference_against_layers_and_weights():
    """The checker's functional steps against nn layers built here; its weight counts against numel()."""
    torch.manual_seed(0)
    layers = _x8(16, 8).eval()
    randomize_bn(layers)
    x = torch.randn(2, 16, 5, 3)
    with torch.no_grad():
        want = layers(x)
        assert torch.allclose(ex04._x8_reference(layers.state_dict(), x, [(2, 1), (4, 2)]), want, atol=1e-6)
    assert want.shape == (2, 8, 40, 24)
    for c_in, c in [(2048, 256), (128, 256), (48, 48)]:
        for steps, strides in [([(4, 2, 1, 0), (8, 4, 2, 0)], (2, 4)), ([(8, 4, 2, 0), (4, 2, 1, 0)], (4, 2)),
                               ([(16, 8, 4, 0)], (8,))]:
            numel = sum(m.weight.numel() for m in _x8(c_in, c, steps) if isinstance(m, nn.ConvTranspose2d))
            assert ex04._x8_weights(c_in, c, strides) == numel
    assert ex04._x8_weights(2048, 256, (2, 4)) == 2048 * 256 * 16 + 256 * 256 * 64  # by hand: 12,582,912
