"""Exercise checks of lesson 06 (a loss worked by hand, a mean over the supervised coordinates, a clipped training
step): the reference passes, realistic mistakes get their own message, and the checker's references agree with
the same thing written differently."""
from __future__ import annotations

import copy

import torch

import minipose
from exercise_helpers import assert_verdicts, reference
from minipose.exercises import FAILED, PASSED, ex06


# --- 06.0 ------------------------------------------------------------------------------------------------------

def test_predicted_loss_check():
    assert_verdicts(ex06.q0, reference("06.0", "predicted_loss"), [
        (2.0, "counts the z error of image 1"),
        (26 / 12, "which is not annotated (vis = 0)"),
        (3.0, "ignores both masks"),
        (5 / 12, "have_depth removes only z"),
        (37 / 24, "divides by 3 even when z is masked out"),
        (14 / 9, "not over the 3 annotated joints"),
        (3.5, "is divided by 3"),
        (14 / 3, "the sum of the four entries"),
        (7 / 3, "sums over the joints and averages over the images"),
        ("7/6", "give one number"),
        (1.3, "1.3 is not it"),
    ])
    for fine in (7 / 6, 1.17, torch.tensor(7 / 6), 14 / 12):
        assert ex06.q0.result(fine).status == PASSED, fine


def test_hand_case_against_the_package_loss():
    """The checker's plain-Python number is what coord_l1_loss gives on the same tensors, and 14/12."""
    case = ex06.HAND_CASE
    loss = minipose.coord_l1_loss(torch.tensor(case["pred"], dtype=torch.float64),
                                  {"coord": torch.tensor(case["target"], dtype=torch.float64),
                                   "vis": torch.tensor(case["vis"], dtype=torch.float64),
                                   "have_depth": torch.tensor(case["have_depth"], dtype=torch.float64)})
    assert abs(loss.mean().item() - ex06._hand_mean()) < 1e-12
    assert abs(ex06._hand_mean() - 14 / 12) < 1e-12


# --- 06.1 ------------------------------------------------------------------------------------------------------

def _parts(coord, target):
    """|d| (B x J x 3), vis as B x J x 3, the supervision mask B x J x 3."""
    b, j = coord.shape[:2]
    vis = target["vis"]
    vis = (vis.unsqueeze(2) if vis.ndim == 2 else vis).expand(b, j, 3)
    hd = target["have_depth"].reshape(b, 1, 1)
    xyz = torch.cat([torch.ones_like(hd), torch.ones_like(hd), hd], 2)
    return (coord - target["coord"]).abs(), vis, vis * xyz, xyz


def official_mean(coord, target):
    d, _, mask, _ = _parts(coord, target)
    return (d * mask).sum() / coord.numel()


def count_without_depth(coord, target):
    d, vis, mask, _ = _parts(coord, target)
    return (d * mask).sum() / vis.sum().clamp(min=1)


def count_without_vis(coord, target):
    d, vis, mask, xyz = _parts(coord, target)
    return (d * mask).sum() / (xyz * torch.ones_like(vis)).sum().clamp(min=1)


def sum_without_depth(coord, target):
    d, vis, mask, _ = _parts(coord, target)
    return (d * vis).sum() / mask.sum().clamp(min=1)


def sum_without_vis(coord, target):
    d, _, mask, xyz = _parts(coord, target)
    return (d * xyz).sum() / mask.sum().clamp(min=1)


def x_mask_for_all(coord, target):
    d, vis, _, xyz = _parts(coord, target)
    mask = vis[..., :1] * xyz
    return (d * mask).sum() / mask.sum().clamp(min=1)


def mean_of_image_means(coord, target):
    d, _, mask, _ = _parts(coord, target)
    return ((d * mask).sum((1, 2)) / mask.sum((1, 2)).clamp(min=1)).mean()


def per_annotated_joint(coord, target):
    d, _, mask, _ = _parts(coord, target)
    return (d * mask).sum() / (mask.sum(2) > 0).sum().clamp(min=1)


def not_divided(coord, target):
    d, _, mask, _ = _parts(coord, target)
    return (d * mask).sum()


def squared(coord, target):
    d, _, mask, _ = _parts(coord, target)
    return (d**2 * mask).sum() / mask.sum().clamp(min=1)


def per_joint(coord, target):
    d, _, mask, _ = _parts(coord, target)
    return (d * mask).sum(2) / mask.sum(2).clamp(min=1)


