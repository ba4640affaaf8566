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

def test_epochs_at_1e4_check():
    assert_verdicts(ex11.q0, reference("11.0", "epochs_at_1e4"), [
        (3, "so it already runs at 1e-05"),
        (1, "count it too"),
        (4, "the paper's schedule"),
        (17, "run at the starting rate"),
        (20, "trains in all"),
        (0, "the rate does pass through"),
        (2.5, "a count of epochs is a whole number"),
        (-1, "a count is never negative"),
        (6, "6 is not it"),
        ("two", "give one number of epochs"),
    ])
    assert ex11.q0.result("2").status == PASSED  # a number written as text also counts
    assert ex11.q0.result(2.0).status == PASSED


def test_epochs_at_1e4_reference_against_the_package_schedule_and_torch():
    """The checker's 2, against the package's learning_rate and against torch's MultiStepLR on the same schedule."""
    cpu = preset_config("cpu")
    assert (cpu.lr, cpu.lr_dec_epoch, cpu.lr_dec_factor, cpu.end_epoch) == (1e-3, (17, 19), 10.0, 20)  # the prompt
    ours = sum(abs(learning_rate(cpu, e) - 1e-4) < 1e-12 for e in range(cpu.end_epoch))
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cpu.lr)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(cpu.lr_dec_epoch), gamma=1 / cpu.lr_dec_factor)
    theirs = 0
    for _ in range(cpu.end_epoch):
        theirs += abs(optimizer.param_groups[0]["lr"] - 1e-4) < 1e-12
        optimizer.step()
        schedule.step()
    assert ours == theirs == 2 and ex11.q0.result(ours).status == PASSED


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


# --- 11.2: BatchNorm's running averages, each wrong in one way ----------------------------------------------------

def _running(batches, momentum, unbiased=True, flip=False, start=(0.0, 1.0), plain=None, per_pixel=False):
    channels = batches[0].shape[1]
    mean, var = torch.full((channels,), start[0]), torch.full((channels,), start[1])
    for k, x in enumerate(batches, start=1):
        weight = 1 / k if (momentum is None if plain is None else plain) else momentum
        weight = 1 - weight if flip else weight
        if per_pixel:
            batch_mean, batch_var = x.mean(0).mean((1, 2)), x.var(0).mean((1, 2))
        else:
            batch_mean = x.mean((0, 2, 3))
            batch_var = x.var((0, 2, 3), unbiased=unbiased)
        mean = (1 - weight) * mean + weight * batch_mean
        var = (1 - weight) * var + weight * batch_var
    return mean, var


def test_running_stats_check():
    def slip(**kwargs):
        return lambda batches, momentum: _running(batches, momentum, **kwargs)

    def in_place(batches, momentum):
        batches[0] -= 0
        batches[0].mul_(1.0)
        batches.append(batches[0])
        return _running(batches[:-1], momentum)

    assert_verdicts(ex11.q2, reference("11.2", "my_running_stats"), [
        (slip(unbiased=False), "the *unbiased* variance"),
        (slip(flip=True), "weight of the *new* batch"),
        (slip(start=(0.0, 0.0)), "running_var starts at 1"),
        (lambda batches, momentum: _running(batches, 0.1 if momentum is None else momentum), "momentum=None is not"),
        (slip(plain=True), "older batches fade"),
        (slip(per_pixel=True), "at each pixel over the batch"),
        (lambda batches, momentum: tuple(t + 0.01 for t in _running(batches, momentum)), "running_mean should be"),
        (lambda batches, momentum: _running(batches, momentum)[0], "return a pair of tensors"),
        (lambda batches, momentum: tuple(t[None] for t in _running(batches, momentum)), "one per channel"),
        (in_place, "changed the batches it was given"),
    ])


def test_running_stats_reference_against_torch_batchnorm():
    """The checker's float64 update, against nn.BatchNorm2d itself run in train mode on the same batches."""
    for what, batches, momentum in ex11._RUNS:
        layer = torch.nn.BatchNorm2d(batches[0].shape[1], momentum=momentum).double().train()
        with torch.no_grad():
            for x in batches:
                layer(x.double())
        mean, var = ex11._running(batches, momentum)
        torch.testing.assert_close(mean, layer.running_mean, rtol=1e-10, atol=1e-12, msg=what)
        torch.testing.assert_close(var, layer.running_var, rtol=1e-10, atol=1e-12, msg=what)


def test_running_stats_refuse_torchs_batchnorm():
    def with_layer(batches, momentum):
        layer = torch.nn.BatchNorm2d(batches[0].shape[1], momentum=momentum)
        for x in batches:
            layer(x)
        return layer.running_mean, layer.running_var

    def with_functional(batches, momentum):
        mean, var = torch.zeros(batches[0].shape[1]), torch.ones(batches[0].shape[1])
        for x in batches:
            torch.nn.functional.batch_norm(x, mean, var, training=True, momentum=momentum or 0.1)
        return mean, var

    for answer, name in [(with_layer, "torch.nn.BatchNorm2d"), (with_functional, "batch_norm")]:
        result = ex11.q2.result(answer)
        assert result.status == "failed" and name in result.message, result.message
