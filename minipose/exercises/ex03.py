"""Exercises of lesson 03, the ResNet backbone (written directly, not generated)."""
from __future__ import annotations

import functools

import torch
from torch import nn

from minipose.backbone import RESNET_SPEC, ResNetBackbone
from minipose.checks import randomize_bn
from minipose.exercises import Exercise, Mistake, Question, call

# depth, batch, height, width: the paper's crop, non-square crops (H != W), every depth, ResNet-18 included
_SHAPE_CASES = [(50, 32, 256, 256), (18, 2, 256, 192), (34, 1, 224, 320), (101, 4, 384, 288), (152, 1, 192, 128)]


@functools.lru_cache(maxsize=None)
def _true_shape(depth: int, batch: int, height: int, width: int) -> tuple[int, int, int, int]:
    """The backbone's real output shape, from modules on the meta device (shapes only, no memory, no weights).

    The channels come from ResNetBackbone(depth); the height and width from running a ResNet-18, whose strides
    are those of every depth (running ResNet-152 itself, even on meta tensors, would take half a second).
    """
    with torch.device("meta"):
        channels = ResNetBackbone(depth).out_channels
        _, _, h, w = ResNetBackbone(18)(torch.empty(batch, 3, height, width)).shape
    return batch, channels, h, w


def _check_backbone_output_shape(fn) -> str:
    for depth, b, height, width in _SHAPE_CASES:
        want = _true_shape(depth, b, height, width)
        got = call(fn, depth, b, height, width)
        name = f"ResNet-{depth} on {b} crop(s) of {height} x {width} (H x W)"
        if not isinstance(got, (tuple, list, torch.Size)):
            raise Mistake(f"return the shape as a tuple (B, C, H, W); for {name} you returned "
                          f"{type(got).__name__} {got!r:.40}")
        if len(got) != 4:
            raise Mistake(f"for {name} you returned {len(got)} numbers {tuple(got)}; a feature map is "
                          "B x C x H x W: four numbers, the batch first")
        if any(isinstance(v, float) for v in got):
            raise Mistake(f"for {name} you returned {tuple(got)}: sizes are whole numbers, use integer division "
                          "(height // 32)")
        got = tuple(got)
        if got == want:
            continue
        c, h, w = want[1:]
        if got == (b, c, w, h):
            raise Mistake(f"for {name} you returned {got}: height and width are swapped; PyTorch feature maps are "
                          "B x C x H x W, height before width")
        if got[2:] == (height // 16, width // 16):
            raise Mistake(f"for {name} you returned {got}: /16 is the stride after layer3; the backbone halves the "
                          "resolution five times (conv1, max-pool, layer2, layer3, layer4), so it is /32")
        if got[2:] == (h, w) and got[0] == b:
            if got[1] == 2048 and c == 512:
                raise Mistake(f"for {name} you returned {got[1]} channels: ResNet-18 and -34 are built of "
                              "BasicBlocks (expansion 1), so layer4 outputs 512 channels; only the Bottleneck "
                              "depths 50, 101 and 152 have 512 x 4 = 2048")
            if got[1] == 512 and c == 2048:
                raise Mistake(f"for {name} you returned 512 channels: ResNet-{depth} is built of Bottlenecks, which "
                              "expand by 4, so layer4 outputs 512 x 4 = 2048 channels")
            raise Mistake(f"for {name} you returned {got[1]} channels; layer4 outputs 512 x block.expansion = {c}")
        if got[0] != b:
            raise Mistake(f"for {name} you returned {got}: the batch size comes first and does not change")
        raise Mistake(f"for {name} you returned {got}, expected {want}")
    return ("Right for all five depths, square and non-square crops, checked against ResNetBackbone's real output "
            "shapes (on the meta device).")


q1 = Exercise(
    "03.1", "the backbone's output shape", "backbone_output_shape", _check_backbone_output_shape,
    refuses=("minipose.backbone.ResNetBackbone", "torchvision.models.resnet.ResNet"),
    hints=[
        "The spatial size is divided by 2 in conv1, the max-pool, layer2, layer3 and layer4: by 32 in all.",
        "The channels are 512 * block.expansion: RESNET_SPEC[resnet_type][0] is the block type "
        "(BasicBlock.expansion is 1, Bottleneck.expansion is 4).",
    ],
)


def _layers(stem: nn.Module, kind: type) -> list[nn.Module]:
    return [m for m in stem.modules() if isinstance(m, kind)]


def _reference_stem() -> tuple[ResNetBackbone, nn.Module]:
    """A ResNet-18 with random (not tiny) stem weights and non-trivial BatchNorm statistics."""
    torch.manual_seed(3)
    net = ResNetBackbone(18)
    with torch.no_grad():
        net.conv1.weight.normal_(0.0, 0.1)
    randomize_bn(net.bn1)
    return net.eval(), nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)


