"""Exercises of lesson 08, the skeleton and the camera (written directly, not generated).

The lesson builds world -> camera -> pixel and back, with the depth always given. Its exercises ask for what it
does not print: the pixel a world point lands on (predicted first), the floor point a pixel shows when the depth is
*not* given (the ray from the lens through the pixel, cut with the floor z = 0), and a person's distance from
their height in pixels. The references live here, written out, not taken from minipose.camera.
"""
from __future__ import annotations

import math

import numpy as np

from minipose.exercises import Exercise, Mistake, Prediction, Question, call, named_slip


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


# --- 08.0: predict the pixel a world point lands on --------------------------------------------------------------

def _pixel_of(answer) -> tuple[float, float]:
    try:
        values = [float(v) for v in np.asarray(answer, dtype=np.float64).reshape(-1)]
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int too large for a float
        raise Mistake(f"give the pixel as two numbers (x, y); you gave {answer!r:.40}") from None
    if len(values) == 3 and math.isclose(values[2], 4600.0, abs_tol=0.5):
        values = values[:2]  # cam2pixel's form, (x, y, Z), counts too
    if len(values) != 2:
        raise Mistake(f"give the pixel as two numbers (x, y); you gave {len(values)}")
    return values[0], values[1]


def _check_wrist_pixel(answer) -> str:
    got = _pixel_of(answer)
    f, c = 1150.0, 500.0
    # The wrist at world (230, 100, 1040) mm; the level camera's R sends (x, y, z) to (x, -z, y), t = (0, 1500, 4500).
    X, Y, Z = 230.0, -1040.0 + 1500.0, 100.0 + 4500.0  # camera mm: (230, 460, 4600)

    def near(x, y):
        return abs(got[0] - x) < 0.15 and abs(got[1] - y) < 0.15

    if near(f * X / Z + c, f * Y / Z + c):
        return "(557.5, 615.0): the wrist is at camera (230, 460, 4600) mm, and f / Z = 1150 / 4600 = 1/4."
    if near(f * X / Z, f * Y / Z):
        raise Mistake("that is measured from the principal point: add c = (500, 500), the pixel the lens axis "
                      "goes through")
    if near(X, Y):
        raise Mistake("(230, 460) is the wrist in camera millimetres; the pinhole then makes pixels, f * X / Z + c")
    if near(f * 230.0 / 1040.0 + c, f * 100.0 / 1040.0 + c):
        raise Mistake("you projected the world coordinates: first take the wrist into the camera's frame, "
                      "R @ X_world + t, then project (the depth Z is the camera's third coordinate, 4600 mm)")
    if near(f * 230.0 / 5540.0 + c, f * 1600.0 / 5540.0 + c):
        raise Mistake("you added t but did not turn the point with R: R sends world (x, y, z) to (x, -z, y)")
    if near(f * 230.0 / 4400.0 + c, f * 2540.0 / 4400.0 + c):
        raise Mistake("you turned the point with R.T, the inverse rotation: world -> camera is R @ X_world + t")
    if near(f * X / Z + c, c - f * Y / Z):
        raise Mistake("the camera's y points down and so do pixel rows: y = f * Y / Z + c with Y = +460 mm, "
                      "no minus sign")
    if near(f * Y / Z + c, f * X / Z + c):
        raise Mistake("x and y are swapped: x is the column (from the camera's X), y the row (from Y)")
    raise Mistake(f"({got[0]:g}, {got[1]:g}) is not it: take the wrist to the camera's frame (R @ X + t), then "
                  "x = f * X / Z + c and y = f * Y / Z + c")


q0 = Prediction(
    "08.0", "predict the pixel of the wrist", "predicted_pixel", _check_wrist_pixel,
    hints=["Two steps: X_cam = R @ X_world + t (R's rows are (1, 0, 0), (0, 0, -1), (0, 1, 0)), then "
           "x = f * X / Z + c and y = f * Y / Z + c.",
           "The wrist is at camera (230, 460, 4600) mm."],
)


# --- 08.1: where does the ray through a pixel meet the floor? ------------------------------------------------------

def _look_at(eye, target, roll: float = 0.0):
    """R and t of a camera at `eye` (world mm) looking at `target`, turned `roll` degrees about its own axis."""
    eye, target = np.asarray(eye, dtype=np.float64), np.asarray(target, dtype=np.float64)
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)  # right x down = forward: x right, y down, z forward
    a = math.radians(roll)
    spin = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    R = spin @ np.stack([right, down, forward])
    return R, -R @ eye


def _project(point, R, t, f, c) -> np.ndarray:
    """The pinhole, written out: world mm -> pixel (x, y)."""
    cam = R @ np.asarray(point, dtype=np.float64) + t
    return np.array([f[0] * cam[0] / cam[2] + c[0], f[1] * cam[1] / cam[2] + c[1]])


