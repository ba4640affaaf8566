"""Metrics (lesson 13) against answers known by construction and an alignment written another way (Horn, 1987)."""
from __future__ import annotations

import numpy as np
import pytest

from minipose.metrics import auc, joint_errors, mpjpe, pa_mpjpe, pck3d, rigid_align


def _people(seed=0, n=4):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 300.0, (n, 18, 3)) + [0.0, 0.0, 5000.0]


def _rotation(seed):
    q = np.random.default_rng(seed).normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def horn_align(pred, true, scale=False):
    """Best rotation by Horn's quaternion method (the top eigenvector of a 4 × 4 matrix; it is never a mirror),
    then the least-squares scale for that rotation. No SVD, so no code shared with rigid_align."""
    p, t = pred - pred.mean(0), true - true.mean(0)
    M = p.T @ t  # M[a, b] = sum_j p_ja t_jb
    (Sxx, Sxy, Sxz), (Syx, Syy, Syz), (Szx, Szy, Szz) = M
    N = np.array([[Sxx + Syy + Szz, Syz - Szy, Szx - Sxz, Sxy - Syx],
                  [Syz - Szy, Sxx - Syy - Szz, Sxy + Syx, Szx + Sxz],
                  [Szx - Sxz, Sxy + Syx, -Sxx + Syy - Szz, Syz + Szy],
                  [Sxy - Syx, Szx + Sxz, Syz + Szy, -Sxx - Syy + Szz]])
    w, x, y, z = np.linalg.eigh(N)[1][:, -1]
    R = np.array([[w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y)],
                  [2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x)],
                  [2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z]])
    turned = p @ R.T
    s = (turned * t).sum() / (p * p).sum() if scale else 1.0
    return s * turned + true.mean(0)


def test_identical_poses_score_zero_everywhere():
    true = _people()
    assert mpjpe(true, true) == 0 and pa_mpjpe(true, true) < 1e-9 and pa_mpjpe(true, true, scale=True) < 1e-9
    assert pck3d(joint_errors(true, true)) == 100 and auc(joint_errors(true, true)) == 100


def test_a_shift_of_every_joint_costs_nothing_and_one_joint_costs_its_share():
    true = _people()
    assert mpjpe(true + [40.0, -30.0, 500.0], true) == pytest.approx(0.0, abs=1e-9)  # root-aligned
    moved = true.copy()
    moved[:, 5, 2] += 170.0  # one non-root evaluation joint, 170 mm
    assert mpjpe(moved, true) == pytest.approx(10.0)  # 170 / 17
    moved[:, 17] += [900.0, 0.0, 0.0]  # thorax is not scored
    assert mpjpe(moved, true) == pytest.approx(10.0)
    moved[:, 0] += [0.0, 85.0, 0.0]  # the root moves: root alignment moves the error onto the other 16 joints
    assert mpjpe(moved, true) > 10.0


def test_rigid_motion_and_scale_are_forgiven_by_the_right_alignment():
    true = _people(1)
    turned = true @ _rotation(2).T + [100.0, 50.0, -200.0]
    assert mpjpe(turned, true) > 100
    assert pa_mpjpe(turned, true) < 1e-6 and pa_mpjpe(turned, true, scale=True) < 1e-6
    scaled = (true - true.mean(axis=1, keepdims=True)) * 1.2 + true.mean(axis=1, keepdims=True)
    assert pa_mpjpe(scaled, true, scale=True) < 1e-6
    assert pa_mpjpe(scaled, true) > 10  # the rigid alignment (the official one) cannot undo a size


@pytest.mark.parametrize("mirror", [False, True])
@pytest.mark.parametrize("scale", [False, True])
def test_rigid_align_equals_horns_quaternion_method(mirror, scale):
    rng = np.random.default_rng(7)
    for k in range(5):
        pred = rng.normal(0.0, 300.0, (18, 3))
        true = pred @ _rotation(10 + k).T * (1.3 if scale else 1.0) + rng.normal(0.0, 40.0, (18, 3)) + [5, 6, 7.0]
        if mirror:  # a mirror image: the best orthogonal fit would mirror, the alignment must not
            true = true * [1.0, -1.0, 1.0]
        got, want = rigid_align(pred, true, scale), horn_align(pred, true, scale)
        np.testing.assert_allclose(got, want, atol=1e-6)
        R = np.linalg.lstsq(pred - pred.mean(0), got - got.mean(0), rcond=None)[0]
        assert np.linalg.det(R) > 0  # a rotation (times a positive scale), never a reflection


