"""Exercises of lesson 09, boxes, crops and targets (written directly, not generated)."""
from __future__ import annotations

import numpy as np

from minipose.config import Config
from minipose.data import gen_trans_from_patch, joints_to_target, process_bbox
from minipose.exercises import Exercise, Mistake, Question, call
from minipose.skeleton import JOINTS_NAME


def _fmt(values) -> str:
    return "[" + ", ".join(f"{float(v):.1f}" for v in values) + "]"


def _as_array(value, what: str) -> np.ndarray:
    """The student's result as a float64 numpy array, or a Mistake saying what it was instead."""
    if value is None:
        raise Mistake(f"{what} is None: return a numpy array")
    try:
        return np.array(value, dtype=np.float64)
    except Exception:  # noqa: BLE001 - anything that is not a list of numbers, explained below
        raise Mistake(f"{what} is a {type(value).__name__}, not an array of numbers ({value!r:.40})") from None


# --- 09.1: process_bbox ------------------------------------------------------------------------------------------

_BOX_TOL = 1.3  # pixels: the official w - 1 (x2 = x1 + w - 1) moves the answer by at most 1.25 pixels


def _box(bbox, width, height, input_shape, clip="official", aspect=None, pad="grow", enlarge=1.25, anchor="centre"):
    """process_bbox with one thing done differently (the realistic mistakes); the defaults are the official box."""
    x, y, w, h = (float(v) for v in bbox)
    if clip == "none":
        x1, y1 = x, y
        x2, y2 = x + max(0.0, w - 1.0), y + max(0.0, h - 1.0)
    else:
        x1, y1 = max(0.0, x), max(0.0, y)
        left, top = (x1, y1) if clip == "official" else (x, y)  # "intersect": the far edge stays where it was
        x2 = min(width - 1.0, left + max(0.0, w - 1.0))
        y2 = min(height - 1.0, top + max(0.0, h - 1.0))
    w, h = x2 - x1, y2 - y1
    c_x, c_y = x1 + w / 2.0, y1 + h / 2.0
    ratio = input_shape[1] / input_shape[0] if aspect is None else aspect
    if pad == "grow":
        if w > ratio * h:
            h = w / ratio
        elif w < ratio * h:
            w = h * ratio
    elif pad == "shrink":
        if w > ratio * h:
            w = h * ratio
        elif w < ratio * h:
            h = w / ratio
    padded_w, padded_h = w, h
    w, h = w * enlarge, h * enlarge
    if anchor == "corner":
        return np.array([x1, y1, w, h])
    if anchor == "padded corner":
        return np.array([c_x - padded_w / 2.0, c_y - padded_h / 2.0, w, h])
    if anchor == "centre as x, y":
        return np.array([c_x, c_y, w, h])
    return np.array([c_x - w / 2.0, c_y - h / 2.0, w, h])


def _box_variants(bbox, width, height, input_shape) -> list[tuple[str, np.ndarray]]:
    """(message, box) for the realistic wrong answers on one case."""
    ratio = input_shape[1] / input_shape[0]
    corner = ("the box grew from its top-left corner (x, y unchanged); it must grow about its centre: keep "
              "c_x = x1 + w / 2 and return x = c_x - w / 2 with the final w (the same for y)")
    out = [
        ("the box is not enlarged: after padding, multiply w and h by 1.25 about the centre, so hands and feet near "
         "the edge stay in the crop", dict(enlarge=1.0)),
        (f"your box is square, but the crop is not: input_shape {tuple(input_shape)} is (height, width), so pad to "
         f"width / height = input_shape[1] / input_shape[0] = {ratio:.2f}, not 1", dict(aspect=1.0)),
        (f"your box has the crop's aspect ratio upside down (height / width = {1 / ratio:.2f}): input_shape is "
         f"(height, width), so the crop's width / height is input_shape[1] / input_shape[0] = {ratio:.2f}",
         dict(aspect=1.0 / ratio)),
        (corner, dict(anchor="corner")),
        (corner, dict(anchor="padded corner")),
        ("you returned the centre (c_x, c_y) in place of x, y; return the top-left corner x = c_x - w / 2, "
         "y = c_y - h / 2", dict(anchor="centre as x, y")),
        ("you shrank a side instead of growing the one that is too small (min where max belongs): the crop must "
         "contain the whole person, so pad: if w > ratio * h then h = w / ratio, else w = h * ratio",
         dict(pad="shrink")),
        ("the box keeps its own aspect ratio: grow the side that is too small, about the centre, until w / h = "
         "input_shape[1] / input_shape[0], or the crop will stretch the person", dict(pad="none")),
        ("you did not clip the box to the picture first: x1 = max(0, x), x2 = min(width - 1, x1 + w - 1) (the "
         "same for y), then pad and enlarge the clipped box", dict(clip="none")),
    ]
    return [(message, _box(bbox, width, height, input_shape, **kwargs)) for message, kwargs in out]


