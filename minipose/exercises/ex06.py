"""Exercises of lesson 06, the assembled PoseNet and its loss (written directly, not generated)."""
from __future__ import annotations

import copy

import torch

from minipose.config import Config
from minipose.exercises import Exercise, Mistake, Question, call
from minipose.posenet import coord_l1_loss, get_pose_net


def _loss_target(b: int, j: int, vis_shape: str, depth_shape: str, dtype=torch.float32) -> dict[str, torch.Tensor]:
    """A seeded target with some invisible joints and some images without depth, masks of the given shapes."""
    coord = torch.rand(b, j, 3, dtype=dtype) * 64
    per_coordinate = vis_shape == "B x J x 3"
    vis = (torch.rand(b, j, 3 if per_coordinate else 1) > 0.3).to(dtype)
    vis[0, 0] = 0.0  # at least one masked joint (or coordinate) in every case
    vis[-1, -1] = 1.0
    if vis_shape == "B x J":
        vis = vis[:, :, 0]
    have_depth = torch.tensor([1.0, 0.0] * b, dtype=dtype)[:b]  # images 0, 2, .. have depth; 1, 3, .. are 2D-only
    if depth_shape == "B x 1":
        have_depth = have_depth.reshape(b, 1)
    return {"coord": coord, "vis": vis, "have_depth": have_depth}


