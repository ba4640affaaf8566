"""Exercise checks of lesson 04 (head): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

from torch import nn

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import ex04


def test_deconv_output_size_check():
    assert_verdicts(ex04.q1, reference("04.1", "deconv_output_size"), [
        (lambda n, k, s, p, op=0: (n + 2 * p - k) // s + 1, "output size of an ordinary convolution"),
        (lambda n, k, s, p, op=0: (n - 1) * s + k + op, "too large by 2 * padding"),
        (lambda n, k, s, p, op=0: (n - 1) * s - p + k + op, "subtract 2 * padding, not padding"),
        (lambda n, k, s, p, op=0: (n - 1) * s - 2 * p + k, "output_padding is missing"),
        (lambda n, k, s, p, op=0: (n - 1) * s - 2 * p + (k - 1) + op, "dilation * (kernel_size - 1) + 1"),
        (lambda n, k, s, p, op=0: n * s, "size * stride is right for the head's kernel 4, stride 2, padding 1 only"),
        (lambda n, k, s, p, op=0: (n - 1) * s - 2 * p + k + op + 0.0, "the sizes are right but floats"),
        (lambda n, k, s, p, op=0: (n - 1) * s - 2 * p + k + 2 * op, "you returned 15; nn.ConvTranspose2d gives 14"),
        (lambda n, k, s, p, op=0: str(n * s), "return a number"),
    ])


def test_output_padding_defaults_to_zero():
    message = ex04.q1.result(lambda n, k, s, p, op: (n - 1) * s - 2 * p + k + op).message
    assert "TypeError" in message and "missing 1 required positional argument" in message


def _deconvs(in_channels, num_layers, conv=None, bn=True, relu=True, width=256):
    layers, channels = [], in_channels
    for _ in range(num_layers):
        layers.append(conv(channels) if conv else nn.ConvTranspose2d(channels, width, 4, 2, 1, bias=False))
        layers += ([nn.BatchNorm2d(width)] if bn else []) + ([nn.ReLU(inplace=True)] if relu else [])
        channels = width
    return nn.Sequential(*layers)


def test_make_deconv_layers_check():
    assert_verdicts(ex04.q2, reference("04.2", "make_deconv_layers"), [
        (lambda c, n=3: _deconvs(2048, n), "takes 2048 channels (hard-coded, like the official head"),
        (lambda c, n=3: _deconvs(c, n, conv=lambda ch: nn.ConvTranspose2d(ch, 256, 3, 2, 1, bias=False)),
         "an h x w map becomes (2h - 1) x (2w - 1)"),
        (lambda c, n=3: _deconvs(c, n, conv=lambda ch: nn.ConvTranspose2d(ch, 256, 3, 2, 1, 1, bias=False)),
         "kernel_size 3 with output_padding 1 doubles the size too"),
        (lambda c, n=3: _deconvs(c, n, conv=lambda ch: nn.ConvTranspose2d(ch, 256, 4, 2, 1)), "have a bias"),
        (lambda c, n=3: _deconvs(c, n, bn=False), "has 0 BatchNorm layers"),
        (lambda c, n=3: _deconvs(c, n, relu=False), "has 0 ReLUs"),
        (lambda c, n=3: _deconvs(c, n, width=512), "output 512 channels; the head uses 256"),
        (lambda c, n=3: _deconvs(c, 3), "has 3 transposed convolutions; it needs num_layers = 2"),
        (lambda c, n=3: _deconvs(c, n, conv=lambda ch: nn.ConvTranspose2d(c, 256, 4, 2, 1, bias=False)),
         "transposed convolution 1 of make_deconv_layers(2048, num_layers=3) takes 2048 channels"),
        (lambda c, n=3: list(_deconvs(c, n)), "you returned a list"),
        (lambda c, n=3: nn.Sequential(*[m for i in range(n) for m in (
            nn.ConvTranspose2d(c if i == 0 else 256, 256, 4, 2, 1, bias=False), nn.ReLU(), nn.BatchNorm2d(256))]),
         "does not load into yours (strict): missing 2.weight, 2.bias, 2.running_mean and more; unexpected 1.weight"),
    ])
