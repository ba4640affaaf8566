"""Exercises of lesson 00, the big picture (written directly, not generated).

The lesson prints the paper's settings and draws PoseNet's shapes for the paper's square 256 x 256 crop. Its
exercises ask for what it does not print: the width of one depth bin in millimetres (predicted first, from the
settings), the feature-map and heatmap sizes of a crop that is not square, and the conversion of a fractional depth
bin to millimetres. Their references live here.
"""
from __future__ import annotations

import numbers

import torch

from minipose.config import Config
from minipose.exercises import Exercise, Mistake, Prediction, Question, call

# --- 00.0: predict the width of one depth bin ---------------------------------------------------------------------

def _millimetres(answer) -> float:
    """A number (int, float, numpy or one-element tensor), or a Mistake saying what to give."""
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        answer = answer.item()
    if hasattr(answer, "item") and getattr(answer, "size", None) == 1:  # a numpy scalar
        answer = answer.item()
    if not isinstance(answer, numbers.Real) or isinstance(answer, bool):
        raise Mistake(f"give one number of millimetres, e.g. 12.5 (no unit, no text); you gave {answer!r:.40}")
    return float(answer)


def _check_bin_width(answer) -> str:
    got = _millimetres(answer)
    box, bins = 2000, 64  # Moon et al.'s main/config.py: bbox_3d_shape = (2000, 2000, 2000), depth_dim = 64
    right = box / bins
    if abs(got - right) < 1e-3:
        return (f"One bin is {box} mm / {bins} = {right} mm: the whole depth of the box, -{box // 2} .. +{box // 2} "
                "mm around the root, cut into depth_dim equal slices.")
    named = [
        (box / 2 / bins, f"that is half the box ({box // 2} mm) over {bins} bins: bbox_3d_shape[0] = {box} mm is the "
                         f"box's whole depth, which already spans -{box // 2} .. +{box // 2} mm around the root"),
        (2 * box / bins, f"62.5 mm would be a 4000 mm box, or {box} mm in 32 bins: bbox_3d_shape[0] = {box} mm is "
                         f"the whole depth (both sides of the root), cut into depth_dim = {bins} bins"),
        (box / (bins - 1), f"you divided by {bins - 1}: {bins} bins of equal width tile the box edge to edge, so "
                           f"each is {box} / {bins} mm (bin {bins - 1} starts one bin short of the far edge)"),
        (box / 16, "125 mm is the shipped toy network's bin (16 bins, in the figure above); the paper's settings, "
                   f"`cfg`, cut the same {box} mm into depth_dim = {bins} bins"),
        (right / 1000, "that is in metres: give the width in millimetres, the unit of bbox_3d_shape"),
        (float(bins), f"{bins} is how many bins there are (depth_dim), not how wide one is in millimetres"),
        (float(box), f"{box} mm is the whole box; one bin is a 1/{bins} slice of it"),
        (box / 256, f"256 is the crop's size in pixels; the depth axis has depth_dim = {bins} bins, not 256"),
    ]
    for wrong, message in named:
        if abs(got - wrong) < 1e-3 * max(1.0, abs(wrong)):
            raise Mistake(message)
    if abs(got - right) < 1:
        raise Mistake(f"close, but keep the exact value: {box} / {bins} is not a whole number of millimetres, and "
                      "soft-argmax can point anywhere between bins, so nothing rounds it")
    raise Mistake(f"{got:g} mm is not it: find the box's depth (bbox_3d_shape[0]) and the number of depth bins "
                  "(depth_dim) in `Config`, and cut the one into the other")


q0 = Prediction(
    "00.0", "predict the width of one depth bin", "bin_width_mm", _check_bin_width,
    hints=["Read two settings in `Config`: the depth of the 3D box around the root (bbox_3d_shape[0], in mm) and "
           "the number of depth bins (depth_dim).",
           "The box is bbox_3d_shape[0] mm deep in all, half in front of the root and half behind; the bins cut it "
           "into equal slices."],
)


