"""Exercises of lesson 01, residual blocks (written directly, not generated)."""
from __future__ import annotations

import torch
from torch import nn

from minipose.blocks import BasicBlock, Bottleneck
from minipose.checks import randomize_bn
from minipose.exercises import Exercise, Mistake, Question, call, describe_load_error


def _projection(cin: int, cout: int, stride: int) -> nn.Sequential:
    """The projection shortcut make_layer builds: a strided 1x1 convolution and a BatchNorm."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(cout))


def _describe(case) -> str:
    inplanes, planes, stride, projected = case
    shortcut = "a projection shortcut" if projected else "the identity shortcut"
    return f"({inplanes}, {planes}, stride={stride}) with {shortcut}"


def _branch(ref: nn.Module, x: torch.Tensor, relu_after: tuple[bool, ...]) -> torch.Tensor:
    """The residual branch F(x) of the reference block, with or without the ReLU after each inner BatchNorm."""
    convs = [m for name, m in ref.named_children() if name.startswith("conv")]
    norms = [m for name, m in ref.named_children() if name.startswith("bn")]
    out = x
    for k, (conv, norm) in enumerate(zip(convs, norms)):
        out = norm(conv(out))
        if k < len(convs) - 1 and relu_after[k]:
            out = torch.relu(out)
    return out


def _variants(ref: nn.Module, x: torch.Tensor, last_bn: str) -> dict[str, list[torch.Tensor]]:
    """What realistic wrong forwards give with the reference's weights (message -> possible outputs)."""
    inner = len([n for n, _ in ref.named_children() if n.startswith("conv")]) - 1
    shortcut = x if ref.downsample is None else ref.downsample(x)
    f = _branch(ref, x, (True,) * inner)
    relu = torch.relu
    variants = {
        f"a ReLU is applied to {last_bn}'s output before the addition; the block adds first and applies the ReLU "
        "after: relu(F(x) + shortcut)": [relu(relu(f) + shortcut), relu(f) + shortcut],
        "the final ReLU is missing: return relu(F(x) + shortcut), not F(x) + shortcut": [f + shortcut],
        "there is no residual addition: the block must add its input (or downsample(input)) back, "
        "relu(F(x) + shortcut)": [relu(f), f],
    }
    for k in range(inner):
        skip = tuple(j != k for j in range(inner))
        variants[f"the ReLU after bn{k + 1} is missing: each inner convolution is conv -> BatchNorm -> ReLU"] = \
            [relu(_branch(ref, x, skip) + shortcut)]
    return variants


def _check_structure(block: nn.Module, ref: nn.Module, kind: str, stride: int) -> None:
    """State-dict names and shapes as torchvision's, and the stride and padding where torchvision has them."""
    got, want = block.state_dict(), ref.state_dict()
    unexpected, missing = sorted(set(got) - set(want)), sorted(set(want) - set(got))
    biases = [k for k in unexpected if k.startswith("conv") and k.endswith(".bias")]
    if biases:
        raise Mistake(f"your convolutions have biases ({', '.join(biases)}): pass bias=False. BatchNorm right after "
                      "subtracts the channel mean, which cancels any bias, and torchvision's state dict has none")
    if unexpected or missing:
        def modules(keys):  # "downsample.1.running_mean" -> "downsample.1": name modules, not every tensor
            return ", ".join(dict.fromkeys(k.rsplit(".", 1)[0] for k in keys)) or "none"
        raise Mistake(f"the state-dict names differ from torchvision's (missing: {modules(missing)}; unexpected: "
                      f"{modules(unexpected)}): name the layers conv1, bn1, ... and store the shortcut as "
                      "self.downsample, or ImageNet weights will not load")
    for key, tensor in want.items():
        if got[key].shape != tensor.shape:
            last = "conv3/bn3" if kind == "Bottleneck" else "conv2/bn2"
            extra = f"; {last} must output planes * expansion channels" if key.split(".")[0] in last else ""
            raise Mistake(f"{key} has shape {tuple(got[key].shape)} where torchvision's has {tuple(tensor.shape)}"
                          f"{extra}")
    strided, plain = ("conv2", "conv1") if kind == "Bottleneck" else ("conv1", "conv2")
    three_by_three = ["conv2"] if kind == "Bottleneck" else ["conv1", "conv2"]
    for name in three_by_three:
        if tuple(getattr(block, name).padding) != (1, 1):
            raise Mistake(f"{name} is a 3x3 convolution with padding={getattr(block, name).padding}: use padding=1, "
                          "so that it keeps the height and width")
    if stride != 1 and tuple(getattr(block, plain).stride) == (stride, stride):
        if kind == "Bottleneck":
            raise Mistake("with stride=2 your conv1 (the first 1x1) carries the stride, as in He et al.'s original "
                          "ResNet; torchvision (\"v1.5\"), the official PoseNet and the ImageNet weights put it on "
                          "conv2, the 3x3, so that no input pixel is skipped. The weights would load, but the outputs "
                          "differ")
        raise Mistake("with stride=2 your conv2 carries the stride; in BasicBlock it belongs on conv1, the first 3x3 "
                      "(as in torchvision), and conv2 keeps stride 1")
    if tuple(getattr(block, strided).stride) != (stride, stride):
        raise Mistake(f"with stride={stride} your {strided} has stride {tuple(getattr(block, strided).stride)}: pass "
                      f"stride=stride to {strided}, the convolution that carries it")


