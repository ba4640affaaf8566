"""Exercises of lesson 14, speed and memory (written directly, not generated).

The lesson counts FLOPs with FlopCounterMode, measures the heatmap volume's bytes, and writes soft-argmax's gradient
p_i (x_i - x_hat) by hand. Its exercises ask for what it does not print: the FLOPs of the head's last convolution
(predicted first), the FLOPs of any convolution as a formula, then of a *transposed* convolution, whose work follows
its input rather than its output, and the gradient of a heatmap's *variance* (DSNT's regulariser) with respect to its
logits. Their references live here.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from minipose.exercises import Exercise, Mistake, Prediction, Question, call, named_slip, read_number


# --- 14.0: predict the FLOPs of the head's last convolution ----------------------------------------------------------

def _check_final_layer_gflop(answer) -> str:
    got = read_number(answer, "GFLOP per crop", "1.23")
    got = got / 1e9 if got > 1e6 else got  # FLOPs rather than GFLOP: read as FLOPs
    channels_in, joints, bins, size = 256, 18, 64, 64  # 256 deconvolution channels -> 18 x 64, at 64 x 64
    macs = channels_in * joints * bins * size * size  # a 1x1 kernel: one multiply-add per input channel
    right = 2 * macs / 1e9
    if abs(got - right) <= 0.02 * right:
        return (f"2 x 256 x 1152 x 64 x 64 = {right:.2f} GFLOP: every one of the 1152 x 64 x 64 outputs sums 256 "
                "products, and FlopCounterMode counts each multiply-add as 2.")
    wrong = [
        (macs / 1e9, "you counted multiply-adds: FlopCounterMode counts each as 2 floating-point operations"),
        (2 * channels_in * joints * size * size / 1e9, "the layer writes joint_num x depth_dim = 18 x 64 = 1152 "
                                                       "channels, not 18: one heatmap per joint and depth bin"),
        (2 * channels_in * bins * size * size / 1e9, "the layer writes 18 x 64 = 1152 channels: you left out the "
                                                     "18 joints"),
        (2 * 17 * bins * channels_in * size * size / 1e9, "the loader adds the thorax: PoseNet here predicts 18 "
                                                          "joints, so 18 x 64 channels"),
        (2 * macs * 9 / 1e9, "the last layer is a 1x1 convolution: one position of the kernel, not 3 x 3"),
        (2 * macs * 16 / 1e9, "the head's maps are 64 x 64 (a quarter of the 256 x 256 crop), not the crop's size"),
        (2 * macs * 32 / 1e9, "the table is per crop: do not multiply by the batch of 32"),
        (2 * macs / 4 / 1e9, "the input has the head's 256 channels (config.head_channels), not 64"),
    ]
    named_slip(got, wrong, rel=0.02)
    raise Mistake(f"{got:g} GFLOP is not it: how many outputs does the layer write, and how many products does "
                  "each one sum?")


q0 = Prediction(
    "14.0", "predict the FLOPs of the head's last convolution", "predicted_gflop", _check_final_layer_gflop,
    hints=["Count outputs: 18 x 64 channels of 64 x 64. Each output of a 1x1 convolution sums one product per input "
           "channel.",
           "FLOPs = 2 x in_channels x out_channels x out_h x out_w for a 1x1 kernel; divide by 1e9 for GFLOP."],
)


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
        got = read_number(call(fn, conv, h, w), "FLOPs", "1234")
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
    refuses=("torch.utils.flop_counter.FlopCounterMode", "minipose.bench.forward_flops"),
    hints=[
        "Each output number is a sum over in_channels x kh x kw products. How many output numbers are there, for "
        "out_channels channels of out_h x out_w?",
        "out_h = (height + 2 * padding[0] - kernel_size[0]) // stride[0] + 1 (dilation 1); FLOPs = 2 x out_channels x "
        "out_h x out_w x in_channels x kh x kw.",
    ],
)


# --- 14.2: FLOPs of a transposed convolution -------------------------------------------------------------------------

_DECONVS = [  # (what, deconvolution, input height, input width)
    ("a deconvolution like the head's (4x4, stride 2, padding 1)", dict(
        in_channels=8, out_channels=6, kernel_size=4, stride=2, padding=1, bias=False), 8, 8),
    ("a 3x3 stride-2 deconvolution with padding 1 and output_padding 1", dict(
        in_channels=5, out_channels=3, kernel_size=3, stride=2, padding=1, output_padding=1, bias=False), 9, 7),
    ("a 3x5 kernel, stride (2, 1), padding (0, 2), with a bias", dict(
        in_channels=4, out_channels=7, kernel_size=(3, 5), stride=(2, 1), padding=(0, 2)), 6, 11),
    ("a 4x4 stride-1 deconvolution without padding", dict(
        in_channels=3, out_channels=5, kernel_size=4, bias=False), 5, 6),
    ("a 2x2 stride-3 deconvolution, whose kernel leaves gaps", dict(
        in_channels=6, out_channels=2, kernel_size=2, stride=3, bias=False), 4, 7),
]


def _deconv_flops(deconv: nn.ConvTranspose2d, h: int, w: int) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.device("meta"):
        deconv.to("meta")(torch.empty(1, deconv.in_channels, h, w, device="meta"))
    return int(counter.get_total_flops())


def _check_deconv_flops(fn) -> str:
    for what, kwargs, h, w in _DECONVS:
        torch.manual_seed(0)
        deconv = nn.ConvTranspose2d(**kwargs)
        want = _deconv_flops(nn.ConvTranspose2d(**kwargs), h, w)
        got = read_number(call(fn, deconv, h, w), "FLOPs", "1234")
        if got == want:
            continue
        (kh, kw), (sh, sw), (ph, pw) = deconv.kernel_size, deconv.stride, deconv.padding
        oph, opw = deconv.output_padding
        oh, ow = (h - 1) * sh - 2 * ph + kh + oph, (w - 1) * sw - 2 * pw + kw + opw  # the output's size
        cin, cout = deconv.in_channels, deconv.out_channels
        ch, cw = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1  # what a convolution would give
        slips = [
            (2 * cout * oh * ow * cin * kh * kw,
             "you counted it as a convolution over its output, every output number summing in_channels x kh x kw "
             "products. A transposed convolution works the other way: each *input* number is multiplied into a kh "
             "x kw patch of every output channel, so count the input's positions"),
            (2 * cout * ch * cw * cin * kh * kw,
             "you used a convolution's output size, (size + 2 padding - kernel) // stride + 1: a transposed "
             "convolution makes its input larger, not smaller, and its work follows the input's positions"),
            (cin * cout * kh * kw * h * w, "you counted multiply-adds: FlopCounterMode counts each as 2"),
            (2 * cout * oh * ow * cin * kh * kw / (sh * sw),
             "you divided the output-side count by the stride's area: that equals the work only when the output is "
             "exactly stride x input (as in the head). Padding, output_padding and the kernel's overhang change the "
             "output's size but not the work: count each input position's kh x kw x out_channels products"),
            (2 * cin * cout * h * w, "you left out the kernel's area: each input number meets all kh x kw weights "
                                     "of every output channel"),
            (2 * cin * cout * kh * kw * h * w + cout * oh * ow,
             "you counted the bias additions: FlopCounterMode (and this exercise) leaves them out"),
        ]
        try:
            named_slip(got, slips, rel=1e-9, abs_tol=0.5)
        except Mistake as slip:
            raise Mistake(f"for {what}: {slip}") from None
        raise Mistake(f"for {what} on a {h} x {w} input, FlopCounterMode counts {want:,} FLOPs; you return {got:,.0f}")
    return ("Equals torch's FlopCounterMode for five transposed convolutions: the head's, output_padding, a "
            "non-square kernel and stride, no padding, and a stride larger than the kernel.")


q2 = Exercise(
    "14.2", "the FLOPs of a transposed convolution", "my_deconv_flops", _check_deconv_flops,
    refuses=("torch.utils.flop_counter.FlopCounterMode", "minipose.bench.forward_flops"),
    hints=[
        "A transposed convolution is the backward of a convolution: each input number, in each input channel, is "
        "multiplied by a kh x kw patch of weights for every output channel and added into the output.",
        "So the products are in_channels x out_channels x kh x kw per input position, whatever the padding. Check "
        "your formula on the head's first deconvolution in the lesson's table: 2048 -> 256 channels, 4 x 4, on 8 x 8.",
    ],
)

# --- 14.3: the gradient of a heatmap's variance ---------------------------------------------------------------------

def _forbidden_autograd(*args, **kwargs):
    raise Mistake("you used autograd (backward or torch.autograd.grad): derive the gradient by hand, from "
                  "d p_j / d logit_i = p_j (delta_ij - p_i)")


def _variance_parts(logits):
    p = torch.softmax(logits, 0)
    i = torch.arange(len(logits), dtype=logits.dtype)
    mean = (p * i).sum()
    return p, i, mean, (p * (i - mean) ** 2).sum()


def _check_variance_grad(fn) -> str:
    for seed, n, g in [(0, 7, 1.0), (1, 12, -2.5), (2, 5, 0.3)]:
        gen = torch.Generator().manual_seed(seed)
        logits = torch.randn(n, generator=gen, dtype=torch.float64) * 2
        leaf = logits.clone().requires_grad_()
        (want,) = torch.autograd.grad(_variance_parts(leaf)[3] * g, leaf)
        saved = torch.autograd.grad, torch.Tensor.backward
        torch.autograd.grad = _forbidden_autograd  # by hand: autograd would make the exercise empty
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
        p, i, mean, var = _variance_parts(logits)
        second = (p * i ** 2).sum()
        wrong = [
            (g * p * (i - mean), "that is the gradient of x_hat (the lesson's formula): the variance sums "
                                 "(i - x_hat)^2, not i, against p"),
            (g * p * (i - mean) ** 2, "you left out - v: the softmax's normaliser depends on every logit, so each "
                                      "term is p_i (c_i - sum_j p_j c_j), here c_i = (i - x_hat)^2"),
            (g * ((i - mean) ** 2 - var), "you left out the factor p_i: d p_j / d logit_i = p_j (delta_ij - p_i) "
                                          "carries p"),
            (g * p * (i ** 2 - second), "you differentiated E[i^2] only: v = E[i^2] - x_hat^2, and x_hat^2 moves with "
                                        "the logits too (its gradient is 2 x_hat p_i (i - x_hat))"),
            (g * p * (i ** 2 - second + 2 * mean * (i - mean)), "the x_hat^2 term has the wrong sign: v = E[i^2] - "
                                                                "x_hat^2, so subtract 2 x_hat p_i (i - x_hat)"),
            (-g * p * ((i - mean) ** 2 - var), "your gradient has the wrong sign: raising a logit far from x_hat "
                                               "spreads the heatmap, so it raises v"),
            (p * ((i - mean) ** 2 - var), "you left out g, the gradient arriving at v: multiply by it (the chain "
                                          "rule)"),
        ]
        for value, sentence in wrong:
            if torch.allclose(got, value, rtol=1e-6, atol=1e-9):
                raise Mistake(sentence)
        raise Mistake(f"for {n} logits (seed {seed}) and g = {g}, your gradient differs from autograd's by up to "
                      f"{(got - want).abs().max():.3g}")
    return ("Equals autograd's gradient of the variance sum_i p_i (i - x_hat)^2, p = softmax(logits), in float64, for "
            "three sets of logits and upstream gradients.")


q3 = Exercise(
    "14.3", "the gradient of a heatmap's variance", "my_variance_grad", _check_variance_grad,
    refuses=("minipose.fast.SoftArgmax", "minipose.fast.soft_argmax_fast"),
    hints=[
        "For any f = sum_j p_j c_j with constants c_j, d f / d logit_i = p_i (c_i - f), as the lesson derived for "
        "c_j = j. Here c_j = (j - x_hat)^2 also depends on the logits through x_hat: what is sum_j p_j "
        "d c_j / d x_hat?",
        "sum_j p_j 2 (j - x_hat) = 0, so x_hat may be held fixed: the gradient is g * p_i * ((i - x_hat)^2 - v).",
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
