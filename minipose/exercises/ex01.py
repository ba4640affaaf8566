"""Exercises of lesson 01, residual blocks (written directly, not generated).

The lesson builds the post-activation blocks of ResNet (conv -> BN -> ReLU, a ReLU after the sum). Its exercises
ask for what it does not print: the shape a strided block makes (predicted first), the *pre-activation* bottleneck
of He et al.'s follow-up paper, and a bottleneck's parameter count as a formula. Their references live here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minipose.checks import randomize_bn
from minipose.exercises import Exercise, Mistake, Prediction, Question, call


# --- 01.0: predict a strided block's output shape ----------------------------------------------------------------

def _shape_of(answer) -> tuple[int, ...]:
    if isinstance(answer, torch.Tensor) and answer.dim() == 1:
        answer = answer.tolist()
    if not isinstance(answer, (tuple, list)) or len(answer) > 8:  # torch.Size is a tuple; never iterate a stream
        raise Mistake(f"give the shape as four whole numbers, e.g. (32, 64, 64, 64); you gave {answer!r:.40}")
    try:
        shape = tuple(int(n) for n in answer)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite side
        raise Mistake(f"give the shape as four whole numbers, e.g. (32, 64, 64, 64); you gave {answer!r:.40}") \
            from None
    if any(int(n) != n for n in answer if isinstance(n, (int, float))):  # 32.5 is not a side
        raise Mistake("a shape is whole numbers")
    return shape


def _check_strided_shape(answer) -> str:
    shape = _shape_of(answer)
    batch, channels, size = 32, 128, 64 // 2  # BasicBlock(64, 128, stride=2) on 32 x 64 x 64 x 64
    if len(shape) != 4:
        raise Mistake(f"a batch of feature maps has four axes, B x C x H x W; you gave {len(shape)} numbers")
    if shape == (batch, channels, size, size):
        return "The block makes 32 x 128 x 32 x 32: planes channels, and the stride halves height and width once."
    if shape[1] == 64:
        raise Mistake("the channels change: the block outputs planes = 128 of them (expansion 1), and the 1x1 "
                      "projection brings the shortcut to 128 as well")
    if shape[2:] == (64, 64):
        raise Mistake("stride 2 halves the height and width: conv1 (and the 1x1 projection) step two pixels at a "
                      "time")
    if shape[2:] == (16, 16):
        raise Mistake("only conv1 carries the stride (conv2 keeps stride 1), so the map is halved once, not twice")
    if shape[0] != batch:
        raise Mistake("a block never changes the batch size: 32 images in, 32 out")
    raise Mistake(f"{shape} is not it: work through conv1 (3x3, stride 2, padding 1) and conv2 (3x3, stride 1)")


q0 = Prediction(
    "01.0", "predict a strided block's output", "predicted_shape", _check_strided_shape,
    hints=["Channels: a BasicBlock outputs `planes` channels. Height and width: a 3x3 convolution with padding 1 "
           "and stride s maps 64 pixels to 64 / s.",
           "Only the first convolution of the block has the stride."],
)


# --- 01.1: a pre-activation bottleneck -----------------------------------------------------------------------------

def _preact_reference(sd: dict, x: torch.Tensor, stride: int, projected: bool, variant: str = "") -> torch.Tensor:
    """He et al. 2016b, Fig. 4(e), computed with torch.nn.functional from the answer's own weights.

    `variant` names a realistic wrong order, to recognise it: "relu after sum", "shortcut from x",
    "stride on conv1".
    """
    def bn(t, name):
        return F.batch_norm(t, sd[f"{name}.running_mean"], sd[f"{name}.running_var"], sd[f"{name}.weight"],
                            sd[f"{name}.bias"], training=False, eps=1e-5)

    pre = F.relu(bn(x, "bn1"))
    s1, s2 = (stride, 1) if variant == "stride on conv1" else (1, stride)
    shortcut = x
    if projected:
        shortcut = F.conv2d(x if variant == "shortcut from x" else pre, sd["downsample.0.weight"], stride=stride)
    out = F.conv2d(pre, sd["conv1.weight"], stride=s1)
    out = F.conv2d(F.relu(bn(out, "bn2")), sd["conv2.weight"], stride=s2, padding=1)
    out = F.conv2d(F.relu(bn(out, "bn3")), sd["conv3.weight"])
    out = out + shortcut
    return F.relu(out) if variant == "relu after sum" else out


def _preact_shapes(inplanes: int, planes: int, projected: bool) -> dict[str, tuple[int, ...]]:
    shapes = {"conv1.weight": (planes, inplanes, 1, 1), "conv2.weight": (planes, planes, 3, 3),
              "conv3.weight": (planes * 4, planes, 1, 1)}
    for name, n in (("bn1", inplanes), ("bn2", planes), ("bn3", planes)):
        shapes.update({f"{name}.{p}": (n,) for p in ("weight", "bias", "running_mean", "running_var")})
        shapes[f"{name}.num_batches_tracked"] = ()
    if projected:
        shapes["downsample.0.weight"] = (planes * 4, inplanes, 1, 1)
    return shapes


def _check_preact_structure(block: nn.Module, inplanes: int, planes: int, projected: bool) -> None:
    got = {k: tuple(v.shape) for k, v in block.state_dict().items()}
    want = _preact_shapes(inplanes, planes, projected)
    biases = [k for k in got if k.startswith("conv") and k.endswith(".bias")]
    if biases:
        raise Mistake(f"your convolutions have biases ({', '.join(biases)}): pass bias=False, as in every ResNet "
                      "block; each of them feeds a BatchNorm or the sum")
    missing, unexpected = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing or unexpected:
        def modules(keys):
            return ", ".join(dict.fromkeys(k.rsplit(".", 1)[0] for k in keys)) or "none"
        raise Mistake(f"the layers are named differently (missing: {modules(missing)}; unexpected: "
                      f"{modules(unexpected)}): use conv1, conv2, conv3, bn1, bn2, bn3, and keep the shortcut "
                      "you are given as self.downsample")
    if got["bn1.weight"] == (planes,) and planes != inplanes:
        raise Mistake(f"bn1 has {planes} channels, so it sits after conv1 as in the lesson's block. In a "
                      f"pre-activation block bn1 normalises the block's input ({inplanes} channels): BN -> ReLU -> "
                      "conv, three times")
    if got["bn3.weight"] == (planes * 4,):
        raise Mistake(f"bn3 has {planes * 4} channels, so it normalises conv3's output. Pre-activation puts it "
                      f"before conv3, on conv2's {planes} channels; nothing follows conv3 but the sum")
    for key, shape in want.items():
        if got[key] != shape:
            raise Mistake(f"{key} has shape {got[key]}, expected {shape}")


def _check_preact(answer) -> str:
    cases = [(64, 16, 1, False), (32, 16, 2, True), (48, 8, 1, True)]  # inplanes, planes, stride, projection?
    for inplanes, planes, stride, projected in cases:
        torch.manual_seed(11)
        downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False)) if projected \
            else None
        name = f"({inplanes}, {planes}, stride={stride}) with {'a projection' if projected else 'the identity'}"
        block = call(answer, inplanes, planes, stride, downsample)
        if not isinstance(block, nn.Module):
            raise Mistake(f"{name} should build an nn.Module; it gave {type(block).__name__}")
        _check_preact_structure(block, inplanes, planes, projected)
        randomize_bn(block, seed=3)
        block.eval()
        x = torch.randn(2, inplanes, 8, 8)
        with torch.no_grad():
            out = call(block, x.clone())
            sd = {k: v.detach().clone() for k, v in block.state_dict().items()}
            want = _preact_reference(sd, x, stride, projected)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(want.shape):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise Mistake(f"for {name} the output should be {tuple(want.shape)}, got {shape}")
        if torch.allclose(out, want, atol=1e-4):
            continue
        for variant, message in [
            ("relu after sum", "there is a ReLU after the sum, as in the lesson's block. Pre-activation returns "
                               "F(x) + shortcut untouched, so the next block receives the identity path as it is"),
            ("shortcut from x", "the projection shortcut reads the raw input x; in a pre-activation block it "
                                "reads relu(bn1(x)), the same pre-activated tensor conv1 reads (the identity "
                                "shortcut is x itself)"),
            ("stride on conv1", "the stride is on conv1, the 1x1; put it on conv2, the 3x3, as torchvision does, "
                                "so that no input pixel is skipped"),
        ]:
            if torch.allclose(out, _preact_reference(sd, x, stride, projected, variant), atol=1e-4):
                raise Mistake(message)
        raise Mistake(f"for {name} your block's output differs from BN -> ReLU -> conv (x3) + shortcut by up to "
                      f"{(out - want).abs().max().item():.3g}; is every BN followed by its ReLU before its conv?")
    return ("Matches the full pre-activation unit of He et al. 2016b, computed from your weights with "
            "torch.nn.functional: the identity and two projection shortcuts, one with stride 2.")


q1 = Exercise(
    "01.1", "a pre-activation bottleneck", "MyPreActBottleneck", _check_preact,
    refuses=("minipose.blocks.Bottleneck", "torchvision.models.resnet.Bottleneck"),
    hints=["Make the same six layers as the lesson's Bottleneck, but each BatchNorm normalises what enters its "
           "convolution: bn1 has inplanes channels, bn2 and bn3 have planes.",
           "forward: pre = relu(bn1(x)); shortcut = x, or downsample(pre) when there is one; then conv1(pre), "
           "conv2(relu(bn2(.))), conv3(relu(bn3(.))); return out + shortcut, with no ReLU after."],
)


# --- 01.2: a bottleneck's parameters, as a formula ----------------------------------------------------------------

def _bottleneck_params(inplanes: int, planes: int, stride: int) -> int:
    """Weights of the three convolutions, BN's weight and bias per channel, and the projection when it is needed."""
    width = planes * 4
    convs = inplanes * planes + planes * planes * 9 + planes * width
    norms = 2 * (planes + planes + width)
    projection = inplanes * width + 2 * width if stride != 1 or inplanes != width else 0
    return convs + norms + projection


