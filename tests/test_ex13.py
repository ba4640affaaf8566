"""Exercise checks of lesson 13 (measuring as the paper does): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import numpy as np

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import ex13


# --- 13.1: MPJPE ---------------------------------------------------------------------------------------------------

def _dist(pred, true):
    return np.sqrt(((pred - true) ** 2).sum(axis=2))


def test_mpjpe_check():
    assert_verdicts(ex13.q1, reference("13.1", "my_mpjpe"), [
        (lambda p, t: _dist(p, t)[:, :17].mean(), "did not align the roots"),
        (lambda p, t: _dist(p - p[:, :1], t)[:, :17].mean(), "do the same to the true pose"),
        (lambda p, t: _dist(p - p[:, :1], t - t[:, :1]).mean(), "thorax (joint 17)"),
        (lambda p, t: (_dist(p - p[:, :1], t - t[:, :1])[:, :17] ** 2).mean(), "squared distances"),
        (lambda p, t: np.sqrt((_dist(p - p[:, :1], t - t[:, :1])[:, :17] ** 2).mean()), "(RMS)"),
        (lambda p, t: np.abs((p - p[:, :1]) - (t - t[:, :1]))[:, :17].mean(), "one Euclidean distance"),
        (lambda p, t: _dist(p - p[:, :1], t - t[:, :1])[:, :17].sum(axis=1).mean(), "summed over the joints"),
        (lambda p, t: _dist(p - p[:, :1], t - t[:, :1])[:, 1:17].mean(), "left out the pelvis"),
        (lambda p, t: "12 mm", "return one number"),
    ])


# --- 13.2: Procrustes ------------------------------------------------------------------------------------------------

def _centred(pred, true):
    return pred - pred.mean(0), true - true.mean(0)


def no_reflection_fix(pred, true):
    p, t = _centred(pred, true)
    U, _, Vt = np.linalg.svd(t.T @ p)
    return p @ (U @ Vt).T + true.mean(0)


def transposed(pred, true):
    p, t = _centred(pred, true)
    U, _, Vt = np.linalg.svd(t.T @ p)
    if np.linalg.det(U @ Vt) < 0:
        U[:, -1] *= -1
    return p @ (U @ Vt) + true.mean(0)


def not_centred(pred, true):
    U, _, Vt = np.linalg.svd(true.T @ pred)
    if np.linalg.det(U @ Vt) < 0:
        U[:, -1] *= -1
    return pred @ (U @ Vt).T


def at_origin(pred, true):
    p, t = _centred(pred, true)
    U, _, Vt = np.linalg.svd(t.T @ p)
    if np.linalg.det(U @ Vt) < 0:
        U[:, -1] *= -1
    return p @ (U @ Vt).T


def with_scale(pred, true):
    p, t = _centred(pred, true)
    U, S, Vt = np.linalg.svd(t.T @ p)
    d = np.ones(3)
    if np.linalg.det(U @ Vt) < 0:
        d[-1] = -1
    s = (S * d).sum() / (p ** 2).sum()
    return s * p @ ((U * d) @ Vt).T + true.mean(0)


def always_flipped(pred, true):
    # negates the last singular vector every time, not only when det(U @ Vt) < 0: on an ordinary pair the answer
    # is a reflection that matches none of the listed wrong answers, so only the check's fallback (an orthogonal
    # map with determinant -1, found by least squares) can name it
    p, t = _centred(pred, true)
    U, _, Vt = np.linalg.svd(t.T @ p)
    U[:, -1] *= -1
    return p @ (U @ Vt).T + true.mean(0)


def test_rigid_align_check():
    assert_verdicts(ex13.q2, reference("13.2", "my_rigid_align"), [
        (no_reflection_fix, "mirror image of pred"),
        (always_flipped, "only when det(U @ Vt) < 0"),
        (transposed, "wrong way round"),
        (not_centred, "raw points"),
        (at_origin, "sits at the origin"),
        (with_scale, "also scaled"),
        (lambda p, t: p, "from the best rigid fit"),
        (lambda p, t: p[:, :2], "shaped (18, 3)"),
    ])


# --- correct answers in float32 torch pass; tensors that need grad get a verdict, not a crash ----------------------

def test_float32_torch_answers_pass():
    import torch

    from minipose.exercises import PASSED

    def mpjpe32(pred, true):
        p, t = torch.from_numpy(pred).float(), torch.from_numpy(true).float()
        return ((p - p[:, :1]) - (t - t[:, :1])).norm(dim=-1)[:, :17].mean().item()

    def align32(pred, true):
        p, t = torch.from_numpy(pred).float(), torch.from_numpy(true).float()
        p, mu = p - p.mean(0), t.mean(0)
        U, S, Vt = torch.linalg.svd((t - mu).T @ p)
        if torch.linalg.det(U @ Vt) < 0:
            U[:, -1] = -U[:, -1]
        return p @ (U @ Vt).T + mu

    for exercise, answer in [(ex13.q1, mpjpe32), (ex13.q2, align32)]:
        result = exercise.result(answer)
        assert result.status == PASSED, (exercise.number, result.message)