def _diagnose_stem(stem: nn.Module, got_shape: tuple, want_shape: tuple, x: torch.Tensor, got: torch.Tensor,
                   net: ResNetBackbone) -> None:
    """Name what differs from conv1 7x7/2 p3 no bias -> BN -> ReLU -> max-pool 3/2 p1."""
    conv = _layers(stem, nn.Conv2d)[0]
    if conv.bias is not None:
        raise Mistake("your 7x7 convolution has a bias: use bias=False. BatchNorm follows and its shift replaces the "
                      "bias, and the ImageNet weights have no conv1.bias to load")
    if tuple(conv.stride) != (2, 2):
        raise Mistake(f"your 7x7 convolution has stride {tuple(conv.stride)}, so the output is too large; the stem's "
                      "convolution has stride 2 (256 -> 128)")
    if tuple(conv.padding) != (3, 3):
        raise Mistake(f"your 7x7 convolution has padding {conv.padding}; it needs padding=3 (half the kernel) so that "
                      "256 -> 128 exactly")
    pools = _layers(stem, nn.MaxPool2d)
    if not pools:
        if _layers(stem, nn.AvgPool2d):
            raise Mistake("the stem ends with a max-pool, not an average pool: nn.MaxPool2d(kernel_size=3, stride=2, "
                          "padding=1)")
        if len(got_shape) == 4 and got_shape[2:] == tuple(2 * s for s in want_shape[2:]):
            raise Mistake(f"your output is {got_shape}, twice too large: the max-pool is missing. Add "
                          "nn.MaxPool2d(kernel_size=3, stride=2, padding=1) after the ReLU; the stem divides by 4")
    for pool in pools:
        if (pool.kernel_size, pool.stride, pool.padding) not in [(3, 2, 1), ((3, 3), (2, 2), (1, 1))]:
            raise Mistake(f"your max-pool has kernel_size={pool.kernel_size}, stride={pool.stride}, "
                          f"padding={pool.padding}; ResNet's is nn.MaxPool2d(kernel_size=3, stride=2, padding=1)")
    if got_shape != want_shape:
        raise Mistake(f"on a 1 x 3 x 256 x 192 image your stem returned {got_shape}, expected {want_shape} "
                      "(a quarter of 256 x 192)")
    with torch.no_grad():
        y = net.bn1(net.conv1(x))
        variants = {
            "the ReLU is missing (your output has negative values): conv -> BN -> ReLU -> max-pool":
                net.maxpool(y),
            "the ReLU comes before the BatchNorm, whose shift makes values negative again; the order is conv -> BN "
            "-> ReLU -> max-pool": net.maxpool(net.bn1(torch.relu(net.conv1(x)))),
        }
    for message, wrong in variants.items():
        if torch.allclose(got, wrong, rtol=1e-4, atol=1e-4):
            raise Mistake(message)
    raise Mistake("with the backbone's conv1 and bn1 weights your stem computes something else; the order is "
                  "conv1 -> bn1 -> ReLU -> max-pool")


