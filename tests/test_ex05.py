"""Exercise checks of lesson 05 (soft-argmax): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import math

import torch

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import PASSED, ex05
from minipose.integral import soft_argmax


def test_two_peaks_check():
    assert_verdicts(ex05.q0, reference("05.0", "two_peaks"), [
        ((30, 20, 10), "(30, 20, 10) is the first peak"),
        ((4, 60, 40), "(4, 60, 40) is the second peak alone"),
        ((34, 80, 50), "you added the two peaks"),
        ((23.5, 31.5, 31.5), "that is the centre"),
        ((25, 40, 17), "you gave (z, y, x)"),
        ((18, 41, 26), "one too large on every axis"),
        (((30, 20, 10), (4, 60, 40)), "one point per joint, not one per peak"),
        ((17, 40), "give three numbers"),
        ("17, 40, 25", "give the point as three numbers"),
        ((16, 40, 25), "(16.0, 40.0, 25.0) is not it"),
    ])
    assert ex05.q0.result(torch.tensor([17.0, 40.0, 25.0])).status == PASSED  # what .tolist() shows counts too
    assert ex05.q0.result([17.0004, 40, 25]).status == PASSED


def test_two_peaks_reference_against_the_package():
    """The checker's midpoint against minipose.soft_argmax on the volume the lesson builds."""
    volume = torch.zeros(1, 64, 64, 48)
    volume[0, 10, 20, 30] = volume[0, 40, 60, 4] = 1000.0
    got = soft_argmax(volume, joint_num=1)[0, 0]
    assert ex05.q0.result(got).status == PASSED
    assert torch.allclose(got, torch.tensor([17.0, 40.0, 25.0]))


def _spread(heatmaps, beta=1.0, how="std"):
    """The spread written as a loop over the map's cells, in float64 (or one realistic mistake)."""
    b, j, h, w = heatmaps.shape
    out = torch.zeros(b, j, 2, dtype=torch.float64)
    p = (beta * heatmaps.double()).reshape(b, j, -1).softmax(2).reshape(b, j, h, w)
    for bb in range(b):
        for jj in range(j):
            m = [0.0, 0.0]
            s2 = [0.0, 0.0]
            for y in range(h):
                for x in range(w):
                    for axis, c in enumerate((x, y)):
                        m[axis] += p[bb, jj, y, x].item() * c
                        s2[axis] += p[bb, jj, y, x].item() * c * c
            for axis in range(2):
                var = s2[axis] - m[axis] ** 2
                out[bb, jj, axis] = {"var": var, "raw": math.sqrt(s2[axis])}.get(how, math.sqrt(max(var, 0)))
    if how == "swap":
        out = out.flip(2)
    return out.to(heatmaps.dtype)


def _pair(xy_fn, how="std"):
    """A full answer (xy, spread) from a position function and a spread variant."""
    return lambda t, beta=1.0: (xy_fn(t, beta), _spread(t, beta, how))


def _2d(heatmaps, beta=1.0, index_from=0, softmax="map", scale="logits", marginal=None):
    """A 2D soft-argmax position with one thing done differently (float64 inside, returned in the input's dtype)."""
    b, j, h, w = heatmaps.shape
    v = heatmaps.double() * (beta if scale == "logits" else 1 / beta if scale == "divide" else 1)
    if marginal:
        f = (lambda t, d: t.sum(d)) if marginal == "sum" else (lambda t, d: t.amax(d))
        p_x, p_y = f(v, 2).softmax(-1), f(v, 3).softmax(-1)
    else:
        if softmax == "map":
            p = v.reshape(b, j, h * w).softmax(2).reshape(b, j, h, w)
        elif softmax == "joints":
            p = v.softmax(1)
        else:  # each row
            p = v.softmax(3) / h
        p_x, p_y = p.sum(2), p.sum(3)
    x = (p_x * torch.arange(index_from, w + index_from)).sum(2)
    y = (p_y * torch.arange(index_from, h + index_from)).sum(2)
    out = torch.stack([x, y], 2) * (beta if scale == "coordinates" else 1)
    return out.to(heatmaps.dtype)


