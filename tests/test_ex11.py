"""Exercise checks of lesson 11 (training): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import dataclasses

import torch
from exercise_helpers import assert_verdicts, reference

from minipose import Config
from minipose.exercises import PASSED, ex11
from minipose.posenet import coord_l1_loss
from minipose.steps import learning_rate, train_step
from minipose.train import preset_config

# --- 11.0: the cpu preset's rate in its last epoch -------------------------------------------------------------------

def test_predicted_rate_check():
    assert_verdicts(ex11.q0, reference("11.0", "predicted_rate"), [
        (1e-4, "it already runs at the lower rate"),
        (1e-3, "the rate does not stay at 0.001"),
        (1e-6, "one step too many"),
        (0.01, "it never multiplies it"),
        (-5, "not its power of ten"),
        ("ten to the minus five", "write the rate as a number"),
        (3e-5, "divide by 10 once for every epoch"),
    ])
    assert ex11.q0.result("1e-5").status == PASSED  # a number written as text also counts
    assert ex11.q0.result(0.00001).status == PASSED


def test_predicted_rate_reference_against_the_package_schedule():
    cpu = preset_config("cpu")
    assert (cpu.lr, cpu.lr_dec_epoch, cpu.lr_dec_factor, cpu.end_epoch) == (1e-3, (17, 19), 10.0, 20)  # the prompt
    assert abs(learning_rate(cpu, 19) - 1e-5) < 1e-12
    assert ex11.q0.result(learning_rate(cpu, 19)).status == PASSED



# --- 11.1: epoch loops, each wrong in one way ------------------------------------------------------------------------

def _target(b):
    return {"coord": b["joint_img"], "vis": b["joint_vis"], "have_depth": b["have_depth"]}


def _loop(net, optimizer, train_batches, held_out_batches, config, epochs, *, rate="right", groups="all",
          on=None, held_mode="eval", grad=False, own_step=None, before=False, reverse=False, skip_last=False,
          train_loss="mean", held_loss="mean", new_optimizer=False, n_epochs=None, held_sum=False):
    """An epoch loop written from scratch, right unless a keyword says otherwise."""
    losses, held_out = [], []
    for epoch in range(epochs if n_epochs is None else n_epochs):
        lr = {"right": learning_rate(config, epoch), "never": config.lr, "early": learning_rate(config, epoch + 1),
              "half": learning_rate(config, epoch) / 2}[rate]
        for group in optimizer.param_groups[:1] if groups == "first" else optimizer.param_groups:
            group["lr"] = lr
        if new_optimizer:
            optimizer = torch.optim.Adam(net.parameters(), lr=lr)

        def measure():
            net.train() if held_mode == "train" else net.eval()
            with torch.set_grad_enabled(grad):
                return [coord_l1_loss(net(b["img"]), _target(b)).sum() if held_sum
                        else coord_l1_loss(net(b["img"]), _target(b)).mean()
                        for b in (held_out_batches if on is None else on)]
        if before:
            held = measure()
        batches = train_batches[::-1] if reverse else train_batches[:-1] if skip_last else train_batches
        steps = []
        for batch in batches:
            if own_step is None:
                steps.append(train_step(net, optimizer, batch))
                continue
            if own_step != "no_zero_grad":
                optimizer.zero_grad()
            if own_step == "no_train":
                pass  # net.train() forgotten: the step runs in whatever mode evaluation left
            else:
                net.train()
            loss = coord_l1_loss(net(batch["img"]), _target(batch)).mean()
            loss.backward()
            optimizer.step()
            steps.append(loss.item())
        if train_loss == "eval pass":
            net.eval()
            with torch.no_grad():
                steps = [coord_l1_loss(net(b["img"]), _target(b)).mean().item() for b in train_batches]
        losses.append({"mean": sum(steps) / len(steps), "last": steps[-1], "sum": sum(steps),
                       "first": steps[0]}[train_loss if train_loss != "eval pass" else "mean"])
        if not before:
            held = measure()
        held = [h.item() for h in held]
        held = held or [0.0]  # nothing evaluated
        held_out.append({"mean": sum(held) / len(held), "last": held[-1], "sum": sum(held)}[held_loss])
    return losses, held_out


def loop(**how):
    return lambda net, optimizer, train_batches, held_out_batches, config, epochs: _loop(
        net, optimizer, train_batches, held_out_batches, config, epochs, **how)


def test_epoch_loop_check():
    def training_batches_as_held_out(net, optimizer, train_batches, held_out_batches, config, epochs):
        return _loop(net, optimizer, train_batches, held_out_batches, config, epochs, on=train_batches)

    assert_verdicts(ex11.q1, reference("11.1", "my_train_epochs"), [
        (lambda *args: {"loss": [1.0]}, "return two lists"),
        (loop(n_epochs=25), "loop over range(epochs), not config.end_epoch"),
        (training_batches_as_held_out, "you evaluated on the training batches"),
        (loop(on=[]), "no held-out batch ever went through the network"),
        (loop(held_mode="train"), "you evaluated in train mode"),
        (loop(grad=True), "you evaluated with gradients on"),
        (loop(own_step="no_train"), "a training step ran in eval mode"),
        (loop(train_loss="eval pass"), "you ran the training batches through the network again in eval mode"),
        (loop(skip_last=True), "one step per training batch"),
        (loop(before=True), "you evaluated before the epoch's steps"),
        (loop(reverse=True), "your loop visits them in another order"),
        (loop(new_optimizer=True), "the optimizer you were given never took a step"),
        (loop(groups="first"), "only some of the optimizer's param groups"),
        (loop(rate="never"), "the learning rate stayed at config.lr"),
        (reference_late(), "each epoch ran at the previous epoch's rate"),
        (loop(rate="early"), "each epoch ran at the next epoch's rate"),
        (loop(rate="half"), "epoch 0 ran at the rate 0.005"),
        (loop(own_step="no_zero_grad"), "after the loop differs from a loop of one train_step"),
        (loop(train_loss="last"), "each epoch's last step's loss"),
        (loop(train_loss="sum"), "the sums of the step losses"),
        (loop(train_loss="first"), "the training losses should be the mean of each epoch's step losses"),
        (loop(held_loss="last"), "last held-out batch's loss"),
        (loop(held_loss="sum"), "sums over the held-out batches"),
        (loop(held_sum=True), "the held-out losses should be the mean over the held-out batches"),
    ])


def reference_late():
    """The lesson's loop, with the rate set at the end of each epoch (so each epoch runs at the one before's)."""
    def late(net, optimizer, train_batches, held_out_batches, config, epochs):
        shifted = dataclasses.replace(config, lr_dec_epoch=tuple(e + 1 for e in config.lr_dec_epoch))
        return reference("11.1", "my_train_epochs")(net, optimizer, train_batches, held_out_batches, shifted, epochs)
    return late


def test_epoch_loop_reference_against_the_packages_building_blocks():
    """The checker's reference loop and a loop of minipose.steps.train_step at learning_rate's rate agree."""
    for seed, config, epochs, n_train, n_held in ex11._LOOPS:
        net, optimizer, train_batches, held_out = ex11._loop_setup(seed, config, n_train, n_held)
        held = []
        for epoch in range(epochs):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, epoch)
            steps = [train_step(net, optimizer, b) for b in train_batches]
            net.eval()
            with torch.no_grad():
                held.append(torch.stack([coord_l1_loss(net(b["img"]), _target(b)).mean() for b in held_out]).mean())
        right, ref_steps, ref_held = ex11._reference_loop(seed, config, epochs, n_train, n_held)
        assert steps == ref_steps[-1]
        assert torch.allclose(torch.stack(held).double(), torch.tensor(ref_held).mean(1).double(), rtol=1e-6)
        for a, b in zip(net.state_dict().values(), right.state_dict().values()):
            assert torch.equal(a, b)
    assert ex11._loop_setup(1, Config(), 1, 1)[0].training  # a fresh network starts in train mode


# --- 11.2: warm-up schedules, each wrong in one way -----------------------------------------------------------------

def _step_rate(config, epoch):  # the step schedule, written here: learning_rate itself is refused by 11.2
    return config.lr * (1 / config.lr_dec_factor) ** len([e for e in config.lr_dec_epoch if e <= epoch])


def test_warmup_check():
    def warm(factor=lambda e, w: min(1.0, (e + 1) / w), steps=_step_rate):
        return lambda config, epoch, warmup: steps(config, epoch) * factor(epoch, warmup)

    def shifted(by):
        return lambda config, epoch: _step_rate(
            dataclasses.replace(config, lr_dec_epoch=tuple(e + by for e in config.lr_dec_epoch)), epoch)

    def ramp_to_lr(config, epoch, warmup):
        return config.lr * (epoch + 1) / warmup if epoch < warmup else _step_rate(config, epoch)

    assert_verdicts(ex11.q2, reference("11.2", "my_warmup_rate"), [
        (warm(factor=lambda e, w: 1.0), "there is no warm-up"),
        (warm(factor=lambda e, w: min(1.0, e / w)), "your ramp starts at 0"),
        (warm(factor=lambda e, w: (e + 1) / w), "the warm-up never ends"),
        (ramp_to_lr, "ignoring a step epoch that falls inside it"),
        (warm(steps=lambda config, epoch: config.lr), "after the warm-up the rate never drops"),
        (lambda config, epoch, warmup: warm(steps=shifted(warmup))(config, epoch, warmup), "`warmup` epochs late"),
        (warm(steps=shifted(1)), "each step comes one epoch late"),
        (warm(factor=lambda e, w: min(1.0, (e + 1) / (w + 1))), "times min(1, 1/5)"),
        (lambda config, epoch, warmup: "fast", "return a number"),
    ])


def test_warmup_reference_against_torch_schedulers():
    """The checker's rate and torch's own LinearLR (the ramp) chained with MultiStepLR (the steps) agree."""
    for what, config, warmup in ex11._WARMUPS:
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.lr)
        schedulers = [torch.optim.lr_scheduler.MultiStepLR(optimizer, list(config.lr_dec_epoch),
                                                           gamma=1 / config.lr_dec_factor)]
        if warmup > 1:
            schedulers.append(torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup,
                                                                total_iters=warmup - 1))
        chained = torch.optim.lr_scheduler.ChainedScheduler(schedulers)
        for epoch in range(config.end_epoch):
            rate = optimizer.param_groups[0]["lr"]
            assert abs(ex11._warmup_rate(config, epoch, warmup) - rate) <= 1e-9 * rate, (what, epoch)
            optimizer.step()
            chained.step()
