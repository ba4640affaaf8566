"""Exercises of lesson 15, a faster network for inference (written directly, not generated).

The lesson folds BatchNorm into convolutions with torch's `fuse_conv_bn_eval` and checks the folded network. Its
exercises ask for what it does not print: how many BatchNorms folding removes from the paper's PoseNet (predicted
first, from the blocks of lessons 01-04), and the fold's arithmetic by hand for two cases the lesson does not
print: a BatchNorm *before* a convolution (it scales the input channels, and its shift reaches the output through
the kernel), and a BatchNorm after a deconvolution, whose weight stores the output channels on another axis. Their references live here; torch's fusion
helpers are refused while a check runs.
"""
from __future__ import annotations

import torch
from torch import nn

from minipose.exercises import Exercise, Mistake, Prediction, Question, call, named_slip, read_number

# torch's own fold: the lesson uses it, the exercises ask for its arithmetic. Refused while a check runs, however it
# is reached (the lesson's import, torch.nn.utils, or torch.ao's and torch.fx's module fusion, which call it).
_TORCH_FOLDS = ("torch.nn.utils.fusion.fuse_conv_bn_eval", "torch.nn.utils.fusion.fuse_conv_bn_weights")


# --- 15.0: predict how many BatchNorms folding removes from the paper's PoseNet ----------------------------------

_RESNET50_STAGES = (3, 4, 6, 3)  # bottleneck blocks per stage (He et al. 2016, Table 1)


def _paper_batchnorms() -> dict[str, int]:
    """Counted from the architecture (not from a network): where each BatchNorm of the paper's PoseNet sits."""
    return {"stem": 1,  # conv1 (7x7, stride 2) -> bn1
            "blocks": 3 * sum(_RESNET50_STAGES),  # a bottleneck: conv1/bn1, conv2/bn2, conv3/bn3
            "projections": len(_RESNET50_STAGES),  # each stage's first block: 1x1 conv + BN (layer1's: 64 -> 256)
            "head": 3}  # three deconvolution -> BN -> ReLU; the final 1x1 convolution has a bias and no BN


def _check_batchnorms(answer) -> str:
    value = read_number(answer, "BatchNorm layers", "12", whole=True)
    got, parts = int(value), _paper_batchnorms()
    right = sum(parts.values())
    blocks = sum(_RESNET50_STAGES)
    if got == right:
        return (f"{right} = {parts['stem']} in the stem + 3 x {blocks} in the bottlenecks + {parts['projections']} "
                f"in the projection shortcuts + {parts['head']} in the head: fold_batchnorm folds every one.")
    backbone = right - parts["head"]
    basic = ("two BatchNorms per block is the BasicBlock of ResNet-18 and 34; ResNet-50's bottleneck has three "
             "convolutions (1x1, 3x3, 1x1), each with its BatchNorm")
    named_slip(got, [  # counts: only the exact number names a slip
        (backbone, (f"{backbone} is the backbone alone: the head's three deconvolutions are each followed by a "
                    "BatchNorm too (deconv -> BN -> ReLU, lesson 04), and fold_batchnorm folds those as well")),
        (right - parts["projections"], ("the projection shortcuts have BatchNorms too: the first block of each of "
                                        "the four stages projects its input with a 1x1 convolution followed by a "
                                        "BatchNorm")),
        (right - 1, ("count layer1's projection too (its first block keeps stride 1 but turns 64 channels into 256, "
                     "so all four stages have one), or the stem's bn1, after its 7x7 convolution")),
        (right + 1, "the head's last layer, the 1x1 convolution that makes the heatmaps, has a bias and no BatchNorm"),
        (23, ("23 is the small network of this lesson (ResNet-18: BasicBlocks of two convolutions, three "
              "projections); the paper's ResNet-50 is built of bottlenecks, three convolutions each")),
        (0, "0 is how many are left after folding; the question is how many it folds away"),
        (1 + 3 * blocks, (f"{1 + 3 * blocks} counts the stem and the bottlenecks' main path only: add the four "
                          "projection shortcuts and the head's three deconvolutions")),
        # the stem and two per block, with or without the head (3) and the projections (3 or 4)
        *[(1 + 2 * blocks + extra, basic) for extra in (0, 3, 4, 6, 7)],
    ], rel=0, abs_tol=0)
    raise Mistake(f"{got} is not it: count the stem, three per bottleneck ({' + '.join(map(str, _RESNET50_STAGES))} "
                  "blocks), the projection shortcuts and the head's deconvolutions")


