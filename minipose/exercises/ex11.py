"""Exercises of lesson 11, training (written directly, not generated).

The lesson builds train_step, learning_rate and evaluate and then calls minipose.train.train, which it does not
print. Its exercises ask for what it does not show: the cpu preset's rate in its last epoch (predicted first), the
epoch loop itself (checked on a tiny BatchNorm network against a loop written here, never against train), and a
linear warm-up in front of the step schedule. Their references live here.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from minipose.config import Config
from minipose.exercises import Exercise, Mistake, Prediction, Question, call
from minipose.posenet import coord_l1_loss
from minipose.train import preset_config

# --- 11.0: predict the cpu preset's rate in its last epoch -----------------------------------------------------------

_CPU = preset_config("cpu")  # lr 1e-3, divided by 10 at epochs 17 and 19, 20 epochs (0 to 19)


def _check_last_rate(answer) -> str:
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise Mistake(f"write the rate as a number, like 0.001 or 1e-3; you gave {answer!r:.40}") from None
    lr, factor, steps, last = _CPU.lr, _CPU.lr_dec_factor, _CPU.lr_dec_epoch, _CPU.end_epoch - 1
    reached = sum(last >= e for e in steps)  # both: epoch 19 is itself a step epoch
    want = lr / factor ** reached
    if math.isclose(value, want, rel_tol=1e-6):
        return (f"Epoch {last} runs at {want:g}: both step epochs {steps} have been reached (an epoch in "
                f"lr_dec_epoch already runs at the lower rate), so 1e-3 is divided by 10 twice.")
    if math.isclose(value, lr / factor ** (reached - 1), rel_tol=1e-6):
        raise Mistake(f"epoch {last} is itself in lr_dec_epoch {steps}, so it already runs at the lower rate: "
                      "learning_rate counts the steps with epoch >= e, and both have been reached")
    if math.isclose(value, lr, rel_tol=1e-6):
        raise Mistake(f"the rate does not stay at {lr:g}: it is divided by {factor:g} at each epoch of {steps}")
    if math.isclose(value, lr / factor ** (reached + 1), rel_tol=1e-6):
        raise Mistake(f"one step too many: there are only {len(steps)} step epochs, {steps}")
    if value > lr:
        raise Mistake(f"{value:g} is more than the starting rate {lr:g}: each step divides the rate by "
                      f"{factor:g}, it never multiplies it")
    if value <= 0 or value == int(value):
        raise Mistake(f"{value:g} is not a learning rate: write the rate itself, a small positive number like "
                      "0.001, not its power of ten")
    raise Mistake(f"{value:g} is not it: start from {lr:g} and divide by {factor:g} once for every epoch of "
                  f"{steps} that epoch {last} has reached")


q0 = Prediction(
    "11.0", "predict the cpu preset's rate in its last epoch", "predicted_rate", _check_last_rate,
    hints=["learning_rate divides config.lr once for every epoch e of lr_dec_epoch with epoch >= e.",
           "Is 19 >= 19?"],
)


# --- 11.1: the epoch loop --------------------------------------------------------------------------------------------

class _TinyNet(nn.Module):
    """A stand-in for PoseNet, small enough for milliseconds: 8 x 8 crops -> 18 joints x (x, y, z) in heatmap units,
    with a BatchNorm, so that train and eval mode differ. While `watch` is set, every forward pass is written down
    in `calls`: which batch it saw, train mode or not, gradients on or not, and each param group's learning rate."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 4 * 4, 18 * 3)
        self.watch = None  # (optimizer, training batches, held-out batches)
        self.calls = []

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if self.watch is not None:
            optimizer, train_batches, held_out = self.watch
            which = next((("train", k) for k, b in enumerate(train_batches) if _same(img, b["img"])),
                         next((("held", k) for k, b in enumerate(held_out) if _same(img, b["img"])), ("other", -1)))
            self.calls.append((which, self.training, torch.is_grad_enabled(),
                               tuple(group["lr"] for group in optimizer.param_groups)))
        x = torch.relu(self.bn(self.conv(img)))
        return self.fc(x.flatten(1)).view(-1, 18, 3) + 4.0


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.equal(a.detach().cpu(), b)


