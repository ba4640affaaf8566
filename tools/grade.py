"""Grade a folder of submitted student notebooks: one row per student, one column per exercise.

    python tools/grade.py SUBMISSIONS/ [--out grades.csv] [--timeout 120] [--keep DIR]

SUBMISSIONS/ holds either one folder per student (alice/05_soft_argmax.ipynb, ...) or notebooks directly
(the student is then the file's name). The lesson comes from the notebook's metadata (written into the
student versions), else from the file name's leading NN_.

Each notebook runs in a fresh kernel, top to bottom, with errors allowed and a time limit per cell; then
one added cell checks every exercise of that lesson against the answers the notebook defined, by name
(minipose.exercises.grade_namespace). So deleted, reordered or duplicated cells do not matter (the last
definition wins), and an answer that was deleted or renamed is reported as missing.

Writes grades.csv (student, one column per exercise, points) and grades_details.csv (every message),
and prints the table. Student code runs unsandboxed, with your rights: see docs/instructors.md, "Sandboxing".
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRADE_CELL = "import minipose.exercises as _minipose_exercises\n_minipose_exercises.grade_namespace(globals(), {lesson!r})"
PREFIX = "MINIPOSE-GRADE "


def lesson_of(path: Path, nb: dict | None) -> str | None:
    meta = (nb or {}).get("metadata", {}).get("minipose", {})
    if isinstance(meta, dict) and re.fullmatch(r"\d\d", str(meta.get("lesson", ""))):
        return meta["lesson"]
    match = re.search(r"(?:^|[^0-9])(\d\d)_", path.name)
    return match.group(1) if match else None


def student_of(path: Path, folder: Path) -> str:
    parts = path.relative_to(folder).parts
    return parts[0] if len(parts) > 1 else path.stem


def run_notebook(nb, lesson: str, timeout: int, expected: int):
    """Execute a notebook plus the grading cell; return (executed notebook, results or None, problem)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb.cells.append(nbformat.v4.new_code_cell(GRADE_CELL.format(lesson=lesson)))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(ROOT / "student")}})
    try:
        client.execute()
    except DeadKernelError as err:
        return nb, None, f"the kernel died ({err})"
    except Exception as err:  # noqa: BLE001 - reported in the table, grading goes on
        return nb, None, f"could not run the notebook ({type(err).__name__}: {err})"
    results = []
    for out in nb.cells[-1].get("outputs", []):
        text = out.get("text", "") if out.get("output_type") == "stream" else ""
        results += [json.loads(line[len(PREFIX):]) for line in text.splitlines() if line.startswith(PREFIX)]
    if not results and expected:
        return nb, None, "the grading cell produced no results (did the notebook redefine `print` or exit?)"
    return nb, results, None


def grade(folder: Path, timeout: int = 120, keep: Path | None = None) -> tuple[dict, list[str]]:
    """{student: {exercise: (status, message)}}, and notes for the instructor."""
    import nbformat

    from minipose.exercises import exercises

    table: dict[str, dict[str, tuple[str, str]]] = {}
    notes = []
    lessons_seen = set()
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        student = student_of(path, folder)
        try:
            with warnings.catch_warnings():  # e.g. duplicated cell ids, from copied cells: nbformat fixes them
                warnings.simplefilter("ignore")
                nb = nbformat.read(path, as_version=4)
        except Exception as err:  # noqa: BLE001 - a corrupt file is a note, not a crash
            lesson = lesson_of(path, None)
            notes.append(f"{path}: not a readable notebook ({type(err).__name__}); "
                         + (f"lesson {lesson} counts as missing" if lesson else "skipped"))
            if lesson:
                lessons_seen.add(lesson)
                for ex in exercises(lesson):
                    table.setdefault(student, {})[ex.number] = ("missing", f"{path.name} is not a readable notebook")
            continue
        lesson = lesson_of(path, nb)
        if lesson is None:
            notes.append(f"{path}: cannot tell which lesson this is (no minipose metadata, no NN_ in the name); skipped")
            continue
        lessons_seen.add(lesson)
        print(f"grading {path.relative_to(folder)} (lesson {lesson}) ...", file=sys.stderr, flush=True)
        executed, results, problem = run_notebook(nb, lesson, timeout, len(exercises(lesson)))
        if keep is not None:
            target = keep / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(executed, target)
        row = table.setdefault(student, {})
        if results is None:
            notes.append(f"{path}: {problem}")
            for ex in exercises(lesson):
                row[ex.number] = ("error", problem)
            continue
        for r in results:
            if r["exercise"] in row:
                notes.append(f"{path}: exercise {r['exercise']} graded twice (two notebooks of one lesson); kept the last")
            row[r["exercise"]] = (r["status"], r["message"])
            if r["status"] == "missing":
                notes.append(f"{student}: could not find exercise {r['exercise']} in {path.name}: {r['message']}")
    numbers = [ex.number for lesson in sorted(lessons_seen) for ex in exercises(lesson)]
    for student, row in table.items():
        for number in numbers:
            if number not in row:
                row[number] = ("missing", f"no notebook of lesson {number[:2]} from this student")
                notes.append(f"{student}: no notebook of lesson {number[:2]}, so exercise {number} is missing")
    return table, notes


def write_tables(table: dict, out: Path) -> list[list[str]]:
    numbers = sorted({n for row in table.values() for n in row})
    rows = [["student", *numbers, "passed"]]
    for student in sorted(table):
        statuses = [table[student][n][0] for n in numbers]
        rows.append([student, *statuses, str(statuses.count("passed"))])
    for path, data in [(out, rows),
                       (out.with_name(out.stem + "_details.csv"),
                        [["student", "exercise", "status", "message"]]
                        + [[s, n, *table[s][n]] for s in sorted(table) for n in numbers])]:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(data)
        os.replace(tmp, path)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the submitted notebooks (one folder per student, or flat)")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="the table (default grades.csv)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per cell before it is interrupted")
    parser.add_argument("--keep", type=Path, help="also save the executed notebooks here, to see what students saw")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: {args.folder} is not a folder of submitted notebooks", file=sys.stderr)
        return 2
    table, notes = grade(args.folder, args.timeout, args.keep)
    if not table:
        print(f"error: no gradable notebooks under {args.folder}", file=sys.stderr)
        return 1
    rows = write_tables(table, args.out)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for note in notes:
        print("note:", note)
    print(f"wrote {args.out} and {args.out.with_name(args.out.stem + '_details.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
