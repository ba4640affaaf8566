"""Exercise checks of lesson 02 (stages): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from exercise_helpers import assert_verdicts, reference
from minipose.blocks import BasicBlock, Bottleneck
from minipose.checks import randomize_bn
from minipose.exercises import PASSED, ex02
from minipose.stages import make_layer


def test_layer2_params_prediction():
    assert_verdicts(ex02.q0, reference("02.0", "layer2_params"), [
        (517_120, "so it has a projection shortcut"),
        (542_208, "only the first block of a stage gets a projection"),
        (526_848, "you counted BatchNorm's running mean and variance"),
        (526_853, "num_batches_tracked"),
        (524_288, "BatchNorm's weight and bias are missing"),
        (526_208, "the convolutions have no bias"),
        (460_288, "the second block takes 128 channels, not 64"),
        (590_848, "the first block takes the stage's input, 64 channels"),
        (591_104, "the projection is a 1x1 convolution"),
        (525_000, "is close but not exact"),
        (11_176_512, "is not it"),
        ("525,568 parameters", "give one number"),
    ])
    assert ex02.q0.result("525,568").passed  # a number written as text counts too
    assert ex02.q0.result(525_568.0).status == PASSED  # a float that is the right count also counts


def test_layer2_params_reference_against_torchvision():
    from torchvision.models import resnet18

    with torch.device("meta"):
        layer2 = resnet18().layer2
    assert sum(p.numel() for p in layer2.parameters()) == 525_568
    assert ex02._basic_block_params(64, 128, True) + ex02._basic_block_params(128, 128, False) == 525_568


def _projection(inplanes, outplanes, stride, pool=None, conv_stride=1, bias=False, parts=None):
    """The ResNet-D shortcut, or one thing done differently."""
    if pool is None:
        pool = nn.AvgPool2d(2, 2) if stride != 1 else nn.Identity()
    conv = nn.Conv2d(inplanes, outplanes, kernel_size=1, stride=conv_stride, bias=bias)
    modules = {"pool": pool, "conv": conv, "bn": nn.BatchNorm2d(outplanes)}
    return nn.Sequential(*[modules[name] for name in (parts or ("pool", "conv", "bn"))])


def _stage(block, inplanes, planes, blocks, stride, first_shortcut, later=None):
    """A stage whose first block gets `first_shortcut` (or None); `later(i)` builds block i >= 1 if given."""
    out = planes * block.expansion
    layers = [block(inplanes, planes, stride, first_shortcut)]
    for i in range(1, blocks):
        layers.append(later(i) if later else block(out, planes))
    return nn.Sequential(*layers)


def stride_only_condition(block, inplanes, planes, blocks, stride=1):
    down = _projection(inplanes, planes * block.expansion, stride) if stride != 1 else None
    return _stage(block, inplanes, planes, blocks, stride, down)


def always_project(block, inplanes, planes, blocks, stride=1):  # even when the shape does not change
    return _stage(block, inplanes, planes, blocks, stride, _projection(inplanes, planes * block.expansion, stride))


def projection_on_every_block(block, inplanes, planes, blocks, stride=1):
    out = planes * block.expansion
    return _stage(block, inplanes, planes, blocks, stride, _projection(inplanes, out, stride),
                  later=lambda i: block(out, planes, 1, _projection(out, out, 1)))


def _needs(block, inplanes, planes, stride):
    return stride != 1 or inplanes != planes * block.expansion


def stride_on_every_block(block, inplanes, planes, blocks, stride=1):
    out = planes * block.expansion
    down = _projection(inplanes, out, stride) if _needs(block, inplanes, planes, stride) else None
    return _stage(block, inplanes, planes, blocks, stride, down, later=lambda i: block(out, planes, stride))


def later_blocks_with_old_inplanes(block, inplanes, planes, blocks, stride=1):
    down = _projection(inplanes, planes * block.expansion, stride) if _needs(block, inplanes, planes, stride) else None
    return _stage(block, inplanes, planes, blocks, stride, down, later=lambda i: block(inplanes, planes))


def projection_without_bn(block, inplanes, planes, blocks, stride=1):
    return _with_shortcut(lambda i, o, s: _projection(i, o, s, parts=("pool", "conv")))(
        block, inplanes, planes, blocks, stride)


def projection_3x3(block, inplanes, planes, blocks, stride=1):
    def make(i, o, s):
        shortcut = _projection(i, o, s)
        shortcut[1] = nn.Conv2d(i, o, 3, padding=1, bias=False)
        return shortcut
    return _with_shortcut(make)(block, inplanes, planes, blocks, stride)


def one_block_too_many(block, inplanes, planes, blocks, stride=1):
    down = _projection(inplanes, planes * block.expansion, stride) if _needs(block, inplanes, planes, stride) else None
    return _stage(block, inplanes, planes, blocks + 1, stride, down)


def expanded_planes(block, inplanes, planes, blocks, stride=1):  # passes planes * expansion as the block's planes
    out = planes * block.expansion
    down = _projection(inplanes, out, stride) if _needs(block, inplanes, planes, stride) else None
    return nn.Sequential(block(inplanes, out, stride, down), *[block(out, out) for _ in range(1, blocks)])


def a_list(block, inplanes, planes, blocks, stride=1):
    return list(reference("02.1", "my_make_layer_d")(block, inplanes, planes, blocks, stride))


def renamed_shortcut(block, inplanes, planes, blocks, stride=1):  # right function, names the checkpoints lack
    stage = reference("02.1", "my_make_layer_d")(block, inplanes, planes, blocks, stride)
    if stage[0].downsample is not None:
        pool, conv, bn = stage[0].downsample
        stage[0].downsample = nn.Sequential()
        for name, module in (("pool", pool), ("conv", conv), ("bn", bn)):
            stage[0].downsample.add_module(name, module)
    return stage


def _with_shortcut(make):
    """A stage whose first block's shortcut is make(inplanes, outplanes, stride) when one is needed."""
    def stage(block, inplanes, planes, blocks, stride=1):
        out = planes * block.expansion
        down = make(inplanes, out, stride) if _needs(block, inplanes, planes, stride) else None
        return _stage(block, inplanes, planes, blocks, stride, down)
    return stage