def _target(batch: dict) -> dict:
    return {"coord": batch["joint_img"], "vis": batch["joint_vis"], "have_depth": batch["have_depth"]}


# (seed, config, epochs, training batches, held-out batches); both configs keep end_epoch 25, more than `epochs`
_LOOPS = [
    (1101, dataclasses.replace(Config(), lr=0.01, lr_dec_epoch=(1, 2), lr_dec_factor=10.0), 3, 3, 2),
    (1102, dataclasses.replace(Config(), lr=0.02, lr_dec_epoch=(2,), lr_dec_factor=5.0), 4, 2, 3),
]


def _loop_setup(seed: int, config: Config, n_train: int, n_held: int):
    """The tiny network, Adam with two param groups (as a backbone and a head), and batches of 4 random crops."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _TinyNet()
    optimizer = torch.optim.Adam([{"params": [*net.conv.parameters(), *net.bn.parameters()]},
                                  {"params": net.fc.parameters()}], lr=config.lr)
    g = torch.Generator().manual_seed(seed)

    def batches(count):
        return [{"img": torch.randn(4, 3, 8, 8, generator=g), "joint_img": torch.rand(4, 18, 3, generator=g) * 8,
                 "joint_vis": (torch.rand(4, 18, 1, generator=g) > 0.2).float(), "have_depth": torch.ones(4, 1)}
                for _ in range(count)]
    return net, optimizer, batches(n_train), batches(n_held)


def _schedule(config: Config, epoch: int) -> float:
    return config.lr / config.lr_dec_factor ** sum(epoch >= e for e in config.lr_dec_epoch)


def _reference_loop(seed: int, config: Config, epochs: int, n_train: int, n_held: int):
    """(network, each epoch's step losses, each epoch's held-out batch losses), the loop done right."""
    net, optimizer, train_batches, held_out = _loop_setup(seed, config, n_train, n_held)
    steps, held = [], []
    for epoch in range(epochs):
        for group in optimizer.param_groups:  # before the epoch's steps
            group["lr"] = _schedule(config, epoch)
        net.train()
        losses = []
        for batch in train_batches:
            optimizer.zero_grad()
            loss = coord_l1_loss(net(batch["img"]), _target(batch)).mean()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        steps.append(losses)
        net.eval()
        with torch.no_grad():
            held.append([coord_l1_loss(net(b["img"]), _target(b)).mean().item() for b in held_out])
    return net, steps, held


def _two_lists(out, epochs: int, where: str) -> tuple[list[float], list[float]]:
    try:
        losses, held = out
        losses, held = [float(v) for v in losses], [float(v) for v in held]
    except (TypeError, ValueError):
        raise Mistake(f"return two lists, (training losses, held-out losses), one number per epoch in each; you "
                      f"returned {out!r:.60}") from None
    if len(losses) != epochs or len(held) != epochs:
        raise Mistake(f"{where} you returned {len(losses)} training and {len(held)} held-out losses; there is one "
                      f"of each per epoch: loop over range(epochs), not config.end_epoch")
    return losses, held


def _check_calls(calls: list, config: Config, epochs: int, n_train: int, n_held: int, optimizer, where: str) -> None:
    """What the forward passes of the answer's loop show: which batches, in which mode, at which rate."""
    train = [c for c in calls if c[0][0] == "train"]
    held = [c for c in calls if c[0][0] == "held"]
    if not held:
        if any(not c[1] or not c[2] for c in train) or len(train) > epochs * n_train:
            raise Mistake("you evaluated on the training batches: the held-out loss must come from "
                          "held_out_batches, crops the steps never trained on")
        raise Mistake("no held-out batch ever went through the network: after each epoch's steps, run every batch "
                      "of held_out_batches through it")
    if any(c[1] for c in held):
        raise Mistake("you evaluated in train mode: BatchNorm then normalises with each held-out batch's own "
                      "statistics and moves its running averages towards them; call net.eval() first")
    if any(c[2] for c in held):
        raise Mistake("you evaluated with gradients on: every held-out forward pass builds a graph for a backward() "
                      "that never comes; wrap the evaluation in `with torch.no_grad():`")
    if any(not c[1] and c[2] for c in train):
        raise Mistake("a training step ran in eval mode: after evaluating, the network stays in eval mode until "
                      "net.train() (train_step calls it for you)")
    if any(not c[1] for c in train):
        raise Mistake("you ran the training batches through the network again in eval mode: the training loss of "
                      "an epoch is the mean of the losses its steps returned")
    if len(train) != epochs * n_train or len(held) != epochs * n_held:
        raise Mistake(f"{where} the network saw {len(train)} training and {len(held)} held-out batches; each epoch "
                      f"is one step per training batch ({n_train}), then one pass over the held-out batches "
                      f"({n_held}): {epochs * n_train} and {epochs * n_held}")
    order = [c[0] for c in calls if c[0][0] != "other"]
    expected = [("train", k) for k in range(n_train)] + [("held", k) for k in range(n_held)]
    if order != expected * epochs:
        if order[0][0] == "held":
            raise Mistake("you evaluated before the epoch's steps: the held-out loss of an epoch measures the "
                          "weights its steps left, so evaluate after them")
        raise Mistake("each epoch runs train_step on every training batch, in the order given, and then evaluates "
                      "every held-out batch; your loop visits them in another order")
    if not optimizer.state:
        raise Mistake("the optimizer you were given never took a step: use it for every epoch (a new Adam each "
                      "epoch would also forget its running averages)")
    rates = [train[e * n_train][3] for e in range(epochs)]
    if any(len(set(r)) > 1 for r in rates):
        raise Mistake("only some of the optimizer's param groups got the new rate: set group['lr'] in every group "
                      "of optimizer.param_groups")
    got = [r[0] for r in rates]
    want = [_schedule(config, e) for e in range(epochs)]

    def same(values):
        return all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(got, values))
    if same(want):
        return
    if same([config.lr] * epochs):
        raise Mistake("the learning rate stayed at config.lr in every epoch: at the start of each epoch set "
                      "group['lr'] = learning_rate(config, epoch) in every group of optimizer.param_groups "
                      "(a variable of your own, or optimizer.lr, changes nothing)")
    if same([_schedule(config, e - 1) for e in range(epochs)]):
        raise Mistake("each epoch ran at the previous epoch's rate: set the rate at the start of the epoch, "
                      "before its steps, to learning_rate(config, epoch), not after them")
    if same([_schedule(config, e + 1) for e in range(epochs)]):
        raise Mistake("each epoch ran at the next epoch's rate: epochs count from 0, as range(epochs) gives them; "
                      "learning_rate(config, epoch), not epoch + 1")
    e = next(e for e in range(epochs) if not math.isclose(got[e], want[e], rel_tol=1e-9))
    raise Mistake(f"{where} epoch {e} ran at the rate {got[e]:g}; the schedule gives learning_rate(config, {e}) "
                  f"= {want[e]:g}")