def no_clamp(coord, target):
    d, _, mask, _ = _parts(coord, target)
    return (d * mask).sum() / mask.sum()


def as_float(coord, target):
    return reference("06.1", "my_supervised_l1")(coord, target).item()


def detached(coord, target):
    return reference("06.1", "my_supervised_l1")(coord.detach(), target)


def mutates_target(coord, target):
    if target["vis"].ndim == 2:
        target["vis"] = target["vis"].unsqueeze(2)
    return reference("06.1", "my_supervised_l1")(coord, target)


def through_float32(coord, target):  # right values, but the float64 gradient is rounded to float32
    return reference("06.1", "my_supervised_l1")(coord.float(), {k: v.float() for k, v in target.items()})


def test_supervised_mean_check():
    assert_verdicts(ex06.q1, reference("06.1", "my_supervised_l1"), [
        (official_mean, "you divided by all 3 x B x J coordinates"),
        (count_without_depth, "your count includes the z of 2D-only images"),
        (count_without_vis, "your count includes coordinates of joints that are not annotated"),
        (sum_without_depth, "the z errors of 2D-only images are in your sum"),
        (sum_without_vis, "the errors of unannotated joints are in your sum"),
        (x_mask_for_all, "you used the x mask for all three"),
        (mean_of_image_means, "you took a mean per image"),
        (per_annotated_joint, "you divided by the number of annotated joints"),
        (not_divided, "the sum of the errors is not divided by the count"),
        (squared, "that is a squared error"),
        (per_joint, "you returned shape (3, 5)"),
        (no_clamp, "you returned nan, not 0"),
        (as_float, "return a tensor (one number, 0-dim); you returned float"),
        (detached, "the loss has no gradient"),
        (mutates_target, "changed the target dictionary"),
        (through_float32, "the gradient is not (torch.autograd.gradcheck fails in float64)"),
    ])


def _loop_mean(coord, target):
    """The same definition as plain Python loops over every coordinate."""
    b, j = coord.shape[:2]
    vis, hd = target["vis"], target["have_depth"].reshape(b)
    total, count = 0.0, 0
    for i in range(b):
        for k in range(j):
            for axis in range(3):
                v = float(vis[i, k] if vis.ndim == 2 else vis[i, k, 0 if vis.shape[2] == 1 else axis])
                if axis == 2:
                    v *= float(hd[i])
                if v:
                    total += abs(float(coord[i, k, axis]) - float(target["coord"][i, k, axis]))
                    count += 1
    return total / count if count else 0.0


def test_supervised_reference_against_loops():
    torch.manual_seed(0)
    for vis_shape, depth_shape in [("B x J", "B"), ("B x J x 1", "B x 1"), ("B x J x 3", "B")]:
        coord = torch.randn(4, 5, 3, dtype=torch.float64) * 8 + 32
        target = ex06._loss_target(4, 5, vis_shape, depth_shape, dtype=torch.float64)
        assert abs(ex06._supervised_mean(coord, target).item() - _loop_mean(coord, target)) < 1e-10
    target["vis"].zero_()
    assert ex06._supervised_mean(coord, target).item() == 0.0 == _loop_mean(coord, target)


# --- 06.2 ------------------------------------------------------------------------------------------------------

def _norm(net):
    return torch.sqrt(sum((p.grad**2).sum() for p in net.parameters() if p.grad is not None)).item()


def _scale_all(net, factor):
    for p in net.parameters():
        p.grad.mul_(factor)


def _step(clip="global", zero_grad=True, forwards=1, step=True, give=("loss", "norm"), eval_after=False):
    """The lesson's clipped step with one thing done differently."""
    def fn(net, optimizer, img, target, max_norm):
        if zero_grad:
            optimizer.zero_grad()
        for _ in range(forwards - 1):
            net(img)
        loss = net(img, target).mean()
        loss.backward()
        norm = _norm(net)
        if clip == "global" and norm > max_norm:
            _scale_all(net, max_norm / (norm + 1e-6))
        elif clip == "always":
            _scale_all(net, max_norm / (norm + 1e-6))
        elif clip == "per tensor":
            for p in net.parameters():
                p.grad.mul_(min(1.0, max_norm / (p.grad.norm().item() + 1e-6)))
        elif clip == "by value":
            for p in net.parameters():
                p.grad.clamp_(-max_norm, max_norm)
        elif clip == "squared" and norm**2 > max_norm:
            _scale_all(net, max_norm / (norm**2 + 1e-6))
        if step:
            optimizer.step()
        if clip == "after step" and norm > max_norm:
            _scale_all(net, max_norm / (norm + 1e-6))
        if eval_after:
            net.eval()
        values = {"loss": loss.item(), "norm": norm, "clipped norm": min(norm, max_norm), "norm2": norm**2,
                  "loss tensor": loss}
        out = tuple(values[k] for k in give)
        return out[0] if len(out) == 1 else out if give else None
    return fn