# --- 00.1: feature-map and heatmap sizes of a crop that is not square --------------------------------------------

# (height, width) crops: non-square both ways, the paper's square crop, and a large one.
_CROPS = [(192, 256), (256, 256), (384, 288), (256, 192)]


def _network_sizes(height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(backbone feature map, heatmap) sizes that the package's network really produces for one crop.

    Traced on the meta device (shapes only, nothing computed); ResNet-18 has the same strides as ResNet-50.
    """
    from minipose.posenet import get_pose_net, shape_trace

    with torch.device("meta"):
        net = get_pose_net(Config(resnet_type=18, input_shape=(height, width)), is_train=False, joint_num=1)
        trace = dict(shape_trace(net, torch.empty(1, 3, height, width)))
    return tuple(trace["backbone layer4"][2:]), tuple(trace["head 1x1 conv"][2:])


def _pair(value) -> tuple | None:
    return tuple(value) if isinstance(value, (tuple, list)) and len(value) == 2 else None


def _check_sizes(fn) -> str:
    for height, width in _CROPS:
        feature, heatmap = _network_sizes(height, width)
        got = call(fn, height, width)
        crop = f"a {height} x {width} crop (H x W)"
        outer = _pair(got)
        if outer is None or _pair(outer[0]) is None or _pair(outer[1]) is None:
            if isinstance(got, (tuple, list)) and len(got) == 4:
                raise Mistake("return two pairs, ((feature height, feature width), (heatmap height, heatmap width)), "
                              "not four numbers in a row")
            raise Mistake(f"return a pair of pairs, ((h, w), (h, w)); for {crop} you returned {got!r:.60}")
        got = (_pair(outer[0]), _pair(outer[1]))
        values = [v for pair in got for v in pair]
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
            raise Mistake(f"every size must be a number; for {crop} you returned {got!r:.60}")
        if not all(isinstance(v, numbers.Integral) for v in values):
            if got == (feature, heatmap):
                raise Mistake(f"the values are right but some are floats ({got}): `/` always gives a float in "
                              "Python 3; sizes are ints, use `//`")
            got = tuple(tuple(float(v) for v in pair) for pair in got)
        if got == (feature, heatmap):
            continue

        def scaled(factor):
            return (height // factor, width // factor)

        if got == (heatmap, feature):
            raise Mistake("you returned the heatmap size first; the order is (backbone feature map, heatmap)")
        if height != width and (got[0] == feature[::-1] or got[1] == heatmap[::-1]):
            raise Mistake(f"for {crop} you returned (width, height) pairs {got}: sizes in minipose (and in the "
                          "official code's input_shape and output_shape) are (height, width), like the H x W of a "
                          "tensor")
        if height != width and got == (scaled(32)[:1] * 2, scaled(4)[:1] * 2):
            raise Mistake(f"for {crop} both sides of your sizes come from the height: a crop need not be square, use "
                          "crop_width for the widths")
        if got[0] == feature and got[1] == scaled(8):
            raise Mistake("the heatmap is 1/4 of the crop, not 1/8: the head's three deconvolutions each double the "
                          "backbone's 1/32 (8 x up), so 32 / 8 = 4")
        if got[0] == feature and got[1] == feature:
            raise Mistake("your heatmap has the backbone's size: the head's three deconvolutions upsample it 8 times "
                          "(each doubles it) before the 1x1 convolution")
        if got[0] == scaled(16):
            raise Mistake("the backbone divides by 32, not 16: the stem's stride-2 convolution, the max-pool and "
                          "layer2, layer3, layer4 each halve the size (2^5 = 32); 1/16 is only layer3's output")
        if got[0] == feature:
            raise Mistake(f"the backbone size is right but for {crop} your heatmap size {got[1]} is not: the head "
                          "doubles the backbone's size three times")
        raise Mistake(f"for {crop} you returned {got}: the backbone halves the size five times (stem conv, max-pool, "
                      "layer2, layer3, layer4), then the head doubles it three times")
    return ("Matches the sizes the network itself produces (traced on the meta device) for 192 x 256, 256 x 256, "
            "384 x 288 and 256 x 192 crops.")


q1 = Exercise(
    "00.1", "feature-map and heatmap sizes", "feature_and_heatmap_size", _check_sizes,
    refuses=("minipose.backbone.ResNetBackbone", "minipose.head.HeadNet", "minipose.config.Config"),
    hints=[
        "Count the stride-2 steps of the backbone in the shape table: stem, max-pool, layer2, layer3, layer4. Then "
        "count the head's doublings.",
        "The backbone divides height and width by 2^5 = 32; the head multiplies by 2^3 = 8. Sizes are (height, width) "
        "and ints: use //.",
    ],
)


# --- 00.2: from a depth bin to millimetres ----------------------------------------------------------------------

def _reference_mm(z: torch.Tensor) -> torch.Tensor:
    config = Config()  # the paper's settings, read here rather than typed again
    return (z / config.depth_dim * 2 - 1) * (config.bbox_3d_shape[0] / 2)


def _mm_variants(z: torch.Tensor) -> dict[str, torch.Tensor]:
    """What realistic wrong conversions give (message -> millimetres), from the same Config."""
    config = Config()
    depth, box = config.depth_dim, config.bbox_3d_shape[0]
    return {
        f"your depths are not centred on the root: bin {depth // 2} (the middle of the box) must be 0 mm and bin 0 "
        f"-{box // 2} mm. Scale the bin to 0 .. 2, subtract 1, then multiply by half the box":
            z / depth * box,
        f"you divided by depth_dim - 1 = {depth - 1}; the official code divides by depth_dim = {depth} (bin b covers "
        f"b / depth_dim of the box, so bin {depth - 1} is one bin short of the far edge)":
            (z / (depth - 1) * 2 - 1) * (box / 2),
        f"twice too large: bbox_3d_shape[0] = {box} mm is the whole depth of the box, which spans -{box // 2} .. "
        f"+{box // 2} mm around the root, so multiply by bbox_3d_shape[0] / 2":
            (z / depth * 2 - 1) * box,
        "the sign is flipped: a larger bin is farther from the camera, so it must give a larger (more positive) depth":
            (1 - z / depth * 2) * (box / 2),
        f"your centre is bin {(depth - 1) / 2} (half a bin off, {box / depth / 2} mm): the official code puts 0 mm "
        f"at bin depth_dim / 2 = {depth // 2}":
            (z - (depth - 1) / 2) * (box / depth),
    }


def _check_bin_to_mm(fn) -> str:
    config = Config()
    scalars = [0, 32, 63.0, 12.5, 47.75]
    batch = torch.tensor([[0.0, 31.5, 63.0], [16.25, 32.0, 7.0]])  # B x J depth bins, as soft-argmax gives
    got = []
    for z in scalars:
        out = call(fn, z)
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            out = out.item()
        if not isinstance(out, numbers.Real) or isinstance(out, bool):
            raise Mistake(f"for the number {z!r} return a number of millimetres; you returned {type(out).__name__} "
                          f"{out!r:.40}")
        got.append(float(out))
    given = batch.clone()
    out = call(fn, given)
    if not torch.equal(given, batch):
        raise Mistake("your function changed its input tensor in place (`z_bin -= ...`, `z_bin /= ...`); the caller's "
                      "soft-argmax output must stay as it was: compute a new value instead")
    if not isinstance(out, torch.Tensor):
        raise Mistake("for a tensor of bins return a tensor of the same shape (use plain arithmetic, not math.* or "
                      f"float()); you returned {type(out).__name__}")
    if tuple(out.shape) != tuple(batch.shape):
        raise Mistake(f"for a {tuple(batch.shape)} tensor of bins you returned shape {tuple(out.shape)}: convert "
                      "every element, keep the shape")
    z = torch.tensor(scalars + batch.flatten().tolist(), dtype=torch.float64)
    mm = torch.tensor(got + out.detach().double().cpu().flatten().tolist(), dtype=torch.float64)
    right = _reference_mm(z)
    if torch.allclose(mm, right, atol=1e-3, rtol=0):
        return (f"bin 0 -> {right[0]:g} mm, bin 32 -> {right[1]:g} mm, bin 63 -> {right[2]:g} mm, fractional bins and "
                "a B x J tensor agree with the official conversion.")
    for message, wrong in _mm_variants(z).items():
        if torch.allclose(mm, wrong, atol=1e-3, rtol=0):
            raise Mistake(message)
    for how, snapped in [("rounded", z.round()), ("floored", z.floor())]:
        if torch.allclose(mm, _reference_mm(snapped), atol=1e-3, rtol=0):
            raise Mistake(f"you {how} the bin: soft-argmax gives fractional bins (12.5 is half-way between two bins), "
                          "and their millimetres must keep that precision")
    half = config.bbox_3d_shape[0] / 2
    raise Mistake(f"your conversion gives bin 0 -> {mm[0]:g} mm, bin 32 -> {mm[1]:g} mm, bin 63 -> {mm[2]:g} mm; the "
                  f"bins 0 .. {config.depth_dim} must stretch evenly over -{half:g} .. +{half:g} mm")


q2 = Exercise(
    "00.2", "from a depth bin to millimetres", "bin_to_mm", _check_bin_to_mm,
    refuses=("minipose.infer.bins_to_mm",),
    hints=[
        "z_bin / depth_dim is a fraction of the box (0 .. 1). Map it to -1 .. 1, then to millimetres.",
        "Read the sizes from the config (cfg.depth_dim, cfg.bbox_3d_shape[0]); the box spans half its depth on each "
        "side of the root.",
    ],
)

q3 = Question(
    "00.3", "why RootNet?",
    hints=["Take a crop of a person and resize it to 256 x 256. What does the crop no longer tell you?"],
    answer="PoseNet sees a crop resized to 256 x 256: a child near the camera and an adult far away can give nearly "
           "the same crop. From it, PoseNet can tell each joint's depth relative to the pelvis (the pose's shape), "
           "but not how far the pelvis itself is from the camera, because the crop's scale has been normalised away. "
           "RootNet estimates that absolute root depth from the crop together with the size of the box in the whole "
           "image and the camera's focal length. PoseNet's root-relative depths plus RootNet's root give camera-space "
           "millimetres, which is what lets the method place several people in one 3D scene.",
)

q4 = Question(
    "00.4", "half the depth bins",
    hints=["One bin is bbox_3d_shape[0] / depth_dim millimetres. Soft-argmax returns an average of bin indices."],
    answer="With depth_dim = 32 one bin is 2000 / 32 = 62.5 mm instead of 31.25 mm. Accuracy need not fall by the "
           "same factor, because soft-argmax is an expectation and points between bins. But the heatmap along depth "
           "is coarser, so a peaked distribution has fewer cells to put its mass on, and the quantisation of the "
           "targets and of the head's representation gets worse; in exchange the head's output (J x depth_dim x 64 "
           "x 64 values) halves in memory. The official code uses 64 bins (depth_dim in main/config.py).",
)

q5 = Question(
    "00.5", "the far edge of the box",
    hints=["Soft-argmax is an average of the bin indices 0 .. 63. What is the largest value it can return?",
           "Look at how the official data/dataset.py sets joint_vis from the normalised depth."],
    answer="Soft-argmax is a weighted average of the indices 0 .. 63, so it returns a bin in 0 .. 63, which is "
           "-1000 .. 968.75 mm: PoseNet cannot say 990 mm behind the root, only approach 968.75 mm. In practice a "
           "joint is rarely 1 m deeper than the pelvis. The official training code (data/dataset.py) normalises each "
           "joint's depth to 0 .. 1 and sets joint_vis to 0 for any joint outside [0, 1) (and outside the crop), so "
           "such joints are simply left out of the loss rather than taught as wrong targets.",
)
