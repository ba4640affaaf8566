"""Exercises of lesson 10, augmentation and the dataset (written directly, not generated).

The lesson mirrors the picture with the crop's affine and renames the joints. Its exercises ask for what it does
not print: where a picture point lands in the flipped crop (predicted first), the mirrored person in the camera's
millimetres (the pinhole camera's principal point is not the picture's middle), and the scale, rotation and flip
read back from a crop's affine. The references live here, written out, not taken from minipose.data.
"""
from __future__ import annotations

import math

import numpy as np

from minipose.data import crop_affine
from minipose.exercises import Exercise, Mistake, Prediction, Question, call, named_slip, read_number
from minipose.exercises.ex09 import _as_array  # the same reading of an answer as lesson 09's checks
from minipose.skeleton import FLIP_PAIRS, JOINTS_NAME


# --- 10.0: predict where a picture point lands in the flipped crop -----------------------------------------------

def _check_flipped_column(answer) -> str:
    x = read_number(answer, "crop pixels", "100")
    in_w, u = 256, 64.0  # the crop's width; the point's column in the unflipped crop
    # crop_affine(do_flip=True) mirrors the picture, x -> W - 1 - x, and the box's centre with it; the box centre
    # still lands on crop column in_w / 2, so the point's offset from it, u - in_w / 2, changes sign.
    want = in_w / 2 - (u - in_w / 2)
    if math.isclose(x, want, abs_tol=0.01):
        return ("192: the mirror takes the box's centre along, which still lands on crop column 128, and turns "
                "the point's offset from it, -64, into +64. Without rotation a flipped crop is u -> 256 - u.")
    in_cells = "that is in heatmap cells (crop pixels / 4); the question asks for the crop pixel column"
    named_slip(x, [
        (in_w - 1 - u, ("191 would be the crop's own columns mirrored (u -> 255 - u), as flipping the crop's pixels "
                        "does. crop_affine mirrors the picture about its middle and the box with it; the box's "
                        "centre still goes to crop column 128, so only the sign of the offset from 128 changes")),
        (u, ("the mirror moves the point: it is 64 columns left of the box's centre before the flip, so 64 columns "
             "right of it after (and the box's centre is always crop column 128)")),
        (-u, ("-64 is outside the crop: the crop's columns run from 0 to 255. Mirror about the crop's centre, column "
              "128, not about column 0")),
        (want / 4, in_cells),
        ((in_w - 1 - u) / 4, in_cells),
    ], rel=1e-9, abs_tol=0.01)  # rel: math.isclose's default, as before
    raise Mistake(f"{x:g} is not it: where is the box's centre in the crop, and how far from it is the point?")


q0 = Prediction(
    "10.0", "predict where a point lands in the flipped crop", "flipped_column", _check_flipped_column,
    hints=["Both crops put the centre of their box on crop column 128. The flip mirrors the picture, and the box "
           "with it, so the box's centre is still the same body point.",
           "Before the flip the point is 128 - 64 = 64 columns left of the centre. A mirror turns left into right."],
)


# --- 10.1: the mirrored person in camera millimetres --------------------------------------------------------------

_CAMERAS = [  # (f, c, picture width): principal points off the picture's middle, fx != fy
    ((1145.0, 1144.0), (512.5, 515.4), 1000),
    ((1500.0, 1450.0), (300.0, 260.0), 640),
    ((1166.97, 1125.46), (500.0, 500.0), 1000),  # the synthetic sample's camera: (W - 1) / 2 = 499.5, not 500
]


def _flip_camera_cases() -> list[tuple[np.ndarray, tuple, tuple, int]]:
    rng = np.random.default_rng(1001)
    cases = []
    for f, c, width in _CAMERAS:
        root = np.array([rng.uniform(-900, 900), rng.uniform(-300, 300), rng.uniform(3500, 6500)])
        joints = root + rng.uniform(-800, 800, size=(18, 3))
        joints[0] = root
        cases.append((joints, f, c, width))
    return cases


def _mirrored_camera(joint_cam, f, c, img_width, mirror=lambda x, w: w - 1 - x, swap=True) -> np.ndarray:
    """Project (pinhole), mirror the pixel column, back-project at the same depth, rename; float64."""
    joint_cam = np.asarray(joint_cam, dtype=np.float64)
    X, Y, Z = joint_cam[:, 0], joint_cam[:, 1], joint_cam[:, 2]
    x = f[0] * X / Z + c[0]  # the pixel column the joint is seen at
    out = np.column_stack([(mirror(x, img_width) - c[0]) / f[0] * Z, Y, Z])
    if swap:
        for right, left in FLIP_PAIRS:
            out[[right, left]] = out[[left, right]]
    return out