def test_clipped_step_check():
    assert_verdicts(ex06.q2, reference("06.2", "clipped_train_step"), [
        (_step(clip="none"), "by the unclipped gradient"),
        (_step(clip="after step"), "you clipped after optimizer.step()"),
        (_step(clip="per tensor"), "by its own norm"),
        (_step(clip="by value"), "that is clipping by value"),
        (_step(clip="squared"), "your norm is the sum of squares without its square root"),
        (_step(clip="always"), "yet your step scaled it (up) to max_norm"),
        (_step(zero_grad=False), "the second used the sum of both steps' gradients"),
        (_step(step=False), "the parameters did not move"),
        (_step(forwards=2), "BatchNorm has seen 2 batches"),
        (_step(eval_after=True), "the network is in eval mode"),
        (_step(give=("loss",)), "return two numbers, (loss, norm); you returned float"),
        (_step(give=("loss tensor", "norm")), "return Python floats (.item()), not tensors"),
        (_step(give=()), "your step returns nothing"),
        (_step(give=("loss", "clipped norm")), "you returned the norm after clipping"),
        (_step(give=("loss", "norm2")), "the norm you return is the sum of squares without its square root"),
        (_step(give=("norm", "loss")), "the loss you return is not the one it trained on"),
    ])


def test_torch_clipping_is_refused():
    def with_torch(net, optimizer, img, target, max_norm):
        optimizer.zero_grad()
        loss = net(img, target).mean()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm)
        optimizer.step()
        return loss.item(), norm.item()
    result = ex06.q2.result(with_torch)
    assert result.status == FAILED and "clip_grad_norm_" in result.message, result.message

    def with_torch_halves(net, optimizer, img, target, max_norm):  # the two public halves of clip_grad_norm_
        optimizer.zero_grad()
        loss = net(img, target).mean()
        loss.backward()
        norm = torch.nn.utils.get_total_norm([p.grad for p in net.parameters()])
        torch.nn.utils.clip_grads_with_norm_(net.parameters(), max_norm, norm)
        optimizer.step()
        return loss.item(), norm.item()
    result = ex06.q2.result(with_torch_halves)
    assert result.status == FAILED and "the exercise is to write it yourself" in result.message, result.message


def test_clipped_reference_against_torch():
    """The checker's hand-written clipping (two steps) is torch.nn.utils.clip_grad_norm_ followed by SGD."""
    ref = ex06._reference()
    net, optimizer, img, target = ex06._tiny_setup()
    for step, after in ((1, "after1"), (2, None)):
        optimizer.zero_grad()
        loss = net(img, target).mean()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(net.parameters(), ref["max_norm"]).item()
        optimizer.step()
        assert abs(norm - ref[f"norm{step}"]) < 1e-9 * norm and abs(loss.item() - ref[f"loss{step}"]) < 1e-12
        if after:
            assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-12) for a, b in zip(ex06._watched(net), ref[after]))
    assert ref["norm1"] > ref["max_norm"]  # the first step clips
    assert ex06.q2.result(reference("06.2", "clipped_train_step")).status == PASSED


def test_other_correct_steps_pass():
    def without_eps(net, optimizer, img, target, max_norm):  # max_norm / norm, without torch's 1e-6
        optimizer.zero_grad()
        loss = net(img, target).mean()
        loss.backward()
        norm = _norm(net)
        _scale_all(net, min(1.0, max_norm / norm))
        optimizer.step()
        optimizer.zero_grad()
        return loss.item(), norm

    copied = copy.deepcopy(without_eps)
    assert ex06.q2.result(copied).status == PASSED


def test_questions_have_hints_and_answers(capsys):
    for question in (ex06.q3, ex06.q4, ex06.q5):
        question.hint()
        question.answer()
    printed = capsys.readouterr().out
    assert "question 06.3" in printed and "question 06.5" in printed
