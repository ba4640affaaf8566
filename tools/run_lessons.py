"""Re-execute every lesson in place, top to bottom, so the stored outputs are real.

    python tools/run_lessons.py              # all lessons
    python tools/run_lessons.py 03 05 A1     # only lessons (and appendices) whose number is given

It first checks that the package matches the lessons (run `python tools/gather.py` after editing a lesson),
because later lessons import what earlier ones built. Use the pinned environment (constraints.txt) so the
outputs are those every student and CI will see.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gather import ROOT, differences, source_paths  # noqa: E402


def main(selected: list[str]) -> int:
    problems = differences()
    if problems:
        print("minipose/ is stale: run `python tools/gather.py` first.\n" + "\n".join(problems), file=sys.stderr)
        return 1
    for path in source_paths():
        if selected and path.name[:2] not in selected:
            continue
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        # record_timing=False keeps wall-clock stamps out of the committed notebooks.
        NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                       record_timing=False).execute()
        nbformat.write(nb, path)
        print(f"{path.relative_to(ROOT)}: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
