"""Exercises of lesson 08, the skeleton and the camera (written directly, not generated).

The references live here, written out, not taken from minipose.camera: the lesson never prints either answer.
"""
from __future__ import annotations

import math

import numpy as np

from minipose.exercises import Exercise, Mistake, Question, call


def _vector(got, what: str) -> np.ndarray:
    if got is None:
        raise Mistake(f"your function returned None: return {what}")
    try:
        if hasattr(got, "detach"):  # a torch tensor
            got = got.detach().cpu()
        got = np.asarray(got, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        raise Mistake(f"return {what} as numbers; you returned {type(got).__name__}") from None
    return got


def _number(got, what: str) -> float:
    got = _vector(got, what)
    if got.size != 1:
        raise Mistake(f"return {what} as one number; yours has {got.size}")
    return float(got[0])


# --- 08.1: where is the camera? ---------------------------------------------------------------------------------

def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """A rotation matrix from three angles in degrees (z, then y, then x), written out."""
    a, b, c = (math.radians(v) for v in (yaw, pitch, roll))
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rx = np.array([[1, 0, 0], [0, math.cos(c), -math.sin(c)], [0, math.sin(c), math.cos(c)]])
    return rz @ ry @ rx


# (what, R, t): a camera turned every way first (for the lesson's level camera, R.T @ t and -R @ t are equal, so
# it could not tell those two mistakes apart), the lesson's, another turned one, and one with no turn at all.
_CAMERAS = [
    ("a camera turned 30, -50 and 110 degrees", _rotation(30, -50, 110), np.array([-812.0, 340.5, 5230.0])),
    ("the lesson's level camera", np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]), np.array([0.0, 1500.0, 4500.0])),
    ("a camera turned -140, 20 and -75 degrees", _rotation(-140, 20, -75), np.array([1200.0, -2650.0, 3900.0])),
    ("an unturned camera", np.eye(3), np.array([250.0, -400.0, 3000.0])),
]


def _check_camera_centre(fn) -> str:
    for what, R, t in _CAMERAS:
        got = _vector(call(fn, R.copy(), t.copy()), "the centre")
        if got.size != 3:
            raise Mistake(f"for {what}, return the centre as 3 numbers (x, y, z in world mm); yours has {got.size}")
        want = -np.linalg.solve(R, t)  # the point whose camera coordinates are 0: R X + t = 0
        if np.allclose(got, want, atol=1e-3):
            continue
        if np.allclose(got, -t, atol=1e-3):
            raise Mistake(f"for {what}, you returned -t: t is where the world's origin is seen from the camera, in "
                          "the camera's axes. The centre is the world point X with R @ X + t = 0")
        if np.allclose(got, -R @ t, atol=1e-3):
            raise Mistake(f"for {what}, you multiplied by R: solve R @ X + t = 0, which needs R's inverse, and for a "
                          "rotation that is its transpose, R.T")
        if np.allclose(got, R.T @ t, atol=1e-3) or np.allclose(got, -want, atol=1e-3):
            raise Mistake(f"for {what}, the sign is wrong: from R @ X + t = 0, X = -R.T @ t")
        raise Mistake(f"for {what}, the camera is at {np.round(want, 1).tolist()} in world mm; you return "
                      f"{np.round(got, 1).tolist()}. Check it: world2cam of your point should give (0, 0, 0)")
    return ("The camera's centre in world millimetres, -R.T @ t, for four cameras, three of them turned: where "
            "world2cam gives (0, 0, 0).")


q1 = Exercise(
    "08.1", "where is the camera?", "my_camera_centre", _check_camera_centre,
    refuses=("minipose.camera.cam2world", "minipose.camera.world2cam"),
    hints=[
        "In the camera's own coordinates the lens is at (0, 0, 0). Which world point X does X_cam = R @ X + t send "
        "there?",
        "Solve R @ X + t = 0 for X. R is a rotation, so its inverse is its transpose: X = -R.T @ t.",
    ],
)


# --- 08.2: how far away is she? ---------------------------------------------------------------------------------

# (height mm, height in pixels, f): the exercise's own prediction first; focal lengths that differ between the axes.
_PEOPLE = [(1700.0, 340.0, (1150.0, 1150.0)), (1820.0, 251.0, (1000.0, 1210.0)), (1100.0, 405.5, (1480.0, 1395.0)),
           (1650.0, 96.0, (900.0, 845.0))]


def _check_distance(fn) -> str:
    for height, pixels, f in _PEOPLE:
        got = _number(call(fn, height, pixels, f), "the distance")
        want = f[1] * height / pixels  # y = f Y / Z + c for head and feet; the difference: pixels = f height / Z
        if math.isclose(got, want, rel_tol=1e-6):
            continue
        case = f"a person {height:.0f} mm tall, {pixels:g} pixels in the picture, f = {f}"
        if math.isclose(got, f[1] * pixels / height, rel_tol=1e-6):
            raise Mistake(f"for {case}: you returned f * pixels / height, upside down: the farther the person, the "
                          "fewer the pixels, so Z = f * height / pixels")
        if math.isclose(got, height / pixels, rel_tol=1e-6):
            raise Mistake(f"for {case}: the focal length is missing. From y = f * Y / Z + c for the head and the feet, "
                          "pixels = f * height / Z")
        if math.isclose(got, f[0] * height / pixels, rel_tol=1e-6):
            raise Mistake(f"for {case}: you used f[0], the horizontal focal length; a height is vertical, so f[1]")
        if math.isclose(got, want / 1000.0, rel_tol=1e-6):
            raise Mistake(f"for {case}: that is metres; return millimetres, as everything in this course")
        raise Mistake(f"for {case}, the distance is {want:.0f} mm; you return {got:.1f}")
    return "Z = f[1] * height / pixels, for four people and cameras whose two focal lengths differ."


q2 = Exercise(
    "08.2", "how far away is she?", "my_distance", _check_distance,
    refuses=("minipose.infer.root_depth_prior",),
    hints=[
        "Write y = f[1] * Y / Z + c[1] for the head and for the feet, with the same Z, and subtract the two.",
        "height_px = f[1] * height_mm / Z, so Z = f[1] * height_mm / height_px.",
    ],
)


# --- questions ---------------------------------------------------------------------------------------------------

q3 = Question(
    "08.3", "why is Thorax left out of the evaluation?",
    hints=["Where does the Thorax of a target come from? Look at add_thorax in minipose.skeleton.",
           "If the network's shoulders are right, how good is the midpoint of its two shoulders?"],
    answer="Human3.6M's annotations have 17 joints; Thorax is not one of them. The official loader adds it as the "
           "midpoint of the two shoulders (add_thorax), as it does for COCO, so that the joint sets of the data "
           "sets trained together match (MPII annotates a Thorax), and the network predicts it like any joint. "
           "Scoring it would reward a free answer: its ground truth is nothing "
           "but the mean of two joints that are already scored, so a network gets it right by averaging its own "
           "shoulders, and an error averaged over two joints is smaller. Measured with independent random errors of "
           "the same size on every joint (numpy, 100 000 draws): the midpoint of the two predicted shoulders is off "
           "by 0.71 times a shoulder's error (1 / sqrt 2), so adding it as an 18th joint would lower the mean error "
           "(MPJPE) by 1.6 % without the network getting any better. Leaving it out (EVAL_JOINTS, 17 joints) also "
           "keeps the numbers comparable with every other paper, which all score Human3.6M's own 17 joints.",
)