def _box_cases() -> list[tuple[list[float], int, int, tuple[int, int], str]]:
    """(bbox, width, height, input_shape, kind): fresh seeded boxes; kind is inside, out, top-left or none."""
    rng = np.random.default_rng(801)
    cases = []

    def box(width, height, w, h, x=None, y=None):
        x = rng.uniform(0, width - w) if x is None else x
        y = rng.uniform(0, height - h) if y is None else y
        return [round(float(v), 2) for v in (x, y, w, h)]

    for _ in range(2):  # the default square crop: a tall and a wide person
        cases.append((box(1000, 1000, rng.uniform(60, 200), rng.uniform(250, 450)), 1000, 1000, (256, 256), "inside"))
        cases.append((box(1000, 1000, rng.uniform(250, 400), rng.uniform(80, 200)), 1000, 1000, (256, 256), "inside"))
    for _ in range(2):  # a 256 x 192 crop (height x width); boxes narrower than 3:4, so w - 1 moves them < 1.3 px
        h = rng.uniform(150, 400)
        cases.append((box(640, 480, rng.uniform(0.3, 0.7) * h, h), 640, 480, (256, 192), "inside"))
    # Boxes sticking out of the picture at the right and at the bottom (still narrower than 3:4 once clipped).
    cases.append(([900.5, 300.25, 220.0, 380.0], 1000, 1000, (256, 256), "out"))
    cases.append(([200.75, 300.5, 100.0, 260.0], 640, 480, (256, 192), "out"))
    cases.append(([590.0, 380.0, 60.0, 150.0], 640, 480, (256, 192), "out"))
    # Sticking out at the top left: the official x2 = x1 + w - 1 shifts the box (x1 is clipped first); cutting it
    # at its own far edge (x + w - 1) is accepted as well.
    cases.append(([-40.0, -25.5, 200.0, 330.0], 640, 480, (256, 192), "top-left"))
    # No area inside the picture: None.
    cases.append(([1050.0, 200.0, 100.0, 300.0], 1000, 1000, (256, 256), "none"))  # right of the picture
    cases.append(([100.0, 500.0, 80.0, 200.0], 640, 480, (256, 192), "none"))  # below it
    cases.append(([300.0, 200.0, 0.0, 150.0], 640, 480, (256, 192), "none"))  # zero width
    return cases


def _check_process_bbox(fn) -> str:
    for bbox, width, height, shape, kind in _box_cases():
        out = call(fn, list(bbox), width, height, shape)
        where = f"the box {_fmt(bbox)} in a {width} x {height} picture (input_shape {shape})"
        ref = process_bbox(bbox, width, height, shape)
        if ref is None:
            if out is not None:
                if kind == "none" and bbox[2] * bbox[3] <= 0:
                    why = f"it has no area (w * h = {bbox[2] * bbox[3]:g})"
                elif bbox[0] >= width:
                    why = f"it starts right of the picture (x = {bbox[0]:g} >= width = {width})"
                else:
                    why = f"it starts below the picture (y = {bbox[1]:g} >= height = {height})"
                try:
                    shown = _fmt(np.asarray(out, dtype=np.float64).reshape(-1))
                except Exception:  # noqa: BLE001 - not numbers: show it as it is
                    shown = f"{out!r:.60}"
                raise Mistake(f"for {where} you returned {shown}; {why}, so nothing of it can be cropped: "
                              "return None (test w * h <= 0 or x2 < x1 or y2 < y1 after clipping)")
            continue
        if out is None:
            raise Mistake(f"you returned None for {where}, which overlaps the picture: return None only when "
                          "nothing of the box is inside")
        got = _as_array(out, f"your result for {where}")
        if got.shape != (4,):
            raise Mistake(f"return one box, 4 numbers [x, y, w, h]; for {where} yours has shape {got.shape}")
        accepted = [ref]
        if kind == "top-left":
            accepted.append(_box(bbox, width, height, shape, clip="intersect"))
        if any(np.abs(got - a).max() <= _BOX_TOL for a in accepted):
            continue
        if np.abs(got[:2] - ref[:2]).max() <= _BOX_TOL and np.abs(got[2:] - (ref[:2] + ref[2:])).max() <= _BOX_TOL:
            raise Mistake("you returned the corners [x1, y1, x2, y2]; return [x, y, w, h], the top-left corner with "
                          "the width and height, like the annotation's box")
        for message, wrong in _box_variants(bbox, width, height, shape):
            if np.abs(got - wrong).max() <= _BOX_TOL:
                raise Mistake(f"{message} (for {where})")
        if np.abs(got[2:] - ref[2:]).max() <= _BOX_TOL:
            raise Mistake(f"for {where}, w and h are right but x, y are not ({_fmt(got[:2])} instead of about "
                          f"{_fmt(ref[:2])}): the final box is centred on the clipped box's centre")
        raise Mistake(f"for {where} expected about {_fmt(ref)}, got {_fmt(got)}")
    return ("Matches minipose.data.process_bbox within 1.3 pixels on boxes inside and sticking out of the picture, "
            "for a square and a 256 x 192 crop, and returns None for boxes with no area in the picture.")