_F, _C = (1145.0, 1143.5), (512.5, 515.0)
_LEVEL = (np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]), np.array([0.0, 1500.0, 4500.0]))
# (what, R, t, floor point): the first cameras look down and are rolled, so every slip below gives another point;
# the lesson's level camera (its centre 1.5 m above the floor) comes after them.
_FLOOR_CASES = [
    ("a camera 1.65 m up, looking down and rolled 7 degrees", *_look_at((-3200, 2100, 1650), (150, -300, 600), 7),
     np.array([412.0, -655.0, 0.0])),
    ("a camera 0.9 m up, rolled -4 degrees", *_look_at((2500, 3800, 900), (-500, 200, 0), -4),
     np.array([-1210.0, 640.0, 0.0])),
    ("the lesson's level camera", *_LEVEL, np.array([300.0, 1200.0, 0.0])),
    ("a camera 2.4 m up, looking steeply down", *_look_at((0, 0, 2400), (1000, 4000, 0)),
     np.array([1380.0, 3310.0, 0.0])),
]


def _floor_from_ray(ray, R, t, inverse) -> np.ndarray:
    """The point where the camera ray `ray` (camera coordinates) meets world z = 0, turning with `inverse`."""
    centre, direction = -inverse @ t, inverse @ ray
    return centre + (-centre[2] / direction[2]) * direction


def _floor_slips(pixel, R, t, f, c, want):
    ray = np.array([(pixel[0] - c[0]) / f[0], (pixel[1] - c[1]) / f[1], 1.0])
    yield R @ want + t, ("that is the floor point in the camera's coordinates; the answer is in the world's: "
                         "X_world = R.T @ (X_cam - t)")
    yield _floor_from_ray(ray, R, t, R), ("you turned with R where the way back needs its inverse R.T: the lens "
                                          "is at -R.T @ t in the world, and a ray's direction turns with R.T")
    yield _floor_from_ray(np.array([pixel[0] / f[0], pixel[1] / f[1], 1.0]), R, t, R.T), (
        "the principal point is missing: the ray through pixel (x, y) is ((x - c_x) / f_x, (y - c_y) / f_y, 1)")
    height = (-R.T @ t)[2]
    yield R.T @ (ray * height / ray[1] - t), (
        "you took the floor as the camera's Y = its height, which holds only for a level camera; this one looks "
        "down: find where the ray's *world* z reaches 0")
    direction = R.T @ ray
    yield -t + (t[2] / direction[2]) * direction, (
        "the ray starts at -t, but t is where the world's origin sits in the camera's frame; the lens is the "
        "world point with R @ X + t = 0")


def _check_floor_point(fn) -> str:
    for what, R, t, want in _FLOOR_CASES:
        pixel = _project(want, R, t, _F, _C)
        got = _vector(call(fn, pixel.copy(), R.copy(), t.copy(), _F, _C), "the floor point")
        if got.size != 3:
            raise Mistake(f"for {what}, return the point as 3 numbers (x, y, z in world mm); yours has {got.size}")
        if np.allclose(got, want, atol=0.05):
            continue
        for wrong, message in _floor_slips(pixel, R, t, _F, _C, want):
            if np.allclose(got, wrong, atol=0.05):
                raise Mistake(f"for {what}, {message}")
        if abs(got[2]) > 0.05:
            raise Mistake(f"for {what}, your point has world z = {got[2]:.1f} mm: it is not on the floor (z = 0). "
                          "Walk along the ray from the lens until its world z is 0")
        raise Mistake(f"for {what}, pixel ({pixel[0]:.1f}, {pixel[1]:.1f}) shows the floor at "
                      f"{np.round(want, 1).tolist()}; you return {np.round(got, 1).tolist()}. Project your point "
                      "back (R @ X + t, then f * X / Z + c): it should land on the pixel")
    return ("The ray through the pixel, from the lens (-R.T @ t) along R.T @ ((x - c) / f, 1), meets z = 0 at the "
            "right point for four cameras, three of them looking down, two rolled.")


q1 = Exercise(
    "08.1", "where does a pixel meet the floor?", "my_floor_point", _check_floor_point,
    refuses=("minipose.camera.cam2world", "minipose.camera.pixel2cam", "minipose.camera.world2cam"),
    hints=[
        "The points a pixel can show form a ray from the lens: in camera coordinates, Z times "
        "((x - c_x) / f_x, (y - c_y) / f_y, 1) for every depth Z > 0. Take the lens and that direction to the world.",
        "The lens is the world point with R @ X + t = 0, so -R.T @ t; a direction turns with R.T and is not "
        "shifted. Then choose the length s with centre[2] + s * direction[2] = 0.",
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
        named_slip(got, [
            (f[1] * pixels / height, (f"for {case}: you returned f * pixels / height, upside down: the farther the "
                                      "person, the fewer the pixels, so Z = f * height / pixels")),
            (height / pixels, (f"for {case}: the focal length is missing. From y = f * Y / Z + c for the head and the "
                               "feet, pixels = f * height / Z")),
            (f[0] * height / pixels, (f"for {case}: you used f[0], the horizontal focal length; a height is "
                                      "vertical, so f[1]")),
            (want / 1000.0, f"for {case}: that is metres; return millimetres, as everything in this course"),
        ], rel=1e-6, abs_tol=0.0)
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
