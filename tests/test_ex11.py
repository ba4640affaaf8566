"""Exercise checks of lesson 11 (training): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import ex11
from minipose.posenet import coord_l1_loss


# --- 11.1: hand-written schedules, each wrong in one way -------------------------------------------------------------

def off_by_one(config, epoch):  # the step takes effect one epoch late
    return config.lr / config.lr_dec_factor ** len([e for e in config.lr_dec_epoch if epoch > e])


def multiplies(config, epoch):
    return config.lr * config.lr_dec_factor ** len([e for e in config.lr_dec_epoch if epoch >= e])


def first_step_only(config, epoch):
    return config.lr / config.lr_dec_factor if epoch >= config.lr_dec_epoch[0] else config.lr


def factor_ten(config, epoch):
    return config.lr * 0.1 ** len([e for e in config.lr_dec_epoch if epoch >= e])


def paper_lr(config, epoch):
    return 1e-3 / config.lr_dec_factor ** len([e for e in config.lr_dec_epoch if epoch >= e])


def paper_epochs(config, epoch):  # 17 and 21 typed in
    return config.lr / config.lr_dec_factor ** ((epoch >= 17) + (epoch >= 21))


def test_learning_rate_check():
    assert_verdicts(ex11.q1, reference("11.1", "my_learning_rate"), [
        (off_by_one, "epoch >= e, not epoch > e"),
        (multiplies, "do not multiply"),
        (first_step_only, "only the first step is applied"),
        (factor_ten, "take the factor from the config"),
        (paper_lr, "take the starting rate from config.lr"),
        (paper_epochs, "take them from config.lr_dec_epoch"),
    ])


# --- 11.2: accumulation steps, each wrong in one way ----------------------------------------------------------------

def _target(part):
    return {"coord": part["joint_img"], "vis": part["joint_vis"], "have_depth": part["have_depth"]}


def _accumulate(net, optimizer, batch, k, divide=True, zero_inside=False, step_inside=False, strided=True):
    net.train()
    optimizer.zero_grad()
    total = 0.0
    n = len(batch["img"])
    for j in range(k):
        if zero_inside:
            optimizer.zero_grad()
        part = {key: v[j::k] if strided else v[j * n // k:(j + 1) * n // k] for key, v in batch.items()}
        loss = coord_l1_loss(net(part["img"]), _target(part)).mean()
        if divide:
            loss = loss / k
        loss.backward()
        total += loss.item()
        if step_inside:
            optimizer.step()
    if not step_inside:
        optimizer.step()
    return total


def no_division(net, optimizer, batch, k):
    return _accumulate(net, optimizer, batch, k, divide=False) / k  # reports the right number, steps k times too far


def zero_grad_inside(net, optimizer, batch, k):
    return _accumulate(net, optimizer, batch, k, zero_inside=True)


def step_inside(net, optimizer, batch, k):
    return _accumulate(net, optimizer, batch, k, step_inside=True)


def consecutive_slices(net, optimizer, batch, k):
    return _accumulate(net, optimizer, batch, k, strided=False)


def no_step(net, optimizer, batch, k):
    net.train()
    optimizer.zero_grad()
    return sum(coord_l1_loss(net(batch["img"][j::k]), _target({key: v[j::k] for key, v in batch.items()})).mean()
               .div(k).backward() or 0.0 for j in range(k))


def whole_batch(net, optimizer, batch, k):  # ignores k: one forward pass over all 8 crops
    return _accumulate(net, optimizer, batch, 1)


def sum_of_losses(net, optimizer, batch, k):  # divides for backward, reports the undivided sum
    return _accumulate(net, optimizer, batch, k) * k


def test_accumulate_step_check():
    assert_verdicts(ex11.q2, reference("11.2", "my_accumulate_step"), [
        (no_division, "divided by k before backward()"),
        (zero_grad_inside, "zero_grad() inside the loop"),
        (step_inside, "optimizer.step() inside the loop"),
        (consecutive_slices, "batch[key][j::k]"),
        (no_step, "the weights did not move"),
        (whole_batch, "the weights differ from one step on the summed gradients"),
        (sum_of_losses, "k = 2 times the mean"),
    ])