def _close_values(a: list[float], b: list[float]) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-4, abs_tol=1e-7) for x, y in zip(a, b))


def _check_train_epochs(fn) -> str:
    for seed, config, epochs, n_train, n_held in _LOOPS:
        where = f"with {epochs} epochs of {n_train} training batches and {n_held} held-out batches,"
        net, optimizer, train_batches, held_out = _loop_setup(seed, config, n_train, n_held)
        net.watch = (optimizer, train_batches, held_out)
        try:
            out = call(fn, net, optimizer, train_batches, held_out, config, epochs)
        finally:
            net.watch = None
        losses, held = _two_lists(out, epochs, where)
        _check_calls(net.calls, config, epochs, n_train, n_held, optimizer, where)
        right, steps, held_steps = _reference_loop(seed, config, epochs, n_train, n_held)
        for (name, mine), theirs in zip(net.state_dict().items(), right.state_dict().values()):
            if not torch.allclose(mine.double(), theirs.double(), rtol=1e-4, atol=1e-6):
                raise Mistake(f"{where} the network's {name} after the loop differs from a loop of one train_step "
                              "per training batch at each epoch's rate: use train_step (or the same five things "
                              "in its order) on every batch")
        mean = [sum(s) / len(s) for s in steps]
        if not _close_values(losses, mean):
            if _close_values(losses, [s[-1] for s in steps]):
                raise Mistake("your training losses are each epoch's last step's loss; return the mean over all "
                              "the epoch's steps")
            if _close_values(losses, [sum(s) for s in steps]):
                raise Mistake("your training losses are the sums of the step losses; return their mean")
            raise Mistake(f"{where} the training losses should be the mean of each epoch's step losses, "
                          f"{[round(m, 4) for m in mean]}; you returned {[round(v, 4) for v in losses]}")
        held_mean = [sum(h) / len(h) for h in held_steps]
        if not _close_values(held, held_mean):
            if _close_values(held, [h[-1] for h in held_steps]):
                raise Mistake("your held-out losses are each epoch's last held-out batch's loss; return the mean "
                              "over all held-out batches")
            if _close_values(held, [sum(h) for h in held_steps]):
                raise Mistake("your held-out losses are sums over the held-out batches; return their mean")
            raise Mistake(f"{where} the held-out losses should be the mean over the held-out batches of "
                          f"coord_l1_loss(...).mean(), {[round(m, 4) for m in held_mean]}; you returned "
                          f"{[round(v, 4) for v in held]}")
    return ("Two seeded runs of a tiny BatchNorm network (3 epochs of 3 batches, 4 epochs of 2), Adam with two "
            "param groups: each epoch set every group to learning_rate(config, epoch) before its steps, one "
            "train_step per batch, then the held-out batches in eval mode without gradients; the weights, "
            "BatchNorm's running averages, the mean training losses and the mean held-out losses match a loop "
            "written independently in the checker.")


