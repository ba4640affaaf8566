"""Copy lesson 00's whole-game figure out of the lesson's stored output, for README and the docs home page.

The figure is the first image/png output of the first code cell that draws one after lesson 00's heading
"## The whole game": the shipped network on a held-out scene (boxes, 2D joints, 3D skeletons beside the truth).
It is copied as stored, so it changes only when the lesson is re-run (tools/run_lessons.py).

    python tools/readme_figure.py          # write docs/images/whole_game.png
    python tools/readme_figure.py --check  # exit 1 if that file's pixels differ from the stored output
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSON = Path("lessons") / "00_overview.ipynb"
FIGURE = Path("docs") / "images" / "whole_game.png"
HEADING = "## The whole game"


def stored_figure(notebook: Path) -> tuple[bytes, int]:
    """(PNG bytes, cell index) of the whole-game figure stored in lesson 00."""
    cells = json.loads(notebook.read_text())["cells"]
    start = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
                  and "".join(c["source"]).startswith(HEADING)), None)
    if start is None:
        raise SystemExit(f"{notebook}: no markdown cell starts with {HEADING!r}; where is the whole-game figure?")
    for index in range(start + 1, len(cells)):
        cell = cells[index]
        for output in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            png = output.get("data", {}).get("image/png")
            if png:
                return base64.b64decode("".join(png) if isinstance(png, list) else png), index
    raise SystemExit(f"{notebook}: no stored image/png output after {HEADING!r}; run the lesson "
                     "(python tools/run_lessons.py 00)")


def pixels(png: bytes) -> tuple[tuple[int, int], bytes]:
    """Size and RGBA pixels of a PNG, so that two encodings of the same picture compare equal."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return image.size, image.convert("RGBA").tobytes()


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help=f"only compare; exit 1 when {FIGURE} differs from the lesson's stored figure")
    args = parser.parse_args(argv)
    png, index = stored_figure(root / LESSON)
    target = root / FIGURE
    if args.check:
        if not target.exists():
            print(f"{FIGURE} is missing: run `python tools/readme_figure.py`", file=sys.stderr)
            return 1
        (size, want), (got_size, got) = pixels(png), pixels(target.read_bytes())
        if (got_size, got) != (size, want):
            changed = sum(a != b for a, b in zip(want, got)) if got_size == size else None
            what = (f"{got_size[0]} x {got_size[1]} pixels instead of {size[0]} x {size[1]}" if changed is None
                    else f"{changed} of {len(want)} RGBA values differ")
            print(f"{FIGURE} differs from the figure stored in {LESSON}, cell {index} ({what}): "
                  "run `python tools/readme_figure.py`", file=sys.stderr)
            return 1
        print(f"{FIGURE} matches {LESSON}, cell {index}")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(png)
    print(f"wrote {FIGURE} ({len(png)} bytes) from {LESSON}, cell {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
