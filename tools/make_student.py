"""Write the student versions of the lessons, and the solutions the exercises show on request.

The solved lessons in lessons/ are the source. In them, an exercise's answer cell starts with
`# Exercise NN.k: ...` and holds its solution between the markers nbgrader and otter-grader use:

    def my_soft_argmax(heatmaps, joint_num, depth_dim):
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

The student version (student/NN_*.ipynb) replaces each region by a stub at the same indentation,

        # YOUR CODE HERE
        raise NotImplementedError("Exercise NN.k")

drops cells tagged `instructor` (the planted wrong answers that prove the checks), and clears every output.
minipose/exercises/solutions.json gets each answer cell without its markers, for `ex.qN.solution()`, and
student/lesson_setup.py is a copy of lessons/lesson_setup.py, which every lesson's first cell imports.

    python tools/make_student.py          # write student/ and minipose/exercises/solutions.json
    python tools/make_student.py --check  # exit 1 if they are stale (CI runs this)
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
EXERCISE = re.compile(r"^# Exercise (\d\d\.\d+)\b")
INSTRUCTOR_TAG = "instructor"


class SourceError(ValueError):
    """A solved lesson whose markers cannot be turned into a student version."""


def cell_text(cell: dict) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


def split_source(text: str) -> list[str]:
    """Text -> notebook source lines, as Jupyter stores them (each line keeps its newline but the last)."""
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


PREDICTED = re.compile(r"^([A-Za-z_]\w*) =", re.MULTILINE)  # the names a top-level solution region assigns


def strip_solution(text: str, where: str) -> tuple[str, str | None, str | None]:
    """(student text, solution text without markers, exercise number) of one cell."""
    if "### BEGIN SOLUTION" not in text and "### END SOLUTION" not in text:
        return text, None, None
    first = text.split("\n", 1)[0]
    match = EXERCISE.match(first)
    if not match:
        raise SourceError(f"{where}: a cell with solution markers must start with `# Exercise NN.k: ...`")
    number = match.group(1)
    student, solution, inside = [], [], None
    for line in text.split("\n"):
        begin = BEGIN.match(line)
        if begin:
            if inside is not None:
                raise SourceError(f"{where}: BEGIN SOLUTION inside another solution region")
            inside = begin.group(1)
            if inside:
                student += [f"{inside}# YOUR CODE HERE", f'{inside}raise NotImplementedError("Exercise {number}")']
            else:  # a prediction at the top level: `name = value` lines become `name = ...` (raising would stop Run All)
                predicted = PREDICTED.findall(text.split(line, 1)[1].split("### END SOLUTION", 1)[0])
                if not predicted:
                    raise SourceError(f"{where}: a top-level solution region must assign the prediction (`name = ...`)")
                student += [f"{name} = ...  # YOUR PREDICTION HERE" for name in predicted]
        elif END.match(line):
            if inside is None:
                raise SourceError(f"{where}: END SOLUTION without BEGIN SOLUTION")
            inside = None
        else:
            solution.append(line)
            if inside is None:
                student.append(line)
    if inside is not None:
        raise SourceError(f"{where}: BEGIN SOLUTION without END SOLUTION")
    return "\n".join(student), "\n".join(solution), number


def student_notebook(path: Path) -> tuple[dict, dict[str, str]]:
    """(the student version of one solved lesson, its solutions by exercise number)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = copy.deepcopy(nb)
    out["cells"], solutions = [], {}
    for index, cell in enumerate(nb["cells"]):
        if INSTRUCTOR_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        cell = copy.deepcopy(cell)
        where = f"{path.name}, cell {index}"
        if cell["cell_type"] == "code":
            text, solution, number = strip_solution(cell_text(cell), where)
            if number is not None:
                if number in solutions:
                    raise SourceError(f"{where}: exercise {number} has two answer cells")
                solutions[number] = solution
                cell["source"] = split_source(text)
            cell["outputs"], cell["execution_count"] = [], None
        elif "### BEGIN SOLUTION" in cell_text(cell):
            raise SourceError(f"{where}: solution markers belong in code cells")
        out["cells"].append(cell)
    out["metadata"]["minipose"] = {"lesson": path.name[:2], "version": "student"}
    return out, solutions


def wanted_files(root: Path = ROOT) -> dict[Path, str]:
    """Every file this script writes -> its text."""
    files, solutions = {}, {}
    lessons = root / "lessons"
    for path in sorted(lessons.glob("[0-9][0-9]_*.ipynb")) + sorted(lessons.glob("A[0-9]_*.ipynb")):
        nb, found = student_notebook(path)
        files[root / "student" / path.name] = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        solutions.update(found)
    setup = root / "lessons" / "lesson_setup.py"  # the lessons' first cell imports it
    if setup.exists():
        files[root / "student" / setup.name] = setup.read_text(encoding="utf-8")
    files[root / "minipose" / "exercises" / "solutions.json"] = json.dumps(solutions, indent=1, ensure_ascii=False) + "\n"
    return files


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when student/ is stale")
    args = parser.parse_args(argv)
    try:
        wanted = wanted_files(root)
    except SourceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    extra = sorted(p for p in (root / "student").glob("*.ipynb") if p not in wanted)
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if args.check:
        if stale or extra:
            names = [str(p.relative_to(root)) for p in stale] + [f"{p.relative_to(root)} (no such lesson)" for p in extra]
            print("stale student versions: " + ", ".join(names), file=sys.stderr)
            print("Fix: run `python tools/make_student.py` after changing a lesson (never edit student/ by hand).",
                  file=sys.stderr)
            return 1
        print(f"student/ matches lessons/ ({len([p for p in wanted if p.suffix == '.ipynb'])} notebooks and the solutions)")
        return 0
    for path in extra:
        path.unlink()
        print(f"removed {path.relative_to(root)}")
    for path in stale:
        write_atomically(path, wanted[path])
        print(f"wrote {path.relative_to(root)}")
    print(f"student/ matches lessons/ ({len([p for p in wanted if p.suffix == '.ipynb'])} notebooks and the solutions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
