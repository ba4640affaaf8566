"""Exercise checks of lesson 09 (boxes, crops and targets): the reference passes, realistic mistakes get their own
message, and the checks' references agree with things written another way."""
from __future__ import annotations

import numpy as np

from exercise_helpers import assert_verdicts, reference
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


# --- 09.2: from the target back to the picture --------------------------------------------------------------------

def _picture(target, bbox, rot, config, cells=True, turn=1.0, anchor="centre", zero=True, bins=None,
             half=None, in_place=False):
    """A student's my_target_to_picture, written independently of the checker (through the affine's inverse
    matrix), with one thing done differently."""
    (in_h, in_w), (out_h, out_w) = config.input_shape, config.output_shape
    x, y, w, h = bbox
    crop = np.array(target, dtype=np.float64)[:, :2] * ([in_w / out_w, in_h / out_h] if cells else [1.0, 1.0])
    a = np.radians(turn * rot)
    turn_back = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    matrix = turn_back @ np.diag([w / in_w, h / in_h])  # crop pixels -> picture pixels, without the shift
    if anchor == "centre":
        xy = (crop - [in_w / 2, in_h / 2]) @ matrix.T + [x + w / 2, y + h / 2]
    else:
        xy = crop @ matrix.T + [x, y]
    bins = {None: config.depth_dim, "minus one": config.depth_dim - 1}.get(bins, bins)
    half = config.bbox_3d_shape[0] / 2 if half is None else half
    depth = (np.asarray(target)[:, 2] / bins * 2 - (1 if zero else 0)) * half
    if in_place:
        target[:, :2] = xy
    return np.column_stack([xy, depth])


def _p(**kwargs):
    return lambda target, bbox, rot, config: _picture(target, bbox, rot, config, **kwargs)


def test_target_to_picture_check():
    assert_verdicts(ex09.q2, reference("09.2", "my_target_to_picture"), [
        (_p(cells=False), "x, y are heatmap cells"),
        (_p(turn=-1.0), "you turned the wrong way"),
        (_p(turn=0.0), "the crop was turned by rot"),
        (_p(anchor="corner"), "anchored the crop at the box's corner"),
        (_p(turn=2.0), "in the picture (x, y px, depth mm)"),
        (_p(zero=False), "not centred on the root"),
        (_p(bins="minus one"), "divided by depth_dim - 1"),
        (_p(bins=64), "does not have 64 bins"),
        (_p(half=1000.0), "3D box is not 2000 mm"),
        (lambda t, b, r, c: _picture(t, b, r, c) + [0.5, 0, 0], "of Pelvis is"),
        (lambda t, b, r, c: _picture(t, b, r, c)[:, :2], "return J x 3"),
        (_p(in_place=True), "changed the target or the box"),
        (lambda t, b, r, c: "there", "not an array of numbers"),
    ])


def test_target_to_picture_undoes_the_packages_crop_and_targets():
    """The checker's way back, against the lesson's own way there: picture points and root-relative depths through
    gen_trans_from_patch (turned) and joints_to_target land on targets that the checker takes back to them."""
    rng = np.random.default_rng(5)
    for what, _, bbox, rot, config in ex09._back_cases():
        x, y, w, h = bbox
        (in_h, in_w), half = config.input_shape, config.bbox_3d_shape[0] / 2
        points = np.column_stack([rng.uniform(x, x + w, 18), rng.uniform(y, y + h, 18),
                                  rng.uniform(-half, half, 18)])
        trans = gen_trans_from_patch(x + w / 2, y + h / 2, w, h, in_w, in_h, rot=rot)
        target, _ = joints_to_target(points, trans, config)
        assert np.allclose(ex09._back(target, bbox, rot, config), points, atol=1e-2), what
    assert {r for _, _, _, r, _ in ex09._back_cases()} >= {0.0, 30.0, -45.0}
    assert any(c.input_shape[0] != c.input_shape[1] for *_, c in ex09._back_cases())


def test_the_inverse_scale_slip_is_named():
    def inverse_scale(target, bbox, rot, config):
        right = ex09._back(target, bbox, rot, config)
        return ex09._back(target, bbox, rot, config, xy="inverse scale") * [1, 1, 0] + right * [0, 0, 1]
    result = ex09.q2.result(inverse_scale)
    assert result.status == "failed" and "scaled the wrong way" in result.message


def test_questions_have_hints_and_answers(capsys):
    ex09.q3.hint()
    ex09.q3.hint(2)
    ex09.q3.answer()
    printed = capsys.readouterr().out
    assert "question 09.3" in printed and "31.25 mm" in printed