lessons_projection = _with_shortcut(  # make_layer's strided 1x1 conv, no pool
    lambda i, o, s: nn.Sequential(nn.Conv2d(i, o, 1, s, bias=False), nn.BatchNorm2d(o)))
strided_conv_after_pool = _with_shortcut(lambda i, o, s: _projection(i, o, s, conv_stride=s))
pool_at_stride_1 = _with_shortcut(lambda i, o, s: _projection(i, o, s, pool=nn.AvgPool2d(2, 2)))
max_pool = _with_shortcut(lambda i, o, s: _projection(i, o, s, pool=nn.MaxPool2d(2, 2) if s != 1 else None))
pool_after_conv = _with_shortcut(lambda i, o, s: _projection(i, o, s, parts=("conv", "pool", "bn")))
pool_3x3 = _with_shortcut(lambda i, o, s: _projection(i, o, s, pool=nn.AvgPool2d(3, 2, 1) if s != 1 else None))
two_parts_at_stride_1 = _with_shortcut(  # the lesson's two-part shortcut where there is nothing to pool
    lambda i, o, s: _projection(i, o, s) if s != 1 else _projection(i, o, s, parts=("conv", "bn")))
strided_at_stride_1 = _with_shortcut(lambda i, o, s: _projection(i, o, s, conv_stride=2 if s == 1 else 1))
projection_with_bias = _with_shortcut(lambda i, o, s: _projection(i, o, s, bias=True))
projection_to_planes = _with_shortcut(lambda i, o, s: _projection(i, i, s))
no_conv_in_shortcut = _with_shortcut(lambda i, o, s: nn.Sequential(nn.Identity(), nn.BatchNorm2d(i)))


