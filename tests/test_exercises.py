"""The exercise machinery: student versions made from the solved lessons, and grading a folder of submissions.

The checks of each lesson's exercises are tested in tests/test_exNN.py.
"""
from __future__ import annotations

import copy
import csv
import json
import re
import shutil
import sys

import pytest

from conftest import ROOT
from exercise_helpers import reference
from minipose.exercises import Exercise, Prediction, exercises, lesson

sys.path.insert(0, str(ROOT / "tools"))
import grade  # noqa: E402
import make_student  # noqa: E402

SOLVED = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
STUDENT = ROOT / "student"


def cells_of(path):
    return json.loads(path.read_text())["cells"]


def source(cell):
    return "".join(cell["source"])


def test_student_versions_are_current():
    assert make_student.main(["--check"]) == 0, "run `python tools/make_student.py`"


def test_stale_student_versions_are_detected(tmp_path, capsys):
    shutil.copytree(ROOT / "lessons", tmp_path / "lessons")
    shutil.copytree(STUDENT, tmp_path / "student")
    (tmp_path / "minipose" / "exercises").mkdir(parents=True)
    shutil.copy(ROOT / "minipose" / "exercises" / "solutions.json", tmp_path / "minipose" / "exercises")
    assert make_student.main(["--check"], root=tmp_path) == 0
    lesson05 = tmp_path / "lessons" / "05_soft_argmax.ipynb"
    lesson05.write_text(lesson05.read_text().replace("x, y, z = flat % w,", "x, y, z = (flat % w),"))
    assert make_student.main(["--check"], root=tmp_path) == 1
    assert "minipose/exercises/solutions.json" in capsys.readouterr().err
    assert make_student.main([], root=tmp_path) == 0 and make_student.main(["--check"], root=tmp_path) == 0


@pytest.mark.parametrize("solved", SOLVED, ids=lambda p: p.name)
def test_student_version_hides_every_solution(solved):
    student = STUDENT / solved.name
    text = student.read_text()
    solved_cells = cells_of(solved)
    regions, shown = [], set()  # lines of solution regions; lines the solved lesson shows outside them anyway
    for cell in solved_cells:
        inside = False
        for line in source(cell).split("\n"):
            if "### END SOLUTION" in line:
                inside = False
            if inside and line.strip():
                regions.append(line)
            elif "instructor" not in cell.get("metadata", {}).get("tags", []):
                shown.add(line)
            if "### BEGIN SOLUTION" in line:
                inside = True
    student_lines = {line for cell in cells_of(student) for line in source(cell).split("\n")}
    leaked = [line for line in regions if line in student_lines and line not in shown]
    assert not leaked, f"solution lines in the student version: {leaked}"
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    for cell in cells_of(student):
        assert "instructor" not in cell.get("metadata", {}).get("tags", [])
        assert not cell.get("outputs") and cell.get("execution_count") is None
    found = exercises(solved.name[:2])
    numbers = [ex.number for ex in found]
    code = "\n".join(source(c) for c in cells_of(student))
    for ex in found:
        if isinstance(ex, Prediction):  # a value: its stub is `name = ...`, which the check calls not attempted
            assert f"{ex.answer_name} = ...  # YOUR PREDICTION HERE" in code
        else:
            assert f'raise NotImplementedError("Exercise {ex.number}")' in code
    assert len(re.findall(r"### BEGIN SOLUTION", solved.read_text())) >= len(numbers)


@pytest.mark.parametrize("solved", SOLVED, ids=lambda p: p.name)
def test_every_instructor_cell_is_tagged(solved):
    """A planted wrong answer says so in its first line; without the tag it would reach the student version,
    where a wrong answer one character from the solution gives the exercise away."""
    for i, cell in enumerate(cells_of(solved)):
        if source(cell).lstrip().lower().startswith("# instructor"):
            assert "instructor" in cell.get("metadata", {}).get("tags", []), f"{solved.name}, cell {i}"