q1 = Exercise(
    "09.1", "a box to the official crop box", "my_process_bbox", _check_process_bbox,
    refuses=("minipose.data.process_bbox",),
    hints=[
        "Three steps: clip (x1 = max(0, x), x2 = min(width - 1, x1 + max(0, w - 1)), the same for y; None if "
        "nothing is left), grow the side that is too small until w / h = input_shape[1] / input_shape[0], then w, h = 1.25 w, "
        "1.25 h.",
        "Compute the centre c_x = x1 + w / 2, c_y = y1 + h / 2 once, after clipping; padding and enlarging change "
        "only w and h, and the box you return is [c_x - w / 2, c_y - h / 2, w, h].",
    ],
)


# --- 09.2: joints_to_target --------------------------------------------------------------------------------------

def _picture_points(trans: np.ndarray, crop_xy: np.ndarray) -> np.ndarray:
    """The picture pixels that `trans` sends to these crop pixels (the inverse affine)."""
    linear, shift = trans[:, :2], trans[:, 2]
    return (np.asarray(crop_xy, dtype=np.float64) - shift) @ np.linalg.inv(linear).T


def _target_cases() -> list[tuple[str, np.ndarray, np.ndarray, Config]]:
    """(name, joint_img J x 3, trans 2 x 3, config): chosen in crop pixels, then mapped back to the picture."""
    rng = np.random.default_rng(802)
    cases = []

    # 1. The default config; a scaled, rotated crop; joints in and out of the crop and of the +-1 m slab.
    config = Config()
    trans = gen_trans_from_patch(480.3, 520.7, 310.0, 310.0, 256, 256, scale=1.15, rot=25.0)
    crop = rng.uniform(-40, 296, size=(18, 2))
    z = rng.uniform(-1150, 1150, size=18)
    crop[0], z[0] = (128.4, 131.2), 0.0  # the root
    crop[3], z[3] = (100.0, 150.0), 1100.0  # inside the crop, 1.1 m behind the root
    crop[6], z[6] = (60.0, 200.0), -1080.0  # inside the crop, in front of the slab
    crop[13], z[13] = (270.0, 100.0), 0.0  # right of the crop
    crop[16], z[16] = (120.0, -12.0), 200.0  # above it
    cases.append(("a rotated, scaled crop (default config)", np.column_stack([_picture_points(trans, crop), z]),
                  trans, config))

    # 2. Joints exactly on the edges: an axis-aligned affine that floating point computes exactly.
    trans = np.array([[0.5, 0.0, -10.0], [0.0, 0.5, 20.0]])
    crop = rng.uniform(8, 248, size=(18, 2)).round(1)
    z = rng.uniform(-900, 900, size=18).round(1)
    edges = [((0.0, 0.0), 0.0), ((256.0, 100.0), 0.0), ((100.0, 256.0), 0.0), ((255.5, 255.5), 0.0),
             ((-0.5, 10.0), 0.0), ((100.0, 100.0), 1000.0), ((120.0, 80.0), -1000.0), ((140.0, 60.0), 999.0)]
    for i, (xy, depth) in zip((1, 2, 4, 5, 8, 10, 11, 15), edges):
        crop[i], z[i] = xy, depth
    joint_img = np.column_stack([2.0 * crop[:, 0] + 20.0, 2.0 * crop[:, 1] - 40.0, z])  # exactly trans^-1
    cases.append(("joints on the crop's edges (x = 0, x = 256, z = +-1000 mm)", joint_img, trans, config))

    # 3. A 256 x 192 crop (height x width), 32 depth bins and a 2.4 m 3D box.
    config = Config(input_shape=(256, 192), depth_dim=32, bbox_3d_shape=(2400, 2400, 2400))
    trans = gen_trans_from_patch(350.0, 260.0, 150.0, 200.0, 192, 256, scale=0.9, rot=-40.0)
    crop = np.column_stack([rng.uniform(-20, 210, 18), rng.uniform(-20, 270, 18)])
    z = rng.uniform(-1300, 1300, size=18)
    crop[0], z[0] = (96.3, 128.7), 0.0
    crop[2], z[2] = (100.0, 220.0), 300.0  # inside: y < 256 (a 192-wide crop is still 256 tall)
    crop[5], z[5] = (220.0, 100.0), -200.0  # outside: x >= 192
    crop[9], z[9] = (60.0, 40.0), 1150.0  # inside the 2.4 m box, outside a 2 m one
    crop[12], z[12] = (150.0, 150.0), -1250.0  # in front of the 2.4 m box
    cases.append(("a 256 x 192 crop, depth_dim 32, bbox_3d_shape 2400 mm",
                  np.column_stack([_picture_points(trans, crop), z]), trans, config))

    # 4. A small 128 x 96 crop with 16 depth bins.
    config = Config(input_shape=(128, 96), depth_dim=16)
    trans = gen_trans_from_patch(700.0, 400.0, 120.0, 160.0, 96, 128, scale=1.05, rot=12.0)
    crop = np.column_stack([rng.uniform(-10, 105, 18), rng.uniform(-10, 140, 18)])
    z = rng.uniform(-950, 950, size=18)
    crop[0], z[0] = (48.2, 64.9), 0.0
    crop[4], z[4] = (40.0, 110.0), 100.0  # inside
    crop[7], z[7] = (110.0, 50.0), -100.0  # right of the crop
    crop[14], z[14] = (50.0, 180.0), 50.0  # below it
    cases.append(("a 128 x 96 crop with depth_dim 16", np.column_stack([_picture_points(trans, crop), z]),
                  trans, config))
    return cases


