"""Shared helpers for the tests, and a clear message when the test tools are missing.

It sits at the root (not in tests/) so that pytest loads it before it reads the options in
pyproject.toml, whatever folder or file `pytest` is given."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


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
    if not pluginmanager.hasplugin("nbval"):
        raise pytest.UsageError(
            "nbval is not installed here, and the tests run every lesson through it. Install the test tools "
            "(README, Set up):\n    pip install -c constraints.txt -e \".[lessons,dev]\"\n"
            "then run `pytest` again (or `pytest -m \"not browser\"` for the quick path)."
        )
