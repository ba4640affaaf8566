"""Exercises of lesson 09, boxes, crops and targets (written directly, not generated).

The lesson builds the official box (`process_bbox`, centred on the annotated box), the crop's affine, and the
targets (`joints_to_target`, through that affine, with depths already measured from the root). Its exercises ask
for what it does not print: the depth bin of a joint 250 mm in front of the pelvis (predicted first), a crop box
centred on the root joint, and the way back from a target to the picture and to millimetres for a crop that was
turned, non-square ones included. The references live here, written out, not taken from minipose.data.
"""
from __future__ import annotations

import math

import numpy as np

from minipose.config import Config
from minipose.exercises import Exercise, Mistake, Prediction, Question, call, named_slip, read_number
from minipose.skeleton import JOINTS_NAME


def _fmt(values) -> str:
    return "[" + ", ".join(f"{float(v):.1f}" for v in values) + "]"


def _as_array(value, what: str) -> np.ndarray:
    """The student's result as a float64 numpy array, or a Mistake saying what it was instead."""
    if value is None:
        raise Mistake(f"{what} is None: return a numpy array")
    try:
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        return np.array(value, dtype=np.float64)
    except Exception:  # noqa: BLE001 - anything that is not a list of numbers, explained below
        raise Mistake(f"{what} is a {type(value).__name__}, not an array of numbers ({value!r:.40})") from None


# --- 09.0: predict a joint's depth bin ----------------------------------------------------------------------------

def _check_depth_bin(answer) -> str:
    got = read_number(answer, "depth bins", "40.5")
    half, bins, z = 1000.0, 64, -250.0  # half the 2 m box; 64 bins; 250 mm nearer the camera than the root
    want = (z / half + 1.0) / 2.0 * bins
    if math.isclose(got, want, abs_tol=0.05):
        return "bin 24: (-250 / 1000 + 1) / 2 * 64, that is 8 bins of 31.25 mm in front of the root's 32."
    named_slip(got, [
        ((-z / half + 1.0) / 2.0 * bins, "that bin is 250 mm *behind* the root: in front means nearer the camera, "
                                         "a smaller depth, so Z - Z_root = -250 mm and a bin below 32"),
        (-z / (2 * half / bins), "250 / 31.25 = 8 bins counted from bin 0; the root sits at bin 32, the middle"),
        (z / (2 * half / bins), "-8 is the offset from the root; the bins are counted from 0, with the root at 32"),
        ((z / (2 * half) + 1.0) / 2.0 * bins, "you divided by the whole 2000 mm box; the formula divides by "
                                              "half of it, 1000 mm, to reach [-1, 1]"),
        ((z / half + 1.0) / 2.0, "0.375 is z01, the place in [0, 1]; times depth_dim = 64 gives the bin"),
    ], rel=0, abs_tol=0.05)
    raise Mistake(f"{got:g} is not it: z01 = (Z - Z_root) / 1000 mm, plus 1, over 2; then times 64 bins")


q0 = Prediction(
    "09.0", "predict a joint's depth bin", "predicted_bin", _check_depth_bin,
    hints=["In front of the pelvis means nearer the camera: Z - Z_root = -250 mm.",
           "One bin is 2000 / 64 = 31.25 mm, and the root sits at bin 32."],
)


# --- 09.1: a box centred on the root ----------------------------------------------------------------------------