def test_stub_keeps_the_indentation():
    text = "# Exercise 09.1: x\ndef f(a):\n    if a:\n        ### BEGIN SOLUTION\n        return 1\n        ### END SOLUTION\n    return 0"
    student, solution, number = make_student.strip_solution(text, "test")
    assert number == "09.1"
    assert student.split("\n")[3:5] == ["        # YOUR CODE HERE", '        raise NotImplementedError("Exercise 09.1")']
    assert solution.split("\n")[3] == "        return 1" and "SOLUTION" not in solution
    compile(student, "student", "exec")
    for broken in [text.replace("### END SOLUTION", ""), text.replace("# Exercise 09.1: x", "# a cell")]:
        with pytest.raises(make_student.SourceError):
            make_student.strip_solution(broken, "test")


@pytest.mark.parametrize("number", [p.name[:2] for p in SOLVED])
def test_lesson_has_checked_exercises_with_hints_and_tests(number):
    """At least two checked exercises per lesson, each with hints, a solution, an answer cell and its own tests."""
    found = exercises(number)
    assert len(found) >= 2 and all(isinstance(ex, Exercise) for ex in found)
    solutions = json.loads((ROOT / "minipose" / "exercises" / "solutions.json").read_text())
    tests = (ROOT / "tests" / f"test_ex{number}.py").read_text()
    module = lesson(number)
    for name, ex in vars(module).items():
        if isinstance(ex, Exercise):
            assert ex.number.startswith(number + ".") and ex.number in solutions and ex._hints
            assert re.search(rf"assert_verdicts\(\s*ex{number}\.{name}\b", tests), f"no assert_verdicts for ex{number}.{name}"
            cells = cells_of(next(p for p in SOLVED if p.name.startswith(number)))
            assert any(source(c).startswith(f"# Exercise {ex.number}:") for c in cells)
            assert any(f"ex.{name}.check({ex.answer_name})" in source(c) for c in cells)
    assert module.__doc__


# --- grading ---------------------------------------------------------------------------------------------------

def _answer_cell(cells, number):
    return next(i for i, c in enumerate(cells) if source(c).startswith(f"# Exercise {number}"))


def _fill(cells, solved_cells, number, replace=None):
    """Put the solved lesson's answer to `number` into a student notebook's cells (optionally altered)."""
    i = _answer_cell(cells, number)
    text = source(solved_cells[_answer_cell(solved_cells, number)])
    text = "\n".join(line for line in text.split("\n") if "SOLUTION" not in line)
    if replace:
        text = text.replace(*replace)
    cells[i]["source"] = text


