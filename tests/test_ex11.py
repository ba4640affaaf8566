"""Exercise checks of lesson 11 (speed): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import torch

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import ex11


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

    assert_verdicts(ex11.q1, reference("11.1", "my_conv_flops"), [
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

    assert_verdicts(ex11.q2, reference("11.2", "my_volume_bytes"), [
        (lambda b, j, d, h, w, t: b * j * d * h * w * 4, "4 bytes per number"),
        (lambda b, j, d, h, w, t: b * j * d * h * w * torch.finfo(t).bits, "counted bits"),
        (lambda b, j, d, h, w, t: b * j * d * h * w, "counted numbers"),
        (lambda b, j, d, h, w, t: b * j * h * w * size(t), "left out depth_dim"),
        (lambda b, j, d, h, w, t: b * d * h * w * size(t), "left out joint_num"),
        (lambda b, j, d, h, w, t: j * d * h * w * size(t), "left out the batch"),
        (lambda b, j, d, h, w, t: b * j * d * h * w * size(t) // 1000, "the volume takes"),
        (lambda b, j, d, h, w, t: [b, j, d], "one number"),
    ])


def test_fold_check():
    def fold(conv, bn, mode=""):
        eps = 0.0 if mode == "no eps" else bn.eps
        std = bn.running_var + eps if mode == "var" else torch.sqrt(bn.running_var + eps)
        gamma = torch.ones_like(bn.weight) if mode == "no gamma" else bn.weight
        scale = gamma / std
        cb = conv.bias if conv.bias is not None and mode != "no conv bias" else torch.zeros_like(bn.running_mean)
        if mode == "in channels":
            weight = conv.weight * scale[None, :, None, None]
        else:
            weight = conv.weight * scale[:, None, None, None]
        bias = {"mean after": cb * scale - bn.running_mean + bn.bias, "no beta": (cb - bn.running_mean) * scale,
                "plus mean": (cb + bn.running_mean) * scale + bn.bias,
                "bias unscaled": cb - bn.running_mean * scale + bn.bias}.get(mode, (cb - bn.running_mean) * scale + bn.bias)
        return weight, bias

    assert_verdicts(ex11.q3, reference("11.3", "my_fold"), [
        (lambda c, b: fold(c, b, "var"), "divided by the variance"),
        (lambda c, b: fold(c, b, "no eps"), "left out eps"),
        (lambda c, b: fold(c, b, "in channels"), "scaled the input channels"),
        (lambda c, b: fold(c, b, "no gamma"), "left out gamma"),
        (lambda c, b: (c.weight * (b.weight / (torch.sqrt(b.running_var) + b.eps))[:, None, None, None],
                       fold(c, b)[1]), "outside the square root"),
        (_torch_fusion, "you called fuse_conv_bn_eval"),
        (lambda c, b: fold(c, b, "mean after"), "after scaling"),
        (lambda c, b: fold(c, b, "no beta"), "left out beta"),
        (lambda c, b: fold(c, b, "no conv bias"), "dropped the convolution's own bias"),
        (lambda c, b: fold(c, b, "plus mean"), "added the running mean"),
        (lambda c, b: fold(c, b, "bias unscaled"), "must be scaled too"),
        (lambda c, b: (fold(c, b)[0], None), "return a bias too"),
        (lambda c, b: fold(c, b)[0], "return two tensors"),
        (lambda c, b: (fold(c, b)[0][:, :1], fold(c, b)[1]), "keep conv.weight's shape"),
        (lambda c, b: (fold(c, b)[0] * 1.01, fold(c, b)[1]), "your weight is not"),
        (lambda c, b: (fold(c, b)[0], fold(c, b)[1] + 0.1), "your bias is not"),
    ])


def _torch_fusion(conv, bn):
    from torch.nn.utils.fusion import fuse_conv_bn_eval  # as a student might, inside the answer
    fused = fuse_conv_bn_eval(conv, bn)
    return fused.weight, fused.bias


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

    assert_verdicts(ex11.q4, reference("11.4", "my_soft_argmax_grad"), [
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