def _root_box(joints, shape, centre="root", size="farthest", aspect=None, pad="grow", margin=1.25, form="xywh"):
    """The root-centred box with one thing done differently (a realistic mistake); the defaults are the answer."""
    joints = np.asarray(joints, dtype=np.float64)
    lo, hi = joints.min(axis=0), joints.max(axis=0)
    middle = joints[0] if centre == "root" else (lo + hi) / 2.0
    if size == "farthest":  # the box reaches the farthest joint on either side of its centre
        w, h = 2.0 * np.abs(joints - middle).max(axis=0)
    elif size == "one side":  # only the right and lower side looked at
        w, h = 2.0 * (joints - middle).max(axis=0)
    else:  # the joints' extent, as for a box centred on it
        w, h = hi - lo
    ratio = shape[1] / shape[0] if aspect is None else aspect
    if pad != "none" and (pad == "grow") == (w > ratio * h):  # grow the short side (or shrink the long one)
        h = w / ratio
    elif pad != "none":
        w = h * ratio
    w, h = w * margin, h * margin
    x, y = middle[0] - w / 2.0, middle[1] - h / 2.0
    return {"xywh": [x, y, w, h], "centre": [middle[0], middle[1], w, h], "corners": [x, y, x + w, y + h]}[form]


def _root_box_cases() -> list[tuple[str, np.ndarray, int, int, tuple[int, int]]]:
    """(what, joints J x 2, width, height, input_shape): the root is never the middle of the joints' extent."""
    rng = np.random.default_rng(901)
    cases = []
    for what, root, spread, width, height, shape in [
        ("a standing person, 256 x 256 crop", (482.3, 515.8), (70.0, 240.0), 1000, 1000, (256, 256)),
        ("arms stretched out, 256 x 192 crop", (305.2, 260.4), (230.0, 90.0), 640, 480, (256, 192)),
        ("a standing person, 256 x 192 crop", (712.6, 402.9), (85.0, 210.0), 1000, 1000, (256, 192)),
        ("a person lying down, 192 x 256 crop", (150.7, 330.1), (260.0, 55.0), 640, 480, (192, 256)),
    ]:
        joints = np.asarray(root) + rng.uniform(-1.0, 1.0, size=(18, 2)) * spread
        joints[0] = root
        joints[7] = np.asarray(root) - np.asarray(spread) * 1.3  # the farthest joint: to the left and above
        joints[3] = np.asarray(root) + np.asarray(spread) * (1.1, 0.9)
        cases.append((what, joints, width, height, shape))
    tall = cases[0][1].copy()
    cases.append(("a root left of the picture", tall - (520.0, 0.0), 1000, 1000, (256, 256)))
    on_edge = tall.copy()
    on_edge[0, 0] = 1000.0
    cases.append(("a root on the picture's right edge (x = width)", on_edge, 1000, 1000, (256, 256)))
    cases.append(("a root below the picture", tall + (0.0, 700.0), 1000, 1000, (256, 256)))
    return cases


def _root_box_slips(joints, shape) -> list[tuple[str, list[float]]]:
    ratio = shape[1] / shape[0]
    out = [
        ("your box is centred on the joints' extent, as process_bbox centres on the annotated box; centre it on "
         "the root, joints_xy[0], so that the pelvis lands on the crop's centre", dict(centre="extent", size="extent")),
        ("your box is as big as the joints' extent, but centred on the root it has to reach the farthest joint on "
         "each side: w = 2 * max |x - x_root|, h = 2 * max |y - y_root|", dict(size="extent")),
        ("a joint left of (or above) the root is farther than any on the right (or below): take the largest "
         "distance on both sides, 2 * max |x - x_root| (the absolute value)", dict(size="one side")),
        ("the box is not enlarged: after growing it to the crop's aspect ratio, multiply w and h by 1.25 about "
         "the root, as process_bbox does", dict(margin=1.0)),
        ("you shrank a side instead of growing the one that is too small: the box must hold every joint",
         dict(pad="shrink")),
        ("the box keeps the joints' aspect ratio: grow the side that is too small until w / h = input_shape[1] / "
         "input_shape[0], or the crop will stretch the person", dict(pad="none")),
        ("you returned the root (the centre) as x, y; return the top-left corner, x = x_root - w / 2",
         dict(form="centre")),
        ("you returned the corners [x1, y1, x2, y2]; return [x, y, w, h], as process_bbox does", dict(form="corners")),
    ]
    if ratio != 1.0:
        out[4:4] = [
            (f"your box is square, but the crop is not: input_shape {tuple(shape)} is (height, width), so w / h "
             f"must be input_shape[1] / input_shape[0] = {ratio:.2f}", dict(aspect=1.0)),
            (f"your box has the crop's aspect ratio upside down (w / h = {1 / ratio:.2f}): input_shape is "
             f"(height, width), so w / h = input_shape[1] / input_shape[0] = {ratio:.2f}", dict(aspect=1 / ratio)),
        ]
    return [(message, _root_box(joints, shape, **kwargs)) for message, kwargs in out]


