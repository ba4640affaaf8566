"""Exercise checks of lesson 03 (backbone): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import torch
from torch import nn

from exercise_helpers import assert_verdicts, reference
from minipose.backbone import ResNetBackbone
from minipose.exercises import PASSED, ex03


def test_layer2_field_prediction():
    assert_verdicts(ex03.q0, reference("03.0", "layer2_field"), [
        (23, "not k - 1"),
        (109, "accumulated *before* it"),
        (47, "you left out the max-pool"),
        (179, "a bottleneck has one 3x3 convolution"),
        (35, "that is the field after layer1"),
        (8, "8 is layer2's stride"),
        (99, "99 is not it"),
        ((91, 91), "give one number"),
        (90.5, "a count of input pixels is a whole number"),
    ])
    assert ex03.q0.result(91.0).status == PASSED
    assert ex03.q0.result("91").status == PASSED  # a number written as text counts too


def _field_by_walking_the_modules(net, upto):
    """The field of one unit, counted the other way round: from one output pixel back to the input, each layer
    with kernel k and stride s turns a span of n pixels into (n - 1) * s + k."""
    layers = [(7, 2), (3, 2)]
    for name in ["layer1", "layer2", "layer3", "layer4"][:upto]:
        for block in getattr(net, name):
            layers += [(c.kernel_size[0], c.stride[0]) for n, c in block.named_children() if n.startswith("conv")]
    span = 1
    for kernel, stride in reversed(layers):
        span = (span - 1) * stride + kernel
    return span


def test_layer2_field_reference_against_the_real_backbone():
    with torch.device("meta"):
        net = ResNetBackbone(50)
    assert ex03._field(ex03._resnet50_chain()) == _field_by_walking_the_modules(net, 2) == 91
    assert _field_by_walking_the_modules(net, 4) == 427  # the number lesson 03 prints for layer4


def _shape(depth, stage, b, h, w, expansion=None, layer1_strides=False, extra_halving=False, start=64):
    """A student's stage_shape, written independently of the checker, with one thing done differently."""
    if stage in ("stem", "max-pool"):
        n = 1 if stage == "stem" else 2
        return (b, 64, h // 2 ** n, w // 2 ** n)
    k = int(stage[-1])
    expansion = (4 if depth >= 50 else 1) if expansion is None else expansion
    n = 2 + (k - 1) + (1 if layer1_strides or extra_halving else 0)
    return (b, start * 2 ** (k - 1) * expansion, h // 2 ** n, w // 2 ** n)


def test_stage_shape_check():
    assert_verdicts(ex03.q1, reference("03.1", "stage_shape"), [
        (lambda d, s, b, h, w: _shape(d, s, b, h, w, expansion=4), "ResNet-18 and -34 are built of BasicBlocks"),
        (lambda d, s, b, h, w: _shape(d, s, b, h, w, expansion=1), "is built of Bottlenecks, which expand by 4"),
        (lambda d, s, b, h, w: _shape(d, s, b, h, w, layer1_strides=s == "layer1"), "layer1 does not stride"),
        (lambda d, s, b, h, w: _shape(d, s, b, h, w, extra_halving=s in ("layer2", "layer3", "layer4")),
         "one halving too many"),
        (lambda d, s, b, h, w: _shape(d, s, b, h, w, start=128), "the planes are 64 in layer1 and double"),
        (lambda d, s, b, h, w: (b, 256 if d >= 50 else 64) + _shape(d, s, b, h, w)[2:]
         if s in ("stem", "max-pool") else _shape(d, s, b, h, w), "makes 64 channels for every depth"),
        (lambda d, s, b, h, w: _shape(d, s, b, h, w)[:2] + (h // 2, w // 2) if s == "max-pool"
         else _shape(d, s, b, h, w), "the channels are right, but the size after the max-pool"),
        (lambda d, s, b, h, w: _shape(d, s, b, w, h), "height and width are swapped"),
        (lambda d, s, b, h, w: tuple(float(v) for v in _shape(d, s, b, h, w)), "use integer division"),
        (lambda d, s, b, h, w: _shape(d, s, b, h, w)[1:], "four numbers, the batch first"),
        (lambda d, s, b, h, w: (1,) + _shape(d, s, b, h, w)[1:], "the batch size comes first"),
        (lambda d, s, b, h, w: f"{b}x{h}", "return the shape as a tuple"),
    ])


def test_stage_shape_reference_against_running_the_backbones():
    """The checker's shapes, against each backbone run stage by stage on a real (small) batch, for every stage."""
    from minipose.backbone import ResNetBackbone

    for depth in (18, 50):
        net = ResNetBackbone(depth).eval()
        x = torch.zeros(1, 3, 64, 96)
        with torch.no_grad():
            shapes = {"stem": net.relu(net.bn1(net.conv1(x)))}
            shapes["max-pool"] = y = net.maxpool(shapes["stem"])
            for name in ("layer1", "layer2", "layer3", "layer4"):
                shapes[name] = y = getattr(net, name)(y)
        for stage, out in shapes.items():
            assert ex03._true_shape(depth, stage, 1, 64, 96) == tuple(out.shape), (depth, stage)
    assert {s for _, s, *_ in ex03._SHAPE_CASES} == set(ex03._STAGES)


def _deep(widths=(32, 32, 64), strides=(2, 1, 1), kernel=3, padding=1, bias=False, order=None, pool=None):
    """A deep stem with one thing done differently; `order` lists the module kinds ("c", "b", "r", "p")."""
    convs, cin = [], 3
    for cout, stride in zip(widths, strides):
        convs.append(nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=bias))
        cin = cout
    bns = [nn.BatchNorm2d(c.out_channels) for c in convs]
    order = order or "cbr" * len(convs) + "p"
    modules, i, j = [], 0, 0
    for kind in order:
        if kind == "c":
            modules.append(convs[i])
            i += 1
        elif kind == "b":
            modules.append(bns[j])
            j += 1
        elif kind == "r":
            modules.append(nn.ReLU())
        else:
            modules.append(pool or nn.MaxPool2d(3, 2, 1))
    return lambda: nn.Sequential(*modules)


def _nested():
    stem = _deep()()
    return nn.Sequential(nn.Sequential(*stem[:3]), nn.Sequential(*stem[3:6]), nn.Sequential(*stem[6:]))


def _seven_by_seven():
    return nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))


