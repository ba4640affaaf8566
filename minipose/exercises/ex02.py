"""Exercises of lesson 02, from blocks to stages (written directly, not generated)."""
from __future__ import annotations

import functools

import torch
from torch import nn

from minipose.backbone import RESNET_SPEC, ResNetBackbone
from minipose.blocks import BasicBlock, Bottleneck
from minipose.checks import randomize_bn
from minipose.exercises import Exercise, Mistake, Question, call, describe_load_error
from minipose.stages import make_layer

# label, block, inplanes, planes, blocks, stride: no projection, a projection at stride 1, two stride-2 stages
_STAGE_CASES = [
    ("ResNet-18's layer1", BasicBlock, 64, 64, 2, 1),
    ("ResNet-50's layer1", Bottleneck, 64, 64, 3, 1),
    ("ResNet-18's layer2", BasicBlock, 64, 128, 2, 2),
    ("a stride-2 Bottleneck stage", Bottleneck, 256, 128, 2, 2),
]


def _own_convs(block: nn.Module) -> list[nn.Conv2d]:
    """The block's convolutions on the residual branch F(x), in order (not the shortcut's)."""
    return [m for name, m in block.named_modules() if isinstance(m, nn.Conv2d) and "downsample" not in name]


def _check_projection(down: nn.Module, inplanes: int, outplanes: int, stride: int, where: str) -> None:
    parts = list(down.children()) if isinstance(down, nn.Sequential) else [down]
    convs = [m for m in parts if isinstance(m, nn.Conv2d)]
    if not convs:
        raise Mistake(f"in {where} the first block's downsample has no convolution; it is nn.Sequential("
                      "nn.Conv2d(inplanes, planes * block.expansion, 1, stride, bias=False), nn.BatchNorm2d(...))")
    conv = convs[0]
    if tuple(conv.kernel_size) != (1, 1):
        k = conv.kernel_size[0]
        raise Mistake(f"the projection shortcut in {where} is a {k}x{k} convolution; ResNet's projection is a 1x1 "
                      "convolution (kernel_size=1) with the block's stride, followed by BatchNorm")
    if tuple(conv.stride) != (stride, stride):
        raise Mistake(f"in {where} the projection's 1x1 convolution has stride {conv.stride[0]}; it must have the "
                      f"block's stride ({stride}) so that the shortcut has the same size as F(x)")
    if (conv.in_channels, conv.out_channels) != (inplanes, outplanes):
        raise Mistake(f"in {where} the projection maps {conv.in_channels} -> {conv.out_channels} channels; it must map "
                      f"inplanes -> planes * block.expansion = {inplanes} -> {outplanes}")
    if conv.bias is not None:
        raise Mistake(f"the projection's 1x1 convolution in {where} has a bias; use bias=False, since the "
                      "BatchNorm after it has its own shift (and the ImageNet weights have no such bias)")
    if not any(isinstance(m, nn.BatchNorm2d) for m in parts):
        raise Mistake(f"the projection shortcut in {where} has no BatchNorm: it is "
                      "nn.Sequential(1x1 conv, nn.BatchNorm2d(planes * block.expansion)), whose weights are named "
                      "0.downsample.0 and 0.downsample.1")


