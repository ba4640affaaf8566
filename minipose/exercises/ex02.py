"""Exercises of lesson 02, from blocks to stages (written directly, not generated).

The lesson writes `make_layer`, whose projection shortcut is a strided 1x1 convolution + BN. Its exercises ask for
what it does not print: the parameters of ResNet-18's layer2 (predicted first, before the cell that counts them),
a stage with the ResNet-D shortcut of He et al.'s "Bag of Tricks" (average-pool, then a stride-1 1x1 convolution),
whose reference is written here, and the parameters held by the projection shortcuts of a backbone given by its
spec (expansion, blocks, widths, strides), including specs the lesson never builds.
"""
from __future__ import annotations

import torch
from torch import nn

from minipose.blocks import BasicBlock, Bottleneck
from minipose.checks import randomize_bn
from minipose.exercises import (Exercise, Mistake, Prediction, Question, call, describe_load_error, named_slip,
                                read_number)


# --- 02.0: predict the parameters of ResNet-18's layer2 -----------------------------------------------------------

def _basic_block_params(inplanes: int, planes: int, projection: bool) -> int:
    """Two 3x3 convolutions without bias, two BatchNorms (weight and bias), and the 1x1 conv + BN projection."""
    total = 9 * inplanes * planes + 9 * planes * planes + 2 * (2 * planes)
    return total + (inplanes * planes + 2 * planes if projection else 0)


def _check_layer2_params(answer) -> str:
    got = read_number(answer, "parameters", "123_456")
    shown = int(got) if got.is_integer() else got  # 525568 is shown as 525,568, not 525,568.0
    first, second = _basic_block_params(64, 128, True), _basic_block_params(128, 128, False)
    truth = first + second  # 525,568
    if got == truth:
        return ("525,568: the first block (64 -> 128 channels, stride 2) has 230,144 parameters with its 1x1 "
                "projection and BatchNorm (8,448), the second (128 -> 128, identity shortcut) has 295,424.")
    projection = 64 * 128 + 2 * 128
    norms = 5 * 128  # bn1 and bn2 of two blocks, and the projection's BatchNorm, each 128 channels
    named_slip(got, [  # counts: only the exact number names a slip
        (truth - projection, ("the first block changes the channels (64 -> 128) and the stride, so it has a "
                              "projection shortcut: a 1x1 convolution (64 x 128 weights) and a BatchNorm(128)")),
        (truth + 128 * 128 + 2 * 128, ("only the first block of a stage gets a projection; the second keeps 128 "
                                       "channels at stride 1, so its shortcut is the identity, without parameters")),
        (truth + 2 * norms, ("you counted BatchNorm's running mean and variance: they are buffers, not parameters "
                             "(each BatchNorm channel has 2 parameters, weight and bias)")),
        (truth + 2 * norms + 5, ("you counted BatchNorm's buffers (running mean, variance, num_batches_tracked); "
                                 "only its weight and bias are parameters")),
        (truth - 2 * norms, "BatchNorm's weight and bias are missing: 2 parameters per channel, 5 BatchNorms of 128"),
        (truth + norms, "the convolutions have no bias (bias=False: BatchNorm follows each of them)"),
        (2 * first, ("the second block takes 128 channels, not 64: after the first block the width is planes, and "
                     "its shortcut is the identity")),
        (2 * second, ("the first block takes the stage's input, 64 channels, and needs a projection: it is not a "
                      "copy of the second")),
        (truth + 8 * 64 * 128, "the projection is a 1x1 convolution: 64 x 128 weights, not 64 x 128 x 9"),
    ], rel=0, abs_tol=0)
    if abs(got - truth) < 0.02 * truth:
        raise Mistake(f"{shown:,} is close but not exact; count each block's convolutions (out x in x 3 x 3), "
                      "2 per BatchNorm channel, and the projection of the first block")
    raise Mistake(f"{shown:,} is not it: count block by block; a 3x3 convolution without bias from c_in to "
                  "c_out channels holds c_out x c_in x 9 weights")


