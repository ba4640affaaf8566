"""Checked exercises for the lessons (written directly, not generated: tools/gather.py leaves this folder alone).

Each lesson asks for a prediction in its body and ends with exercises. The student writes a value or a function in
an answer cell and runs one line:

    from minipose.exercises import ex05 as ex
    ex.q0.check(two_peaks)        # a prediction (a value), before the cell that prints it
    ex.q1.check(my_soft_argmax)   # passed, or the specific mistake and a hint
    ex.q1.hint()                  # ex.q1.hint(2) for the next one
    ex.q1.solution()              # the reference solution, from the solved lesson

A check runs the student's answer on fresh seeded inputs against a reference that lives in the checker (the
exercises are variations of what the lesson built), never passes the package's own solution (see `refuses=`
below), never raises and never stops "Run All": an unattempted exercise reports "not attempted yet", a crash in
the student's code is one line naming the exception and the line of their code. Every result is also
attached to the output as metadata ({"minipose": {"exercise", "status", "message"}}) for tools.

`grade_namespace` is what tools/grade.py runs at the end of each submitted notebook: it looks up each
exercise's answer by name, so it does not depend on the student's check cells.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import json
import re
import linecache
import math
import numbers
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

PASSED, FAILED, NOT_ATTEMPTED, MISSING = "passed", "failed", "not attempted", "missing"
_PACKAGE_DIRS = [str(Path(__file__).resolve().parent.parent) + os.sep]


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
    if filename.startswith("/"):
        filename = os.path.realpath(filename)  # "minipose/../x.py" is not minipose
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
    except (Exception, SystemExit) as err:  # exit() in an answer is a mistake too, not the end of the kernel
        message = describe_crash(err)
        if any(word in str(err) for word in _CUDA_WORDS):
            message = (message.split("): ")[0] + ")" if "): " in message else message) + (
                ", so it only runs on CUDA: make every new tensor on the input's device (`device=x.device`), "
                "never with `.cuda()`")
        raise Mistake(message) from None


# --- reading a prediction ---------------------------------------------------------------------------------------
# Every Prediction checker reads one number (or a few) and names the slip behind the likely wrong ones; these two
# helpers do both, so that each checker holds only its own numbers and sentences.

def read_number(answer: Any, what: str, example: str, whole: bool = False) -> float:
    """`answer` as a finite float: an int, a float, a numpy scalar, a one-element tensor or a number written as text
    ("1e-5", "8,388,608"); else a Mistake.

    `what` names the quantity ("millimetres", "GFLOP"), `example` shows one way to write it ("12.5"); with
    `whole`, a count: 9.5 entries is a Mistake too.
    """
    if hasattr(answer, "numel") and callable(answer.numel) and answer.numel() == 1:  # a one-element tensor
        answer = answer.item()
    if hasattr(answer, "item") and getattr(answer, "size", None) == 1:  # a numpy scalar or one-element array
        answer = answer.item()
    if isinstance(answer, str) and re.fullmatch(r"\s*[-+]?(\d{1,3}(,\d{3})+|[\d_.]+([eE][-+]?\d+)?)\s*", answer):
        try:  # a number written as text, "1e-5" or "8,388,608", counts too
            answer = float(answer.replace(",", "").replace("_", ""))
        except ValueError:
            pass
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        raise Mistake(f"give one number of {what}, e.g. {example} (no unit, no text); you gave {answer!r:.40}")
    try:
        value = float(answer)
    except OverflowError:
        raise Mistake(f"that number is too large to be {what}: give a plain number like {example}") from None
    if not math.isfinite(value):
        raise Mistake(f"{value} is not a number of {what}: give a finite number like {example}")
    if whole and value != int(value):
        raise Mistake(f"a count of {what} is a whole number, like {example}; you gave {value:g}")
    return value


def named_slip(got: float, slips, rel: float = 1e-3, abs_tol: float = 1e-9) -> None:
    """Raise Mistake(sentence) for the first (wrong value, sentence) of `slips` that `got` matches.

    Two numbers match when |got - wrong| <= max(rel * max(|got|, |wrong|), abs_tol), as math.isclose has it;
    rel=0, abs_tol=0 asks for equality, as counts do.
    """
    for wrong, sentence in slips:
        if math.isclose(got, wrong, rel_tol=rel, abs_tol=abs_tol):
            raise Mistake(sentence)


class Exercise:
    """One checked exercise: a number ("05.1"), the name the answer is defined under, and a checker.

    The checker takes the student's answer and raises Mistake with a specific sentence, or returns a
    short description of what was verified.
    """

    def __init__(self, number: str, title: str, answer_name: str, checker: Callable[[Any], str],
                 hints: list[str], refuses: tuple[str, ...] = ()) -> None:
        self.number, self.title, self.answer_name = number, title, answer_name
        self._checker, self._hints = checker, hints
        self.refuses = tuple(refuses)  # dotted names of the package's own solutions: see _Refusals
        self._refusals: _Refusals | None = None

    def __repr__(self) -> str:
        return f"Exercise {self.number}: {self.title} (define `{self.answer_name}`, then run .check({self.answer_name}))"

    def result(self, answer: Any) -> Result:
        """Run the check and return its Result. Never raises."""
        import torch

        threads, dtype, grad = torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled()
        torch.set_num_threads(1)  # the checks' tensors are tiny: one thread is fastest, also on a busy machine
        try:
            with torch.enable_grad():  # a notebook left in no_grad must not fail a right answer
                return self._result(answer)
        finally:  # an answer that changed torch's global settings leaves them as they were
            torch.set_num_threads(threads)
            torch.set_default_dtype(dtype)
            torch.set_grad_enabled(grad)

    def _refused(self, why: str) -> Result:
        return Result(self.number, FAILED, f"not yet: {why}: the exercise is to write it yourself (torch, numpy "
                                           "and helpers of your own are fine).")

    def _result(self, answer: Any) -> Result:
        if self._refusals is None:
            self._refusals = _Refusals(self.refuses)
        try:
            why = self._refusals.static(answer)
        except Exception:  # noqa: BLE001 - an answer too odd to inspect is left to the run-time tripwire
            why = None
        if why:
            return self._refused(why)
        with _Tripwire(self._refusals) as wire:
            result = self._run_checker(answer)
        return self._refused(wire.found) if wire.found else result

    def _run_checker(self, answer: Any) -> Result:
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


class Prediction(Exercise):
    """A number or a shape the student predicts before the cell that shows it: `ex.q0.check(my_prediction)`.

    The answer cell is a plain assignment, `my_prediction = ...`; its student version keeps the `...` (Ellipsis),
    which counts as not attempted. The checker compares the value with one the checker computes itself, and names
    the slip behind the most likely wrong numbers.
    """

    def _run_checker(self, answer: Any) -> Result:
        if answer is Ellipsis:
            return Result(self.number, NOT_ATTEMPTED,
                          f"not attempted yet: replace the `...` in `{self.answer_name} = ...` with your prediction, "
                          "run that cell, then this one (before you run the cell that shows the answer).")
        return super()._run_checker(answer)


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


# --- refusing the package's own reference -----------------------------------------------------------------------
# An exercise names the package functions and classes that solve it (`refuses=`). While its check runs the
# student's answer, using one of them fails the check with a sentence: the answer *is* the reference (or a partial,
# bound method or instance of it), *subclasses* it, *names* it in its code or in a helper it calls, is the lesson's
# own copy of it (the `#| export` cell run in the notebook: same syntax tree), or *calls* it at run time (seen by a
# trace hook, so a reference reached through other package code or a thread counts too). The checker itself may
# still call minipose: only calls with the student's code on the stack are refused.

def _resolve(dotted: str) -> Any:
    """'minipose.integral.soft_argmax' -> the object (the longest importable module, then attributes)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _public_name(dotted: str, obj: Any) -> str:
    """The shortest name a student would write: minipose.soft_argmax rather than minipose.integral.soft_argmax."""
    if dotted.startswith("minipose."):
        import minipose

        name = dotted.rsplit(".", 1)[-1]
        if getattr(minipose, name, None) is obj:
            return f"minipose.{name}"
    return dotted