def _check_stage_structure(stage, label: str, block, inplanes: int, planes: int, blocks: int, stride: int) -> None:
    """Diagnose the stage's structure (block count, widths, strides, shortcuts) before comparing weights."""
    out = planes * block.expansion
    where = f"{label} ({block.__name__}, {inplanes} -> {out} channels, stride {stride})"
    if isinstance(stage, (list, tuple, nn.ModuleList)):
        raise Mistake(f"you returned a {type(stage).__name__}; wrap the blocks so the stage can run: "
                      "return nn.Sequential(*layers)")
    if not isinstance(stage, nn.Sequential):
        raise Mistake(f"return an nn.Sequential of blocks; you returned {type(stage).__name__} {stage!r:.40}")
    kids = list(stage.children())
    if len(kids) != blocks:
        raise Mistake(f"for {where} with blocks={blocks} you built {len(kids)} blocks; a stage has exactly `blocks` "
                      "blocks: the first one, then blocks - 1 more (range(1, blocks))")
    for i, b in enumerate(kids):
        if type(b).__name__ != block.__name__:
            raise Mistake(f"block {i} of {where} is a {type(b).__name__}; build every block with the `block` "
                          f"argument ({block.__name__} here)")
    convs = [_own_convs(b) for b in kids]
    if not all(convs):
        raise Mistake(f"a block of {where} has no convolution; build each with block(inplanes, planes, ...)")
    if convs[0][0].in_channels != inplanes:
        raise Mistake(f"the first block of {where} takes {convs[0][0].in_channels} channels; it takes the stage's "
                      f"input width, inplanes = {inplanes}")
    for i in range(blocks):
        width = convs[i][-1].out_channels
        if width != out:
            raise Mistake(f"the blocks of {where} output {width} channels instead of planes * block.expansion = {out}: "
                          "pass `planes` to the block, which multiplies it by block.expansion itself")
    for i in range(1, blocks):
        got = convs[i][0].in_channels
        if got != out:
            old = " (the stage's old input width)" if got == inplanes else ""
            raise Mistake(f"in {where} block {i} takes {got} channels{old}; after the first block the width is "
                          f"planes * block.expansion = {out}, so build the later blocks as "
                          "block(planes * block.expansion, planes)")
    strides = [max(c.stride[0] for c in cs) for cs in convs]
    if any(s != 1 for s in strides[1:]):
        raise Mistake(f"in {where} the later blocks have stride {max(strides[1:])} too; only the first block of a "
                      "stage carries the stride, the others keep stride 1 (block(planes * block.expansion, planes))")
    if strides[0] != stride:
        raise Mistake(f"the first block of {where} has stride {strides[0]}; it must carry the stage's stride {stride}")
    downs = [getattr(b, "downsample", None) for b in kids]
    if any(d is not None for d in downs[1:]):
        raise Mistake(f"in {where} the later blocks have a projection shortcut too; only the first block changes the "
                      "shape, so the others take downsample=None (an identity shortcut)")
    if stride != 1 or inplanes != out:
        if downs[0] is None and stride == 1:
            raise Mistake(f"the first block of {label} has no projection shortcut, but its channels change "
                          f"{inplanes} -> {out} at stride 1: project when "
                          "`stride != 1 or inplanes != planes * block.expansion`, not only when the stride changes")
        if downs[0] is None:
            raise Mistake(f"the first block of {where} halves the resolution but has no projection shortcut: x no "
                          "longer has F(x)'s size, so it needs a 1x1 conv (with the stride) + BatchNorm")
        _check_projection(downs[0], inplanes, out, stride, where)
    elif downs[0] is not None:
        raise Mistake(f"{label} keeps {inplanes} channels at stride 1, so its first block's shortcut is the identity; "
                      "add a projection only when `stride != 1 or inplanes != planes * block.expansion`")


def _check_make_layer(fn) -> str:
    for label, block, inplanes, planes, blocks, stride in _STAGE_CASES:
        torch.manual_seed(2)
        stage = call(fn, block, inplanes, planes, blocks, stride)
        _check_stage_structure(stage, label, block, inplanes, planes, blocks, stride)
        reference = make_layer(block, inplanes, planes, blocks, stride)
        randomize_bn(reference)  # non-trivial BatchNorm statistics, so a misplaced BN would show
        try:
            stage.load_state_dict(reference.state_dict(), strict=True)
        except Exception as err:  # noqa: BLE001 - reported as a naming problem
            raise Mistake(f"the weights of {label} built by make_layer do not load into yours (strict): "
                          f"{describe_load_error(err)}. Keep the block names 0, 1, ... and downsample.0 / downsample.1"
                          ) from None
        x = torch.randn(2, inplanes, 12, 10)  # non-square: a swapped height and width would show
        stage.eval(), reference.eval()
        with torch.no_grad():
            got, want = call(stage, x.clone()), reference(x)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise Mistake(f"for {label} on a 2 x {inplanes} x 12 x 10 input your stage returned {shape}, "
                          f"expected {tuple(want.shape)}")
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            raise Mistake(f"for {label} your stage loads make_layer's weights but computes something else (up to "
                          f"{(got - want).abs().max().item():.3g} off); build it from block(...) calls only")
    return ("Same structure, state-dict names and outputs as minipose.stages.make_layer for ResNet-18's layer1 "
            "(identity shortcut), ResNet-50's layer1 (projection at stride 1) and two stride-2 stages.")


q1 = Exercise(
    "02.1", "build a stage", "my_make_layer", _check_make_layer,
    refuses=("minipose.stages.make_layer", "minipose.backbone.ResNetBackbone", "torchvision.models.resnet.ResNet"),
    hints=[
        "The first block is block(inplanes, planes, stride, downsample); the others are block(planes * "
        "block.expansion, planes), with stride 1 and no downsample.",
        "downsample is None unless `stride != 1 or inplanes != planes * block.expansion`; then it is "
        "nn.Sequential(nn.Conv2d(inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False), "
        "nn.BatchNorm2d(planes * block.expansion)).",
    ],
)


