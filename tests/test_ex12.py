"""Exercise checks of lesson 12 (from heatmaps to millimetres): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import numpy as np
import torch

from exercise_helpers import assert_verdicts, reference
from minipose.camera import cam2pixel
from minipose.config import Config
from minipose.data import crop_affine, joints_to_target
from minipose.exercises import PASSED, ex12
from minipose.infer import bins_to_mm, crop_to_image


# --- 12.0: a joint's depth target, predicted ------------------------------------------------------------------------

def test_depth_bin_check():
    assert_verdicts(ex12.q0, reference("12.0", "depth_bin"), [
        (10.4, "300 mm *behind* the root"),
        (2.4, "counts from bin 0 as if it were the root"),
        (0.35, "fraction of the box's depth"),
        (22.4, "the paper's 64 bins"),
        (6, "not rounded to a bin"),
        (8, "the root's own bin"),
        ("5.6 bins", "give one number of bins"),
        (7.0, "how many millimetres is the joint behind"),
    ])
    assert ex12.q0.result(np.float32(5.6)).status == PASSED
    assert ex12.q0.result(torch.tensor(5.6)).status == PASSED


def test_depth_bin_reference_is_what_the_data_pipeline_makes():
    target, _ = joints_to_target(np.array([[0.0, 0.0, -300.0]]), np.eye(2, 3), Config(depth_dim=16))
    assert abs(target[0, 2] - 5.6) < 1e-5
    assert abs(bins_to_mm(5.6, Config(depth_dim=16)) + 300.0) < 1e-9


# --- 12.1: a depth distribution's mean and spread, in mm ------------------------------------------------------------

def _spread(p, config, centres=0.0, per_bin=None, about=None, normalise=True):
    """Mean and std of the depth, written with torch (a student might), one thing changeable."""
    w = torch.as_tensor(np.asarray(p), dtype=torch.float64)
    d, box = config.depth_dim, float(config.bbox_3d_shape[0])
    prob = w / w.sum() if normalise else w
    k = torch.arange(d, dtype=torch.float64) + centres
    mean = (prob * k).sum()
    std = ((prob * (k - (mean if about is None else about)) ** 2).sum()).sqrt()
    per_bin = box / d if per_bin is None else per_bin(config)
    return (mean * per_bin - box / 2).item(), (std * per_bin).item()


def _then(change):
    return lambda p, c: change(*_spread(p, c), c)


def test_depth_spread_check():
    assert_verdicts(ex12.q1, reference("12.1", "my_depth_spread"), [
        (_then(lambda d, s, c: (d, s - c.bbox_3d_shape[0] / 2)), "your spread has the offset"),
        (_then(lambda d, s, c: (d, s ** 2)), "you returned the variance"),
        (_then(lambda d, s, c: (d, s / c.bbox_3d_shape[0] * c.depth_dim)), "your spread is in bins"),
        (_then(lambda d, s, c: (d / c.bbox_3d_shape[0] * c.depth_dim + c.depth_dim / 2, s)), "your depth is in bins"),
        (_then(lambda d, s, c: (s, d)), "you returned (spread, depth)"),
        (_then(lambda d, s, c: (-d, s)), "wrong sign"),
        (lambda p, c: _spread(p, c, centres=0.5), "its centre"),
        (lambda p, c: _spread(p, c, per_bin=lambda c: c.bbox_3d_shape[0] / (c.depth_dim - 1)),
         "divided by depth_dim - 1"),
        (lambda p, c: _spread(p, c, about=c.depth_dim / 2), "about the root's bin"),
        (lambda p, c: _spread(p, c, normalise=False), "not normalised"),
        (_then(lambda d, s, c: (d + 1.0, s)), "the depth is"),
        (_then(lambda d, s, c: (d, s, 0.0)), "shaped (2,)"),
    ])
    assert ex12.q1.result(_spread).status == PASSED  # a correct answer written differently passes too


def test_depth_spread_reference_against_samples():
    """The checker's mean and spread equal those of depths drawn from the distribution and mapped with
    bins_to_mm (a different road: sampling, then the package's map)."""
    rng = np.random.default_rng(0)
    for seed, (_, config) in enumerate(ex12._SPREAD_CONFIGS):
        w = ex12._spread_weights(config.depth_dim, seed)
        draws = bins_to_mm(rng.choice(config.depth_dim, size=400_000, p=w / w.sum()), config)
        mean, std = ex12._moments(w, config.depth_dim, float(config.bbox_3d_shape[0]))
        assert abs(draws.mean() - mean) < 3.0 and abs(draws.std() - std) < 3.0, (draws.mean(), mean, draws.std(), std)


# --- 12.2: camera millimetres onto the heatmap's cells --------------------------------------------------------------

def _cells(j, b, f, c, k, shape=None, cx=None, cy=None, fy=None, divide=True, corner=(0.0, 0.0)):
    """Written as a student might: pinhole, then the official cells -> pixels formula turned round."""
    j = np.asarray(j, dtype=np.float64)
    z = j[:, 2] if divide else 1.0
    x = f[0] * j[:, 0] / z + (c[0] if cx is None else cx)
    y = (f[1] if fy is None else fy) * j[:, 1] / z + (c[1] if cy is None else cy)
    h, w = k.output_shape if shape is None else shape(k)
    return np.stack([(x - b[0] - corner[0] * b[2]) * w / b[2], (y - b[1] - corner[1] * b[3]) * h / b[3]], axis=1)


def test_camera_to_cells_check():
    assert_verdicts(ex12.q2, reference("12.2", "my_camera_to_cells"), [
        (lambda j, b, f, c, k: _cells(j, b, f, c, k, shape=lambda k: k.input_shape), "those are crop pixels"),
        (lambda j, b, f, c, k: _cells(j, b, f, c, k, cx=0.0, cy=0.0), "you forgot the principal point"),
        (lambda j, b, f, c, k: _cells(j, b, f, c, k, corner=(0.5, 0.5)), "counted from the box's centre"),
        (lambda j, b, f, c, k: _cells(j, b, f, c, k, shape=lambda k: k.output_shape[::-1]),
         "x has output width cells"),
        (lambda j, b, f, c, k: _cells(j, b, f, c, k, fy=f[0]), "you used fx for y too"),
        (lambda j, b, f, c, k: _cells(j, b, f, c, k, cx=c[1], cy=c[0]), "x goes with cx, y with cy"),
        (lambda j, b, f, c, k: _cells(j, b, f, c, k, divide=False), "you did not divide by Z"),
        (lambda j, b, f, c, k: _cells(j, [0.0, 0.0, b[2], b[3]], f, c, k), "you forgot the box's corner"),
        (lambda j, b, f, c, k: _cells(j, b, f, c, k)[:, ::-1], "your columns are (y, x)"),
        (lambda j, b, f, c, k: _cells(j, b, f, c, k) + 0.1, "is at cell"),
        (lambda j, b, f, c, k: np.column_stack([_cells(j, b, f, c, k), j[:, 2]]), "J x 2"),
    ])


def test_camera_to_cells_reference_against_the_package():
    """The checker's cells, taken back by lesson 12's crop_to_image through the crop's affine, land on the
    joints' pixels from lesson 08's cam2pixel."""
    for seed, (_, config, f, c) in enumerate(ex12._CELL_CASES):
        joints, bbox = ex12._cells_case(config, f, c, seed)
        cells = ex12._cells(joints, bbox, f, c, config.output_shape)
        back = crop_to_image(cells, crop_affine(bbox, 1000, config.input_shape), config)
        assert np.abs(back - cam2pixel(joints, f, c)[:, :2]).max() < 1e-6


# --- correct answers in float32 torch pass; tensors that need grad get a verdict, not a crash ----------------------

def test_float32_torch_answers_pass():
    def spread32(p, c):
        w = torch.tensor(p, dtype=torch.float32)
        w = w / w.sum()
        k = torch.arange(len(w), dtype=torch.float32)
        mean = (w * k).sum()
        per_bin = c.bbox_3d_shape[0] / c.depth_dim
        return torch.stack([mean * per_bin - c.bbox_3d_shape[0] / 2, (w * (k - mean) ** 2).sum().sqrt() * per_bin])

    def cells32(j, b, f, c, k):
        j = torch.tensor(j, dtype=torch.float32, requires_grad=True)
        x = f[0] * j[:, 0] / j[:, 2] + c[0]
        y = f[1] * j[:, 1] / j[:, 2] + c[1]
        return torch.stack([(x - b[0]) / b[2] * k.output_shape[1], (y - b[1]) / b[3] * k.output_shape[0]], 1)

    for exercise, answer in [(ex12.q1, spread32), (ex12.q2, cells32)]:
        result = exercise.result(answer)
        assert result.status == PASSED, (exercise.number, result.message)


def test_questions_have_hints_and_answers(capsys):
    for question in (ex12.q3, ex12.q4):
        question.hint()
        question.answer()
    printed = capsys.readouterr().out
    assert "question 12.3" in printed and "question 12.4" in printed
