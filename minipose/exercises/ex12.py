"""Exercises of lesson 12, from heatmaps to millimetres (written directly, not generated).

The lesson walks the network's answer back: heatmap cells to picture pixels, depth bins to millimetres, pixels and
depth to the camera's space. Its exercises ask for what it does not print: the depth target of a joint in front of
the root (predicted first), how far a joint's depth distribution spreads in millimetres (a spread takes the bins'
scale but not their offset), and the way forward, a joint in camera millimetres onto the heatmap's cells. The
references live here, written out, not taken from minipose.infer or minipose.camera.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from minipose.config import Config
from minipose.exercises import Exercise, Mistake, Prediction, Question, call, named_slip, read_number


def _array(got, shape, what: str) -> np.ndarray:
    try:
        if hasattr(got, "detach"):  # a torch tensor, maybe on a GPU or needing grad
            got = got.detach().cpu()
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):
        raise Mistake(f"return {what} as numbers; you returned {type(got).__name__}") from None
    if got.shape != tuple(shape):
        raise Mistake(f"return {what} shaped {tuple(shape)}; yours is shaped {got.shape}")
    return got


def _close(a, b, tol=1e-6) -> bool:
    """Equal up to float32 rounding (a relative 1e-5), or `tol` mm near zero."""
    return np.allclose(a, b, rtol=1e-5, atol=tol)


# --- 12.0: predict a joint's depth target, in bins -------------------------------------------------------------------

def _check_depth_bin(answer) -> str:
    got = read_number(answer, "bins", "7.25")
    bins, box, ahead = 16, 2000.0, -300.0  # this lesson's network; 300 mm in front of the root (nearer the camera)
    per_bin = box / bins  # 125 mm
    want = (ahead + box / 2) / per_bin  # millimetres from the box's near face, in bins
    if abs(got - want) <= 0.01:
        return ("5.6: bin 0 is the box's near face, 1000 mm in front of the root, so the joint is 700 mm behind it, "
                "700 / 125 mm per bin = 5.6. Back to mm: 5.6 x 125 - 1000 = -300.")
    named_slip(got, [
        ((-ahead + box / 2) / per_bin, "10.4 is 300 mm *behind* the root: depth grows away from the camera, and bin 0 "
                                       "is the near face, so a joint in front of the root has a bin below 8"),
        (-ahead / per_bin, "300 / 125 = 2.4 counts from bin 0 as if it were the root; bin 0 is the box's near face, "
                           "1000 mm in front of the root, and the root sits in the middle, at bin 8"),
        ((ahead / box + 0.5), "0.35 is the fraction of the box's depth: times depth_dim = 16 for bins"),
        ((ahead + box / 2) / (box / 64), "22.4 would be with the paper's 64 bins; this lesson's network has 16"),
        (5.0, "the target is not rounded to a bin: PoseNet's targets and soft-argmax's answers are fractional bins"),
        (6.0, "the target is not rounded to a bin: PoseNet's targets and soft-argmax's answers are fractional bins"),
        (bins / 2, "8 is the root's own bin, the middle of the box; the joint is 300 mm nearer the camera"),
    ], rel=0, abs_tol=0.01)
    raise Mistake(f"{got:g} is not it: how many millimetres is the joint behind the box's near face (1000 mm in "
                  "front of the root), and how many millimetres is one bin?")


q0 = Prediction(
    "12.0", "predict a joint's depth target in bins", "depth_bin", _check_depth_bin,
    hints=["16 bins cut 2000 mm: one bin is 125 mm. Bin 0 is 1000 mm in front of the root, bin 16 1000 mm behind.",
           "In front of the root means nearer the camera: count the millimetres from the near face, then bins."],
)


# --- 12.1: a joint's depth and its spread, in millimetres ------------------------------------------------------------

_SPREAD_CONFIGS = [  # (what, config)
    ("the cpu preset (16 bins, a 2000 mm box)", Config(depth_dim=16)),
    ("the paper (64 bins, a 2000 mm box)", Config()),
    ("64 bins and a 3000 mm box", dataclasses.replace(Config(), bbox_3d_shape=(3000, 3000, 3000))),
]


def _spread_weights(depth_dim: int, seed: int) -> np.ndarray:
    """A lopsided bump over the bins, plus a little everywhere, scaled so that it does not sum to 1."""
    rng = np.random.default_rng(seed)
    k = np.arange(depth_dim)
    centre, width = rng.uniform(0.3, 0.7) * depth_dim, rng.uniform(0.06, 0.15) * depth_dim
    bump = np.exp(-0.5 * ((k - centre) / width) ** 2) * np.where(k > centre, 1.0, 0.4)
    return (bump + 0.01 * rng.random(depth_dim)) * 3.7


def _moments(w, depth_dim: int, box: float, centres: float = 0.0, step=None, about=None, normalise=True):
    """(mean, std) in mm of weights w over bins read as k + centres, written out in float64.

    The defaults are the answer; the arguments make the realistic mistakes: `step` mm per bin, the spread measured
    `about` a fixed bin, the weights not normalised."""
    w = np.asarray(w, dtype=np.float64)
    k = np.arange(depth_dim) + centres
    total = w.sum() if normalise else 1.0
    mean = float((w * k).sum() / total)
    std = math.sqrt(float((w * (k - (mean if about is None else about)) ** 2).sum() / total))
    step = box / depth_dim if step is None else step
    return mean * step - box / 2, std * step


def _check_depth_spread(fn) -> str:
    for seed, (what, config) in enumerate(_SPREAD_CONFIGS):
        d, b = config.depth_dim, float(config.bbox_3d_shape[0])
        w = _spread_weights(d, seed)
        want = _moments(w, d, b)
        got = _array(call(fn, w.copy(), config), (2,), "(depth, spread), two numbers")
        if _close(got, want, 1e-3):
            continue
        mean_bins, std_bins = want[0] / (b / d) + d / 2, want[1] / (b / d)
        where = f"with {what}"
        for value, sentence in [
            ((want[0], want[1] - b / 2), "your spread has the offset -half the box too: a spread is a difference of "
                                         "depths, so it takes the mm per bin but not the shift to the root"),
            ((want[0], want[1] ** 2), "you returned the variance (mm squared): the spread is its square root"),
            ((want[0], std_bins), "your spread is in bins: times bbox_3d_shape[0] / depth_dim mm per bin"),
            ((mean_bins, want[1]), "your depth is in bins: (z / depth_dim - 0.5) * bbox_3d_shape[0] for mm"),
            ((want[1], want[0]), "you returned (spread, depth): return (depth, spread)"),
            ((-want[0], want[1]), "your depth has the wrong sign: bin 0 is the near face, in front of the root, "
                                  "at -half the box"),
            (_moments(w, d, b, centres=0.5), "you read bin k as k + 0.5, its centre: soft-argmax averages the "
                                             "indices 0 ... depth_dim - 1, and bins_to_mm reads those"),
            (_moments(w, d, b, step=b / (d - 1)), "you divided by depth_dim - 1: one bin is bbox_3d_shape[0] / "
                                                  "depth_dim mm"),
            (_moments(w, d, b, about=d / 2), "you measured the spread about the root's bin (depth_dim / 2); "
                                             "measure it about the mean depth"),
        ]:
            if _close(got, value, 1e-3):
                raise Mistake(f"{where}: {sentence}")
        if _close(got[0], _moments(w, d, b, normalise=False)[0], 1e-3):
            raise Mistake(f"{where}: your weights were not normalised (these sum to {w.sum():.2f}): divide by "
                          "their sum before you average, as soft-argmax's softmax does")
        raise Mistake(f"{where}, the depth is {want[0]:.1f} mm and the spread {want[1]:.1f} mm; you return "
                      f"({got[0]:.1f}, {got[1]:.1f})")
    return ("Depth and spread of three lopsided distributions (16 and 64 bins, 2000 and 3000 mm boxes, weights not "
            "summing to 1): the mean moves with the bins' offset and scale, the spread with the scale alone.")


q1 = Exercise(
    "12.1", "a joint's depth and its spread, in millimetres", "my_depth_spread", _check_depth_spread,
    refuses=("minipose.infer.bins_to_mm", "minipose.integral.soft_argmax", "minipose.fast.soft_argmax_fast"),
    hints=[
        "Normalise the weights, p = w / w.sum(). Over the bin indices k = 0 ... depth_dim - 1 the mean is sum(p k) "
        "and the standard deviation sqrt(sum(p (k - mean)^2)), both in bins.",
        "One bin is bbox_3d_shape[0] / depth_dim mm. The depth is mean * that - bbox_3d_shape[0] / 2 (as "
        "bins_to_mm); the spread is std * that, with no offset: shifting every depth does not change how far apart "
        "they are.",
    ],
)


# --- 12.2: from camera millimetres onto the heatmap's cells ----------------------------------------------------------

_CELL_CASES = [  # (what, config, f, c): principal points off the middle, fx != fy
    ("the cpu preset (64 x 64 crops, 16 x 16 cells)", Config(input_shape=(64, 64)), (1145.0, 1144.0), (512.5, 515.4)),
    ("the paper (256 x 256 crops, 64 x 64 cells)", Config(), (1500.0, 1450.0), (300.0, 260.0)),
    ("256 x 192 crops (64 x 48 cells)", Config(input_shape=(256, 192)), (1166.97, 1125.46), (500.0, 500.0)),
]


def _cells_case(config: Config, f, c, seed: int):
    """A person in camera mm and a box around their picture, at the crop's aspect ratio (as process_bbox makes)."""
    rng = np.random.default_rng(seed)
    root = np.array([rng.uniform(-600, 600), rng.uniform(-200, 200), rng.uniform(3500, 6500)])
    joints = root + rng.uniform(-700, 700, size=(18, 3))
    x, y = f[0] * joints[:, 0] / joints[:, 2] + c[0], f[1] * joints[:, 1] / joints[:, 2] + c[1]
    h = 1.25 * max(np.ptp(y), np.ptp(x) * config.input_shape[0] / config.input_shape[1])
    w = h * config.input_shape[1] / config.input_shape[0]
    bbox = [x.mean() - w / 2 + rng.uniform(-20, 20), y.mean() - h / 2 + rng.uniform(-20, 20), w, h]
    return joints, [float(v) for v in bbox]


