"""The lessons in JupyterLab itself: a real server, a real (headless) Chromium, "Run All" through the menu.

nbval proves a kernel can execute the cells; this proves the lessons open, run and render in the interface
students use. Select or skip it with the marker: `pytest -m browser` / `pytest -m "not browser"`.
It needs Debian's Chromium (/usr/bin/chromium, or $MINIPOSE_CHROMIUM) and the `playwright` package; without them
it is skipped with the reason. Screenshots go to a temporary folder (printed; kept by pytest's tmp_path rules).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("MINIPOSE_CHROMIUM", "/usr/bin/chromium")
# What each lesson must show once run: a key shape line (or result), and how many figures it draws.
EXPECTED = {
    "00_overview.ipynb": (["coords: (2, 18, 3)", "mean joint error", "Exercise 00.1: passed"], 4),
    "01_residual_blocks.ipynb": (["(32, 256, 64, 64)", "Bottleneck  == torchvision: True", "Exercise 01.2: passed"], 2),
    "02_make_layer.ipynb": (["(32, 2048, 8, 8)", "layer3 == torchvision's layer3: True", "Exercise 02.1: passed"], 2),
    "03_backbone.ipynb": (["(32, 2048, 8, 8)", "(32, 64, 128, 128)", "Exercise 03.2: passed"], 4),
    "04_head.ipynb": (["(32, 1152, 64, 64)", "(32, 256, 16, 16)", "Exercise 04.2: passed"], 3),
    "05_soft_argmax.ipynb": (["(32, 18, 3)", "gradcheck: True", "Exercise 05.1: passed", "x and y are exactly 1 too large"], 4),
    "06_posenet.ipynb": (["(32, 2048, 8, 8)", "(32, 1152, 64, 64)", "soft-argmax            (32, 18, 3)", "Exercise 06.2: passed"], 2),
    "07_checkpoints.ipynb": (["identical layout: True", "Exercise 07.1: passed"], 2),
    "08_skeleton_camera.ipynb": (["back where it started: True", "Exercise 08.2: passed"], 4),
    "09_crops_targets.ipynb": (["cleaned box:   [187.  193.  594.1 594.1]", "Exercise 09.2: passed"], 4),
    "10_dataset.ipynb": (["img        (32, 3, 256, 256)", "joint_vis  (32, 18, 1)", "Exercise 10.1: passed"], 2),
    "11_training.ipynb": (["fell by more than 3x: True", "loss and held-out MPJPE both fell: True",
                           "as recorded, within 1 mm: True", "Exercise 11.2: passed"], 7),
    "12_inference.ipynb": (["exact unflip of perfect answers | x off by +0.000 cell", "Exercise 12.2: passed"], 4),
    "13_metrics.ipynb": (["flip test, prior", "Exercise 13.2: passed"], 3),
    "14_speed.ipynb": (["1x1 conv         2.42    14%      0.30", "gradcheck, channels-last input: True",
                        "Exercise 14.3: passed"], 6),
    "15_fast_inference.ipynb": (["same state_dict keys: True", "Exercise 15.1: passed"], 3),
}
CHROMIUM_ARGS = [  # a closed network: no background traffic, no sandbox (CI runs as root)
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


def test_every_lesson_is_listed():
    assert sorted(EXPECTED) == sorted(p.name for p in (ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    shots: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a loopback port with a token, serving a temporary copy of lessons/ and data/."""
    skip_without_chromium()
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "lessons", root / "lessons", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(ROOT / "data", root / "data")
    # Render every cell (no virtual scrolling), so all outputs are in the page to be checked.
    settings = root / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    # No "get Jupyter news?" pop-up over the screenshots, and no attempt to fetch news from the internet.
    notifications = root / "settings" / "@jupyterlab" / "apputils-extension"
    notifications.mkdir(parents=True)
    (notifications / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port, token = _free_port(), uuid.uuid4().hex
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(root / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"), JUPYTER_RUNTIME_DIR=str(root / "runtime"))
    log = open(root / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0", "--allow-root"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (root / "server.log").read_text()[-3000:])
                time.sleep(0.5)
        # MINIPOSE_SHOTS keeps the screenshots where you can look at them (one per lesson, one per figure).
        shots = Path(os.environ.get("MINIPOSE_SHOTS") or root / "screenshots")
        shots.mkdir(parents=True, exist_ok=True)
        print(f"\nscreenshots: {shots}")
        yield Lab(url, token, root, shots)
    finally:  # whatever happens, the server goes down
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def skip_without_chromium() -> None:
    """Skip, saying why, where there is no browser to drive (also used by tests/test_site.py)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: install Debian's package (apt-get install chromium) "
                    "or set MINIPOSE_CHROMIUM")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install playwright)")


@contextlib.contextmanager
def headless_chromium():
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser); closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def browser(lab):
    with headless_chromium() as chromium:
        yield chromium


@dataclass
class Run:
    errors: list[str]  # text of error / stderr outputs
    text: str  # all rendered outputs
    images: int  # rendered figures
    kernel: str  # the kernel name shown in the toolbar
    dialogs: list[str]  # text of any modal dialog that had to be answered on the way


def menu(page, top: str, item: str, dialogs: list[str] | None = None) -> None:
    """Click a JupyterLab menu entry by its visible label, e.g. Run > Run All Cells."""
    _answer_dialogs(page, dialogs if dialogs is not None else [])
    page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
    page.locator(".lm-Menu-item .lm-Menu-itemLabel").get_by_text(item, exact=True).click()


def run_all_in_lab(browser, lab: Lab, notebook: str, timeout_s: float = 600) -> Run:
    """Open a notebook in JupyterLab, clear its outputs, Run > Run All Cells, wait, collect what shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    dialogs: list[str] = []
    try:
        page.goto(f"{lab.url}/lab/tree/{notebook}?reset&token={lab.token}")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        # Wait for the kernel to be ready, then use the menu, as a student would.
        page.wait_for_function(
            "() => document.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status') === 'idle'",
            timeout=120_000,
        )
        # Clear the stored outputs first, so everything checked below comes from this run in the browser.
        cleared = "() => document.querySelectorAll('.jp-OutputArea-output').length === 0"
        menu(page, "Edit", "Clear Outputs of All Cells", dialogs)
        try:
            page.wait_for_function(cleared, timeout=15_000)
        except PlaywrightTimeout:  # on a loaded machine the first notebook's menu may not take the first click
            menu(page, "Edit", "Clear Outputs of All Cells", dialogs)
            page.wait_for_function(cleared, timeout=30_000)
        # Started when a cell shows [*] or a number; on a loaded machine the first click may be lost here too.
        started = ("() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
                   ".some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))")
        menu(page, "Run", "Run All Cells", dialogs)
        try:
            page.wait_for_function(started, timeout=30_000)
        except PlaywrightTimeout:
            menu(page, "Run", "Run All Cells", dialogs)
        # Done when every code cell shows an execution number and the kernel is idle again.
        page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
                const done = prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
                const idle = document.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status') === 'idle';
                const failed = document.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
                return (done && idle) || (failed && idle);
            }""",
            timeout=timeout_s * 1000,
            polling=500,
        )
        page.wait_for_timeout(500)  # let the last outputs paint
        stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        figures = page.locator(".jp-OutputArea-output img")
        outputs = page.locator(".jp-OutputArea-output")
        errors, images = stderr.all_inner_texts(), figures.count()
        text = "\n".join(outputs.all_inner_texts())
        kernel = page.locator(".jp-KernelName").first.inner_text()
        # Screenshot what matters most: the first error, else the first figure, else the last output.
        focus = stderr.first if errors else figures.first if images else outputs.last
        focus.scroll_into_view_if_needed()
        page.screenshot(path=str(lab.shots / f"{Path(notebook).stem}.png"))
        for k in range(images):  # every figure as the browser drew it, to be looked at
            figures.nth(k).scroll_into_view_if_needed()
            figures.nth(k).screenshot(path=str(lab.shots / f"{Path(notebook).stem}_figure{k + 1}.png"))
        return Run(errors, text, images, kernel, dialogs)
    finally:
        page.close()
        _shut_down_kernels(lab)


def _shut_down_kernels(lab: Lab) -> None:
    """End every session the server holds, with its kernel, as a student closing a lesson would (File > Close and
    Shut Down Notebook): one lesson's kernel left running (its DataLoader workers, its memory) must not slow the
    next lesson down. Sessions, not bare kernels: a session whose kernel vanished makes JupyterLab ask about it."""
    listing = urllib.request.urlopen(f"{lab.url}/api/sessions?token={lab.token}", timeout=10)
    for session in json.loads(listing.read()):
        request = urllib.request.Request(f"{lab.url}/api/sessions/{session['id']}?token={lab.token}",
                                         method="DELETE")
        urllib.request.urlopen(request, timeout=30)


def _answer_dialogs(page, seen: list[str]) -> None:
    """A modal dialog (e.g. JupyterLab asking which kernel to use on a slow start) blocks every menu: note its
    text, so a failure shows it, and take its default answer, as a student would."""
    dialogs = page.locator(".jp-Dialog")
    for _ in range(3):
        if not dialogs.count():
            return
        seen.append(" ".join(dialogs.first.inner_text().split())[:300])
        accept = dialogs.first.locator(".jp-Dialog-button.jp-mod-accept")
        if accept.count():
            accept.first.click()
        else:
            page.keyboard.press("Escape")
        page.wait_for_timeout(500)


@pytest.mark.parametrize("lesson", sorted(EXPECTED))
def test_lesson_runs_in_jupyterlab(lab, browser, lesson):
    run = run_all_in_lab(browser, lab, f"lessons/{lesson}")
    assert not run.errors, f"{lesson} shows errors in JupyterLab:\n" + "\n".join(run.errors + run.dialogs)[:3000]
    assert "Python 3" in run.kernel, f"unexpected kernel {run.kernel!r}"
    assert "| device " in run.text, "the environment line is missing"
    lines, figures = EXPECTED[lesson]
    for line in lines:
        assert line in run.text, f"{line!r} not shown in {lesson}"
    assert run.images >= figures, f"{lesson}: {run.images} figure(s) rendered, expected {figures}"
    assert (lab.shots / f"{lesson[:-6]}.png").stat().st_size > 10_000
    for k in range(run.images):  # each figure drawn, not a blank box
        assert (lab.shots / f"{lesson[:-6]}_figure{k + 1}.png").stat().st_size > 3_000, (lesson, k + 1)


def test_a_broken_lesson_fails(lab, browser):
    """The check above can fail: a lesson with a failing cell is reported, with the error's text."""
    nb = json.loads((lab.root / "lessons" / "00_overview.ipynb").read_text())
    bad = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
           "source": ["raise RuntimeError('a planted error')"]}
    nb["cells"].insert(3, bad)
    (lab.root / "lessons" / "99_broken.ipynb").write_text(json.dumps(nb))
    run = run_all_in_lab(browser, lab, "lessons/99_broken.ipynb")
    assert run.errors and "a planted error" in "\n".join(run.errors)
