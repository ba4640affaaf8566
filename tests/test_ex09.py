"""Exercise checks of lesson 09 (boxes, crops and targets): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import numpy as np

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import PASSED, ex09


# --- 09.1 --------------------------------------------------------------------------------------------------------

def _bbox(bbox, width, height, input_shape, margin=1.25, ratio=None, anchor="centre", shrink=False, clip=True,
          none_check=True, corners=False, plus_one=False):
    """A student's process_bbox, written independently of the checker, with one thing done differently."""
    x, y, w, h = (float(v) for v in bbox)
    size = 0.0 if plus_one else 1.0
    if clip:
        x1, y1 = max(0.0, x), max(0.0, y)
        x2, y2 = min(width - 1.0, x1 + max(0.0, w - size)), min(height - 1.0, y1 + max(0.0, h - size))
    else:
        x1, y1, x2, y2 = x, y, x + w - size, y + h - size
    if none_check and (w * h <= 0 or x2 < x1 or y2 < y1):
        return None
    w, h = x2 - x1, y2 - y1
    cx, cy = x1 + w / 2, y1 + h / 2
    r = input_shape[1] / input_shape[0] if ratio is None else ratio(input_shape)
    if (w > r * h) != shrink:
        h = w / r
    else:
        w = h * r
    w, h = w * margin, h * margin
    if anchor == "corner":
        return np.array([x1, y1, w, h])
    box = np.array([cx - w / 2, cy - h / 2, w, h])
    if corners:
        return np.array([box[0], box[1], box[0] + box[2], box[1] + box[3]])
    return box


def no_margin(bbox, width, height, input_shape):
    return _bbox(bbox, width, height, input_shape, margin=1.0)


def always_square(bbox, width, height, input_shape):
    return _bbox(bbox, width, height, input_shape, ratio=lambda shape: 1.0)


def upside_down_ratio(bbox, width, height, input_shape):
    return _bbox(bbox, width, height, input_shape, ratio=lambda shape: shape[0] / shape[1])


def from_the_corner(bbox, width, height, input_shape):
    return _bbox(bbox, width, height, input_shape, anchor="corner")


def min_not_max(bbox, width, height, input_shape):  # shrinks the longer side
    return _bbox(bbox, width, height, input_shape, shrink=True)


def not_clipped(bbox, width, height, input_shape):
    return _bbox(bbox, width, height, input_shape, clip=False)


def returns_corners(bbox, width, height, input_shape):
    return _bbox(bbox, width, height, input_shape, corners=True)


def never_none(bbox, width, height, input_shape):
    return _bbox(bbox, width, height, input_shape, none_check=False)


def none_for_big_boxes(bbox, width, height, input_shape):  # "None" for a box that is not wholly inside
    if bbox[0] + bbox[2] > width or bbox[1] + bbox[3] > height:
        return None
    return _bbox(bbox, width, height, input_shape)


def test_process_bbox_check():
    assert_verdicts(ex09.q1, reference("09.1", "my_process_bbox"), [
        (no_margin, "the box is not enlarged"),
        (always_square, "your box is square, but the crop is not"),
        (upside_down_ratio, "aspect ratio upside down"),
        (from_the_corner, "the box grew from its top-left corner"),
        (min_not_max, "you shrank a side instead of growing"),
        (not_clipped, "you did not clip the box to the picture first"),
        (returns_corners, "you returned the corners [x1, y1, x2, y2]"),
        (never_none, "nothing of it can be cropped: return None"),
        (none_for_big_boxes, "which overlaps the picture"),
    ])


def test_other_correct_boxes_pass():
    def without_the_minus_one(bbox, width, height, input_shape):  # x2 = x1 + w: within the 1.3-pixel tolerance
        return _bbox(bbox, width, height, input_shape, plus_one=True)

    def as_a_list(bbox, width, height, input_shape):
        box = reference("09.1", "my_process_bbox")(bbox, width, height, input_shape)
        return None if box is None else box.tolist()

    for answer in (without_the_minus_one, as_a_list):
        result = ex09.q1.result(answer)
        assert result.status == PASSED, result.message


# --- 09.2 --------------------------------------------------------------------------------------------------------

def _target(joint_img, trans, config, xy="right", z="right", vis="right", depth_dim=None, half=None,
            flat_vis=False, only_target=False, in_place=False):
    """A student's joints_to_target with one thing done differently."""
    (in_h, in_w), (out_h, out_w) = config.input_shape, config.output_shape
    p = joint_img[:, :2]
    crop = {"right": p @ trans[:, :2].T + trans[:, 2], "transposed": p @ trans[:, :2] + trans[:, 2],
            "no translation": p @ trans[:, :2].T, "x by height": p @ trans[:, :2].T + trans[:, 2]}[xy]
    half = config.bbox_3d_shape[0] / 2 if half is None else half
    bins = config.depth_dim if depth_dim is None else depth_dim
    z_mm = joint_img[:, 2]
    z01 = {"no +1": z_mm / half / 2, "no half": (z_mm + 1) / 2}.get(z, (z_mm / half + 1) / 2)
    xs, ys = crop[:, 0], crop[:, 1]
    bound_x, bound_y = {"256": (256, 256), "swapped": (in_h, in_w)}.get(vis, (in_w, in_h))
    if vis == "far edge":
        inside = (xs >= 0) & (xs <= in_w) & (ys >= 0) & (ys <= in_h)
    else:
        inside = (xs >= 0) & (xs < bound_x) & (ys >= 0) & (ys < bound_y)
    if vis != "ignores depth":
        inside &= (z01 >= 0) & (z01 < 1)
    target = np.empty((len(joint_img), 3))
    target[:, 0] = xs * (out_w / (in_h if xy == "x by height" else in_w))
    target[:, 1] = ys * out_h / in_h
    target[:, 2] = z_mm if z == "mm" else z01 * bins
    if vis == "after scaling":
        inside = ((target[:, 0] >= 0) & (target[:, 0] < in_w) & (target[:, 1] >= 0) & (target[:, 1] < in_h)
                  & (z01 >= 0) & (z01 < 1))
    if in_place:
        joint_img[:, :] = target
    if only_target:
        return target
    vis_out = inside.astype(np.float32)
    return target.astype(np.float32), (vis_out if flat_vis else vis_out[:, None])