def _own_code(fn: Any):
    """The code of a function's own body: through functools.wraps decorators, whose wrapper code is shared by
    every function they decorate (torch's clip_grad_norm_ and clip_grad_value_ share one)."""
    import inspect

    fn = getattr(fn, "__func__", fn)  # staticmethod, classmethod, bound method
    try:
        fn = inspect.unwrap(fn)
    except ValueError:  # a cycle of __wrapped__: keep the outer function
        pass
    return getattr(fn, "__code__", None)


def _codes_of(obj: Any) -> set:
    """The code objects that run when `obj` (a function or a class) is used."""
    values = vars(obj).values() if isinstance(obj, type) else [obj]
    codes = {_own_code(v.fget if isinstance(v, property) else v) for v in values}
    return codes - {None}


def _bytecode(code) -> tuple:
    return (code.co_code, code.co_names, code.co_varnames,
            tuple(_bytecode(c) if hasattr(c, "co_code") else repr(c) for c in code.co_consts))


def _fingerprints(code) -> set:
    """What a function's code says, without where it was written: the lesson's `#| export` cell run in a notebook
    makes a new function with the package's syntax tree (its bytecode may differ: a cell that imports torch
    compiles `torch.f(...)` otherwise than a cell that does not). Both are kept, for code without a source."""
    import ast
    import inspect
    import textwrap

    found = {("bytecode", _bytecode(code))}
    try:
        found.add(("source", ast.dump(ast.parse(textwrap.dedent(inspect.getsource(code))))))
    except (OSError, TypeError, SyntaxError, IndentationError):
        pass
    return found


