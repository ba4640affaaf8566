# Written directly, not generated: tools/gather.py leaves this module alone. Lessons 00-15 draw with it.
"""Boxes-and-arrows figures drawn from real modules and sizes: a residual block, a stage, the whole network, the two
soft-argmaxes of lesson 14 (matplotlib).

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
        x, half = x + half + gap + 1.75, 1.75
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


# The pieces of the overview, by the names lessons mark: indices into its boxes (see draw_overview).
OVERVIEW_PIECES = {
    "input": [0], "stem": [1, 2], "blocks": [3, 4, 5, 6], "stages": [3, 4, 5, 6], "backbone": [1, 2, 3, 4, 5, 6],
    "head": [7, 8], "soft-argmax": [9], "output": [8, 9], "weights": [1, 3, 4, 5, 6, 7, 8], "all": list(range(10)),
}


def draw_overview(mark: str | None = None, note: str = "", ax=None):
    """Lesson 00's map of PoseNet for a batch of 32 crops, its shapes traced from the finished package on the
    meta device; `mark` (a key of OVERVIEW_PIECES) draws one piece strong and the rest faint, `note` says what the
    lesson does with it. Returns the figure."""
    import math

    import matplotlib.pyplot as plt
    import torch
    from matplotlib.patches import Rectangle

    from minipose.backbone import RESNET_SPEC
    from minipose.config import cfg
    from minipose.posenet import get_pose_net, shape_trace

    if mark is not None and mark not in OVERVIEW_PIECES:
        raise ValueError(f"mark must be one of {', '.join(OVERVIEW_PIECES)}, got {mark!r}")
    with torch.device("meta"):
        trace = shape_trace(get_pose_net(cfg, is_train=False, joint_num=18), torch.empty(32, 3, 256, 256))
    trace = trace[:7] + trace[9:]  # the three deconvolutions drawn as one box (with their last output)
    _, blocks = RESNET_SPEC[50]  # Bottleneck blocks per stage: 3, 4, 6, 3
    names = ["input crop", "stem\n7×7 conv /2", "max-pool /2"] + [
        f"layer{k + 1}\n{n} blocks" + (" /2" if k else "") for k, n in enumerate(blocks)] + [
        "3 deconvs\n×2 each", f"1×1 conv\nJ·{cfg.depth_dim} = {18 * cfg.depth_dim}", "soft-argmax"]
    groups = [("backbone: ResNet-50 (lesson 03)", 1, 6, "tab:blue"), ("head (lesson 04)", 7, 8, "tab:orange"),
              ("lesson 05", 9, 9, "tab:green")]
    strong = set(OVERVIEW_PIECES[mark]) if mark else set(range(len(names)))
    if ax is None:
        _, ax = plt.subplots(figsize=(13, 4.6 if not note else 5.0))
    for i, (name, (_, shape)) in enumerate(zip(names, trace)):
        x = i * 1.4
        colour = next((c for _, a, b, c in groups if a <= i <= b), "tab:gray")
        fade = 1.0 if i in strong else 0.25
        height = 0.5 + 0.32 * math.log2(shape[-1] / 3) if len(shape) == 4 else 0.5  # taller = more pixels
        ax.add_patch(Rectangle((x - 0.5, -height / 2), 1.0, height, color=colour, alpha=0.35 * fade,
                               lw=2 if mark and i in strong else 0, ec="black" if mark and i in strong else None))
        if 3 <= i <= 6:  # a stage is a stack of residual blocks: one stripe per block
            n = blocks[i - 3]
            for k in range(n):
                ax.add_patch(Rectangle((x - 0.45 + k * 0.9 / n, -height / 2 + 0.05), 0.9 / n - 0.04, height - 0.1,
                                       facecolor="white", edgecolor=colour, alpha=0.8 * fade))
        ax.text(x, 1.35, name, ha="center", va="bottom", fontsize=9, alpha=max(fade, 0.5))
        ax.text(x, -1.35, "×".join(map(str, shape[1:])), ha="center", va="top", fontsize=9, family="monospace",
                alpha=max(fade, 0.5))
        if i:
            ax.annotate("", (x - 0.5, 0), (x - 0.9, 0), arrowprops=dict(arrowstyle="->"))
    ax.plot([3 * 1.4 - 0.5, 6 * 1.4 + 0.5], [2.0, 2.0], color="tab:blue", lw=1.5)
    ax.text(4.5 * 1.4, 2.08, "stages (lesson 02) made of Bottleneck blocks (lesson 01)", ha="center", va="bottom",
            fontsize=10, color="tab:blue")
    for label, a, b, colour in groups:
        ax.plot([a * 1.4 - 0.5, b * 1.4 + 0.5], [-1.85, -1.85], color=colour, lw=3)
        ax.text((a + b) * 0.7, -2.0, label, ha="center", va="top", fontsize=10, color=colour)
    ax.set_title("PoseNet (lesson 06) for a batch of 32 crops: every tensor is 32 × the shape below; J = 18 joints")
    if note:
        ax.text(6.3, -2.75, note, ha="center", va="top", fontsize=10, style="italic")
    ax.set(xlim=(-0.7, 13.3), ylim=(-3.2 if note else -2.5, 2.5))
    ax.axis("off")
    return ax.figure


def draw_two_soft_argmaxes(batch: int = 32, joints: int = 18, depth_dim: int = 64, size: int = 64):
    """Lesson 14: what lesson 05's soft-argmax and the one-pass one (minipose.fast) keep between their forward and
    backward passes, with the sizes of a float32 heatmap volume of `batch` x `joints` x `depth_dim` x `size`^2.
    Returns the figure."""
    import matplotlib.pyplot as plt

    mb = batch * joints * depth_dim * size * size * 4 / 1e6  # one float32 volume
    kb = batch * joints * (1 + 1 + 3) * 4 / 1e3  # each joint's max, normaliser and answer
    rows = {"lesson 05": [f"p = softmax(logits)\n{mb:.0f} MB, kept",
                          "marginals of p,\nthen x̂, ŷ, ẑ",
                          "backward: autograd\nbuilds more volumes"],
            "one pass": ["exp(logit − max), summed\nchunk by chunk",
                         f"x̂, ŷ, ẑ; kept: max and\nnormaliser, {kb:.0f} kB",
                         "backward: p · (g · (x − x̂)),\nrecomputed chunk by chunk"]}
    fig, ax = plt.subplots(figsize=(11, 3.2))
    for y, (name, texts) in zip((1.5, 0.0), rows.items()):
        ax.text(-0.2, y + 0.55, name, fontsize=9, weight="bold")
        color = "mistyrose" if name == "lesson 05" else "honeydew"
        for k, text in enumerate([f"logits\n{mb:.0f} MB"] + texts):
            box(ax, 1.2 + 2.95 * k, y, text,
                "white" if k == 0 or text.startswith("marginals") else color, w=2.5, h=0.7)
            if k:
                arrow(ax, (1.2 + 2.95 * (k - 1) + 1.25, y), (1.2 + 2.95 * k - 1.25, y))
    ax.set(xlim=(-0.3, 11.4), ylim=(-0.6, 2.3))
    ax.axis("off")
    return fig