def test_make_layer_d_check():
    assert_verdicts(ex02.q1, reference("02.1", "my_make_layer_d"), [
        (lessons_projection, "has no pool: that is the lesson's projection"),
        (strided_conv_after_pool, "the pool already halves the resolution"),
        (pool_at_stride_1, "at stride 1 there is nothing to downsample"),
        (max_pool, "pools with MaxPool2d"),
        (pool_after_conv, "the pool comes after the convolution"),
        (pool_3x3, "ResNet-D's is nn.AvgPool2d(kernel_size=2, stride=2)"),
        (two_parts_at_stride_1, "has two parts; keep three in every stage"),
        (strided_at_stride_1, "the projection has stride 2, but the stage has stride 1"),
        (projection_with_bias, "has a bias; use bias=False"),
        (projection_to_planes, "the projection maps 64 -> 64 channels"),
        (no_conv_in_shortcut, "downsample has no convolution"),
        (stride_only_condition,
         "the first block of ResNet-50's layer1 has no projection shortcut, but its channels change 64 -> 256"),
        (always_project, "keeps 64 channels at stride 1, so its first block's shortcut is the identity"),
        (projection_on_every_block, "the later blocks have a projection shortcut too"),
        (stride_on_every_block, "the later blocks have stride 2 too"),
        (later_blocks_with_old_inplanes, "block 1 takes 64 channels (the stage's old input width)"),
        (projection_without_bn, "has no BatchNorm"),
        (projection_3x3, "is a 3x3 convolution"),
        (one_block_too_many, "with blocks=2 you built 3 blocks"),
        (expanded_planes, "pass `planes` to the block"),
        (a_list, "you returned a list"),
        (renamed_shortcut, "do not load into yours (strict): missing 0.downsample.conv.weight"),
        (lambda block, inplanes, planes, blocks, stride=1: "a stage", "return an nn.Sequential of blocks"),
    ])


def _stage_by_functional(sd, x, stride):
    """ResNet-18's layer2 with the ResNet-D shortcut, from a state dict with torch.nn.functional; the 2x2 average
    pool written as the mean of the four strided sub-grids."""
    def bn(t, name):
        return F.batch_norm(t, sd[f"{name}.running_mean"], sd[f"{name}.running_var"], sd[f"{name}.weight"],
                            sd[f"{name}.bias"], training=False, eps=1e-5)

    def basic(t, i, s, shortcut):
        out = F.relu(bn(F.conv2d(t, sd[f"{i}.conv1.weight"], stride=s, padding=1), f"{i}.bn1"))
        return F.relu(bn(F.conv2d(out, sd[f"{i}.conv2.weight"], padding=1), f"{i}.bn2") + shortcut)

    pooled = (x[..., ::2, ::2] + x[..., 1::2, ::2] + x[..., ::2, 1::2] + x[..., 1::2, 1::2]) / 4
    shortcut = bn(F.conv2d(pooled, sd["0.downsample.1.weight"]), "0.downsample.2")
    y = basic(x, 0, stride, shortcut)
    return basic(y, 1, 1, y)


def test_resnet_d_reference_against_functional_and_not_make_layer():
    torch.manual_seed(0)
    ours = ex02._reference_stage_d(BasicBlock, 64, 128, 2, 2)
    randomize_bn(ours)
    ours.eval()
    sd = ours.state_dict()
    x = torch.randn(2, 64, 12, 10)
    with torch.no_grad():
        assert torch.allclose(ours(x), _stage_by_functional(sd, x, 2), atol=1e-5)
        lesson = make_layer(BasicBlock, 64, 128, 2, 2).eval()  # the same weights, the strided 1x1 shortcut
        plain = {k.replace("downsample.1", "downsample.0").replace("downsample.2", "downsample.1"): v
                 for k, v in sd.items()}
        lesson.load_state_dict(plain, strict=True)
        assert not torch.allclose(ours(x), lesson(x), atol=1e-3)