class _Doubled(nn.Sequential):  # the right modules, a forward of its own
    def forward(self, x):
        return 2 * super().forward(x)


def test_deep_stem_check():
    assert_verdicts(ex03.q2, reference("03.2", "my_deep_stem"), [
        (_seven_by_seven, "that is the lesson's stem, one 7x7 convolution"),
        (_deep(widths=(32, 64)), "your stem has 2 convolutions"),
        (_deep(kernel=5, padding=2), "all three are 3x3"),
        (_deep(widths=(64, 64, 64)), "the first two have 32"),
        (_deep(widths=(32, 64, 64)), "32 -> 64, 64 -> 64"),
        (_deep(bias=True), "use bias=False"),
        (_deep(strides=(2, 2, 2)), "the stem divides by 16"),
        (_deep(strides=(1, 1, 2)), "the stride is on the third convolution"),
        (_deep(strides=(1, 1, 1)), "they are 2, 1, 1"),
        (_deep(padding=0), "each 3x3 needs padding=1"),
        (_deep(order="cbr" * 3), "the max-pool is missing"),
        (_deep(pool=nn.AvgPool2d(3, 2, 1)), "a max-pool, not an average pool"),
        (_deep(pool=nn.MaxPool2d(2, 2)), "the stem keeps nn.MaxPool2d(kernel_size=3, stride=2, padding=1)"),
        (lambda: nn.Sequential(*_deep()(), nn.Dropout(0.1)), "your stem holds Dropout"),
        (_deep(order="cbr" + "crb" + "cbrp"), "the second ReLU comes before its BatchNorm"),
        (_deep(order="cbr" + "cb" + "cbrp"), "the ReLU after the second BatchNorm is missing"),
        (_deep(order="cbr" * 3 + "pr"), "the stem is (conv, bn, relu) three times, then pool"),
        (lambda: _Doubled(*_deep()()), "computes something else"),
        (lambda: [nn.Conv2d(3, 32, 3, 2, 1, bias=False)], "return the stem as an nn.Module"),
    ])


class _OwnStem(nn.Module):
    """A student's own design: named blocks, the pool registered first but used last."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU())
            for i, o, s in [(3, 32, 2), (32, 32, 1), (32, 64, 1)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.pool(x)


def test_deep_stem_of_any_design_passes():
    """Names are the student's choice: nested blocks and a module of one's own pass when they compute the stem."""
    for design in (_nested, _OwnStem):
        result = ex03.q2.result(design)
        assert result.passed, result.message


def test_deep_stem_reference_against_modules_and_by_hand():
    """The functional reference equals the stem built from modules with the same weights; its shapes and
    parameter count are those worked out by hand."""
    stem = _deep()().eval()
    sd = ex03._deep_stem_weights()
    stem.load_state_dict(sd, strict=True)
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        assert torch.allclose(stem(x), ex03._deep_stem_reference(sd, x), atol=1e-5)
        assert ex03._deep_stem_reference(sd, torch.randn(1, 3, 256, 256)).shape == (1, 64, 64, 64)
        assert not torch.allclose(stem(x), ex03._deep_stem_reference(sd, x, strides=(1, 1, 2)), atol=1e-3)
    params = sum(v.numel() for k, v in sd.items() if k.endswith(("weight", "bias")))
    assert params == 3 * 32 * 9 + 32 * 32 * 9 + 32 * 64 * 9 + 2 * (32 + 32 + 64) == 28_768
