"""Checked exercises for the lessons (written directly, not generated: tools/gather.py leaves this folder alone).

Each lesson ends with exercises. The student writes a function in an answer cell and runs one line:

    from minipose.exercises import ex05 as ex
    ex.q1.check(my_soft_argmax)   # passed, or the specific mistake and a hint
    ex.q1.hint()                  # ex.q1.hint(2) for the next one
    ex.q1.solution()              # the reference solution, from the solved lesson

A check runs the student's function against the package's reference on fresh seeded inputs, never
raises and never stops "Run All": an unattempted exercise reports "not attempted yet", a crash in the
student's code is one line naming the exception and the line of their code. Every result is also
attached to the output as metadata ({"minipose": {"exercise", "status", "message"}}) for tools.

`grade_namespace` is what tools/grade.py runs at the end of each submitted notebook: it looks up each
exercise's answer by name, so it does not depend on the student's check cells.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import re
import linecache
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

PASSED, FAILED, NOT_ATTEMPTED, MISSING = "passed", "failed", "not attempted", "missing"
_PACKAGE_DIRS = [str(Path(__file__).resolve().parent.parent)]


@dataclass
class Result:
    """What one check found. `status` is passed, failed, not attempted or missing (answer not found)."""

    exercise: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def __str__(self) -> str:
        mark = {PASSED: "✅", FAILED: "❌", NOT_ATTEMPTED: "✏️", MISSING: "❓"}[self.status]
        return f"{mark} Exercise {self.exercise}: {self.message}"

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": str(self)}, {"minipose": asdict(self)}


class Mistake(Exception):
    """Raised by a checker: the answer is wrong in the way the message says."""


class NotAttempted(Exception):
    """The student's code still raises the stub's NotImplementedError."""


def _library_file(filename: str) -> bool:
    """True for frames inside Python, torch, or minipose itself: the student's code is everything else."""
    if any(filename.startswith(d) for d in _PACKAGE_DIRS):
        return True
    return "site-packages" in filename or "dist-packages" in filename or filename.startswith(sys.prefix) \
        or filename.startswith(sys.base_prefix) or filename.startswith("<frozen")


def describe_crash(err: BaseException) -> str:
    """One line: the exception, and the last line of the student's own code it passed through."""
    where = ""
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if not _library_file(frame.filename):
            line = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
            where = f" at line {frame.lineno} of your code (`{line}`)" if line else f" at line {frame.lineno}"
            break
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    if len(text) > 160:
        text = text[:157] + "..."
    return f"your code raised {type(err).__name__}{where}" + (f": {text}" if text else "")


def describe_load_error(err: Exception) -> str:
    """load_state_dict's long error, shortened to the first few missing and unexpected names (for check messages)."""
    text, parts = str(err), []
    for label, marker in (("missing", "Missing key(s)"), ("unexpected", "Unexpected key(s)")):
        if marker in text:
            names = re.findall(r'"([^"]+)"', text[text.index(marker):].split(". ", 1)[0])
            parts.append(f"{label} {', '.join(names[:3])}{' and more' if len(names) > 3 else ''}")
    if not parts and "size mismatch" in text:
        parts.append(" ".join(text[text.index("size mismatch"):].split())[:160])
    return "; ".join(parts) or " ".join(text.split())[:160]


_CUDA_WORDS = ("CUDA", "cuda", "NVIDIA", "Expected all tensors to be on the same device")


