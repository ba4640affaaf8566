"""Exercise checks of lesson 12 (from heatmaps to millimetres): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import ex12


# --- 12.1: bins to millimetres, each wrong in one way ----------------------------------------------------------------

def test_bins_to_mm_check():
    assert_verdicts(ex12.q1, reference("12.1", "my_bins_to_mm"), [
        (lambda z, c: (z / (c.depth_dim - 1) - 0.5) * c.bbox_3d_shape[0], "divide by depth_dim"),
        (lambda z, c: z / c.depth_dim * c.bbox_3d_shape[0], "subtract half the box"),
        (lambda z, c: (0.5 - z / c.depth_dim) * c.bbox_3d_shape[0], "wrong sign"),
        (lambda z, c: (z / c.depth_dim - 0.5) * c.bbox_3d_shape[0] / 2, "span half the box"),
        (lambda z, c: (z / 64 - 0.5) * c.bbox_3d_shape[0], "take config.depth_dim"),
        (lambda z, c: (z / c.depth_dim - 0.5) * 2000, "config.bbox_3d_shape[0]"),
        (lambda z, c: z.sum(), "shaped"),
    ])


# --- 12.2: back-projection -------------------------------------------------------------------------------------------

def test_pixel_to_camera_check():
    assert_verdicts(ex12.q2, reference("12.2", "my_pixel_to_camera"), [
        (lambda x, y, d, f, c: (x / f[0] * d, y / f[1] * d, d), "principal point"),
        (lambda x, y, d, f, c: ((x - c[0]) * f[0] * d, (y - c[1]) * f[1] * d, d), "multiplied by the focal"),
        (lambda x, y, d, f, c: ((x - c[0]) / f[0] / d, (y - c[1]) / f[1] / d, d), "divided by the depth"),
        (lambda x, y, d, f, c: ((x - c[1]) / f[1] * d, (y - c[0]) / f[0] * d, d), "you swapped them"),
        (lambda x, y, d, f, c: ((x - c[0]) / f[0] * d, (y - c[1]) / f[0] * d, d), "used fx for y"),
        (lambda x, y, d, f, c: ((x - c[0]) / f[0], (y - c[1]) / f[1], 1.0), "direction at Z = 1"),
        (lambda x, y, d, f, c: ((x - c[0]) / f[0] * d, (y - c[1]) / f[1] * d), "shaped (3,)"),
    ])


# --- correct answers in float32 torch pass; tensors that need grad get a verdict, not a crash ----------------------

def test_float32_torch_answers_pass():
    import torch

    from minipose.exercises import PASSED

    def bins32(z, c):
        return torch.tensor(z, dtype=torch.float32) / c.depth_dim * c.bbox_3d_shape[0] - c.bbox_3d_shape[0] / 2

    def back32(x, y, d, f, c):
        return torch.tensor([(x - c[0]) / f[0] * d, (y - c[1]) / f[1] * d, d], requires_grad=True)

    for exercise, answer in [(ex12.q1, bins32), (ex12.q2, back32)]:
        result = exercise.result(answer)
        assert result.status == PASSED, (exercise.number, result.message)