_CAM_TOL = 0.01  # millimetres (and rtol 1e-6 in _close_mm): an answer computed in float32 passes


def _close_mm(a, b) -> bool:
    return np.allclose(a, b, rtol=1e-6, atol=_CAM_TOL)


def _pair_names(pairs) -> str:
    return ", ".join(f"{JOINTS_NAME[r]}<->{JOINTS_NAME[l]}" for r, l in pairs)


def _check_rows(got, joints, where) -> None:
    """The rows must be the (right, left)-swapped input rows; they are recognised by (Y, Z), which the mirror keeps."""
    j = len(joints)
    expected = np.arange(j)
    for r, l in FLIP_PAIRS:
        expected[r], expected[l] = l, r
    source = []
    for row in got:
        match = np.flatnonzero(np.abs(joints[:, 1:] - row[1:]).max(axis=1) <= _CAM_TOL)
        source.append(int(match[0]) if len(match) else -1)
    source = np.array(source)
    if (source < 0).any():
        k = int(np.flatnonzero(source < 0)[0])
        if np.allclose(got[:, 2], -joints[expected, 2], atol=_CAM_TOL):
            raise Mistake("Z was negated: the mirrored picture shows every joint at the same distance from the "
                          "camera (Z > 0, in front of it); only the pixel column changes" + where)
        if np.allclose(got[:, 1], -joints[expected, 1], atol=_CAM_TOL):
            raise Mistake("Y was negated: a left-right mirror keeps every pixel's row, so Y (down, in mm) stays as "
                          "it is; only X changes" + where)
        raise Mistake(f"{JOINTS_NAME[k]}'s Y or Z changed (yours {np.round(got[k, 1:], 1).tolist()}): a mirror "
                      "of the picture keeps each joint's row and its depth, so Y and Z stay; rows trade places "
                      "whole" + where)
    for r, l in FLIP_PAIRS:
        if source[r] == source[l]:
            raise Mistake(f"after your swap {JOINTS_NAME[r]} and {JOINTS_NAME[l]} hold the same values: "
                          "`j[a], j[b] = j[b], j[a]` does not swap numpy rows (j[a] is a view, overwritten "
                          "first). Use j[[a, b]] = j[[b, a]], or swap_left_right" + where)
    if (source == np.arange(j)).all():
        raise Mistake("no joint changed places: in the mirrored picture the right wrist looks like a left wrist, "
                      "so every (right, left) pair of FLIP_PAIRS trades rows" + where)
    if not (source == expected).all():
        kept = [(r, l) for r, l in FLIP_PAIRS if source[r] == r and source[l] == l]
        if kept and all(source[r] in (r, l) for r, l in FLIP_PAIRS):
            raise Mistake(f"you did not swap {_pair_names(kept)}: every pair of FLIP_PAIRS trades places" + where)
        k = int(np.flatnonzero(source != expected)[0])
        raise Mistake(f"row {k} ({JOINTS_NAME[k]}) holds the values of {JOINTS_NAME[source[k]]}; after the flip "
                      f"it must hold those of {JOINTS_NAME[expected[k]]}" + where)