q0 = Prediction(
    "02.0", "predict the parameters of ResNet-18's layer2", "layer2_params", _check_layer2_params,
    hints=["layer2 of ResNet-18 is two BasicBlocks: the first 64 -> 128 channels with stride 2, the second "
           "128 -> 128. A BasicBlock has two 3x3 convolutions (no bias) and two BatchNorms.",
           "Which of the two blocks needs a projection shortcut (1x1 conv + BN), and how many parameters does "
           "it add?"],
)


# --- 02.1: a stage with the ResNet-D shortcut ----------------------------------------------------------------------

# label, block, inplanes, planes, blocks, stride: no projection, two stride-2 stages, a projection at stride 1
# (the strided stages first: the lesson's make_layer, copied, hears about the pool before the names)
_STAGE_CASES = [
    ("ResNet-18's layer1", BasicBlock, 64, 64, 2, 1),
    ("ResNet-18's layer2", BasicBlock, 64, 128, 2, 2),
    ("a stride-2 Bottleneck stage", Bottleneck, 256, 128, 2, 2),
    ("ResNet-50's layer1", Bottleneck, 64, 64, 3, 1),
]
_POOLS = (nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.LPPool2d)


def _reference_stage_d(block, inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """He et al. 2019, Fig. 2(c): the shortcut of a downsampling block average-pools 2x2 with stride 2, then
    projects with a stride-1 1x1 convolution and BatchNorm; at stride 1 the pool is the identity."""
    out = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        pool = nn.AvgPool2d(kernel_size=2, stride=2) if stride != 1 else nn.Identity()
        downsample = nn.Sequential(pool, nn.Conv2d(inplanes, out, kernel_size=1, bias=False), nn.BatchNorm2d(out))
    return nn.Sequential(block(inplanes, planes, stride, downsample), *[block(out, planes) for _ in range(1, blocks)])


def _own_convs(block: nn.Module) -> list[nn.Conv2d]:
    """The block's convolutions on the residual branch F(x), in order (not the shortcut's)."""
    return [m for name, m in block.named_modules() if isinstance(m, nn.Conv2d) and "downsample" not in name]


def _check_projection(down: nn.Module, inplanes: int, outplanes: int, stride: int, where: str) -> None:
    """The ResNet-D shortcut: nn.Sequential(AvgPool2d(2, 2) or nn.Identity(), 1x1 conv with stride 1, BatchNorm)."""
    parts = list(down.children()) if isinstance(down, nn.Sequential) else [down]
    convs = [m for m in parts if isinstance(m, nn.Conv2d)]
    if not convs:
        raise Mistake(f"in {where} the first block's downsample has no convolution; it is nn.Sequential(pool, "
                      "nn.Conv2d(inplanes, planes * block.expansion, 1, bias=False), nn.BatchNorm2d(...))")
    conv = convs[0]
    if tuple(conv.kernel_size) != (1, 1):
        k = conv.kernel_size[0]
        raise Mistake(f"the projection in {where} is a {k}x{k} convolution; ResNet-D keeps a 1x1 convolution "
                      "(kernel_size=1) and lets the average pool look at the neighbouring pixels")
    pools = [m for m in parts if isinstance(m, _POOLS)]
    if stride != 1:
        if not pools:
            raise Mistake(f"the shortcut in {where} has no pool: that is the lesson's projection, a 1x1 convolution "
                          "with stride 2, which reads one input pixel in four. ResNet-D averages each 2x2 window "
                          "first, nn.AvgPool2d(kernel_size=2, stride=2), then applies a stride-1 1x1 convolution")
        if not isinstance(pools[0], nn.AvgPool2d):
            raise Mistake(f"the shortcut in {where} pools with {type(pools[0]).__name__}; ResNet-D averages "
                          "(nn.AvgPool2d(kernel_size=2, stride=2)), so every input pixel counts equally")
        if parts.index(pools[0]) > parts.index(conv):
            raise Mistake(f"in {where} the pool comes after the convolution; the order is pool, 1x1 conv, "
                          "BatchNorm (Fig. 2(c)), so the weights are downsample.1 and downsample.2")
        if tuple(conv.stride) != (1, 1):
            raise Mistake(f"in {where} the 1x1 convolution after the pool has stride {conv.stride[0]}: the pool "
                          "already halves the resolution, so the convolution keeps stride 1")
        pool = pools[0]
        if (pool.kernel_size, pool.stride) not in [(2, 2), ((2, 2), (2, 2))]:
            raise Mistake(f"the average pool in {where} has kernel_size={pool.kernel_size}, stride={pool.stride}; "
                          "ResNet-D's is nn.AvgPool2d(kernel_size=2, stride=2)")
    else:
        if any(getattr(m, "stride", 1) not in (1, (1, 1)) for m in pools) or isinstance(
                parts[0], (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            raise Mistake(f"{where} keeps the resolution, but its shortcut pools with a stride: at stride 1 there "
                          "is nothing to downsample, so put nn.Identity() in the pool's place")
        if tuple(conv.stride) != (1, 1):
            raise Mistake(f"in {where} the projection has stride {conv.stride[0]}, but the stage has stride 1")
    if (conv.in_channels, conv.out_channels) != (inplanes, outplanes):
        raise Mistake(f"in {where} the projection maps {conv.in_channels} -> {conv.out_channels} channels; it must "
                      f"map inplanes -> planes * block.expansion = {inplanes} -> {outplanes}")
    if conv.bias is not None:
        raise Mistake(f"the projection's 1x1 convolution in {where} has a bias; use bias=False, since the "
                      "BatchNorm after it has its own shift")
    if not any(isinstance(m, nn.BatchNorm2d) for m in parts):
        raise Mistake(f"the projection shortcut in {where} has no BatchNorm: it is nn.Sequential(pool, 1x1 conv, "
                      "nn.BatchNorm2d(planes * block.expansion))")
    if len(parts) == 2:
        raise Mistake(f"the shortcut of {where} has two parts; keep three in every stage, nn.Identity() in the "
                      "pool's place at stride 1, so the weights are always named downsample.1 and downsample.2")


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
                          "longer has F(x)'s size, so it needs the ResNet-D shortcut (pool, 1x1 conv, BatchNorm)")
        _check_projection(downs[0], inplanes, out, stride, where)
    elif downs[0] is not None:
        raise Mistake(f"{label} keeps {inplanes} channels at stride 1, so its first block's shortcut is the identity; "
                      "add a projection only when `stride != 1 or inplanes != planes * block.expansion`")


def _check_make_layer_d(fn) -> str:
    for label, block, inplanes, planes, blocks, stride in _STAGE_CASES:
        torch.manual_seed(2)
        stage = call(fn, block, inplanes, planes, blocks, stride)
        _check_stage_structure(stage, label, block, inplanes, planes, blocks, stride)
        reference = _reference_stage_d(block, inplanes, planes, blocks, stride)
        randomize_bn(reference)  # non-trivial BatchNorm statistics, so a misplaced BN would show
        try:
            stage.load_state_dict(reference.state_dict(), strict=True)
        except Exception as err:  # noqa: BLE001 - reported as a naming problem
            raise Mistake(f"the weights of a ResNet-D {label} do not load into yours (strict): "
                          f"{describe_load_error(err)}. Keep the block names 0, 1, ... and the shortcut's "
                          "downsample.0 (pool), downsample.1 (1x1 conv), downsample.2 (BatchNorm)") from None
        x = torch.randn(2, inplanes, 12, 10)  # non-square: a swapped height and width would show
        stage.eval(), reference.eval()
        with torch.no_grad():
            got, want = call(stage, x.clone()), reference(x)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise Mistake(f"for {label} on a 2 x {inplanes} x 12 x 10 input your stage returned {shape}, "
                          f"expected {tuple(want.shape)}")
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            raise Mistake(f"for {label} your stage loads the reference's weights but computes something else (up "
                          f"to {(got - want).abs().max().item():.3g} off); build it from block(...) calls only")
    return ("Same structure, state-dict names and outputs as the ResNet-D stage of He et al. 2019 (Fig. 2(c)) for "
            "ResNet-18's layer1 (identity shortcut), ResNet-50's layer1 (projection at stride 1, no pool) and two "
            "stride-2 stages (2x2 average pool, then a stride-1 1x1 convolution).")


q1 = Exercise(
    "02.1", "a stage with the ResNet-D shortcut", "my_make_layer_d", _check_make_layer_d,
    refuses=("minipose.stages.make_layer", "minipose.backbone.ResNetBackbone", "torchvision.models.resnet.ResNet"),
    hints=[
        "Start from the lesson's make_layer: only the downsample changes. The first block is block(inplanes, "
        "planes, stride, downsample); the others are block(planes * block.expansion, planes).",
        "downsample is None unless `stride != 1 or inplanes != planes * block.expansion`; then it is "
        "nn.Sequential(pool, nn.Conv2d(inplanes, planes * block.expansion, kernel_size=1, bias=False), "
        "nn.BatchNorm2d(planes * block.expansion)), with pool = nn.AvgPool2d(kernel_size=2, stride=2) when the "
        "stride is 2 and nn.Identity() when it is 1.",
    ],
)


# --- 02.2: the parameters of the projection shortcuts of any backbone spec ----------------------------------------

# label, (expansion, blocks_per_stage, widths, strides): the real ResNets and specs the lesson never prints,
# a stride-2 stage that keeps its width and a stride-1 stage that widens, with both block types
_SPEC_CASES = [
    ("ResNet-50", (4, (3, 4, 6, 3), (64, 128, 256, 512), (1, 2, 2, 2))),
    ("ResNet-18", (1, (2, 2, 2, 2), (64, 128, 256, 512), (1, 2, 2, 2))),
    ("a BasicBlock spec", (1, (2, 3, 2), (64, 64, 128), (1, 2, 1))),
    ("a Bottleneck spec", (4, (1, 2), (32, 64), (2, 1))),
]


def _projection_params(expansion, blocks_per_stage, widths, strides, rule="both", per_bn=2, kernel=1, bias=0,
                       track="out", every_block=False, count=False, expand=True) -> int:
    """Parameters of the projection shortcuts (1x1 conv without bias + BatchNorm's weight and bias) of a backbone
    whose stem outputs 64 channels; the keywords spell out one mistake each (the defaults are right)."""
    inplanes, total = 64, 0
    for blocks, planes, stride in zip(blocks_per_stage, widths, strides):
        out = planes * expansion if expand else planes
        needs = {"both": stride != 1 or inplanes != out, "stride": stride != 1, "channels": inplanes != out,
                 "always": True}[rule]
        size = (lambda i, o: 1 if count else kernel * i * o + (per_bn + bias) * o)
        total += size(inplanes, out) if needs else 0
        total += (blocks - 1) * size(out, out) if every_block and needs else 0
        inplanes = {"out": out, "stem": 64, "planes": planes}[track]
    return total


_SPEC_MISTAKES = [
    (dict(count=True), "you returned how many projection shortcuts there are; the question is how many "
                       "parameters they hold: inplanes x out (1x1 conv) + 2 x out (BatchNorm) each"),
    (dict(rule="stride"), "you gave a projection only to stages with a stride; a stage that changes the channels "
                          "at stride 1 (ResNet-50's layer1, 64 -> 256) needs one too"),
    (dict(rule="channels"), "you gave a projection only to stages that change the channels; a stride-2 stage that "
                            "keeps its width (64 -> 64 in the BasicBlock spec) needs one too, since the "
                            "resolution changes"),
    (dict(rule="always"), "you counted a projection for every stage; a stage that keeps the channels at stride "
                          "1 (ResNet-18's layer1) has an identity shortcut, without parameters"),
    (dict(every_block=True), "you counted a projection in every block of a stage; only the first block changes "
                             "the shape, so blocks_per_stage does not change the answer"),
    (dict(per_bn=4), "you counted BatchNorm's running mean and variance: they are buffers, not parameters "
                     "(2 per channel: weight and bias)"),
    (dict(per_bn=0), "BatchNorm's weight and bias are missing: every projection ends with a BatchNorm, "
                     "2 parameters per output channel"),
    (dict(bias=1), "the 1x1 convolution has no bias (bias=False: the BatchNorm after it shifts)"),
    (dict(kernel=9), "the projection is a 1x1 convolution: inplanes x out weights, not inplanes x out x 9"),
    (dict(track="stem"), "every stage's input is the previous stage's output, planes x expansion, not the "
                         "stem's 64 channels: update inplanes after each stage"),
    (dict(expand=False), "a stage outputs planes x expansion channels, not planes: ResNet-50's layer1 (planes "
                         "64) outputs 256, so it needs a projection 64 -> 256, and the later ones are 4x wider"),
    (dict(track="planes"), "after a stage the width is planes x expansion, not planes: a Bottleneck stage of "
                           "planes 64 outputs 256 channels"),
]


def _check_projection_params(fn) -> str:
    answers = []
    for label, spec in _SPEC_CASES:
        got = call(fn, *spec)
        if isinstance(got, bool) or not isinstance(got, int):
            raise Mistake(f"return a whole number (an int); for {label} you returned {type(got).__name__} "
                          f"{got!r:.40}")
        answers.append(got)
    truth = [_projection_params(*spec) for _, spec in _SPEC_CASES]
    if answers == truth:
        return ("The projection shortcuts hold 2,776,576 parameters in ResNet-50, 173,824 in ResNet-18, and the "
                "right count for a stride-2 stage that keeps its width and a stride-1 stage that widens.")
    for wrong, message in _SPEC_MISTAKES:
        if answers == [_projection_params(*spec, **wrong) for _, spec in _SPEC_CASES]:
            raise Mistake(message)
    if answers == [_projection_params(*spec, per_bn=4) + _projection_params(*spec, count=True)
                   for _, spec in _SPEC_CASES]:
        raise Mistake("you counted BatchNorm's buffers (running mean, variance, num_batches_tracked); only its "
                      "weight and bias are parameters")
    k = next(k for k in range(len(truth)) if answers[k] != truth[k])
    label, (expansion, blocks, widths, strides) = _SPEC_CASES[k]
    raise Mistake(f"for {label} (expansion {expansion}, blocks {blocks}, widths {widths}, strides {strides}) you "
                  f"returned {answers[k]:,}; for each stage, decide whether its first block needs a projection, "
                  "then count inplanes x out + 2 x out with out = planes x expansion")


q2 = Exercise(
    "02.2", "the parameters of the projection shortcuts", "projection_params", _check_projection_params,
    refuses=("minipose.stages.make_layer", "minipose.backbone.ResNetBackbone", "torchvision.models.resnet.ResNet"),
    hints=[
        "Only a stage's first block can have a projection: it has one when `stride != 1 or inplanes != out`, "
        "with out = planes * expansion. Track inplanes from the stem's 64 as the backbone does.",
        "A projection is nn.Conv2d(inplanes, out, 1, bias=False) and nn.BatchNorm2d(out): inplanes * out + "
        "2 * out parameters. blocks_per_stage does not matter.",
    ],
)

q3 = Question(
    "02.3", "a rule that only looks at the stride",
    hints=["Copy make_layer with `if stride != 1:` as the condition, build ResNet-50's layer1 with it and run it "
           "on torch.randn(1, 64, 16, 16). Where does it fail: when building, or when running?"],
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