def _xy_variants(joint_img, trans, config) -> list[tuple[str, np.ndarray]]:
    (in_h, in_w), (out_h, out_w) = config.input_shape, config.output_shape
    p, linear, shift = joint_img[:, :2], trans[:, :2], trans[:, 2]
    grid = np.array([out_w / in_w, out_h / in_h])
    crop = p @ linear.T + shift
    x_by_height = ("x was scaled with the crop's height: input_shape and output_shape are (height, width), so x goes "
                   "with index 1 (output_shape[1] / input_shape[1]) and y with index 0")
    return [
        (f"x, y are still in crop pixels: divide by input / output = {in_w // out_w} (config.input_shape over "
         "config.output_shape) to get heatmap cells", crop),
        ("you multiplied by the transposed matrix: the 2 x 3 affine [A | b] sends a point p to A @ p + b, which for "
         "N x 2 points is points @ trans[:, :2].T + trans[:, 2]", (p @ linear + shift) * grid),
        ("you applied only the linear part of the affine and forgot the translation: add trans[:, 2] (the third "
         "column) after multiplying by trans[:, :2]", (p @ linear.T) * grid),
        ("the transposed matrix and no translation: crop = points @ trans[:, :2].T + trans[:, 2]",
         (p @ linear) * grid),
        (x_by_height, crop * np.array([out_w / in_h, out_h / in_h])),
        (x_by_height, crop * np.array([out_w / in_h, out_h / in_w])),
        ("x and y are swapped: target[:, 0] is x (the column), target[:, 1] is y (the row)", (crop * grid)[:, ::-1]),
        ("x, y are scaled by output / input the wrong way round: crop pixels times output_shape / input_shape "
         f"(divide by {in_w // out_w})", crop / grid),
    ]


