# Written directly, not generated: tools/gather.py leaves this module alone. Lessons 01 and 02 draw with it.
"""Boxes-and-arrows figures drawn from real modules: a residual block, a stage (matplotlib).

Every number in these figures is read from the module drawn (its convolutions' kernels, channels and strides,
its shortcut), so a figure cannot disagree with the code it explains.
"""
from __future__ import annotations

from torch import nn


def box(ax, x: float, y: float, text: str, color: str = "white", w: float = 2.6, h: float = 0.6,
        fontsize: int = 8) -> None:
    """A rounded box centred on (x, y) with its text."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05", fc=color, ec="black",
                                lw=0.8))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def arrow(ax, a, b, label: str = "", at=None, fontsize: int = 7, **kwargs) -> None:
    """An arrow from a to b, its label beside its middle (or at `at`)."""
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=10, color="black", lw=0.8, **kwargs))
    if label:
        x, y = at or ((a[0] + b[0]) / 2 + 0.1, (a[1] + b[1]) / 2)
        ax.text(x, y, label, ha="left", va="center", fontsize=fontsize, color="dimgray")


def _conv_text(conv: nn.Conv2d) -> str:
    k = conv.kernel_size[0]
    stride = f", stride {conv.stride[0]}" if conv.stride[0] != 1 else ""
    return f"{k}×{k} conv, {conv.out_channels}{stride}"


def draw_block(ax, block: nn.Module, title: str = "") -> None:
    """A BasicBlock or Bottleneck from top (input) to bottom (output): each convolution with its BatchNorm and
    ReLU, the shortcut on the right (the identity, or the projection `downsample` holds), the addition, the last
    ReLU. Arrows carry channel counts."""
    from matplotlib.patches import Circle

    convs = [getattr(block, name) for name in ("conv1", "conv2", "conv3") if hasattr(block, name)]
    y, step = 0.0, 1.0
    inplanes = convs[0].in_channels
    box(ax, 0, y, f"x: {inplanes} channels", "whitesmoke")
    for i, conv in enumerate(convs):
        last = i == len(convs) - 1
        arrow(ax, (0, y - 0.3), (0, y - step + 0.3), str(conv.in_channels))
        y -= step
        box(ax, 0, y, _conv_text(conv) + ("\nBatchNorm" if last else "\nBatchNorm, ReLU"), "lightsteelblue",
            h=0.7)
    out = convs[-1].out_channels
    arrow(ax, (0, y - 0.35), (0, y - step + 0.25), str(out))
    y -= step
    ax.add_patch(Circle((0, y), 0.22, fc="white", ec="black", lw=0.8))
    ax.text(0, y, "+", ha="center", va="center", fontsize=11)
    # The shortcut: down the right-hand side, from x to the addition.
    side = 2.9
    top = 0.0
    if block.downsample is None:
        ax.plot([1.3, side, side], [top, top, y], color="black", lw=0.8)
        arrow(ax, (side, y), (0.25, y), "identity", at=(side + 0.1, (top + y) / 2))
    else:
        conv = block.downsample[0]
        ax.plot([1.3, side], [top, top], color="black", lw=0.8)
        mid = (top + y) / 2
        arrow(ax, (side, top), (side, mid + 0.4))
        box(ax, side, mid, "projection\n" + _conv_text(conv) + "\nBatchNorm", "moccasin", w=2.0, h=0.8)
        ax.plot([side, side], [mid - 0.4, y], color="black", lw=0.8)
        arrow(ax, (side, y), (0.25, y), str(conv.out_channels), at=(side + 0.1, (mid + y) / 2 - 0.2))
    arrow(ax, (0, y - 0.22), (0, y - step + 0.3))
    y -= step
    box(ax, 0, y, f"ReLU → {out} channels", "whitesmoke")
    ax.set(xlim=(-1.4, 4.1), ylim=(y - 0.5, 0.5))
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)


def draw_stage(ax, stage: nn.Sequential, size: tuple[int, int], title: str = "") -> None:
    """A stage (make_layer's nn.Sequential) left to right: one box per block, the first with its stride and
    projection, the arrows labelled with channels × height × width for an input of `size` (H, W)."""
    h, w = size
    x, half, gap = 0.0, 0.95, 0.9  # centre and half width of the last box drawn; the space an arrow spans
    channels = stage[0].conv1.in_channels
    box(ax, x, 0, f"{channels} × {h} × {w}", "whitesmoke", w=2 * half)
    for i, block in enumerate(stage):
        convs = [getattr(block, name) for name in ("conv1", "conv2", "conv3") if hasattr(block, name)]
        stride = max(c.stride[0] for c in convs)
        h, w = -(-h // stride), -(-w // stride)
        lines = [f"block {i}"] + [_conv_text(c) for c in convs]
        lines.append("shortcut: identity" if block.downsample is None else
                     "shortcut: " + _conv_text(block.downsample[0]))
        arrow(ax, (x + half, 0), (x + half + gap, 0))
        x, half = x + half + gap + 1.6, 1.6
        box(ax, x, 0, "\n".join(lines), "moccasin" if block.downsample is not None else "lightsteelblue",
            w=2 * half, h=1.6, fontsize=7)
        channels = convs[-1].out_channels
        ax.text(x, -1.0, f"out: {channels} × {h} × {w}", ha="center", va="center", fontsize=7, color="dimgray")
    arrow(ax, (x + half, 0), (x + half + gap, 0))
    box(ax, x + half + gap + 0.95, 0, f"{channels} × {h} × {w}", "whitesmoke", w=1.9)
    ax.set(xlim=(-1.1, x + half + gap + 2.0), ylim=(-1.3, 1.1))
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