def _check_params(answer) -> str:
    cases = [(256, 64, 1), (64, 64, 1), (256, 128, 2), (1024, 512, 2), (2048, 512, 1), (96, 24, 1), (48, 24, 2)]
    for inplanes, planes, stride in cases:
        got = call(answer, inplanes, planes, stride)
        name = f"Bottleneck({inplanes}, {planes}, stride={stride})"
        try:
            got_int = int(got)
            if got_int != got:
                raise ValueError
        except (TypeError, ValueError, RuntimeError, OverflowError):  # OverflowError: inf
            raise Mistake(f"for {name} return a whole number; you returned {got!r:.40}") from None
        want = _bottleneck_params(inplanes, planes, stride)
        if got_int == want:
            continue
        width = planes * 4
        needs = stride != 1 or inplanes != width
        projection = inplanes * width + 2 * width
        if needs and got_int == want - projection:
            raise Mistake(f"{name} needs a projection shortcut (its input has {inplanes} channels, its output "
                          f"{width}{', and stride 2' if stride != 1 else ''}); its 1x1 conv and BatchNorm have "
                          f"{projection:,} parameters")
        if not needs and got_int == want + projection:
            raise Mistake(f"{name} keeps the shape ({inplanes} channels in and out, stride 1): its shortcut is the "
                          "identity, with no parameters")
        n_bn = 2 * planes + width + (width if needs else 0)
        if got_int == want + 2 * n_bn or got_int == want + 2 * n_bn + (4 if needs else 3):
            raise Mistake("you counted BatchNorm's running mean and variance (and num_batches_tracked): those are "
                          "buffers, not parameters; each BatchNorm channel holds 2 parameters, weight and bias")
        if got_int == want - 2 * n_bn:
            raise Mistake("BatchNorm's weight and bias are missing: 2 parameters per channel of every BatchNorm")
        if got_int == want + 2 * planes + width + (width if needs else 0):
            raise Mistake("the convolutions have no bias in a ResNet block (BatchNorm follows each)")
        if got_int == want - 8 * planes * planes:
            raise Mistake("conv2 is a 3x3 convolution: planes x planes x 9 weights, not planes x planes")
        raise Mistake(f"for {name} you counted {got_int:,}; count each convolution as out x in x k x k, each "
                      "BatchNorm as 2 per channel, and the projection only when the shape changes")
    return ("Right for seven blocks, with and without projections, including ResNet-50's first and last "
            "blocks of each kind.")


