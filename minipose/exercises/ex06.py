"""Exercises of lesson 06, the assembled PoseNet and its loss (written directly, not generated).

The lesson writes the official loss, (|dx|*vis + |dy|*vis + |dz|*vis*have_depth) / 3 per joint, and one plain
training step. Its exercises ask for what it does not print: the trainer's number for a small case worked by hand
(predicted first), the loss as a mean over the coordinates that are actually supervised, and a training step that
clips the gradient by its global norm. Their references live here, written in float64.
"""
from __future__ import annotations

import copy
import math
from collections import OrderedDict

import torch
from torch import nn

from minipose.exercises import Exercise, Mistake, Prediction, Question, call, named_slip, read_number
from minipose.head import HeadNet
from minipose.posenet import ResPoseNet


# --- 06.0: predict the trainer's number for a case worked by hand -------------------------------------------------

# The lesson's case: 2 images x 2 joints, (prediction, target, vis) per joint; image 1 is 2D-only.
HAND_CASE = {
    "pred": [[(10, 20, 30), (7, 7, 7)], [(10, 20, 30), (5, 5, 5)]],
    "target": [[(12, 20, 33), (11, 11, 11)], [(13, 16, 39), (6, 6, 6)]],
    "vis": [[1, 0], [1, 1]],
    "have_depth": [1, 0],
}


def _hand_mean(use_vis=True, use_depth=True, depth_on_xy=False, divisor="3", reduce="mean") -> float:
    """The trainer's number for HAND_CASE, in plain Python; the keywords give the usual slips."""
    rows = []
    for image in range(2):
        hd = HAND_CASE["have_depth"][image] if use_depth else 1
        row = []
        for joint in range(2):
            p, t = HAND_CASE["pred"][image][joint], HAND_CASE["target"][image][joint]
            v = HAND_CASE["vis"][image][joint] if use_vis else 1
            dx, dy, dz = (abs(a - b) for a, b in zip(p, t))
            xy = hd if depth_on_xy else 1
            total = (dx * xy + dy * xy + dz * hd) * v
            row.append(total / {"3": 3, "1": 1, "supervised": 2 + hd}[divisor])
        rows.append(row)
    flat = [x for row in rows for x in row]
    if reduce == "annotated":
        count = sum(HAND_CASE["vis"][i][j] for i in range(2) for j in range(2))
        return sum(flat) / count
    if reduce == "sum":
        return sum(flat)
    if reduce == "sum joints":
        return sum(flat) / 2
    return sum(flat) / 4


def _check_hand_mean(answer) -> str:
    value = read_number(answer, "heatmap units", "2.5 or 5 / 2")
    want = _hand_mean()
    if abs(value - want) < 0.006:
        return (f"The loss is [[5/3, 0], [7/3, 2/3]]: the unannotated joint adds 0, the 2D-only image's z error "
                f"is dropped but it still divides by 3, and the mean of the four is 14/12 = {want:.4f}.")
    named_slip(value, [
        (_hand_mean(use_depth=False), "that counts the z error of image 1, which has no depth (have_depth = 0): "
                                      "its first joint is (3 + 4) / 3, not (3 + 4 + 9) / 3"),
        (_hand_mean(use_vis=False), "that counts image 0's joint 1, which is not annotated (vis = 0): it adds 0"),
        (_hand_mean(use_vis=False, use_depth=False), "that ignores both masks: vis = 0 removes image 0's joint 1, "
                                                     "have_depth = 0 removes image 1's z errors"),
        (_hand_mean(depth_on_xy=True), "have_depth removes only z: image 1 still trains x and y"),
        (_hand_mean(divisor="supervised"), "the official loss divides by 3 even when z is masked out, not by the "
                                           "2 coordinates a 2D-only joint has"),
        (_hand_mean(reduce="annotated"), "the mean runs over all B x J = 4 entries, the unannotated joint's 0 "
                                         "included, not over the 3 annotated joints"),
        (_hand_mean(divisor="1"), "each joint's sum of errors is divided by 3"),
        (_hand_mean(reduce="sum"), "that is the sum of the four entries; the trainer takes their mean"),
        (_hand_mean(reduce="sum joints"), "that sums over the joints and averages over the images; the trainer "
                                          "averages over all four entries"),
    ], rel=0, abs_tol=0.006)
    raise Mistake(f"{value:g} is not it: per joint (|dx|*vis + |dy|*vis + |dz|*vis*have_depth) / 3, "
                  "then the mean of the 2 x 2 entries")


