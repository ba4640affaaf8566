"""Exercises of lesson 15, a faster network for inference (written directly, not generated).

The lesson folds BatchNorm into convolutions with torch's `fuse_conv_bn_eval` and checks the folded network. Its
exercises ask for what it does not print: how many BatchNorms folding removes from the paper's PoseNet (predicted
first, from the blocks of lessons 01-04), and the fold's arithmetic by hand, for a convolution and then for a
deconvolution, whose weight stores the output channels on another axis. Their references live here; torch's fusion
helpers are refused while a check runs.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

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
    value = read_number(answer, "BatchNorm layers", "12")
    if value != int(value):
        raise Mistake("a count of layers is a whole number")
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


# --- 15.1: fold a BatchNorm ------------------------------------------------------------------------------------------

def _conv_bn(seed: int, bias: bool, eps: float):
    g = torch.Generator().manual_seed(seed)
    conv = nn.Conv2d(4, 4, 3, padding=1, bias=bias)  # as many in as out channels: a wrong axis would fit the shape
    bn = nn.BatchNorm2d(4, eps=eps)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
        if bias:
            conv.bias.copy_(torch.randn(4, generator=g))
        bn.weight.copy_(torch.rand(4, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(4, generator=g))
        bn.running_mean.copy_(torch.randn(4, generator=g))
        bn.running_var.copy_(torch.rand(4, generator=g) * 3 + 0.2)
    return conv.eval(), bn.eval()


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


def _check_fold(fn) -> str:
    for seed, bias, eps in [(0, False, 1e-5), (1, True, 1e-5), (2, True, 0.5)]:
        conv, bn = _conv_bn(seed, bias, eps)
        fused = fuse_conv_bn_eval(conv, bn)  # the reference (the answer may not call it: see refuses=)
        with torch.no_grad():
            got = call(fn, conv, bn)
        what = f"a convolution {'with' if bias else 'without'} a bias, BatchNorm eps {eps}"
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Mistake(f"return two tensors, (weight, bias); you returned {type(got).__name__}")
        weight, b = got
        if b is None:
            raise Mistake(f"for {what}: return a bias too: the folded convolution needs one even when conv had none "
                          "(beta - scale x mean)")
        try:
            weight = torch.as_tensor(weight, dtype=torch.float64).detach()
            b = torch.as_tensor(b, dtype=torch.float64).detach()
        except (TypeError, ValueError, RuntimeError):
            raise Mistake("return (weight, bias) as tensors") from None
        if weight.shape != conv.weight.shape or b.shape != (4,):
            raise Mistake(f"the weight must keep conv.weight's shape {tuple(conv.weight.shape)} and the bias be one "
                          f"number per output channel, (4,); yours are {tuple(weight.shape)} and {tuple(b.shape)}")
        w_ok = torch.allclose(weight, fused.weight.double(), rtol=1e-5, atol=1e-6)
        b_ok = torch.allclose(b, fused.bias.double(), rtol=1e-5, atol=1e-6)
        if w_ok and b_ok:
            continue
        with torch.no_grad():
            var, mean, gamma, beta = (t.double() for t in (bn.running_var, bn.running_mean, bn.weight, bn.bias))
            cb = conv.bias.double() if bias else torch.zeros(4, dtype=torch.float64)
            scale = gamma / torch.sqrt(var + bn.eps)
            cw = conv.weight.double()
        close = lambda t, ref: torch.allclose(t, ref, rtol=1e-5, atol=1e-6)
        weight_mistakes = [
            (cw * (gamma / (var + bn.eps))[:, None, None, None], "you divided by the variance: divide by the standard "
                                                                 "deviation, sqrt(running_var + eps)"),
            (cw * (gamma / torch.sqrt(var))[:, None, None, None], "you left out eps: BatchNorm divides by "
                                                                  "sqrt(running_var + eps)"),
            (cw * scale[None, :, None, None], "you scaled the input channels: BatchNorm scales each *output* channel, "
                                              "the weight's first axis (scale[:, None, None, None])"),
            (cw / torch.sqrt(var + bn.eps)[:, None, None, None], "you left out gamma (bn.weight) in the scale"),
            (cw * (gamma / (torch.sqrt(var) + bn.eps))[:, None, None, None], "you added eps outside the square root: "
                                                                             "BatchNorm divides by sqrt(var + eps)"),
        ]
        if not w_ok:
            for value, sentence in weight_mistakes:
                if close(weight, value):
                    raise Mistake(f"for {what}: {sentence}")
            raise Mistake(f"for {what}, your weight is not conv.weight x gamma / sqrt(var + eps) per output channel")
        for value, sentence in _bias_mistakes(cb, mean, scale, beta):
            if close(b, value):
                raise Mistake(f"for {what}: {sentence}")
        raise Mistake(f"for {what}, your bias is not (conv_bias - running_mean) x scale + beta")
    return ("Equals torch.nn.utils.fusion.fuse_conv_bn_eval with and without a convolution bias and with a large "
            "eps, where a forgotten eps shows.")


q1 = Exercise(
    "15.1", "fold a BatchNorm by hand", "my_fold", _check_fold,
    refuses=("minipose.fast.fold_batchnorm", "minipose.fast.optimize_for_inference", *_TORCH_FOLDS),
    hints=[
        "In eval mode, bn(y) = gamma (y - mean) / sqrt(var + eps) + beta for each channel: a scale and a shift. Put "
        "conv(x) = W * x + b in for y.",
        "scale = bn.weight / sqrt(bn.running_var + bn.eps); weight = conv.weight * scale[:, None, None, None]; "
        "bias = (conv_bias - bn.running_mean) * scale + bn.bias, with conv_bias = 0 when conv has none.",
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
