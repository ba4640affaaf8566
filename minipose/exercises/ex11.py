"""Exercises of lesson 11, training (written directly, not generated)."""
from __future__ import annotations

import dataclasses
import math

import torch

from minipose.config import Config
from minipose.exercises import Exercise, Mistake, Question, call
from minipose.posenet import coord_l1_loss, get_pose_net
from minipose.train import learning_rate

# --- 11.1: the learning rate at epoch k ----------------------------------------------------------------------------

_SCHEDULES = [  # (what, config): the paper's, the cpu preset's, and one with three steps and another factor
    ("the paper's Config (lr 1e-3, steps at 17 and 21, factor 10)", Config()),
    ("a config with steps at epochs 3 and 5", dataclasses.replace(Config(), lr_dec_epoch=(3, 5), end_epoch=6)),
    ("a config with lr 0.02, steps at 2, 4 and 7 and lr_dec_factor 2",
     dataclasses.replace(Config(), lr=0.02, lr_dec_epoch=(2, 4, 7), lr_dec_factor=2.0, end_epoch=9)),
]


def _check_learning_rate(fn) -> str:
    for what, config in _SCHEDULES:
        for epoch in range(config.end_epoch):
            want = learning_rate(config, epoch)
            got = call(fn, config, epoch)
            try:
                got = float(got)
            except (TypeError, ValueError):
                raise Mistake(f"return a number; for epoch {epoch} you returned {got!r:.60}") from None
            if math.isclose(got, want, rel_tol=1e-9):
                continue
            steps = [e for e in config.lr_dec_epoch]
            passed = sum(epoch >= e for e in steps)
            where = f"for {what}, at epoch {epoch}"
            paper = config.lr / config.lr_dec_factor ** sum(epoch >= e for e in Config.lr_dec_epoch)
            if tuple(steps) != Config.lr_dec_epoch and math.isclose(got, paper, rel_tol=1e-9):
                raise Mistake(f"{where} you return {got:g}, as if the steps were at the paper's epochs "
                              f"{Config.lr_dec_epoch}: this config steps at {tuple(steps)}; take them from "
                              "config.lr_dec_epoch")
            if passed >= 2 and math.isclose(got, config.lr / config.lr_dec_factor, rel_tol=1e-9):
                raise Mistake(f"{where} you return {got:g}: only the first step is applied. Every epoch of "
                              f"lr_dec_epoch reached divides once more; {passed} have been reached, so "
                              f"lr / {config.lr_dec_factor:g}**{passed} = {want:g}")
            if passed and math.isclose(got, config.lr * config.lr_dec_factor ** passed, rel_tol=1e-9):
                raise Mistake(f"{where} you return {got:g}, more than the starting rate {config.lr:g}: divide by "
                              "lr_dec_factor at each step, do not multiply")
            if epoch in steps and math.isclose(got, want * config.lr_dec_factor, rel_tol=1e-9):
                raise Mistake(f"{where} you return {got:g}, the rate before the step: epoch {epoch} is in "
                              f"lr_dec_epoch, so it already runs at the lower rate {want:g} (count the steps with "
                              "epoch >= e, not epoch > e)")
            if passed and config.lr_dec_factor != 10 and math.isclose(got, config.lr / 10 ** passed, rel_tol=1e-9):
                raise Mistake(f"{where} you return {got:g}: you divided by 10, but this config's lr_dec_factor is "
                              f"{config.lr_dec_factor:g}; take the factor from the config")
            if config.lr != 1e-3 and math.isclose(got, 1e-3 * want / config.lr, rel_tol=1e-9):
                raise Mistake(f"{where} you return {got:g}: you started from 1e-3, but this config's lr is "
                              f"{config.lr:g}; take the starting rate from config.lr")
            raise Mistake(f"{where} the rate is {want:g} (lr {config.lr:g} divided by {config.lr_dec_factor:g} for "
                          f"each of the {passed} step epoch(s) of {steps} reached); you return {got:g}")
    return ("Every epoch of three schedules matches minipose.train.learning_rate: the paper's (1e-3, then 1e-4 from "
            "epoch 17 and 1e-5 from epoch 21), one with other step epochs, and one with three steps and factor 2.")