q0 = Prediction(
    "15.0", "predict how many BatchNorms folding removes", "batchnorms_folded", _check_batchnorms,
    hints=["Walk through the network of lessons 01-04: the stem, each bottleneck, the shortcuts, the head. Which "
           "convolutions are followed by a BatchNorm?",
           "A bottleneck has three; the first block of each stage adds a projection (1x1 conv + BN); each of the "
           "head's three deconvolutions has one; the final 1x1 convolution does not."],
)


# --- the bias slips of 15.2 ---------------------------------------------------------------------------------------

def _bias_mistakes(cb, mean, scale, beta) -> list[tuple[torch.Tensor, str]]:
    """Realistic wrong folded biases (of a convolution or a deconvolution) and the sentence that names each."""
    return [
        (cb * scale - mean + beta, "you subtracted the running mean after scaling: the mean is subtracted "
                                   "before, so it is scaled too: (conv_bias - mean) x scale + beta"),
        ((cb - mean) * scale, "you left out beta (bn.bias)"),
        (-mean * scale + beta, "you dropped the convolution's own bias: it goes through the BatchNorm too"),
        ((cb + mean) * scale + beta, "you added the running mean: BatchNorm subtracts it"),
        (cb - mean * scale + beta, "the convolution's bias must be scaled too: (conv_bias - mean) x scale + beta"),
    ]


# --- 15.1: fold a BatchNorm into the convolution after it ----------------------------------------------------------