def crop_pixels(joint_img, trans, config):  # x, y not divided by 4
    target, vis = _target(joint_img, trans, config)
    target[:, :2] *= 4
    return target, vis


def transposed_trans(joint_img, trans, config):
    return _target(joint_img, trans, config, xy="transposed")


def no_translation(joint_img, trans, config):
    return _target(joint_img, trans, config, xy="no translation")


def x_scaled_by_height(joint_img, trans, config):
    return _target(joint_img, trans, config, xy="x by height")


def no_plus_one(joint_img, trans, config):
    return _target(joint_img, trans, config, z="no +1")


def no_half_box(joint_img, trans, config):
    return _target(joint_img, trans, config, z="no half")


def z_in_mm(joint_img, trans, config):
    return _target(joint_img, trans, config, z="mm")


def vis_ignores_depth(joint_img, trans, config):
    return _target(joint_img, trans, config, vis="ignores depth")


def vis_far_edge(joint_img, trans, config):  # x <= 256
    return _target(joint_img, trans, config, vis="far edge")


def vis_after_scaling(joint_img, trans, config):
    return _target(joint_img, trans, config, vis="after scaling")


def hard_coded_64(joint_img, trans, config):
    return _target(joint_img, trans, config, depth_dim=64)


def hard_coded_256(joint_img, trans, config):
    return _target(joint_img, trans, config, vis="256")


def hard_coded_1000(joint_img, trans, config):
    return _target(joint_img, trans, config, half=1000)


def vis_bounds_swapped(joint_img, trans, config):
    return _target(joint_img, trans, config, vis="swapped")


def flat_vis(joint_img, trans, config):
    return _target(joint_img, trans, config, flat_vis=True)


def only_the_target(joint_img, trans, config):
    return _target(joint_img, trans, config, only_target=True)


def overwrites_its_input(joint_img, trans, config):
    return _target(joint_img, trans, config, in_place=True)


def test_joints_to_target_check():
    assert_verdicts(ex09.q2, reference("09.2", "my_joints_to_target"), [
        (crop_pixels, "x, y are still in crop pixels"),
        (transposed_trans, "you multiplied by the transposed matrix"),
        (no_translation, "forgot the translation"),
        (x_scaled_by_height, "x was scaled with the crop's height"),
        (no_plus_one, "z has no +1 shift"),
        (no_half_box, "z was not divided by half the 3D box"),
        (z_in_mm, "z is still in millimetres"),
        (vis_ignores_depth, "vis ignores depth"),
        (vis_far_edge, "a joint at x = 256 (or y = 256) was counted visible"),
        (vis_after_scaling, "vis was tested on heatmap cells"),
        (hard_coded_64, "use config.depth_dim, never a hard-coded 64"),
        (hard_coded_256, "use config.input_shape, never a hard-coded 256"),
        (hard_coded_1000, "use config.bbox_3d_shape[0] / 2, never a hard-coded 1000"),
        (vis_bounds_swapped, "vis compares x with the crop's height"),
        (flat_vis, "yours is flat"),
        (only_the_target, "you returned only the target"),
        (overwrites_its_input, "changed the joint_img or trans it was given"),
    ])


def test_other_correct_targets_pass():
    def float64_and_bool(joint_img, trans, config):
        target, vis = reference("09.2", "my_joints_to_target")(joint_img, trans, config)
        return target.astype(np.float64), vis.astype(bool)

    def vis_on_the_output_grid(joint_img, trans, config):  # cells against output_shape: the same test
        target, _ = _target(joint_img, trans, config)
        (out_h, out_w), z01 = config.output_shape, target[:, 2] / config.depth_dim
        inside = ((target[:, 0] >= 0) & (target[:, 0] < out_w) & (target[:, 1] >= 0) & (target[:, 1] < out_h)
                  & (z01 >= 0) & (z01 < 1))
        return target, inside[:, None]

    for answer in (float64_and_bool, vis_on_the_output_grid):
        result = ex09.q2.result(answer)
        assert result.status == PASSED, result.message



def test_questions_have_hints_and_answers(capsys):
    ex09.q3.hint()
    ex09.q3.hint(2)
    ex09.q3.answer()
    printed = capsys.readouterr().out
    assert "question 09.3" in printed and "31.25 mm" in printed
