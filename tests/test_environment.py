"""The three places that name packages agree: pyproject.toml (ranges), constraints.txt and environment.yml (pins)."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib  # standard library since Python 3.11, the oldest minipose supports

import pytest

from conftest import ROOT


def pins(text: str) -> dict[str, str]:
    return {m[1].lower().replace("_", "-"): m[2] for m in re.finditer(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==(\S+)", text, re.M)}


def test_environment_yml_pins_equal_constraints():
    env, constraints = pins((ROOT / "environment.yml").read_text()), pins((ROOT / "constraints.txt").read_text())
    assert {"torch", "torchvision", "jupyterlab", "matplotlib", "nbval", "torchinfo"} <= set(env)
    assert {name: constraints.get(name) for name in env} == env


def test_every_declared_dependency_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    names = {re.split(r"[<>=!~ \[]", d)[0].lower().replace("_", "-") for d in declared}
    names.discard("minipose")  # the dev extra includes the lessons extra by naming the project itself
    constraints = pins((ROOT / "constraints.txt").read_text())
    assert names - set(constraints) == set()
    assert constraints["torch"] == "2.14.1" and constraints["torchvision"] == "0.29.1"


def test_declared_ranges_hold_the_pins():
    """pyproject's ranges must admit the tested pins (and no older Python than the pins need)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    constraints = pins((ROOT / "constraints.txt").read_text())
    for dep in project["dependencies"]:
        name, low, high = re.fullmatch(r"(\w+)>=([\d.]+),<([\d.]+)", dep).groups()
        version = tuple(int(x) for x in constraints[name].split("."))
        assert tuple(int(x) for x in low.split(".")) <= version < tuple(int(x) for x in high.split(".")), dep


@pytest.mark.parametrize("plugin", ["nbval", "xdist"])
def test_pytest_without_nbval_says_what_to_install(tmp_path, plugin):
    """Without the dev extra, plain `pytest` used to stop at "unrecognized arguments: --nbval" (or -n)."""
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", f"no:{plugin}", "tests/test_environment.py"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 4, run.stdout + run.stderr  # pytest's exit code for a usage error
    assert "nbval or pytest-xdist is not installed" in run.stderr
    assert 'pip install -c constraints.txt -e ".[lessons,dev]"' in run.stderr
    assert "unrecognized arguments" not in run.stderr


def test_ci_never_touches_the_users_venv():
    """`bash .ci/run` builds its environment in a temporary folder: ./.venv is the one README told you to make."""
    code = "\n".join(line.split("#")[0] for line in (ROOT / ".ci" / "run").read_text().splitlines())
    assert ".venv" not in code and "mktemp -d" in code and "trap" in code
