"""Exercises of lesson 11, training (written directly, not generated).

The lesson builds train_step, learning_rate and evaluate and then calls minipose.train.train, which it does not
print. Its exercises ask for what it does not show: how many epochs of the cpu preset run at 1e-4 (predicted
first), the epoch loop itself (checked on a tiny BatchNorm network against a loop written here, never against train), and the
running averages a BatchNorm keeps in train mode (checked against an update written here in float64, which the tests
compare with nn.BatchNorm2d). Their references live here.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from minipose.config import Config
from minipose.exercises import Exercise, Mistake, Prediction, Question, call, named_slip, read_number
from minipose.posenet import coord_l1_loss
from minipose.train import preset_config

# --- 11.0: predict how many epochs of the cpu preset run at 1e-4 -----------------------------------------------------

_CPU = preset_config("cpu")  # lr 1e-3, divided by 10 at epochs 17 and 19, 20 epochs (0 to 19)


def _check_epochs_at_1e4(answer) -> str:
    got = read_number(answer, "epochs", "5", whole=True)
    lr, factor, steps, end = _CPU.lr, _CPU.lr_dec_factor, _CPU.lr_dec_epoch, _CPU.end_epoch
    rate = lr / factor  # 1e-4: one step reached
    at_rate = [e for e in range(end) if math.isclose(lr / factor ** sum(e >= s for s in steps), rate)]
    if got == len(at_rate):
        return (f"{len(at_rate)} epochs, {at_rate[0]} and {at_rate[-1]}: epoch {steps[0]} is the first at the lower "
                f"rate (an epoch in lr_dec_epoch already runs at it), and epoch {steps[1]} already runs at "
                f"{rate / factor:g}.")
    named_slip(got, [
        (len(at_rate) + 1, f"epoch {steps[1]} is in lr_dec_epoch {steps}, so it already runs at {rate / factor:g}: "
                           f"only the epochs from {steps[0]} up to {steps[1]} - 1 run at {rate:g}"),
        (len(at_rate) - 1, f"epoch {steps[0]} is in lr_dec_epoch {steps}, so it already runs at {rate:g}: count it "
                           "too"),
        (4, f"4 epochs (17 to 20) is the paper's schedule, which steps at 17 and 21; the cpu preset steps at {steps}"),
        (steps[0], f"{steps[0]} epochs (0 to {steps[0] - 1}) run at the starting rate {lr:g}, not at {rate:g}"),
        (end, f"{end} is how many epochs the cpu preset trains in all"),
        (0, f"the rate does pass through {rate:g}: it is divided by {factor:g} once at each epoch of {steps}"),
    ], rel=0, abs_tol=0)
    if got < 0:
        raise Mistake(f"{got:g} is not a number of epochs: a count is never negative")
    raise Mistake(f"{got:g} is not it: list the epochs 0 .. {end - 1} and the rate each runs at, "
                  f"dividing by {factor:g} at every epoch of {steps} reached (epoch >= e)")


q0 = Prediction(
    "11.0", "predict how many epochs of the cpu preset run at 1e-4", "epochs_at_1e4", _check_epochs_at_1e4,
    hints=["learning_rate divides config.lr once for every epoch e of lr_dec_epoch with epoch >= e.",
           "Which epochs have reached 17 but not 19?"],
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


# --- 11.2: BatchNorm's running averages ------------------------------------------------------------------------------

def _batches(seed: int, shapes: list[tuple[int, int, int, int]], scale: float) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=generator) * scale + k for k, shape in enumerate(shapes)]


_RUNS = [  # (what, batches, momentum); every channel's statistics move from batch to batch
    ("three batches of 4 x 3 x 5 x 2, momentum 0.1 (PyTorch's default)", _batches(0, [(4, 3, 5, 2)] * 3, 2.0), 0.1),
    ("two batches of different sizes, 2 x 2 x 3 x 3 then 6 x 2 x 1 x 2, momentum 0.5",
     _batches(1, [(2, 2, 3, 3), (6, 2, 1, 2)], 3.0), 0.5),
    ("four batches of 3 x 4 x 2 x 2, momentum None (a plain average)", _batches(2, [(3, 4, 2, 2)] * 4, 1.5), None),
    ("one batch of 2 x 3 x 1 x 1 (two numbers per channel), momentum 0.3", _batches(3, [(2, 3, 1, 1)], 1.0), 0.3),
]


def _stats(x: torch.Tensor, unbiased: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Each channel's mean and variance over its N x H x W numbers, as sums (float64)."""
    x = x.double()
    n = x.numel() // x.shape[1]
    mean = x.sum(dim=(0, 2, 3)) / n
    squares = ((x - mean.view(1, -1, 1, 1)) ** 2).sum(dim=(0, 2, 3))
    return mean, squares / (n - 1 if unbiased else n)