q0 = Prediction(
    "06.0", "predict the trainer's number", "predicted_loss", _check_hand_mean,
    hints=["Work out the four entries of the 2 x 2 loss one by one, with (|dx|*vis + |dy|*vis + "
           "|dz|*vis*have_depth) / 3.",
           "Image 0, joint 0: (2 + 0 + 3) / 3. Image 0, joint 1 has vis = 0. Image 1 has no depth. Then the mean "
           "of all four."],
)


# --- 06.1: a mean over the supervised coordinates -------------------------------------------------------------

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


def _masks(coord: torch.Tensor, target: dict[str, torch.Tensor]):
    """|d| B x J x 3, vis B x J x 3 and have_depth B x 1 x 1, all float64."""
    b, j = coord.shape[:2]
    d = (coord.detach().double() - target["coord"].double()).abs()
    vis = target["vis"].double()
    vis = (vis.unsqueeze(2) if vis.ndim == 2 else vis).expand(b, j, 3)
    hd = target["have_depth"].double().reshape(b, 1, 1)
    return d, vis, hd


def _supervised_mean(coord, target, use_vis=True, use_depth=True, count_vis=True, count_depth=True,
                     x_mask=False) -> torch.Tensor:
    """Sum of |d| over the supervised coordinates / their number (0 when there are none), and usual slips."""
    d, vis, hd = _masks(coord, target)
    if x_mask:
        vis = vis[..., :1].expand_as(vis)
    ones = torch.ones_like(vis)
    xyz = torch.cat([torch.ones_like(hd), torch.ones_like(hd), hd], 2)  # B x 1 x 3: z only with depth
    top = d * (vis if use_vis else ones) * (xyz if use_depth else 1)
    bottom = (vis if count_vis else ones) * (xyz if count_depth else 1) * ones
    return top.sum() / bottom.sum().clamp(min=1)


def _supervised_variants(coord, target) -> dict[str, torch.Tensor]:
    """What realistic wrong answers return (message -> value), in float64."""
    d, vis, hd = _masks(coord, target)
    mask = vis * torch.cat([torch.ones_like(hd), torch.ones_like(hd), hd], 2)
    top = (d * mask).sum()
    per_image = (d * mask).sum((1, 2)) / mask.sum((1, 2)).clamp(min=1)
    joints = (mask.sum(2) > 0).double().sum().clamp(min=1)
    return {
        "you divided by all 3 x B x J coordinates, as coord_l1_loss(...).mean() does; divide by the number of "
        "coordinates that are supervised": top / d.numel(),
        "your count includes the z of 2D-only images: a z coordinate is supervised only where have_depth is 1 "
        "(and vis is 1)": _supervised_mean(coord, target, count_depth=False),
        "your count includes coordinates of joints that are not annotated: count only where vis is 1":
            _supervised_mean(coord, target, count_vis=False),
        "the z errors of 2D-only images are in your sum: multiply the z error by have_depth":
            _supervised_mean(coord, target, use_depth=False),
        "the errors of unannotated joints are in your sum: multiply every error by vis":
            _supervised_mean(coord, target, use_vis=False),
        "with a B x J x 3 vis each coordinate has its own mask; you used the x mask for all three":
            _supervised_mean(coord, target, x_mask=True),
        "you took a mean per image and then the mean of those; divide the batch's one sum by the batch's one "
        "count, so every supervised coordinate weighs the same": per_image.mean(),
        "you divided by the number of annotated joints; divide by the number of supervised coordinates (up to 3 "
        "per joint: x, y, and z only with depth)": top / joints,
        "the sum of the errors is not divided by the count": top,
        "that is a squared error; this loss is L1: the absolute difference, .abs()":
            (d**2 * mask).sum() / mask.sum().clamp(min=1),
    }