def _check_block(answer, reference: type[nn.Module], kind: str, expansion: int, cases) -> str:
    chain = ["conv1", "bn1", "conv2", "bn2"] + (["conv3", "bn3"] if kind == "Bottleneck" else [])
    last_bn = chain[-1]
    for case in cases:
        inplanes, planes, stride, projected = case
        width = planes * expansion
        torch.manual_seed(1)
        ref = reference(inplanes, planes, stride, _projection(inplanes, width, stride) if projected else None)
        randomize_bn(ref)
        block = call(answer, inplanes, planes, stride, _projection(inplanes, width, stride) if projected else None)
        if not isinstance(block, nn.Module):
            raise Mistake(f"My{kind}(...) must build an nn.Module (subclass nn.Module and call super().__init__()); "
                          f"it gave {type(block).__name__}")
        got_expansion = getattr(block, "expansion", None)
        if got_expansion is None:
            raise Mistake(f"give the class the attribute expansion = {expansion}: make_layer reads it to size the "
                          "shortcut and the next block's input")
        if got_expansion != expansion:
            outputs = "planes channels" if expansion == 1 else f"planes * {expansion} channels"
            raise Mistake(f"expansion is {got_expansion!r}; a {kind} outputs {outputs}, so expansion = {expansion}")
        _check_structure(block, ref, kind, stride)
        try:
            block.load_state_dict(ref.state_dict(), strict=True)
        except Exception as err:  # noqa: BLE001 - reported as the student's mistake
            raise Mistake(f"the reference's weights do not load strictly: {describe_load_error(err)}") from None
        block.eval()
        ref.eval()
        torch.manual_seed(2)
        x = torch.randn(2, inplanes, 10, 14)  # a non-square map: height and width must not be mixed up
        calls: list[str] = []
        watched = {name: getattr(block, name) for name in chain}
        shortcut = block.downsample if isinstance(getattr(block, "downsample", None), nn.Module) else None
        if shortcut is not None:
            watched["downsample"] = shortcut
        hooks = [m.register_forward_hook(lambda *_, name=name: calls.append(name)) for name, m in watched.items()]
        crash = None
        try:
            with torch.no_grad():
                out = call(block, x.clone())
        except Mistake as err:
            crash = err
        finally:
            for hook in hooks:
                hook.remove()
        with torch.no_grad():
            want = ref(x)
            right = crash is None and isinstance(out, torch.Tensor) and out.shape == want.shape \
                and torch.allclose(out, want, rtol=1e-4, atol=1e-5)
            if right:
                continue
            order = [name for name in calls if name != "downsample"]
            if shortcut is not None and "downsample" not in calls and order == chain:
                raise Mistake(f"for {_describe(case)} self.downsample is stored but never applied: the shortcut is "
                              "self.downsample(x) when a downsample is given, x itself otherwise")
            for name in chain:
                if name not in calls and (crash is None or chain.index(name) < len(order)):
                    raise Mistake(f"forward never calls self.{name}")
                if calls.count(name) > 1:
                    raise Mistake(f"forward calls self.{name} {calls.count(name)} times; each layer is used once")
            if crash is None and order != chain:
                raise Mistake(f"forward calls the layers in the order {' -> '.join(order)}; the branch is "
                              f"{' -> '.join(chain)} (with a ReLU after each inner BatchNorm)")
            if crash is not None:
                raise crash
            if not isinstance(out, torch.Tensor):
                raise Mistake(f"forward must return a tensor; it returned {type(out).__name__}")
            if out.shape != want.shape:
                raise Mistake(f"for {_describe(case)} and a {tuple(x.shape)} input the output has shape "
                              f"{tuple(out.shape)}, expected {tuple(want.shape)}")
            for message, outputs in _variants(ref, x, last_bn).items():
                if any(torch.allclose(out, wrong, rtol=1e-4, atol=1e-5) for wrong in outputs):
                    raise Mistake(message)
        worst = (out - want).abs().max().item()
        raise Mistake(f"for {_describe(case)} the output differs from minipose.blocks.{kind} by up to {worst:.3g} "
                      "with the same weights: compare your forward with relu(bn(conv(x))) ... + shortcut, then ReLU")
    return (f"Loads the weights of minipose.blocks.{kind} (torchvision's names, BatchNorm randomized) strictly and "
            "gives the same eval-mode output on a non-square input, with the identity shortcut, a projection shortcut "
            "and stride 2.")


_BOTTLENECK_CASES = [(64, 16, 1, False), (32, 16, 1, True), (32, 16, 2, True)]
_BASIC_CASES = [(16, 16, 1, False), (8, 16, 1, True), (8, 16, 2, True)]


def _check_bottleneck(answer) -> str:
    return _check_block(answer, Bottleneck, "Bottleneck", 4, _BOTTLENECK_CASES)


def _check_basic_block(answer) -> str:
    return _check_block(answer, BasicBlock, "BasicBlock", 1, _BASIC_CASES)


q1 = Exercise(
    "01.1", "a bottleneck block from scratch", "MyBottleneck", _check_bottleneck,
    hints=[
        "Three convolutions, each followed by BatchNorm: conv1 1x1 (inplanes -> planes), conv2 3x3 with padding 1 "
        "(planes -> planes), conv3 1x1 (planes -> planes * expansion). All with bias=False.",
        "The stride goes on conv2, the 3x3. forward: ReLU after bn1 and after bn2, none after bn3; then add the "
        "shortcut (x, or self.downsample(x) when one was given) and apply the last ReLU.",
    ],
)

q2 = Exercise(
    "01.2", "a basic block from scratch", "MyBasicBlock", _check_basic_block,
    hints=[
        "Two 3x3 convolutions with padding 1, each followed by BatchNorm: conv1 (inplanes -> planes, with the "
        "stride) and conv2 (planes -> planes). All with bias=False.",
        "forward: relu(bn1(conv1(x))), then bn2(conv2(...)), add the shortcut (x or self.downsample(x)), then ReLU.",
    ],
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
