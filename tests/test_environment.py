"""The three places that name packages agree: pyproject.toml (ranges), constraints.txt and environment.yml (pins)."""
from __future__ import annotations

import re
import sys

from conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


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