def _z_variants(joint_img, config) -> list[tuple[str, np.ndarray]]:
    z, half, bins = joint_img[:, 2], config.bbox_3d_shape[0] / 2.0, config.depth_dim
    z01 = (z / half + 1.0) / 2.0
    out = []
    # First the sizes taken from the default config: on a non-default one they can look like another mistake
    # (64 bins instead of 32 is the missing / 2), but an answer with that other mistake already failed case 1.
    if bins != 64:
        out.append((f"z has 64 bins, but this config has depth_dim = {bins}: use config.depth_dim, never a "
                    "hard-coded 64", z01 * 64))
    if half != 1000:
        out.append((f"z was divided by 1000 mm, but this config's 3D box is {2 * half:g} mm: use "
                    "config.bbox_3d_shape[0] / 2, never a hard-coded 1000", (z / 1000.0 + 1.0) / 2.0 * bins))
    out += [
        (f"z has no +1 shift: Z / {half:g} is in [-1, 1], and joints in front of the root get negative bins; "
         "(Z / half + 1) / 2 maps it to [0, 1] before multiplying by depth_dim", z / half / 2.0 * bins),
        (f"z was not divided by half the 3D box (config.bbox_3d_shape[0] / 2 = {half:g} mm): z01 = "
         "(Z / half + 1) / 2", (z + 1.0) / 2.0 * bins),
        ("z is still in millimetres (Z - Z_root): scale it to depth bins, (Z / half + 1) / 2 * depth_dim", z),
        ("z is in [0, 1]: multiply by config.depth_dim to get depth bins", z01),
        ("z is missing the / 2 that takes [-1, 1] to [0, 1]: z01 = (Z / half + 1) / 2", (z / half + 1.0) * bins),
    ]
    return out


def _vis_variants(crop, z01, config) -> list[tuple[str, np.ndarray]]:
    (in_h, in_w), (out_h, out_w) = config.input_shape, config.output_shape
    x, y = crop[:, 0], crop[:, 1]
    xy_in = (x >= 0) & (x < in_w) & (y >= 0) & (y < in_h)
    z_in = (z01 >= 0) & (z01 < 1)
    far_edge = (x >= 0) & (x <= in_w) & (y >= 0) & (y <= in_h)
    near_edge = (x > 0) & (x < in_w) & (y > 0) & (y < in_h)
    out = []
    if (in_h, in_w) != (256, 256):  # first, as for z: answers with the other mistakes already failed case 1
        out.append((f"vis uses a 256 x 256 crop, but this config's input_shape is {config.input_shape}: use "
                    "config.input_shape, never a hard-coded 256",
                    (x >= 0) & (x < 256) & (y >= 0) & (y < 256) & z_in))
    out += [
        ("vis ignores depth: a joint more than half the 3D box in front of or behind the root is outside the "
         "target volume, so vis must also require 0 <= z01 < 1", xy_in),
        (f"a joint at x = {in_w} (or y = {in_h}) was counted visible: the crop's pixels are 0 .. {in_w - 1}, so use "
         "x < input width and y < input height (strict)", far_edge & z_in),
        ("a joint exactly half the 3D box behind the root (z01 = 1) was counted visible: bins run 0 .. "
         "depth_dim - 1, so z01 must be < 1 (strict)", xy_in & (z01 >= 0) & (z01 <= 1)),
        (f"joints on the far edges (x = {in_w}, y = {in_h}, z01 = 1) were counted visible: every upper bound is "
         "strict (x < width, y < height, z01 < 1)", far_edge & (z01 >= 0) & (z01 <= 1)),
        ("a joint at x = 0 or y = 0 lies on the crop's first pixel, which is inside: use x >= 0, y >= 0",
         near_edge & z_in),
        ("vis was tested on heatmap cells (after dividing by 4) against the crop's pixel size: test crop pixels "
         "against input_shape (or cells against output_shape)",
         (x * out_w / in_w >= 0) & (x * out_w / in_w < in_w) & (y * out_h / in_h >= 0) & (y * out_h / in_h < in_h)
         & z_in),
        ("vis compared depth bins with [0, 1): test z01 (before multiplying by depth_dim), or the bin against "
         "[0, depth_dim)", xy_in & (z01 * config.depth_dim >= 0) & (z01 * config.depth_dim < 1)),
        ("vis is the wrong way round: 1 means the joint is inside the crop and the depth range (the loss uses "
         "it), 0 outside", ~(xy_in & z_in)),
    ]
    if in_h != in_w:
        out.append(("vis compares x with the crop's height: input_shape is (height, width), so x < input_shape[1] "
                    "and y < input_shape[0]", (x >= 0) & (x < in_h) & (y >= 0) & (y < in_w) & z_in))
    return out


