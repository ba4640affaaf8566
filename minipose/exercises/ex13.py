"""Exercises of lesson 13, measuring as the paper does (written directly, not generated)."""
from __future__ import annotations

import numpy as np

from minipose.exercises import Exercise, Mistake, Question, call
from minipose.exercises.ex12 import _array, _close  # lesson 12's checks read answers the same way
from minipose.metrics import mpjpe, rigid_align


# --- 13.1: MPJPE by hand ---------------------------------------------------------------------------------------------

def _poses(seed: int, n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true = rng.normal(0.0, 300.0, (n, 18, 3)) + [0.0, 0.0, 5000.0]
    pred = true + rng.normal(0.0, 60.0, (n, 18, 3))
    pred[:, 17] += [400.0, 0.0, 0.0]  # a wrong thorax, which must not count
    pred += rng.normal(0.0, 500.0, (n, 1, 3))  # each person shifted: only root alignment forgives it
    return pred, true


def _check_mpjpe(fn) -> str:
    for seed in (1001, 1002):
        pred, true = _poses(seed)
        want = mpjpe(pred, true)
        got = call(fn, pred.copy(), true.copy())
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise Mistake(f"return one number, the mean error in mm; you returned {got!r:.60}") from None
        if _close(got, want):
            continue
        p0, t0 = pred - pred[:, :1], true - true[:, :1]
        dist = np.linalg.norm(p0 - t0, axis=2)
        wrong = [
            (np.linalg.norm(pred - true, axis=2)[:, :17].mean(),
             "you did not align the roots: subtract each pose's pelvis (joint 0) from all its joints, in both poses, "
             "before comparing; MPJPE measures the pose, not where the person stands"),
            (np.linalg.norm(p0 - true, axis=2)[:, :17].mean(),
             "you moved only the prediction's pelvis to 0: do the same to the true pose"),
            (dist.mean(), "you averaged over all 18 joints: thorax (joint 17) is added by the loader and is not one "
                          "of the 17 evaluation joints; use joints 0-16"),
            ((dist[:, :17] ** 2).mean(), "you averaged squared distances: MPJPE averages the distances themselves "
                                         "(mm, not mm^2)"),
            (np.sqrt((dist[:, :17] ** 2).mean()), "you took the root of the mean squared distance (RMS): MPJPE is "
                                                  "the plain mean of the distances"),
            (np.abs(p0 - t0)[:, :17].mean(), "you averaged |dx|, |dy|, |dz| separately: each joint's error is one "
                                             "Euclidean distance, sqrt(dx^2 + dy^2 + dz^2)"),
            (dist[:, :17].sum(axis=1).mean(), "you summed over the joints: average over them too"),
            (dist[:, 1:17].mean(), "you left out the pelvis: the 17 evaluation joints are 0-16, the pelvis among "
                                   "them (its error is 0 after alignment, and it still counts)"),
        ]
        for value, sentence in wrong:
            if _close(got, value):
                raise Mistake(sentence)
        raise Mistake(f"for 5 people (seed {seed}) MPJPE is {want:.3f} mm; you return {got:.3f}")
    return ("Matches minipose.metrics.mpjpe on people shifted in space and with a wrong thorax: root-aligned, the "
            "Euclidean distance of joints 0-16, averaged.")


q1 = Exercise(
    "13.1", "MPJPE by hand", "my_mpjpe", _check_mpjpe,
    refuses=("minipose.metrics.mpjpe", "minipose.metrics.joint_errors"),
    hints=[
        "Three steps: subtract each pose's joint 0 from all its joints (both arrays); the distance per joint is the "
        "norm over the last axis; average over people and joints 0-16.",
        "pred - pred[:, :1] keeps the joint axis, so it broadcasts; np.sqrt(((a - b) ** 2).sum(axis=2)) is N x 18; "
        "then [:, :17].mean().",
    ],
)

# --- 13.2: Procrustes alignment --------------------------------------------------------------------------------------

def _turn(axis, degrees):
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    a = np.radians(degrees)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K  # Rodrigues


def _pair(seed: int, mirror: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pred = rng.normal(0.0, 300.0, (18, 3))
    R = _turn(rng.normal(size=3), 50.0)
    true = pred @ R.T + [120.0, -40.0, 300.0] + rng.normal(0.0, 20.0, (18, 3))
    if mirror:  # the truth is a mirror image: the best rotation still must not mirror
        true = true * [-1.0, 1.0, 1.0]
    return pred, true


def _check_rigid_align(fn) -> str:
    for seed, mirror in ((2001, False), (2002, False), (2003, True)):
        pred, true = _pair(seed, mirror)
        want = rigid_align(pred, true)
        got = _array(call(fn, pred.copy(), true.copy()), pred.shape, "the aligned pose (J x 3, like pred)")
        if _close(got, want, 1e-3):
            continue
        p, t = pred - pred.mean(0), true - true.mean(0)
        U, S, Vt = np.linalg.svd(t.T @ p)
        mirrored = p @ (U @ Vt).T + true.mean(0)
        moved = got - got.mean(0)
        fit, _, _, _ = np.linalg.lstsq(p, moved, rcond=None)  # got ≈ p @ fit: the linear map the answer applied
        wrong = [
            (mirrored, "your answer is a mirror image of pred (its 'rotation' has determinant -1). When "
                       "det(U @ Vt) < 0, flip the sign of the singular vector of the smallest singular value"),
            (p @ (U @ Vt) + true.mean(0), "you applied the rotation the wrong way round (its transpose): with "
                                          "svd(t.T @ p) = U S Vt, R = U @ Vt and the points move as p @ R.T"),
            (p @ (U @ Vt).T, "your pose sits at the origin: after rotating the centred pred, add true's centroid"),
            (rigid_align(pred, true, scale=True), "you also scaled the pose: the official PA-MPJPE only rotates and "
                                                  "translates (a similarity alignment with scale is the other one)"),
        ]
        if not mirror:
            U0, _, Vt0 = np.linalg.svd(true.T @ pred)
            wrong.append((pred @ (U0 @ Vt0).T, "you took the SVD of the raw points: centre both point sets (subtract "
                                               "each one's mean) first, then add true's mean back"))
        for value, sentence in wrong:
            if _close(got, value, 1e-3):
                raise Mistake(sentence)
        if np.allclose(fit.T @ fit, np.eye(3), atol=1e-3) and np.linalg.det(fit) < 0:
            raise Mistake("your answer is a reflection (determinant -1), not a rotation, for "
                          + ("a truth that is a mirror image of pred" if mirror else "a pair that needs no mirror")
                          + ": flip the sign of the smallest singular value's vector only when det(U @ Vt) < 0, "
                          "and then only that one")
        case = "a truth that is a mirror image of pred" if mirror else "a turned, shifted, noisy copy of pred"
        error = np.linalg.norm(got - want, axis=1).max()
        raise Mistake(f"for {case} (seed {seed}), your aligned pose is up to {error:.1f} mm from the best rigid fit")
    return ("Matches minipose.metrics.rigid_align on turned and shifted poses and on a mirror image, where the "
            "answer stays a rotation.")


q2 = Exercise(
    "13.2", "Procrustes alignment", "my_rigid_align", _check_rigid_align,
    refuses=("minipose.metrics.rigid_align", "minipose.metrics.pa_joint_errors", "minipose.metrics.pa_mpjpe"),
    hints=[
        "Centre both: p = pred - pred.mean(0), t = true - true.mean(0). U, S, Vt = np.linalg.svd(t.T @ p); the "
        "rotation is R = U @ Vt, applied as p @ R.T; add true.mean(0) back.",
        "If np.linalg.det(U @ Vt) < 0 the fit would mirror the pose: negate the last column of U (the smallest "
        "singular value's direction) before building R.",
    ],
)



# --- questions -------------------------------------------------------------------------------------------------------

q3 = Question(
    "13.3", "what a 3DPCK of 80 % says",
    hints=["Look at the mean pose's row: it is the same pose for everyone, whatever the picture.",
           "Which joint is right for every pose after root alignment, and what share of the 17 is it?"],
    answer="The mean pose never looks at the picture, yet it gets about 39 % of the joints within 150 mm: people "
           "stand in similar ways, limbs near the body are rarely far from their mean place, and the pelvis is "
           "exactly right for every pose after root alignment (1 joint of 17, about 6 points of every 3DPCK). So "
           "3DPCK has a floor well above 0, and 80 % means 'twice the floor', not '80 % of the way to perfect'. To "
           "show that a network learnt something, quote it beside a baseline that ignores the picture: the gap "
           "(MPJPE 103.5 against 227.2 mm with the flip test, here) says it; AUC, which also rewards joints far "
           "inside the threshold, separates the two more sharply than 3DPCK at one threshold.",
)
