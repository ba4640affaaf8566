"""Exercise checks of lesson 01 (residual blocks): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import PASSED, ex01


def test_predicted_shape_check():
    assert_verdicts(ex01.q0, reference("01.0", "predicted_shape"), [
        ((32, 64, 32, 32), "the channels change"),
        ((32, 128, 64, 64), "stride 2 halves the height and width"),
        ((32, 128, 16, 16), "halved once, not twice"),
        ((128, 32, 32), "four axes"),
        ("32 x 128 x 32 x 32", "four whole numbers"),
        ((16, 128, 32, 32), "never changes the batch size"),
    ])
    assert ex01.q0.result(torch.Size([32, 128, 32, 32])).status == PASSED  # what .shape prints also counts


def preact(variant="", bn1_after_conv=False, bn3_wide=False, biases=False, rename=False):
    """The lesson's solution with one thing done differently (a subclass, as a student might write it)."""
    Solution = reference("01.1", "MyPreActBottleneck")

    class Wrong(Solution):
        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__(inplanes, planes, 1 if variant == "stride on conv1" else stride, downsample)
            if variant == "stride on conv1":
                self.conv1.stride = (stride, stride)
            if bn1_after_conv:
                self.bn1 = nn.BatchNorm2d(planes)
            if bn3_wide:
                self.bn3 = nn.BatchNorm2d(planes * 4)
            if biases:
                self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1)
            if rename:
                self.norm1 = self.bn1
                del self.bn1

        def forward(self, x):
            pre = torch.relu(self.bn1(x))
            shortcut = x if self.downsample is None else self.downsample(x if variant == "shortcut from x" else pre)
            out = self.conv1(pre)
            out = self.conv2(torch.relu(self.bn2(out)))
            out = self.conv3(torch.relu(self.bn3(out))) + shortcut
            return torch.relu(out) if variant == "relu after sum" else out
    return Wrong


class PostActivation(nn.Module):
    """The lesson's block order, BN after each convolution: the shapes of bn1 and bn3 give it away."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.bn3(self.conv3(out)) + shortcut)


def test_preact_check():
    assert_verdicts(ex01.q1, reference("01.1", "MyPreActBottleneck"), [
        (preact("relu after sum"), "there is a ReLU after the sum"),
        (preact("shortcut from x"), "the projection shortcut reads the raw input x"),
        (preact("stride on conv1"), "the stride is on conv1"),
        (PostActivation, "bn1 has 16 channels, so it sits after conv1"),
        (preact(bn3_wide=True), "bn3 has 64 channels"),
        (preact(biases=True), "your convolutions have biases (conv2.bias)"),
        (preact(rename=True), "missing: bn1; unexpected: norm1"),
        (lambda inplanes, planes, stride, downsample: "a block", "should build an nn.Module"),
    ])


def test_preact_reference_against_the_unit_written_as_modules():
    """The checker's functional reference and the lesson's nn.Module solution agree (two ways to write Fig. 4(e)),
    and it is not the lesson's post-activation block: on the same weights, the outputs differ."""
    torch.manual_seed(0)
    block = reference("01.1", "MyPreActBottleneck")(32, 16, 2, nn.Sequential(nn.Conv2d(32, 64, 1, 2, bias=False)))
    block.eval()
    x = torch.randn(2, 32, 8, 8)
    sd = block.state_dict()
    with torch.no_grad():
        assert torch.allclose(block(x), ex01._preact_reference(sd, x, 2, True), atol=1e-5)
        assert not torch.allclose(block(x), ex01._preact_reference(sd, x, 2, True, "relu after sum"), atol=1e-3)


def _torchvision_count(inplanes, planes, stride):
    """torchvision's own Bottleneck, with the projection its _make_layer adds when the shape changes."""
    downsample = None
    if stride != 1 or inplanes != planes * 4:
        downsample = nn.Sequential(tv_resnet.conv1x1(inplanes, planes * 4, stride), nn.BatchNorm2d(planes * 4))
    block = tv_resnet.Bottleneck(inplanes, planes, stride, downsample)
    return sum(p.numel() for p in block.parameters())


def test_params_reference_against_torchvision():
    for case in [(256, 64, 1), (64, 64, 1), (256, 128, 2), (1024, 512, 2), (2048, 512, 1), (96, 24, 1)]:
        assert ex01._bottleneck_params(*case) == _torchvision_count(*case), case
    assert ex01._bottleneck_params(256, 64, 1) == 70_400  # the count lesson 01 prints


def _params(buffers=False, projection="when needed", norms=True, biases=False, conv2_1x1=False):
    def count(inplanes, planes, stride=1):
        width = planes * 4
        needs = {"when needed": stride != 1 or inplanes != width, "never": False, "always": True}[projection]
        total = inplanes * planes + planes * planes * (1 if conv2_1x1 else 9) + planes * width
        channels = [planes, planes, width] + ([width] if needs else [])
        total += needs * inplanes * width
        total += sum(channels) * ((4 if buffers else 2) if norms else 0)
        total += sum(channels) if biases else 0
        return total
    return count


def test_params_check():
    assert_verdicts(ex01.q2, reference("01.2", "bottleneck_params"), [
        (_params(projection="never"), "needs a projection shortcut"),
        (_params(projection="always"), "its shortcut is the identity"),
        (_params(buffers=True), "running mean and variance"),
        (_params(norms=False), "BatchNorm's weight and bias are missing"),
        (_params(biases=True), "the convolutions have no bias"),
        (_params(conv2_1x1=True), "conv2 is a 3x3 convolution"),
        (lambda inplanes, planes, stride=1: 1.5, "return a whole number"),
    ])


def test_checks_leave_the_default_dtype_and_grad_mode_alone():
    ex01.q1.result(reference("01.1", "MyPreActBottleneck"))
    assert torch.is_grad_enabled() and torch.get_default_dtype() == torch.float32
