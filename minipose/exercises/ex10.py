"""Exercises of lesson 10, augmentation and the dataset (written directly, not generated)."""
from __future__ import annotations

import numpy as np

from minipose.data import crop_affine, flip_joint_img
from minipose.exercises import Exercise, Mistake, Question, call
from minipose.exercises.ex09 import _as_array  # the same reading of an answer as lesson 09's checks
from minipose.skeleton import FLIP_PAIRS, JOINTS_NAME


# --- 10.1: flip_joint_img ----------------------------------------------------------------------------------------

def _flip_cases() -> list[tuple[np.ndarray, int, int]]:
    rng = np.random.default_rng(803)
    cases = []
    for width, height in ((640, 480), (1000, 1002)):
        joints = np.column_stack([rng.uniform(0, width - 1, 18), rng.uniform(0, height - 1, 18),
                                  rng.uniform(-800, 800, 18)])
        joints[0, 2] = 0.0  # the root
        joints[2, 0], joints[13, 0] = 0.0, width - 1.0  # the first and the last pixel
        cases.append((joints, width, height))
    return cases


_FLIP_TOL = 1e-3  # pixels and mm: an answer computed in float32 still passes


def _pair_names(pairs) -> str:
    return ", ".join(f"{JOINTS_NAME[r]}<->{JOINTS_NAME[l]}" for r, l in pairs)


def _check_flip_joints(fn) -> str:
    for joints, width, height in _flip_cases():
        given = joints.copy()
        out = call(fn, given, width)
        if out is None:
            raise Mistake("your function returned None: return the flipped J x 3 array (a new one)")
        got = _as_array(out, "your result")
        j = len(joints)
        if got.shape != (j, 3):
            raise Mistake(f"return a J x 3 array like the input, shape {(j, 3)}; yours has shape {got.shape}")
        ref = flip_joint_img(joints, width)
        where = f" (joints in a picture {width} pixels wide)"
        if not np.allclose(got, ref, atol=_FLIP_TOL):
            expected = np.arange(j)  # which input row each output row should hold
            for r, l in FLIP_PAIRS:
                expected[r], expected[l] = l, r
            if np.allclose(got[:, 2], -ref[:, 2], atol=_FLIP_TOL):
                raise Mistake("z was negated: a left-right mirror does not change depth (Z - Z_root, along the "
                              "camera's axis), only x" + where)
            # Identify each output row by its (y, z), which a mirror leaves alone.
            source = []
            for row in got:
                match = np.flatnonzero(np.abs(joints[:, 1:] - row[1:]).max(axis=1) <= _FLIP_TOL)
                source.append(int(match[0]) if len(match) else -1)
            source = np.array(source)
            if (source < 0).any():
                k = int(np.flatnonzero(source < 0)[0])
                axis = 1 if not np.isclose(got[k, 1], ref[k, 1], atol=_FLIP_TOL) else 2
                raise Mistake(f"{'yz'[axis - 1]} changed ({JOINTS_NAME[k]} has {'yz'[axis - 1]} = {got[k, axis]:.1f}, "
                              f"expected {ref[k, axis]:.1f}): a left-right mirror moves only x; y and z stay as they "
                              "are (rows trade places whole)" + where)
            for r, l in FLIP_PAIRS:
                if source[r] == source[l]:
                    raise Mistake(
                        f"after your swap {JOINTS_NAME[r]} and {JOINTS_NAME[l]} hold the same values: "
                        "`j[a], j[b] = j[b], j[a]` does not swap numpy rows, because j[a] and j[b] are views: row a "
                        "is overwritten first, then the view of row a copies the same values back into row b. Keep a "
                        "copy, as the official code does with .copy(): tmp = j[a].copy(); j[a] = j[b]; j[b] = tmp "
                        "(or j[[a, b]] = j[[b, a]])")
            if (source == np.arange(j)).all():
                if np.allclose(got[:, 0], ref[:, 0], atol=_FLIP_TOL):
                    raise Mistake("only x traded places between left and right partners: whole rows (x, y, z) "
                                  "must trade places, since a joint's y and z go with its name" + where)
                raise Mistake("no joint changed places: in a mirrored picture the right wrist looks like a left "
                              "wrist, so every (right, left) pair of FLIP_PAIRS must trade rows" + where)
            if not (source == expected).all():
                kept = [(r, l) for r, l in FLIP_PAIRS if source[r] == r and source[l] == l]
                done = [(r, l) for r, l in FLIP_PAIRS if source[r] == l and source[l] == r]
                unpaired = expected == np.arange(j)  # the joints without a partner (spine, head, Thorax)
                if kept and len(kept) + len(done) == len(FLIP_PAIRS) and (source[unpaired] == expected[unpaired]).all():
                    raise Mistake(f"you swapped {_pair_names(done) or 'nothing'} but not {_pair_names(kept)}: "
                                  "every pair of FLIP_PAIRS trades places (legs and arms)" + where)
                k = int(np.flatnonzero(source != expected)[0])
                raise Mistake(f"row {k} ({JOINTS_NAME[k]}) holds the values of {JOINTS_NAME[source[k]]}; after the "
                              f"flip it must hold those of {JOINTS_NAME[expected[k]]}: swap exactly the pairs of "
                              "FLIP_PAIRS" + where)
            # Rows in the right places: only x can be wrong.
            if np.allclose(got[:, 0], ref[:, 0] + 1, atol=_FLIP_TOL):
                raise Mistake(f"x is 1 too large (x -> W - x): the official mirror is x -> W - 1 - x, which sends "
                              f"pixel 0 to pixel W - 1 = {width - 1} and back; W - x sends pixel 0 outside the "
                              "picture" + where)
            if np.allclose(got[:, 0], ref[:, 0] - 1, atol=_FLIP_TOL):
                raise Mistake("x is 1 too small (x -> W - 2 - x): the mirror is x -> W - 1 - x" + where)
            if np.allclose(got[:, 0], joints[expected, 0], atol=_FLIP_TOL):
                raise Mistake("the joints were renamed but x was not mirrored: x -> img_width - 1 - x" + where)
            if np.allclose(got[:, 0], -joints[expected, 0], atol=_FLIP_TOL):
                raise Mistake("x was negated: a mirror about the picture's middle is x -> img_width - 1 - x, not -x"
                              + where)
            k = int(np.abs(got[:, 0] - ref[:, 0]).argmax())
            raise Mistake(f"{JOINTS_NAME[k]} should have x = {ref[k, 0]:.2f}, yours is {got[k, 0]:.2f}: "
                          "x -> img_width - 1 - x" + where)
        if not np.array_equal(given, joints):
            raise Mistake("the result is right, but you changed the caller's array in place: the dataset's record "
                          "would stay flipped, and flip back on the next flip. Work on a copy: "
                          "flipped = joint_img.copy()")
    return ("Matches minipose.data.flip_joint_img on two picture widths (pixels 0 and W - 1 included): x mirrored, "
            "all six left/right pairs swapped, y and z untouched, the input left as it was.")


