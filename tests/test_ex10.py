"""Exercise checks of lesson 10 (augmentation and the dataset): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import numpy as np

from exercise_helpers import assert_verdicts, reference
from minipose.camera import cam2pixel, pixel2cam
from minipose.data import crop_affine, flip_joint_img
from minipose.exercises import PASSED, ex10
from minipose.skeleton import FLIP_PAIRS


# --- 10.0 --------------------------------------------------------------------------------------------------------

def test_flipped_column_check():
    assert_verdicts(ex10.q0, reference("10.0", "flipped_column"), [
        (191, "the crop's own columns mirrored"),
        (64, "the mirror moves the point"),
        (-64, "outside the crop"),
        (48.0, "heatmap cells"),
        ("192 pixels", "give one number"),
        (200, "where is the box's centre"),
    ])
    assert ex10.q0.result(np.float32(192.0)).status == PASSED


def test_flipped_column_reference_against_the_affine_maps():
    """192 is where crop_affine puts the point, for several boxes and picture widths (the checker's number is
    written out; here it is measured)."""
    for bbox, width in [([186.96, 192.98, 594.05, 594.05], 1000), ([10.0, 50.0, 300.0, 300.0], 640)]:
        plain, mirrored = crop_affine(bbox, width), crop_affine(bbox, width, do_flip=True)
        point = np.linalg.solve(np.vstack([plain, [0, 0, 1]]), [64.0, 100.0, 1.0])
        assert abs((mirrored @ point)[0] - 192.0) < 1e-9


# --- 10.1 --------------------------------------------------------------------------------------------------------

def _flip(joint_cam, f, c, img_width, mirror=lambda x, w: w - 1 - x, pairs=FLIP_PAIRS, fx=None, cx=None):
    """A camera-space flip written as a student might, with one thing changed."""
    fx = f[0] if fx is None else fx
    cx = c[0] if cx is None else cx
    out = np.array(joint_cam, dtype=np.float64)
    x = fx * out[:, 0] / out[:, 2] + cx
    out[:, 0] = (mirror(x, img_width) - cx) / fx * out[:, 2]
    for right, left in pairs:
        out[[right, left]] = out[[left, right]]
    return out


def about_the_axis(joint_cam, f, c, img_width):
    out = _flip(joint_cam, f, c, img_width)
    out[:, 0] = -_flip(joint_cam, f, c, img_width, mirror=lambda x, w: x)[:, 0]
    return out


def aliased_swap(joint_cam, f, c, img_width):
    out = _flip(joint_cam, f, c, img_width, pairs=())
    for right, left in FLIP_PAIRS:
        out[right], out[left] = out[left], out[right]  # numpy rows are views: both end up equal
    return out


def flips_in_place(joint_cam, f, c, img_width):
    joint_cam[:] = _flip(joint_cam, f, c, img_width)
    return joint_cam


def about_the_root(joint_cam, f, c, img_width):
    out = _flip(joint_cam, f, c, img_width)
    kept = _flip(joint_cam, f, c, img_width, mirror=lambda x, w: x)
    out[:, 0] = 2 * joint_cam[0, 0] - kept[:, 0]
    return out


def pixels(joint_cam, f, c, img_width):
    out = cam2pixel(_flip(joint_cam, f, c, img_width, pairs=()), f, c)  # the mirrored pixels (x, y, Z)
    for right, left in FLIP_PAIRS:
        out[[right, left]] = out[[left, right]]
    return out


def negated(column):
    def wrong(joint_cam, f, c, img_width):
        out = _flip(joint_cam, f, c, img_width)
        out[:, column] *= -1
        return out
    return wrong


def changed_z(joint_cam, f, c, img_width):
    out = _flip(joint_cam, f, c, img_width)
    out[:, 2] += 10.0
    return out


def test_flip_camera_check():
    assert_verdicts(ex10.q1, reference("10.1", "my_flip_camera"), [
        (about_the_axis, "about the camera's axis (X -> -X)"),
        (lambda j, f, c, w: _flip(j, f, c, w, mirror=lambda x, w: w - x), "x -> W - x"),
        (lambda j, f, c, w: _flip(j, f, c, w, mirror=lambda x, w: x), "X was not mirrored"),
        (lambda j, f, c, w: _flip(j, f, c, w, pairs=()), "no joint changed places"),
        (lambda j, f, c, w: _flip(j, f, c, w, pairs=FLIP_PAIRS[:3]),
         "did not swap R_Shoulder<->L_Shoulder, R_Elbow<->L_Elbow, R_Wrist<->L_Wrist"),
        (aliased_swap, "does not swap numpy rows"),
        (flips_in_place, "changed the caller's array in place"),
        (lambda j, f, c, w: flips_in_place(j, f, c, w) and None, "returned None"),
        (about_the_root, "mirrored about the root joint"),
        (pixels, "you returned pixels"),
        (negated(2), "Z was negated"),
        (negated(1), "Y was negated"),
        (changed_z, "Y or Z changed"),
        (lambda j, f, c, w: _flip(j, f, c, w, fx=f[1]), "used fy for the column"),
        (lambda j, f, c, w: _flip(j, f, c, w, cx=c[1]), "used cy for the column"),
        (lambda j, f, c, w: _flip(j, f, c, w) + [5.0, 0.0, 0.0], "should have X ="),
        (lambda j, f, c, w: _flip(j, f, c, w)[:, :2], "shape (18, 3)"),
    ])


def test_flip_camera_reference_against_the_package_and_a_formula():
    """The checker's reference (project, mirror, back-project) equals the package's picture flip between cam2pixel
    and pixel2cam, and the closed form X' = -X + (W - 1 - 2 cx) Z / fx with the rows renamed."""
    for joints, f, c, width in ex10._flip_camera_cases():
        want = ex10._mirrored_camera(joints, f, c, width)
        through_pixels = pixel2cam(flip_joint_img(cam2pixel(joints, f, c), width), f, c)
        assert np.abs(want - through_pixels).max() < 1e-9
        closed = joints.copy()
        closed[:, 0] = -joints[:, 0] + (width - 1 - 2 * c[0]) * joints[:, 2] / f[0]
        closed = closed[[dict(FLIP_PAIRS).get(k, dict((l, r) for r, l in FLIP_PAIRS).get(k, k)) for k in range(18)]]
        assert np.abs(want - closed).max() < 1e-9