def _spec_params(expansion, blocks_per_stage, widths, strides, **mistake):
    """The projection parameters counted with a mistake, written independently of the checker."""
    inplanes, total = 64, 0
    for blocks, planes, stride in zip(blocks_per_stage, widths, strides):
        out = planes * (1 if mistake.get("no_expansion") else expansion)
        rule = mistake.get("rule", "both")
        needs = (stride != 1) if rule == "stride" else (inplanes != out) if rule == "channels" else (
            True if rule == "always" else stride != 1 or inplanes != out)
        per_bn, k, bias = mistake.get("per_bn", 2), mistake.get("kernel", 1), mistake.get("bias", 0)
        one = k * inplanes * out + (per_bn + bias) * out + mistake.get("per_projection", 0)
        if needs:
            total += 1 if mistake.get("count") else one
            if mistake.get("every_block"):
                total += (blocks - 1) * (out * out + per_bn * out)
        inplanes = {"stem": 64, "planes": planes}.get(mistake.get("track"), out)
    return total


def _spec_mistake(**mistake):
    return lambda *spec: _spec_params(*spec, **mistake)


def test_projection_params_check():
    assert_verdicts(ex02.q2, reference("02.2", "projection_params"), [
        (_spec_mistake(count=True), "you returned how many projection shortcuts there are"),
        (_spec_mistake(rule="stride"), "you gave a projection only to stages with a stride"),
        (_spec_mistake(rule="channels"), "you gave a projection only to stages that change the channels"),
        (_spec_mistake(rule="always"), "you counted a projection for every stage"),
        (_spec_mistake(every_block=True), "you counted a projection in every block of a stage"),
        (_spec_mistake(per_bn=4), "you counted BatchNorm's running mean and variance"),
        (_spec_mistake(per_bn=4, per_projection=1), "num_batches_tracked"),
        (_spec_mistake(per_bn=0), "BatchNorm's weight and bias are missing"),
        (_spec_mistake(bias=1), "the 1x1 convolution has no bias"),
        (_spec_mistake(kernel=9), "not inplanes x out x 9"),
        (_spec_mistake(track="stem"), "not the stem's 64 channels"),
        (_spec_mistake(track="planes"), "not planes: a Bottleneck stage"),
        (_spec_mistake(no_expansion=True), "a stage outputs planes x expansion channels, not planes"),
        (lambda *spec: _spec_params(*spec) + 1, "for ResNet-50 (expansion 4"),
        (lambda *spec: float(_spec_params(*spec)), "return a whole number"),
    ])


def test_projection_params_reference_against_built_stages():
    """The checker's counts against real modules: torchvision's ResNets, and make_layer stages for the other
    specs, their downsample parameters summed on the meta device."""
    from torchvision.models import resnet18, resnet50

    def downsample_params(net):
        return sum(p.numel() for name, p in net.named_parameters() if ".downsample." in f".{name}")

    with torch.device("meta"):
        assert ex02._projection_params(*dict(ex02._SPEC_CASES)["ResNet-50"]) == downsample_params(resnet50())
        assert ex02._projection_params(*dict(ex02._SPEC_CASES)["ResNet-18"]) == downsample_params(resnet18())
        for _, (expansion, blocks_per_stage, widths, strides) in ex02._SPEC_CASES:
            block = BasicBlock if expansion == 1 else Bottleneck
            inplanes, stages = 64, []
            for blocks, planes, stride in zip(blocks_per_stage, widths, strides):
                stages.append(make_layer(block, inplanes, planes, blocks, stride))
                inplanes = planes * expansion
            built = downsample_params(nn.Sequential(*stages))
            assert ex02._projection_params(expansion, blocks_per_stage, widths, strides) == built