# tools/grade.py end to end on whole notebooks of two lessons (00 and 05: every lesson once would run each lesson a
# second time). Every lesson's solved run and its student stubs are graded in nbval's own kernel (conftest.py).
GRADED = [p for p in SOLVED if p.name[:2] in ("00", "05")]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One grading run over: two solved lessons, their blank student versions, and four doctored submissions."""
    root = tmp_path_factory.mktemp("grading")
    folder, kept = root / "submissions", root / "executed"
    for path in GRADED:
        for kind, source in (("solved", path), ("blank", STUDENT / path.name)):
            (folder / kind).mkdir(parents=True, exist_ok=True)
            shutil.copy(source, folder / kind / path.name)
    blank05 = json.loads((STUDENT / "05_soft_argmax.ipynb").read_text())
    solved05 = cells_of(ROOT / "lessons" / "05_soft_argmax.ipynb")

    partial = copy.deepcopy(blank05)  # 05.1 done, 05.2 not
    _fill(partial["cells"], solved05, "05.1")
    wrong = copy.deepcopy(blank05)  # both done; 05.1 with the official indices but without the "- 1"
    _fill(wrong["cells"], solved05, "05.1", ("torch.arange(w, **like)", "torch.arange(1, w + 1, **like)"))
    _fill(wrong["cells"], solved05, "05.2")
    mangled = copy.deepcopy(blank05)  # 05.2's answer deleted, 05.1's duplicated (the later copy right), reordered
    cells = mangled["cells"]
    _fill(cells, solved05, "05.1")
    del cells[_answer_cell(cells, "05.2")]
    i = _answer_cell(cells, "05.1")
    first = copy.deepcopy(cells[i])
    first["source"] = "# Exercise 05.1 (first try)\ndef my_soft_argmax(heatmaps, joint_num, depth_dim):\n    return 0"
    cells.insert(i, first)
    cells[i + 1], cells[i + 2] = cells[i + 2], cells[i + 1]  # the check cell now runs before the final answer
    cheat = copy.deepcopy(blank05)  # 05.1 handed the package's own soft-argmax, through a helper
    cells = cheat["cells"]
    cells[_answer_cell(cells, "05.1")]["source"] = (
        "# Exercise 05.1: soft-argmax from scratch\nimport minipose\n\ndef _mine(h, j, d):\n"
        "    return minipose.soft_argmax(h, j, d)\n\ndef my_soft_argmax(heatmaps, joint_num, depth_dim):\n"
        "    return _mine(heatmaps, joint_num, depth_dim)")
    for name, nb in [("partial", partial), ("wrong", wrong), ("mangled", mangled), ("cheat", cheat)]:
        (folder / name).mkdir()
        # Renamed, as students do: the lesson comes from the notebook's metadata.
        (folder / name / f"{name} soft-argmax (1).ipynb").write_text(json.dumps(nb))
    (folder / "corrupt").mkdir()
    (folder / "corrupt" / "05_soft_argmax.ipynb").write_text("{not json")
    out = root / "grades.csv"
    assert grade.main([str(folder), "--out", str(out), "--keep", str(kept), "--timeout", "300"]) == 0
    return out, kept


def _rows(path):
    with path.open(newline="") as f:
        return list(csv.reader(f))


def _table(out):
    rows = _rows(out)
    header = rows[0]
    return {r[0]: dict(zip(header[1:], r[1:])) for r in rows[1:]}


def test_grading_gives_the_expected_table(graded, capsys):
    out, _ = graded
    table = _table(out)
    numbers = [ex.number for path in GRADED for ex in exercises(path.name[:2])]
    assert set(table) == {"solved", "blank", "partial", "wrong", "mangled", "corrupt", "cheat"}
    assert all(table["solved"][n] == "passed" for n in numbers) and table["solved"]["passed"] == str(len(numbers))
    assert all(table["blank"][n] == "not attempted" for n in numbers)
    assert (table["partial"]["05.1"], table["partial"]["05.2"]) == ("passed", "not attempted")
    assert (table["wrong"]["05.1"], table["wrong"]["05.2"]) == ("failed", "passed")
    assert (table["mangled"]["05.1"], table["mangled"]["05.2"]) == ("passed", "missing")
    assert table["corrupt"]["05.1"] == "missing"
    details = {(r[0], r[1]): r[3] for r in _rows(out.with_name("grades_details.csv"))}
    assert "x is exactly 1 too large (off by one)" in details[("wrong", "05.1")]
    assert "`argmax_3d` is not defined" in details[("mangled", "05.2")]
    assert table["cheat"]["05.1"] == "failed"
    assert "this calls minipose.soft_argmax: the exercise is to write it yourself" in details[("cheat", "05.1")]
    # Exercises of other lessons: the students who sent only lesson 05 are missing them, and told so.
    for n in numbers:
        if not n.startswith("05."):
            assert table["partial"][n] == "missing"


def test_blank_student_notebooks_run_through_with_every_check_not_attempted(graded):
    _, kept = graded
    for path in sorted((kept / "blank").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        outputs = [o for c in cells[:-1] if c["cell_type"] == "code" for o in c["outputs"]]  # the last: grading
        assert not [o for o in outputs if o["output_type"] == "error"], path.name
        checks = [o["metadata"]["minipose"] for o in outputs if "minipose" in o.get("metadata", {})]
        assert len(checks) == len(exercises(path.name[:2]))
        assert all(c["status"] == "not attempted" for c in checks), path.name
    assert len(list((kept / "blank").glob("*.ipynb"))) == len(GRADED)


def _defined_names(code: str) -> set[str]:
    """The names a cell defines at its top level (functions, classes, assignments)."""
    import ast

    names = set()
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


@pytest.mark.parametrize("solved", SOLVED, ids=lambda p: p.name)
def test_no_lesson_cell_uses_an_answer_outside_its_exercise(solved):
    """The student version runs top to bottom like the lesson (nbval) because nothing but an exercise's own check
    (and instructor cells, not in the student version) reads the names its answer cell defines: in the student
    version those are stubs. With the in-kernel grading of the stubs (conftest.py), this covers every blank
    student notebook without running each a second time."""
    import ast

    cells = [c for c in cells_of(solved) if c["cell_type"] == "code"]
    answers = {}
    for cell in cells:
        text = source(cell)
        if text.startswith("# Exercise "):
            answers[text.split(":")[0]] = _defined_names(text)
    assert len(answers) >= len(exercises(solved.name[:2]))
    names = set().union(*answers.values())
    for cell in cells:
        text = source(cell)
        if text.startswith("# Exercise ") or "instructor" in cell.get("metadata", {}).get("tags", []):
            continue
        if re.fullmatch(r"ex\.\w+\.check\((\w+)\)", text.strip()):
            continue
        used = {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)} & names
        assert not used, f"{solved.name}: a cell outside the exercises uses {used}:\n{text[:300]}"


ALL_EXERCISES = [ex for path in SOLVED for ex in exercises(path.name[:2])]


@pytest.mark.parametrize("exercise", ALL_EXERCISES, ids=lambda ex: ex.number)
def test_checks_never_raise_on_junk_answers(exercise):
    """Whatever a student passes (nothing, a number, a string, a function that returns None, a class), the check
    answers with a sentence: never an exception, never 'the check itself failed'."""
    for junk in [None, 42, "my answer", lambda *args, **kwargs: None, object]:
        result = exercise.result(junk)
        assert result.status == "failed", (junk, result)
        assert result.message.startswith("not yet: ") and "the check itself failed" not in result.message


PREDICTIONS = [ex for ex in ALL_EXERCISES if isinstance(ex, Prediction)]


@pytest.mark.parametrize("prediction", PREDICTIONS, ids=lambda ex: ex.number)
def test_a_prediction_reads_junk_with_a_sentence(prediction):
    """A prediction that is not one finite number (a bool, text, nan, inf, an int too large for a float, an empty
    list) fails with a sentence that says what to give, never with 'the check itself failed'."""
    for junk in [True, "12", float("nan"), float("inf"), 10**400, []]:
        result = prediction.result(junk)
        assert result.status == "failed", (junk, result)
        assert "the check itself failed" not in result.message, (junk, result)


def _ways_to_pass_the_reference(reference):
    """The four ways a student hands in the package's own solution: as is, wrapped, subclassed (a class) or
    called from a helper of their own (a function); and once more, hidden from a static reading of the code."""
    def helper(*args, **kwargs):
        return reference(*args, **kwargs)

    def answer(*args, **kwargs):
        return helper(*args, **kwargs)

    def looked_up(*args, _module=reference.__module__, _name=reference.__name__, **kwargs):
        import importlib  # the reference is nowhere in this code or its closure: only the run-time tripwire sees it
        return getattr(importlib.import_module(_module), _name)(*args, **kwargs)

    ways = [("as is", reference), ("wrapped", lambda *args, **kwargs: reference(*args, **kwargs)),
            ("from a helper", answer), ("looked up by name", looked_up)]
    if isinstance(reference, type):
        ways.append(("subclassed", type("Mine", (reference,), {})))
    return ways


REFUSED = [(ex, dotted) for ex in ALL_EXERCISES for dotted in ex.refuses]


@pytest.mark.parametrize("exercise,dotted", REFUSED, ids=lambda x: x if isinstance(x, str) else x.number)
def test_no_check_passes_the_packages_own_solution(exercise, dotted):
    """Each exercise names the package functions and classes that solve it; handed in any of four ways, each is
    refused with a sentence that names it (status failed), and the lesson's solution still passes."""
    from minipose.exercises import _resolve

    reference = _resolve(dotted)
    for way, answer in _ways_to_pass_the_reference(reference):
        result = exercise.result(answer)
        assert result.status == "failed", (way, result.message)
        if way == "looked up by name" and "your code raised" in result.message:
            continue  # the exercise's arguments do not fit the reference, so it never ran; it failed all the same
        assert "the exercise is to write it yourself" in result.message, (way, result.message)
        assert dotted.rsplit(".", 1)[-1] in result.message, (way, result.message)