@functools.lru_cache(maxsize=1)
def _projection_counts() -> dict[int, int]:
    """Depth -> blocks with a projection shortcut, counted on the real backbones (on the meta device: shapes only)."""
    counts = {}
    with torch.device("meta"):
        for depth in RESNET_SPEC:
            net = ResNetBackbone(depth)
            counts[depth] = sum(1 for m in net.modules() if getattr(m, "downsample", None) is not None)
    return counts


def _check_count_projections(fn) -> str:
    truth = _projection_counts()
    answers = {}
    for depth in truth:
        got = call(fn, depth)
        if isinstance(got, bool) or not isinstance(got, int):
            raise Mistake(f"return a whole number (an int); for depth {depth} you returned {type(got).__name__} "
                          f"{got!r:.40}")
        answers[depth] = got
    if answers == truth:
        return ("ResNet-18 and -34 have 3 projection shortcuts, ResNet-50, -101 and -152 have 4, as counted on the "
                "real ResNetBackbone modules.")
    blocks = {d: sum(RESNET_SPEC[d][1]) for d in truth}
    if all(answers[d] == 4 for d in truth):
        raise Mistake("4 for every depth counts the stages; but the layer1 of ResNet-18 and -34 keeps 64 channels at "
                      "stride 1, so its first block has an identity shortcut: they have one projection fewer")
    if all(answers[d] == 3 for d in truth):
        raise Mistake("3 for every depth counts the stride-2 stages; but ResNet-50/101/152's layer1 expands 64 -> 256 "
                      "channels, so even at stride 1 its first block needs a projection")
    if answers == blocks:
        raise Mistake("that is the number of blocks; only the first block of a stage can change the shape, so at "
                      "most one projection per stage")
    if answers == {d: 2 * n for d, n in truth.items()}:
        raise Mistake("twice the answer: you counted the projection's modules (a 1x1 conv and a BatchNorm); count the "
                      "blocks whose downsample is not None")
    depth = next(d for d in truth if answers[d] != truth[d])
    raise Mistake(f"for ResNet-{depth} you returned {answers[depth]}; for each stage, ask whether its first block "
                  "changes the stride or the channel count")


q2 = Exercise(
    "02.2", "count the projection shortcuts", "count_projection_shortcuts", _check_count_projections,
    refuses=("minipose.stages.make_layer", "minipose.backbone.ResNetBackbone", "torchvision.models.resnet.ResNet"),
    hints=[
        "Only a stage's first block can have a projection: count the stages whose first block changes the stride "
        "or the channels. Track inplanes from 64 as the backbone does.",
        "The strides are 1, 2, 2, 2 for every depth; what differs between depths 18/34 and 50/101/152 is "
        "block.expansion, hence layer1's output width.",
    ],
)

q3 = Question(
    "02.3", "a rule that only looks at the stride",
    hints=["Build my_make_layer with `if stride != 1:` as the condition for ResNet-50's layer1 and run it on "
           "torch.randn(1, 64, 16, 16). Where does it fail: when building, or when running?"],
    answer="ResNet-18 and -34 are unaffected: their layer1 keeps 64 channels, and every other stage has stride 2. "
           "ResNet-50/101/152 still *build* without complaint, which is what makes the bug nasty: "
           "Bottleneck(64, 64, stride=1, downsample=None) is a valid module. The error comes only in the forward "
           "pass, in the first block of layer1, at `out + identity`: F(x) has 256 channels, the identity shortcut 64, "
           "and PyTorch raises a RuntimeError about the sizes of tensor a (256) and b (64) at dimension 1. The "
           "ImageNet weights would not load either (strict loading: layer1.0.downsample.* are unexpected keys).",
)

q4 = Question(
    "02.4", "a stride-2 layer1",
    hints=["Count the halvings: stem conv, max-pool, then the strides of the four stages. The head multiplies by 8."],
    answer="With stride 2 in layer1 the backbone halves the resolution six times: 256 -> 128 -> 64 -> 32 (layer1) -> "
           "16 -> 8 -> 4, so a 256 x 256 crop gives 4 x 4 features (1/64). The head's three x2 deconvolutions turn "
           "them into 32 x 32 heatmaps instead of 64 x 64: each heatmap cell covers 8 x 8 pixels instead of 4 x 4, "
           "and soft-argmax returns coordinates on a 32-cell grid, so targets made for cfg.output_shape (64 x 64) "
           "would be twice too large unless they were changed too. Parameter shapes do not depend on the stride, "
           "but ResNet-18's layer1 would now need a projection (stride != 1), which its ImageNet weights do not have.",
)
