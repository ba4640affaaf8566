"""Shared by the tests of the exercise checks (tests/test_exNN.py)."""
from __future__ import annotations

import json

import numpy as np
import torch
from torch import nn

from conftest import ROOT
from minipose.exercises import FAILED, NOT_ATTEMPTED, PASSED, Exercise, Prediction


def reference(number: str, name: str):
    """The solved lesson's answer to an exercise (from the solutions file make_student.py writes)."""
    solutions = json.loads((ROOT / "minipose" / "exercises" / "solutions.json").read_text())
    namespace = {"torch": torch, "nn": nn, "np": np}  # what the lessons have imported
    exec(compile(solutions[number], f"<solution {number}>", "exec"), namespace)  # noqa: S102 - our own lesson
    return namespace[name]


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise stub")


def assert_verdicts(exercise: Exercise, answer, wrong: list[tuple[object, str]]) -> None:
    """The reference passes, each wrong answer fails with its own sentence, the stub is 'not attempted'."""
    result = exercise.result(answer)
    assert result.status == PASSED, result.message
    assert exercise.result(... if isinstance(exercise, Prediction) else stub).status == NOT_ATTEMPTED
    messages = set()
    for fn, expected in wrong:
        result = exercise.result(fn)
        assert result.status == FAILED and expected in result.message, (getattr(fn, "__name__", fn), result.message)
        messages.add(result.message)
    assert len(messages) == len(wrong), "two wrong answers got the same message: it is not specific"
