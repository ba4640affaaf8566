"""Exercises of lesson 13, measuring as the paper does (written directly, not generated).

The lesson writes MPJPE and PA-MPJPE (rigid and similarity) and prints them on poses whose error is known. Its
exercises ask for what it does not print: the MPJPE of a pose nudged in a known way (predicted first), the
scale-normalised N-MPJPE of Rhodin et al. (one least-squares scale per person, no rotation), and an alignment
that may only turn the pose about the vertical axis. Their references live here, written independently of
minipose.metrics.
"""
from __future__ import annotations

import numpy as np

from minipose.exercises import Exercise, Mistake, Prediction, Question, call, named_slip, read_number
from minipose.exercises.ex12 import _array, _close  # lesson 12's checks read answers the same way
from minipose.metrics import pa_mpjpe, rigid_align

# --- 13.0: predict the MPJPE of a nudged pose ------------------------------------------------------------------------

_NUDGE = (30.0, 40.0, 0.0)  # mm, added to every joint but the pelvis (joint 0), the thorax (17) included


def _check_nudged_mpjpe(answer) -> str:
    got = read_number(answer, "millimetres", "12.34")
    step = float(np.sqrt(sum(c * c for c in _NUDGE)))  # 50 mm: one Euclidean distance per moved joint
    right = step * 16 / 17  # 16 of the 17 evaluation joints moved; the pelvis has error 0 and still counts
    if abs(got - right) <= 0.1:
        return (f"MPJPE is 16 x 50 / 17 = {right:.2f} mm: each moved joint misses by sqrt(30^2 + 40^2) = 50 mm, the "
                "pelvis by 0, and the thorax is not scored.")
    components = sum(abs(c) for c in _NUDGE)
    named_slip(got, [
        (step, "the pelvis is one of the 17 evaluation joints, and it did not move: its error is 0, so the mean is "
               "16 x 50 / 17, a little under 50"),
        (0.0, "root alignment subtracts the pelvis, and the pelvis stayed where it was: the other joints keep "
              "their (30, 40, 0) mm offset. 0 would be right had the pelvis moved with them"),
        (step * 17 / 18, "you counted 18 joints: the thorax (17) is added by the loader and not scored; 16 of the "
                         "17 evaluation joints moved"),
        (components * 16 / 17, "each joint's error is one Euclidean distance, sqrt(30^2 + 40^2) = 50 mm, not the "
                               "sum 30 + 40"),
        (components, "each joint's error is one Euclidean distance, sqrt(30^2 + 40^2) = 50 mm, not the sum 30 + 40; "
                     "and the unmoved pelvis counts too"),
        (components / 3 * 16 / 17, "you averaged |dx|, |dy|, |dz| separately: each joint's error is one Euclidean "
                                   "distance, 50 mm"),
        (step ** 2 * 16 / 17, "MPJPE averages distances, not squared distances (mm, not mm^2)"),
    ], rel=0, abs_tol=0.1)
    raise Mistake(f"{got:g} mm is not it: how far is each moved joint from where it was, and how many of the 17 "
                  "evaluation joints moved?")


q0 = Prediction(
    "13.0", "predict the MPJPE of a nudged pose", "predicted_mpjpe", _check_nudged_mpjpe,
    hints=["Root alignment subtracts each pose's pelvis. Did the pelvis move?",
           "Each moved joint misses by the length of (30, 40, 0). Which of the 17 evaluation joints did not move?"],
)


# --- 13.1: N-MPJPE, the error after one least-squares scale ----------------------------------------------------------