def _check_root_box(fn) -> str:
    for what, joints, width, height, shape in _root_box_cases():
        given = joints.copy()
        out = call(fn, given, width, height, shape)
        if not np.array_equal(given, joints):
            raise Mistake("your function changed the joints it was given; compute into new arrays")
        rx, ry = joints[0]
        inside = 0 <= rx < width and 0 <= ry < height
        where = f"for {what} (root at ({rx:.1f}, {ry:.1f}) in a {width} x {height} picture)"
        if not inside:
            if out is not None:
                raise Mistake(f"{where}, the root is outside the picture: return None (inside means 0 <= x < width "
                              "and 0 <= y < height)")
            continue
        if out is None:
            raise Mistake(f"{where}, you returned None, but the root is inside the picture: return None only when "
                          "it is not (0 <= x < width and 0 <= y < height)")
        got = _as_array(out, f"your box {where}")
        if got.shape != (4,):
            raise Mistake(f"return one box, 4 numbers [x, y, w, h]; {where} yours has shape {got.shape}")
        want = np.asarray(_root_box(joints, shape))
        if np.allclose(got, want, atol=1e-3, rtol=1e-7):
            continue
        for message, wrong in _root_box_slips(joints, shape):
            if np.allclose(got, wrong, atol=1e-3, rtol=1e-7):
                raise Mistake(f"{where}: {message}")
        x, y, w, h = got
        out_of_box = [k for k, (jx, jy) in enumerate(joints) if not (x <= jx <= x + w and y <= jy <= y + h)]
        if out_of_box:
            k = out_of_box[0]
            raise Mistake(f"{where}, {JOINTS_NAME[k]} at {_fmt(joints[k])} lies outside your box {_fmt(got)}")
        if not np.allclose([x + w / 2, y + h / 2], joints[0], atol=1e-3):
            raise Mistake(f"{where}, your box's centre is {_fmt([x + w / 2, y + h / 2])}; it must be the root's "
                          f"pixel, {_fmt(joints[0])}")
        raise Mistake(f"{where}, expected {_fmt(want)}, got {_fmt(got)}")
    return ("Centred on the root, the crop's aspect ratio, the farthest joint on the inner box's edge, x 1.25: "
            "four poses, three crop shapes, and None for three roots outside the picture.")


q1 = Exercise(
    "09.1", "a box centred on the root", "my_root_box", _check_root_box,
    refuses=("minipose.data.process_bbox",),
    hints=[
        "Centred on the root, the box must reach as far on the left as on the right: its half-width is the "
        "largest |x - x_root| over the joints, its half-height the largest |y - y_root|.",
        "Then as process_bbox: if w > ratio * h, h = w / ratio, else w = h * ratio (ratio = input_shape[1] / "
        "input_shape[0]); w, h times 1.25; return [x_root - w / 2, y_root - h / 2, w, h].",
    ],
)


# --- 09.2: from the target back to the picture, for a turned crop --------------------------------------------------

