"""Exercises of lesson 04, the deconvolution head (written directly, not generated).

The lesson builds PoseNet's head: three transposed convolutions (kernel 4, stride 2, padding 1) that double
8 -> 16 -> 32 -> 64, then a 1x1 convolution, and prints their size formula for the head's setting. Its exercises
ask for what it does not print: the weight count of the first transposed convolution (predicted first), the
inverse of the size formula (which padding and output_padding make a kernel and stride scale exactly by the
stride, or None), and a head that gets from h to 8h with at most two steps and the fewest weights, whose order
depends on the widths. Their references live here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minipose.checks import randomize_bn
from minipose.exercises import Exercise, Mistake, Prediction, Question, call, named_slip, read_number

# --- 04.0: predict the first deconvolution's weight count ------------------------------------------------------

def _check_first_deconv_weights(answer) -> str:
    got = read_number(answer, "weights", "1_000_000", whole=True)
    n = int(got)
    cin, cout, taps = 2048, 256, 4 * 4  # ResNet-50's width, the head's 256 channels, a 4 x 4 kernel
    want = cin * cout * taps
    if n == want:
        return ("8,388,608 = 2048 x 256 x 4 x 4: every pair of input and output channels has its own 4 x 4 "
                "kernel, and there is no bias.")
    named_slip(n, [  # counts: only the exact number names a slip
        (cin * cout * 9, "the head's kernels are 4 x 4 (16 taps), not 3 x 3: kernel 4 with stride 2 overlaps evenly"),
        (cin * cout, ("that is one weight per pair of channels; each of the 2048 x 256 pairs has a whole 4 x 4 "
                      "kernel, so multiply by 16")),
        (cin * cout * 4, ("2,097,152 is 2048 x 256 x 4 (a kernel of 4 taps) or 512 x 256 x 16 (ResNet-18's width): "
                          "the first deconvolution reads ResNet-50's 2048 channels with a 4 x 4 = 16-tap kernel")),
        (want + cout, "the transposed convolutions have no bias (bias=False): BatchNorm follows"),
        (want + 2 * cout, ("BatchNorm's weight and bias belong to the next layer, deconv_layers[1]; the question is "
                           "the transposed convolution's own weights")),
        (cout * cout * taps, ("1,048,576 = 256 x 256 x 16 is the second (and the third) deconvolution; the first "
                              "reads the backbone's 2048 channels")),
        (10_783_360, "that is the whole head (04.3); the question is the first transposed convolution only"),
    ], rel=0, abs_tol=0)
    raise Mistake(f"{n:,} is not it: multiply input channels, output channels and the kernel's taps")


q0 = Prediction(
    "04.0", "predict the first deconvolution's weights", "first_deconv_weights", _check_first_deconv_weights,
    hints=["A convolution, transposed or not, holds one kernel for each pair of an input and an output channel.",
           "in_channels x out_channels x kernel height x kernel width, plus a bias per output channel if it has "
           "one."],
)


# --- 04.1: the padding that scales exactly by the stride -------------------------------------------------------
# kernel_size, stride: the head's k4/s2, the x4 and x8 steps of 04.2, odd gaps, kernels smaller than the stride,
# and stride 1 with an even kernel (no pair exists)
_SCALE_CASES = [(4, 2), (8, 4), (16, 8), (3, 2), (7, 2), (5, 3), (6, 4), (2, 2), (2, 4), (1, 3), (3, 1), (1, 1),
                (4, 1), (6, 1)]
_SCALE_SIZES = (1, 2, 5, 8)


def _scaled_size(size: int, kernel_size: int, stride: int, padding: int, output_padding: int) -> int:
    return (size - 1) * stride - 2 * padding + kernel_size + output_padding


def _scale_pair_exists(kernel_size: int, stride: int) -> bool:
    """A search over every allowed pair (0 <= output_padding < stride), not the closed form the student writes."""
    return any(_scaled_size(n, kernel_size, stride, p, op) == stride * n for n in (1,)
               for p in range(kernel_size + 1) for op in range(stride))


def _layer_sizes(kernel_size: int, stride: int, padding: int, output_padding: int) -> list[tuple[int, ...]]:
    """What a real nn.ConvTranspose2d outputs from n x (n + 3) inputs, for each n of _SCALE_SIZES."""
    layer = nn.ConvTranspose2d(1, 1, kernel_size, stride, padding, output_padding, bias=False)
    try:
        with torch.no_grad():
            return [tuple(layer(torch.zeros(1, 1, n, n + 3)).shape[-2:]) for n in _SCALE_SIZES]
    except RuntimeError:  # e.g. padding that crops more than the layer paints
        return []


def _check_exact_scale_padding(fn) -> str:
    answers = {case: call(fn, *case) for case in _SCALE_CASES}
    patterns = [
        (lambda k, s: ((k - 1) // 2, 0), "(kernel_size - 1) // 2 is the 'same' padding of an ordinary convolution; "
         "a transposed convolution's size is (h - 1) * stride - 2 * padding + kernel_size + output_padding"),
        (lambda k, s: ((k - s) // 2, 0), "output_padding is always 0 in your answer: when kernel_size - stride is "
         "odd (kernel 3, stride 2), 2 * padding cannot remove an odd number of pixels; output_padding adds one back"),
        (lambda k, s: ((k - s) // 2, (k - s) % 2), "output_padding adds pixels and padding removes them (twice): "
         "solve (h - 1) * s - 2 * p + k + op = s * h, i.e. 2 * p - op = k - s"),
    ]
    for f, message in patterns:
        if all(answers[c] == f(*c) for c in _SCALE_CASES):
            raise Mistake(message)
    for (k, s), got in answers.items():
        where = f"for kernel_size={k}, stride={s}"
        exists = _scale_pair_exists(k, s)
        if got is None:
            if exists:
                raise Mistake(f"{where} you returned None, but a pair exists: output_padding (0 <= op < stride) "
                              "adds pixels that 2 * padding cannot, and padding 0 is allowed")
            continue
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Mistake(f"return a pair (padding, output_padding) or None; {where} you returned "
                          f"{type(got).__name__} {got!r:.40}")
        if any(isinstance(v, bool) or not isinstance(v, int) for v in got):
            raise Mistake(f"{where} you returned {tuple(got)!r:.40}: padding and output_padding are whole numbers "
                          "(ints): avoid `/`")
        p, op = got
        if p < 0:
            raise Mistake(f"{where} your padding is {p}: padding cannot be negative (it crops); when kernel_size "
                          "< stride, output_padding adds the missing pixels")
        if op < 0:
            raise Mistake(f"{where} your output_padding is {op}: it cannot be negative")
        if op >= s:
            raise Mistake(f"{where} your output_padding is {op}: PyTorch requires output_padding < stride (with "
                          "the default dilation 1); when no allowed pair exists, return None")
        sizes = [_scaled_size(n, k, s, p, op) for n in _SCALE_SIZES]
        if min(sizes) < 1 or _layer_sizes(k, s, p, op) != [(s * n, s * (n + 3)) for n in _SCALE_SIZES]:
            off = sizes[0] - s
            raise Mistake(f"{where} your pair ({p}, {op}) turns h into {s}h {'+' if off > 0 else '-'} {abs(off)}, "
                          f"not {s}h")
    return ("For 14 (kernel, stride) pairs, yours make real nn.ConvTranspose2d layers output exactly stride x "
            "the input (non-square, 4 sizes), with None only where no allowed pair exists (stride 1, even kernel).")


q1 = Exercise(
    "04.1", "the padding that scales exactly by the stride", "exact_scale_padding", _check_exact_scale_padding,
    refuses=("minipose.head.HeadNet",),
    hints=[
        "Set the lesson's size formula, with + output_padding, equal to stride * h: "
        "(h - 1) * s - 2 * p + k + op = s * h. The h terms cancel: what is left?",
        "2 * p - op = k - s, with p >= 0 and 0 <= op < s (PyTorch refuses a larger output_padding). "
        "An odd k - s needs an odd op; when k < s, p = 0 with op = s - k works; stride 1 allows only op = 0.",
    ],
)

# --- 04.2: eight times larger, with the fewest weights ---------------------------------------------------------
# in_channels, channels, feature height, width: wider input than head (x2 first), narrower (x4 first, the default
# 256 channels), equal (either order), on non-square maps
_X8_CASES = [(512, 64, 4, 3), (128, 256, 3, 5), (96, 32, 2, 4), (48, 48, 3, 2)]
_X8_ALLOWED = (nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU)


def _x8_weights(in_channels: int, channels: int, strides: tuple[int, ...]) -> int:
    """Weights of transposed convolutions with kernel 2 * stride (4 * stride**2 taps) in this order."""
    ins = (in_channels,) + (channels,) * (len(strides) - 1)
    return sum(c * channels * 4 * s * s for c, s in zip(ins, strides))


def _x8_names(in_channels: int, channels: int, kernels: list[int]) -> dict[str, tuple[int, ...]]:
    shapes, c_in = {}, in_channels
    for j, k in enumerate(kernels):
        shapes[f"{3 * j}.weight"] = (c_in, channels, k, k)
        shapes.update({f"{3 * j + 1}.{p}": (channels,) for p in ("weight", "bias", "running_mean", "running_var")})
        shapes[f"{3 * j + 1}.num_batches_tracked"] = ()
        c_in = channels
    return shapes


def _x8_reference(sd: dict, x: torch.Tensor, steps: list[tuple[int, int]]) -> torch.Tensor:
    """The steps with torch.nn.functional, from the answer's weights (eval mode): for each (stride, padding), a
    transposed convolution, BatchNorm, ReLU."""
    for j, (stride, padding) in enumerate(steps):
        i = 3 * j
        x = F.conv_transpose2d(x, sd[f"{i}.weight"], stride=stride, padding=padding)
        x = F.batch_norm(x, sd[f"{i + 1}.running_mean"], sd[f"{i + 1}.running_var"], sd[f"{i + 1}.weight"],
                         sd[f"{i + 1}.bias"], training=False, eps=1e-5)
        x = F.relu(x)
    return x


def _check_x8_structure(layers, in_channels: int, channels: int) -> list[tuple[int, int]]:
    name = f"make_x8_deconv({in_channels}, channels={channels})"
    if isinstance(layers, (list, tuple, nn.ModuleList)):
        raise Mistake(f"you returned a {type(layers).__name__}; return nn.Sequential(*layers) so it can run and "
                      "its names are 0, 1, 2, ...")
    if not isinstance(layers, nn.Sequential):
        raise Mistake(f"return an nn.Sequential; you returned {type(layers).__name__} {layers!r:.40}")
    other = [type(m).__name__ for m in layers.children() if not isinstance(m, _X8_ALLOWED)]
    if other:
        raise Mistake(f"{name} holds {other[0]}: the rules allow transposed convolutions, BatchNorm2d and ReLU "
                      "only")
    deconvs = [m for m in layers.modules() if isinstance(m, nn.ConvTranspose2d)]
    if not deconvs or len(deconvs) > 2:
        raise Mistake(f"{name} has {len(deconvs)} transposed convolutions; the rules allow one or two "
                      "(the lesson's head takes three x2 steps)")
    if deconvs[0].in_channels != in_channels:
        raise Mistake(f"for {name} your first transposed convolution takes {deconvs[0].in_channels} channels; it "
                      f"must take in_channels = {in_channels}, the backbone's width")
    for j, d in enumerate(deconvs):
        if d.out_channels != channels:
            raise Mistake(f"transposed convolution {j + 1} of {name} outputs {d.out_channels} channels; every "
                          f"step outputs `channels` = {channels}")
        if j and d.in_channels != channels:
            raise Mistake(f"the second transposed convolution of {name} takes {d.in_channels} channels; it "
                          f"reads the first step's output, {channels} channels")
    steps = []
    for d in deconvs:
        k, s, p, op = d.kernel_size[0], d.stride[0], d.padding[0], d.output_padding[0]
        if d.kernel_size[0] != d.kernel_size[1] or d.stride[0] != d.stride[1] or d.padding[0] != d.padding[1]:
            raise Mistake("use square kernels, strides and paddings: the same along height and width")
        if k != 2 * s:
            overlap = "side by side, with no overlap at all" if k == s else "unevenly" if k % s else "evenly"
            raise Mistake(f"your x{s} step has kernel_size {k}; the rules ask for twice the stride, {2 * s}, so "
                          f"that each output pixel gets two stamps per axis (kernel {k} stamps {overlap})")
        size = k - s - 2 * p + op  # (h - 1) * s - 2p + k + op, minus s * h
        if size:
            raise Mistake(f"your x{s} step turns h into {s}h {'+' if size > 0 else '-'} {abs(size)}, not {s}h: "
                          f"(h - 1) * {s} - 2 * padding + {k} + output_padding must be {s}h (you have "
                          f"padding={p}, output_padding={op})")
        if op:
            raise Mistake(f"your x{s} step reaches {s}h with padding {p} and output_padding {op}: it crops {p} "
                          f"pixels at the top and left but {p - op} at the bottom and right, so the map shifts; "
                          "use output_padding 0")
        if d.bias is not None:
            raise Mistake("your transposed convolutions have a bias: use bias=False, since BatchNorm follows")
        if tuple(d.dilation) != (1, 1) or d.groups != 1:
            raise Mistake("use the default dilation and groups: a plain transposed convolution")
        steps.append((s, p))
    strides = tuple(s for s, _ in steps)
    if torch.tensor(strides).prod().item() != 8:
        raise Mistake(f"your strides {' x '.join(map(str, strides))} enlarge {int(torch.tensor(strides).prod())} "
                      "times, not 8")
    bns = [m for m in layers.modules() if isinstance(m, nn.BatchNorm2d)]
    relus = [m for m in layers.modules() if isinstance(m, nn.ReLU)]
    if len(bns) != len(deconvs):
        raise Mistake(f"{name} has {len(bns)} BatchNorm layers for {len(deconvs)} transposed convolutions; "
                      f"each is followed by nn.BatchNorm2d({channels}), then nn.ReLU")
    if len(relus) != len(deconvs):
        raise Mistake(f"{name} has {len(relus)} ReLUs for {len(deconvs)} transposed convolutions; each "
                      "BatchNorm is followed by nn.ReLU: without them the two steps collapse into one linear map")
    got = {k: tuple(v.shape) for k, v in layers.state_dict().items()}
    want = _x8_names(in_channels, channels, [d.kernel_size[0] for d in deconvs])
    if got != want:
        missing, unexpected = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        raise Mistake(f"the state dict's names differ (missing: {', '.join(missing[:3]) or 'none'}; unexpected: "
                      f"{', '.join(unexpected[:3]) or 'none'}): each step is deconv, BN, ReLU in one flat "
                      "nn.Sequential, so the names are 0.weight, 1.weight, 1.bias, ..., 3.weight, 4.weight, ...")
    designs = {(8,): "one x8 step", (4, 2): "x4 then x2", (2, 4): "x2 then x4"}
    best = min(designs, key=lambda st: _x8_weights(in_channels, channels, st))
    mine, least = _x8_weights(in_channels, channels, strides), _x8_weights(in_channels, channels, best)
    if mine > least:
        why = ("one x8 step has 16 x 16 = 256 taps per pair of channels, more than two steps together"
               if strides == (8,) else "a x s step with kernel 2s holds 4s² taps per pair of channels, so the "
               "x2 step (16 taps) should be the one that reads the wider of in_channels and channels")
        raise Mistake(f"for {name} your {designs[strides]} holds {mine:,} weights, {designs[best]} only "
                      f"{least:,}: {why}")
    return steps


def _check_x8(fn) -> str:
    for in_channels, channels, h, w in _X8_CASES:
        torch.manual_seed(6)
        layers = call(fn, in_channels) if channels == 256 else call(fn, in_channels, channels)
        steps = _check_x8_structure(layers, in_channels, channels)
        randomize_bn(layers, seed=4)
        layers.eval()
        x = torch.randn(2, in_channels, h, w)  # non-square features
        with torch.no_grad():
            got = call(layers, x.clone())
            want = _x8_reference({k: v.detach().clone() for k, v in layers.state_dict().items()}, x, steps)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or want.shape[-2:] != (8 * h, 8 * w):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise Mistake(f"for 2 x {in_channels} x {h} x {w} features your layers returned {shape}, expected "
                          f"(2, {channels}, {8 * h}, {8 * w})")
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            raise Mistake(f"your layers have the right names but compute something else (up to "
                          f"{(got - want).abs().max().item():.3g} off): the order is deconv -> BN -> ReLU, per step")
    return ("h x w -> 8h x 8w, each step deconv (kernel 2 x stride, output_padding 0) -> BN -> ReLU, same outputs "
            "as torch.nn.functional from your weights, and the fewest weights: x2 first for 512 -> 64 and "
            "96 -> 32, x4 first for 128 -> 256 (the default), either for 48 -> 48.")


q2 = Exercise(
    "04.2", "eight times larger, with the fewest weights", "make_x8_deconv", _check_x8,
    refuses=("minipose.head.HeadNet",),
    hints=[
        "Count the weights of each design for in_channels=2048, channels=256 as in 04.0: a transposed "
        "convolution holds c_in x c_out x k x k, and k = 2 x stride. Which step should read the 2048 channels?",
        "Two steps beat one x8 step. Put the x2 step (k4, p1) first when in_channels > channels, else the x4 "
        "step (k8, padding from 04.1). Build the list in a loop, then nn.Sequential(*layers).",
    ],
)

q3 = Question(
    "04.3", "where the head's parameters are",
    hints=["A ConvTranspose2d(c_in, c_out, 4) has c_in * c_out * 16 weights; sum(p.numel() for p in "
           "HeadNet(18).parameters()) counts them all."],
    answer="For 18 joints and 64 depth bins: the first transposed convolution has 2048 x 256 x 4 x 4 = 8,388,608 "
           "weights, the two others 256 x 256 x 16 = 1,048,576 each, the three BatchNorms 2 x 256 each (their "
           "running statistics are buffers, not parameters), and the 1x1 final layer 256 x 1152 + 1152 = 296,064. "
           "In all 10,783,360, of which the first deconvolution holds 78 %: it is the layer that reads the backbone's "
           "2048 channels. With ResNet-18's 512 input channels it shrinks four times, to 2,097,152.",
)

q4 = Question(
    "04.4", "resize, then convolve",
    hints=["Try nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(2048, 256, 3, padding=1)) on "
           "torch.randn(1, 2048, 8, 8)."],
    answer="The shapes still match: nearest-neighbour upsampling doubles 8 -> 16, and a 3x3 convolution with "
           "padding 1 keeps the size, so three such pairs give 64 x 64 again. This 'resize-convolution' is what "
           "Odena et al. (Distill 2016) recommend against checkerboard artifacts: after the resize, every output pixel "
           "is computed the same way, with no uneven overlap. But it is not PoseNet any more: its weights are 3x3 "
           "convolutions of another shape (256 x 2048 x 3 x 3 instead of 2048 x 256 x 4 x 4), so the official "
           "checkpoints no longer load, and the paper's results no longer apply without retraining.",
)

q5 = Question(
    "04.5", "fewer depth bins",
    hints=["The final layer outputs joint_num * depth_dim channels."],
    answer="With depth_dim = 32 the final 1x1 convolution outputs 18 x 32 = 576 channels instead of 1152. The "
           "layout is the same, joint after joint, each with its 32 depth slices: "
           "heatmaps.reshape(B, 18, 32, 64, 64) gives batch x joint x depth x height x width, and soft-argmax needs "
           "depth_dim=32 to read it. Each depth bin then covers twice as much depth: the 2000 mm of "
           "cfg.bbox_3d_shape in 32 bins of 62.5 mm instead of 64 bins of 31.25 mm.",
)
