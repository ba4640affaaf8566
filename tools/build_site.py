"""Build the course website: docs/*.md and every lesson as the student sees it, with its stored outputs.

    python tools/build_site.py --out site/      # then: cd site && python -m http.server

Nothing is executed. Each lesson page is the student version of lessons/NN_*.ipynb, made by
tools/make_student.py's own function (solution regions as stubs, cells tagged `instructor` dropped), with the
outputs of the solved run copied back by cell id, except in exercise cells: an answer cell (first line
`# Exercise NN.k: ...`) and any cell that calls an exercise (`ex.q1.check(...)`) stay without outputs, because
a check's message can state the answer. The appendices (A1_..., A2_...) follow the lessons.

The pages are staged in a temporary folder (docs/*.md, lessons/NN_name.ipynb, assets/minipose.css), with
mkdocs.yml plus a generated navigation, and MkDocs with Material and mkdocs-jupyter builds them into --out.
If docs/index.md is missing, a home page listing the lessons is generated. See docs/website.md.
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The docs pages in the order a reader wants them; pages not listed here follow, sorted by name.
DOCS_ORDER = ["index.md", "setup.md", "instructors.md", "data.md", "training.md", "inference.md", "speed.md",
              "differences.md", "development.md", "website.md"]
CHECK_CALL = re.compile(r"\bex\.q\d+\.")  # ex.q1.check(...), ex.q1.hint(), ...: its output can give the answer away
# A code line of 100 characters fits the page without scrolling: the notebook's code and text outputs get a font
# size in proportion to the column's width (cqi: 1% of it), from 0.5rem to 0.7rem (10 to 14 pixels); longer
# output lines wrap (a name set as code in a table, such as a lesson's file name, does not break mid-word). In a
# column narrower than about 670 pixels (phones) the font stays at 10 pixels and code
# scrolls. The page may be wider than Material's 61rem, so that this font is 13 pixels on a 1400-pixel screen.
CSS = """\
.md-grid { max-width: 75rem; }
.jupyter-wrapper { container-type: inline-size; }
.jupyter-wrapper .jp-InputArea pre, .jupyter-wrapper .jp-OutputArea-output pre {
  font-size: clamp(0.5rem, 1.5cqi, 0.7rem);
}
.jupyter-wrapper .jp-OutputArea-output pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.md-typeset table:not([class]) code { white-space: nowrap; }
"""

# MathJax configuration, loaded after MathJax's own (mkdocs.yml: config=...,local/minipose): the package ships
# the STIX-Web fonts only, so use them (MathJax would ask for its TeX fonts first, a missing file); and its blank
# measuring font from local() rather than url('about:blank'), which Chromium refuses with a console error.
MATHJAX = """\
MathJax.Hub.Config({"HTML-CSS": {
  availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
  styles: {"@font-face": {"font-family": "MathJax_Blank", src: "local('MathJax_Blank')"}}
}});
MathJax.Ajax.loadComplete("[MathJax]/config/local/minipose.js");
"""


def _make_student():
    """tools/make_student.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_student", ROOT / "tools" / "make_student.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_student = _make_student()


def lesson_files(root: Path = ROOT) -> list[Path]:
    """The numbered lessons, then the appendices."""
    lessons = root / "lessons"
    return sorted(lessons.glob("[0-9][0-9]_*.ipynb")) + sorted(lessons.glob("A[0-9]_*.ipynb"))


def withheld(cell: dict) -> bool:
    """An exercise answer cell or a cell that calls an exercise: shown without outputs."""
    text = make_student.cell_text(cell)
    return bool(make_student.EXERCISE.match(text.split("\n", 1)[0]) or CHECK_CALL.search(text))


def site_notebook(path: Path) -> dict:
    """The student version of one solved lesson, with the solved run's outputs in every non-exercise cell."""
    page, _ = make_student.student_notebook(path)
    solved = {cell.get("id"): cell for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]}
    for cell in page["cells"]:
        if cell["cell_type"] != "code" or withheld(cell):
            continue
        source = solved.get(cell.get("id"))
        if source is None or make_student.cell_text(source) != make_student.cell_text(cell):
            raise ValueError(f"{path.name}: cell {cell.get('id')} has no twin in the solved lesson")
        cell["outputs"] = copy.deepcopy(source.get("outputs", []))
        cell["execution_count"] = source.get("execution_count")
    return page


def title(path: Path) -> str:
    """The lesson's first heading as plain text, without 'Lesson ': '05 — Soft-argmax: from 3D heatmaps to ...'."""
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "markdown":
            match = re.search(r"^#\s+(.+)$", make_student.cell_text(cell), re.MULTILINE)
            if match:
                return re.sub(r"^(Lesson|Appendix)\s+", "", match.group(1).replace("`", "").strip())
    return path.stem


