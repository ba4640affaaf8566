"""Exercise checks of lesson 00 (the big picture): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch

from exercise_helpers import assert_verdicts, reference
from minipose.config import Config
from minipose.exercises import PASSED, ex00


def test_bin_width_prediction_check():
    assert_verdicts(ex00.q0, reference("00.0", "bin_width_mm"), [
        (1000 / 64, "half the box"),
        (62.5, "a 4000 mm box"),
        (2000 / 63, "you divided by 63"),
        (125, "shipped toy network's bin"),
        (0.03125, "that is in metres"),
        (64, "how many bins there are"),
        (2000, "is the whole box"),
        (2000 / 256, "256 is the crop's size in pixels"),
        (31.3, "keep the exact value"),
        (20, "20 mm is not it"),
        ("31.25 mm", "give one number of millimetres"),
        (True, "give one number of millimetres"),
    ])
    for form in (31.25, np.float32(31.25), torch.tensor(31.25)):  # what a cell may compute also counts
        assert ex00.q0.result(form).status == PASSED, form


def test_bin_width_reference_against_the_settings_by_fractions():
    """The checker's 2000 / 64, against the package's Config, in exact arithmetic (no float rounding)."""
    config = Config()
    right = Fraction(config.bbox_3d_shape[0], config.depth_dim)
    assert right == Fraction(125, 4)
    assert ex00.q0.result(float(right)).status == PASSED


def test_sizes_check():
    assert_verdicts(ex00.q1, reference("00.1", "feature_and_heatmap_size"), [
        (lambda h, w: ((w // 32, h // 32), (w // 4, h // 4)), "(width, height) pairs"),
        (lambda h, w: ((h // 32, w // 32), (h // 8, w // 8)), "not 1/8"),
        (lambda h, w: ((h // 32, w // 32), (h // 32, w // 32)), "your heatmap has the backbone's size"),
        (lambda h, w: ((h // 16, w // 16), (h // 4, w // 4)), "divides by 32, not 16"),
        (lambda h, w: ((h / 32, w / 32), (h / 4, w / 4)), "some are floats"),
        (lambda h, w: ((h // 32, h // 32), (h // 4, h // 4)), "both sides of your sizes come from the height"),
        (lambda h, w: ((h // 4, w // 4), (h // 32, w // 32)), "heatmap size first"),
        (lambda h, w: (h // 32, w // 32, h // 4, w // 4), "not four numbers in a row"),
        (lambda h, w: ((h // 32, w // 32), (h // 2, w // 2)), "your heatmap size (96, 128) is not"),
        (lambda h, w: ((h // 64, w // 64), (h // 4, w // 4)), "halves the size five times"),
    ])


def test_sizes_square_crop_cannot_hide_a_swap():
    """A swap is invisible on 256 x 256; the non-square crops must still catch it."""
    swapped = ex00.q1.result(lambda h, w: ((w // 32, h // 32), (h // 4, w // 4)))
    assert swapped.status == "failed" and "(height, width)" in swapped.message


def _mm(z, depth=64, box=2000):
    return (z / depth * 2 - 1) * (box / 2)


def no_centring(z_bin):
    return z_bin / 64 * 2000


def minus_one(z_bin):
    return (z_bin / 63 * 2 - 1) * 1000


def full_box_as_half(z_bin):
    return (z_bin / 64 * 2 - 1) * 2000


def sign_flipped(z_bin):
    return (1 - z_bin / 64 * 2) * 1000


def centre_31_5(z_bin):
    return (z_bin - 31.5) * 2000 / 64


def in_place(z_bin):
    if isinstance(z_bin, torch.Tensor):
        z_bin /= 64
        return (z_bin * 2 - 1) * 1000
    return _mm(z_bin)


def returns_list(z_bin):
    return _mm(z_bin).tolist() if isinstance(z_bin, torch.Tensor) else _mm(z_bin)


def math_only(z_bin):
    return (math.floor(z_bin * 1000) / 1000 / 64 * 2 - 1) * 1000


def test_bin_to_mm_check():
    assert_verdicts(ex00.q2, reference("00.2", "bin_to_mm"), [
        (no_centring, "not centred on the root"),
        (minus_one, "depth_dim - 1 = 63"),
        (full_box_as_half, "twice too large"),
        (sign_flipped, "the sign is flipped"),
        (centre_31_5, "your centre is bin 31.5"),
        (in_place, "changed its input tensor in place"),
        (returns_list, "return a tensor of the same shape"),
        (math_only, "only one element tensors can be converted"),
        (lambda z: _mm(z) + 0.5, "bin 0 -> -999.5 mm"),
    ])


def test_bin_to_mm_names_rounding():
    def snapped(z_bin):
        return _mm(z_bin.round() if isinstance(z_bin, torch.Tensor) else float(round(z_bin)))
    assert "you rounded the bin" in ex00.q2.result(snapped).message


def test_bin_to_mm_accepts_a_zero_dimensional_tensor_for_a_number():
    result = ex00.q2.result(lambda z: _mm(torch.as_tensor(z, dtype=torch.float32)))
    assert result.passed, result.message


def test_sizes_refuse_the_configs_own_heatmap_size():
    """Config.output_shape is the package's heatmap size (input // 4): an answer that reads it is refused."""
    def from_config(h, w):
        return (h // 32, w // 32), Config(input_shape=(h, w)).output_shape
    result = ex00.q1.result(from_config)
    assert result.status == "failed" and "this calls minipose.Config" in result.message