def _cells(joints, bbox, f, c, shape, fy=None, cx=None, cy=None, depth=True, corner=(0.0, 0.0)):
    """Pinhole, then box -> cells, in float64; `shape` is (cells down, cells across). The keywords make mistakes."""
    X, Y, Z = (np.asarray(joints, dtype=np.float64)[:, i] for i in range(3))
    Z = Z if depth else np.ones_like(Z)
    x = f[0] * X / Z + (c[0] if cx is None else cx)
    y = (f[1] if fy is None else fy) * Y / Z + (c[1] if cy is None else cy)
    return np.column_stack([(x - bbox[0] - corner[0] * bbox[2]) / bbox[2] * shape[1],
                            (y - bbox[1] - corner[1] * bbox[3]) / bbox[3] * shape[0]])


def _check_camera_to_cells(fn) -> str:
    for seed, (what, config, f, c) in enumerate(_CELL_CASES):
        joints, bbox = _cells_case(config, f, c, seed)
        out = config.output_shape
        want = _cells(joints, bbox, f, c, out)
        got = _array(call(fn, joints.copy(), list(bbox), f, c, config), want.shape,
                     "one (x, y) in cells per joint, J x 2")
        if _close(got, want, 1e-4):
            continue
        where = f"with {what}, f = {f}, c = {c}"
        for value, sentence in [
            (_cells(joints, bbox, f, c, config.input_shape), "those are crop pixels: the heatmap has output_shape "
                                                             "cells, input_shape / 4, across the same box"),
            (_cells(joints, bbox, f, c, out, cx=0.0, cy=0.0), "you forgot the principal point: the pinhole is x = "
                                                              "fx X / Z + cx"),
            (_cells(joints, bbox, f, c, out, corner=(0.5, 0.5)), "your cells are counted from the box's centre: "
                                                                 "cell 0 is the box's left (top) edge, bbox[0]"),
            (_cells(joints, bbox, f, c, out[::-1]), "x has output width cells across the box, y output height: "
                                                    "you swapped them"),
            (_cells(joints, bbox, f, c, out, fy=f[0]), "you used fx for y too: y goes with fy"),
            (_cells(joints, bbox, f, c, out, cx=c[1], cy=c[0]), "x goes with cx, y with cy: you swapped them"),
            (_cells(joints, bbox, f, c, out, depth=False), "you did not divide by Z: the pinhole is x = fx X / Z + cx"),
            (_cells(joints, [0.0, 0.0, bbox[2], bbox[3]], f, c, out), "you forgot the box's corner: subtract "
                                                                      "bbox[0] and bbox[1] before you scale"),
            (want[:, ::-1], "your columns are (y, x): return (x, y)"),
        ]:
            if _close(got, value, 1e-4):
                raise Mistake(f"{where}: {sentence}")
        k = int(np.abs(got - want).max(axis=1).argmax())
        raise Mistake(f"{where}, joint {k} is at cell ({want[k, 0]:.3f}, {want[k, 1]:.3f}); yours is "
                      f"({got[k, 0]:.3f}, {got[k, 1]:.3f})")
    return ("The cells the crop's inverse would take back to each joint's pixel, for three cameras (principal points "
            "off the middle, fx != fy) and square and 256 x 192 crops.")