def fallback_index(lessons: list[Path]) -> str:
    lines = ["# minipose", "",
             "The PoseNet of Moon, Chang and Lee (ICCV 2019), rebuilt lesson by lesson. Each lesson below is",
             "shown as a student sees it, with the outputs of the solved run (exercise cells without outputs).",
             ""]
    lines += [f"- [{title(p)}](lessons/{p.name})" for p in lessons]
    return "\n".join(lines) + "\n"


def stage(dest: Path, root: Path = ROOT) -> list:
    """Write the pages into dest (a docs folder); return the navigation."""
    docs = root / "docs"
    if docs.is_dir():
        shutil.copytree(docs, dest, ignore=shutil.ignore_patterns(".*", "__pycache__"), dirs_exist_ok=True)
    dest.mkdir(parents=True, exist_ok=True)
    lessons = lesson_files(root)
    if not (dest / "index.md").exists():
        (dest / "index.md").write_text(fallback_index(lessons), encoding="utf-8")
    (dest / "lessons").mkdir(exist_ok=True)
    for path in lessons:
        text = json.dumps(site_notebook(path), indent=1, ensure_ascii=False) + "\n"
        (dest / "lessons" / path.name).write_text(text, encoding="utf-8")
    (dest / "assets").mkdir(exist_ok=True)
    (dest / "assets" / "minipose.css").write_text(CSS, encoding="utf-8")
    try:  # MathJax 2.7 from the jupyter-server-mathjax package: formulas render offline (mkdocs.yml points to it)
        import jupyter_server_mathjax
    except ImportError:
        print("warning: jupyter-server-mathjax is not installed: formulas show as LaTeX text", file=sys.stderr)
    else:
        shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", dest / "assets" / "mathjax")
        (dest / "assets" / "mathjax" / "config" / "local").mkdir(exist_ok=True)
        (dest / "assets" / "mathjax" / "config" / "local" / "minipose.js").write_text(MATHJAX, encoding="utf-8")
    pages = sorted(p.name for p in dest.glob("*.md"))
    ordered = [p for p in DOCS_ORDER if p in pages] + [p for p in pages if p not in DOCS_ORDER]
    nav: list = [{"Home": "index.md"}] + [p for p in ordered if p != "index.md"]
    nav.append({"Lessons": [{title(p): f"lessons/{p.name}"} for p in lessons if p.name[0].isdigit()]})
    appendices = [{title(p): f"lessons/{p.name}"} for p in lessons if p.name[0] == "A"]
    if appendices:
        nav.append({"Appendices": appendices})
    return nav


def build(out: Path, root: Path = ROOT, quiet: bool = False) -> Path:
    """Stage the pages and run MkDocs into out (replaced). Returns out."""
    try:
        import yaml
        from mkdocs.commands.build import build as mkdocs_build
        from mkdocs.config import load_config
    except ImportError as err:
        raise SystemExit(f"MkDocs is not installed here ({err}): "
                         'pip install -c constraints.txt -e ".[lessons,dev,docs]"') from err
    import logging

    out = Path(out).resolve()
    # MkDocs empties the folder first: refuse one that holds anything but an earlier build.
    if out.exists() and any(out.iterdir()) and not (out / "sitemap.xml").exists():
        raise SystemExit(f"{out} is not empty and holds no earlier build: choose another --out")
    with tempfile.TemporaryDirectory(prefix="minipose-site-") as scratch:
        staged = Path(scratch) / "docs"
        nav = stage(staged, root)
        config = yaml.safe_load((root / "mkdocs.yml").read_text(encoding="utf-8"))
        config.update(docs_dir=str(staged), site_dir=str(out), nav=nav)
        config_file = Path(scratch) / "mkdocs.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
        logging.basicConfig(format="%(levelname)s - %(message)s")
        logging.getLogger("mkdocs").setLevel(logging.WARNING if quiet else logging.INFO)
        # nbconvert warns once per lesson that its figures have no alternative text (it adds a generic one).
        logging.getLogger("traitlets").setLevel(logging.ERROR)
        mkdocs_build(load_config(str(config_file)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "site", help="the folder to build into (replaced)")
    parser.add_argument("--quiet", action="store_true", help="print only MkDocs' warnings")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    out = build(args.out, quiet=args.quiet)
    print(f"built {out} in {time.perf_counter() - start:.1f} s; open it with: "
          f"cd {out} && python -m http.server  (then http://localhost:8000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
