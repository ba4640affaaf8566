"""Exercises of lesson 14, speed and memory (written directly, not generated)."""
from __future__ import annotations

import numbers

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from minipose.exercises import Exercise, Mistake, Question, call


def _number(got, what: str) -> float:
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        raise Mistake(f"return {what} as one number; you returned {type(got).__name__}")
    return float(got)

# --- 14.1: FLOPs of a convolution ------------------------------------------------------------------------------------

_CONVS = [  # (what, conv, height, width)
    ("a 7x7 stride-2 convolution like ResNet's stem", dict(in_channels=3, out_channels=8, kernel_size=7, stride=2,
                                                            padding=3, bias=False), 37, 29),
    ("a 1x1 convolution with a bias, like the head's last one", dict(in_channels=16, out_channels=12, kernel_size=1),
     10, 12),
    ("a 3x5 kernel, stride (2, 1), padding (1, 2), no padding change of size", dict(
        in_channels=5, out_channels=6, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), bias=False), 11, 9),
    ("a 3x3 convolution without padding", dict(in_channels=4, out_channels=7, kernel_size=3, bias=False), 9, 13),
    ("the stem's 7x7 stride-2 convolution on 36 x 28, where the stride does not divide evenly", dict(
        in_channels=3, out_channels=8, kernel_size=7, stride=2, padding=3, bias=False), 36, 28),
]


def _flops(conv: nn.Conv2d, h: int, w: int) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.device("meta"):
        conv.to("meta")(torch.empty(1, conv.in_channels, h, w, device="meta"))
    return int(counter.get_total_flops())


