"""Exercise checks of lesson 06 (the loss and a training step): the reference passes, realistic mistakes get their
own message."""
from __future__ import annotations

import torch

import minipose
from exercise_helpers import assert_verdicts, reference
from minipose.exercises import FAILED, PASSED, ex06


def _parts(coord, target):
    """|d| (B x J x 3), vis as B x J x 3, have_depth as B x 1: the pieces the wrong losses below recombine."""
    b, j = coord.shape[:2]
    vis = target["vis"]
    vis = (vis.unsqueeze(2) if vis.ndim == 2 else vis).expand(b, j, 3)
    return (coord - target["coord"]).abs(), vis, target["have_depth"].reshape(b, 1)


def ignores_vis(coord, target):
    d, _, hd = _parts(coord, target)
    return (d[..., 0] + d[..., 1] + d[..., 2] * hd) / 3


def depth_mask_on_every_coordinate(coord, target):
    d, vis, hd = _parts(coord, target)
    return (d * vis).sum(2) * hd / 3


def halves(coord, target):
    d, vis, hd = _parts(coord, target)
    e = d * vis
    return (e[..., 0] + e[..., 1] + e[..., 2] * hd) / 2


def no_division(coord, target):
    d, vis, hd = _parts(coord, target)
    e = d * vis
    return e[..., 0] + e[..., 1] + e[..., 2] * hd


def euclidean(coord, target):
    d, vis, hd = _parts(coord, target)
    e = d**2 * vis
    return (e[..., 0] + e[..., 1] + e[..., 2] * hd).sqrt()


def only_x_masked(coord, target):
    d, vis, hd = _parts(coord, target)
    return (d[..., 0] * vis[..., 0] + d[..., 1] + d[..., 2] * hd) / 3


def x_mask_for_all(coord, target):  # a B x J x 3 vis read as one mask per joint
    d, vis, hd = _parts(coord, target)
    return (d[..., 0] + d[..., 1] + d[..., 2] * hd) * vis[..., 0] / 3


def signed(coord, target):
    _, vis, hd = _parts(coord, target)
    e = (coord - target["coord"]) * vis
    return (e[..., 0] + e[..., 1] + e[..., 2] * hd) / 3


def per_supervised_coordinate(coord, target):
    d, vis, hd = _parts(coord, target)
    e = d * vis
    return (e[..., 0] + e[..., 1] + e[..., 2] * hd) / (2 + hd)


def batch_mean(coord, target):
    return reference("06.1", "my_coord_l1_loss")(coord, target).mean(0)


def grand_mean(coord, target):
    return reference("06.1", "my_coord_l1_loss")(coord, target).mean()


def per_coordinate(coord, target):
    d, vis, hd = _parts(coord, target)
    return d * vis / 3


def have_depth_unshaped(coord, target):  # B-shaped have_depth multiplied into B x J: broadcasts over the joints
    d, vis, _ = _parts(coord, target)
    e = d * vis
    return (e[..., 0] + e[..., 1] + e[..., 2] * target["have_depth"]) / 3


def mutates_target(coord, target):
    if target["vis"].ndim == 2:
        target["vis"] = target["vis"].unsqueeze(2)
    return reference("06.1", "my_coord_l1_loss")(coord, target)


def detached(coord, target):
    return reference("06.1", "my_coord_l1_loss")(coord.detach(), target)


def test_coord_l1_loss_check():
    assert_verdicts(ex06.q1, reference("06.1", "my_coord_l1_loss"), [
        (ignores_vis, "the `vis` mask is ignored"),
        (depth_mask_on_every_coordinate, "`have_depth` multiplies x and y too"),
        (halves, "you divided by 2"),
        (no_division, "the sum is not divided by 3"),
        (euclidean, "that is the Euclidean (L2) distance"),
        (only_x_masked, "only x is masked by vis"),
        (x_mask_for_all, "you used the x mask for all three"),
        (signed, "the differences are not made positive"),
        (per_supervised_coordinate, "divided by the number of supervised coordinates"),
        (batch_mean, "you returned shape (5,): you took the mean over the batch"),
        (grand_mean, "a single number (the mean over images and joints)"),
        (per_coordinate, "one loss per coordinate, shape (3, 5, 3) = B x J x 3"),
        (have_depth_unshaped, "have_depth B = (3,): all the mask shapes in the task must work"),
        (mutates_target, "changed the target dictionary"),
        (detached, "the loss has no gradient"),
    ])


