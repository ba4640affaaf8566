"""Exercises of lesson 03, the ResNet backbone (written directly, not generated).

The lesson assembles the 7x7 stem and four stages and prints shapes, parameter counts and receptive fields. Its
exercises ask for what it has not printed when they come: the receptive field of ResNet-50's layer2 (predicted
before the table), the shape after any stage for any depth and crop, and the ResNet-C deep stem of He et al.'s
"Bag of Tricks" (three 3x3 convolutions), whose reference is written here with torch.nn.functional.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from minipose.backbone import ResNetBackbone
from minipose.exercises import Exercise, Mistake, Prediction, Question, call, named_slip, read_number


# --- 03.0: predict the receptive field of ResNet-50's layer2 ------------------------------------------------------

def _field(layers: list[tuple[int, int]], stride_after: bool = False) -> int:
    """Receptive field of a chain of (kernel, stride) layers: each adds (k - 1) x the stride accumulated before it
    (or, with stride_after, the stride including its own: the slip of updating the stride first)."""
    field, jump = 1, 1
    for kernel, stride in layers:
        if stride_after:
            jump *= stride
        field += (kernel - 1) * jump
        if not stride_after:
            jump *= stride
    return field


def _resnet50_chain(pool: bool = True, layer1_blocks: int = 3, layer2_blocks: int = 4,
                    convs_per_block: int = 1) -> list[tuple[int, int]]:
    """ResNet-50 up to layer2, as (kernel, stride): the stem, then the 3x3 of each bottleneck (the 1x1s add 0)."""
    chain = [(7, 2)] + ([(3, 2)] if pool else [])
    chain += [(3, 1)] * (layer1_blocks * convs_per_block)
    chain += [(3, 2)] + [(3, 1)] * (layer2_blocks * convs_per_block - 1)
    return chain


def _check_layer2_field(answer) -> str:
    if isinstance(answer, (tuple, list)) and len(answer) == 2:
        raise Mistake("give one number, the width of the field in input pixels (it is square)")
    answer = read_number(answer, "input pixels", "57", whole=True)
    truth = _field(_resnet50_chain())  # 91
    if answer == truth:
        return ("91 pixels: the stem reaches 11 at stride 4, layer1's three 3x3 convolutions add 3 x 2 x 4 = 24 "
                "(35), layer2's strided 3x3 adds 2 x 4 = 8 (43) and its three others 3 x 2 x 8 = 48.")
    wrong = {
        _field([(k, 1) for k, _ in _resnet50_chain()]): "each layer adds (k - 1) times the stride accumulated "
            "before it, not k - 1: after the stem one step of a 3x3 covers 4 input pixels, in layer2 8",
        _field(_resnet50_chain(), stride_after=True): "a strided layer widens the field by (k - 1) times the stride "
            "accumulated *before* it: the stride it adds only spaces out the layers that follow",
        _field(_resnet50_chain(pool=False)): "you left out the max-pool: a 3x3 window with stride 2, it widens the "
            "field by 2 x 2 = 4 pixels and doubles the stride for everything after it",
        _field(_resnet50_chain(convs_per_block=2)): "a bottleneck has one 3x3 convolution (conv2); its 1x1 "
            "convolutions add nothing to the field. Two 3x3 per block is a BasicBlock (ResNet-18/34)",
        _field(_resnet50_chain()[:5]): "that is the field after layer1; layer2's four blocks widen it further",
        8: "8 is layer2's stride (how far apart its pixels are in the input); the field is how much each one sees",
    }
    named_slip(answer, wrong.items(), rel=0, abs_tol=0)
    raise Mistake(f"{int(answer)} is not it: start from 1 pixel at stride 1, add (k - 1) x stride for each layer "
                  "(7x7/2 conv, 3x3/2 max-pool, then each 3x3 convolution), multiplying the stride after each")


q0 = Prediction(
    "03.0", "predict the receptive field of ResNet-50's layer2", "layer2_field", _check_layer2_field,
    hints=["Follow two numbers: the field (starts at 1) and the stride (starts at 1). A k x k layer with stride s "
           "adds (k - 1) x the current stride to the field, then multiplies the stride by s.",
           "The stem gives 11 at stride 4. A bottleneck's only 3x3 is conv2; layer1 has 3 blocks at stride 4, "
           "layer2 4 blocks, the first of which strides."],
)


# --- 03.1: the shape after any stage -----------------------------------------------------------------------------

_STAGES = ("stem", "max-pool", "layer1", "layer2", "layer3", "layer4")

# depth, stage, batch, height, width: every depth, every stage, the paper's crop and non-square crops (H != W)
_SHAPE_CASES = [(50, "layer1", 32, 256, 256), (18, "layer1", 2, 256, 192), (34, "layer3", 1, 224, 320),
                (101, "layer2", 4, 384, 288), (152, "layer4", 1, 192, 128), (50, "max-pool", 2, 256, 192),
                (18, "stem", 1, 224, 320), (50, "layer3", 3, 320, 224), (18, "layer4", 2, 128, 96),
                (152, "stem", 1, 256, 192)]


@functools.lru_cache(maxsize=None)
def _true_shape(depth: int, stage: str, batch: int, height: int, width: int) -> tuple[int, int, int, int]:
    """The real shape after one stage, from modules on the meta device (shapes only, no memory, no weights).

    The channels are the number of features of the stage's last BatchNorm in ResNetBackbone(depth); the height and
    width come from running a ResNet-18 stage by stage, whose strides are those of every depth.
    """
    with torch.device("meta"):
        net = ResNetBackbone(depth)
        part = {"stem": net.bn1, "max-pool": net.bn1}.get(stage) or getattr(net, stage)
        channels = [m for m in part.modules() if isinstance(m, nn.BatchNorm2d)][-1].num_features
        small = ResNetBackbone(18)
        x = torch.empty(batch, 3, height, width)
        x = small.relu(small.bn1(small.conv1(x)))
        if stage != "stem":
            x = small.maxpool(x)
            for name in _STAGES[2:_STAGES.index(stage) + 1]:
                x = getattr(small, name)(x)
    return batch, channels, x.shape[2], x.shape[3]


def _check_stage_shape(fn) -> str:
    for depth, stage, b, height, width in _SHAPE_CASES:
        want = _true_shape(depth, stage, b, height, width)
        got = call(fn, depth, stage, b, height, width)
        name = f"ResNet-{depth}'s {stage} on {b} crop(s) of {height} x {width} (H x W)"
        if not isinstance(got, (tuple, list, torch.Size)):
            raise Mistake(f"return the shape as a tuple (B, C, H, W); for {name} you returned "
                          f"{type(got).__name__} {got!r:.40}")
        if len(got) != 4:
            raise Mistake(f"for {name} you returned {len(got)} numbers {tuple(got)}; a feature map is "
                          "B x C x H x W: four numbers, the batch first")
        if any(isinstance(v, float) for v in got):
            raise Mistake(f"for {name} you returned {tuple(got)}: sizes are whole numbers, use integer division "
                          "(height // 4)")
        got = tuple(got)
        if got == want:
            continue
        c, h, w = want[1:]
        k = _STAGES.index(stage)
        if got == (b, c, w, h):
            raise Mistake(f"for {name} you returned {got}: height and width are swapped; PyTorch feature maps are "
                          "B x C x H x W, height before width")
        if got[0] != b:
            raise Mistake(f"for {name} you returned {got}: the batch size comes first and does not change")
        if got[1] == c and stage == "layer1" and got[2:] == (height // 8, width // 8):
            raise Mistake(f"for {name} you returned {got}: layer1 does not stride (its first block keeps the "
                          "size); the stem's convolution and the max-pool have already halved it twice, so /4")
        if got[1] == c and got[2:] == (height // 2 ** (k + 1), width // 2 ** (k + 1)) and k >= 3:
            raise Mistake(f"for {name} you returned {got}: one halving too many. The stem's convolution and the "
                          "max-pool halve the size, then layer2, layer3 and layer4 each halve it once; layer1 does "
                          "not")
        if got[1] == c:
            raise Mistake(f"for {name} you returned {got}: the channels are right, but the size after the {stage} "
                          f"is {h} x {w}: count the halvings up to it (stem conv, max-pool, layer2, layer3, layer4)")
        if got[2:] == (h, w):
            if stage in ("stem", "max-pool"):
                raise Mistake(f"for {name} you returned {got[1]} channels: the stem's convolution makes 64 channels "
                              "for every depth, and the max-pool keeps them")
            planes = 64 * 2 ** (k - 2)
            if got[1] == planes * 4 and c == planes:
                raise Mistake(f"for {name} you returned {got[1]} channels: ResNet-18 and -34 are built of "
                              f"BasicBlocks (expansion 1), so {stage} outputs its {planes} planes; only the "
                              "Bottleneck depths 50, 101 and 152 expand by 4")
            if got[1] == planes and c == planes * 4:
                raise Mistake(f"for {name} you returned {planes} channels: ResNet-{depth} is built of Bottlenecks, "
                              f"which expand by 4, so {stage} outputs {planes} x 4 = {c} channels")
            if got[1] in (c * 2, c // 2):
                raise Mistake(f"for {name} you returned {got[1]} channels: the planes are 64 in layer1 and double "
                              f"in each later stage (64, 128, 256, 512), times the block's expansion: {c}")
            raise Mistake(f"for {name} you returned {got[1]} channels; {stage} outputs {c}")
        raise Mistake(f"for {name} you returned {got}, expected {want}")
    return ("Right for all five depths and all six stages, square and non-square crops, checked against "
            "ResNetBackbone's real shapes (on the meta device).")


q1 = Exercise(
    "03.1", "the shape after any stage", "stage_shape", _check_stage_shape,
    refuses=("minipose.backbone.ResNetBackbone", "torchvision.models.resnet.ResNet",
             "minipose.posenet.shape_trace", "minipose.posenet.print_shape_trace"),
    hints=[
        "The size is halved by the stem's convolution, by the max-pool, then by the first block of layer2, layer3 "
        "and layer4; layer1 keeps it.",
        "The channels: 64 after the stem and the max-pool; then planes 64, 128, 256, 512 in layer1..4, times "
        "block.expansion (RESNET_SPEC[resnet_type][0]: 1 for BasicBlock, 4 for Bottleneck).",
    ],
)


# --- 03.2: the ResNet-C deep stem ---------------------------------------------------------------------------------

_WIDTHS, _STRIDES = (32, 32, 64), (2, 1, 1)  # He et al. 2019, Fig. 2(b): three 3x3 convolutions, the first strided
_KINDS = ["conv", "bn", "relu"] * 3 + ["pool"]
_ORDINAL = ["first", "second", "third"]


def _kind(m: nn.Module) -> str:
    for kind, types in (("conv", nn.Conv2d), ("bn", nn.BatchNorm2d), ("relu", nn.ReLU),
                        ("pool", (nn.MaxPool2d, nn.AvgPool2d))):
        if isinstance(m, types):
            return kind
    return type(m).__name__


def _deep_stem_reference(sd: dict, x: torch.Tensor, strides: tuple[int, ...] = _STRIDES) -> torch.Tensor:
    """(3x3 conv -> BN -> ReLU) x 3, then a 3x3 max-pool with stride 2, from the weights `sd` (eval mode)."""
    for conv, bn, stride in zip((0, 3, 6), (1, 4, 7), strides):
        x = F.conv2d(x, sd[f"{conv}.weight"], stride=stride, padding=1)
        x = F.batch_norm(x, sd[f"{bn}.running_mean"], sd[f"{bn}.running_var"], sd[f"{bn}.weight"],
                         sd[f"{bn}.bias"], training=False, eps=1e-5)
        x = F.relu(x)
    return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)


def _deep_stem_weights(seed: int = 3) -> dict[str, torch.Tensor]:
    """Random weights under the exercise's names, with non-trivial BatchNorm statistics."""
    g = torch.Generator().manual_seed(seed)
    sd, cin = {}, 3
    for conv, bn, width in zip((0, 3, 6), (1, 4, 7), _WIDTHS):
        sd[f"{conv}.weight"] = torch.randn(width, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5
        sd[f"{bn}.weight"] = torch.rand(width, generator=g) + 0.5
        sd[f"{bn}.bias"] = torch.randn(width, generator=g) * 0.1
        sd[f"{bn}.running_mean"] = torch.randn(width, generator=g) * 0.1
        sd[f"{bn}.running_var"] = torch.rand(width, generator=g) + 0.5
        sd[f"{bn}.num_batches_tracked"] = torch.tensor(0)
        cin = width
    return sd


def _check_deep_stem_layers(stem: nn.Sequential) -> None:
    """Name what differs from (3x3 conv, BN, ReLU) x 3 + max-pool, before any weight is loaded."""
    convs = [m for m in stem.modules() if isinstance(m, nn.Conv2d)]
    if len(convs) == 1 and tuple(convs[0].kernel_size) == (7, 7):
        raise Mistake("that is the lesson's stem, one 7x7 convolution; ResNet-C replaces it with three 3x3 "
                      "convolutions (32, 32 and 64 channels), then BatchNorm, ReLU and the same max-pool")
    if len(convs) != 3:
        raise Mistake(f"your stem has {len(convs)} convolutions; ResNet-C's has three 3x3 convolutions")
    if any(tuple(c.kernel_size) != (3, 3) for c in convs):
        raise Mistake(f"your convolutions have kernels {[c.kernel_size[0] for c in convs]}; all three are 3x3")
    widths = [(c.in_channels, c.out_channels) for c in convs]
    if widths != [(3, 32), (32, 32), (32, 64)]:
        if [w for _, w in widths] == [64, 64, 64]:
            raise Mistake("your three convolutions all have 64 channels; the first two have 32 (3 -> 32 -> 32), "
                          "only the last one brings the 64 that layer1 expects")
        raise Mistake(f"your convolutions map {', '.join(f'{i} -> {o}' for i, o in widths)} channels; "
                      "ResNet-C's map 3 -> 32, 32 -> 32 and 32 -> 64")
    if any(c.bias is not None for c in convs):
        raise Mistake("your convolutions have biases: use bias=False, since a BatchNorm with its own shift "
                      "follows each of them")
    strides = tuple(c.stride[0] for c in convs)
    if strides != _STRIDES:
        if strides == (2, 2, 2):
            raise Mistake("all three convolutions have stride 2, so the stem divides by 16; only the first one "
                          "strides (256 -> 128), the max-pool halves once more, 4 in all")
        if sum(s == 2 for s in strides) == 1:
            where = _ORDINAL[strides.index(2)]
            raise Mistake(f"the stride is on the {where} convolution: the output has the right size, but the "
                          "convolutions before the stride run at full resolution, four times the FLOPs. Stride the "
                          "first one (as ResNet-C does), and the two others run at half the resolution")
        raise Mistake(f"your convolutions have strides {strides}; they are 2, 1, 1")
    if any(tuple(c.padding) != (1, 1) for c in convs):
        raise Mistake(f"your convolutions have paddings {[c.padding[0] for c in convs]}; each 3x3 needs "
                      "padding=1 so that only the stride changes the size")
    kinds = [_kind(m) for m in _leaves(stem)]
    if "pool" not in kinds and sorted(kinds) == sorted(_KINDS[:-1]):
        raise Mistake("the max-pool is missing: the stem ends with nn.MaxPool2d(kernel_size=3, stride=2, "
                      "padding=1), which halves the size a second time")
    pools = [m for m in _leaves(stem) if _kind(m) == "pool"]
    if pools and not isinstance(pools[0], nn.MaxPool2d):
        raise Mistake("the stem ends with a max-pool, not an average pool: nn.MaxPool2d(kernel_size=3, "
                      "stride=2, padding=1)")
    for pool in pools:
        if (pool.kernel_size, pool.stride, pool.padding) not in [(3, 2, 1), ((3, 3), (2, 2), (1, 1))]:
            raise Mistake(f"your max-pool has kernel_size={pool.kernel_size}, stride={pool.stride}, "
                          f"padding={pool.padding}; the stem keeps nn.MaxPool2d(kernel_size=3, stride=2, padding=1)")
    if any(k not in ("conv", "bn", "relu", "pool") for k in kinds):
        raise Mistake(f"your stem holds {', '.join(k for k in kinds if k not in ('conv', 'bn', 'relu', 'pool'))}"
                      ": the deep stem is made of 3x3 convolutions, BatchNorms, ReLUs and the max-pool only")
    # In an nn.Sequential (nested or not) the order of registration is the order of use: name a misplaced module.
    # A module of the student's own design may register them in any order; its output is compared below.
    if kinds != _KINDS and _in_order(stem):
        for i, (got, want) in enumerate(zip(kinds, _KINDS)):
            if got != want:
                if (got, want) == ("relu", "bn"):
                    raise Mistake(f"the {_ORDINAL[i // 3]} ReLU comes before its BatchNorm; each convolution is "
                                  "followed by BatchNorm, then ReLU")
                if want == "relu":
                    raise Mistake(f"the ReLU after the {_ORDINAL[i // 3]} BatchNorm is missing; each convolution "
                                  "is followed by BatchNorm and ReLU")
                break
        raise Mistake(f"your modules are {', '.join(kinds)}; the stem is (conv, bn, relu) three times, then pool")


def _in_order(stem: nn.Module) -> bool:
    """True when the modules run in the order they are registered: nn.Sequential all the way down."""
    return all(isinstance(m, nn.Sequential) for m in stem.modules() if list(m.children()))


def _leaves(stem: nn.Module) -> list[nn.Module]:
    """The modules that hold no others, in the order they were registered (nested blocks allowed)."""
    return [m for m in stem.modules() if not list(m.children())]


def _load_by_position(stem: nn.Module, sd: dict[str, torch.Tensor]) -> None:
    """The reference weights, copied into the student's convolutions and BatchNorms in the order they appear,
    whatever their names."""
    convs = [m for m in _leaves(stem) if isinstance(m, nn.Conv2d)]
    bns = [m for m in _leaves(stem) if isinstance(m, nn.BatchNorm2d)]
    if len(bns) != 3:
        raise Mistake(f"your stem has {len(bns)} BatchNorms; each of the three convolutions is followed by one, as "
                      "in the lesson's stem")
    with torch.no_grad():
        for conv, bn, (c, b) in zip(convs, bns, zip((0, 3, 6), (1, 4, 7))):
            conv.weight.copy_(sd[f"{c}.weight"])
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(bn, name).copy_(sd[f"{b}.{name}"])
    extra = sum(p.numel() for p in stem.parameters()) - sum(v.numel() for k, v in sd.items()
                                                           if not k.endswith(("running_mean", "running_var",
                                                                              "num_batches_tracked")))
    if extra:
        raise Mistake(f"your stem has {extra} parameters more than the three convolutions and BatchNorms hold")


def _check_deep_stem(fn) -> str:
    stem = call(fn)
    if not isinstance(stem, nn.Module):
        raise Mistake(f"return the stem as an nn.Module (an nn.Sequential, say); you returned {type(stem).__name__} "
                      f"{stem!r:.40}")
    _check_deep_stem_layers(stem)
    sd = _deep_stem_weights()
    _load_by_position(stem, sd)
    stem.eval()
    torch.manual_seed(4)
    x = torch.randn(2, 3, 64, 48)  # non-square
    with torch.no_grad():
        got, want = call(stem, x.clone()), _deep_stem_reference(sd, x)
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        raise Mistake(f"on a 2 x 3 x 64 x 48 batch your stem returned {shape}, expected {tuple(want.shape)}")
    if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
        raise Mistake(f"your stem computes something else than (conv, BN, ReLU) x 3 + max-pool with the same "
                      f"weights (up to {(got - want).abs().max().item():.3g} off); use the standard modules only")
    return ("Same layers and outputs as the ResNet-C deep stem (He et al. 2019, Fig. 2(b)) computed from the same "
            "random weights with torch.nn.functional: 2 x 3 x 64 x 48 -> 2 x 64 x 16 x 12, with the fewest FLOPs.")


q2 = Exercise(
    "03.2", "the ResNet-C deep stem", "my_deep_stem", _check_deep_stem,
    refuses=("minipose.backbone.ResNetBackbone", "torchvision.models.resnet.ResNet"),
    hints=[
        "Each convolution is followed by what follows the 7x7 convolution in the lesson's stem. A stride of 2 "
        "halves the size; a 3x3 convolution keeps it with padding=1. The later a stride comes, the more pixels the "
        "convolutions before it see.",
        "Conv2d(3, 32, 3, stride=2, padding=1, bias=False), BatchNorm2d(32), ReLU, then the same with 32 -> 32 "
        "and 32 -> 64 at stride 1 (padding=1 keeps the size), then nn.MaxPool2d(kernel_size=3, stride=2, "
        "padding=1).",
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