def _check_joints_to_target(fn) -> str:
    for name, joint_img, trans, config in _target_cases():
        given_joints, given_trans = joint_img.copy(), trans.copy()
        out = call(fn, given_joints, given_trans, config)
        j = len(joint_img)
        if not np.array_equal(given_joints, joint_img) or not np.array_equal(given_trans, trans):
            raise Mistake("your function changed the joint_img or trans it was given; compute into new arrays, "
                          "the dataset's records must stay as they are")
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            if isinstance(out, np.ndarray) and out.shape == (j, 3):
                raise Mistake("you returned only the target: return two arrays, `return target, vis`")
            raise Mistake(f"return two arrays, (target, vis); you returned {type(out).__name__} {out!r:.40}")
        target = _as_array(out[0], "your target")
        vis = _as_array(out[1], "your vis")
        if target.shape != (j, 3):
            raise Mistake(f"the target must be J x 3 = {(j, 3)} (x, y, z per joint); yours has shape {target.shape}")
        if vis.shape == (j,):
            raise Mistake(f"vis must be J x 1 = {(j, 1)}, one column, as the official code returns it "
                          f"(vis[:, None]); yours is flat, shape {vis.shape}")
        if vis.shape != (j, 1):
            raise Mistake(f"vis must be J x 1 = {(j, 1)}; yours has shape {vis.shape}")
        ref_target, ref_vis = joints_to_target(joint_img, trans, config)
        where = f" (for {name})"
        if not np.allclose(target[:, :2], ref_target[:, :2], atol=1e-3, rtol=1e-5):
            for message, wrong in _xy_variants(joint_img, trans, config):
                if np.allclose(target[:, :2], wrong, atol=1e-3, rtol=1e-5):
                    raise Mistake(message + where)
            k = int(np.abs(target[:, :2] - ref_target[:, :2]).max(axis=1).argmax())
            raise Mistake(f"for {name}, {JOINTS_NAME[k]} should be at x, y = {_fmt(ref_target[k, :2])} heatmap "
                          f"cells, yours is at {_fmt(target[k, :2])}: picture pixels -> crop pixels (trans) -> "
                          "cells (divide by 4)")
        if not np.allclose(target[:, 2], ref_target[:, 2], atol=1e-3, rtol=1e-5):
            for message, wrong in _z_variants(joint_img, config):
                if np.allclose(target[:, 2], wrong, atol=1e-3, rtol=1e-5):
                    raise Mistake(message + where)
            k = int(np.abs(target[:, 2] - ref_target[:, 2]).argmax())
            raise Mistake(f"for {name}, {JOINTS_NAME[k]} ({joint_img[k, 2]:+.1f} mm from the root) should be in "
                          f"depth bin {ref_target[k, 2]:.2f}, yours is {target[k, 2]:.2f}")
        got_vis, want_vis = vis[:, 0], ref_vis[:, 0]
        if not np.array_equal(got_vis, want_vis):
            crop = joint_img[:, :2] @ trans[:, :2].T + trans[:, 2]
            z01 = (joint_img[:, 2] / (config.bbox_3d_shape[0] / 2.0) + 1.0) / 2.0
            for message, wrong in _vis_variants(crop, z01, config):
                if np.array_equal(got_vis, wrong.astype(np.float64)):
                    raise Mistake(message + where)
            k = int(np.flatnonzero(got_vis != want_vis)[0])
            raise Mistake(f"for {name}, {JOINTS_NAME[k]} lies at crop pixel ({crop[k, 0]:.1f}, {crop[k, 1]:.1f}) "
                          f"with z01 = {z01[k]:.3f}: its vis is {want_vis[k]:g}, yours is {got_vis[k]:g}. vis is 1 "
                          "exactly when 0 <= x < input width, 0 <= y < input height and 0 <= z01 < 1")
    return ("Matches minipose.data.joints_to_target on a rotated crop, joints exactly on the edges, a 256 x 192 crop "
            "with 32 bins and a 2.4 m box, and a 128 x 96 crop with 16 bins: targets and visibility.")


q2 = Exercise(
    "09.2", "a joint to its target", "my_joints_to_target", _check_joints_to_target,
    refuses=("minipose.data.joints_to_target",),
    hints=[
        "x, y: crop = joint_img[:, :2] @ trans[:, :2].T + trans[:, 2] (crop pixels), then times output / input "
        "(config.output_shape[1] / config.input_shape[1] for x, index 0 for y). z: z01 = (Z / (bbox_3d_shape[0] / 2) "
        "+ 1) / 2, then times config.depth_dim.",
        "Compute vis before scaling, in crop pixels and z01: 0 <= x < input_shape[1], 0 <= y < input_shape[0], "
        "0 <= z01 < 1 (every upper bound strict). Return target as float32 J x 3 and vis as float32 J x 1 "
        "(vis[:, None]).",
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
