"""The lessons' block and stage figures (minipose.diagrams) say what the modules they draw hold."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torch import nn  # noqa: E402

from minipose.blocks import BasicBlock, Bottleneck  # noqa: E402
from minipose.diagrams import draw_block, draw_stage  # noqa: E402
from minipose.stages import make_layer  # noqa: E402


def _texts(draw, *args, **kwargs) -> list[str]:
    fig, ax = plt.subplots()
    try:
        draw(ax, *args, **kwargs)
        return [t.get_text() for t in ax.texts]
    finally:
        plt.close(fig)


def test_a_block_is_drawn_from_its_convolutions_and_shortcut():
    basic = _texts(draw_block, BasicBlock(64, 64))
    assert basic[0] == "x: 64 channels" and "identity" in basic and "ReLU → 64 channels" in basic
    assert sum(t.startswith("3×3 conv, 64") for t in basic) == 2
    projection = nn.Sequential(nn.Conv2d(64, 256, 1, stride=2, bias=False), nn.BatchNorm2d(256))
    neck = _texts(draw_block, Bottleneck(64, 64, stride=2, downsample=projection))
    assert [t.split("\n")[0] for t in neck if "conv" in t and "projection" not in t] == [
        "1×1 conv, 64", "3×3 conv, 64, stride 2", "1×1 conv, 256"]  # v1.5: the stride on the 3×3
    assert "projection\n1×1 conv, 256, stride 2\nBatchNorm" in neck and "identity" not in neck


def test_a_stage_is_drawn_block_by_block_with_its_shapes():
    texts = _texts(draw_stage, make_layer(Bottleneck, 256, 128, 4, stride=2), size=(64, 64))
    assert texts[0] == "256 × 64 × 64" and texts[-1] == "512 × 32 × 32"
    blocks = [t for t in texts if t.startswith("block ")]
    assert len(blocks) == 4 and "shortcut: 1×1 conv, 512, stride 2" in blocks[0]
    assert all("shortcut: identity" in b for b in blocks[1:])
    assert texts.count("out: 512 × 32 × 32") == 4
    odd = _texts(draw_stage, make_layer(BasicBlock, 64, 128, 2, stride=2), size=(33, 20))
    assert odd[-1] == "128 × 17 × 10"  # a stride-2 convolution with padding 1 rounds an odd size up


def test_the_overview_is_the_traced_network_with_one_piece_marked():
    import pytest

    from minipose.diagrams import draw_overview

    fig = draw_overview(mark="head", note="this lesson")
    try:
        texts = [t.get_text() for t in fig.axes[0].texts]
        assert "3×256×256" in texts and "2048×8×8" in texts and "1152×64×64" in texts and "18×3" in texts
        assert "this lesson" in texts
        strong = [p for p in fig.axes[0].patches if p.get_linewidth() == 2]
        assert len(strong) == 2  # the deconvolutions and the 1×1 convolution
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="mark must be one of"):
        draw_overview(mark="neck")
