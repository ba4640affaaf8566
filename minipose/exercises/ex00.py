"""Exercises of lesson 00, the big picture (written directly, not generated).

The lesson prints the paper's settings, draws PoseNet's shapes for the paper's square 256 x 256 crop and turns
depth bins into millimetres. Its exercises ask for what it does not print: the depth bin of the root itself
(predicted first, by reading that conversion backwards), the map walked backwards (the crop that gives a chosen heatmap
size, or None when none can), and the way from millimetres to a depth bin with the official test of whether a joint
is inside the box. Their references live here.
"""
from __future__ import annotations

import numbers

import torch
from numpy import bool_ as np_bool

from minipose.config import Config
from minipose.exercises import Exercise, Mistake, Prediction, Question, call, named_slip, read_number

# --- 00.0: predict the root's depth bin ------------------------------------------------------------------------------

def _check_root_bin(answer) -> str:
    got = read_number(answer, "depth bins", "12.5")
    box, bins = 2000, 64  # Moon et al.'s main/config.py: bbox_3d_shape = (2000, 2000, 2000), depth_dim = 64
    right = bins / 2  # 0 mm is half the box from its near edge: (0 / (box / 2) + 1) / 2 * bins
    if abs(got - right) < 1e-3:
        return (f"z = {right:g}: bins are counted from the box's near edge ({-box // 2} mm, z = 0) to its far edge "
                f"(+{box // 2} mm, z = {bins}), so the root, half the box in, is at {bins} / 2, the boundary between "
                f"bin {bins // 2 - 1} and bin {bins // 2}.")
    named_slip(got, [
        ((bins - 1) / 2, f"{(bins - 1) / 2:g} is the middle of the indices 0 .. {bins - 1}, but z measures the box "
                         f"from its near edge in bin widths: z = 0 at -{box // 2} mm and z = {bins} at +{box // 2} "
                         "mm (the figure's bins -> mm conversion, read backwards)"),
        (0.0, "z is not measured from the root: it counts bins from the box's near edge, the side nearest the "
              "camera, so the root is half the box in"),
        (float(bins), f"{bins} is the box's far edge ({box // 2} mm behind the root), not its middle"),
        (float(bins - 1), f"bin {bins - 1} is the last bin, at the far edge; the root is in the middle of the box"),
        (float(bins // 2 - 1), f"one bin short: the root is exactly half the box in, {box // 2} mm / "
                               f"{box / bins:g} mm = {bins // 2} bin widths from the near edge"),
        (float(bins // 2 + 1), "one bin too far: the root is exactly half the box in"),
        (float(box // 2), f"{box // 2} is in millimetres (half the box); z counts bins"),
        (8.0, "8 is the root's z for the shipped network's 16 bins; the paper's settings, `cfg`, have 64"),
    ], rel=0, abs_tol=1e-3)
    raise Mistake(f"{got:g} is not it: z counts bin widths ({box / bins:g} mm) from the box's near edge, and the "
                  "box is centred on the root")


q0 = Prediction(
    "00.0", "predict the root's depth bin", "root_bin", _check_root_bin,
    hints=["The figure turned z into millimetres with (z / depth_dim * 2 - 1) * half the box. Which z gives 0 mm?",
           "z = 0 is the near edge (-1000 mm), z = depth_dim the far edge (+1000 mm)."],
)


# --- 00.1: the crop that gives a heatmap of a chosen size --------------------------------------------------------

# Heatmap sizes (cells high, cells wide) asked for: the paper's, non-square both ways, small and large, and sizes no
# crop can give (a side that is not a multiple of 8 cells).
_HEATMAPS = [(64, 64), (64, 48), (48, 64), (16, 16), (96, 72), (8, 8), (60, 64), (64, 50), (4, 4), (36, 36)]


def _network_sizes(height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(backbone feature map, heatmap) sizes that the package's network really produces for one crop.

    Traced on the meta device (shapes only, nothing computed); ResNet-18 has the same strides as ResNet-50.
    """
    from minipose.posenet import get_pose_net, shape_trace

    with torch.device("meta"):
        net = get_pose_net(Config(resnet_type=18, input_shape=(height, width)), is_train=False, joint_num=1)
        trace = dict(shape_trace(net, torch.empty(1, 3, height, width)))
    return tuple(trace["backbone layer4"][2:]), tuple(trace["head 1x1 conv"][2:])


def _expected_crop(cells_h: int, cells_w: int):
    """((crop h, crop w), (feature h, feature w)) for a heatmap size, or None when no crop gives it.

    The backbone takes crops whose sides are multiples of 32 (lesson 03 refuses others) and the heatmap is its
    output doubled three times, so a heatmap side must be 8 x (a whole feature side). The sizes are then confirmed
    on the real network, traced.
    """
    if cells_h % 8 or cells_w % 8:
        return None
    crop = (cells_h * 4, cells_w * 4)
    feature, heatmap = _network_sizes(*crop)
    assert heatmap == (cells_h, cells_w), (crop, heatmap)  # the network itself agrees
    return crop, feature


def _pair(value) -> tuple | None:
    return tuple(value) if isinstance(value, (tuple, list)) and len(value) == 2 else None


def _check_crop(fn) -> str:
    for cells_h, cells_w in _HEATMAPS:
        want = _expected_crop(cells_h, cells_w)
        got = call(fn, cells_h, cells_w)
        asked = f"a {cells_h} x {cells_w} heatmap (H x W)"
        if want is None:
            if got is None:
                continue
            crop = _pair(got[0]) if _pair(got) else None
            side = next((s for s in (crop or ()) if isinstance(s, numbers.Real) and s % 32), None)
            if side is not None:
                raise Mistake(f"for {asked} you returned a crop side of {side:g} pixels, which the backbone cannot "
                              "take: it halves the crop five times (32), so every side must be a multiple of 32, "
                              "and then a heatmap side is a multiple of 8 cells. Return None when no crop can give "
                              "the heatmap")
            raise Mistake(f"no crop gives {asked}: the heatmap is the backbone's output doubled three times, so each "
                          f"side must be a multiple of 8 cells; return None for it (you returned {got!r:.60})")
        if got is None:
            raise Mistake(f"{asked} has a crop: {want[0][0]} x {want[0][1]} pixels. None is only for a heatmap side "
                          "that is not a multiple of 8")
        outer = _pair(got)
        if outer is None or _pair(outer[0]) is None or _pair(outer[1]) is None:
            if isinstance(got, (tuple, list)) and len(got) == 4:
                raise Mistake("return two pairs, ((crop height, crop width), (feature height, feature width)), not "
                              "four numbers in a row")
            raise Mistake(f"return a pair of pairs, ((h, w), (h, w)), or None; for {asked} you returned {got!r:.60}")
        got = (_pair(outer[0]), _pair(outer[1]))
        values = [v for pair in got for v in pair]
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
            raise Mistake(f"every size must be a number; for {asked} you returned {got!r:.60}")
        if not all(isinstance(v, numbers.Integral) for v in values):
            if got == want:
                raise Mistake(f"the values are right but some are floats ({got}): `/` always gives a float in "
                              "Python 3; sizes are ints, use `//` (or `*` on ints)")
            got = tuple(tuple(float(v) for v in pair) for pair in got)
        if got == want:
            continue
        (crop_h, crop_w), (feat_h, feat_w) = want
        if got == (want[1], want[0]):
            raise Mistake("you returned the feature map first; the order is (crop, backbone feature map)")
        if cells_h != cells_w and (got[0] == want[0][::-1] or got[1] == want[1][::-1]):
            raise Mistake(f"for {asked} you returned (width, height) pairs {got}: sizes in minipose (and in the "
                          "official code's input_shape) are (height, width), like the H x W of a tensor")
        if got[0] == (cells_h * 8, cells_w * 8):
            raise Mistake(f"a {cells_h * 8} x {cells_w * 8} crop gives a heatmap twice too large: the heatmap is a "
                          "quarter of the crop (the backbone divides by 32, the head multiplies by 8: 32 / 8 = 4)")
        if got[0] == (cells_h * 32, cells_w * 32):
            raise Mistake("the crop is 4 times the heatmap, not 32 times: 32 is the backbone's own factor, but the "
                          "head doubles its output three times back")
        if got[0] == want[0] and got[1] == (cells_h // 4, cells_w // 4):
            raise Mistake(f"the crop is right, but the backbone's output is 1/32 of the crop ({feat_h} x {feat_w} "
                          "here), which is 1/8 of the heatmap, not 1/4 of it")
        if got[0] == want[0]:
            raise Mistake(f"the crop is right but for {asked} your feature map {got[1]} is not: the head doubles "
                          "the backbone's output three times to make the heatmap")
        raise Mistake(f"for {asked} you returned {got}: the backbone halves the crop five times (stem conv, "
                      "max-pool, layer2, layer3, layer4), then the head doubles it three times")
    return ("Matches the real network, traced on the meta device, for ten heatmap sizes: square and not, and "
            "60 x 64, 64 x 50, 4 x 4 and 36 x 36, which no crop gives.")


q1 = Exercise(
    "00.1", "the crop for a heatmap size", "crop_for_heatmap", _check_crop,
    refuses=("minipose.backbone.ResNetBackbone", "minipose.head.HeadNet", "minipose.config.Config",
             "minipose.posenet.get_pose_net", "minipose.posenet.shape_trace"),
    hints=[
        "Walk the map backwards: the heatmap is the backbone's output doubled three times, and the backbone's "
        "output is the crop halved five times.",
        "So the crop is 4 x the heatmap, and the feature map 1/8 of the heatmap, which must come out whole: a "
        "heatmap side that is not a multiple of 8 has no crop. Sizes are (height, width) ints.",
    ],
)


# --- 00.2: from millimetres to a depth bin, and whether the joint is in the box ---------------------------------

def _reference_bin(z_mm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The official data/dataset.py, written another way: fraction of the box from its near edge, times the bins."""
    config = Config()  # the paper's settings, read here rather than typed again
    near = -config.bbox_3d_shape[0] / 2  # the box's near edge, in mm from the root
    fraction = (z_mm - near) / config.bbox_3d_shape[0]
    inside = (fraction >= 0) & (fraction < 1)  # the official joint_vis test on the normalised depth
    return fraction * config.depth_dim, inside


def _bin_variants(z: torch.Tensor) -> dict[str, torch.Tensor]:
    """What realistic wrong conversions give (message -> bins), from the same Config."""
    config = Config()
    depth, box = config.depth_dim, config.bbox_3d_shape[0]
    return {
        f"your bins are not centred on the root: 0 mm (the root) must be bin {depth // 2}, the middle of the box, "
        f"and -{box // 2} mm bin 0. Add half the box before dividing":
            z / box * depth,
        f"you multiplied by depth_dim - 1 = {depth - 1}; the official code multiplies by depth_dim = {depth}, so "
        f"that +{box // 2} mm lands on bin {depth}, one past the last":
            (z / (box / 2) + 1) / 2 * (depth - 1),
        f"half as many bins as it should be around the root: the box is {box} mm deep in all, -{box // 2} .. "
        f"+{box // 2} mm, so divide by half of it to reach -1 .. 1":
            (z / box + 1) / 2 * depth,
        "the sign is flipped: a joint farther from the camera than the root (positive mm) must get a larger bin":
            (1 - z / (box / 2)) / 2 * depth,
        f"your root is at bin {(depth - 1) / 2} (half a bin off): the official code puts 0 mm at bin depth_dim / 2 "
        f"= {depth // 2}":
            z / box * depth + (depth - 1) / 2,
    }


def _as_flag(value) -> bool | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype == torch.bool:
        return bool(value)
    if isinstance(value, (bool, np_bool)):
        return bool(value)
    return None


def _check_mm_to_bin(fn) -> str:
    config = Config()
    depth, half = config.depth_dim, config.bbox_3d_shape[0] / 2
    scalars = [0.0, -1000.0, 250, -250.0, 999.9, 1000.0, -1000.5, 1200.0, 12.5]
    batch = torch.tensor([[-400.0, 0.0, 1000.0], [31.25, -1000.0, 640.0]])  # B x J depths in mm
    bins, flags = [], []
    for z in scalars:
        out = call(fn, z)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise Mistake(f"return a pair (bin, inside); for {z!r} mm you returned {out!r:.60}")
        value, flag = out
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise Mistake(f"for the number {z!r} return the bin as a number; you returned {value!r:.40}")
        if _as_flag(flag) is None:
            raise Mistake(f"`inside` must be True or False (a bool); for {z!r} mm you returned {flag!r:.40}")
        bins.append(float(value))
        flags.append(_as_flag(flag))
    given = batch.clone()
    out = call(fn, given)
    if not torch.equal(given, batch):
        raise Mistake("your function changed its input tensor in place (`z_mm += ...`, `z_mm /= ...`); the caller's "
                      "depths must stay as they were: compute a new value instead")
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        raise Mistake("for a tensor of depths return a pair of tensors (bins, inside) of its shape; use tensor "
                      f"arithmetic and comparisons, not math.* or float(); you returned {type(out).__name__}")
    if tuple(out[0].shape) != tuple(batch.shape) or tuple(out[1].shape) != tuple(batch.shape):
        raise Mistake(f"for a {tuple(batch.shape)} tensor of depths you returned shapes {tuple(out[0].shape)} and "
                      f"{tuple(out[1].shape)}: convert every element, keep the shape")
    if out[1].dtype != torch.bool:
        raise Mistake(f"`inside` for a tensor must be a bool tensor (a comparison gives one); yours is {out[1].dtype}")
    z = torch.tensor(scalars + batch.flatten().tolist(), dtype=torch.float64)
    got = torch.tensor(bins + out[0].detach().double().cpu().flatten().tolist(), dtype=torch.float64)
    got_in = torch.tensor(flags + out[1].cpu().flatten().tolist())
    right, right_in = _reference_bin(z)
    if not torch.allclose(got, right, atol=1e-4, rtol=0):
        for message, wrong in _bin_variants(z).items():
            if torch.allclose(got, wrong, atol=1e-4, rtol=0):
                raise Mistake(message)
        for how, snapped in [("rounded", right.round()), ("floored", right.floor())]:
            if torch.allclose(got, snapped, atol=1e-4, rtol=0):
                raise Mistake(f"you {how} the bin: the target keeps its fraction (12.5 mm is bin 32.4), so that "
                              "soft-argmax, an average, is taught to point between bins")
        raise Mistake(f"your bins are -1000 mm -> {got[1]:g}, 0 mm -> {got[0]:g}, 250 mm -> {got[2]:g}; the box's "
                      f"-{half:g} .. +{half:g} mm must stretch evenly over bins 0 .. {depth}")
    if not torch.equal(got_in, right_in):
        wrong_at = [f"{v:g} mm" for v, a, b in zip(z.tolist(), got_in.tolist(), right_in.tolist()) if a != b]
        if torch.equal(got_in, (right >= 0) & (right <= depth)):
            raise Mistake(f"+{half:g} mm is bin {depth}, one past the last bin ({depth - 1}, which covers "
                          f"{half - 2 * half / depth:g} .. {half:g} mm): the official test is bin < depth_dim")
        if torch.equal(got_in, (right > 0) & (right < depth)):
            raise Mistake(f"-{half:g} mm is bin 0, the first bin, and inside the box: the official test is "
                          "bin >= 0")
        if torch.equal(got_in, (right.round() >= 0) & (right.round() < depth)):
            raise Mistake(f"you rounded before testing: {z[4]:g} mm is bin {right[4]:.4f}, inside the box, but "
                          f"rounds to {depth}")
        raise Mistake(f"`inside` is wrong for {', '.join(wrong_at)}: a joint is in the box when its bin is in "
                      f"0 .. {depth} (0 included, {depth} not)")
    return (f"-1000 mm -> bin 0, 0 mm -> bin {depth // 2}, 250 mm -> bin {right[2]:g}, 999.9 mm -> bin "
            f"{right[4]:.4f}; +1000 mm and beyond left out, as the official targets do; a B x J tensor agrees too.")


q2 = Exercise(
    "00.2", "from millimetres to a depth bin", "mm_to_bin", _check_mm_to_bin,
    refuses=("minipose.data.joints_to_target", "minipose.infer.bins_to_mm"),
    hints=[
        "Undo the lesson's bins -> mm in reverse order: mm / half the box gives -1 .. 1; +1 and / 2 give 0 .. 1; "
        "times depth_dim gives bins.",
        "A joint is in the box when 0 <= bin < depth_dim. For a tensor, `(b >= 0) & (b < depth)` compares every "
        "element at once.",
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
