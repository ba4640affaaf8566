"""Exercises of lesson 12, from heatmaps to millimetres (written directly, not generated)."""
from __future__ import annotations

import dataclasses

import numpy as np

from minipose.camera import pixel2cam
from minipose.config import Config
from minipose.exercises import Exercise, Mistake, Question, call
from minipose.infer import bins_to_mm


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

# --- 12.1: depth bins to millimetres ---------------------------------------------------------------------------------

_BIN_CONFIGS = [  # (what, config)
    ("the cpu preset (16 bins, a 2000 mm box)", Config(depth_dim=16)),
    ("the paper (64 bins, a 2000 mm box)", Config()),
    ("64 bins and a 3000 mm box", dataclasses.replace(Config(), bbox_3d_shape=(3000, 3000, 3000))),
]


def _check_bins_to_mm(fn) -> str:
    for what, config in _BIN_CONFIGS:
        d, b = config.depth_dim, float(config.bbox_3d_shape[0])
        z = np.array([0.0, d / 2, d, 0.3 * d, 0.85 * d, 1.0])
        want = bins_to_mm(z, config)
        got = _array(call(fn, z.copy(), config), z.shape, "one depth in mm per bin value")
        if _close(got, want):
            continue
        where = f"with {what}"
        wrong = [
            ((z / (d - 1) - 0.5) * b, "you divided by depth_dim - 1: divide by depth_dim. The bins cut the box into "
                                      "depth_dim equal parts, so z = depth_dim is the box's far face"),
            (z / d * b, "your depths start at 0 at the box's near face: subtract half the box, so that the middle "
                        "bin, z = depth_dim / 2, is the root (0 mm)"),
            ((0.5 - z / d) * b, "your depths have the wrong sign: bin 0 is the near face, nearer the camera than the "
                                "root, so it is at -half the box (depth grows away from the camera)"),
            ((z / d - 0.5) * b / 2, "your depths span half the box: bbox_3d_shape[0] is the whole depth of the box, "
                                    "from -half of it to +half"),
            ((z / 64 - 0.5) * b, "you divided by 64, the paper's depth_dim: take config.depth_dim"),
            ((z / d - 0.5) * 2000.0, "you used 2000 mm: take the box's depth from config.bbox_3d_shape[0]"),
        ]
        for value, sentence in wrong:
            if _close(got, value):
                raise Mistake(f"{where}: {sentence}")
        raise Mistake(f"{where}, bins {z.tolist()} are {np.round(want, 1).tolist()} mm from the root; you return "
                      f"{np.round(got, 1).tolist()}")
    return ("Bins 0, the middle and depth_dim map to -half the box, 0 and +half, with 16 and 64 bins and a 2000 or "
            "3000 mm box, as minipose.infer.bins_to_mm does.")


q1 = Exercise(
    "12.1", "depth bins to millimetres", "my_bins_to_mm", _check_bins_to_mm,
    refuses=("minipose.infer.bins_to_mm", "minipose.infer.output_to_camera"),
    hints=[
        "z / config.depth_dim is the fraction of the box's depth, 0 at the near face, 1 at the far face. The root is "
        "in the middle.",
        "(z / config.depth_dim - 0.5) * config.bbox_3d_shape[0]; the official code writes it (z / depth_dim * 2 - 1) "
        "* (bbox_3d_shape[0] / 2).",
    ],
)

# --- 12.2: one joint back into the camera's space --------------------------------------------------------------------

_CAMERAS = [((1150.0, 1100.0), (500.0, 400.0)), ((1500.0, 1450.0), (320.0, 250.0))]
_JOINTS = [(612.5, 287.0, 4200.0), (100.0, 900.0, 6500.0)]


def _check_pixel_to_camera(fn) -> str:
    for f, c in _CAMERAS:
        for x, y, depth in _JOINTS:
            want = pixel2cam(np.array([[x, y, depth]]), f, c)[0]
            got = _array(call(fn, x, y, depth, f, c), (3,), "(X, Y, Z)")
            if _close(got, want, 1e-6):
                continue
            where = f"for pixel ({x}, {y}) at {depth} mm, f = {f}, c = {c}"
            wrong = [
                ((x / f[0] * depth, y / f[1] * depth, depth),
                 "you forgot the principal point: the pixel is measured from c, X = (x - cx) / fx * Z"),
                (((x - c[0]) * f[0] * depth, (y - c[1]) * f[1] * depth, depth),
                 "you multiplied by the focal length: x = fx X / Z + cx solved for X divides by fx"),
                (((x - c[0]) / f[0] / depth, (y - c[1]) / f[1] / depth, depth),
                 "you divided by the depth: a pixel further away covers more millimetres, so multiply by Z"),
                (((x - c[1]) / f[1] * depth, (y - c[0]) / f[0] * depth, depth),
                 "x goes with fx and cx, y with fy and cy: you swapped them"),
                (((x - c[0]) / f[0] * depth, (y - c[1]) / f[0] * depth, depth),
                 "you used fx for y too: y goes with fy"),
                (((x - c[0]) / f[0], (y - c[1]) / f[1], 1.0),
                 "you returned the direction at Z = 1: scale it by the depth (X, Y, Z all times Z)"),
            ]
            for value, sentence in wrong:
                if _close(got, value, 1e-6):
                    raise Mistake(f"{where}: {sentence}")
            raise Mistake(f"{where} the joint is at {np.round(want, 2).tolist()} mm; you return "
                          f"{np.round(got, 2).tolist()}")
    return "Matches minipose.camera.pixel2cam for two cameras (fx != fy) and two joints: X = (x - cx) / fx * Z."


q2 = Exercise(
    "12.2", "one joint back into the camera's space", "my_pixel_to_camera", _check_pixel_to_camera,
    refuses=("minipose.camera.pixel2cam", "minipose.infer.output_to_camera"),
    hints=[
        "The pinhole camera projects x = fx * X / Z + cx and y = fy * Y / Z + cy. Solve each for X and Y; Z is the "
        "depth you were given.",
        "X = (x - c[0]) / f[0] * depth, Y = (y - c[1]) / f[1] * depth, Z = depth.",
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