@pytest.mark.parametrize("number,dotted", [("01.1", "minipose.blocks.Bottleneck"),
                                           ("05.1", "minipose.integral.soft_argmax"),
                                           ("06.1", "minipose.posenet.coord_l1_loss"),
                                           ("09.1", "minipose.data.process_bbox"),
                                           ("13.1", "minipose.metrics.mpjpe")])
def test_the_run_time_tripwire_catches_a_reference_the_code_never_names(number, dotted):
    """References that fit their exercise's arguments, looked up by strings: only the tripwire can see them."""
    from minipose.exercises import _resolve

    exercise = next(ex for ex in ALL_EXERCISES if ex.number == number)
    way, answer = [w for w in _ways_to_pass_the_reference(_resolve(dotted)) if w[0] == "looked up by name"][0]
    result = exercise.result(answer)
    assert result.status == "failed" and "this calls minipose." in result.message, result.message


def _lesson_copy(dotted):
    """The reference as the lesson's own cells define it in a notebook: the lesson's `#| export` cells for its
    module, each compiled as a kernel compiles a cell (a file of its own, registered in linecache, the imports in
    another cell than the code that uses them). None for a module written directly."""
    import linecache

    module_name, name = dotted.rsplit(".", 1)
    path = ROOT / (module_name.replace(".", "/") + ".py")
    header = path.read_text().split("\n", 1)[0] if module_name.startswith("minipose.") else ""
    match = re.search(r"from (lessons/\S+\.ipynb)", header)
    if not match:
        return None
    target = f"#| export {module_name.replace('.', '/')}.py"
    namespace = {"__name__": "__main__"}
    for k, cell in enumerate(cells_of(ROOT / match.group(1))):
        text = source(cell)
        if cell["cell_type"] == "code" and text.startswith(target):
            filename = f"/tmp/ipykernel_1/{4242 + k}.py"
            linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
            flags = __import__("__future__").annotations.compiler_flag
            exec(compile(text, filename, "exec", flags=flags, dont_inherit=True), namespace)  # noqa: S102
    return namespace.get(name)


