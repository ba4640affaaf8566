"""Exercises of lesson 04, the deconvolution head (written directly, not generated)."""
from __future__ import annotations


import torch
from torch import nn

from minipose.checks import randomize_bn
from minipose.exercises import Exercise, Mistake, Question, call, describe_load_error
from minipose.head import HeadNet

# size, kernel_size, stride, padding, output_padding: the head's k4/s2/p1 three times (8 -> 16 -> 32 -> 64),
# then other settings, so that a formula right only for the head shows
_DECONV_CASES = [(8, 4, 2, 1, 0), (16, 4, 2, 1, 0), (32, 4, 2, 1, 0), (7, 3, 2, 1, 1), (5, 3, 1, 1, 0),
                 (4, 3, 2, 0, 0), (10, 5, 3, 2, 2), (6, 2, 2, 0, 0), (9, 7, 4, 3, 1)]


def _transposed_size(size: int, kernel_size: int, stride: int, padding: int, output_padding: int) -> int:
    """What nn.ConvTranspose2d really outputs, measured on a tensor (the formula is what the student writes)."""
    layer = nn.ConvTranspose2d(1, 1, kernel_size, stride, padding, output_padding, bias=False)
    with torch.no_grad():
        return layer(torch.zeros(1, 1, size, size)).shape[-1]