def call(fn: Callable, *args, **kwargs) -> Any:
    """Call the student's function; turn its failures into a Mistake (or NotAttempted) with one clear line."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        raise NotAttempted(str(err)) from None
    except (Mistake, NotAttempted):
        raise
    except Exception as err:
        message = describe_crash(err)
        if any(word in str(err) for word in _CUDA_WORDS):
            message = (message.split("): ")[0] + ")" if "): " in message else message) + (
                ", so it only runs on CUDA: make every new tensor on the input's device (`device=x.device`), "
                "never with `.cuda()`")
        raise Mistake(message) from None


class Exercise:
    """One checked exercise: a number ("05.1"), the name the answer is defined under, and a checker.

    The checker takes the student's answer and raises Mistake with a specific sentence, or returns a
    short description of what was verified.
    """

    def __init__(self, number: str, title: str, answer_name: str, checker: Callable[[Any], str],
                 hints: list[str]) -> None:
        self.number, self.title, self.answer_name = number, title, answer_name
        self._checker, self._hints = checker, hints

    def __repr__(self) -> str:
        return f"Exercise {self.number}: {self.title} (define `{self.answer_name}`, then run .check({self.answer_name}))"

    def result(self, answer: Any) -> Result:
        """Run the check and return its Result. Never raises."""
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the checks' tensors are tiny: one thread is fastest, also on a busy machine
        try:
            return self._result(answer)
        finally:
            torch.set_num_threads(threads)

    def _result(self, answer: Any) -> Result:
        try:
            verified = self._checker(answer)
            return Result(self.number, PASSED, f"passed. {verified}")
        except NotAttempted:
            return Result(self.number, NOT_ATTEMPTED,
                          f"not attempted yet: replace `raise NotImplementedError` in `{self.answer_name}` with your "
                          "code, run that cell, then this one.")
        except Mistake as err:
            return Result(self.number, FAILED, f"not yet: {err}")
        except Exception as err:  # a bug in the checker itself must not stop "Run All" either
            return Result(self.number, FAILED, f"the check itself failed ({describe_crash(err)}); "
                                               "please report this to the minipose maintainers.")

    def check(self, answer: Any) -> None:
        """Check the answer and show the result (in a notebook, with machine-readable metadata)."""
        _show(self.result(answer))

    def hint(self, n: int = 1) -> None:
        n = max(1, min(n, len(self._hints)))
        more = f" (more: .hint({n + 1}))" if n < len(self._hints) else ""
        print(f"Hint {n} for exercise {self.number}{more}: {self._hints[n - 1]}")

    def solution(self) -> None:
        """Print the reference solution: the code between the solution markers in the solved lesson."""
        text = solutions().get(self.number)
        if text is None:
            print(f"No stored solution for exercise {self.number}; see lessons/ in the minipose repository.")
        else:
            print(f"Solution to exercise {self.number}:\n\n{text}")


class Question:
    """An open question: no check, a hint and a worked answer on request."""

    def __init__(self, number: str, title: str, hints: list[str], answer: str) -> None:
        self.number, self.title, self._hints, self._answer = number, title, hints, answer

    def __repr__(self) -> str:
        return f"Question {self.number}: {self.title} (.hint(), .answer())"

    def hint(self, n: int = 1) -> None:
        n = max(1, min(n, len(self._hints)))
        print(f"Hint {n} for question {self.number}: {self._hints[n - 1]}")

    def answer(self) -> None:
        print(f"A worked answer to question {self.number}:\n\n{self._answer}")


def _show(result: Result) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the lessons extra
        print(result)
        return
    if get_ipython() is None:
        print(result)
    else:
        display(result)


def solutions() -> dict[str, str]:
    """Exercise number -> reference solution, written from the solved lessons by tools/make_student.py."""
    path = Path(__file__).with_name("solutions.json")
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def lesson(number: str):
    """The exercise module of a lesson, e.g. lesson("05") is minipose.exercises.ex05."""
    return importlib.import_module(f"minipose.exercises.ex{number}")


def exercises(number: str) -> list[Exercise]:
    """The checked exercises of a lesson, in order (none for a lesson without an exercise module).

    Only a missing exNN module means "no exercises": an error inside one propagates, never hidden.
    """
    if importlib.util.find_spec(f"minipose.exercises.ex{number}") is None:
        return []
    return [v for v in vars(lesson(number)).values() if isinstance(v, Exercise)]


def grade_namespace(namespace: dict[str, Any], number: str) -> list[Result]:
    """Check every exercise of a lesson against the answers defined in `namespace` (a notebook's globals).

    An answer that is not defined at all is MISSING (its cell was deleted or renamed). Prints one JSON
    line per exercise, prefixed with MINIPOSE-GRADE, for tools/grade.py.
    """
    results = []
    for exercise in exercises(number):
        if exercise.answer_name not in namespace:
            result = Result(exercise.number, MISSING, f"`{exercise.answer_name}` is not defined: its cell was deleted, "
                                                      "renamed or never run.")
        else:
            result = exercise.result(namespace[exercise.answer_name])
        results.append(result)
        print("MINIPOSE-GRADE " + json.dumps(asdict(result)))
    return results