q1 = Exercise(
    "11.1", "the learning rate at epoch k", "my_learning_rate", _check_learning_rate,
    refuses=("minipose.steps.learning_rate",),
    hints=[
        "Count how many epochs of config.lr_dec_epoch have been reached (epoch >= e), then divide config.lr by "
        "config.lr_dec_factor that many times.",
        "config.lr / config.lr_dec_factor ** sum(epoch >= e for e in config.lr_dec_epoch). The official code "
        "writes the same thing as a loop over lr_dec_epoch that stops at the first step not yet reached.",
    ],
)


# --- 11.2: a step over k micro-batches (gradient accumulation) -------------------------------------------------------

_STEP_CONFIG = Config(resnet_type=18, input_shape=(32, 32), depth_dim=8)  # a small PoseNet: 8 x 8 x 8 heatmaps
_CASES = [(911, "adam", 2), (912, "sgd", 2), (913, "sgd", 4)]  # (seed, optimizer, k)


def _case(seed: int, opt: str):
    """A small PoseNet in train mode, its optimizer (Adam with one step taken, or SGD) and a batch of 8."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = get_pose_net(_STEP_CONFIG, is_train=False, joint_num=18)
    net.head.init_weights()
    out = _STEP_CONFIG.output_shape[0]
    batch = {
        "img": torch.randn(8, 3, *_STEP_CONFIG.input_shape, generator=g),
        "joint_img": torch.rand(8, 18, 3, generator=g) * torch.tensor([out, out, _STEP_CONFIG.depth_dim]),
        "joint_vis": (torch.rand(8, 18, 1, generator=g) > 0.2).float(),
        "have_depth": torch.ones(8, 1),
    }
    if opt == "adam":
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        net(batch["img"].flip(0)).sum().backward()  # an earlier step, so Adam has state ...
        optimizer.step()
    else:
        optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    for p in net.parameters():  # ... and gradients nobody cleared
        p.grad = torch.randn(p.shape, generator=g) * 0.05
    net.train()
    return net, optimizer, batch


def _variant(seed: int, opt: str, k: int, kind: str):
    """(parameters, BatchNorm buffers, returned loss) of one step done the way `kind` says ('right' is right)."""
    net, optimizer, batch = _case(seed, opt)
    optimizer.zero_grad()
    total = 0.0
    for j in range(k):
        if kind == "zero_grad inside":
            optimizer.zero_grad()
        part = {key: (v[j * len(v) // k:(j + 1) * len(v) // k] if kind == "contiguous" else v[j::k])
                for key, v in batch.items()}
        target = {"coord": part["joint_img"], "vis": part["joint_vis"], "have_depth": part["have_depth"]}
        loss = coord_l1_loss(net(part["img"]), target).mean()
        (loss if kind == "no division" else loss / k).backward()
        total += loss.item() / k
        if kind == "step inside":
            optimizer.step()
    if kind != "step inside":
        optimizer.step()
    return [p.detach().clone() for p in net.parameters()], [b.detach().clone() for b in net.buffers()], total


def _close(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.allclose(x, y, rtol=1e-4, atol=1e-6) for x, y in zip(a, b))


_WRONG = [
    ("no division", "each micro-batch's loss must be divided by k before backward(): the gradients add up, so "
                    "without / k the step is k times too big (with Adam it barely shows, since Adam rescales "
                    "gradients; with SGD it does)"),
    ("zero_grad inside", "zero_grad() inside the loop throws away the earlier micro-batches' gradients: call it once, "
                         "before the loop, so backward() can add all k up"),
    ("step inside", "optimizer.step() inside the loop takes k small steps; accumulation takes one, after the loop, "
                    "with the gradients of all k micro-batches"),
    ("contiguous", "your micro-batches are consecutive slices; take them strided, batch[key][j::k], items j, j + k, "
                   "j + 2k, ..., the way DistributedSampler deals a batch out to k processes (BatchNorm sees "
                   "different crops otherwise)"),
]


def _check_accumulate_step(fn) -> str:
    for seed, opt, k in _CASES:
        net, optimizer, batch = _case(seed, opt)
        before = [p.detach().clone() for p in net.parameters()]
        given = {key: v.clone() for key, v in batch.items()}
        out = call(fn, net, optimizer, batch, k)
        after = [p.detach().clone() for p in net.parameters()]
        buffers = [b.detach().clone() for b in net.buffers()]
        where = f"with {'Adam' if opt == 'adam' else 'SGD'} and k = {k}"
        if any(not torch.equal(given[key], batch[key]) for key in given):
            raise Mistake("your step changed the batch it was given; leave the data alone")
        if _close(after, before):
            raise Mistake(f"{where} the weights did not move: call optimizer.step() once, after the loop")
        right_params, right_buffers, right_loss = _variant(seed, opt, k, "right")
        if not _close(after, right_params):
            for kind, message in _WRONG:
                if _close(after, _variant(seed, opt, k, kind)[0]):
                    raise Mistake(f"{where}: {message}")
            raise Mistake(f"{where} the weights differ from one step on the summed gradients of the k strided "
                          "micro-batches: zero_grad once, then for each j: forward, loss / k, backward; then step")
        if not _close(buffers, right_buffers):
            raise Mistake("the weights are right but BatchNorm's running statistics are not: one forward pass per "
                          "micro-batch, in train mode")
        try:
            value = float(out)
        except (TypeError, ValueError):
            raise Mistake(f"return the loss as a number; you returned {out!r:.60}") from None
        if not math.isclose(value, right_loss, rel_tol=1e-4):
            hint = f" (k = {k} times the mean: divide each micro-batch's loss by k)" if math.isclose(
                value, right_loss * k, rel_tol=1e-4) else ""
            raise Mistake(f"{where} you return {value:.4f}; the batch's loss, the mean of the k micro-batches' "
                          f"losses, is {right_loss:.4f}{hint}")
    return ("With Adam and with SGD, k = 2 and 4: one step on the summed gradients of the strided micro-batches, "
            "each loss divided by k, BatchNorm's statistics as k forward passes leave them, and the batch's mean loss "
            "returned: minipose.train.train_step(..., accumulate=k) exactly.")


q2 = Exercise(
    "11.2", "one step over k micro-batches", "my_accumulate_step", _check_accumulate_step,
    hints=[
        "zero_grad once; then for j in range(k): part = {key: v[j::k] for key, v in batch.items()}, the loss of "
        "that part divided by k, backward(); after the loop one optimizer.step().",
        "backward() adds to .grad, so k backward passes of loss / k leave the gradient of the mean over all k parts, "
        "the gradient of the whole batch. Return the sum of the k (loss / k).item().",
    ],
)


# --- questions -------------------------------------------------------------------------------------------------------

q3 = Question(
    "11.3", "why does the learning rate drop, and why so late?",
    hints=["Look at a run's log.jsonl just after a step epoch of lr_dec_epoch.",
           "Adam's step size is about lr per weight, whatever the gradient's size. What does a fixed step size do "
           "near a minimum, with gradients that change from batch to batch?"],
    answer="Adam moves every weight by roughly lr per step, whatever the size of its gradient. Far from a good "
           "solution that is what we want: big, fast steps. Near one, each batch's gradient points somewhere a little "
           "different (the noise of a 32-crop sample), so steps of the same size make the weights wander around "
           "the minimum instead of settling in it; the loss stops falling. Dividing lr by 10 shrinks the wandering "
           "tenfold, and the loss drops at once (the kink in a training curve right after a step epoch). Doing it "
           "early would slow everything that came after: the paper keeps 1e-3 for 17 of its 25 epochs, while the "
           "loss is still falling, and takes the two smaller steps only for the last 8.",
)

q4 = Question(
    "11.4", "BatchNorm in train and in eval mode",
    hints=["Run the same crop through the network in train mode alone, and in train mode with 31 other crops."],
    answer="In train mode BatchNorm normalises each channel with the mean and variance of the current batch, and "
           "nudges its running averages towards them (momentum 0.1). In eval mode it uses those running averages. "
           "So in train mode one crop's output depends on the other crops of its batch, and a batch of one has no "
           "variance at all; a prediction must not depend on what else is being predicted, hence net.eval() for "
           "evaluation and inference. Forgetting net.train() afterwards trains with frozen statistics that no longer "
           "fit the changing weights; forgetting net.eval() gives evaluation numbers that change with the batch "
           "size and, through the running averages, alters the model by merely evaluating it.",
)

q5 = Question(
    "11.5", "what does the flat-2D baseline prove?",
    hints=["Which error is left when every joint is at its right pixel but at the root's depth?"],
    answer="The flat-2D baseline puts every joint exactly at its true pixel, so its whole error comes from depth: "
           "each joint sits at the pelvis's depth. A network that learnt 2D perfectly but no depth scores that "
           "number. Beating it (while also predicting 2D imperfectly) is only possible if the network has learnt "
           "how far in front of or behind the pelvis each joint is, from a single picture. Beating the mean pose "
           "shows less: the mean pose knows nothing about the picture, so a network that merely finds where the "
           "limbs are in 2D beats it without any depth.",
)