class _Refusals:
    """The references of one exercise, and the ways an answer can be caught using them."""

    def __init__(self, dotted: tuple[str, ...]) -> None:
        self.objects = [(_resolve(d), _public_name(d, _resolve(d))) for d in dotted]
        self.codes = {code: name for obj, name in self.objects for code in _codes_of(obj)}
        self._by_name: dict[str, list] = {}  # co_name -> [(fingerprints, name)]: to recognise copies
        for code, name in self.codes.items():
            self._by_name.setdefault(code.co_name, []).append((_fingerprints(code), name))
        self._copies: dict = {}  # code -> name or None, a cache for the tripwire

    def code_name(self, code) -> str | None:
        """The reference this code belongs to: the package's own, or a copy made by running the lesson's cell."""
        name = self.codes.get(code)
        if name is not None or code.co_name not in self._by_name:
            return name
        if code not in self._copies:
            found = _fingerprints(code)
            self._copies[code] = next((f"the lesson's copy of {n}" for f, n in self._by_name[code.co_name]
                                       if f & found), None)
        return self._copies[code]

    def _class_name(self, cls: type) -> str | None:
        """A refused class, or a class whose methods are copies of a refused class's."""
        for obj, name in self.objects:
            if cls is obj:
                return name
        for value in vars(cls).values():
            code = _own_code(value)
            if code is not None and self.code_name(code):
                return self.code_name(code)
        return None

    def _named(self, value: Any) -> str | None:
        for obj, name in self.objects:
            if value is obj:
                return name
        if isinstance(value, type):
            return self._class_name(value)
        code = _own_code(value)
        return self.code_name(code) if code is not None else None

    def static(self, answer: Any) -> str | None:
        """Why the answer uses a reference without running it, or None."""
        import functools

        inner = answer.func if isinstance(answer, functools.partial) else answer
        inner = getattr(inner, "__func__", inner)  # a bound method
        for candidate in (inner, getattr(inner, "__wrapped__", None)):
            if candidate is not None and not isinstance(candidate, type):
                name = self._named(candidate)
                if name:
                    return f"this is {name} itself"
        if isinstance(answer, type):
            for base in answer.__mro__:
                name = self._class_name(base)
                if name:
                    return f"this is {name} itself" if base is answer else f"this subclasses {name}"
        elif not callable(getattr(answer, "__code__", None)) and isinstance(type(answer), type) \
                and type(answer).__module__ != "builtins":
            for base in type(answer).__mro__:
                name = self._class_name(base)
                if name:
                    return f"this is an instance of {name}"
        return self._names_in(answer, seen=set(), depth=0)

    def _names_in(self, thing: Any, seen: set, depth: int) -> str | None:
        """Whether the student's code (functions, classes, helpers they call) names a reference."""
        if depth > 4 or id(thing) in seen:
            return None
        seen.add(id(thing))
        if isinstance(thing, type):
            for base in thing.__mro__[1:]:
                found = self._names_in(base, seen, depth + 1)
                if found:
                    return found
            functions = [getattr(v, "__func__", v) for v in vars(thing).values()]
            functions += [v.fget for v in vars(thing).values() if isinstance(v, property)]
        else:
            functions = [getattr(thing, "__func__", getattr(thing, "func", thing))]
            if not hasattr(functions[0], "__code__") and hasattr(type(thing), "__call__") \
                    and not isinstance(thing, type(lambda: 0)):
                functions = [getattr(type(thing), "__call__", None)]  # an object with __call__
        for fn in functions:
            code = getattr(fn, "__code__", None)
            if code is None or _library_file(code.co_filename):
                continue
            values = _values_named(code, fn.__globals__)
            values += [cell.cell_contents for cell in (fn.__closure__ or ()) if _cell_full(cell)]
            for value in values:
                name = self._named(value)
                if name:
                    return f"this calls {name}"
            for value in values:  # a helper the student wrote (a function or a class of their own)
                if callable(value) and not isinstance(value, type(sys)):
                    found = self._names_in(value, seen, depth + 1)
                    if found:
                        return found
        return None


