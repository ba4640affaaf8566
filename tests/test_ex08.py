"""Exercise checks of lesson 08 (the skeleton and the camera): the reference passes, realistic mistakes get their
own message."""
from __future__ import annotations

import numpy as np

from exercise_helpers import assert_verdicts, reference
from minipose.camera import cam2pixel, cam2world, pixel2cam, world2cam
from minipose.exercises import PASSED, ex08


# --- 08.0: the wrist's pixel ----------------------------------------------------------------------------------------

def test_predicted_pixel_check():
    assert_verdicts(ex08.q0, reference("08.0", "predicted_pixel"), [
        ((57.5, 115.0), "add c = (500, 500)"),
        ((230, 460), "camera millimetres"),
        ((754.3, 610.6), "you projected the world coordinates"),
        ((547.7, 832.1), "did not turn the point with R"),
        ((560.1, 1163.9), "you turned the point with R.T"),
        ((557.5, 385.0), "no minus sign"),
        ((615.0, 557.5), "x and y are swapped"),
        ((600, 600), "is not it"),
        ((1, 2, 3, 4), "two numbers"),
        ("557.5, 615", "two numbers (x, y); you gave '557.5"),
    ])
    assert ex08.q0.result(np.array([557.5, 615.0, 4600.0])).status == PASSED  # cam2pixel's (x, y, Z) counts


def test_predicted_pixel_against_the_package():
    """The checker's hand-worked pixel against the lesson's world2cam and cam2pixel."""
    R = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    px = cam2pixel(world2cam(np.array([[230.0, 100.0, 1040.0]]), R, np.array([0.0, 1500.0, 4500.0])),
                   (1150.0, 1150.0), (500.0, 500.0))
    assert ex08.q0.result(px[0, :2]).status == PASSED


# --- 08.1: the floor point of a pixel -------------------------------------------------------------------------------

def _floor(pixel, R, t, f, c, inverse=lambda R: np.asarray(R).T, principal=True, level=False, centre_is_t=False):
    """A student's my_floor_point, written independently of the checker, with one thing done differently."""
    R, t = np.asarray(R, dtype=np.float64), np.asarray(t, dtype=np.float64)
    cx, cy = (c if principal else (0.0, 0.0))
    ray = np.array([(pixel[0] - cx) / f[0], (pixel[1] - cy) / f[1], 1.0])
    back = inverse(R)
    if level:  # the floor taken as the camera's Y = the camera's height
        height = (-R.T @ t)[2]
        return R.T @ (ray * (height / ray[1]) - t)
    lens = -t if centre_is_t else -back @ t
    d = back @ ray
    return lens - lens[2] / d[2] * d


def test_floor_point_check():
    assert_verdicts(ex08.q1, reference("08.1", "my_floor_point"), [
        (lambda p, R, t, f, c: np.asarray(R) @ _floor(p, R, t, f, c) + t, "in the camera's coordinates"),
        (lambda p, R, t, f, c: _floor(p, R, t, f, c, inverse=lambda R: R), "you turned with R"),
        (lambda p, R, t, f, c: _floor(p, R, t, f, c, principal=False), "the principal point is missing"),
        (lambda p, R, t, f, c: _floor(p, R, t, f, c, level=True), "holds only for a level camera"),
        (lambda p, R, t, f, c: _floor(p, R, t, f, c, centre_is_t=True), "the ray starts at -t"),
        (lambda p, R, t, f, c: _floor(p, R, t, f, c) + [0, 0, 10], "it is not on the floor"),
        (lambda p, R, t, f, c: _floor(p, R, t, f, c) + [10, 0, 0], "Project your point back"),
        (lambda p, R, t, f, c: _floor(p, R, t, f, c)[:2], "as 3 numbers"),
        (lambda p, R, t, f, c: None, "returned None"),
        (lambda p, R, t, f, c: "floor", "as numbers"),
    ])
    import torch
    assert ex08.q1.result(lambda *a: torch.tensor(_floor(*a))).status == PASSED  # a tensor counts


def test_floor_point_check_refuses_the_package():
    answer = lambda p, R, t, f, c: cam2world(pixel2cam(np.array([[p[0], p[1], 1.0]]), f, c), R, t)[0]  # noqa: E731
    message = ex08.q1.result(answer).message
    assert message.startswith("not yet: this calls minipose.camera."), message


def test_floor_cases_against_a_linear_solve_and_the_package():
    """The checker's floor points, found another way: solve R @ (X, Y, 0) + t = Z * ray for X, Y, Z (3 x 3); and
    the package's world2cam / cam2pixel send them to the pixels the check gives."""
    for what, R, t, want in ex08._FLOOR_CASES:
        assert np.allclose(R @ R.T, np.eye(3)) and np.isclose(np.linalg.det(R), 1), what
        pixel = ex08._project(want, R, t, ex08._F, ex08._C)
        assert np.allclose(cam2pixel(world2cam(want[None], R, t), ex08._F, ex08._C)[0, :2], pixel), what
        ray = np.array([(pixel[0] - ex08._C[0]) / ex08._F[0], (pixel[1] - ex08._C[1]) / ex08._F[1], 1.0])
        X, Y, Z = np.linalg.solve(np.stack([R[:, 0], R[:, 1], -ray], axis=1), -t)
        assert Z > 0 and np.allclose([X, Y, 0.0], want, atol=1e-6), what
        assert 0 <= pixel[0] < 1000 and 0 <= pixel[1] < 1000, what  # the floor point is in the picture


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