q2 = Exercise(
    "01.2", "a bottleneck's parameters, by hand", "bottleneck_params", _check_params,
    refuses=("minipose.blocks.Bottleneck", "torchvision.models.resnet.Bottleneck"),
    hints=["A convolution without bias holds out_channels x in_channels x k x k weights; a BatchNorm holds a weight "
           "and a bias per channel (its running statistics are buffers).",
           "The shortcut is a projection (1x1 conv to planes * 4 channels, then BatchNorm) exactly when the stride "
           "is not 1 or inplanes != planes * 4."],
)

q3 = Question(
    "01.3", "a block without its shortcut",
    hints=["Which of this lesson's cells look only at shapes, and which compare values?"],
    answer="Without `+ identity` the block is relu(F(x)): every shape printed in this lesson stays the same, because "
           "F(x) already has the output's shape (that is why the addition is possible at all). Only the cells that "
           "compare values with the same weights (against torchvision's blocks, and against the package's) would "
           "catch it. That is worrying because the network would still run and train, only much worse: the identity "
           "path that lets gradients reach early layers (He et al.'s whole point) is gone, and a deep plain network "
           "degrades. Checks must compare values with a trusted reference, not only shapes.",
)

q4 = Question(
    "01.4", "where the stride sits",
    hints=["A 1x1 convolution with stride 2 reads which input pixels? A 3x3 convolution with stride 2?"],
    answer="A 1x1 convolution with stride 2 reads only every other pixel in each direction: three quarters of its "
           "input never reach the residual branch. A 3x3 with stride 2 overlaps its windows, so every input pixel "
           "contributes. That is why torchvision (\"ResNet v1.5\") moved the stride to the 3x3; it is slightly more "
           "accurate and a little more expensive. The weights have the same shapes in both placements, so a strict "
           "load succeeds either way: only comparing outputs shows that the function differs, and with ImageNet "
           "weights trained for v1.5 the other placement gives worse features.",
)

q5 = Question(
    "01.5", "same weights, same cost?",
    hints=["A convolution's multiply-adds are its weights times its number of output positions (H_out x W_out).",
           "In v1.5, conv1 has stride 1: it runs on the 64 x 64 input. Everything after the stride runs at 32 x 32."],
    answer="Weights: conv1 256*128 = 32,768, conv2 128*128*9 = 147,456, conv3 128*512 = 65,536 and the projection "
           "256*512 = 131,072, in all 376,832 in both placements. In v1.5 conv1 runs on the 64 x 64 input (4,096 "
           "positions) and the rest at 32 x 32 (1,024): 32,768 * 4,096 + (147,456 + 65,536 + 131,072) * 1,024 = "
           "486,539,264, about 487 million multiply-adds. With the stride on conv1 (He et al.) everything runs at "
           "32 x 32: 376,832 * 1,024 = 385,875,968, about 21% fewer. Same parameters, different compute: parameter "
           "counts measure memory, multiply-adds measure time, and they only agree when all layers work at one "
           "resolution, as in the stride-1 blocks of the lesson. v1.5 pays those extra multiply-adds for looking at "
           "every input pixel.",
)
