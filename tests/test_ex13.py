"""Exercise checks of lesson 13 (measuring as the paper does): the reference passes, realistic mistakes get their own
message, and the checkers' references agree with the same quantities computed another way."""
from __future__ import annotations

import numpy as np

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import PASSED, ex13


# --- 13.0: the MPJPE of a nudged pose ----------------------------------------------------------------------------------

def test_predicted_mpjpe_check():
    assert_verdicts(ex13.q0, reference("13.0", "predicted_mpjpe"), [
        (50, "the pelvis is one of the 17 evaluation joints"),
        (0, "root alignment subtracts the pelvis"),
        (47.22, "you counted 18 joints"),
        (65.88, "not the sum 30 + 40"),
        (70, "and the unmoved pelvis counts too"),
        (21.96, "averaged |dx|, |dy|, |dz| separately"),
        (2352.94, "not squared distances"),
        (12.0, "is not it"),
        ("47 mm", "give one number"),
    ])
    assert ex13.q0.result(47.1).status == PASSED and ex13.q0.result(np.float64(47.06)).status == PASSED


def test_predicted_mpjpe_against_the_package_on_a_real_pose():
    """The checker's 16 x 50 / 17, against minipose.metrics.mpjpe on a pose nudged as the lesson nudges it."""
    from minipose.metrics import mpjpe

    pose = np.random.default_rng(0).normal(0.0, 300.0, (1, 18, 3)) + [0.0, 0.0, 5000.0]
    nudged = pose.copy()
    nudged[:, 1:] += [30.0, 40.0, 0.0]
    assert abs(mpjpe(nudged, pose) - 800 / 17) < 1e-9
    assert ex13.q0.result(mpjpe(nudged, pose)).status == PASSED


# --- 13.1: N-MPJPE -----------------------------------------------------------------------------------------------------

def _dist(a, b):
    return np.sqrt(((a - b) ** 2).sum(axis=-1))


def _n_mpjpe(pred, true, fit=17, measure=17, align=True, scale="lsq", per_person=True, scale_truth=False):
    """N-MPJPE with one thing done differently, as a student might write it."""
    p, t = (pred - pred[:, :1], true - true[:, :1]) if align else (pred, true)
    axes = (1, 2) if per_person else None
    pf, tf = p[:, :fit], t[:, :fit]
    if scale == "lsq":
        s = (pf * tf).sum(axis=axes, keepdims=True) / (pf * pf).sum(axis=axes, keepdims=True)
    elif scale == "sizes":
        s = np.sqrt((tf * tf).sum(axis=axes, keepdims=True) / (pf * pf).sum(axis=axes, keepdims=True))
    elif scale == "over t":
        s = (pf * tf).sum(axis=axes, keepdims=True) / (tf * tf).sum(axis=axes, keepdims=True)
    else:
        s = 1.0
    if scale_truth:
        return float(_dist(s * t, p)[:, :measure].mean())
    return float(_dist(s * p, t)[:, :measure].mean())


def _similarity_pa(pred, true):
    """PA-MPJPE with scale, written from the Umeyama closed form (a student's copy of the lesson's alignment)."""
    errors = []
    for p, t in zip(pred - pred[:, :1], true - true[:, :1]):
        pc, tc = p - p.mean(0), t - t.mean(0)
        U, S, Vt = np.linalg.svd(tc.T @ pc)
        d = np.array([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
        aligned = (S * d).sum() / (pc ** 2).sum() * pc @ ((U * d) @ Vt).T + t.mean(0)
        errors.append(_dist(aligned, t)[:17])
    return float(np.mean(errors))


def test_n_mpjpe_check():
    assert_verdicts(ex13.q1, reference("13.1", "my_n_mpjpe"), [
        (lambda p, t: _n_mpjpe(p, t, scale="none"), "you did not scale the prediction"),
        (lambda p, t: _n_mpjpe(p, t, align=False), "root-align both poses first"),
        (lambda p, t: _n_mpjpe(p, t, per_person=False), "one scale for all the people"),
        (lambda p, t: _n_mpjpe(p, t, scale="sizes"), "you matched the sizes"),
        (lambda p, t: _n_mpjpe(p, t, scale="over t"), "your scale divides by <t, t>"),
        (lambda p, t: _n_mpjpe(p, t, scale="over t", scale_truth=True), "you scaled the truth"),
        (lambda p, t: _n_mpjpe(p, t, fit=18), "you fitted the scale on all 18 joints"),
        (lambda p, t: _n_mpjpe(p, t, fit=18, measure=18), "you fitted and averaged over all 18 joints"),
        (lambda p, t: _n_mpjpe(p, t, measure=18), "you averaged over all 18 joints"),
        (_similarity_pa, "you also turned the pose"),
        (lambda p, t: _n_mpjpe(p, t) + 1.0, "N-MPJPE is"),
        (lambda p, t: [1.0, 2.0], "return one number"),
    ])


def test_n_mpjpe_reference_against_least_squares_per_person():
    """The checker's closed form, against numpy's least-squares solver and a scan of scales, person by person."""
    pred, true = ex13._sized_poses(1301)
    errors = []
    for p, t in zip(pred - pred[:, :1], true - true[:, :1]):
        s = np.linalg.lstsq(p[:17].reshape(-1, 1), t[:17].reshape(-1), rcond=None)[0][0]
        scan = np.linspace(s - 0.05, s + 0.05, 2001)
        sse = [((k * p[:17] - t[:17]) ** 2).sum() for k in scan]
        assert abs(scan[int(np.argmin(sse))] - s) < 1e-4  # lstsq's scale is the minimum
        errors.append(np.linalg.norm(s * p[:17] - t[:17], axis=1))
    assert abs(ex13._n_mpjpe(pred, true) - np.mean(errors)) < 1e-9
    # and with the right size, N-MPJPE is the package's MPJPE of the pose rescaled by hand
    from minipose.metrics import mpjpe

    pose = true[:1]
    bigger = (pose - pose[:, :1]) * 1.2 + pose[:, :1]
    assert abs(ex13._n_mpjpe(bigger, pose)) < 1e-9 and mpjpe(bigger, pose) > 10


# --- 13.2: a turn about the vertical -----------------------------------------------------------------------------------

def _yaw(degrees):
    a = np.radians(degrees)
    return np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])


