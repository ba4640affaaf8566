"""Exercise checks of lesson 14 (speed and memory): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import torch

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import ex14


def _out(conv, h, w, padding=True):
    kh, kw = conv.kernel_size
    ph, pw = conv.padding if padding else (0, 0)
    return (h + 2 * ph - kh) // conv.stride[0] + 1, (w + 2 * pw - kw) // conv.stride[1] + 1


def test_conv_flops_check():
    def flops(conv, h, w, factor=2, padding=True, area=True, channels=True, bias=False):
        oh, ow = _out(conv, h, w, padding)
        kh, kw = conv.kernel_size
        n = factor * conv.out_channels * oh * ow * (conv.in_channels if channels else 1) * (kh * kw if area else 1)
        return n + (conv.out_channels * oh * ow if bias else 0)

    assert_verdicts(ex14.q1, reference("14.1", "my_conv_flops"), [
        (lambda c, h, w: flops(c, h, w, factor=1), "multiply-adds"),
        (lambda c, h, w: 2 * c.out_channels * h * w * c.in_channels * c.kernel_size[0] * c.kernel_size[1],
         "the input's height and width"),
        (lambda c, h, w: flops(c, h, w, padding=False), "left out the padding"),
        (lambda c, h, w: flops(c, h, w, area=False), "kernel's area"),
        (lambda c, h, w: flops(c, h, w, channels=False), "left out in_channels"),
        (lambda c, h, w: flops(c, h, w, bias=True), "bias additions"),
        (lambda c, h, w: 2 * c.out_channels * c.in_channels * c.kernel_size[0] * c.kernel_size[1]
         * ((h + 2 * c.padding[0] - c.kernel_size[0]) / c.stride[0] + 1)
         * ((w + 2 * c.padding[1] - c.kernel_size[1]) / c.stride[1] + 1), "divided with /"),
        (lambda c, h, w: 2 * c.out_channels * c.in_channels * c.kernel_size[0] * c.kernel_size[1]
         * (-(-(h + 2 * c.padding[0] - c.kernel_size[0]) // c.stride[0]) + 1)
         * (-(-(w + 2 * c.padding[1] - c.kernel_size[1]) // c.stride[1]) + 1), "rounded the output size up"),
        (lambda c, h, w: flops(c, h, w) + 1, "FlopCounterMode counts"),
        (lambda c, h, w: "many", "one number"),
    ])


def test_volume_bytes_check():
    def size(dtype):
        return torch.finfo(dtype).bits // 8

    assert_verdicts(ex14.q2, reference("14.2", "my_volume_bytes"), [
        (lambda b, j, d, h, w, t: b * j * d * h * w * 4, "4 bytes per number"),
        (lambda b, j, d, h, w, t: b * j * d * h * w * torch.finfo(t).bits, "counted bits"),
        (lambda b, j, d, h, w, t: b * j * d * h * w, "counted numbers"),
        (lambda b, j, d, h, w, t: b * j * h * w * size(t), "left out depth_dim"),
        (lambda b, j, d, h, w, t: b * d * h * w * size(t), "left out joint_num"),
        (lambda b, j, d, h, w, t: j * d * h * w * size(t), "left out the batch"),
        (lambda b, j, d, h, w, t: b * j * d * h * w * size(t) // 1000, "the volume takes"),
        (lambda b, j, d, h, w, t: [b, j, d], "one number"),
    ])


def _by_autograd(logits, g):
    leaf = logits.clone().requires_grad_()
    x_hat = (torch.softmax(leaf, 0) * torch.arange(len(leaf), dtype=leaf.dtype)).sum()
    (grad,) = torch.autograd.grad(x_hat * g, leaf)
    return grad


def test_soft_argmax_grad_check():
    def parts(logits):
        p = torch.softmax(logits, 0)
        i = torch.arange(len(logits), dtype=logits.dtype)
        return p, i, (p * i).sum()

    def grad(logits, g, mode=""):
        p, i, xh = parts(logits)
        return {"no mean": g * p * i, "no p": g * (i - xh), "sign": -g * p * (i - xh), "no g": p * (i - xh),
                "exp": g * torch.exp(logits) * (i - xh)}.get(mode, g * p * (i - xh))

    assert_verdicts(ex14.q3, reference("14.3", "my_soft_argmax_grad"), [
        (lambda l, g: grad(l, g, "no mean"), "left out - x_hat"),
        (lambda l, g: grad(l, g, "no p"), "left out the factor p_i"),
        (lambda l, g: grad(l, g, "sign"), "wrong sign"),
        (lambda l, g: grad(l, g, "no g"), "left out g"),
        (lambda l, g: grad(l, g, "exp"), "unnormalised"),
        (lambda l, g: grad(l, g) * 1.1, "differs from autograd's"),
        (lambda l, g: grad(l, g)[:-1], "one gradient per logit"),
        (lambda l, g: "grad", "return a tensor"),
        (_by_autograd, "you used autograd"),
    ])

