"""Exercise checks of lesson 10 (augmentation and the dataset): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import numpy as np

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import PASSED, ex10
from minipose.skeleton import FLIP_PAIRS



# --- 10.1 --------------------------------------------------------------------------------------------------------

def _flip(joint_img, img_width, pairs=FLIP_PAIRS, mirror=lambda x, w: w - 1 - x):
    out = joint_img.copy()
    out[:, 0] = mirror(out[:, 0], img_width)
    for right, left in pairs:
        out[[right, left]] = out[[left, right]]
    return out


def w_minus_x(joint_img, img_width):
    return _flip(joint_img, img_width, mirror=lambda x, w: w - x)


def no_swap(joint_img, img_width):
    return _flip(joint_img, img_width, pairs=())


def legs_only(joint_img, img_width):
    return _flip(joint_img, img_width, pairs=FLIP_PAIRS[:3])


def aliased_swap(joint_img, img_width):
    out = joint_img.copy()
    out[:, 0] = img_width - 1 - out[:, 0]
    for right, left in FLIP_PAIRS:
        out[right], out[left] = out[left], out[right]  # numpy rows are views: both end up equal
    return out


def flips_in_place(joint_img, img_width):
    joint_img[:, 0] = img_width - 1 - joint_img[:, 0]
    for right, left in FLIP_PAIRS:
        joint_img[[right, left]] = joint_img[[left, right]]
    return joint_img


def in_place_returns_nothing(joint_img, img_width):
    flips_in_place(joint_img, img_width)


def negated_z(joint_img, img_width):
    out = _flip(joint_img, img_width)
    out[:, 2] *= -1
    return out


def every_column_mirrored(joint_img, img_width):
    out = joint_img.copy()
    out[:, :] = img_width - 1 - out  # y (and z) mirrored too
    for right, left in FLIP_PAIRS:
        out[[right, left]] = out[[left, right]]
    return out


def x_column_swapped(joint_img, img_width):
    out = joint_img.copy()
    out[:, 0] = img_width - 1 - out[:, 0]
    for right, left in FLIP_PAIRS:
        out[[right, left], 0] = out[[left, right], 0]
    return out


def names_only(joint_img, img_width):
    return _flip(joint_img, img_width, mirror=lambda x, w: x)


def test_flip_joints_check():
    assert_verdicts(ex10.q1, reference("10.1", "my_flip_joints"), [
        (w_minus_x, "the official mirror is x -> W - 1 - x, which sends pixel 0 to pixel W - 1"),
        (no_swap, "no joint changed places"),
        (legs_only, "but not R_Shoulder<->L_Shoulder, R_Elbow<->L_Elbow, R_Wrist<->L_Wrist"),
        (aliased_swap, "numpy rows, because j[a] and j[b] are views"),
        (flips_in_place, "you changed the caller's array in place"),
        (in_place_returns_nothing, "your function returned None"),
        (negated_z, "z was negated"),
        (every_column_mirrored, "y changed"),
        (x_column_swapped, "only x traded places"),
        (names_only, "x was not mirrored"),
    ])


def test_other_correct_flips_pass():
    def mirror_after_swapping(joint_img, img_width):
        out = np.array(joint_img)
        for right, left in FLIP_PAIRS:
            out[right], out[left] = out[left].copy(), out[right].copy()
        out[:, 0] = (img_width - 1) - out[:, 0]
        return out

    result = ex10.q1.result(mirror_after_swapping)
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