def _sized_poses(seed: int, n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """People of the wrong size (x0.75 to x1.3), a little noise, a wrong thorax, each shifted in space."""
    rng = np.random.default_rng(seed)
    true = rng.normal(0.0, 300.0, (n, 18, 3)) + [0.0, 0.0, 5000.0]
    relative = true - true[:, :1]
    pred = relative * rng.uniform(0.75, 1.3, (n, 1, 1)) + rng.normal(0.0, 40.0, (n, 18, 3))
    pred[:, 17] += [400.0, 0.0, 0.0]  # a wrong thorax, which must neither be fitted nor count
    return pred + true[:, :1] + rng.normal(0.0, 500.0, (n, 1, 3)), true


def _scaled_error(p, t, s) -> float:
    return float(np.sqrt(((s * p - t) ** 2).sum(axis=-1)).mean())


def _n_mpjpe(pred, true) -> float:
    """The reference: root-align, one scale per person s = <p, t> / <p, p> over joints 0-16, measure 0-16."""
    p = (pred - pred[:, :1])[:, :17]
    t = (true - true[:, :1])[:, :17]
    s = (p * t).sum(axis=(1, 2)) / (p * p).sum(axis=(1, 2))
    return _scaled_error(p, t, s[:, None, None])


def _check_n_mpjpe(fn) -> str:
    for seed in (1301, 1302):
        pred, true = _sized_poses(seed)
        want = _n_mpjpe(pred, true)
        got = call(fn, pred.copy(), true.copy())
        if hasattr(got, "detach"):
            got = got.detach().cpu()
        try:
            got = float(got)
        except (TypeError, ValueError, RuntimeError):
            raise Mistake(f"return one number, the mean error in mm; you returned {got!r:.60}") from None
        if _close(got, want):
            continue
        p18, t18 = pred - pred[:, :1], true - true[:, :1]
        p, t = p18[:, :17], t18[:, :17]

        def per_person(a, b):
            return (a * b).sum(axis=(1, 2))[:, None, None]

        fit = per_person(p, t) / per_person(p, p)
        raw_p, raw_t = pred[:, :17], true[:, :17]
        wrong = [
            (_scaled_error(p, t, 1.0), "you did not scale the prediction: N-MPJPE first multiplies each root-aligned "
                                       "predicted pose by the scale that fits it best to the truth"),
            (_scaled_error(raw_p, raw_t, per_person(raw_p, raw_t) / per_person(raw_p, raw_p)),
             "you fitted and measured in camera coordinates: root-align both poses first (pelvis at 0), so that the "
             "scale is about the pelvis, not about the camera 5 m away"),
            (_scaled_error(p, t, (p * t).sum() / (p * p).sum()),
             "you fitted one scale for all the people: fit one per person (sum over that person's joints and x, y, z)"),
            (_scaled_error(p, t, np.sqrt(per_person(t, t) / per_person(p, p))),
             "you matched the sizes, sqrt(<t, t> / <p, p>): the least-squares scale is <p, t> / <p, p>, which also "
             "weighs how well the two poses agree"),
            (_scaled_error(p, t, per_person(p, t) / per_person(t, t)),
             "your scale divides by <t, t>: minimising sum |s p - t|^2 over s gives s = <p, t> / <p, p>"),
            (_scaled_error(t, p, per_person(p, t) / per_person(t, t)),
             "you scaled the truth onto the prediction: scale the prediction, and measure against the unscaled "
             "truth (it is the truth's millimetres that count)"),
            (_scaled_error(p, t, per_person(p18, t18) / per_person(p18, p18)),
             "you fitted the scale on all 18 joints: fit it on joints 0-16, the ones measured (the thorax, 17, is "
             "added by the loader and not scored)"),
            (_scaled_error(p18, t18, per_person(p18, t18) / per_person(p18, p18)),
             "you fitted and averaged over all 18 joints: the thorax (17) is added by the loader and is not one of "
             "the 17 evaluation joints; use joints 0-16"),
            (_scaled_error(p18, t18, fit), "you averaged over all 18 joints: the thorax (17) is added by the loader "
                                           "and is not one of the 17 evaluation joints; use joints 0-16"),
            (pa_mpjpe(pred, true, scale=True), "you also turned the pose (Procrustes with scale): that is the "
                                               "similarity PA-MPJPE. N-MPJPE fits the scale only, no rotation"),
        ]
        for value, sentence in wrong:
            if _close(got, value):
                raise Mistake(sentence)
        raise Mistake(f"for 5 people (seed {seed}) N-MPJPE is {want:.3f} mm; you return {got:.3f}")
    return ("Matches a least-squares fit of one scale per person (root-aligned, joints 0-16) on people of the wrong "
            "size, shifted in space, with a wrong thorax.")


q1 = Exercise(
    "13.1", "N-MPJPE: the error after the best scale", "my_n_mpjpe", _check_n_mpjpe,
    refuses=("minipose.metrics.mpjpe", "minipose.metrics.joint_errors", "minipose.metrics.rigid_align",
             "minipose.metrics.pa_mpjpe", "minipose.metrics.pa_joint_errors"),
    hints=[
        "For one person with root-aligned joints p and t (17 x 3), write sum |s p - t|^2 as a quadratic in s and "
        "set its derivative to 0.",
        "s = (p * t).sum() / (p * p).sum() per person; with N people, sum over axes (1, 2) and keep the result as "
        "N x 1 x 1 so that it broadcasts; then the mean Euclidean distance of s * p and t.",
    ],
)


# --- 13.2: an alignment that only turns about the vertical -----------------------------------------------------------

def _turn_y(degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    return np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])


def _turn_x(degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    return np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])


def _yaw_pair(seed: int, degrees: float, mirror: bool) -> tuple[np.ndarray, np.ndarray]:
    """pred, and a truth that is pred turned about y by `degrees`, leaning 12 degrees, shifted and noisy."""
    rng = np.random.default_rng(seed)
    pred = rng.normal(0.0, 300.0, (18, 3)) + [0.0, 0.0, 5000.0]
    centre = pred.mean(axis=0)
    true = (pred - centre) @ (_turn_x(12.0) @ _turn_y(degrees)).T + centre + [150.0, -60.0, 400.0]
    true += rng.normal(0.0, 20.0, true.shape)
    if mirror:  # a mirror image: the best turn must still be a turn
        true = 2 * true.mean(axis=0) * [1.0, 0.0, 0.0] + true * [-1.0, 1.0, 1.0]
    return pred, true