def _values_named(code, globals_: dict) -> list:
    """The objects a function's code (and the functions and lambdas nested in it) names: each global, and each
    step of a dotted chain written after it (`minipose.integral.soft_argmax` gives the module, the submodule and
    the function), read from the bytecode."""
    import dis

    values, stack = [], [code]
    while stack:
        c = stack.pop()
        stack += [k for k in c.co_consts if hasattr(k, "co_code")]
        current = None
        for ins in dis.get_instructions(c):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                current = globals_.get(ins.argval, getattr(__builtins__, ins.argval, None)
                                       if not isinstance(__builtins__, dict) else __builtins__.get(ins.argval))
            elif ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and current is not None:
                current = getattr(current, ins.argval, None) if isinstance(current, type(sys)) else None
            else:
                current = None
                continue
            if current is not None:
                values.append(current)
    return values


def _cell_full(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


class _Tripwire:
    """A trace hook, set only while a check runs: records a reference entered with the student's code on the stack."""

    def __init__(self, refusals: _Refusals) -> None:
        self.refusals, self.found, self._library = refusals, None, {}

    def _student(self, filename: str) -> bool:
        if filename not in self._library:
            self._library[filename] = _library_file(filename)
        return not self._library[filename]

    def __enter__(self):
        import threading

        self._previous, self._boundary = sys.gettrace(), sys._getframe(1)
        self._previous_threads = threading.gettrace()
        self._hook = self._trace  # one bound method, to recognise it afterwards
        sys.settrace(self._hook)
        threading.settrace(self._thread_trace)  # threads the answer starts are watched too
        return self

    def __exit__(self, *exc) -> None:
        import threading

        if sys.gettrace() is not self._hook and self.found is None:
            self.found = "this turned off the check's trace hook (sys.settrace)"
        sys.settrace(self._previous)
        threading.settrace(self._previous_threads)

    def _thread_trace(self, frame, event, arg):
        """In another thread there is no check frame below: a reference entered there counts as the student's."""
        if event == "call" and self.found is None:
            name = self.refusals.code_name(frame.f_code)
            if name:
                self.found = f"this calls {name}"
        return None

    def _trace(self, frame, event, arg):
        if event == "call" and self.found is None:
            name = self.refusals.code_name(frame.f_code)
            caller = frame.f_back if name else None
            while caller is not None and caller is not self._boundary:
                if self._student(caller.f_code.co_filename):
                    self.found = f"this calls {name}"
                    break
                caller = caller.f_back
        return self._previous(frame, event, arg) if self._previous else None


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