def _check_deconv_output_size(fn) -> str:
    answers = {}
    for case in _DECONV_CASES:
        size, k, s, p, op = case
        got = call(fn, *case) if op else call(fn, size, k, s, p)  # output_padding's default must be 0
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise Mistake(f"return a number; for size={size}, kernel_size={k}, stride={s}, padding={p} you returned "
                          f"{type(got).__name__} {got!r:.40}")
        answers[case] = got
    truth = {case: _transposed_size(*case) for case in _DECONV_CASES}
    if answers == truth:
        if any(isinstance(v, float) for v in answers.values()):
            raise Mistake("the sizes are right but floats (e.g. 16.0); a size is a whole number: avoid `/`")
        return ("Matches nn.ConvTranspose2d for the head's k4/s2/p1 (8 -> 16 -> 32 -> 64) and six other settings, "
                "output_padding included.")
    cases = list(_DECONV_CASES)

    def formula(f):
        return all(answers[c] == f(*c) for c in cases)

    if formula(lambda n, k, s, p, op: (n + 2 * p - k) // s + 1):
        raise Mistake("that is the output size of an ordinary convolution, (size + 2 * padding - kernel_size) // "
                      "stride + 1 (8 -> 4 for the head); a transposed convolution goes the other way: 4 -> 8")
    if formula(lambda n, k, s, p, op: (n - 1) * s + k + op):
        raise Mistake("too large by 2 * padding: padding crops `padding` pixels from each side of a transposed "
                      "convolution's output, so subtract 2 * padding")
    if formula(lambda n, k, s, p, op: (n - 1) * s - p + k + op):
        raise Mistake("padding counts on both sides: subtract 2 * padding, not padding")
    if formula(lambda n, k, s, p, op: (n - 1) * s - 2 * p + k):
        raise Mistake("output_padding is missing: it adds that many rows (and columns) to one side of the output, "
                      "so add + output_padding")
    if formula(lambda n, k, s, p, op: (n - 1) * s - 2 * p + (k - 1) + op):
        raise Mistake("one too small: the kernel adds dilation * (kernel_size - 1) + 1 pixels, which is kernel_size "
                      "for the default dilation of 1")
    if formula(lambda n, k, s, p, op: n * s):
        raise Mistake("size * stride is right for the head's kernel 4, stride 2, padding 1 only; write the general "
                      "formula with kernel_size, padding and output_padding")
    case = next(c for c in cases if answers[c] != truth[c])
    raise Mistake(f"for size={case[0]}, kernel_size={case[1]}, stride={case[2]}, padding={case[3]}, "
                  f"output_padding={case[4]} you returned {answers[case]}; nn.ConvTranspose2d gives {truth[case]}")


q1 = Exercise(
    "04.1", "the size after a transposed convolution", "deconv_output_size", _check_deconv_output_size,
    refuses=("minipose.head.HeadNet",),
    hints=[
        "Each input pixel paints a kernel_size-wide stamp, stride pixels after the previous one: "
        "(size - 1) * stride + kernel_size pixels before any cropping.",
        "padding crops that many pixels from both sides; output_padding adds that many to one side.",
    ],
)

# in_channels, num_layers, feature height, width: ResNet-50's 2048 channels, ResNet-18's 512, non-square maps
_HEAD_CASES = [(2048, 3, 4, 3), (512, 3, 3, 5), (512, 2, 4, 6)]


def _reference_deconv(in_channels: int, num_layers: int) -> nn.Sequential:
    head = HeadNet(joint_num=1, in_channels=in_channels)
    if num_layers != 3:
        head.inplanes = in_channels
        head.deconv_layers = head._make_deconv_layer(num_layers)
    return head.deconv_layers


def _check_deconv_structure(layers, in_channels: int, num_layers: int) -> None:
    name = f"make_deconv_layers({in_channels}, num_layers={num_layers})"
    if isinstance(layers, (list, tuple, nn.ModuleList)):
        raise Mistake(f"you returned a {type(layers).__name__}; return nn.Sequential(*layers) so it can run and "
                      "its names are 0, 1, 2, ...")
    if not isinstance(layers, nn.Sequential):
        raise Mistake(f"return an nn.Sequential; you returned {type(layers).__name__} {layers!r:.40}")
    deconvs = [m for m in layers.modules() if isinstance(m, nn.ConvTranspose2d)]
    if len(deconvs) != num_layers:
        raise Mistake(f"{name} has {len(deconvs)} transposed convolutions; it needs num_layers = {num_layers}, each "
                      "followed by BatchNorm and ReLU")
    first = deconvs[0]
    if first.in_channels != in_channels:
        extra = " (hard-coded, like the official head, which only fits ResNet-50/101/152)" \
            if first.in_channels == 2048 else ""
        raise Mistake(f"for {name} your first transposed convolution takes {first.in_channels} channels{extra}; it "
                      f"must take in_channels = {in_channels}, the backbone's width (512 for ResNet-18/34)")
    for i, d in enumerate(deconvs):
        if d.out_channels != 256:
            raise Mistake(f"your transposed convolutions output {d.out_channels} channels; the head uses 256 "
                          "(self.outplanes) for all three")
        if i and d.in_channels != 256:
            raise Mistake(f"transposed convolution {i} of {name} takes {d.in_channels} channels; after the first "
                          "one the width is 256, so the later ones take 256")
        if tuple(d.kernel_size) != (4, 4):
            k, change = d.kernel_size[0], d.kernel_size[0] - 4 + d.output_padding[0]
            if change:
                sign = f"{'+' if change > 0 else '-'} {abs(change)}"
                raise Mistake(f"your transposed convolutions have kernel_size {k}: with stride 2 and padding 1 an "
                              f"h x w map becomes (2h {sign}) x (2w {sign}), not 2h x 2w. Use kernel_size=4, "
                              "which doubles exactly")
            raise Mistake(f"kernel_size {k} with output_padding {d.output_padding[0]} doubles the size too, but the "
                          "head's (and the official checkpoints') kernels are 4 x 4 with output_padding 0")
        if (tuple(d.stride), tuple(d.padding), tuple(d.output_padding)) != ((2, 2), (1, 1), (0, 0)):
            raise Mistake(f"your transposed convolutions have stride {d.stride}, padding {d.padding}, output_padding "
                          f"{d.output_padding}; the head's are 2, 1 and 0, which exactly double the size")
        if d.bias is not None:
            raise Mistake("your transposed convolutions have a bias: use bias=False, since BatchNorm follows (and "
                          "the official checkpoints have no deconv bias)")
    bns = [m for m in layers.modules() if isinstance(m, nn.BatchNorm2d)]
    relus = [m for m in layers.modules() if isinstance(m, nn.ReLU)]
    if len(bns) != num_layers:
        raise Mistake(f"{name} has {len(bns)} BatchNorm layers; each transposed convolution is followed by "
                      "nn.BatchNorm2d(256), then nn.ReLU")
    if len(relus) != num_layers:
        raise Mistake(f"{name} has {len(relus)} ReLUs; each BatchNorm is followed by nn.ReLU(inplace=True): without "
                      "them the three layers collapse into one linear map")


def _check_make_deconv_layers(fn) -> str:
    for in_channels, num_layers, h, w in _HEAD_CASES:
        torch.manual_seed(6)
        layers = call(fn, in_channels) if num_layers == 3 else call(fn, in_channels, num_layers)
        _check_deconv_structure(layers, in_channels, num_layers)
        reference = _reference_deconv(in_channels, num_layers)
        randomize_bn(reference)
        try:
            layers.load_state_dict(reference.state_dict(), strict=True)
        except Exception as err:  # noqa: BLE001 - reported as a naming problem
            raise Mistake(f"HeadNet's deconv_layers state dict does not load into yours (strict): "
                          f"{describe_load_error(err)}. The order is deconv, BN, ReLU per layer, so the weights are named "
                          "0.weight, 1.weight, 1.bias, ..., 3.weight, 4.weight, ...") from None
        x = torch.randn(2, in_channels, h, w)  # non-square features
        layers.eval(), reference.eval()
        with torch.no_grad():
            got, want = call(layers, x.clone()), reference(x)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise Mistake(f"for 2 x {in_channels} x {h} x {w} features your layers returned {shape}, expected "
                          f"{tuple(want.shape)}")
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            raise Mistake(f"your layers load HeadNet's weights but compute something else (up to "
                          f"{(got - want).abs().max().item():.3g} off): the order is deconv -> BN -> ReLU")
    return ("Same names and outputs as HeadNet's deconv_layers for ResNet-50's 2048 and ResNet-18's 512 channels, "
            "on non-square features (4 x 3 -> 32 x 24), and for two layers.")


q2 = Exercise(
    "04.2", "the three deconvolution layers", "make_deconv_layers", _check_make_deconv_layers,
    refuses=("minipose.head.HeadNet",),
    hints=[
        "Loop num_layers times: append nn.ConvTranspose2d(channels, 256, kernel_size=4, stride=2, padding=1, "
        "output_padding=0, bias=False), nn.BatchNorm2d(256), nn.ReLU(inplace=True).",
        "channels starts at in_channels and becomes 256 after the first layer; return nn.Sequential(*layers).",
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