def _yaw_angle(p, t, arctan2=np.arctan2) -> float:
    """The angle (radians) of the best turn about y of the centred p onto the centred t: maximise sum t . R p."""
    a = (p[:, 0] * t[:, 0] + p[:, 2] * t[:, 2]).sum()
    b = (p[:, 2] * t[:, 0] - p[:, 0] * t[:, 2]).sum()
    return float(arctan2(b, a))


def _yaw_align(pred, true, angle=None) -> np.ndarray:
    p, mu = pred - pred.mean(axis=0), true.mean(axis=0)
    a = _yaw_angle(p, true - mu) if angle is None else angle
    return p @ _turn_y(np.degrees(a)).T + mu


def _turn_z_align(pred, true) -> np.ndarray:
    """The same fit about z, the camera's optical axis (the mistake of taking the wrong axis)."""
    p, t = pred - pred.mean(axis=0), true - true.mean(axis=0)
    a = np.arctan2((p[:, 0] * t[:, 1] - p[:, 1] * t[:, 0]).sum(), (p[:, 0] * t[:, 0] + p[:, 1] * t[:, 1]).sum())
    R = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    return p @ R.T + true.mean(axis=0)


def _check_yaw_align(fn) -> str:
    for seed, degrees, mirror in ((1311, 70.0, False), (1312, 150.0, False), (1313, -40.0, True)):
        pred, true = _yaw_pair(seed, degrees, mirror)
        want = _yaw_align(pred, true)
        got = _array(call(fn, pred.copy(), true.copy()), pred.shape, "the aligned pose (J x 3, like pred)")
        if _close(got, want, 1e-3):
            continue
        case = ("a mirror image of pred" if mirror else f"pred turned {degrees:g} degrees about y, leaning 12 "
                "degrees, shifted")
        p, t, mu = pred - pred.mean(axis=0), true - true.mean(axis=0), true.mean(axis=0)
        angle = _yaw_angle(p, t)
        wrong = [
            (_yaw_align(pred, true, -angle), "your turn goes the wrong way: with x' = x cos a + z sin a, z' = -x sin "
                                             "a + z cos a, the best a is arctan2(B, A) with B = sum(p_z t_x - "
                                             "p_x t_z), A = sum(p_x t_x + p_z t_z)"),
            (_yaw_align(pred, true, _yaw_angle(p, t, lambda b, a: np.arctan(b / a))),
             "arctan(B / A) cannot tell the angle a from a + 180 degrees: use np.arctan2(B, A), which reads the "
             "signs of both"),
            (rigid_align(pred, true), "you turned about all three axes (the rigid Procrustes fit): only the vertical "
                                      "y axis may turn, so every joint's y changes by the shift alone"),
            (_turn_z_align(pred, true), "you turned about z, the camera's optical axis: the vertical is y (pointing "
                                        "down in camera coordinates), so turn in the x-z plane"),
            (want - mu, "your pose sits at the origin: after turning the centred pred, add true's mean"),
            (pred @ _turn_y(np.degrees(_yaw_angle(pred, true))).T,
             "you fitted the turn to the raw points: centre both (subtract each one's mean) first, then add true's "
             "mean back"),
            (np.column_stack([want[:, 0], pred[:, 1], want[:, 2]]),
             "your y is pred's y as it was: the shift is free along y too, so add true's mean y minus pred's"),
        ]
        for value, sentence in wrong:
            if _close(got, value, 1e-3):
                raise Mistake(f"for {case}: {sentence}")
        moved = got - got.mean(axis=0)
        fit = np.linalg.lstsq(p, moved, rcond=None)[0].T  # the linear map the answer applied: got ≈ p @ fit.T
        if np.allclose(fit.T @ fit, np.eye(3), atol=1e-3) and np.allclose(fit[1], [0.0, 1.0, 0.0], atol=1e-3) \
                and np.linalg.det(fit) < 0:
            raise Mistake(f"for {case}: your answer is a mirror image in the x-z plane (determinant -1), not a turn; "
                          "a 2-D SVD fit needs its reflection fixed, or fit the angle directly")
        error = np.linalg.norm(got - want, axis=1).max()
        raise Mistake(f"for {case} (seed {seed}), your pose is up to {error:.1f} mm from the best turn about y")
    return ("Matches the best turn about the vertical axis plus a shift, for turns of 70 and 150 degrees with a lean "
            "the turn must not undo, and for a mirror image, where the answer stays a turn.")


q2 = Exercise(
    "13.2", "aligning by a turn about the vertical", "my_yaw_align", _check_yaw_align,
    refuses=("minipose.metrics.rigid_align", "minipose.metrics.pa_joint_errors", "minipose.metrics.pa_mpjpe"),
    hints=[
        "Centre both poses. Turning by a changes only x and z: x' = x cos a + z sin a, z' = -x sin a + z cos a. "
        "Minimising sum |R p - t|^2 means maximising sum t . R p = A cos a + B sin a: find A and B.",
        "A = sum(p_x t_x + p_z t_z), B = sum(p_z t_x - p_x t_z), a = np.arctan2(B, A); turn the centred pred by a "
        "and add true.mean(axis=0).",
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
