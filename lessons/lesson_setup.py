"""The first cell of every lesson runs `from lesson_setup import device`.

It checks that this notebook's kernel can import minipose and torch (if not, "Run All" stops here with the
command that fixes it), picks the device (CUDA, else Apple MPS, else CPU) and prints one line about the
environment. It lives beside the lessons, not in the package, because it must work when the package is missing.
"""
import sys

try:
    import minipose
    import torch
except ModuleNotFoundError as err:
    raise ModuleNotFoundError(
        f"This notebook's kernel ({sys.executable}) cannot import {err.name!r}. In a terminal, at the "
        "repository root, run:\n\n    python3 -m venv .venv && .venv/bin/pip install -c constraints.txt "
        "-e \".[lessons,dev]\" && .venv/bin/jupyter lab --allow-root lessons/00_overview.ipynb\n\n"
        "then open this lesson in that JupyterLab, with the kernel 'Python 3 (ipykernel)'."
    ) from None

device = minipose.pick_device()
print(f"minipose {minipose.__version__} | torch {torch.__version__} | device {device.type}")