def _per_pixel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A slip: the statistics at each pixel over the batch, then averaged over the pixels."""
    x = x.double()
    return x.mean(dim=0).mean(dim=(1, 2)), x.var(dim=0).mean(dim=(1, 2))


def _running(batches, momentum, unbiased=True, start=(0.0, 1.0), flip=False, plain=None, per_pixel=False):
    """The reference (defaults) and its slips: the update PyTorch documents for nn.BatchNorm2d, in float64."""
    channels = batches[0].shape[1]
    mean = torch.full((channels,), start[0], dtype=torch.float64)
    var = torch.full((channels,), start[1], dtype=torch.float64)
    for k, x in enumerate(batches, start=1):
        weight = 1.0 / k if (momentum is None if plain is None else plain) else momentum
        weight = 1.0 - weight if flip else weight
        batch_mean, batch_var = _per_pixel_stats(x) if per_pixel else _stats(x, unbiased)
        mean = (1 - weight) * mean + weight * batch_mean
        var = (1 - weight) * var + weight * batch_var
    return mean, var


def _close(got, want) -> bool:
    return all(torch.allclose(g, w, rtol=1e-4, atol=1e-5) for g, w in zip(got, want))


def _check_running_stats(fn) -> str:
    for what, batches, momentum in _RUNS:
        given = [b.clone() for b in batches]
        out = call(fn, given, momentum)
        if any(not torch.equal(g, b) for g, b in zip(given, batches)) or len(given) != len(batches):
            raise Mistake("your function changed the batches it was given (in place, or the list itself): compute "
                          "new tensors instead")
        channels = batches[0].shape[1]
        if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
            raise Mistake(f"return a pair of tensors (running_mean, running_var); for {what} you returned "
                          f"{out!r:.60}")
        if any(tuple(t.shape) != (channels,) for t in out):
            raise Mistake(f"for {what} return {channels} numbers each, one per channel; your shapes are "
                          f"{tuple(out[0].shape)} and {tuple(out[1].shape)}")
        got = [t.detach().double().cpu() for t in out]
        if _close(got, _running(batches, momentum)):
            continue
        slips = [
            (_running(batches, momentum, unbiased=False),
             "running_var is updated with the *unbiased* variance of the batch (divided by n - 1, n = N x H x W "
             "numbers per channel), although the batch itself is normalised with the biased one (divided by n)"),
            (_running(batches, momentum, flip=True),
             "your momentum weighs the old average: in PyTorch's BatchNorm it is the weight of the *new* batch, "
             "running = (1 - momentum) x running + momentum x batch (the opposite of an optimiser's momentum)"),
            (_running(batches, momentum, start=(0.0, 0.0)),
             "a fresh BatchNorm's running_var starts at 1 (and running_mean at 0), not at 0: the first batch is "
             "averaged into those"),
            (_running(batches, 0.1) if momentum is None else None,
             "momentum=None is not 0.1: PyTorch then keeps a cumulative average, the k-th batch weighted 1 / k, so "
             "that every batch counts the same"),
            (_running(batches, momentum, plain=True) if momentum is not None else None,
             f"with momentum {momentum} the batches do not count the same: each update weighs the new batch by "
             "momentum, so older batches fade (a plain average is momentum=None only)"),
            (_running(batches, momentum, per_pixel=True),
             "the statistics are over every number of a channel at once, N x H x W of them: you took them at each "
             "pixel over the batch, then averaged"),
        ]
        for wrong, sentence in slips:
            if wrong is not None and _close(got, wrong):
                raise Mistake(f"for {what}: {sentence}")
        want = _running(batches, momentum)
        raise Mistake(f"for {what}: running_mean should be {[round(v, 4) for v in want[0].tolist()]} and "
                      f"running_var {[round(v, 4) for v in want[1].tolist()]}; you return "
                      f"{[round(v, 4) for v in got[0].tolist()]} and {[round(v, 4) for v in got[1].tolist()]}")
    return ("Matches the running averages of nn.BatchNorm2d for four runs: momentum 0.1 and 0.5, batches of "
            "different sizes, momentum None, and a batch of two numbers per channel.")


q2 = Exercise(
    "11.2", "BatchNorm's running averages", "my_running_stats", _check_running_stats,
    refuses=("torch.nn.BatchNorm2d", "torch.nn.functional.batch_norm", "torch.batch_norm"),
    hints=[
        "PyTorch's documentation of nn.BatchNorm2d: 'x_new = (1 - momentum) x x_hat + momentum x x_t', the "
        "stored variance is the unbiased one, and momentum=None means a cumulative moving average. A fresh "
        "layer starts at mean 0 and variance 1.",
        "A channel's numbers are x[:, c] for every sample and pixel: x.transpose(0, 1).reshape(C, -1) lines "
        "them up, one row per channel. With momentum None the k-th batch (from 1) is weighed 1 / k.",
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
