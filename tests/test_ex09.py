"""Exercise checks of lesson 09 (boxes, crops and targets): the reference passes, realistic mistakes get their own
message, and the checks' references agree with things written another way."""
from __future__ import annotations

import numpy as np

from exercise_helpers import assert_verdicts, reference
from minipose.config import Config
from minipose.data import gen_trans_from_patch, joints_to_target
from minipose.exercises import PASSED, ex09


# --- 09.0: the depth bin of a joint 250 mm in front of the root ------------------------------------------------------

def test_predicted_bin_check():
    assert_verdicts(ex09.q0, reference("09.0", "predicted_bin"), [
        (40, "*behind* the root"),
        (8, "counted from bin 0"),
        (-8, "the offset from the root"),
        (28.0, "the whole 2000 mm box"),
        (0.375, "0.375 is z01"),
        (30, "30 is not it"),
        ("twenty-four", "you gave 'twenty-four'"),
        ([24, 25], "you gave [24, 25]"),
    ])
    assert ex09.q0.result(np.float32(24)).status == PASSED


def test_predicted_bin_against_the_package():
    """The checker's bin against the lesson's joints_to_target (any crop: z does not depend on it)."""
    trans = gen_trans_from_patch(500.0, 500.0, 400.0, 400.0, 256, 256)
    target, vis = joints_to_target(np.array([[500.0, 500.0, -250.0]]), trans)
    assert ex09.q0.result(target[0, 2]).status == PASSED and vis[0, 0] == 1


# --- 09.1: a box centred on the root ----------------------------------------------------------------------------------

def _box(joints_xy, width, height, input_shape, centre="root", size="far", ratio=None, grow=True, pad=True,
         margin=1.25, form="xywh", none="outside"):
    """A student's my_root_box, written independently of the checker, with one thing done differently."""
    pts = np.array(joints_xy, dtype=np.float64)
    rx, ry = pts[0]
    root_in = 0 <= rx < width and 0 <= ry < height
    if (none == "outside" and not root_in) or none == "always":
        return None
    if centre == "extent":
        rx, ry = (pts.min(0) + pts.max(0)) / 2
    dx, dy = pts[:, 0] - rx, pts[:, 1] - ry
    if size == "far":
        w, h = 2 * max(abs(dx.min()), abs(dx.max())), 2 * max(abs(dy.min()), abs(dy.max()))
    elif size == "extent":
        w, h = dx.max() - dx.min(), dy.max() - dy.min()
    else:  # only the positive side
        w, h = 2 * dx.max(), 2 * dy.max()
    r = input_shape[1] / input_shape[0] if ratio is None else ratio(input_shape)
    if pad:
        if (w / h > r) == grow:
            h = w / r
        else:
            w = h * r
    w, h = w * margin, h * margin
    x, y = rx - w / 2, ry - h / 2
    return {"xywh": np.array([x, y, w, h]), "centre": np.array([rx, ry, w, h]),
            "corners": np.array([x, y, x + w, y + h])}[form]


def _wrong(**kwargs):
    return lambda joints_xy, width, height, input_shape: _box(joints_xy, width, height, input_shape, **kwargs)


def _changes_its_input(joints_xy, width, height, input_shape):
    joints_xy -= joints_xy[0]
    return _box(joints_xy + 1, width, height, input_shape)


def test_root_box_check():
    assert_verdicts(ex09.q1, reference("09.1", "my_root_box"), [
        (_wrong(centre="extent", size="extent"), "centred on the joints' extent"),
        (_wrong(size="extent"), "as big as the joints' extent"),
        (_wrong(size="positive"), "take the largest distance on both sides"),
        (_wrong(margin=1.0), "the box is not enlarged"),
        (_wrong(ratio=lambda s: 1.0), "your box is square, but the crop is not"),
        (_wrong(ratio=lambda s: s[0] / s[1]), "aspect ratio upside down"),
        (_wrong(grow=False), "you shrank a side"),
        (_wrong(pad=False), "keeps the joints' aspect ratio"),
        (_wrong(form="centre"), "you returned the root (the centre) as x, y"),
        (_wrong(form="corners"), "you returned the corners"),
        (_wrong(none="never"), "the root is outside the picture: return None"),
        (_wrong(none="always"), "you returned None, but the root is inside"),
        (_wrong(margin=0.5), "lies outside your box"),
        (lambda j, w, h, s: _box(j, w, h, s) + [5, 0, 0, 0], "your box's centre is"),
        (_wrong(margin=1.5), "expected"),
        (lambda j, w, h, s: _box(j, w, h, s)[:2], "4 numbers [x, y, w, h]"),
        (lambda j, w, h, s: "box", "not an array of numbers"),
        (_changes_its_input, "changed the joints it was given"),
    ])
    result = ex09.q1.result(lambda j, w, h, s: _box(j, w, h, s).tolist() if _box(j, w, h, s) is not None else None)
    assert result.status == PASSED, result.message  # a list counts


def test_root_boxes_have_the_properties_the_exercise_asks_for():
    """The checker's reference, tested by what it promises rather than by its formula: centred on the root, the
    crop's aspect ratio, every joint inside the box / 1.25, and one joint on that inner box's edge (smallest)."""
    for what, joints, width, height, shape in ex09._root_box_cases():
        x, y, w, h = ex09._root_box(joints, shape)
        assert np.allclose([x + w / 2, y + h / 2], joints[0]), what
        assert np.isclose(w / h, shape[1] / shape[0]), what
        inner_w, inner_h = w / 1.25, h / 1.25
        gap_x = inner_w / 2 - np.abs(joints[:, 0] - joints[0, 0])
        gap_y = inner_h / 2 - np.abs(joints[:, 1] - joints[0, 1])
        assert gap_x.min() > -1e-9 and gap_y.min() > -1e-9, what
        assert min(gap_x.min(), gap_y.min()) < 1e-9, what  # a joint touches it: no smaller box would do
        assert not np.allclose(joints[0], (joints.min(0) + joints.max(0)) / 2), what  # tells the two centres apart


