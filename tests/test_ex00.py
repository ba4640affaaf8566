"""Exercise checks of lesson 00 (the big picture): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch

from exercise_helpers import assert_verdicts, reference
from minipose.config import Config
from minipose.exercises import PASSED, ex00


def test_root_bin_prediction_check():
    assert_verdicts(ex00.q0, reference("00.0", "root_bin"), [
        (31.5, "the middle of the indices 0 .. 63"),
        (0, "z is not measured from the root"),
        (64, "the box's far edge"),
        (63, "bin 63 is the last bin"),
        (31, "one bin short"),
        (33, "one bin too far"),
        (1000, "is in millimetres"),
        (8, "the shipped network's 16 bins"),
        (20, "20 is not it"),
        ("32 bins", "give one number of depth bins"),
        (True, "give one number of depth bins"),
    ])
    for form in (32, 32.0, np.float32(32), torch.tensor(32.0), "32"):  # what a cell may compute also counts
        assert ex00.q0.result(form).status == PASSED, form


def test_root_bin_reference_against_the_official_formula_by_fractions():
    """The checker's 32, against the official dataset.py's depth target for 0 mm, in exact arithmetic."""
    config = Config()
    z = (Fraction(0) / (Fraction(config.bbox_3d_shape[0]) / 2) + 1) / 2 * config.depth_dim
    assert z == 32 and ex00.q0.result(float(z)).status == PASSED


def _crop(cells_h, cells_w):
    return (cells_h * 4, cells_w * 4), (cells_h // 8, cells_w // 8)


def _only_when_whole(fn):
    def answer(cells_h, cells_w):
        return None if cells_h % 8 or cells_w % 8 else fn(cells_h, cells_w)
    return answer


def test_crop_for_heatmap_check():
    assert_verdicts(ex00.q1, reference("00.1", "crop_for_heatmap"), [
        (_crop, "which the backbone cannot take"),
        (lambda h, w: _crop(h, w) if h == 4 or not (h % 8 or w % 8) else None, "a crop side of 16 pixels"),
        (lambda h, w: None if h % 8 or w % 8 else "a crop", "return a pair of pairs"),
        (lambda h, w: None, "None is only for a heatmap side"),
        (_only_when_whole(lambda h, w: ((w * 4, h * 4), (w // 8, h // 8))), "(width, height) pairs"),
        (_only_when_whole(lambda h, w: ((h * 8, w * 8), (h // 4, w // 4))), "twice too large"),
        (_only_when_whole(lambda h, w: ((h * 32, w * 32), (h, w))), "not 32 times"),
        (_only_when_whole(lambda h, w: ((h * 4, w * 4), (h // 4, w // 4))), "not 1/4 of it"),
        (_only_when_whole(lambda h, w: ((h * 4.0, w * 4.0), (h / 8, w / 8))), "some are floats"),
        (_only_when_whole(lambda h, w: ((h // 8, w // 8), (h * 4, w * 4))), "feature map first"),
        (_only_when_whole(lambda h, w: (h * 4, w * 4, h // 8, w // 8)), "not four numbers in a row"),
        (_only_when_whole(lambda h, w: ((h * 4, w * 4), (h // 2, w // 2))), "your feature map (32, 32) is not"),
        (_only_when_whole(lambda h, w: ((h * 2, w * 2), (h // 8, w // 8))), "halves the crop five times"),
    ])


def test_crop_for_heatmap_reference_against_the_network():
    """The checker's sizes, against the backbone and head built and run (not traced) on a real crop."""
    from minipose.posenet import get_pose_net

    net = get_pose_net(Config(resnet_type=18, input_shape=(64, 96), depth_dim=2), is_train=False, joint_num=1)
    with torch.no_grad():
        feature = net.backbone(torch.zeros(1, 3, 64, 96))
        heatmap = net.head(feature)
    assert tuple(heatmap.shape[2:]) == (16, 24) and ex00._expected_crop(16, 24) == ((64, 96), tuple(feature.shape[2:]))
    assert ex00._expected_crop(20, 24) is None  # 80 pixels: the backbone refuses a side that is not a multiple of 32
    try:
        net.backbone(torch.zeros(1, 3, 80, 96))
    except (ValueError, RuntimeError) as err:
        assert "32" in str(err)
    else:
        raise AssertionError("the backbone took an 80-pixel side")