def _check_stem(fn) -> str:
    stem = call(fn)
    if not isinstance(stem, nn.Module):
        raise Mistake(f"return an nn.Sequential (a module); you returned {type(stem).__name__} {stem!r:.40}")
    convs, bns = _layers(stem, nn.Conv2d), _layers(stem, nn.BatchNorm2d)
    if len(convs) != 1:
        raise Mistake(f"your stem has {len(convs)} convolutions; it has one, nn.Conv2d(3, 64, kernel_size=7, "
                      "stride=2, padding=3, bias=False)")
    conv = convs[0]
    if (conv.in_channels, conv.out_channels) != (3, 64) or tuple(conv.kernel_size) != (7, 7):
        raise Mistake(f"your convolution is {conv.in_channels} -> {conv.out_channels} channels with a "
                      f"{conv.kernel_size} kernel; the stem's is 3 -> 64 with a 7x7 kernel")
    if len(bns) != 1 or bns[0].num_features != 64:
        raise Mistake("the stem has one BatchNorm, nn.BatchNorm2d(64), right after the convolution")
    net, _ = _reference_stem()
    with torch.no_grad():  # the backbone's stem weights, by type: your module names may differ
        conv.weight.copy_(net.conv1.weight)
        bn = bns[0]
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(bn, name).copy_(getattr(net.bn1, name))
        bn.eps = net.bn1.eps
    stem.eval()
    torch.manual_seed(4)
    x = torch.randn(1, 3, 256, 192)  # non-square
    with torch.no_grad():
        got = call(stem, x.clone())
        want = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    if not isinstance(got, torch.Tensor):
        raise Mistake(f"your stem returned {type(got).__name__}, not a tensor")
    if got.shape == want.shape and torch.allclose(got, want, rtol=1e-4, atol=1e-5):
        return ("With ResNetBackbone's conv1 and bn1 weights (random, BatchNorm statistics included), your stem "
                "gives the same 1 x 64 x 64 x 48 output for a 256 x 192 image.")
    _diagnose_stem(stem, tuple(got.shape), tuple(want.shape), x, got, net)
    return ""  # not reached: _diagnose_stem always raises


q2 = Exercise(
    "03.2", "the stem", "my_stem", _check_stem,
    refuses=("minipose.backbone.ResNetBackbone", "torchvision.models.resnet.ResNet"),
    hints=[
        "Four modules in an nn.Sequential: a 7x7 convolution 3 -> 64, BatchNorm2d(64), ReLU, a 3x3 max-pool.",
        "Both the convolution and the max-pool have stride 2; their paddings are 3 and 1 (half the kernel, rounded "
        "down). No bias on the convolution: BatchNorm follows.",
    ],
)

q3 = Question(
    "03.3", "reading the input errors",
    hints=["Run ResNetBackbone(50)(torch.randn(3, 256, 256)) and ResNetBackbone(50)(torch.randn(1, 256, 256, 3))."],
    answer="torch.randn(3, 256, 256) has no batch dimension: check_image_batch says it expected B x 3 x H x W and "
           "suggests img.unsqueeze(0). torch.randn(1, 256, 256, 3) is channels-last, as images load from disk: it "
           "finds 256 channels in dim 1 and suggests img.permute(0, 3, 1, 2) (and expand / [:, :3] for grayscale "
           "and RGBA). Without the check, PyTorch's own errors come from deeper inside: the unbatched image passes "
           "conv1 (convolutions accept C x H x W) and fails in bn1 with 'expected 4D input (got 3D input)'; the "
           "channels-last one fails in conv1, 'expected input[1, 256, 256, 3] to have 3 channels, but got 256 "
           "channels instead'. True, but neither says what to do.",
)

q4 = Question(
    "03.4", "crops of other sizes",
    hints=["Apply floor((n + 2p - k) / s) + 1 to 250 for conv1, the max-pool and the three stride-2 stages."],
    answer="A 256 x 192 crop gives 8 x 6 features, 224 x 224 gives 7 x 7 (the ImageNet size). 250 x 250 would "
           "actually run: 250 -> 125 -> 63 -> 63 -> 32 -> 16 -> 8, the same 8 x 8 as a 256 crop, because every "
           "strided layer rounds down. That is the problem: the feature grid no longer lines up with the image "
           "(a heatmap cell would stand for 250 / 64 = 3.9 pixels, while the code converts with the factor "
           "input / output = 4), so predictions would be silently off. Refusing sizes that are not multiples of 32 "
           "turns that silent error into a message that says to resize or crop.",
)

q5 = Question(
    "03.5", "why the tiny initialisation hardly matters",
    hints=["Compare ResNetBackbone(50).eval() and .train() on torch.randn(2, 3, 256, 256). What does BatchNorm do "
           "in each mode?"],
    answer="With std 0.001 weights and fresh BatchNorms in eval mode (running mean 0, variance 1: the identity), "
           "every convolution shrinks the signal: layer4's output has a standard deviation of about 1e-8 for "
           "ResNet-18 (4e-10 for ResNet-50). In training mode BatchNorm divides by the batch's own standard "
           "deviation, so the scale is restored after every convolution (std about 1). And for training, "
           "init_weights() replaces every backbone weight by ImageNet's anyway: only the head keeps the official "
           "initialisation.",
)