q1 = Exercise(
    "11.1", "the epoch loop", "my_train_epochs", _check_train_epochs,
    refuses=("minipose.train.train", "minipose.train.main"),
    hints=[
        "For each epoch: for group in optimizer.param_groups: group['lr'] = learning_rate(config, epoch); then "
        "[train_step(net, optimizer, b) for b in train_batches]; then net.eval() and, under torch.no_grad(), "
        "coord_l1_loss(net(b['img']), target).mean().item() for each held-out batch b.",
        "Append the mean of the step losses and the mean of the held-out losses to two lists, and return both. "
        "train_step puts the network back in train mode at the next epoch's first step.",
    ],
)


# --- 11.2: a warm-up before the step schedule ------------------------------------------------------------------------

_WARMUPS = [  # (what, config, warm-up epochs); each is checked at every epoch up to its end_epoch
    ("the paper's Config (lr 1e-3, steps at 17 and 21, factor 10) with a warm-up of 5", Config(), 5),
    ("a config with lr 0.02, steps at 2 and 6, factor 4, and a warm-up of 4 (a step inside the warm-up)",
     dataclasses.replace(Config(), lr=0.02, lr_dec_epoch=(2, 6), lr_dec_factor=4.0, end_epoch=9), 4),
    ("a config with lr 0.5, one step at 3, factor 2, and a warm-up of 1 (no ramp at all)",
     dataclasses.replace(Config(), lr=0.5, lr_dec_epoch=(3,), lr_dec_factor=2.0, end_epoch=5), 1),
]


def _steps(config: Config, epoch: int, late: bool = False, shift: int = 0) -> float:
    """The step schedule; `late`: steps counted with epoch > e; `shift`: step epochs moved `shift` epochs later."""
    reached = sum((epoch > e + shift) if late else (epoch >= e + shift) for e in config.lr_dec_epoch)
    return config.lr / config.lr_dec_factor ** reached


