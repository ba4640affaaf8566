"""Exercises of lesson 09, boxes, crops and targets (written directly, not generated).

The lesson builds the official box (`process_bbox`, centred on the annotated box), the crop's affine, and the
targets (`joints_to_target`, through that affine, with depths already measured from the root). Its exercises ask
for what it does not print: the depth bin of a joint 250 mm in front of the pelvis (predicted first), a crop box
centred on the root joint, and the targets computed straight from an unturned box and cam2pixel's camera depths,
for crops that are not square. The references live here, written out, not taken from minipose.data.
"""
from __future__ import annotations

import math

import numpy as np

from minipose.config import Config
from minipose.exercises import Exercise, Mistake, Prediction, Question, call
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
    try:
        got = float(np.asarray(answer, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        raise Mistake(f"give the bin as one number, e.g. 40.5; you gave {answer!r:.40}") from None
    half, bins, z = 1000.0, 64, -250.0  # half the 2 m box; 64 bins; 250 mm nearer the camera than the root
    want = (z / half + 1.0) / 2.0 * bins
    for value, message in [
        (want, None),
        ((-z / half + 1.0) / 2.0 * bins, "that bin is 250 mm *behind* the root: in front means nearer the camera, "
                                         "a smaller depth, so Z - Z_root = -250 mm and a bin below 32"),
        (-z / (2 * half / bins), "250 / 31.25 = 8 bins counted from bin 0; the root sits at bin 32, the middle"),
        (z / (2 * half / bins), "-8 is the offset from the root; the bins are counted from 0, with the root at 32"),
        ((z / (2 * half) + 1.0) / 2.0 * bins, "you divided by the whole 2000 mm box; the formula divides by "
                                              "half of it, 1000 mm, to reach [-1, 1]"),
        ((z / half + 1.0) / 2.0, "0.375 is z01, the place in [0, 1]; times depth_dim = 64 gives the bin"),
    ]:
        if math.isclose(got, value, abs_tol=0.05):
            if message is None:
                return "bin 24: (-250 / 1000 + 1) / 2 * 64, that is 8 bins of 31.25 mm in front of the root's 32."
            raise Mistake(message)
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


# --- 09.2: targets straight from an unturned box -----------------------------------------------------------------

def _box_target(joints, bbox, config, xy="right", z="right", vis="right") -> tuple[np.ndarray, np.ndarray]:
    """The targets from the box, with one thing done differently (a realistic mistake); the defaults are right.

    An unturned crop scales the box to the crop, its top-left corner to crop pixel (0, 0), so
    crop x = (x - box_x) / box_w * input width, and a heatmap cell is that times output / input.
    """
    joints = np.asarray(joints, dtype=np.float64)
    (in_h, in_w), (out_h, out_w) = config.input_shape, config.output_shape
    bx, by, bw, bh = (float(v) for v in bbox)
    if xy == "from the centre":
        bx, by = bx + bw / 2.0, by + bh / 2.0
    if xy == "not from the corner":
        bx, by = 0.0, 0.0
    u, v = (joints[:, 0] - bx) / bw, (joints[:, 1] - by) / bh  # 0 .. 1 across the box
    depth = {"no root": joints[:, 2], "reversed": joints[0, 2] - joints[:, 2]}.get(z, joints[:, 2] - joints[0, 2])
    half = 1000.0 if z == "1000" else config.bbox_3d_shape[0] / 2.0
    bins = 64 if z == "64" else config.depth_dim
    z01 = (depth / half + 1.0) / 2.0
    inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    if vis == "far edge":
        inside = (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
    if vis != "ignores depth":
        inside &= (z01 >= 0) & (z01 < 1)
    cells = {"crop pixels": (in_w, in_h), "swapped": (out_h, out_w)}.get(xy, (out_w, out_h))
    target = np.column_stack([u * cells[0], v * cells[1], z01 * bins])
    if xy == "x, y swapped":
        target[:, :2] = target[:, 1::-1]
    return target, inside.astype(np.float64)[:, None]


def _box_target_cases() -> list[tuple[str, np.ndarray, list[float], Config]]:
    """(what, joints J x 3 as cam2pixel returns them, bbox, config)."""
    rng = np.random.default_rng(902)
    cases = []
    for what, bbox, config, root_z in [
        ("a 256 x 192 crop, heatmap 64 x 48", [300.0, 120.0, 384.0, 512.0], Config(input_shape=(256, 192)),
         4850.0),
        ("a 256 x 256 crop, a 3 m 3D box in 32 bins", [-40.5, 210.25, 437.0, 437.0],
         Config(depth_dim=32, bbox_3d_shape=(3000, 3000, 3000)), 5320.7),
        ("a 128 x 96 crop in 16 bins", [610.3, 95.8, 231.6, 308.8], Config(input_shape=(128, 96), depth_dim=16),
         3975.2),
    ]:
        bx, by, bw, bh = bbox
        half = config.bbox_3d_shape[0] / 2.0
        u, v = rng.uniform(-0.08, 1.08, size=(2, 18))
        depth = rng.uniform(-1.12, 1.12, size=18) * half
        u[0], v[0], depth[0] = 0.51, 0.47, 0.0  # the root
        u[4], v[4], depth[4] = 0.3, 0.6, 1.05 * half  # in the crop, behind the 3D box
        u[9], v[9], depth[9] = 0.7, 0.2, -0.6 * half  # in the crop and the box, in front of the root
        joints = np.column_stack([bx + u * bw, by + v * bh, root_z + depth])
        if bbox[2] == 384.0:  # joints exactly on the edges, where the arithmetic is exact
            for k, (x, y, d) in zip((2, 5, 8, 11, 13), [(bx, by + 100, 0), (bx + bw, by + 200, 0),
                                                          (bx + 50, by + bh, 0), (bx + 70, by + 90, half),
                                                          (bx + 90, by + 60, -half)]):
                joints[k] = (x, y, root_z + d)
        cases.append((what, joints, bbox, config))
    return cases


def _box_target_slips(joints, bbox, config) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(part, message, target, vis) for the realistic wrong answers on one case."""
    (_, in_w), (_, out_w) = config.input_shape, config.output_shape
    half = config.bbox_3d_shape[0] / 2.0
    out = [
        ("xy", "crop pixels", f"x, y are in crop pixels: heatmap cells are crop pixels times output / input "
                              f"(config.output_shape over config.input_shape, 1 / {in_w // out_w})"),
        ("xy", "from the centre", "x, y are measured from the box's centre; the crop's pixel (0, 0) is the box's "
                                  "top-left corner (bbox[0], bbox[1])"),
        ("xy", "not from the corner", "x, y are not measured from the box: subtract its top-left corner "
                                      "(bbox[0], bbox[1]) first"),
        ("xy", "swapped", "x went with the height: input_shape and output_shape are (height, width), so x is "
                          "scaled with index 1 and y with index 0"),
        ("xy", "x, y swapped", "x and y are swapped: target[:, 0] is x (the column), target[:, 1] is y (the row)"),
        ("z", "no root", "z uses the camera's depth Z itself; the target is relative to the root: Z - Z_root, "
                         "with Z_root = joints[0, 2]"),
        ("z", "reversed", "z runs backwards: a joint nearer the camera than the root (Z < Z_root) gets a bin "
                          "below the root's, so take Z - Z_root, not Z_root - Z"),
        ("z", "64", f"z has 64 bins, but this config has depth_dim = {config.depth_dim}: use config.depth_dim"),
        ("z", "1000", f"z was divided by 1000 mm, but this config's 3D box is {2 * half:g} mm: use "
                      "config.bbox_3d_shape[0] / 2"),
        ("vis", "ignores depth", "vis ignores depth: a joint more than half the 3D box in front of or behind the "
                                 "root is outside the target volume, so vis also needs 0 <= z01 < 1"),
        ("vis", "far edge", "a joint on the box's right or lower edge (crop x = width or y = height) was counted "
                            "visible: every upper bound is strict"),
    ]
    slips = []
    for part, slip, message in out:
        target, vis = _box_target(joints, bbox, config, **{part: slip})
        slips.append((part, message, target, vis))
    return slips


def _check_box_target(fn) -> str:
    for what, joints, bbox, config in _box_target_cases():
        given_joints, given_box = joints.copy(), list(bbox)
        out = call(fn, given_joints, given_box, config)
        if not np.array_equal(given_joints, joints) or given_box != bbox:
            raise Mistake("your function changed the joints or the box it was given; compute into new arrays")
        j = len(joints)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            if isinstance(out, np.ndarray) and out.shape == (j, 3):
                raise Mistake("you returned only the target: return two arrays, `return target, vis`")
            raise Mistake(f"return two arrays, (target, vis); you returned {type(out).__name__} {out!r:.40}")
        target, vis = _as_array(out[0], "your target"), _as_array(out[1], "your vis")
        if target.shape != (j, 3):
            raise Mistake(f"the target must be J x 3 = {(j, 3)}; yours has shape {target.shape}")
        if vis.shape != (j, 1):
            raise Mistake(f"vis must be J x 1 = {(j, 1)}, as joints_to_target returns it; yours has shape "
                          f"{vis.shape}")
        want, want_vis = _box_target(joints, bbox, config)
        where = f" (for {what})"
        for part, columns in (("xy", slice(0, 2)), ("z", slice(2, 3))):
            if np.allclose(target[:, columns], want[:, columns], atol=1e-3, rtol=1e-5):
                continue
            for slip_part, message, wrong, _ in _box_target_slips(joints, bbox, config):
                if slip_part == part and np.allclose(target[:, columns], wrong[:, columns], atol=1e-3, rtol=1e-5):
                    raise Mistake(message + where)
            k = int(np.abs(target[:, columns] - want[:, columns]).max(axis=1).argmax())
            raise Mistake(f"{what}: {JOINTS_NAME[k]} should have the target {_fmt(want[k])}, yours is "
                          f"{_fmt(target[k])}")
        if not np.array_equal(vis, want_vis):
            for slip_part, message, _, wrong in _box_target_slips(joints, bbox, config):
                if slip_part == "vis" and np.array_equal(vis, wrong):
                    raise Mistake(message + where)
            k = int(np.flatnonzero(vis[:, 0] != want_vis[:, 0])[0])
            raise Mistake(f"{what}: {JOINTS_NAME[k]}, target {_fmt(want[k])}, has vis {want_vis[k, 0]:g}, yours "
                          f"is {vis[k, 0]:g}: 1 exactly when it lies in the box and 0 <= z01 < 1")
    return ("Targets and vis from the box, for a 256 x 192 crop (with joints exactly on its edges), a 3 m 3D box "
            "in 32 bins, and a 128 x 96 crop in 16 bins.")


q2 = Exercise(
    "09.2", "targets straight from the box", "my_box_target", _check_box_target,
    refuses=("minipose.data.joints_to_target", "minipose.data.gen_trans_from_patch", "minipose.data.affine_points"),
    hints=[
        "Unturned, the crop only scales and shifts: the box's top-left corner lands on crop pixel (0, 0) and its "
        "far corner on (input width, input height). So (x - bbox[0]) / bbox[2] runs from 0 to 1 across the box.",
        "x cells = (x - bbox[0]) / bbox[2] * output_shape[1], y cells with bbox[1], bbox[3], output_shape[0]; "
        "z01 = ((Z - joints[0, 2]) / (bbox_3d_shape[0] / 2) + 1) / 2, z = z01 * depth_dim; vis = 1 when both "
        "fractions and z01 are in [0, 1).",
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