def test_other_correct_camera_flips_pass():
    def float32_rows_first(joint_cam, f, c, img_width):
        out = np.array(joint_cam, dtype=np.float32)
        for right, left in FLIP_PAIRS:
            out[[right, left]] = out[[left, right]]
        out[:, 0] = -out[:, 0] + (img_width - 1 - 2 * c[0]) * out[:, 2] / f[0]
        return out

    result = ex10.q1.result(float32_rows_first)
    assert result.status == PASSED, result.message


# --- 10.2 --------------------------------------------------------------------------------------------------------

def _read(trans, bbox, input_shape):
    """The augmentation read back another way: scale from the first row's length, the flip from trans[0, 0]."""
    A = np.asarray(trans, dtype=np.float64)[:, :2]
    flip = bool(A[0, 0] < 0)  # |rot| <= 60 degrees: cos > 0, so only a mirror makes A[0, 0] negative
    scale = input_shape[1] / (bbox[2] * np.hypot(A[0, 0], A[0, 1]))
    rot = np.degrees(np.arctan2(A[0, 1], -A[0, 0] if flip else A[0, 0]))
    return scale, rot, flip


def test_read_augmentation_check():
    assert_verdicts(ex10.q2, reference("10.2", "my_read_augmentation"), [
        (lambda t, b, s: (1 / _read(t, b, s)[0],) + _read(t, b, s)[1:], "upside down"),
        (lambda t, b, s: (_read(t, b, s)[0] ** 2,) + _read(t, b, s)[1:], "squared"),
        (lambda t, b, s: (_read(t, b, s)[0], np.radians(_read(t, b, s)[1]), _read(t, b, s)[2]), "radians"),
        (lambda t, b, s: (_read(t, b, s)[0], -_read(t, b, s)[1], _read(t, b, s)[2]), "wrong sign"),
        (lambda t, b, s: (_read(t, b, s)[0], np.degrees(np.arctan2(t[0, 1], t[0, 0])), _read(t, b, s)[2]),
         "the angle of the mirrored map"),
        (lambda t, b, s: _read(t, b, s)[:2] + (False,), "do_flip is wrong"),
        (lambda t, b, s: (_read(t, b, s)[0] * 1.05,) + _read(t, b, s)[1:], "your scale is"),
        (lambda t, b, s: (_read(t, b, s)[0], _read(t, b, s)[1] + 3.0, _read(t, b, s)[2]), "your rot is"),
        (lambda t, b, s: _read(t, b, s)[:2], "return three things"),
        (lambda t, b, s: ("big", 0.0, False), "return numbers"),
    ])
    assert ex10.q2.result(_read).status == PASSED  # a correct answer written differently passes too


def test_questions_have_hints_and_answers(capsys):
    ex10.q3.hint()
    ex10.q3.hint(2)
    ex10.q3.answer()
    printed = capsys.readouterr().out
    assert "question 10.3" in printed and "swap_left_right" in printed
