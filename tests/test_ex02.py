"""Exercise checks of lesson 02 (stages): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

from torch import nn

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import ex02


def _projection(inplanes, outplanes, stride):
    return nn.Sequential(nn.Conv2d(inplanes, outplanes, kernel_size=1, stride=stride, bias=False),
                         nn.BatchNorm2d(outplanes))


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
    out = planes * block.expansion
    down = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False)) if _needs(block, inplanes, planes, stride) \
        else None
    return _stage(block, inplanes, planes, blocks, stride, down)


def projection_3x3(block, inplanes, planes, blocks, stride=1):
    out = planes * block.expansion
    down = nn.Sequential(nn.Conv2d(inplanes, out, 3, stride, padding=1, bias=False), nn.BatchNorm2d(out)) \
        if _needs(block, inplanes, planes, stride) else None
    return _stage(block, inplanes, planes, blocks, stride, down)


def one_block_too_many(block, inplanes, planes, blocks, stride=1):
    down = _projection(inplanes, planes * block.expansion, stride) if _needs(block, inplanes, planes, stride) else None
    return _stage(block, inplanes, planes, blocks + 1, stride, down)


def expanded_planes(block, inplanes, planes, blocks, stride=1):  # passes planes * expansion as the block's planes
    out = planes * block.expansion
    down = _projection(inplanes, out, stride) if _needs(block, inplanes, planes, stride) else None
    return nn.Sequential(block(inplanes, out, stride, down), *[block(out, out) for _ in range(1, blocks)])


def a_list(block, inplanes, planes, blocks, stride=1):
    return list(reference("02.1", "my_make_layer")(block, inplanes, planes, blocks, stride))


def renamed_shortcut(block, inplanes, planes, blocks, stride=1):  # right function, names the checkpoints lack
    stage = reference("02.1", "my_make_layer")(block, inplanes, planes, blocks, stride)
    if stage[0].downsample is not None:
        conv, bn = stage[0].downsample
        stage[0].downsample = nn.Sequential()
        stage[0].downsample.add_module("conv", conv)
        stage[0].downsample.add_module("bn", bn)
    return stage


def test_make_layer_check():
    assert_verdicts(ex02.q1, reference("02.1", "my_make_layer"), [
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
    ])


def test_count_projection_shortcuts_check():
    blocks = {18: 8, 34: 16, 50: 16, 101: 33, 152: 50}
    assert_verdicts(ex02.q2, reference("02.2", "count_projection_shortcuts"), [
        (lambda depth: 4, "4 for every depth counts the stages"),
        (lambda depth: 3, "3 for every depth counts the stride-2 stages"),
        (lambda depth: blocks[depth], "that is the number of blocks"),
        (lambda depth: 6 if depth < 50 else 8, "twice the answer"),
        (lambda depth: 4 if depth < 50 else 3, "for ResNet-18 you returned 4"),
        (lambda depth: "3", "return a whole number"),
    ])