def test_pck_and_auc_on_a_hand_counted_list():
    errors = np.array([0.0, 50.0, 149.0, 150.0, 151.0, 300.0])
    assert pck3d(errors) == pytest.approx(400 / 6)  # 0, 50, 149 and 150 are within 150 mm
    assert pck3d(errors, 50.0) == pytest.approx(200 / 6)
    # thresholds 0, 5, ..., 150 (31): error 0 is within all 31, 50 within 21, 149 and 150 within 1 each, the rest none
    assert auc(errors) == pytest.approx((31 + 21 + 1 + 1) / (31 * 6) * 100)


def official_pa_mpjpe(pred, true, scale=False):
    """Human36M.evaluate of the official code, protocol 1, written out here another way: per person, both poses
    root-aligned, the prediction moved onto the truth by Horn's method (all 18 joints), then the 17 evaluation
    joints (thorax, the last, left out) measured as they lie. No code from minipose.metrics."""
    errors = []
    for p, t in zip(np.asarray(pred, float), np.asarray(true, float)):
        p, t = p - p[0], t - t[0]  # the pelvis is joint 0
        aligned = horn_align(p, t, scale)
        errors.append(np.sqrt(((aligned[:17] - t[:17]) ** 2).sum(axis=1)))
    return float(np.mean(errors))


def _poses_with_a_wrong_pelvis(seed=3, n=6):
    """Predictions whose pelvis is far off while the rest of the body is near: after the best fit the pelvis keeps
    a large residual, where measuring "as aligned" and "root-aligned again" differ by tens of millimetres."""
    rng = np.random.default_rng(seed)
    true = _people(seed, n)
    pred = true + rng.normal(0.0, 30.0, true.shape)
    pred[:, 0] += rng.normal(0.0, 250.0, (n, 3))
    return pred, true


@pytest.mark.parametrize("scale", [False, True])
def test_pa_mpjpe_measures_the_aligned_pose_as_the_official_evaluation_does(scale):
    pred, true = _poses_with_a_wrong_pelvis()
    want = official_pa_mpjpe(pred, true, scale)
    assert pa_mpjpe(pred, true, scale=scale) == pytest.approx(want, rel=1e-9)
    # The mistake this test is for: the aligned pose handed to mpjpe, which root-aligns it a second time.
    realigned = np.stack([rigid_align(p - p[0], t - t[0], scale) for p, t in zip(pred, true)])
    assert abs(mpjpe(realigned, true) - want) > 20.0
    # Random poses (no structure at all), many of them: still equal.
    rng = np.random.default_rng(11)
    pred, true = rng.normal(0.0, 300.0, (2, 20, 18, 3))
    assert pa_mpjpe(pred, true, scale=scale) == pytest.approx(official_pa_mpjpe(pred, true, scale), rel=1e-9)


def test_no_small_rotation_or_shift_lowers_the_rigid_pa_error():
    """Brute force, no formula: nudging the aligned pose by small rotations and shifts never lowers the squared
    error over the 18 joints the fit used, and the 17 evaluation joints' mean distance is what pa_mpjpe says."""
    pred, true = _poses_with_a_wrong_pelvis(5, 2)
    for p, t in zip(pred, true):
        p, t = p - p[0], t - t[0]
        aligned = rigid_align(p, t)
        base = ((aligned - t) ** 2).sum()
        assert pa_mpjpe(p[None], t[None]) == pytest.approx(np.linalg.norm(aligned[:17] - t[:17], axis=1).mean())
        centre = aligned.mean(axis=0)
        rng = np.random.default_rng(0)
        for _ in range(100):
            axis = rng.normal(size=3)
            axis /= np.linalg.norm(axis)
            K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
            a = np.radians(rng.uniform(0.2, 2.0))
            R = np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K  # Rodrigues: a turn of a about axis
            moved = (aligned - centre) @ R.T + centre + rng.normal(0.0, 2.0, 3)
            assert ((moved - t) ** 2).sum() >= base - 1e-6
