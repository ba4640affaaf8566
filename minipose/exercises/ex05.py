"""Exercises of lesson 05, soft-argmax (written directly, not generated)."""
from __future__ import annotations

import torch

from minipose.exercises import Exercise, Mistake, Question, call
from minipose.integral import soft_argmax


def _volume_variants(h: torch.Tensor, joint_num: int, depth_dim: int) -> dict[str, torch.Tensor]:
    """What realistic wrong soft-argmaxes return, computed in float64 (message -> coordinates)."""
    b, _, height, width = h.shape
    v = h.double().reshape(b, joint_num, depth_dim, height, width)
    ix, iy, iz = (torch.arange(n, dtype=torch.float64) for n in (width, height, depth_dim))

    def expect(p_x, p_y, p_z):
        return torch.stack([(p_x * ix).sum(-1), (p_y * iy).sum(-1), (p_z * iz).sum(-1)], dim=2)

    variants = {}
    p = h.double().softmax(dim=1).reshape(b, joint_num, depth_dim, height, width)
    variants["the softmax runs over the channel axis (dim=1), across joints and depth bins; it must run over each "
             "joint's whole depth x height x width volume: reshape to B x J x (D*H*W) first"] = \
        expect(p.sum((2, 3)), p.sum((2, 4)), p.sum((3, 4)))
    # (Marginal log-sum-exps would not be a mistake: their softmax is exactly the full volume's marginal.)
    for how, marg in [("sums", lambda t, d: t.sum(d)), ("maxima", lambda t, d: t.amax(d))]:
        variants[f"you took three separate softmaxes over the logits' marginal {how}; one softmax over each joint's "
                 "whole volume comes first, and the marginals are sums of those probabilities"] = \
            expect(marg(v, (2, 3)).softmax(-1), marg(v, (2, 4)).softmax(-1), marg(v, (3, 4)).softmax(-1))
    p = v.reshape(b, joint_num, depth_dim, height * width).softmax(-1).reshape(v.shape) / depth_dim
    variants["each depth slice got its own softmax over H x W; one softmax must cover the whole volume, "
             "depth included"] = expect(p.sum((2, 3)), p.sum((2, 4)), p.sum((3, 4)))
    return variants


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _check_soft_argmax(fn) -> str:
    torch.manual_seed(5)
    cases = [  # batch, joints, depth bins, H, W, logit scale: non-square, and the paper's 64^3 per joint
        (2, 4, 8, 6, 10, 3.0),
        (1, 2, 64, 64, 64, 1.0),
        (2, 2, 4, 12, 7, 10.0),
    ]
    for b, j, d, height, width, scale in cases:
        h = torch.randn(b, j * d, height, width) * scale
        out = call(fn, h.clone(), j, d)
        name = f"{b} x {j * d} x {height} x {width} heatmaps (joint_num={j}, depth_dim={d})"
        if not isinstance(out, torch.Tensor):
            raise Mistake(f"return a tensor; for {name} you returned {type(out).__name__} {out!r:.40}")
        if tuple(out.shape) == (b, 3, j) and (b, 3, j) != (b, j, 3):
            raise Mistake(f"for {name} you returned shape {tuple(out.shape)} = B x 3 x J; stack x, y, z along the "
                          f"last axis to get B x J x 3 = {(b, j, 3)}")
        if tuple(out.shape) != (b, j, 3):
            raise Mistake(f"for {name} expected shape B x J x 3 = {(b, j, 3)}, got {tuple(out.shape)}")
        ref = soft_argmax(h, j, d).double()
        got = out.detach().double().cpu()
        if torch.allclose(got, ref, atol=1e-3, rtol=0):
            continue
        shift = {}  # per axis: 0 if right, +1 or -1 if off by exactly one index
        for axis, label in enumerate("xyz"):
            for offset in (0, 1, -1):
                if torch.allclose(got[..., axis] - offset, ref[..., axis], atol=1e-3, rtol=0):
                    shift[label] = offset
        if len(shift) == 3 and any(shift.values()):
            too_large = [a for a in "xyz" if shift[a] == 1]
            too_small = [a for a in "xyz" if shift[a] == -1]
            if too_large:
                raise Mistake(f"{_and(too_large)} {'is' if len(too_large) == 1 else 'are'} exactly 1 too large "
                              "(off by one): indices run 0 .. N-1 (torch.arange(N)); the official code's "
                              "arange(1, N+1) is followed by a - 1")
            raise Mistake(f"{_and(too_small)} {'is' if len(too_small) == 1 else 'are'} exactly 1 too small "
                          "(off by one): indices run 0 .. N-1, with nothing subtracted")
        if torch.allclose(got[..., [1, 0, 2]], ref, atol=1e-3, rtol=0):
            raise Mistake("x and y are swapped: x indexes the last axis (W), y the one before it (H)")
        if torch.allclose(got[..., [2, 1, 0]], ref, atol=1e-3, rtol=0):
            raise Mistake("you returned (z, y, x); the order is (x, y, z)")
        for message, wrong in _volume_variants(h, j, d).items():
            if torch.allclose(got, wrong, atol=1e-3, rtol=0):
                raise Mistake(message)
        flat = h.reshape(b, j, -1).argmax(dim=2)
        hard = torch.stack([flat % width, flat // width % height, flat // (width * height)], dim=2).double()
        if torch.allclose(got, hard):
            raise Mistake("that is the argmax: it snaps to whole cells and has no gradient. Soft-argmax is the "
                          "expected index under the softmax of the whole volume")
        worst = (got - ref).abs().max().item()
        raise Mistake(f"for {name} your coordinates differ from minipose.soft_argmax by up to {worst:.3g} cells. "
                      "Try a peaked volume (one huge logit) whose answer you know")
    # The point of soft-argmax: gradients flow back to every logit.
    small = torch.randn(1, 2 * 3, 4, 5, dtype=torch.float64, requires_grad=True)
    out = call(fn, small, 2, 3)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise Mistake("the result has no gradient: argmax, rounding, .item(), .numpy() or torch.no_grad() cut it off; "
                      "use only softmax, sums and products")
    try:
        ok = torch.autograd.gradcheck(lambda t: fn(t, 2, 3), (small,), raise_exception=False)
    except Exception:  # noqa: BLE001 - reported below as not differentiable
        ok = False
    if not ok:
        raise Mistake("the values are right but the gradient is not (torch.autograd.gradcheck fails in float64): "
                      "avoid in-place edits, .detach(), .data and casts such as .float()")
    return ("Matches minipose.soft_argmax on three heatmap volumes (non-square ones and the paper's 64 x 64 x 64), "
            "and gradcheck agrees.")


q1 = Exercise(
    "05.1", "soft-argmax from scratch", "my_soft_argmax", _check_soft_argmax,
    refuses=("minipose.integral.soft_argmax", "minipose.fast.soft_argmax_fast",
             "minipose.fast.SoftArgmax", "minipose.bench.reference_soft_argmax"),
    hints=[
        "Reshape to B x J x (D*H*W) and take one softmax over the last axis; then reshape to B x J x D x H x W.",
        "Marginals: sum the probabilities over the two other axes, e.g. p_x = probs.sum(dim=(2, 3)) (length W). "
        "Expected index: (p_x * torch.arange(W, device=..., dtype=...)).sum(dim=2).",
    ],
)

def _reference_argmax(h: torch.Tensor, joint_num: int, depth_dim: int) -> torch.Tensor:
    """Written differently from the exercise's likely answers: torch.unravel_index on the whole volume."""
    b, _, height, width = h.shape
    flat = h.reshape(b, joint_num, -1).argmax(dim=2)
    z, y, x = torch.unravel_index(flat, (depth_dim, height, width))
    return torch.stack([x, y, z], dim=2)


def _check_argmax_3d(fn) -> str:
    torch.manual_seed(6)
    for b, j, d, height, width in [(2, 3, 8, 6, 10), (1, 2, 16, 12, 5), (3, 1, 4, 7, 9)]:
        h = torch.randn(b, j * d, height, width)
        out = call(fn, h.clone(), j, d)
        name = f"{b} x {j * d} x {height} x {width} heatmaps (joint_num={j}, depth_dim={d})"
        if not isinstance(out, torch.Tensor):
            raise Mistake(f"return a tensor; for {name} you returned {type(out).__name__} {out!r:.40}")
        if tuple(out.shape) in [(b, j), (b, j, 1)]:
            raise Mistake(f"for {name} you returned one number per joint, shape {tuple(out.shape)}: that is the flat "
                          "index into the D*H*W volume; unravel it into (x, y, z), shape B x J x 3")
        if tuple(out.shape) != (b, j, 3):
            raise Mistake(f"for {name} expected shape B x J x 3 = {(b, j, 3)}, got {tuple(out.shape)}")
        ref = _reference_argmax(h, j, d)
        got = out.detach().cpu()
        if got.is_floating_point() and not torch.equal(got, got.round()):
            raise Mistake(f"for {name} you returned fractional values: the argmax is a whole cell index")
        got = got.long()
        if torch.equal(got, ref):
            continue
        if torch.equal(got[..., [1, 0, 2]], ref):
            raise Mistake("x and y are swapped: x indexes the last axis (W), y the one before it (H)")
        if torch.equal(got[..., [2, 1, 0]], ref):
            raise Mistake("you returned (z, y, x); the order is (x, y, z)")
        flat = h.reshape(b, j, -1).argmax(dim=2)
        for wrong, message in [
            (torch.stack([flat % height, flat // height % width, flat // (height * width)], 2),
             "you unravelled with H where W belongs: the flat index is z*H*W + y*W + x, so x = flat % W and "
             "y = flat // W % H (square heatmaps hide this mistake)"),
            (torch.stack([flat % width, flat // width, flat // (width * height)], 2),
             "y is too large: flat // W still contains z*H; take it modulo H (y = flat // W % H)"),
        ]:
            if torch.equal(got, wrong):
                raise Mistake(message)
        raise Mistake(f"for {name} some joints' (x, y, z) are not the cell with the largest logit; "
                      "try a volume with one huge logit at a cell you choose")
    return "Finds the largest cell of every joint's volume on three non-square heatmap sizes."


q2 = Exercise(
    "05.2", "the hard argmax, in 3D", "argmax_3d", _check_argmax_3d,
    hints=["Reshape to B x J x (D*H*W) and take .argmax(dim=2): one flat index per joint.",
           "The flat index of cell (z, y, x) is z*H*W + y*W + x: so x = flat % W, y = flat // W % H, z = flat // (H*W)."],
)

q3 = Question(
    "05.3", "a sharper or a flatter blob",
    hints=["Try it: soft_argmax(blob * 10, 1) and soft_argmax(blob / 10, 1); then * 100 and / 100."],
    answer="The blob's logits are -d^2 / (2 sigma^2) with sigma = 2 cells. Multiplying them by k is a Gaussian with "
           "sigma / sqrt(k). Times 10 (sigma 0.63) the answer barely moves: x = 40.298, y = 22.702, z = 12.5, still "
           "between cells; only around times 100 (sigma 0.2) does almost all the mass sit in the nearest cell and "
           "the answer approach the argmax (x = 40.007, y = 22.993). Divided by 10 (sigma 6.3) x and y do not move, "
           "because the blob is symmetric and far from the edges, but z goes from 12.5 to 12.81: the blob is cut "
           "off at bin 0, so its mean is pulled inwards. Divided by 100 (sigma 20) the whole volume takes part and "
           "every coordinate is pulled towards the centre 31.5 (x = 36.7, y = 26.3, z = 20.8): soft-argmax is only "
           "as precise as the heatmap is peaked, which is why training sharpens it.",
)

q4 = Question(
    "05.4", "one softmax, or three?",
    hints=["Write the marginal of softmax(v) along x and compare it with softmax of some marginal of v."],
    answer="Softmax over the whole volume, then summing over y and z, gives p(x) = sum_yz exp(v_xyz) / Z. A softmax "
           "of the logits' plain sum or max over y and z is exp(f(v_x..)) / Z', a different function: exp of a sum "
           "is a product of exps, not a sum of them, so the three answers differ from the paper's. (With "
           "log-sum-exp marginals, f = log sum_yz exp(v_xyz), the two agree exactly: that is just another way to "
           "write the same marginal.) Soft-argmax only needs the three marginals, so what matters is computing "
           "them from one normalised volume.",
)

q5 = Question(
    "05.5", "from heatmap cells to crop pixels",
    hints=["Cell i covers pixels 4i .. 4i + 3 of the 256-pixel crop."],
    answer="The heatmap is 64 x 64 for a 256 x 256 crop, so one cell spans 4 x 4 pixels and x_pixel = 4 * x_cell: "
           "the factor is input size / heatmap size (cfg.input_shape / cfg.output_shape in the official code, which "
           "multiplies by exactly 4). 'Exactly' is a convention, though: if cell i stands for the centre of pixels "
           "4i .. 4i + 3, the map is 4 * x + 1.5; the official code (and minipose) use 4 * x, a constant offset of "
           "1.5 pixels that training absorbs, since the targets are made with the same convention.",
)
