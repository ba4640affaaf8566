"""Exercise checks of lesson 08 (the skeleton and the camera): the reference passes, realistic mistakes get their
own message."""
from __future__ import annotations

import numpy as np

from exercise_helpers import assert_verdicts, reference
from minipose.camera import cam2pixel, world2cam
from minipose.exercises import PASSED, ex08


# --- 08.1: the camera's centre -------------------------------------------------------------------------------------

def test_camera_centre_check():
    assert_verdicts(ex08.q1, reference("08.1", "my_camera_centre"), [
        (lambda R, t: -np.asarray(t), "you returned -t"),
        (lambda R, t: -np.asarray(R) @ np.asarray(t), "you multiplied by R"),
        (lambda R, t: np.asarray(R).T @ np.asarray(t), "the sign is wrong"),
        (lambda R, t: -np.asarray(R).T @ np.asarray(t) / 1000, "you return"),
        (lambda R, t: (-np.asarray(R).T @ np.asarray(t))[:2], "as 3 numbers"),
        (lambda R, t: None, "returned None"),
        (lambda R, t: "centre", "as numbers"),
    ])


def test_the_checks_cameras_put_their_centre_at_the_cameras_origin():
    """The checker's reference against the package's world2cam (written another way): the centre maps to 0."""
    for what, R, t in ex08._CAMERAS:
        centre = -np.linalg.solve(R, t)
        assert np.allclose(world2cam(centre[None], R, t), 0, atol=1e-9), what
        assert np.allclose(R @ R.T, np.eye(3)) and np.isclose(np.linalg.det(R), 1), what


# --- 08.2: distance from height --------------------------------------------------------------------------------------

def test_distance_check():
    assert_verdicts(ex08.q2, reference("08.2", "my_distance"), [
        (lambda H, h, f: f[1] * h / H, "upside down"),
        (lambda H, h, f: H / h, "the focal length is missing"),
        (lambda H, h, f: f[0] * H / h, "f[0], the horizontal focal length"),
        (lambda H, h, f: f[1] * H / h / 1000, "that is metres"),
        (lambda H, h, f: f[1] * H / h + 100, "the distance is"),
        (lambda H, h, f: [1.0, 2.0], "as one number"),
    ])


def test_distance_agrees_with_the_pinhole_model():
    """Head and feet of a person at the answer's distance, through the package's cam2pixel, are that many pixels
    apart: the check's formula against the projection the lesson builds."""
    answer = reference("08.2", "my_distance")
    for height, pixels, f in ex08._PEOPLE:
        Z = answer(height, pixels, f)
        ends = cam2pixel(np.array([[120.0, -900.0, Z], [120.0, -900.0 + height, Z]]), f, (500.0, 480.0))
        assert np.isclose(ends[1, 1] - ends[0, 1], pixels)
    assert ex08.q2.result(answer).status == PASSED


def test_questions_have_hints_and_answers(capsys):
    ex08.q3.hint()
    ex08.q3.hint(2)
    ex08.q3.answer()
    printed = capsys.readouterr().out
    assert "question 08.3" in printed and "add_thorax" in printed