def _check_flip_camera(fn) -> str:
    for joints, f, c, width in _flip_camera_cases():
        given = joints.copy()
        out = call(fn, given, f, c, width)
        if out is None:
            raise Mistake("your function returned None: return the mirrored J x 3 array (a new one)")
        got = _as_array(out, "your result")
        if got.shape != joints.shape:
            raise Mistake(f"return a J x 3 array like the input, shape {joints.shape}; yours has shape {got.shape}")
        want = _mirrored_camera(joints, f, c, width)
        where = f" (camera f = {f}, c = {c}, a picture {width} pixels wide)"
        if not _close_mm(got, want):
            swapped = _mirrored_camera(joints, f, c, width, mirror=lambda x, w: x)  # rows swapped, X kept
            pixels = np.column_stack([f[0] * swapped[:, 0] / swapped[:, 2] + c[0],
                                      f[1] * swapped[:, 1] / swapped[:, 2] + c[1], swapped[:, 2]])
            if _close_mm(got[:, :2], np.column_stack([width - 1 - pixels[:, 0], pixels[:, 1]])):
                raise Mistake("you returned pixels (x, y), not millimetres: go back to the camera's frame at the "
                              "same depth, X = (x - cx) / fx * Z" + where)
            _check_rows(got, joints, where)
            # Rows in the right places, Y and Z kept: only X can be wrong.
            X, Z = swapped[:, 0], swapped[:, 2]
            centred = (width - 1) / 2
            for value, sentence in [
                (-X, f"you mirrored X about the camera's axis (X -> -X), which flips the picture about the "
                     f"principal point's column, cx = {c[0]:g}. The picture is mirrored about its middle, "
                     f"(W - 1) / 2 = {centred:g}: X -> -X + (W - 1 - 2 cx) Z / fx"),
                (_mirrored_camera(joints, f, c, width, mirror=lambda x, w: w - x)[:, 0],
                 "you mirrored the pixel column with x -> W - x; the flip is x -> W - 1 - x (pixel 0 <-> W - 1)"),
                (X, "the joints were renamed but X was not mirrored: the mirrored picture shows each joint at "
                    "column W - 1 - x"),
                (2 * joints[0, 0] - X, "you mirrored about the root joint: the person stays where they stood, "
                                       "but the picture's mirror also moves them to the other side of the picture"),
                (((width - 1 - (f[1] * X / Z + c[0])) - c[0]) / f[1] * Z,
                 "you used fy for the column: x goes with fx = f[0]"),
                (-X + (width - 1 - 2 * c[1]) * Z / f[0], "you used cy for the column: x goes with cx = c[0]"),
            ]:
                if _close_mm(got[:, 0], value):
                    raise Mistake(sentence + where)
            k = int(np.abs(got[:, 0] - want[:, 0]).argmax())
            raise Mistake(f"{JOINTS_NAME[k]} should have X = {want[k, 0]:.2f} mm, yours is {got[k, 0]:.2f}: it "
                          "must project to pixel column W - 1 - x at the same depth" + where)
        if not np.array_equal(given, joints):
            raise Mistake("the result is right, but you changed the caller's array in place: work on a copy")
    return ("Every joint projects to the mirrored column W - 1 - x at its own row and depth, for three cameras "
            "(principal points off the picture's middle), with the six left/right pairs renamed.")


q1 = Exercise(
    "10.1", "the mirrored person in camera millimetres", "my_flip_camera", _check_flip_camera,
    refuses=("minipose.data.flip_joint_img",),
    hints=[
        "Go through the picture: the joint's column is x = fx * X / Z + cx. The mirror sends it to W - 1 - x; "
        "the row and the depth Z stay. Which X, at the same Z, projects to that column?",
        "X' = (W - 1 - x - cx) / fx * Z, which is -X + (W - 1 - 2 cx) * Z / fx: -X only when cx = (W - 1) / 2. "
        "Then rename: swap_left_right, or swap the rows of each FLIP_PAIRS pair.",
    ],
)


# --- 10.2: read the augmentation back from the crop's affine ----------------------------------------------------

def _augmentation_cases() -> list[tuple[np.ndarray, list[float], tuple[int, int], float, float, bool]]:
    """(trans, bbox, input_shape, scale, rot, do_flip): crops made by minipose.data.crop_affine with known draws.

    The expected answers are the draws themselves, not anything computed from trans by the package."""
    rng = np.random.default_rng(1002)
    cases = []
    for k, (input_shape, img_width) in enumerate([((256, 256), 1000), ((256, 192), 1280), ((64, 64), 640),
                                                   ((256, 256), 1000), ((128, 96), 800), ((256, 192), 1280)]):
        in_h, in_w = input_shape
        h = float(rng.uniform(200, 600))
        bbox = [float(rng.uniform(0, 300)), float(rng.uniform(0, 200)), h * in_w / in_h, h]
        scale = float(rng.uniform(0.75, 1.25))
        rot = 0.0 if k == 3 else float(rng.uniform(-60, 60))
        do_flip = k % 2 == 1
        trans = crop_affine(bbox, img_width, input_shape, scale, rot, do_flip)
        cases.append((trans, bbox, input_shape, scale, rot, do_flip))
    return cases