def _check_supervised_mean(fn) -> str:
    torch.manual_seed(6)
    cases = [(3, 5, "B x J", "B"), (2, 7, "B x J x 1", "B x 1"), (4, 6, "B x J x 3", "B x 1"),
             (5, 4, "B x J x 3", "B")]
    for b, j, vis_shape, depth_shape in cases:
        coord = torch.randn(b, j, 3) * 8 + 32
        target = _loss_target(b, j, vis_shape, depth_shape)
        kept = {k: v.clone() for k, v in target.items()}
        where = f"vis of shape {vis_shape}, have_depth of shape {depth_shape}"
        try:
            out = call(fn, coord.clone(), target)
        except Mistake as err:
            raise Mistake(f"{err} (with {where}: all the mask shapes in the task must work)") from None
        if set(target) != set(kept) or any(target[k].shape != kept[k].shape or not torch.equal(target[k], kept[k])
                                           for k in kept):
            raise Mistake("your function changed the target dictionary it was given (e.g. target['vis'] = ...); "
                          "keep the reshaped masks in local variables")
        if not isinstance(out, torch.Tensor):
            raise Mistake(f"return a tensor (one number, 0-dim); you returned {type(out).__name__} {out!r:.40}")
        if tuple(out.shape) != ():
            raise Mistake(f"return one number, a 0-dim tensor (the batch's sum divided by its count); you returned "
                          f"shape {tuple(out.shape)}")
        ref = _supervised_mean(coord, target)
        got = out.detach().double().cpu()
        if torch.allclose(got, ref, atol=1e-5, rtol=1e-5):
            continue
        for message, wrong in _supervised_variants(coord, target).items():
            if torch.allclose(got, wrong, atol=1e-5, rtol=1e-5) and not torch.allclose(wrong, ref, atol=1e-5):
                raise Mistake(message)
        raise Mistake(f"with {where}, you returned {got.item():.5g} instead of {ref.item():.5g}: add |coord - "
                      "target| over the supervised coordinates and divide by how many there are")
    # A batch in which nothing is supervised: 0, not 0 / 0.
    target = _loss_target(2, 3, "B x J", "B")
    target["vis"].zero_()
    out = call(fn, torch.randn(2, 3, 3) + 32, target)
    if not isinstance(out, torch.Tensor) or not torch.isfinite(out).all() or out.abs().max().item() > 1e-12:
        shown = out.item() if isinstance(out, torch.Tensor) and out.numel() == 1 else out
        raise Mistake(f"for a batch with no annotated joint you returned {shown!r:.40}, not 0: 0 / 0 is nan, and a "
                      "nan loss ruins every weight in one step. Divide by the count clamped to at least 1")
    # The loss is what training differentiates: its gradient must be right too.
    coord = (torch.randn(2, 3, 3, dtype=torch.float64) * 8 + 32).requires_grad_()
    target = _loss_target(2, 3, "B x J x 3", "B", dtype=torch.float64)
    out = call(fn, coord, target)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise Mistake("the loss has no gradient: .item(), .numpy(), .detach() or torch.no_grad() cut it off, so "
                      "training could not use it")
    try:
        ok = torch.autograd.gradcheck(lambda c: fn(c, target), (coord,), raise_exception=False)
    except Exception:  # noqa: BLE001 - reported below
        ok = False
    if not ok:
        raise Mistake("the value is right but the gradient is not (torch.autograd.gradcheck fails in float64): "
                      "avoid in-place edits of the prediction, .detach(), .data and casts such as .float()")
    return ("Matches the sum over supervised coordinates divided by their number, for vis of shape B x J, "
            "B x J x 1 and B x J x 3 and have_depth of shape B and B x 1; 0 when nothing is supervised; "
            "gradcheck agrees.")


q1 = Exercise(
    "06.1", "a mean over the supervised coordinates", "my_supervised_l1", _check_supervised_mean,
    refuses=("minipose.posenet.coord_l1_loss",),
    hints=[
        "Build one mask of shape B x J x 3 that is 1 exactly where a coordinate is supervised: vis (made "
        "B x J x 1 when it is B x J) times [1, 1, have_depth] for each image.",
        "Then (error * mask).sum() / mask.sum().clamp(min=1): the clamp turns 0 / 0 into 0 / 1 when nothing is "
        "supervised, and keeps the gradient.",
    ],
)