def hard_argmax_2d(heatmaps, beta=1.0):
    b, j, _, w = heatmaps.shape
    flat = heatmaps.reshape(b, j, -1).argmax(2)
    return torch.stack([flat % w, flat // w], 2).to(heatmaps.dtype)


def cuda_only(heatmaps, beta=1.0):
    b, j, h, w = heatmaps.shape
    p = (beta * heatmaps).reshape(b, j, -1).softmax(2).reshape(b, j, h, w)
    return (p.sum(2) * torch.arange(w).cuda()).sum(2)


def square_only(heatmaps, beta=1.0):  # reads W from H
    b, j, h, _ = heatmaps.shape
    return heatmaps.reshape(b, j, h, h)


def detached(heatmaps, beta=1.0):
    with torch.no_grad():
        return reference("05.1", "my_soft_argmax")(heatmaps, beta)


def wrong_gradient(heatmaps, beta=1.0):  # right values, a wrong gradient (as a faulty hand-written backward has)
    zero = (heatmaps - heatmaps.detach()).sum(dim=(2, 3))[..., None]  # 0, but its gradient is 1 for every logit
    xy, spread = reference("05.1", "my_soft_argmax")(heatmaps.detach(), beta)
    return xy + zero, spread + zero


def transposed(heatmaps, beta=1.0):
    xy, spread = reference("05.1", "my_soft_argmax")(heatmaps, beta)
    return xy.transpose(1, 2), spread


def std_of_probabilities(heatmaps, beta=1.0):
    b, j, h, w = heatmaps.shape
    p = (beta * heatmaps).reshape(b, j, -1).softmax(2).reshape(b, j, h, w)
    return _2d(heatmaps, beta), torch.stack([p.sum(2).std(2), p.sum(3).std(2)], 2)


def test_soft_argmax_2d_check():
    ok = "std"
    assert_verdicts(ex05.q1, reference("05.1", "my_soft_argmax"), [
        (_pair(lambda t, beta=1.0: _2d(t, beta, index_from=1)), "x and y are exactly 1 too large (off by one)"),
        (_pair(lambda t, beta=1.0: _2d(t, beta) - torch.tensor([0.0, 1.0], dtype=t.dtype)),
         "y is exactly 1 too small"),
        (_pair(lambda t, beta=1.0: _2d(t, beta).flip(2)), "x and y are swapped"),
        (_pair(lambda t, beta=1.0: _2d(t, 1.0)), "beta is ignored"),
        (_pair(lambda t, beta=1.0: _2d(t, beta, scale="divide")), "you divided the logits by beta"),
        (_pair(lambda t, beta=1.0: _2d(t, beta, scale="coordinates")), "not the probabilities or the coordinates"),
        (_pair(lambda t, beta=1.0: _2d(t, beta, softmax="joints")), "the softmax runs over the joint axis (dim=1)"),
        (_pair(lambda t, beta=1.0: _2d(t, beta, marginal="sum")),
         "two separate softmaxes over the logits' marginal sums"),
        (_pair(lambda t, beta=1.0: _2d(t, beta, marginal="max")), "over the logits' marginal maxima"),
        (_pair(lambda t, beta=1.0: _2d(t, beta, softmax="rows")), "each row got its own softmax over W"),
        (_pair(hard_argmax_2d), "that is the argmax"),
        (cuda_only, "only runs on CUDA"),
        (square_only, "your code raised RuntimeError at line"),
        (detached, "the result has no gradient"),
        (wrong_gradient, "gradcheck fails"),
        (transposed, "B x 2 x J"),
        (_pair(lambda t, beta=1.0: torch.zeros(t.shape[0], t.shape[1], 3)), "expected shape B x J x 2"),
        (_pair(lambda t, beta=1.0: _2d(t, beta).float()), "for torch.float64 heatmaps you returned torch.float32"),
        (_pair(lambda t, beta=1.0: _2d(t, beta) + 0.25), "differ from the expected position"),
        (_pair(lambda t, beta=1.0: _2d(t, beta).tolist()), "return a tensor"),
        # the spread
        (lambda t, beta=1.0: _2d(t, beta), "you returned one tensor, the position alone"),
        (lambda t, beta=1.0: (_2d(t, beta), _spread(t, beta), 0), "return two tensors, (xy, spread)"),
        (_pair(_2d, "var"), "your spread is the variance"),
        (_pair(_2d, "raw"), "your spread is sqrt(E[x^2])"),
        (_pair(_2d, "swap"), "your spread has x and y swapped"),
        (std_of_probabilities, "standard deviation of the probabilities p_x(i) themselves"),
        (lambda t, beta=1.0: (_2d(t, beta), _spread(t, beta, ok) + 0.1), "your position is right but your spread"),
        (lambda t, beta=1.0: (_2d(t, beta), _spread(t, beta, ok)[..., 0]), "the spread must be B x J x 2"),
        (lambda t, beta=1.0: (_2d(t, beta), _spread(t, beta, ok).tolist()), "return the spread as a tensor"),
        (lambda t, beta=1.0: (_2d(t, beta), _spread(t, beta, ok).double()), "your spread is torch.float64"),
    ])


def test_soft_argmax_2d_reference_against_the_package_and_by_hand():
    """The checker's per-cell float64 reference against minipose.soft_argmax with one depth bin (a 3D volume one
    slice deep is a 2D map), and against a 2 x 2 map worked out by hand."""
    torch.manual_seed(0)
    h = torch.randn(2, 3, 5, 7, dtype=torch.float64) * 3
    for beta in (1.0, 2.5, 0.3):
        want = soft_argmax(beta * h, joint_num=3, depth_dim=1)[..., :2]
        assert torch.allclose(ex05._soft_argmax_2d(h, beta), want, atol=1e-12)
    # logits [[0, 0], [0, log 3]]: probabilities 1/6, 1/6, 1/6, 1/2, so x = y = 1/6 + 1/2 = 2/3
    hand = torch.tensor([[0.0, 0.0], [0.0, math.log(3)]]).reshape(1, 1, 2, 2)
    assert torch.allclose(ex05._soft_argmax_2d(hand, 1.0), torch.tensor([[[2 / 3, 2 / 3]]], dtype=torch.float64))
    # beta = 2 squares the odds: 1, 1, 1, 9 over 12, so x = y = (1 + 9) / 12
    assert torch.allclose(ex05._soft_argmax_2d(hand, 2.0), torch.tensor([[[10 / 12, 10 / 12]]], dtype=torch.float64))
    # spread: p_x = (1/3, 2/3), E[x] = E[x^2] = 2/3, variance 2/3 - 4/9 = 2/9
    assert torch.allclose(ex05._spread_2d(hand, 1.0), torch.full((1, 1, 2), math.sqrt(2) / 3, dtype=torch.float64))
    assert torch.allclose(ex05._spread_2d(h, 2.5), _spread(h, 2.5), atol=1e-12)  # against a loop over the cells


def test_crash_report_names_the_students_line():
    def crashes(heatmaps, beta=1.0):
        scale = 1 / 0  # the student's bug
        return heatmaps * scale
    message = ex05.q1.result(crashes).message
    assert "ZeroDivisionError" in message and "`scale = 1 / 0  # the student's bug`" in message


def channels_first_copy(heatmaps, joint_num, depth_dim):  # the lesson's code on a channels-last tensor
    b, _, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, joint_num, -1).argmax(dim=2)
    return torch.stack([flat % w, flat // w % h, flat // (h * w)], 2)


def _blocks(heatmaps, joint_num, depth_dim, depth_major=False):
    """B x J x H x W x D blocks, built with loops over the channel index rather than reshapes."""
    b, h, w, c = heatmaps.shape
    out = torch.empty(b, joint_num, h, w, depth_dim)
    for ch in range(c):
        j, z = (ch % joint_num, ch // joint_num) if depth_major else (ch // depth_dim, ch % depth_dim)
        out[:, j, :, :, z] = heatmaps[..., ch]
    return out


def _by_max(blocks):
    """(x, y, z) of each block's max, found with max over one axis at a time."""
    b, j, h, w, d = blocks.shape
    best = blocks.reshape(b, j, -1).argmax(2)
    y, rest = best // (w * d), best % (w * d)
    return torch.stack([rest // d, y, rest % d], 2)


def depth_major(heatmaps, joint_num, depth_dim):
    return _by_max(_blocks(heatmaps, joint_num, depth_dim, depth_major=True))


def hwd_as_dhw(heatmaps, joint_num, depth_dim):
    b, h, w, _ = heatmaps.shape
    flat = _blocks(heatmaps, joint_num, depth_dim).reshape(b, joint_num, -1).argmax(2)
    return torch.stack([flat % w, flat // w % h, flat // (h * w)], 2)


def zyx(heatmaps, joint_num, depth_dim):
    return reference("05.2", "argmax_3d")(heatmaps, joint_num, depth_dim).flip(2)


def yx_swapped(heatmaps, joint_num, depth_dim):
    return reference("05.2", "argmax_3d")(heatmaps, joint_num, depth_dim)[..., [1, 0, 2]]


def soft_instead(heatmaps, joint_num, depth_dim):  # the lesson's soft-argmax after a permute: fractional
    return soft_argmax(heatmaps.permute(0, 3, 1, 2), joint_num, depth_dim)


def flat_index(heatmaps, joint_num, depth_dim):
    return _blocks(heatmaps, joint_num, depth_dim).reshape(heatmaps.shape[0], joint_num, -1).argmax(2)


def test_argmax_3d_check():
    assert_verdicts(ex05.q2, reference("05.2", "argmax_3d"), [
        (channels_first_copy, "that is the lesson's code run on a channels-last tensor"),
        (depth_major, "you split the last axis as D x J (depth-major)"),
        (hwd_as_dhw, "unravelled it as D x H x W"),
        (zyx, "you returned (z, y, x)"),
        (yx_swapped, "x and y are swapped"),
        (flat_index, "that is a flat index"),
        (soft_instead, "fractional values"),
        (lambda t, j, d: t.argmax(dim=3), "expected shape B x J x 3"),
        (lambda t, j, d: _by_max(_blocks(t, j, d)) + (t.shape[1] > 6), "are not the cell with the largest logit"),
        (lambda t, j, d: _by_max(_blocks(t, j, d)).tolist(), "return a tensor"),
    ])
    assert ex05.q2.result(lambda t, j, d: _by_max(_blocks(t, j, d))).status == "passed"  # loops, no permute


def test_reference_argmax_agrees_with_a_loop():
    """The check's own reference against the most literal definition: visit every cell of the channels-last
    tensor, with the joint-major channel index c = j * D + z."""
    torch.manual_seed(0)
    h = torch.randn(2, 5, 6, 3 * 4)
    best = ex05._reference_argmax(h, 3, 4)
    for b in range(2):
        for j in range(3):
            cells = [(h[b, y, x, j * 4 + z].item(), (x, y, z)) for z in range(4) for y in range(5) for x in range(6)]
            assert tuple(best[b, j].tolist()) == max(cells)[1]