def _check_read_augmentation(fn) -> str:
    for trans, bbox, input_shape, scale, rot, do_flip in _augmentation_cases():
        got = call(fn, trans.copy(), list(bbox), input_shape)
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise Mistake(f"return three things, (scale, rot, do_flip); you returned {got!r:.60}")
        try:
            g_scale, g_rot, g_flip = float(got[0]), float(got[1]), bool(got[2])
        except (TypeError, ValueError):
            raise Mistake(f"return numbers for scale and rot and a bool for do_flip; you returned {got!r:.60}") from None
        case = (f"for a {input_shape[0]} x {input_shape[1]} crop drawn with scale {scale:.3f}, rot {rot:.1f} degrees, "
                f"do_flip {do_flip}")
        if g_flip != do_flip:
            raise Mistake(f"{case}: do_flip is wrong. A mirror turns the map's orientation over: look at the sign of "
                          "the determinant of trans[:, :2]")
        if not np.isclose(g_scale, scale, rtol=1e-6):
            if np.isclose(g_scale, 1 / scale, rtol=1e-6):
                raise Mistake(f"{case}: your scale is upside down ({g_scale:.3f}): scale > 1 means a bigger box, so a "
                              "smaller person in the crop and a smaller map")
            if np.isclose(g_scale, scale ** 2, rtol=1e-6) or np.isclose(g_scale, 1 / scale ** 2, rtol=1e-6):
                raise Mistake(f"{case}: your scale is squared ({g_scale:.3f}): the determinant multiplies the two "
                              "axes' stretches, so take its square root")
            raise Mistake(f"{case}: your scale is {g_scale:.4f}. Without augmentation the box fills the crop exactly: "
                          "compare the map's stretch with input size / box size")
        if not np.isclose(g_rot, rot, atol=1e-6):
            if abs(rot) > 1 and np.isclose(g_rot, np.radians(rot), atol=1e-6):
                raise Mistake(f"{case}: your rot is in radians ({g_rot:.3f}); the augmentation draws degrees")
            if abs(rot) > 1 and np.isclose(g_rot, -rot, atol=1e-6):
                raise Mistake(f"{case}: your rot has the wrong sign ({g_rot:.1f}): the box is turned by +rot, so the "
                              "map from picture to crop turns by -rot; read the angle accordingly")
            wrapped = (g_rot + 180.0) % 360.0 - 180.0
            if do_flip and (np.isclose(wrapped, 180.0 - rot, atol=1e-6) or np.isclose(wrapped, -180.0 - rot, atol=1e-6)
                            or np.isclose(g_rot, 180.0 - rot, atol=1e-6)):
                raise Mistake(f"{case}: your rot is {g_rot:.1f}, the angle of the mirrored map: undo the mirror "
                              "(negate trans[:, 0]) before reading the angle")
            raise Mistake(f"{case}: your rot is {g_rot:.2f} degrees")
    return ("Scale, rotation and flip read back from six crops' affine maps (square and not, mirrored and not), "
            "equal to the draws that made them.")


q2 = Exercise(
    "10.2", "read the augmentation back from the crop's affine", "my_read_augmentation", _check_read_augmentation,
    hints=[
        "Without a flip, trans[:, :2] is diag(in_w / (w * scale), in_h / (h * scale)) @ [[cos, sin], [-sin, cos]]. "
        "Its determinant is (in_w * in_h) / (w * h * scale**2); a mirror makes it negative.",
        "scale = sqrt(in_w * in_h / (w * h * |det|)); do_flip = det < 0; undo the mirror by negating column 0 when "
        "flipped, then rot = degrees(atan2(A[0, 1], A[0, 0])).",
    ],
)

# --- questions ---------------------------------------------------------------------------------------------------
q3 = Question(
    "10.3", "why the synthetic people wear the same colour on both sides",
    hints=["What does flip augmentation do to the picture, and what to the names of the joints?",
           "At test time the official code also runs the mirrored picture and averages the two predictions."],
    answer="Flip augmentation mirrors the picture and renames the joints: in the mirror the right arm is labelled "
           "left (swap_left_right). If left limbs were, say, red, then in half the training crops the red arm would "
           "be labelled left and in the other half right: the colour would contradict the labels, and a network that "
           "had learnt 'red = left' from unflipped crops would be wrong on every flipped one. Flip testing has the "
           "same problem: the mirrored picture's prediction, swapped back, is averaged with the original, which only "
           "helps if the network judges left and right from the body's shape and the scene, as it must on real "
           "people, who do not wear colour codes. With the same colour on both sides nothing but the shape tells "
           "the sides apart, so a shortcut the real data lacks cannot be learnt.",
)
