"""Shared helpers for the tests, and a clear message when the test tools are missing.

It sits at the root (not in tests/) so that pytest loads it before it reads the options in
pyproject.toml, whatever folder or file `pytest` is given."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

# pytest-xdist runs one worker per core (pyproject.toml). Each worker, and the kernels and processes it starts,
# then gets its share of the cores: two workers of two OpenMP threads each on two cores wait on each other's
# threads, and a lesson that takes 75 s alone took over 7 minutes so. (Set before any test imports torch.)
if "PYTEST_XDIST_WORKER_COUNT" in os.environ and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))


@pytest.fixture
def hub_dir(tmp_path):
    """An empty torch hub cache for one test, restored afterwards."""
    import torch  # here, not at the top, so that the message below comes first when tools are missing

    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    yield tmp_path / "hub"
    torch.hub.set_dir(old)


def pytest_addoption(parser, pluginmanager):
    # pyproject.toml passes --nbval to every run: without the plugin pytest would only say
    # "unrecognized arguments: --nbval", which does not tell anyone what to do.
    if not pluginmanager.hasplugin("nbval") or not pluginmanager.hasplugin("xdist"):
        raise pytest.UsageError(
            "nbval or pytest-xdist is not installed here: the tests run every lesson through nbval, on every core "
            "with pytest-xdist. Install the test tools "
            "(README, Set up):\n    pip install -c constraints.txt -e \".[lessons,dev]\"\n"
            "then run `pytest` again (or `pytest -m \"not browser\"` for the quick path)."
        )


# --- grading the lessons nbval runs ----------------------------------------------------------------------------
# Each numbered lesson runs once per test session, under nbval. After its last cell, one more item grades that very
# run the way tools/grade.py grades a submission (its grading cell, in the same kernel): every exercise must pass.
# Then the student version's answer cells (the stubs, as tools/make_student.py wrote them) run in that kernel, and
# grading again must say "not attempted" for every exercise. tests/test_exercises.py runs tools/grade.py itself,
# end to end, on whole notebooks of one lesson (solved, blank and doctored ones).

def _lesson_notebook(parent) -> bool:
    path = Path(str(getattr(parent, "path", "")))
    return path.parent == ROOT / "lessons" and path.suffix == ".ipynb" and path.name[:2].isdigit()


@pytest.hookimpl(trylast=True)  # after -k / -m deselection: grade only notebooks whose every cell is selected
def pytest_collection_modifyitems(session, config, items):
    if not config.pluginmanager.hasplugin("nbval") or not config.getoption("nbval", False):
        return
    by_parent: dict = {}
    for item in items:
        if _lesson_notebook(item.parent):
            by_parent.setdefault(item.parent, []).append(item)
    for parent, cells in by_parent.items():
        if len(cells) == len(list(parent.collect())):
            items.insert(items.index(cells[-1]) + 1, GradeLesson.from_parent(parent, name="grade"))


def _run_in_kernel(kernel, code: str, timeout: float = 600) -> tuple[str, list[str]]:
    """Run code in an nbval kernel: (what it printed, the text of any error it raised)."""
    msg_id = kernel.execute_cell_input(code, allow_stdin=False)
    printed, errors = [], []
    while True:
        msg = kernel.get_message(stream="iopub", timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            (errors if content["name"] == "stderr" else printed).append(content["text"])
        elif kind == "error":
            errors.append(f"{content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            break
    kernel.await_reply(msg_id, timeout=timeout)
    return "".join(printed), errors


class GradeLesson(pytest.Item):
    """tools/grade.py's grading cell, run in the kernel nbval ran the solved lesson in; then the student stubs."""

    def runtest(self):
        import importlib.util

        from minipose.exercises import exercises

        spec = importlib.util.spec_from_file_location("_grade_tool", ROOT / "tools" / "grade.py")
        tool = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tool)
        number = self.parent.path.name[:2]
        kernel = self.parent.kernel
        assert kernel is not None and kernel.is_alive(), "the lesson's kernel is gone: see its cells' failures"
        expected = [ex.number for ex in exercises(number)]

        def grade(status: str) -> None:
            printed, errors = _run_in_kernel(kernel, tool.GRADE_CELL.format(lesson=number))
            assert not errors, errors
            results = [json.loads(line[len(tool.PREFIX):]) for line in printed.splitlines()
                       if line.startswith(tool.PREFIX)]
            got = {r["exercise"]: r["status"] for r in results}
            assert got == dict.fromkeys(expected, status), "\n".join(
                f"{r['exercise']}: {r['status']}: {r['message']}" for r in results if r["status"] != status)

        grade("passed")
        student = json.loads((ROOT / "student" / self.parent.path.name).read_text())
        stubs = ["".join(c["source"]) for c in student["cells"]
                 if c["cell_type"] == "code" and "".join(c["source"]).startswith("# Exercise ")]
        assert len(stubs) >= len(expected), f"student/{self.parent.path.name} lacks answer cells"
        for stub in stubs:
            _, errors = _run_in_kernel(kernel, stub)
            assert not errors, f"the student version's answer cell raised when run:\n{stub}\n{errors}"
        grade("not attempted")

    def reportinfo(self):
        return self.path, None, f"{self.parent.path.name}::grade"
