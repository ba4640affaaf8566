"""Exercises of lesson 10, inference and evaluation (written directly, not generated)."""
from __future__ import annotations

import dataclasses

import numpy as np

from minipose.camera import pixel2cam
from minipose.config import Config
from minipose.exercises import Exercise, Mistake, Question, call
from minipose.infer import bins_to_mm
from minipose.metrics import mpjpe, rigid_align


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


# --- 10.1: depth bins to millimetres ---------------------------------------------------------------------------------

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
    "10.1", "depth bins to millimetres", "my_bins_to_mm", _check_bins_to_mm,
    hints=[
        "z / config.depth_dim is the fraction of the box's depth, 0 at the near face, 1 at the far face. The root is "
        "in the middle.",
        "(z / config.depth_dim - 0.5) * config.bbox_3d_shape[0]; the official code writes it (z / depth_dim * 2 - 1) "
        "* (bbox_3d_shape[0] / 2).",
    ],
)


# --- 10.2: MPJPE by hand ---------------------------------------------------------------------------------------------

def _poses(seed: int, n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true = rng.normal(0.0, 300.0, (n, 18, 3)) + [0.0, 0.0, 5000.0]
    pred = true + rng.normal(0.0, 60.0, (n, 18, 3))
    pred[:, 17] += [400.0, 0.0, 0.0]  # a wrong thorax, which must not count
    pred += rng.normal(0.0, 500.0, (n, 1, 3))  # each person shifted: only root alignment forgives it
    return pred, true


def _check_mpjpe(fn) -> str:
    for seed in (1001, 1002):
        pred, true = _poses(seed)
        want = mpjpe(pred, true)
        got = call(fn, pred.copy(), true.copy())
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise Mistake(f"return one number, the mean error in mm; you returned {got!r:.60}") from None
        if _close(got, want):
            continue
        p0, t0 = pred - pred[:, :1], true - true[:, :1]
        dist = np.linalg.norm(p0 - t0, axis=2)
        wrong = [
            (np.linalg.norm(pred - true, axis=2)[:, :17].mean(),
             "you did not align the roots: subtract each pose's pelvis (joint 0) from all its joints, in both poses, "
             "before comparing; MPJPE measures the pose, not where the person stands"),
            (np.linalg.norm(p0 - true, axis=2)[:, :17].mean(),
             "you moved only the prediction's pelvis to 0: do the same to the true pose"),
            (dist.mean(), "you averaged over all 18 joints: thorax (joint 17) is added by the loader and is not one "
                          "of the 17 evaluation joints; use joints 0-16"),
            ((dist[:, :17] ** 2).mean(), "you averaged squared distances: MPJPE averages the distances themselves "
                                         "(mm, not mm^2)"),
            (np.sqrt((dist[:, :17] ** 2).mean()), "you took the root of the mean squared distance (RMS): MPJPE is "
                                                  "the plain mean of the distances"),
            (np.abs(p0 - t0)[:, :17].mean(), "you averaged |dx|, |dy|, |dz| separately: each joint's error is one "
                                             "Euclidean distance, sqrt(dx^2 + dy^2 + dz^2)"),
            (dist[:, :17].sum(axis=1).mean(), "you summed over the joints: average over them too"),
            (dist[:, 1:17].mean(), "you left out the pelvis: the 17 evaluation joints are 0-16, the pelvis among "
                                   "them (its error is 0 after alignment, and it still counts)"),
        ]
        for value, sentence in wrong:
            if _close(got, value):
                raise Mistake(sentence)
        raise Mistake(f"for 5 people (seed {seed}) MPJPE is {want:.3f} mm; you return {got:.3f}")
    return ("Matches minipose.metrics.mpjpe on people shifted in space and with a wrong thorax: root-aligned, the "
            "Euclidean distance of joints 0-16, averaged.")


q2 = Exercise(
    "10.2", "MPJPE by hand", "my_mpjpe", _check_mpjpe,
    hints=[
        "Three steps: subtract each pose's joint 0 from all its joints (both arrays); the distance per joint is the "
        "norm over the last axis; average over people and joints 0-16.",
        "pred - pred[:, :1] keeps the joint axis, so it broadcasts; np.sqrt(((a - b) ** 2).sum(axis=2)) is N x 18; "
        "then [:, :17].mean().",
    ],
)


# --- 10.3: one joint back into the camera's space --------------------------------------------------------------------

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


q3 = Exercise(
    "10.3", "one joint back into the camera's space", "my_pixel_to_camera", _check_pixel_to_camera,
    hints=[
        "The pinhole camera projects x = fx * X / Z + cx and y = fy * Y / Z + cy. Solve each for X and Y; Z is the "
        "depth you were given.",
        "X = (x - c[0]) / f[0] * depth, Y = (y - c[1]) / f[1] * depth, Z = depth.",
    ],
)


# --- 10.4: Procrustes alignment --------------------------------------------------------------------------------------

def _turn(axis, degrees):
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    a = np.radians(degrees)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K  # Rodrigues


def _pair(seed: int, mirror: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pred = rng.normal(0.0, 300.0, (18, 3))
    R = _turn(rng.normal(size=3), 50.0)
    true = pred @ R.T + [120.0, -40.0, 300.0] + rng.normal(0.0, 20.0, (18, 3))
    if mirror:  # the truth is a mirror image: the best rotation still must not mirror
        true = true * [-1.0, 1.0, 1.0]
    return pred, true


def _check_rigid_align(fn) -> str:
    for seed, mirror in ((2001, False), (2002, False), (2003, True)):
        pred, true = _pair(seed, mirror)
        want = rigid_align(pred, true)
        got = _array(call(fn, pred.copy(), true.copy()), pred.shape, "the aligned pose (J x 3, like pred)")
        if _close(got, want, 1e-3):
            continue
        p, t = pred - pred.mean(0), true - true.mean(0)
        U, S, Vt = np.linalg.svd(t.T @ p)
        mirrored = p @ (U @ Vt).T + true.mean(0)
        moved = got - got.mean(0)
        fit, _, _, _ = np.linalg.lstsq(p, moved, rcond=None)  # got ≈ p @ fit: the linear map the answer applied
        wrong = [
            (mirrored, "your answer is a mirror image of pred (its 'rotation' has determinant -1). When "
                       "det(U @ Vt) < 0, flip the sign of the singular vector of the smallest singular value"),
            (p @ (U @ Vt) + true.mean(0), "you applied the rotation the wrong way round (its transpose): with "
                                          "svd(t.T @ p) = U S Vt, R = U @ Vt and the points move as p @ R.T"),
            (p @ (U @ Vt).T, "your pose sits at the origin: after rotating the centred pred, add true's centroid"),
            (rigid_align(pred, true, scale=True), "you also scaled the pose: the official PA-MPJPE only rotates and "
                                                  "translates (a similarity alignment with scale is the other one)"),
        ]
        if not mirror:
            U0, _, Vt0 = np.linalg.svd(true.T @ pred)
            wrong.append((pred @ (U0 @ Vt0).T, "you took the SVD of the raw points: centre both point sets (subtract "
                                               "each one's mean) first, then add true's mean back"))
        for value, sentence in wrong:
            if _close(got, value, 1e-3):
                raise Mistake(sentence)
        if np.allclose(fit.T @ fit, np.eye(3), atol=1e-3) and np.linalg.det(fit) < 0:
            raise Mistake("your answer is a reflection (determinant -1), not a rotation, for "
                          + ("a truth that is a mirror image of pred" if mirror else "a pair that needs no mirror")
                          + ": flip the sign of the smallest singular value's vector only when det(U @ Vt) < 0, "
                          "and then only that one")
        case = "a truth that is a mirror image of pred" if mirror else "a turned, shifted, noisy copy of pred"
        error = np.linalg.norm(got - want, axis=1).max()
        raise Mistake(f"for {case} (seed {seed}), your aligned pose is up to {error:.1f} mm from the best rigid fit")
    return ("Matches minipose.metrics.rigid_align on turned and shifted poses and on a mirror image, where the "
            "answer stays a rotation.")


q4 = Exercise(
    "10.4", "Procrustes alignment", "my_rigid_align", _check_rigid_align,
    hints=[
        "Centre both: p = pred - pred.mean(0), t = true - true.mean(0). U, S, Vt = np.linalg.svd(t.T @ p); the "
        "rotation is R = U @ Vt, applied as p @ R.T; add true.mean(0) back.",
        "If np.linalg.det(U @ Vt) < 0 the fit would mirror the pose: negate the last column of U (the smallest "
        "singular value's direction) before building R.",
    ],
)


# --- questions -------------------------------------------------------------------------------------------------------

q5 = Question(
    "10.5", "why the flip test helps",
    hints=["The mirrored crop is a picture the network has also been trained on (the cpu preset mirrors half of each "
           "batch). Are its errors the same as the original's?"],
    answer=("The two answers come from two different pictures, so their errors are partly independent, and the mean "
            "of two partly independent guesses is closer on average than either (the variance falls). It helps most "
            "where the network is least sure: on the shipped weights the ankles and knees gain most (the right ankle "
            "226 -> 202 mm on the sample), the wrists a few mm, depth hardly at all. The official code undoes the "
            "mirror with output_width - 1 - x, 0.75 cell off the exact (W - 1) / s - x; averaged, that is a 0.375 cell "
            "bias in x on perfect answers, though on our trained network it moves MPJPE by only 0.1-0.2 mm."),
)

q6 = Question(
    "10.6", "where RootNet's prior fails",
    hints=["k assumes the box covers a 2 m by 2 m square. Whose box covers less of one, and whose more?"],
    answer=("k = sqrt(fx fy A_real / A_img) takes every box for 2 m x 2 m of real space. The box it sees is the "
            "enlarged one (x 1.25, made square for a square crop), so its larger side is 1.25 x the person's larger "
            "extent. A standing adult (about 1.7 m, so a 2.1 m box) is placed somewhat too near; someone sitting or "
            "crouching (0.9-1.2 m) fills much less and is placed too far; a child too. A box cut by the picture's "
            "edge is smaller than the person: too far again. RootNet learns a correction factor from the picture "
            "for exactly these."),
)
