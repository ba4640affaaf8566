"""Exercise checks of lesson 03 (backbone): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

from torch import nn

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import ex03


def _channels(depth):
    return 2048 if depth >= 50 else 512


def test_backbone_output_shape_check():
    assert_verdicts(ex03.q1, reference("03.1", "backbone_output_shape"), [
        (lambda depth, b, h, w: (b, 2048, h // 32, w // 32), "ResNet-18 and -34 are built of BasicBlocks"),
        (lambda depth, b, h, w: (b, 512, h // 32, w // 32), "is built of Bottlenecks, which expand by 4"),
        (lambda depth, b, h, w: (b, _channels(depth), h // 16, w // 16), "/16 is the stride after layer3"),
        (lambda depth, b, h, w: (b, _channels(depth), w // 32, h // 32), "height and width are swapped"),
        (lambda depth, b, h, w: (b, _channels(depth), h / 32, w / 32), "use integer division"),
        (lambda depth, b, h, w: (_channels(depth), h // 32, w // 32), "a feature map is B x C x H x W: four numbers"),
        (lambda depth, b, h, w: (b, 1024 if depth >= 50 else 256, h // 32, w // 32), "layer4 outputs 512 x "
                                                                                       "block.expansion = 2048"),
        (lambda depth, b, h, w: (1, _channels(depth), h // 32, w // 32), "the batch size comes first"),
        (lambda depth, b, h, w: f"{b}x{_channels(depth)}", "return the shape as a tuple"),
    ])


def _stem(conv=None, order=("conv", "bn", "relu", "pool"), pool=None):
    parts = {"conv": conv or nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False),
             "bn": nn.BatchNorm2d(64), "relu": nn.ReLU(), "pool": pool or nn.MaxPool2d(3, 2, 1)}
    return nn.Sequential(*[parts[name] for name in order])


def test_stem_check():
    assert_verdicts(ex03.q2, reference("03.2", "my_stem"), [
        (lambda: _stem(order=("conv", "bn", "relu")), "twice too large: the max-pool is missing"),
        (lambda: _stem(conv=nn.Conv2d(3, 64, 7, stride=2, padding=0, bias=False)), "it needs padding=3"),
        (lambda: _stem(conv=nn.Conv2d(3, 64, 7, stride=2, padding=3)), "has a bias: use bias=False"),
        (lambda: _stem(conv=nn.Conv2d(3, 64, 7, stride=1, padding=3, bias=False)), "has stride (1, 1)"),
        (lambda: _stem(order=("conv", "bn", "pool")), "the ReLU is missing"),
        (lambda: _stem(order=("conv", "relu", "bn", "pool")), "the ReLU comes before the BatchNorm"),
        (lambda: _stem(pool=nn.MaxPool2d(2, 2)), "ResNet's is nn.MaxPool2d(kernel_size=3, stride=2, padding=1)"),
        (lambda: _stem(pool=nn.AvgPool2d(3, 2, 1)), "a max-pool, not an average pool"),
        (lambda: _stem(conv=nn.Conv2d(3, 64, 3, 2, 1, bias=False)), "the stem's is 3 -> 64 with a 7x7 kernel"),
        (lambda: nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.ReLU(), nn.MaxPool2d(3, 2, 1)),
         "one BatchNorm"),
        (lambda: [nn.Conv2d(3, 64, 7, 2, 3, bias=False)], "return an nn.Sequential (a module)"),
    ])


def test_relu_and_max_pool_commute_so_either_order_passes():
    # max-pool and ReLU are both monotone: relu(maxpool(y)) == maxpool(relu(y)), so this stem is right too.
    assert ex03.q2.result(lambda: _stem(order=("conv", "bn", "pool", "relu"))).passed