q1 = Exercise(
    "10.1", "flip with joint swaps", "my_flip_joints", _check_flip_joints,
    refuses=("minipose.data.flip_joint_img", "minipose.skeleton.swap_left_right"),
    hints=[
        "Start from a copy (np.array(joint_img, dtype=float)), set column 0 to img_width - 1 - x, then for each "
        "(right, left) in FLIP_PAIRS exchange the two rows.",
        "Exchanging numpy rows needs a copy: a row like flipped[right] is a view, so `flipped[a], flipped[b] = "
        "flipped[b], flipped[a]` leaves both rows equal. tmp = flipped[right].copy(); flipped[right] = "
        "flipped[left]; flipped[left] = tmp.",
    ],
)


# --- 10.2: read the augmentation back from the crop's affine ----------------------------------------------------

def _augmentation_cases() -> list[tuple[np.ndarray, list[float], tuple[int, int], float, float, bool]]:
    """(trans, bbox, input_shape, scale, rot, do_flip): crops made by minipose.data.crop_affine with known draws.

    The expected answers are the draws themselves, not anything computed from trans by the package."""
    rng = np.random.default_rng(1002)
    cases = []
    for k, (input_shape, img_width) in enumerate([((256, 256), 1000), ((256, 192), 1280), ((64, 64), 640),
                                                   ((256, 256), 1000), ((128, 96), 800), ((256, 192), 1280)]):
        in_h, in_w = input_shape
        h = float(rng.uniform(200, 600))
        bbox = [float(rng.uniform(0, 300)), float(rng.uniform(0, 200)), h * in_w / in_h, h]
        scale = float(rng.uniform(0.75, 1.25))
        rot = 0.0 if k == 3 else float(rng.uniform(-60, 60))
        do_flip = k % 2 == 1
        trans = crop_affine(bbox, img_width, input_shape, scale, rot, do_flip)
        cases.append((trans, bbox, input_shape, scale, rot, do_flip))
    return cases


