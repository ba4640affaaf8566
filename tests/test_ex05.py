"""Exercise checks of lesson 05 (soft-argmax): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import torch

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import ex05


def _marginals(heatmaps, joint_num, depth_dim):
    b, _, h, w = heatmaps.shape
    p = heatmaps.reshape(b, joint_num, -1).softmax(2).reshape(b, joint_num, depth_dim, h, w)
    return p.sum((2, 3)), p.sum((2, 4)), p.sum((3, 4)), (w, h, depth_dim)


def one_based(heatmaps, joint_num, depth_dim):  # the official arange(1, N+1) without its "- 1"
    p_x, p_y, p_z, (w, h, d) = _marginals(heatmaps, joint_num, depth_dim)
    return torch.stack([(p_x * torch.arange(1, w + 1)).sum(2), (p_y * torch.arange(1, h + 1)).sum(2),
                        (p_z * torch.arange(1, d + 1)).sum(2)], 2)


def channel_softmax(heatmaps, joint_num, depth_dim):  # softmax over dim=1
    b, _, h, w = heatmaps.shape
    p = heatmaps.softmax(1).reshape(b, joint_num, depth_dim, h, w)
    return torch.stack([(p.sum((2, 3)) * torch.arange(w)).sum(2), (p.sum((2, 4)) * torch.arange(h)).sum(2),
                        (p.sum((3, 4)) * torch.arange(depth_dim)).sum(2)], 2)


def three_softmaxes(heatmaps, joint_num, depth_dim):
    b, _, h, w = heatmaps.shape
    v = heatmaps.reshape(b, joint_num, depth_dim, h, w)
    return torch.stack([(v.amax((2, 3)).softmax(2) * torch.arange(w)).sum(2),
                        (v.amax((2, 4)).softmax(2) * torch.arange(h)).sum(2),
                        (v.amax((3, 4)).softmax(2) * torch.arange(depth_dim)).sum(2)], 2)


def x_and_y_swapped(heatmaps, joint_num, depth_dim):
    p_x, p_y, p_z, (w, h, d) = _marginals(heatmaps, joint_num, depth_dim)
    return torch.stack([(p_y * torch.arange(h)).sum(2), (p_x * torch.arange(w)).sum(2), (p_z * torch.arange(d)).sum(2)], 2)


def hard_argmax(heatmaps, joint_num, depth_dim):
    b, _, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, joint_num, -1).argmax(2)
    return torch.stack([flat % w, flat // w % h, flat // (w * h)], 2).float()


def cuda_only(heatmaps, joint_num, depth_dim):
    p_x, p_y, p_z, (w, h, d) = _marginals(heatmaps, joint_num, depth_dim)
    return (p_x * torch.arange(w).cuda()).sum(2)


def square_only(heatmaps, joint_num, depth_dim):  # reads W from H
    b, _, h, _ = heatmaps.shape
    return heatmaps.reshape(b, joint_num, depth_dim, h, h)


def per_slice_softmax(heatmaps, joint_num, depth_dim):
    b, _, h, w = heatmaps.shape
    p = heatmaps.reshape(b, joint_num, depth_dim, h * w).softmax(-1).reshape(b, joint_num, depth_dim, h, w) / depth_dim
    return torch.stack([(p.sum((2, 3)) * torch.arange(w)).sum(2), (p.sum((2, 4)) * torch.arange(h)).sum(2),
                        (p.sum((3, 4)) * torch.arange(depth_dim)).sum(2)], 2)


def detached(heatmaps, joint_num, depth_dim):
    with torch.no_grad():
        return reference("05.1", "my_soft_argmax")(heatmaps, joint_num, depth_dim)


def transposed(heatmaps, joint_num, depth_dim):
    return reference("05.1", "my_soft_argmax")(heatmaps, joint_num, depth_dim).transpose(1, 2)


def test_soft_argmax_check():
    assert_verdicts(ex05.q1, reference("05.1", "my_soft_argmax"), [
        (one_based, "x, y and z are exactly 1 too large (off by one)"),
        (channel_softmax, "channel axis (dim=1)"),
        (three_softmaxes, "three separate softmaxes over the logits' marginal maxima"),
        (x_and_y_swapped, "x and y are swapped"),
        (hard_argmax, "that is the argmax"),
        (cuda_only, "only runs on CUDA"),
        (square_only, "your code raised RuntimeError at line"),
        (per_slice_softmax, "each depth slice got its own softmax"),
        (detached, "the result has no gradient"),
        (transposed, "B x 3 x J"),
    ])


def test_crash_report_names_the_students_line():
    def crashes(heatmaps, joint_num, depth_dim):
        scale = 1 / 0  # the student's bug
        return heatmaps * scale
    message = ex05.q1.result(crashes).message
    assert "ZeroDivisionError" in message and "`scale = 1 / 0  # the student's bug`" in message


def _flat(heatmaps, joint_num):
    return heatmaps.reshape(heatmaps.shape[0], joint_num, -1).argmax(dim=2)


def unravel_with_h(heatmaps, joint_num, depth_dim):
    h = heatmaps.shape[2]
    flat = _flat(heatmaps, joint_num)
    return torch.stack([flat % h, flat // h % heatmaps.shape[3], flat // (h * heatmaps.shape[3])], 2)


def y_keeps_z(heatmaps, joint_num, depth_dim):
    h, w = heatmaps.shape[2:]
    flat = _flat(heatmaps, joint_num)
    return torch.stack([flat % w, flat // w, flat // (h * w)], 2)


def zyx(heatmaps, joint_num, depth_dim):
    return reference("05.2", "argmax_3d")(heatmaps, joint_num, depth_dim).flip(2)


def yx_swapped(heatmaps, joint_num, depth_dim):
    return reference("05.2", "argmax_3d")(heatmaps, joint_num, depth_dim)[..., [1, 0, 2]]


def soft_instead(heatmaps, joint_num, depth_dim):
    return reference("05.1", "my_soft_argmax")(heatmaps, joint_num, depth_dim)


def flat_index(heatmaps, joint_num, depth_dim):
    return _flat(heatmaps, joint_num)


def argmax_over_channels(heatmaps, joint_num, depth_dim):
    return heatmaps.argmax(dim=1)


def test_argmax_3d_check():
    assert_verdicts(ex05.q2, reference("05.2", "argmax_3d"), [
        (unravel_with_h, "you unravelled with H where W belongs"),
        (y_keeps_z, "y is too large"),
        (zyx, "you returned (z, y, x)"),
        (yx_swapped, "x and y are swapped"),
        (flat_index, "that is the flat index"),
        (soft_instead, "fractional values"),
        (argmax_over_channels, "expected shape B x J x 3"),
    ])


def test_reference_argmax_agrees_with_a_loop():
    """The check's own reference against the most literal definition: visit every cell."""
    torch.manual_seed(0)
    h = torch.randn(2, 3 * 4, 5, 6)
    best = ex05._reference_argmax(h, 3, 4)
    for b in range(2):
        for j in range(3):
            cells = [(h[b, j * 4 + z, y, x].item(), (x, y, z)) for z in range(4) for y in range(5) for x in range(6)]
            assert tuple(best[b, j].tolist()) == max(cells)[1]