def _warmup_rate(config: Config, epoch: int, warmup: int) -> float:
    """The reference: the step schedule's rate times min(1, (epoch + 1) / warmup)."""
    return _steps(config, epoch) * min(1.0, (epoch + 1) / warmup)


_WARMUP_MISTAKES = [  # (a wrong schedule, what the check says to it)
    (lambda c, e, w: _steps(c, e),
     ("there is no warm-up: epoch 0 runs at lr / warmup, and the rate climbs to lr over the first `warmup` "
      "epochs")),
    (lambda c, e, w: _steps(c, e) * min(1.0, e / w),
     ("your ramp starts at 0, so epoch 0 does not train at all: the factor is (epoch + 1) / warmup, which is "
      "1 / warmup at epoch 0 and 1 at epoch warmup - 1")),
    (lambda c, e, w: _steps(c, e) * (e + 1) / w,
     ("the warm-up never ends: after epoch warmup - 1 the factor stays at 1 (min(1, (epoch + 1) / warmup)), so "
      "the rate never exceeds the step schedule's")),
    (lambda c, e, w: c.lr * (e + 1) / w if e < w else _steps(c, e),
     ("during the warm-up you ramp towards config.lr, ignoring a step epoch that falls inside it: the warm-up "
      "factor multiplies the step schedule's rate at every epoch")),
    (lambda c, e, w: c.lr * min(1.0, (e + 1) / w),
     ("after the warm-up the rate never drops: the steps of config.lr_dec_epoch still divide it")),
    (lambda c, e, w: _steps(c, e, shift=w) * min(1.0, (e + 1) / w),
     ("your steps come `warmup` epochs late: lr_dec_epoch counts epochs from 0, like the warm-up, not from the "
      "end of the warm-up")),
    (lambda c, e, w: _steps(c, e, late=True) * min(1.0, (e + 1) / w),
     ("each step comes one epoch late: an epoch listed in lr_dec_epoch already runs at the lower rate "
      "(epoch >= e, not epoch > e)")),
]


def _same_rates(got: list[float], want: list[float]) -> bool:
    return all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15) for a, b in zip(got, want))


def _check_warmup_rate(fn) -> str:
    for what, config, warmup in _WARMUPS:
        epochs = range(config.end_epoch)
        want = [_warmup_rate(config, e, warmup) for e in epochs]
        got = []
        for epoch in epochs:
            value = call(fn, config, epoch, warmup)
            try:
                got.append(float(value))
            except (TypeError, ValueError):
                raise Mistake(f"return a number; for epoch {epoch} you returned {value!r:.60}") from None

        if _same_rates(got, want):
            continue
        for wrong, message in _WARMUP_MISTAKES:
            if _same_rates(got, [wrong(config, e, warmup) for e in epochs]):
                raise Mistake(f"for {what}: {message}")
        e = next(e for e in epochs if not math.isclose(got[e], want[e], rel_tol=1e-9, abs_tol=1e-15))
        raise Mistake(f"for {what}, at epoch {e} the rate is {want[e]:g} (the step schedule's "
                      f"{_steps(config, e):g} times min(1, {e + 1}/{warmup})); you return {got[e]:g}")
    return ("Every epoch of three schedules matches the step schedule times min(1, (epoch + 1) / warmup): the "
            "paper's with 5 warm-up epochs, one with a step inside a 4-epoch warm-up, and a warm-up of 1, "
            "which is the plain step schedule.")


q2 = Exercise(
    "11.2", "a linear warm-up before the step schedule", "my_warmup_rate", _check_warmup_rate,
    refuses=("minipose.steps.learning_rate",),
    hints=[
        "Two factors: the step schedule's rate (config.lr divided by config.lr_dec_factor once for every epoch e "
        "of config.lr_dec_epoch with epoch >= e), times the warm-up factor min(1, (epoch + 1) / warmup).",
        "At epoch 0 the factor is 1 / warmup, at epoch warmup - 1 it is 1, and it stays 1 after that.",
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