COPIED = [(ex, d) for ex, d in REFUSED if _lesson_copy(d) is not None]


@pytest.mark.parametrize("exercise,dotted", COPIED, ids=lambda x: x if isinstance(x, str) else x.number)
def test_the_lessons_own_copy_of_the_reference_is_refused_too(exercise, dotted):
    """In a notebook the lesson's export cell defines its own copy of the function above the exercise (in the
    student version too): the same code, recognised by its bytecode, is refused in the same ways."""
    copy = _lesson_copy(dotted)
    for way, answer in _ways_to_pass_the_reference(copy)[:3] + (
            [("subclassed", type("Mine", (copy,), {}))] if isinstance(copy, type) else []):
        result = exercise.result(answer)
        assert result.status == "failed", (way, result.message)
        assert "the exercise is to write it yourself" in result.message, (way, result.message)
        assert copy.__name__ in result.message, (way, result.message)  # named: its copy, or the package's own


def test_what_an_expert_tried_against_the_refusal():
    """Found by a reviewer who tried to break the checks: a thread, a trace hook turned off, a student's own
    helper that shares the reference's name (not refused), a student's exit(), global settings left changed."""
    import threading

    import torch

    from minipose.exercises import ex05, ex06

    def in_a_thread(heatmaps, beta=1.0, _module="minipose.integral", _name="soft_argmax"):
        import importlib
        out = {}
        worker = threading.Thread(target=lambda: out.setdefault(
            "xy", getattr(importlib.import_module(_module), _name)(heatmaps * beta, heatmaps.shape[1], 1)))
        worker.start()
        worker.join()
        return out["xy"]
    result = ex05.q1.result(in_a_thread)
    assert result.status == "failed" and "this calls minipose.soft_argmax" in result.message, result.message

    def hook_off(heatmaps, beta=1.0):
        import sys
        sys.settrace(None)
        return heatmaps
    result = ex05.q1.result(hook_off)
    assert result.status == "failed" and "turned off the check's trace hook" in result.message, result.message

    solution = reference("06.1", "my_supervised_l1")
    namespace = {"minipose": __import__("minipose"), "solution": solution}
    exec(compile("def coord_l1_loss(coord, target):\n    return solution(coord, target)\n"  # noqa: S102
                 "def my_supervised_l1(coord, target):\n"
                 "    assert minipose.config.Config().depth_dim > 0\n"
                 "    return coord_l1_loss(coord, target)\n", "/tmp/ipykernel_1/77.py", "exec"), namespace)
    result = ex06.q1.result(namespace["my_supervised_l1"])  # the student's own coord_l1_loss, minipose for a constant
    assert result.status == "passed", result.message

    def leaves_float64(coord, target):
        torch.set_default_dtype(torch.float64)
        torch.set_grad_enabled(False)
        raise SystemExit(3)
    result = ex06.q1.result(leaves_float64)
    assert result.status == "failed" and "SystemExit" in result.message, result.message
    assert torch.get_default_dtype() == torch.float32 and torch.is_grad_enabled()

    with torch.no_grad():  # a notebook left without gradients does not fail a right answer
        assert ex06.q1.result(solution).status == "passed"


