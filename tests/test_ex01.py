"""Exercise checks of lesson 01 (residual blocks): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import torch
from torch import nn

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import ex01


def bottleneck(stride_on="conv2", relu_before_add=False, final_relu=True, residual=True, use_downsample=True,
               bias=False, expand=True, expansion=4, shortcut_name="downsample", skip=None, relu_after_bn2=True):
    """A bottleneck written independently of the checker, with one chosen mistake."""

    class Block(nn.Module):
        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            width = planes * 4 if expand else planes
            self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=stride if stride_on == "conv1" else 1, bias=bias)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride if stride_on == "conv2" else 1, padding=1,
                                   bias=bias)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, width, 1, bias=bias)
            self.bn3 = nn.BatchNorm2d(width)
            setattr(self, shortcut_name, downsample)

        def forward(self, x):
            shortcut = getattr(self, shortcut_name)
            identity = shortcut(x) if shortcut is not None and use_downsample else x
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out = torch.relu(out) if relu_after_bn2 else out
            out = self.conv3(out)
            out = out if skip == "bn3" else self.bn3(out)
            if relu_before_add:
                out = torch.relu(out)
            if residual:
                out = out + identity
            return torch.relu(out) if final_relu else out

    Block.expansion = expansion
    return Block


def test_bottleneck_check():
    assert_verdicts(ex01.q1, reference("01.1", "MyBottleneck"), [
        (bottleneck(stride_on="conv1"), "He et al.'s original"),
        (bottleneck(relu_before_add=True), "a ReLU is applied to bn3's output before the addition"),
        (bottleneck(final_relu=False), "the final ReLU is missing"),
        (bottleneck(residual=False), "there is no residual addition"),
        (bottleneck(use_downsample=False), "self.downsample is stored but never applied"),
        (bottleneck(bias=True), "your convolutions have biases (conv1.bias, conv2.bias, conv3.bias)"),
        (bottleneck(expand=False), "conv3.weight has shape (16, 16, 1, 1)"),
        (bottleneck(expansion=1, expand=True), "expansion is 1"),
        (bottleneck(shortcut_name="shortcut"), "the state-dict names differ"),
        (bottleneck(skip="bn3"), "forward never calls self.bn3"),
        (bottleneck(relu_after_bn2=False), "the ReLU after bn2 is missing"),
        (bottleneck(stride_on="nowhere"), "your conv2 has stride (1, 1)"),
    ])


def basic_block(stride_on="conv1", relu_before_add=False, final_relu=True, residual=True, use_downsample=True,
                bias=False, expansion=1, padding=1, relu_after_bn1=True):
    class Block(nn.Module):
        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride if stride_on == "conv1" else 1,
                                   padding=padding, bias=bias)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride if stride_on == "conv2" else 1, padding=1,
                                   bias=bias)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            identity = self.downsample(x) if self.downsample is not None and use_downsample else x
            out = self.bn1(self.conv1(x))
            out = torch.relu(out) if relu_after_bn1 else out
            out = self.bn2(self.conv2(out))
            if relu_before_add:
                out = torch.relu(out)
            if residual:
                out = out + identity
            return torch.relu(out) if final_relu else out

    Block.expansion = expansion
    return Block


class BlockFunction:
    """Not a class of modules: a function returning a tensor."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        pass


def test_basic_block_check():
    assert_verdicts(ex01.q2, reference("01.2", "MyBasicBlock"), [
        (basic_block(stride_on="conv2"), "in BasicBlock it belongs on conv1"),
        (basic_block(relu_before_add=True), "a ReLU is applied to bn2's output before the addition"),
        (basic_block(final_relu=False), "the final ReLU is missing"),
        (basic_block(residual=False), "there is no residual addition"),
        (basic_block(use_downsample=False), "self.downsample is stored but never applied"),
        (basic_block(bias=True), "your convolutions have biases"),
        (basic_block(expansion=4), "expansion is 4"),
        (basic_block(padding=0), "conv1 is a 3x3 convolution with padding=(0, 0)"),
        (basic_block(relu_after_bn1=False), "the ReLU after bn1 is missing"),
        (BlockFunction, "must build an nn.Module"),
    ])


def test_a_bottleneck_is_not_a_basic_block():
    """Handing the wrong kind of block to a check names the expansion first."""
    assert "expansion is 4" in ex01.q2.result(reference("01.1", "MyBottleneck")).message
    assert "expansion is 1" in ex01.q1.result(reference("01.2", "MyBasicBlock")).message


def test_checks_leave_the_default_dtype_and_grad_mode_alone():
    ex01.q1.result(reference("01.1", "MyBottleneck"))
    assert torch.is_grad_enabled() and torch.get_default_dtype() == torch.float32