def _check_read_augmentation(fn) -> str:
    for trans, bbox, input_shape, scale, rot, do_flip in _augmentation_cases():
        got = call(fn, trans.copy(), list(bbox), input_shape)
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise Mistake(f"return three things, (scale, rot, do_flip); you returned {got!r:.60}")
        try:
            g_scale, g_rot, g_flip = float(got[0]), float(got[1]), bool(got[2])
        except (TypeError, ValueError):
            raise Mistake(f"return numbers for scale and rot and a bool for do_flip; you returned {got!r:.60}") from None
        case = (f"for a {input_shape[0]} x {input_shape[1]} crop drawn with scale {scale:.3f}, rot {rot:.1f} degrees, "
                f"do_flip {do_flip}")
        if g_flip != do_flip:
            raise Mistake(f"{case}: do_flip is wrong. A mirror turns the map's orientation over: look at the sign of "
                          "the determinant of trans[:, :2]")
        if not np.isclose(g_scale, scale, rtol=1e-6):
            if np.isclose(g_scale, 1 / scale, rtol=1e-6):
                raise Mistake(f"{case}: your scale is upside down ({g_scale:.3f}): scale > 1 means a bigger box, so a "
                              "smaller person in the crop and a smaller map")
            if np.isclose(g_scale, scale ** 2, rtol=1e-6) or np.isclose(g_scale, 1 / scale ** 2, rtol=1e-6):
                raise Mistake(f"{case}: your scale is squared ({g_scale:.3f}): the determinant multiplies the two "
                              "axes' stretches, so take its square root")
            raise Mistake(f"{case}: your scale is {g_scale:.4f}. Without augmentation the box fills the crop exactly: "
                          "compare the map's stretch with input size / box size")
        if not np.isclose(g_rot, rot, atol=1e-6):
            if abs(rot) > 1 and np.isclose(g_rot, np.radians(rot), atol=1e-6):
                raise Mistake(f"{case}: your rot is in radians ({g_rot:.3f}); the augmentation draws degrees")
            if abs(rot) > 1 and np.isclose(g_rot, -rot, atol=1e-6):
                raise Mistake(f"{case}: your rot has the wrong sign ({g_rot:.1f}): the box is turned by +rot, so the "
                              "map from picture to crop turns by -rot; read the angle accordingly")
            wrapped = (g_rot + 180.0) % 360.0 - 180.0
            if do_flip and (np.isclose(wrapped, 180.0 - rot, atol=1e-6) or np.isclose(wrapped, -180.0 - rot, atol=1e-6)
                            or np.isclose(g_rot, 180.0 - rot, atol=1e-6)):
                raise Mistake(f"{case}: your rot is {g_rot:.1f}, the angle of the mirrored map: undo the mirror "
                              "(negate trans[:, 0]) before reading the angle")
            raise Mistake(f"{case}: your rot is {g_rot:.2f} degrees")
    return ("Scale, rotation and flip read back from six crops' affine maps (square and not, mirrored and not), "
            "equal to the draws that made them.")


q2 = Exercise(
    "10.2", "read the augmentation back from the crop's affine", "my_read_augmentation", _check_read_augmentation,
    hints=[
        "Without a flip, trans[:, :2] is diag(in_w / (w * scale), in_h / (h * scale)) @ [[cos, sin], [-sin, cos]]. "
        "Its determinant is (in_w * in_h) / (w * h * scale**2); a mirror makes it negative.",
        "scale = sqrt(in_w * in_h / (w * h * |det|)); do_flip = det < 0; undo the mirror by negating column 0 when "
        "flipped, then rot = degrees(atan2(A[0, 1], A[0, 0])).",
    ],
)

# --- questions ---------------------------------------------------------------------------------------------------
q3 = Question(
    "10.3", "why the synthetic people wear the same colour on both sides",
    hints=["What does flip augmentation do to the picture, and what to the names of the joints?",
           "At test time the official code also runs the mirrored picture and averages the two predictions."],
    answer="Flip augmentation mirrors the picture and renames the joints: in the mirror the right arm is labelled "
           "left (swap_left_right). If left limbs were, say, red, then in half the training crops the red arm would "
           "be labelled left and in the other half right: the colour would contradict the labels, and a network that "
           "had learnt 'red = left' from unflipped crops would be wrong on every flipped one. Flip testing has the "
           "same problem: the mirrored picture's prediction, swapped back, is averaged with the original, which only "
           "helps if the network judges left and right from the body's shape and the scene, as it must on real "
           "people, who do not wear colour codes. With the same colour on both sides nothing but the shape tells "
           "the sides apart, so a shortcut the real data lacks cannot be learnt.",
)
