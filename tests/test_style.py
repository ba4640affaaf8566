"""How the lessons' code reads: on the course site and in JupyterLab, without horizontal
scrolling (issue 27)."""
from __future__ import annotations

import json

from conftest import ROOT

MAX_LINE = 100
NOTEBOOKS = sorted((ROOT / "lessons").glob("*.ipynb")) + sorted((ROOT / "student").glob("*.ipynb"))


def long_code_lines(path, limit: int = MAX_LINE) -> list[str]:
    """'folder/file, cell i, line k (n characters): text' for each code line longer than `limit`.

    Cells count from 0 in the notebook's cell list (as tools/make_student.py names them), lines
    from 1. Markdown cells are left out.
    """
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for k, line in enumerate(source.split("\n"), start=1):
            if len(line) > limit:
                where = f"{path.parent.name}/{path.name}, cell {i}, line {k}"
                found.append(f"{where} ({len(line)} characters): {line.strip()[:60]}…")
    return found


def test_the_check_sees_a_long_line(tmp_path):
    notebook = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["x" * 150]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": ["a = 1\n", "b = '" + "y" * MAX_LINE + "'"]},
    ]}
    path = tmp_path / "99_example.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    where = [line.split(" (")[0] for line in long_code_lines(path)]
    assert where == [f"{tmp_path.name}/99_example.ipynb, cell 1, line 2"]


def test_lesson_code_lines_fit_in_100_characters():
    assert len(NOTEBOOKS) > 30, "lessons/ and student/ should both hold the course's notebooks"
    found = [line for path in NOTEBOOKS for line in long_code_lines(path)]
    assert not found, (f"{len(found)} code lines longer than {MAX_LINE} characters (break them as "
                       "the other lessons do: hanging indents, comments on their own line):\n"
                       + "\n".join(found))