def _back(target, bbox, rot, config, xy="right", z="right") -> np.ndarray:
    """The picture pixels and root-relative millimetres of a target, with one thing done differently (a realistic
    mistake); the defaults are right.

    Written as the crop's steps undone one by one: heatmap cells -> crop pixels (x input / output), offsets from the
    crop's centre scaled to the box's size, turned back by +rot about the box's centre; bins -> mm around the root.
    """
    target = np.asarray(target, dtype=np.float64)
    (in_h, in_w), (out_h, out_w) = config.input_shape, config.output_shape
    bx, by, bw, bh = (float(v) for v in bbox)
    crop = target[:, :2] if xy == "cells" else target[:, :2] * np.array([in_w / out_w, in_h / out_h])
    if xy == "corner":  # crop (0, 0) taken for the box's corner, turned about that corner
        offset, anchor = crop, np.array([bx, by])
    else:
        offset, anchor = crop - np.array([in_w / 2.0, in_h / 2.0]), np.array([bx + bw / 2.0, by + bh / 2.0])
    size = np.array([in_w / bw, in_h / bh]) if xy == "inverse scale" else np.array([bw / in_w, bh / in_h])
    offset = offset * size
    angle = {"reversed": -rot, "unturned": 0.0}.get(xy, rot)
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    turned = np.column_stack([cos * offset[:, 0] - sin * offset[:, 1], sin * offset[:, 0] + cos * offset[:, 1]])
    bins = {"64": 64, "minus one": config.depth_dim - 1}.get(z, config.depth_dim)
    half = 1000.0 if z == "1000" else config.bbox_3d_shape[0] / 2.0
    fraction = target[:, 2] / bins  # 0 .. 1 across the 3D box
    mm = fraction * 2 * half if z == "not centred" else (fraction * 2 - 1) * half
    return np.column_stack([turned + anchor, mm])


def _back_cases() -> list[tuple[str, np.ndarray, list[float], float, Config]]:
    """(what, target J x 3, bbox, rot in degrees, config)."""
    rng = np.random.default_rng(903)
    cases = []
    for what, bbox, rot, config in [
        ("a 256 x 192 crop turned 30 degrees", [300.0, 120.0, 384.0, 512.0], 30.0, Config(input_shape=(256, 192))),
        ("a 256 x 256 crop turned -45 degrees, a 3 m 3D box in 32 bins", [-40.5, 210.25, 437.0, 437.0], -45.0,
         Config(depth_dim=32, bbox_3d_shape=(3000, 3000, 3000))),
        ("an unturned 256 x 256 crop", [610.3, 95.8, 300.0, 300.0], 0.0, Config()),
        ("a 128 x 96 crop turned 12.5 degrees, 16 bins", [610.3, 95.8, 231.6, 308.8], 12.5,
         Config(input_shape=(128, 96), depth_dim=16)),
    ]:
        out_h, out_w = config.output_shape
        target = np.column_stack([rng.uniform(-2, out_w + 2, 18), rng.uniform(-2, out_h + 2, 18),
                                  rng.uniform(0, config.depth_dim, 18)])
        target[0] = (out_w / 2, out_h / 2, config.depth_dim / 2)  # the root at the middle of everything
        cases.append((what, target.astype(np.float32), bbox, rot, config))
    return cases


_BACK_SLIPS = [  # (keyword, value, message)
    ("xy", "cells", "x, y are heatmap cells: turn them into crop pixels first, times input / output "
                    "(config.input_shape over config.output_shape)"),
    ("xy", "reversed", "you turned the wrong way: the crop's affine *undoes* the box's turn, so going back turns by "
                       "+rot (a positive rot turns the picture's x axis towards its y axis)"),
    ("xy", "unturned", "the crop was turned by rot: after scaling back to the box's size, turn the offsets from the "
                       "centre by rot before adding the box's centre"),
    ("xy", "corner", "you anchored the crop at the box's corner: that holds only for an unturned crop. The affine "
                     "maps the box's *centre* to the crop's centre, and turns about it"),
    ("xy", "inverse scale", "you scaled the wrong way: one crop pixel is bbox width / input width picture pixels "
                            "(and bbox height / input height)"),
    ("z", "not centred", "the depths are not centred on the root: bin depth_dim / 2 is 0 mm, bin 0 is minus half "
                         "the 3D box"),
    ("z", "minus one", "you divided by depth_dim - 1: the official conversion divides by depth_dim"),
    ("z", "64", "this config does not have 64 bins: use config.depth_dim"),
    ("z", "1000", "this config's 3D box is not 2000 mm: use config.bbox_3d_shape[0] / 2"),
]