def _loss_variants(coord: torch.Tensor, target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What realistic wrong losses return for these inputs (message -> B x J values), in float64."""
    b, j = coord.shape[:2]
    diff = coord.double() - target["coord"].double()
    d = diff.abs()
    vis = target["vis"].double()
    vis = (vis.unsqueeze(2) if vis.ndim == 2 else vis).expand(b, j, 3)
    hd = target["have_depth"].double().reshape(b, 1)
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    vx, vy, vz = vis[..., 0], vis[..., 1], vis[..., 2]
    return {
        "the `vis` mask is ignored: multiply every coordinate's error by vis, so joints that are not annotated "
        "add nothing": (x + y + z * hd) / 3,
        "`have_depth` is ignored: multiply the z error by have_depth (one per image), so 2D-only images do not "
        "train depth": (x * vx + y * vy + z * vz) / 3,
        "`have_depth` multiplies x and y too; it masks only z: a 2D-only image still trains x and y":
            (x * vx + y * vy + z * vz) * hd / 3,
        "only x is masked by vis; y and z need the mask too (z: vis times have_depth)": (x * vx + y + z * hd) / 3,
        "with a B x J x 3 vis each coordinate has its own mask; you used the x mask for all three":
            (x + y + z * hd) * vx / 3,
        "you divided by 2; the official loss divides by 3 (three coordinates), even when z is masked":
            (x * vx + y * vy + z * vz * hd) / 2,
        "you divided by the number of supervised coordinates (2 without depth); the official loss always divides "
        "by 3, so losses stay comparable": (x * vx + y * vy + z * vz * hd) / (2 + hd),
        "the sum is not divided by 3": x * vx + y * vy + z * vz * hd,
        "that is a squared (L2) error; PoseNet's loss is L1: the absolute difference, .abs()":
            (x**2 * vx + y**2 * vy + z**2 * vz * hd) / 3,
        "that is the Euclidean (L2) distance; PoseNet's loss is L1: the sum of absolute differences, divided by 3":
            (x**2 * vx + y**2 * vy + z**2 * vz * hd).sqrt(),
        "the Euclidean (L2) distance divided by 3; PoseNet's loss is L1: the sum of absolute differences, "
        "divided by 3": (x**2 * vx + y**2 * vy + z**2 * vz * hd).sqrt() / 3,
        "the differences are not made positive: an L1 loss takes .abs() of coordinate minus target, otherwise "
        "errors of opposite sign cancel and the loss can go below 0":
            (diff[..., 0] * vx + diff[..., 1] * vy + diff[..., 2] * vz * hd) / 3,
    }


def _shape_mistake(out: torch.Tensor, ref: torch.Tensor, b: int, j: int) -> str:
    """A sentence for a wrongly shaped loss, naming the axis that was reduced or kept."""
    shape = tuple(out.shape)
    got = out.detach().double().cpu()
    if shape == (b, j, 3):
        return (f"you returned one loss per coordinate, shape {shape} = B x J x 3; add the masked x, y and z errors "
                f"and divide by 3, giving B x J = {(b, j)}")
    if shape == (b, j, 1):
        return f"you returned shape {shape}; drop the last axis (sum over it without keepdim) to get B x J = {(b, j)}"
    if shape == (j, b):
        return f"you returned J x B = {shape}; the loss is B x J = {(b, j)} (one row per image)"
    reduced = {(b,): ("the joints", 1), (j,): ("the batch", 0)}
    if shape in reduced:
        axis_name, axis = reduced[shape]
        how = "mean" if torch.allclose(got, ref.mean(axis), atol=1e-4) else \
            "sum" if torch.allclose(got, ref.sum(axis), atol=1e-4) else "reduction"
        return (f"you returned shape {shape}: you took the {how} over {axis_name}. Return the B x J = {(b, j)} "
                "per-joint loss; the training step takes the mean")
    if shape == ():
        how = "the mean" if torch.allclose(got, ref.mean(), atol=1e-4) else \
            "the sum" if torch.allclose(got, ref.sum(), atol=1e-4) else "one number"
        return (f"you returned a single number ({how} over images and joints); return the B x J = {(b, j)} per-joint "
                "loss, the training step takes the mean")
    return f"expected the per-joint loss, shape B x J = {(b, j)}; got shape {shape}"


def _check_coord_l1_loss(fn) -> str:
    torch.manual_seed(6)
    cases = [  # batch, joints, vis shape, have_depth shape: every mask shape coord_l1_loss accepts
        (3, 5, "B x J", "B"),
        (2, 7, "B x J x 1", "B x 1"),
        (4, 6, "B x J x 3", "B x 1"),
        (5, 4, "B x J x 3", "B"),
    ]
    for b, j, vis_shape, depth_shape in cases:
        coord = torch.randn(b, j, 3) * 8 + 32
        target = _loss_target(b, j, vis_shape, depth_shape)
        kept = {k: v.clone() for k, v in target.items()}
        where = f"vis of shape {vis_shape} = {tuple(target['vis'].shape)}, have_depth {depth_shape} = " \
                f"{tuple(target['have_depth'].shape)}"
        try:
            out = call(fn, coord.clone(), target)
        except Mistake as err:
            raise Mistake(f"{err} (with {where}: all the mask shapes in the task must work)") from None
        if set(target) != set(kept) or any(target[k].shape != kept[k].shape or not torch.equal(target[k], kept[k])
                                           for k in kept):
            raise Mistake("your function changed the target dictionary it was given (e.g. target['vis'] = ...); "
                          "keep the reshaped masks in local variables")
        if not isinstance(out, torch.Tensor):
            raise Mistake(f"return a tensor (B x J); you returned {type(out).__name__} {out!r:.40}")
        ref = coord_l1_loss(coord, target).double()
        if tuple(out.shape) != (b, j):
            raise Mistake(_shape_mistake(out, ref, b, j))
        got = out.detach().double().cpu()
        if torch.allclose(got, ref, atol=1e-4, rtol=1e-5):
            continue
        for message, wrong in _loss_variants(coord, target).items():
            if torch.allclose(got, wrong, atol=1e-4, rtol=1e-5) and not torch.allclose(wrong, ref, atol=1e-4):
                raise Mistake(message)
        worst = (got - ref).abs().max().item()
        raise Mistake(f"with {where}, your loss differs from minipose.coord_l1_loss by up to {worst:.3g}. Per joint "
                      "it is (|dx|*vis + |dy|*vis + |dz|*vis*have_depth) / 3")
    # The loss is what training differentiates: its gradient must be right too.
    coord = (torch.randn(2, 3, 3, dtype=torch.float64) * 8 + 32).requires_grad_()
    target = _loss_target(2, 3, "B x J", "B", dtype=torch.float64)
    out = call(fn, coord, target)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise Mistake("the loss has no gradient: .item(), .numpy(), .detach() or torch.no_grad() cut it off, so "
                      "training could not use it")
    try:
        ok = torch.autograd.gradcheck(lambda c: fn(c, target), (coord,), raise_exception=False)
    except Exception:  # noqa: BLE001 - reported below
        ok = False
    if not ok:
        raise Mistake("the values are right but the gradient is not (torch.autograd.gradcheck fails in float64): "
                      "avoid in-place edits of the prediction, .detach(), .data and casts such as .float()")
    return ("Matches minipose.coord_l1_loss for vis of shape B x J, B x J x 1 and B x J x 3 and have_depth of "
            "shape B and B x 1, with masked joints and 2D-only images, and gradcheck agrees.")


q1 = Exercise(
    "06.1", "the masked L1 loss", "my_coord_l1_loss", _check_coord_l1_loss,
    refuses=("minipose.posenet.coord_l1_loss",),
    hints=[
        "Start from error = (coord - target['coord']).abs(), B x J x 3. Make vis B x J x 1 when it is B x J "
        "(vis.unsqueeze(2)) so it multiplies all three coordinates, and have_depth B x 1 (reshape(-1, 1)) so it "
        "multiplies one image's row of joints.",
        "Then (error[:, :, 0] + error[:, :, 1] + error[:, :, 2] * have_depth) / 3 is B x J. No mean: the training "
        "step takes it.",
    ],
)


# --- 06.2: one training step ------------------------------------------------------------------------------------

_LR, _MOMENTUM = 0.05, 0.9
# Parameters compared after each step, from the first convolution to the last: a wrong step changes them all.
_WATCHED = ["backbone.conv1.weight", "backbone.bn1.weight", "backbone.layer3.0.downsample.0.weight",
            "backbone.layer4.1.bn2.bias", "head.deconv_layers.1.weight", "head.final_layer.weight",
            "head.final_layer.bias"]


_setup: list = []


def _tiny_setup():
    """A small PoseNet (ResNet-18, 8 depth bins, 3 joints), an SGD optimizer with momentum, a batch and a target.

    Every call returns fresh copies of the same start (built once per process: building is the slow part).
    """
    if not _setup:
        torch.manual_seed(62)
        net = get_pose_net(Config(resnet_type=18, depth_dim=8), is_train=False, joint_num=3)
        img = torch.randn(2, 3, 32, 64)  # non-square: heatmaps are 8 x 16, with 8 depth bins
        target = {"coord": torch.rand(2, 3, 3) * torch.tensor([16.0, 8.0, 8.0]),
                  "vis": torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]),  # joint 1 of image 0 is not annotated
                  "have_depth": torch.tensor([1.0, 0.0])}  # image 1 is 2D-only
        _setup.extend([net, img, target])
    net, img, target = _setup
    net = copy.deepcopy(net).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=_LR, momentum=_MOMENTUM)
    return net, optimizer, img.clone(), {k: v.clone() for k, v in target.items()}


def _reference_step(net, optimizer, img, target) -> float:
    optimizer.zero_grad()
    loss = net(img, target).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def _watched(net, grad: bool = False) -> torch.Tensor:
    """The watched parameters (or their gradients, zero where None), flattened into one float64 vector."""
    named = dict(net.named_parameters())
    parts = []
    for name in _WATCHED:
        p = named[name]
        t = p if not grad else p.grad if p.grad is not None else torch.zeros_like(p)
        parts.append(t.detach().flatten())
    return torch.cat(parts).double()


_reference_run: dict[str, object] = {}


def _reference() -> dict[str, object]:
    """The reference's two steps from the same start, computed once per process (they are deterministic)."""
    if not _reference_run:
        net, optimizer, img, target = _tiny_setup()
        run = {"start": _watched(net)}
        for step in (1, 2):
            run[f"loss{step}"] = _reference_step(net, optimizer, img, target)
            run[f"after{step}"], run[f"grad{step}"] = _watched(net), _watched(net, grad=True)
        _reference_run.update(run)
    return _reference_run


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    return torch.allclose(a, b, rtol=rtol, atol=atol)


def _same_loss(out: float, ref: float) -> bool:
    return abs(out - ref) <= 1e-4 * max(1.0, abs(ref))


def _check_step_result(out, net, step: int) -> None:
    if out is None:
        raise Mistake("your train_step returns nothing; return the loss as a Python float: loss.item()")
    if isinstance(out, torch.Tensor):
        raise Mistake("return loss.item(), a Python float, not the tensor: a training loop that logs or adds up the "
                      "returned losses would keep tensors (on a GPU, GPU memory) alive, and their graph too")
    if not isinstance(out, float):
        raise Mistake(f"return the loss as a Python float (loss.item()); you returned {type(out).__name__} {out!r:.40}")
    if not net.training:
        raise Mistake("after your step the network is in eval mode (net.eval()): BatchNorm would then use its "
                      "running statistics instead of the batch's. A training step leaves the mode as it was")
    tracked = int(net.backbone.bn1.num_batches_tracked)  # +1 for every forward in training mode
    if tracked > step:
        raise Mistake(f"after {step} step(s) BatchNorm has seen {tracked} batches: your step runs the network forward "
                      "more than once, and every training-mode forward updates BatchNorm's running statistics. Call "
                      "net(img, target) once")
    if tracked < step:
        raise Mistake(f"after {step} step(s) BatchNorm has seen {tracked} batches: your step does not run the network "
                      "in training mode (net.eval() during the forward?), so BatchNorm normalises with running "
                      "statistics. Leave the mode as it was given: training")


def _check_train_step(fn) -> str:
    ref = _reference()
    net, optimizer, img, target = _tiny_setup()
    b, j = target["vis"].shape

    out = call(fn, net, optimizer, img, target)
    _check_step_result(out, net, 1)
    after = _watched(net)
    if torch.equal(after, ref["start"]):
        if not _watched(net, grad=True).any():
            raise Mistake("the parameters did not change and hold no gradient after your step: the order is "
                          "optimizer.zero_grad(), loss = net(img, target).mean(), loss.backward(), optimizer.step()")
        raise Mistake("the gradients were computed but the parameters did not change: call optimizer.step() after "
                      "loss.backward()")
    if not _close(after, ref["after1"]):
        moved, ref_moved = after - ref["start"], ref["after1"] - ref["start"]
        k = round((moved @ ref_moved / (ref_moved @ ref_moved)).item())  # how many times the reference step
        if k > 1 and (moved - k * ref_moved).norm() < 1e-3 * k * ref_moved.norm():
            over = {b * j: "images and joints", j: "joints", b: "images"}.get(k, "")
            raise Mistake(f"your step moved the parameters {k} times as far as the reference step: the loss was "
                          + (f"summed over {over} instead of averaged" if over else f"multiplied by {k}")
                          + "; take net(img, target).mean(), as the official trainer does")
        if not _same_loss(out, ref["loss1"]):
            raise Mistake("the loss you trained on is not the mean of net(img, target): pass the target to the "
                          "network, which returns the B x J loss masked by vis and have_depth, and take its .mean()")
        raise Mistake("after one step your parameters differ from the reference step (zero_grad, "
                      "net(img, target).mean(), backward, step)")
    if not _same_loss(out, ref["loss1"]):
        raise Mistake("the step is right but the number you return is not the loss it trained on: return "
                      "loss.item() of net(img, target).mean()")

    out = call(fn, net, optimizer, img, target)
    _check_step_result(out, net, 2)
    if not _close(_watched(net), ref["after2"]):
        if _close(_watched(net, grad=True), ref["grad1"] + ref["grad2"], rtol=1e-3):
            raise Mistake("the first step is right but the second used the sum of both steps' gradients: "
                          "loss.backward() adds to .grad, so call optimizer.zero_grad() at the start of every step")
        raise Mistake("the first step matches the reference but the second does not: a step must only use the "
                      "optimizer you are given and the gradients of this batch")
    if not _same_loss(out, ref["loss2"]):
        raise Mistake("the second step is right but the number it returns is not its loss: return loss.item()")
    return ("Two steps of SGD with momentum on a ResNet-18 PoseNet (2 x 3 x 32 x 64 images, masked target) match "
            "the reference step, parameters and returned loss.")


q2 = Exercise(
    "06.2", "one training step", "train_step", _check_train_step,
    refuses=("minipose.steps.train_step", "minipose.train.train", "minipose.bench.training_step"),
    hints=[
        "Four lines, in the order of the official main/train.py: optimizer.zero_grad(); "
        "loss = net(img, target).mean(); loss.backward(); optimizer.step().",
        "Return loss.item(): a Python float, for logging.",
    ],
)


# --- questions -------------------------------------------------------------------------------------------------

q3 = Question(
    "06.3", "have_depth for both images",
    hints=["Which term of (|dx|*vis + |dy|*vis + |dz|*vis*have_depth) / 3 does have_depth touch, and for which image "
           "did it change?"],
    answer="Only row 1 of the B x J loss (image 1, the one that had have_depth = 0) changes: each of its joints gains "
           "|dz| * vis / 3, so every entry of that row grows (all its joints are visible). Row 0 already had depth, so "
           "it is unchanged, and its invisible joint 0 still contributes exactly 0.",
)

q4 = Question(
    "06.4", "dividing by 3 when z is masked",
    hints=["Take a joint with the same error e on each coordinate, once in a 3D image and once in a 2D-only image."],
    answer="A 3D joint with error e on every coordinate costs (e + e + e) / 3 = e; the same joint in a 2D-only image "
           "costs (e + e) / 3 = 2e/3. So a 2D-only image weighs 2/3 of a 3D one in the mean, and its x and y "
           "gradients are exactly as large as those of a 3D image: per coordinate, both kinds of data count the "
           "same. Dividing by 2 for 2D-only images would instead give their x and y 3/2 the weight of a 3D image's. "
           "The mean is also over all B x J entries, masked ones included, so images with few annotated joints "
           "weigh less as well.",
)

q5 = Question(
    "06.5", "twenty steps on one batch",
    hints=["Call your train_step 20 times with the same imgs and target and print the returned losses.",
           "What would a network that memorises this one batch do?"],
    answer="The loss goes down (not necessarily every step, Adam and BatchNorm make it noisy): the gradient reaches "
           "every layer and the optimizer moves the weights in a useful direction, so the forward pass, loss, "
           "masks, backward and step are wired up correctly. Overfitting one batch is a classic first test. It "
           "does not prove that the network generalises to new images, that the targets are in the right units or "
           "that the coordinates mean what we think: a network can memorise random targets for random images too.",
)