# --- 06.2: a training step that clips the gradient by its global norm -----------------------------------------

_LR = 0.05  # plain SGD: a parameter moves by exactly -lr x the gradient it was given, so the check reads it back

_setup: list = []


def _tiny_setup():
    """A small PoseNet in float64 (a two-convolution backbone with BatchNorm, the lesson's head 16 channels wide,
    8 depth bins, 3 joints), plain SGD, a batch and a masked target. Every call returns fresh copies of the same
    start (built once per process)."""
    if not _setup:
        torch.manual_seed(62)
        backbone = nn.Sequential(OrderedDict(
            conv1=nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), bn1=nn.BatchNorm2d(8), relu=nn.ReLU(),
            conv2=nn.Conv2d(8, 32, 3, stride=4, padding=1), pool=nn.AvgPool2d(4)))  # stride 32, as ResNet's
        net = ResPoseNet(backbone, HeadNet(3, in_channels=32, depth_dim=8, channels=16), joint_num=3).double()
        img = torch.randn(2, 3, 32, 64, dtype=torch.float64)  # heatmaps 8 x 16, 8 depth bins
        target = {"coord": torch.rand(2, 3, 3, dtype=torch.float64) * torch.tensor([16.0, 8.0, 8.0]).double(),
                  "vis": torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]).double(),
                  "have_depth": torch.tensor([1.0, 0.0]).double()}  # image 1 is 2D-only
        _setup.extend([net, img, target])
    net, img, target = _setup
    net = copy.deepcopy(net).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=_LR)
    return net, optimizer, img.clone(), {k: v.clone() for k, v in target.items()}


def _watched(net, grad: bool = False) -> list[torch.Tensor]:
    """Every parameter (or its gradient, zero where None), as float64 copies."""
    out = []
    for p in net.parameters():
        t = p if not grad else p.grad if p.grad is not None else torch.zeros_like(p)
        out.append(t.detach().double().clone())
    return out


def _global_norm(tensors) -> float:
    return math.sqrt(sum(float(t.double().square().sum()) for t in tensors))


def _raw_gradients(net, img, target) -> tuple[float, list[torch.Tensor], list[torch.Tensor], float]:
    """Loss, all gradients and the watched ones, at the net's current weights (on a copy: the net is untouched)."""
    twin = copy.deepcopy(net)
    loss = twin(img, target).mean()
    loss.backward()
    grads = [p.grad.detach().clone() for p in twin.parameters() if p.grad is not None]
    return loss.item(), grads, _watched(twin, grad=True), _global_norm(grads)


_reference_run: dict = {}


def _reference() -> dict:
    """Two clipped steps (max_norm a twentieth of the first gradient's norm), written out by hand, once per process."""
    if not _reference_run:
        net, optimizer, img, target = _tiny_setup()
        run = {"start": _watched(net)}
        loss1, grads1, watched1, norm1 = _raw_gradients(net, img, target)
        max_norm = round(norm1 / 20, 4)  # small enough that clipping by value acts too
        scale1 = min(1.0, max_norm / (norm1 + 1e-6))
        with torch.no_grad():
            for p, g in zip([p for p in net.parameters()], grads1):
                p -= _LR * scale1 * g
        loss2, grads2, watched2, norm2 = _raw_gradients(net, img, target)
        stale = _global_norm([scale1 * a + b for a, b in zip(grads1, grads2)])  # step 2 without zero_grad
        run.update(max_norm=max_norm, loss1=loss1, norm1=norm1, g1=watched1, loss2=loss2, norm2=norm2, g2=watched2,
                   scale1=scale1, stale_norm=stale, after1=_watched(net))
        _reference_run.update(run)
    return _reference_run


def _clip(grads: list[torch.Tensor], norm: float, max_norm: float, how: str = "") -> list[torch.Tensor]:
    """Clipping by the global norm, and the usual slips (`how`)."""
    if how == "none":
        return grads
    if how == "always":
        return [g * (max_norm / (norm + 1e-6)) for g in grads]
    if how == "per tensor":
        return [g * min(1.0, max_norm / (_global_norm([g]) + 1e-6)) for g in grads]
    if how == "by value":
        return [g.clamp(-max_norm, max_norm) for g in grads]
    if how == "squared":
        return [g * min(1.0, max_norm / (norm**2 + 1e-6)) for g in grads]
    return [g * min(1.0, max_norm / (norm + 1e-6)) for g in grads]