def _check_conv_flops(fn) -> str:
    for what, kwargs, h, w in _CONVS:
        torch.manual_seed(0)
        conv = nn.Conv2d(**kwargs)
        want = _flops(nn.Conv2d(**kwargs), h, w)
        got = _number(call(fn, conv, h, w), "the FLOPs")
        if got == want:
            continue
        kh, kw = conv.kernel_size
        oh = (h + 2 * conv.padding[0] - kh) // conv.stride[0] + 1
        ow = (w + 2 * conv.padding[1] - kw) // conv.stride[1] + 1
        macs = conv.out_channels * oh * ow * conv.in_channels * kh * kw
        wrong = [
            (macs, "you counted multiply-adds: each is 2 floating-point operations (FlopCounterMode counts 2)"),
            (2 * conv.out_channels * h * w * conv.in_channels * kh * kw,
             "you used the input's height and width: count the output's, (size + 2 padding - kernel) // stride + 1"),
            (2 * conv.out_channels * ((h - kh) // conv.stride[0] + 1) * ((w - kw) // conv.stride[1] + 1)
             * conv.in_channels * kh * kw, "you left out the padding: the output is (size + 2 padding - kernel) "
                                           "// stride + 1 along each side"),
            (2 * conv.out_channels * oh * ow * conv.in_channels,
             "you left out the kernel's area: every output number sums over in_channels x kh x kw inputs"),
            (2 * conv.out_channels * oh * ow * kh * kw,
             "you left out in_channels: every output number sums over all input channels"),
            (2 * macs + conv.out_channels * oh * ow, "you counted the bias additions: FlopCounterMode (and this "
                                                     "exercise) leaves them out"),
        ]
        for rounding, sentence in [
            (lambda a, s: a / s, "you divided with /, so the output size is not a whole number of positions: round "
                                 "down with //"),
            (lambda a, s: -(-a // s), "you rounded the output size up: round down with //, the last position of the "
                                      "kernel must fit inside the padded image"),
        ]:
            rh = rounding(h + 2 * conv.padding[0] - kh, conv.stride[0]) + 1
            rw = rounding(w + 2 * conv.padding[1] - kw, conv.stride[1]) + 1
            wrong.append((2 * conv.out_channels * rh * rw * conv.in_channels * kh * kw, sentence))
        for value, sentence in wrong:
            if got == value:
                raise Mistake(f"for {what}: {sentence}")
        raise Mistake(f"for {what} on a {h} x {w} image, FlopCounterMode counts {want:,} FLOPs; you return {got:,.0f}")
    return ("Equals torch's FlopCounterMode for five convolutions: strides (one that does not divide evenly), "
            "paddings, a non-square kernel, a bias.")


q1 = Exercise(
    "14.1", "the FLOPs of a convolution", "my_conv_flops", _check_conv_flops,
    refuses=("minipose.bench.forward_flops",),
    hints=[
        "Each output number is a sum over in_channels x kh x kw products. How many output numbers are there, for "
        "out_channels channels of out_h x out_w?",
        "out_h = (height + 2 * padding[0] - kernel_size[0]) // stride[0] + 1 (dilation 1); FLOPs = 2 x out_channels x "
        "out_h x out_w x in_channels x kh x kw.",
    ],
)


# --- 14.2: bytes of a heatmap volume ---------------------------------------------------------------------------------

_VOLUMES = [
    (32, 18, 64, 64, 64, torch.float32), (2, 17, 16, 16, 16, torch.bfloat16), (3, 18, 64, 8, 12, torch.float16),
    (1, 21, 32, 16, 24, torch.float64),
]


def _check_volume_bytes(fn) -> str:
    for b, j, d, h, w, dtype in _VOLUMES:
        want = torch.empty(b, j * d, h, w, dtype=dtype, device="meta").nbytes
        got = _number(call(fn, b, j, d, h, w, dtype), "the number of bytes")
        if got == want:
            continue
        size = torch.finfo(dtype).bits // 8
        n = b * j * d * h * w
        where = f"for batch {b}, {j} joints, {d} bins, {h} x {w}, {dtype}"
        wrong = [
            (n * 4, "you took 4 bytes per number for every dtype: float16 and bfloat16 take 2, float64 8 "
                    "(torch.finfo(dtype).bits // 8, or torch.empty((), dtype=dtype).element_size())"),
            (n * size * 8, "you counted bits: a byte is 8 bits"),
            (n, "you counted numbers, not bytes: multiply by the bytes per number"),
            (n // d * size, "you left out depth_dim: every joint has depth_dim heatmaps of H x W"),
            (n // j * size, "you left out joint_num: the head writes joint_num x depth_dim channels"),
            (n // b * size, "you left out the batch"),
        ]
        for value, sentence in wrong:
            if got == value:
                raise Mistake(f"{where}: {sentence}")
        raise Mistake(f"{where}, the volume takes {want:,} bytes; you return {got:,.0f}")
    return "Equals the bytes of a meta tensor of that shape for float32, bfloat16, float16 and float64."


q2 = Exercise(
    "14.2", "the bytes of a heatmap volume", "my_volume_bytes", _check_volume_bytes,
    hints=[
        "The head's output is batch x (joint_num * depth_dim) x height x width numbers. How many bytes is one number "
        "of each dtype?",
        "torch.finfo(dtype).bits // 8 bytes per number: 4 for float32, 2 for float16 and bfloat16, 8 for float64.",
    ],
)

# --- 14.3: soft-argmax's gradient ------------------------------------------------------------------------------------

def _forbidden_autograd(*args, **kwargs):
    raise Mistake("you used autograd (backward or torch.autograd.grad): write the gradient from the formula, "
                  "g * p_i * (i - x_hat)")


def _check_grad(fn) -> str:
    for seed, n, g in [(0, 7, 1.0), (1, 12, -2.5), (2, 5, 0.3)]:
        gen = torch.Generator().manual_seed(seed)
        logits = torch.randn(n, generator=gen, dtype=torch.float64) * 2
        leaf = logits.clone().requires_grad_()
        x_hat = (torch.softmax(leaf, 0) * torch.arange(n, dtype=torch.float64)).sum()
        (want,) = torch.autograd.grad(x_hat * g, leaf)
        saved = torch.autograd.grad, torch.Tensor.backward
        torch.autograd.grad = _forbidden_autograd  # the formula, by hand: autograd would make the exercise empty
        torch.Tensor.backward = _forbidden_autograd
        try:
            got = call(fn, logits.clone(), g)
        finally:
            torch.autograd.grad, torch.Tensor.backward = saved
        try:
            got = torch.as_tensor(got, dtype=torch.float64).detach()
        except (TypeError, ValueError, RuntimeError):
            raise Mistake(f"return a tensor of the logits' shape; you returned {type(got).__name__}") from None
        if got.shape != want.shape:
            raise Mistake(f"return one gradient per logit, shape {tuple(want.shape)}; yours is {tuple(got.shape)}")
        if torch.allclose(got, want, rtol=1e-6, atol=1e-9):
            continue
        p = torch.softmax(logits, 0)
        i = torch.arange(n, dtype=torch.float64)
        xh = (p * i).sum()
        wrong = [
            (g * p * i, "you left out - x_hat: the softmax's normaliser also depends on every logit, which gives "
                        "p_i (i - x_hat), not p_i i"),
            (g * (i - xh), "you left out the factor p_i: d x_hat / d logit_i = p_i (i - x_hat)"),
            (-g * p * (i - xh), "your gradient has the wrong sign: raising logit_i pulls x_hat towards i"),
            (p * (i - xh), "you left out g, the gradient arriving at x_hat: multiply by it (the chain rule)"),
            (g * torch.exp(logits) * (i - xh), "you used exp(logits) unnormalised: use p = softmax(logits)"),
        ]
        for value, sentence in wrong:
            if torch.allclose(got, value, rtol=1e-6, atol=1e-9):
                raise Mistake(sentence)
        raise Mistake(f"for {n} logits (seed {seed}) and g = {g}, your gradient differs from autograd's by up to "
                      f"{(got - want).abs().max():.3g}")
    return "Equals autograd's gradient of sum_i softmax(logits)_i * i, for three sets of logits and upstream gradients."


q3 = Exercise(
    "14.3", "soft-argmax's gradient by hand", "my_soft_argmax_grad", _check_grad,
    refuses=("minipose.fast.SoftArgmax", "minipose.fast.soft_argmax_fast"),
    hints=[
        "d p_j / d logit_i = p_j (delta_ij - p_i). Sum x_j times that over j.",
        "The result is g * p_i * (i - x_hat), with p = softmax(logits) and x_hat = sum_i p_i i.",
    ],
)


# --- questions -------------------------------------------------------------------------------------------------------

q4 = Question(
    "14.4", "parameters against FLOPs",
    hints=["A convolution's weights are used once per output pixel. How many output pixels does layer4 have, and how "
           "many does the head's last convolution have?"],
    answer=("A convolution's parameters are in_channels x out_channels x kh x kw, whatever the picture's size; its "
            "FLOPs are that times 2 x the output pixels. layer4 works on 8 x 8 maps at 256 x 256 input (64 pixels), "
            "so its 15 million weights are each used 64 times; the head's last 1x1 convolution has only 0.3 million "
            "weights, but used at 64 x 64 = 4096 pixels. Parameters tell the size of a checkpoint and of the "
            "optimiser's state; FLOPs and the bytes moved tell the time."),
)