def _by_angle(a_of):
    """A yaw alignment whose angle (radians) comes from a_of(A, B)."""
    def align(pred, true):
        p, mu = pred - pred.mean(0), true.mean(0)
        t = true - mu
        A = (p[:, 0] * t[:, 0] + p[:, 2] * t[:, 2]).sum()
        B = (p[:, 2] * t[:, 0] - p[:, 0] * t[:, 2]).sum()
        return p @ _yaw(np.degrees(a_of(A, B))).T + mu
    return align


def svd_2d(pred, true, fix=True):
    """The 2-D Kabsch fit in the x-z plane; without the fix it may return a reflection."""
    p, mu = pred - pred.mean(0), true.mean(0)
    t = true - mu
    U, _, Vt = np.linalg.svd(t[:, [0, 2]].T @ p[:, [0, 2]])
    if fix and np.linalg.det(U @ Vt) < 0:
        U[:, -1] *= -1
    out = p.copy()
    out[:, [0, 2]] = p[:, [0, 2]] @ (U @ Vt).T
    return out + mu


def kabsch_3d(pred, true):
    p, t = pred - pred.mean(0), true - true.mean(0)
    U, _, Vt = np.linalg.svd(t.T @ p)
    U[:, -1] *= np.sign(np.linalg.det(U @ Vt))
    return p @ (U @ Vt).T + true.mean(0)


def about_z(pred, true):
    p, t = pred - pred.mean(0), true - true.mean(0)
    U, _, Vt = np.linalg.svd(t[:, :2].T @ p[:, :2])
    U[:, -1] *= np.sign(np.linalg.det(U @ Vt))
    out = p.copy()
    out[:, :2] = p[:, :2] @ (U @ Vt).T
    return out + true.mean(0)


def raw_points(pred, true):
    A = (pred[:, 0] * true[:, 0] + pred[:, 2] * true[:, 2]).sum()
    B = (pred[:, 2] * true[:, 0] - pred[:, 0] * true[:, 2]).sum()
    return pred @ _yaw(np.degrees(np.arctan2(B, A))).T


def y_left(pred, true):
    out = svd_2d(pred, true)
    out[:, 1] = pred[:, 1]
    return out


def test_yaw_align_check():
    assert_verdicts(ex13.q2, reference("13.2", "my_yaw_align"), [
        (_by_angle(lambda A, B: -np.arctan2(B, A)), "your turn goes the wrong way"),
        (_by_angle(lambda A, B: np.arctan(B / A)), "use np.arctan2(B, A)"),
        (kabsch_3d, "you turned about all three axes"),
        (about_z, "you turned about z"),
        (lambda p, t: svd_2d(p, t) - t.mean(0), "sits at the origin"),
        (raw_points, "you fitted the turn to the raw points"),
        (y_left, "your y is pred's y as it was"),
        (lambda p, t: svd_2d(p, t, fix=False), "mirror image in the x-z plane"),
        (lambda p, t: p, "from the best turn about y"),
        (lambda p, t: p[:, :2], "shaped (18, 3)"),
    ])
    assert ex13.q2.result(svd_2d).status == PASSED  # the 2-D SVD with its reflection fixed is a right answer


def test_yaw_reference_against_a_brute_force_scan():
    """The checker's arctan2 closed form, against the best of a fine scan of angles (refined twice)."""
    for seed, degrees, mirror in [(1311, 70.0, False), (1312, 150.0, False), (1313, -40.0, True), (7, -170.0, False)]:
        pred, true = ex13._yaw_pair(seed, degrees, mirror)
        p, mu = pred - pred.mean(0), true.mean(0)
        best, width = 0.0, 180.0
        for _ in range(3):
            angles = np.linspace(best - width, best + width, 3601)
            cost = [((p @ _yaw(a).T + mu - true) ** 2).sum() for a in angles]
            best, width = angles[int(np.argmin(cost))], width / 100
        assert np.allclose(ex13._yaw_align(pred, true), p @ _yaw(best).T + mu, atol=1e-3), seed
        if not mirror:  # with no lean and no noise, the fit finds the turn that made the truth
            centre = pred.mean(0)
            clean = (pred - centre) @ _yaw(degrees).T + centre + 10.0
            assert np.allclose(ex13._yaw_align(pred, clean), clean, atol=1e-6)


def test_float32_torch_answers_pass():
    import torch

    def n_mpjpe32(pred, true):
        p, t = torch.from_numpy(pred).float(), torch.from_numpy(true).float()
        p, t = (p - p[:, :1])[:, :17], (t - t[:, :1])[:, :17]
        s = (p * t).sum(dim=(1, 2), keepdim=True) / (p * p).sum(dim=(1, 2), keepdim=True)
        return (s * p - t).norm(dim=-1).mean()

    def yaw32(pred, true):
        out = svd_2d(pred, true)
        return torch.from_numpy(out).float().requires_grad_()

    for exercise, answer in [(ex13.q1, n_mpjpe32), (ex13.q2, yaw32)]:
        result = exercise.result(answer)
        assert result.status == PASSED, (exercise.number, result.message)