def _same(a: list[torch.Tensor], b: list[torch.Tensor], rtol: float = 1e-4) -> bool:
    scale = max(float(t.abs().max()) for t in b) or 1.0
    return all(torch.allclose(x, y, rtol=rtol, atol=1e-4 * scale) for x, y in zip(a, b))


_SLIPS = {
    "none": "your step moved the parameters by the unclipped gradient: scale the gradients after "
            "loss.backward() and before optimizer.step()",
    "always": "the gradient's norm was below max_norm, yet your step scaled it (up) to max_norm: clip only when "
              "the norm is larger than max_norm, otherwise leave the gradients as they are",
    "per tensor": "you clipped each parameter's gradient by its own norm; the global norm is one number for all "
                  "gradients together (the square root of the sum of every entry's square), and every gradient "
                  "is scaled by the same factor, so the direction of the step is kept",
    "by value": "you clamped each gradient entry to +-max_norm: that is clipping by value (torch's "
                "clip_grad_value_); clip by the global norm, one factor for all gradients",
    "squared": "your norm is the sum of squares without its square root",
}


def _step_output(out, net, step: int) -> tuple[float, float]:
    if out is None:
        raise Mistake("your step returns nothing; return (loss.item(), norm): two Python floats")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise Mistake(f"return two numbers, (loss, norm); you returned {type(out).__name__} {out!r:.40}")
    if any(isinstance(x, torch.Tensor) for x in out):
        raise Mistake("return Python floats (.item()), not tensors: a training loop that logs them would keep "
                      "tensors, and on a GPU their memory, alive")
    if not all(isinstance(x, (float, int)) and not isinstance(x, bool) for x in out):
        raise Mistake(f"return two Python floats, (loss, norm); you returned {out!r:.60}")
    if not net.training:
        raise Mistake("after your step the network is in eval mode (net.eval()); a training step leaves the mode "
                      "as it was given: training")
    tracked = int(net.backbone.bn1.num_batches_tracked)  # +1 for every forward in training mode
    if tracked != step:
        raise Mistake(f"after {step} step(s) BatchNorm has seen {tracked} batches: run net(img, target) once per "
                      "step, in the training mode it was given")
    return float(out[0]), float(out[1])


def _diagnose(moved: list[torch.Tensor], raw: list[torch.Tensor], norm: float, max_norm: float, want) -> None:
    for how, message in _SLIPS.items():
        wrong = _clip(raw, norm, max_norm, how)
        if not _same(wrong, want) and _same(moved, wrong):
            raise Mistake(message)


def _check_norm(got: float, norm: float, max_norm: float, loss: float, ref_loss: float) -> None:
    if abs(loss - ref_loss) > 1e-6 * max(1.0, abs(ref_loss)):
        raise Mistake("the step is right but the loss you return is not the one it trained on: return "
                      "loss.item() of net(img, target).mean()")
    if abs(got - norm) <= 1e-6 * norm:
        return
    if abs(got - min(norm, max_norm)) <= 1e-4 * norm:
        raise Mistake("you returned the norm after clipping; return the norm before it (it says how often, and "
                      "how hard, clipping acts)")
    if abs(got - norm**2) <= 1e-6 * norm**2:
        raise Mistake("the norm you return is the sum of squares without its square root")
    raise Mistake(f"the step is right but the norm you return, {got:.6g}, is not the gradient's global norm "
                  f"before clipping, {norm:.6g}")