def _check_back(fn) -> str:
    for what, target, bbox, rot, config in _back_cases():
        given, given_box = target.copy(), list(bbox)
        out = call(fn, given, given_box, rot, config)
        if not np.array_equal(given, target) or given_box != bbox:
            raise Mistake("your function changed the target or the box it was given; compute into new arrays")
        got = _as_array(out, "your answer")
        if got.shape != target.shape:
            raise Mistake(f"return J x 3 = {target.shape}: x, y in picture pixels and the depth in mm; yours has "
                          f"shape {got.shape}")
        want = _back(target, bbox, rot, config)
        where = f" (for {what})"
        for part, columns in (("xy", slice(0, 2)), ("z", slice(2, 3))):
            if np.allclose(got[:, columns], want[:, columns], atol=1e-2, rtol=1e-5):
                continue
            for slip_part, slip, message in _BACK_SLIPS:
                wrong = _back(target, bbox, rot, config, **{slip_part: slip})
                if slip_part == part and np.allclose(got[:, columns], wrong[:, columns], atol=1e-2, rtol=1e-5):
                    raise Mistake(message + where)
            k = int(np.abs(got[:, columns] - want[:, columns]).max(axis=1).argmax())
            raise Mistake(f"{what}: the target {_fmt(target[k])} of {JOINTS_NAME[k]} is {_fmt(want[k])} in the "
                          f"picture (x, y px, depth mm); yours is {_fmt(got[k])}")
    return ("Back in the picture, pixel for pixel, for crops turned by 30, -45, 0 and 12.5 degrees, non-square ones "
            "included, and in millimetres for 64, 32 and 16 bins.")


q2 = Exercise(
    "09.2", "from the target back to the picture", "my_target_to_picture", _check_back,
    refuses=("minipose.data.joints_to_target", "minipose.data.gen_trans_from_patch", "minipose.data.affine_points",
             "minipose.data.crop_affine", "minipose.infer.crop_to_image", "minipose.infer.bins_to_mm",
             "minipose.infer.output_to_camera"),
    hints=[
        "Undo the steps in reverse order: cells -> crop pixels (x input / output); crop pixels -> offsets from the "
        "crop's centre; offsets -> picture pixels (x box size / crop size); turn them by rot; add the box's centre.",
        "The crop's affine turned the picture by -rot (its `unrotate`), so the way back turns by +rot: (dx cos - dy "
        "sin, dx sin + dy cos). Depth: (z / depth_dim * 2 - 1) * bbox_3d_shape[0] / 2.",
    ],
)

# --- questions ---------------------------------------------------------------------------------------------------
q3 = Question(
    "09.3", "one depth bin, and a joint 1.2 m behind the root",
    hints=["The 3D box is bbox_3d_shape[0] = 2000 mm deep, split into depth_dim = 64 bins.",
           "Try joints_to_target on a joint with Z - Z_root = 1200 mm inside the crop: look at its z and its vis."],
    answer="One bin is 2000 / 64 = 31.25 mm (the root sits at bin 32). A joint 1200 mm behind the root has "
           "z01 = (1200 / 1000 + 1) / 2 = 1.1, i.e. bin 70.4, past the last bin (63): joints_to_target gives it "
           "vis = 0, so the loss ignores it; its target is not learnt at all. And the network could not say it "
           "anyway: soft-argmax returns an expected bin index, always between 0 and 63, that is between 1000 mm in "
           "front of the root and 968.75 mm behind it. So PoseNet never learns poses deeper than +-1 m around the "
           "pelvis; that is fine for one person (a body is under 2 m across), and a deeper scene would need a larger "
           "bbox_3d_shape, at the price of coarser bins (3000 / 64 = 46.9 mm for a 3 m box).",
)