# --- 09.2: targets straight from the box ------------------------------------------------------------------------------

def _target(joints, bbox, config, corner="corner", scale="cells", root=True, sign=1, bins=None, half=None,
            vis="strict", order="xy", only_target=False, in_place=False):
    """A student's my_box_target, written independently of the checker, with one thing done differently."""
    (in_h, in_w), (out_h, out_w) = config.input_shape, config.output_shape
    x0, y0, w, h = bbox
    if corner == "centre":
        x0, y0 = x0 + w / 2, y0 + h / 2
    elif corner == "none":
        x0 = y0 = 0.0
    crop_x, crop_y = (joints[:, 0] - x0) * in_w / w, (joints[:, 1] - y0) * in_h / h  # crop pixels
    depth = sign * (joints[:, 2] - (joints[0, 2] if root else 0.0))
    half = config.bbox_3d_shape[0] / 2 if half is None else half
    z01 = (depth / half + 1) / 2
    if vis == "strict":
        keep = (crop_x >= 0) & (crop_x < in_w) & (crop_y >= 0) & (crop_y < in_h) & (z01 >= 0) & (z01 < 1)
    elif vis == "inclusive":
        keep = (crop_x >= 0) & (crop_x <= in_w) & (crop_y >= 0) & (crop_y <= in_h) & (z01 >= 0) & (z01 < 1)
    else:  # ignores depth
        keep = (crop_x >= 0) & (crop_x < in_w) & (crop_y >= 0) & (crop_y < in_h)
    fx, fy = {"cells": (out_w / in_w, out_h / in_h), "pixels": (1.0, 1.0),
              "swapped": (out_h / in_w, out_w / in_h)}[scale]
    xy = [crop_x * fx, crop_y * fy]
    z = z01 * (config.depth_dim if bins is None else bins)
    target = np.column_stack((xy[::-1] if order == "yx" else xy) + [z])
    if in_place:
        joints[:, :] = target
    if only_target:
        return target
    return target.astype(np.float32), keep.astype(np.float32)[:, None]


def _t(**kwargs):
    return lambda joints, bbox, config: _target(joints, bbox, config, **kwargs)


def test_box_target_check():
    assert_verdicts(ex09.q2, reference("09.2", "my_box_target"), [
        (_t(scale="pixels"), "x, y are in crop pixels"),
        (_t(corner="centre"), "measured from the box's centre"),
        (_t(corner="none"), "not measured from the box"),
        (_t(scale="swapped"), "x went with the height"),
        (_t(order="yx"), "x and y are swapped"),
        (_t(root=False), "z uses the camera's depth Z itself"),
        (_t(sign=-1), "z runs backwards"),
        (_t(bins=64), "this config has depth_dim = 32"),
        (_t(half=1000.0), "this config's 3D box is 3000 mm"),
        (_t(vis="ignores depth"), "vis ignores depth"),
        (_t(vis="inclusive"), "on the box's right or lower edge"),
        (lambda j, b, c: (_target(j, b, c)[0] + [0.5, 0, 0], _target(j, b, c)[1]), "should have the target"),
        (lambda j, b, c: (_target(j, b, c)[0], 1 - _target(j, b, c)[1]), "has vis"),
        (lambda j, b, c: (_target(j, b, c)[0], _target(j, b, c)[1][:, 0]), "vis must be J x 1"),
        (lambda j, b, c: (_target(j, b, c)[0][:, :2], _target(j, b, c)[1]), "the target must be J x 3"),
        (_t(only_target=True), "you returned only the target"),
        (_t(in_place=True), "changed the joints or the box"),
        (lambda j, b, c: None, "return two arrays"),
    ])


def test_box_targets_agree_with_the_package_through_the_affine():
    """The checker's box formula against the lesson's own route: gen_trans_from_patch for the box, then
    joints_to_target on root-relative depths; the same targets and the same vis, edges included."""
    for what, joints, bbox, config in ex09._box_target_cases():
        x, y, w, h = bbox
        trans = gen_trans_from_patch(x + w / 2, y + h / 2, w, h, config.input_shape[1], config.input_shape[0])
        relative = joints.copy()
        relative[:, 2] -= joints[0, 2]
        want, want_vis = joints_to_target(relative, trans, config)
        got, got_vis = ex09._box_target(joints, bbox, config)
        assert np.allclose(got, want, atol=1e-4), what
        assert np.array_equal(got_vis, want_vis), what
        assert 0 < got_vis.sum() < len(joints), what  # some joints in, some out


def test_the_cases_are_not_all_square():
    shapes = [config.input_shape for _, _, _, config in ex09._box_target_cases()]
    assert (256, 192) in shapes and any(c.depth_dim != Config().depth_dim for *_, c in ex09._box_target_cases())


def test_questions_have_hints_and_answers(capsys):
    ex09.q3.hint()
    ex09.q3.hint(2)
    ex09.q3.answer()
    printed = capsys.readouterr().out
    assert "question 09.3" in printed and "31.25 mm" in printed