def _check_clipped_step(fn) -> str:
    ref = _reference()
    max_norm = ref["max_norm"]
    net, optimizer, img, target = _tiny_setup()

    loss, norm = _step_output(call(fn, net, optimizer, img, target, max_norm), net, 1)
    moved = [(a - b) / _LR for a, b in zip(ref["start"], _watched(net))]  # the gradient SGD was given
    want = _clip(ref["g1"], ref["norm1"], max_norm)
    if not _same(moved, want):
        if all(float(m.abs().max()) == 0 for m in moved):
            raise Mistake("the parameters did not move: after loss.backward() and the clipping, call "
                          "optimizer.step() (and zero_grad() before the forward, not after backward)")
        if _same(_watched(net, grad=True), want) and _same(moved, ref["g1"]):
            raise Mistake("you clipped after optimizer.step(): the step had already used the unclipped gradient")
        _diagnose(moved, ref["g1"], ref["norm1"], max_norm, want)
        raise Mistake(f"the parameters moved by a gradient that is not the clipped one (the gradient's norm was "
                      f"{ref['norm1']:.4g}, max_norm {max_norm:.4g}): scale every gradient by max_norm / norm")
    _check_norm(norm, ref["norm1"], max_norm, loss, ref["loss1"])

    loss, norm = _step_output(call(fn, net, optimizer, img, target, max_norm), net, 2)
    moved = [(a - b) / _LR for a, b in zip(ref["after1"], _watched(net))]
    want = _clip(ref["g2"], ref["norm2"], max_norm)
    if not _same(moved, want):
        stale = [ref["scale1"] * a + b for a, b in zip(ref["g1"], ref["g2"])]
        if _same(moved, _clip(stale, ref["stale_norm"], max_norm)) or abs(norm - ref["stale_norm"]) < 1e-6 * norm:
            raise Mistake("the first step is right but the second used the sum of both steps' gradients: "
                          "loss.backward() adds to .grad, so call optimizer.zero_grad() at the start of every step")
        _diagnose(moved, ref["g2"], ref["norm2"], max_norm, want)
        raise Mistake("the first step matches the reference but the second does not: a step must only use the "
                      "optimizer you are given and the gradients of this batch")
    _check_norm(norm, ref["norm2"], max_norm, loss, ref["loss2"])

    big = 4 * ref["norm1"]  # a max_norm the gradient never reaches: the step must be the plain one
    net, optimizer, img, target = _tiny_setup()
    loss, norm = _step_output(call(fn, net, optimizer, img, target, big), net, 1)
    moved = [(a - b) / _LR for a, b in zip(ref["start"], _watched(net))]
    if not _same(moved, ref["g1"]):
        _diagnose(moved, ref["g1"], ref["norm1"], big, ref["g1"])
        raise Mistake(f"with max_norm = {big:.4g}, above the gradient's norm {ref['norm1']:.4g}, the step must be "
                      "the plain one: the gradients are left as they are")
    _check_norm(norm, ref["norm1"], big, loss, ref["loss1"])
    return (f"Two clipped steps (gradient norm {ref['norm1']:.3g}, max_norm {max_norm:.3g}) and one with a "
            "max_norm the gradient never reaches match SGD on the clipped gradient, in float64; the returned loss "
            "and norm are right.")


q2 = Exercise(
    "06.2", "a training step with gradient clipping", "clipped_train_step", _check_clipped_step,
    refuses=("minipose.steps.train_step", "minipose.train.train", "minipose.bench.training_step",
             "torch.nn.utils.clip_grad_norm_", "torch.nn.utils.get_total_norm",  # torch's clipping, and
             "torch.nn.utils.clip_grads_with_norm_", "torch.nn.utils.clip_grad_value_"),  # its two halves
    hints=[
        "The lesson's four lines, with two more between loss.backward() and optimizer.step(): the global norm, "
        "sqrt of the sum of (p.grad ** 2).sum() over every parameter with a gradient, then the scaling.",
        "If norm > max_norm, multiply every p.grad in place by max_norm / (norm + 1e-6) (p.grad.mul_(...)); "
        "return loss.item(), and the norm as a float.",
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
    hints=["Repeat the lesson's step (zero_grad, net(imgs, target).mean(), backward, step) 20 times with the same "
           "imgs and target, and print the losses.",
           "What would a network that memorises this one batch do?"],
    answer="The loss goes down (not necessarily every step, Adam and BatchNorm make it noisy): the gradient reaches "
           "every layer and the optimizer moves the weights in a useful direction, so the forward pass, loss, "
           "masks, backward and step are wired up correctly. Overfitting one batch is a classic first test. It "
           "does not prove that the network generalises to new images, that the targets are in the right units or "
           "that the coordinates mean what we think: a network can memorise random targets for random images too.",
)