def _bn_conv(seed: int, bias: bool, eps: float, kernel: int = 3, stride: int = 1):
    """A BatchNorm (eval mode, 4 channels) and the convolution after it: 4 -> 4 channels, so that a weight scaled
    along the wrong axis still fits the shape; no padding, where folding is exact."""
    g = torch.Generator().manual_seed(seed)
    bn = nn.BatchNorm2d(4, eps=eps)
    conv = nn.Conv2d(4, 4, kernel, stride=stride, padding=0, bias=bias)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
        if bias:
            conv.bias.copy_(torch.randn(4, generator=g))
        bn.weight.copy_(torch.rand(4, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(4, generator=g))
        bn.running_mean.copy_(torch.randn(4, generator=g))
        bn.running_var.copy_(torch.rand(4, generator=g) * 3 + 0.2)
    return bn.eval(), conv.eval()


def _fold_before(bn, conv, axis: int = 1, through_kernel: bool = True, eps: bool = True):
    """The reference (defaults) and its slips, in float64: bn(x) = s x + t per input channel, so
    conv(bn(x)) = (W s) * x + (b + sum over input channels and kernel of W t)."""
    w = conv.weight.double()
    var, mean, gamma, beta = (v.double() for v in (bn.running_var, bn.running_mean, bn.weight, bn.bias))
    s = gamma / torch.sqrt(var + (bn.eps if eps else 0.0))
    t = beta - mean * s
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    weight = w * s.view(shape)
    b = conv.bias.double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    shift = (w * t.view(1, -1, 1, 1)).sum(dim=(1, 2, 3)) if through_kernel else (w.sum(dim=(2, 3)) @ t) / (
        w.shape[2] * w.shape[3])
    return weight, b + shift


def _check_fold_before(fn) -> str:
    for seed, bias, eps, kernel, stride in [(0, False, 1e-5, 3, 1), (1, True, 1e-5, 1, 1), (2, True, 0.5, 3, 2)]:
        bn, conv = _bn_conv(seed, bias, eps, kernel, stride)
        with torch.no_grad():
            got = call(fn, bn, conv)
        what = (f"a BatchNorm (eps {eps}) before a {kernel}x{kernel} stride-{stride} convolution "
                f"{'with' if bias else 'without'} a bias")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Mistake(f"return two tensors, (weight, bias); you returned {type(got).__name__}")
        weight, b = got
        if b is None:
            raise Mistake(f"for {what}: return a bias too: the BatchNorm's shift reaches the output through the "
                          "weights even when conv had no bias")
        try:
            weight = torch.as_tensor(weight, dtype=torch.float64).detach()
            b = torch.as_tensor(b, dtype=torch.float64).detach()
        except (TypeError, ValueError, RuntimeError):
            raise Mistake("return (weight, bias) as tensors") from None
        if weight.shape != conv.weight.shape or b.shape != (4,):
            raise Mistake(f"the weight must keep conv.weight's shape {tuple(conv.weight.shape)} and the bias be one "
                          f"number per output channel, (4,); yours are {tuple(weight.shape)} and {tuple(b.shape)}")
        want_w, want_b = _fold_before(bn, conv)
        close = lambda x, y: torch.allclose(x, y, rtol=1e-5, atol=1e-6)  # noqa: E731
        if close(weight, want_w) and close(b, want_b):
            continue
        if not close(weight, want_w):
            for value, sentence in [
                (_fold_before(bn, conv, axis=0)[0], "you scaled the output channels, as when the BatchNorm comes "
                 "after the convolution: here it normalises the convolution's *input*, so scale the weight's "
                 "second axis, one factor per input channel (scale[None, :, None, None])"),
                (_fold_before(bn, conv, eps=False)[0], "you left out eps: BatchNorm divides by sqrt(running_var + "
                 "eps)"),
            ]:
                if close(weight, value):
                    raise Mistake(f"for {what}: {sentence}")
            raise Mistake(f"for {what}, your weight is not conv.weight x gamma / sqrt(var + eps) per input channel")
        cb = conv.bias.double() if bias else torch.zeros(4, dtype=torch.float64)
        s = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        t = bn.bias.double() - bn.running_mean.double() * s
        for value, sentence in [
            (_fold_before(bn, conv, through_kernel=False)[1],
             "the shift t = beta - mean x scale of each input channel meets every weight of the kernel: sum W x t "
             "over the input channels *and* the kernel's positions, not their average"),
            (cb + t, "the BatchNorm's shift t = beta - mean x scale is per *input* channel: it reaches each output "
                     "only through the weights, as sum over input channels and kernel of W x t"),
            (cb, "you kept the convolution's own bias only: the BatchNorm's shift t = beta - mean x scale adds "
                 "sum of W x t to every output"),
            (_fold_before(bn, conv)[1] - cb, "you dropped the convolution's own bias: it is added after, unchanged"),
            ((conv.weight.double() * (bn.bias.double()).view(1, -1, 1, 1)).sum(dim=(1, 2, 3)) + cb,
             "you shifted by beta only: the BatchNorm subtracts the running mean first, so the shift is "
             "t = beta - mean x scale"),
        ]:
            if close(b, value):
                raise Mistake(f"for {what}: {sentence}")
        raise Mistake(f"for {what}, your bias is not conv_bias + sum over input channels and kernel of W x t, "
                      "t = beta - mean x scale")
    return ("The folded convolution computes conv(bn(x)) (no padding) for three pairs: with and without a "
            "convolution bias, a 1x1 and a strided 3x3 kernel, and a large eps, where a forgotten eps shows.")


q1 = Exercise(
    "15.1", "fold a BatchNorm into the convolution after it", "my_fold_before", _check_fold_before,
    refuses=("minipose.fast.fold_batchnorm", "minipose.fast.optimize_for_inference", *_TORCH_FOLDS),
    hints=[
        "In eval mode, bn(x) = s x + t per channel, s = gamma / sqrt(var + eps), t = beta - mean s. Put that into "
        "conv(y) = W * y + b: the s and the t belong to the convolution's *input* channels.",
        "weight = conv.weight * s[None, :, None, None]; the t part is a constant image, so each output gets "
        "sum over input channels and kernel of W t: (conv.weight * t[None, :, None, None]).sum(dim=(1, 2, 3)).",
    ],
)


# --- 15.2: fold a BatchNorm into a deconvolution -----------------------------------------------------------------

def _deconv_bn(seed: int, in_channels: int, bias: bool):
    g = torch.Generator().manual_seed(seed)
    deconv = nn.ConvTranspose2d(in_channels, 4, 4, stride=2, padding=1, bias=bias)  # the head's layout
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        deconv.weight.copy_(torch.randn(deconv.weight.shape, generator=g))
        if bias:
            deconv.bias.copy_(torch.randn(4, generator=g))
        bn.weight.copy_(torch.rand(4, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(4, generator=g))
        bn.running_mean.copy_(torch.randn(4, generator=g))
        bn.running_var.copy_(torch.rand(4, generator=g) * 3 + 0.2)
    return deconv.eval(), bn.eval()


def _check_fold_deconv(fn) -> str:
    # 4 -> 4 channels first: there scaling the wrong axis fits the shape and can be named; then 6 -> 4 without a
    # bias, as the head's deconvolutions are.
    for seed, in_channels, bias in [(20, 4, True), (21, 6, False)]:
        deconv, bn = _deconv_bn(seed, in_channels, bias)
        with torch.no_grad():  # the reference, written out: the output channels are the weight's second axis
            scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
            own_bias = deconv.bias.double() if bias else torch.zeros(4, dtype=torch.float64)
            want_w = deconv.weight.double() * scale[None, :, None, None]
            want_b = (own_bias - bn.running_mean.double()) * scale + bn.bias.double()
        with torch.no_grad():
            got = call(fn, deconv, bn)
        what = f"a {in_channels} -> 4 deconvolution {'with' if bias else 'without'} a bias"
        if not isinstance(got, (tuple, list)) or len(got) != 2 or got[1] is None:
            raise Mistake("return two tensors, (weight, bias), a bias even when the deconvolution had none")
        try:
            weight = torch.as_tensor(got[0], dtype=torch.float64).detach()
            b = torch.as_tensor(got[1], dtype=torch.float64).detach()
        except (TypeError, ValueError, RuntimeError):
            raise Mistake("return (weight, bias) as tensors") from None
        if weight.shape != deconv.weight.shape or b.shape != (4,):
            raise Mistake(f"for {what}: the weight must keep deconv.weight's shape {tuple(deconv.weight.shape)} and "
                          f"the bias be one number per output channel, (4,); yours are {tuple(weight.shape)} and "
                          f"{tuple(b.shape)}")
        close = lambda a, ref: torch.allclose(a, ref, rtol=1e-5, atol=1e-6)
        if not close(weight, want_w):
            if close(weight, deconv.weight.double() * scale[:, None, None, None]):
                raise Mistake(f"for {what}: you scaled the weight's first axis, as for a Conv2d. A ConvTranspose2d "
                              "stores its weight as (in_channels, out_channels, kh, kw): BatchNorm scales the output "
                              "channels, the second axis (scale[None, :, None, None])")
            raise Mistake(f"for {what}: your weight is not deconv.weight x gamma / sqrt(var + eps) per output channel")
        if not close(b, want_b):
            for value, sentence in _bias_mistakes(own_bias, bn.running_mean.double(), scale, bn.bias.double()):
                if close(b, value):
                    raise Mistake(f"for {what}: {sentence}")
            raise Mistake(f"for {what}: your bias is not (deconv_bias - running_mean) x scale + beta")
    return ("Equal to the fold written out for a ConvTranspose2d (output channels on the weight's second axis), "
            "4 -> 4 with a bias and 6 -> 4 without, as in PoseNet's head.")


q2 = Exercise(
    "15.2", "fold a BatchNorm into a deconvolution", "my_fold_deconv", _check_fold_deconv,
    refuses=("minipose.fast.fold_batchnorm", "minipose.fast.optimize_for_inference", *_TORCH_FOLDS),
    hints=[
        "The arithmetic is the same as in 15.1; only where the output channels sit in the weight changes. Print "
        "deconv.weight.shape for nn.ConvTranspose2d(6, 4, 4): which axis has 4?",
        "weight = deconv.weight * scale[None, :, None, None]; bias = (b - running_mean) * scale + beta, with b = 0 "
        "when deconv.bias is None.",
    ],
)

# --- questions -------------------------------------------------------------------------------------------------------
q3 = Question(
    "15.3", "why BatchNorm is folded only for inference",
    hints=["In training mode, which mean and variance does BatchNorm use?"],
    answer=("In training mode BatchNorm normalises with the mean and variance of the current batch, which change with "
            "every batch (and it updates its running averages), so it is not a fixed per-channel affine map and "
            "cannot be baked into constant weights. In eval mode it uses the running statistics: constants, so "
            "scale and shift fold into the convolution exactly. Folding also drops BatchNorm's parameters, which "
            "training needs to learn."),
)