q2 = Exercise(
    "12.2", "from camera millimetres onto the heatmap's cells", "my_camera_to_cells", _check_camera_to_cells,
    refuses=("minipose.camera.cam2pixel", "minipose.infer.crop_to_image", "minipose.data.crop_affine",
             "minipose.data.gen_trans_from_patch", "minipose.data.affine_points", "minipose.data.joints_to_target"),
    hints=[
        "Two steps: the pinhole (lesson 08) takes X, Y, Z to the pixel x = fx X / Z + cx, y = fy Y / Z + cy. Then "
        "the official formula above, x_pixel = x_cell / output_width * box_width + box_x, solved for x_cell.",
        "x_cell = (x - bbox[0]) / bbox[2] * config.output_shape[1], y_cell = (y - bbox[1]) / bbox[3] * "
        "config.output_shape[0].",
    ],
)

# --- questions -------------------------------------------------------------------------------------------------------

q3 = Question(
    "12.3", "why the flip test helps",
    hints=["The mirrored crop is a picture the network has also been trained on (the cpu preset mirrors half of each "
           "batch). Are its errors the same as the original's?"],
    answer=("The two answers come from two different pictures, so their errors are partly independent, and the mean "
            "of two partly independent guesses is closer on average than either (the variance falls). It helps most "
            "where the network is least sure: on the shipped weights the ankles and knees gain most (the right ankle "
            "226 -> 202 mm on the sample), the wrists a few mm, depth hardly at all. The official code undoes the "
            "mirror with output_width - 1 - x, 0.75 cell off the exact (W - 1) / s - x; averaged, that is a 0.375 cell "
            "bias in x on perfect answers, though on our trained network it moves MPJPE by only 0.1-0.2 mm."),
)

q4 = Question(
    "12.4", "where RootNet's prior fails",
    hints=["k assumes the box covers a 2 m by 2 m square. Whose box covers less of one, and whose more?"],
    answer=("k = sqrt(fx fy A_real / A_img) takes every box for 2 m x 2 m of real space. The box it sees is the "
            "enlarged one (x 1.2 when annotated, x 1.25 by process_bbox, made square for a square crop), so its larger "
            "side is about 1.5 x the joints' larger extent. A standing adult (joints spanning about 1.5 m, so a box "
            "over 2 m) is placed somewhat too near; someone sitting or "
            "crouching (0.9-1.2 m) fills much less and is placed too far; a child too. A box cut by the picture's "
            "edge is smaller than the person: too far again. RootNet learns a correction factor from the picture "
            "for exactly these."),
)