def test_other_correct_losses_pass():
    def expanded_masks(coord, target):  # one mask per coordinate, built explicitly
        d, vis, hd = _parts(coord, target)
        mask = vis * torch.cat([torch.ones_like(hd), torch.ones_like(hd), hd], 1).unsqueeze(1)
        return (d * mask).mean(2)
    assert ex06.q1.result(expanded_masks).status == PASSED


# --- 06.2 ------------------------------------------------------------------------------------------------------

def no_zero_grad(net, optimizer, img, target):
    loss = net(img, target).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def no_step(net, optimizer, img, target):
    optimizer.zero_grad()
    loss = net(img, target).mean()
    loss.backward()
    return loss.item()


def zero_grad_before_step(net, optimizer, img, target):  # the gradients are thrown away before they are used
    loss = net(img, target).mean()
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def returns_tensor(net, optimizer, img, target):
    optimizer.zero_grad()
    loss = net(img, target).mean()
    loss.backward()
    optimizer.step()
    return loss


def returns_nothing(net, optimizer, img, target):
    optimizer.zero_grad()
    net(img, target).mean().backward()
    optimizer.step()


def summed(net, optimizer, img, target):
    optimizer.zero_grad()
    loss = net(img, target).sum()
    loss.backward()
    optimizer.step()
    return loss.item()


def summed_over_joints(net, optimizer, img, target):
    optimizer.zero_grad()
    loss = net(img, target).sum(1).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def ends_in_eval_mode(net, optimizer, img, target):
    optimizer.zero_grad()
    loss = net(img, target).mean()
    loss.backward()
    optimizer.step()
    net.eval()
    return loss.item()


def forward_in_eval_mode(net, optimizer, img, target):
    net.eval()
    optimizer.zero_grad()
    loss = net(img, target).mean()
    loss.backward()
    optimizer.step()
    net.train()
    return loss.item()


def unmasked_loss(net, optimizer, img, target):  # net(img) without target, then an L1 that ignores the masks
    optimizer.zero_grad()
    loss = (net(img) - target["coord"]).abs().mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def two_forwards(net, optimizer, img, target):
    optimizer.zero_grad()
    coord = net(img)  # "for logging"
    loss = net(img, target).mean()
    loss.backward()
    optimizer.step()
    return loss.item() + 0 * coord.sum().item()


def test_train_step_check():
    assert_verdicts(ex06.q2, reference("06.2", "train_step"), [
        (no_zero_grad, "the second used the sum of both steps' gradients"),
        (no_step, "call optimizer.step() after loss.backward()"),
        (zero_grad_before_step, "the parameters did not change and hold no gradient"),
        (returns_tensor, "return loss.item(), a Python float, not the tensor"),
        (returns_nothing, "your train_step returns nothing"),
        (summed, "6 times as far as the reference step: the loss was summed over images and joints"),
        (summed_over_joints, "3 times as far as the reference step: the loss was summed over joints"),
        (ends_in_eval_mode, "the network is in eval mode"),
        (forward_in_eval_mode, "BatchNorm has seen 0 batches"),
        (unmasked_loss, "the loss you trained on is not the mean of net(img, target)"),
        (two_forwards, "your step runs the network forward more than once"),
    ])


def test_other_correct_steps_pass():
    def zero_grad_last(net, optimizer, img, target):  # clearing after the step works as well
        loss = net(img, target).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss.item()

    def loss_by_hand(net, optimizer, img, target):  # one forward without target, then the package's loss
        optimizer.zero_grad(set_to_none=False)
        loss = minipose.coord_l1_loss(net(img), target).mean()
        loss.backward()
        optimizer.step()
        return loss.item()
    for answer in (zero_grad_last, loss_by_hand):
        result = ex06.q2.result(answer)
        assert result.status == PASSED, result.message


def test_a_crash_inside_the_step_names_the_line():
    def no_grad_step(net, optimizer, img, target):
        optimizer.zero_grad()
        with torch.no_grad():
            loss = net(img, target).mean()
        loss.backward()
        optimizer.step()
        return loss.item()
    result = ex06.q2.result(no_grad_step)
    assert result.status == FAILED and "`loss.backward()`" in result.message


def test_questions_have_hints_and_answers(capsys):
    for question in (ex06.q3, ex06.q4, ex06.q5):
        question.hint()
        question.answer()
    printed = capsys.readouterr().out
    assert "question 06.3" in printed and "question 06.5" in printed