def test_every_exercise_says_what_it_refuses_or_why_nothing():
    """An exercise without a package reference to refuse is listed here, with the reason."""
    nothing_in_the_package = {
        "05.2": "the package has no hard 3D argmax",
        "10.2": "the package never reads an augmentation back from an affine",
    }
    for exercise in ALL_EXERCISES:
        if isinstance(exercise, Prediction):
            assert not exercise.refuses  # a value, not code: nothing to refuse
            continue
        assert bool(exercise.refuses) != (exercise.number in nothing_in_the_package), exercise.number


# Lessons whose predict-first question is still to be written (issue 26 lands lesson by lesson).
PREDICTIONS_PENDING: set[str] = set()


@pytest.mark.parametrize("solved", SOLVED, ids=lambda p: p.name)
def test_a_prediction_comes_before_the_cell_that_shows_it(solved):
    """Each lesson asks for at least one checked prediction (NN.0) in its body, before the exercises section, and
    keeps at least two checked exercises besides."""
    number = solved.name[:2]
    found = exercises(number)
    predictions = [ex for ex in found if isinstance(ex, Prediction)]
    assert len(found) - len(predictions) >= 2
    if number in PREDICTIONS_PENDING:
        assert not predictions, f"lesson {number} has its prediction now: take it off PREDICTIONS_PENDING"
        return
    assert predictions
    cells = cells_of(solved)
    section = next(i for i, c in enumerate(cells) if source(c).startswith("## Exercises"))
    for ex in predictions:
        answer = next(i for i, c in enumerate(cells) if source(c).startswith(f"# Exercise {ex.number}:"))
        assert answer < section, f"{ex.number} is asked after the lesson has shown everything"
        assert source(cells[answer + 1]).strip() == f"ex.{'q0'}.check({ex.answer_name})"


def test_a_refused_reference_is_refused_inside_a_lesson_namespace_too():
    """In a notebook the answer is defined in a cell (a file of the kernel's own): run the four ways through
    exec with such a file name, as grading does."""
    from minipose.exercises import ex05

    code = ("import minipose\n"
            "def my_soft_argmax(heatmaps, joint_num, depth_dim):\n"
            "    return minipose.soft_argmax(heatmaps, joint_num, depth_dim)\n")
    namespace = {}
    exec(compile(code, "/tmp/ipykernel_1/123.py", "exec"), namespace)  # noqa: S102 - our own test code
    result = ex05.q1.result(namespace["my_soft_argmax"])
    assert result.status == "failed" and "this calls minipose.soft_argmax" in result.message
    from minipose import Bottleneck
    from minipose.exercises import ex01

    result = ex01.q1.result(Bottleneck(64, 16))  # an instance instead of a class
    assert result.status == "failed" and "this is an instance of minipose.Bottleneck" in result.message


def test_instructors_table_lists_every_checked_exercise_as_it_is():
    """The table of exercises in docs/instructors.md: one row per checked exercise, with the name the student
    defines; no row for an exercise that is gone."""
    page = (ROOT / "docs" / "instructors.md").read_text()
    rows = dict(re.findall(r"^\| (\d\d\.\d) \| `?([A-Za-z_]\w*)", page, re.MULTILINE))
    assert rows == {ex.number: ex.answer_name for ex in ALL_EXERCISES}


def test_a_broken_exercise_module_is_not_taken_for_a_lesson_without_exercises(monkeypatch):
    """exNN importing something missing must fail loudly: grading it as 'no exercises' would give everyone 0 of 0."""
    import importlib

    import minipose.exercises as package

    real = importlib.import_module

    def broken(name, *args):
        if name == "minipose.exercises.ex05":
            raise ModuleNotFoundError("No module named 'somedependency'", name="somedependency")
        return real(name, *args)

    monkeypatch.setattr(package.importlib, "import_module", broken)
    assert exercises("99") == []
    with pytest.raises(ModuleNotFoundError, match="somedependency"):
        exercises("05")