def test_crop_for_heatmap_square_heatmaps_cannot_hide_a_swap():
    """A swap is invisible on square heatmaps; the non-square ones must still catch it."""
    swapped = ex00.q1.result(_only_when_whole(lambda h, w: ((w * 4, h * 4), (h // 8, w // 8))))
    assert swapped.status == "failed" and "(height, width)" in swapped.message


def _bin(z, depth=64, box=2000):
    return (z / (box / 2) + 1) / 2 * depth


def _with_flag(to_bin, low=0, high=64, closed=False):
    def answer(z_mm):
        z_bin = to_bin(z_mm)
        return z_bin, (z_bin >= low) & ((z_bin <= high) if closed else (z_bin < high))
    return answer


def in_place(z_mm):
    if isinstance(z_mm, torch.Tensor):
        z_mm /= 1000
        z_bin = (z_mm + 1) / 2 * 64
        return z_bin, (z_bin >= 0) & (z_bin < 64)
    return _with_flag(_bin)(z_mm)


def flag_as_int(z_mm):
    z_bin, inside = _with_flag(_bin)(z_mm)
    return z_bin, inside.int() if isinstance(inside, torch.Tensor) else int(inside)


def python_chain(z_mm):
    z_bin = _bin(z_mm)
    return z_bin, 0 <= z_bin < 64


def rounded_first(z_mm):
    z_bin = _bin(z_mm)
    near = z_bin.round() if isinstance(z_bin, torch.Tensor) else round(z_bin)
    return z_bin, (near >= 0) & (near < 64)


def test_mm_to_bin_check():
    assert_verdicts(ex00.q2, reference("00.2", "mm_to_bin"), [
        (_with_flag(lambda z: z / 2000 * 64), "not centred on the root"),
        (_with_flag(lambda z: _bin(z, depth=63)), "depth_dim - 1 = 63"),
        (_with_flag(lambda z: _bin(z, box=4000)), "half as many bins"),
        (_with_flag(lambda z: (1 - z / 1000) / 2 * 64), "the sign is flipped"),
        (_with_flag(lambda z: z / 2000 * 64 + 31.5), "your root is at bin 31.5"),
        (_with_flag(lambda z: _bin(z).floor() if isinstance(z, torch.Tensor) else math.floor(_bin(z))),
         "you floored the bin"),
        (_with_flag(lambda z: _bin(z) + 0.5), "the box's -1000 .. +1000 mm must stretch evenly"),
        (_with_flag(_bin, closed=True), "one past the last bin"),
        (_with_flag(_bin, low=1e-9), "-1000 mm is bin 0, the first bin"),
        (rounded_first, "you rounded before testing"),
        (_with_flag(_bin, high=63), "`inside` is wrong for"),
        (in_place, "changed its input tensor in place"),
        (flag_as_int, "must be True or False"),
        (python_chain, "Boolean value of Tensor with more than one value is ambiguous"),
        (_bin, "return a pair (bin, inside)"),
    ])


def test_mm_to_bin_reference_against_the_official_formula_and_fractions():
    """The checker's bins, against the official dataset.py's formula in exact fractions, and its vis test."""
    config = Config()
    for mm in (Fraction(-1000), Fraction(0), Fraction(250), Fraction(-250), Fraction(9999, 10), Fraction(1000)):
        exact = (mm / (Fraction(config.bbox_3d_shape[0]) / 2) + 1) / 2  # data/dataset.py: 0 .. 1 across the box
        got, inside = ex00._reference_bin(torch.tensor([float(mm)], dtype=torch.float64))
        assert abs(float(exact * config.depth_dim) - got.item()) < 1e-9
        assert bool(inside) == (0 <= exact < 1)


def test_mm_to_bin_accepts_numpy_and_zero_dimensional_answers():
    def tensors(z_mm):
        z_bin = torch.as_tensor(_bin(z_mm))
        return z_bin, (z_bin >= 0) & (z_bin < 64)
    assert ex00.q2.result(tensors).passed
    assert ex00.q2.result(lambda z: (np.float64(_bin(z)), np.bool_(0 <= _bin(z) < 64)) if not
                          isinstance(z, torch.Tensor) else _with_flag(_bin)(z)).passed


def test_crop_for_heatmap_refuses_the_configs_own_heatmap_size():
    """Config.output_shape is the package's heatmap size (input // 4): an answer that reads it is refused."""
    def from_config(h, w):
        if h % 8 or w % 8:
            return None
        crop = (h * 4, w * 4)
        assert Config(input_shape=crop).output_shape == (h, w)
        return crop, (h // 8, w // 8)
    result = ex00.q1.result(from_config)
    assert result.status == "failed" and "this calls minipose.Config" in result.message
