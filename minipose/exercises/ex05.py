"""Exercises of lesson 05, soft-argmax (written directly, not generated).

The lesson writes the 3D soft-argmax of Sun et al. (one softmax over each joint's D x H x W volume, then the
expected x, y, z). Its exercises ask for what it does not print: the answer for a volume with two equal peaks
(predicted first: the mean lands between them), a 2D soft-argmax whose logits are scaled by a sharpness beta and
which also returns each joint's spread (the standard deviation of x and y under the softmax), checked against a
float64 reference written per cell, and the hard 3D argmax of a channels-last (B x H x W x J*D) head output.
Their references live here.
"""
from __future__ import annotations

import torch

from minipose.exercises import Exercise, Mistake, Prediction, Question, call

# --- 05.0: predict the soft-argmax of a volume with two equal peaks ----------------------------------------------
# One joint, 64 depth bins of 64 x 48: logit 1000 at (x, y, z) = (30, 20, 10) and at (4, 60, 40), 0 elsewhere.
_PEAKS = ((30, 20, 10), (4, 60, 40))
_CENTRE = (23.5, 31.5, 31.5)  # a flat volume's answer: (W - 1) / 2, (H - 1) / 2, (D - 1) / 2


def _point_of(answer) -> tuple[float, ...]:
    if isinstance(answer, torch.Tensor):
        answer = answer.detach().cpu().reshape(-1).tolist() if answer.numel() in (3, 6) else answer.tolist()
    try:
        values = [v for v in answer]
    except TypeError:
        raise Mistake(f"give the point as three numbers (x, y, z); you gave {answer!r:.40}") from None
    if len(values) == 2 and all(isinstance(v, (tuple, list)) for v in values):
        raise Mistake("soft-argmax returns one point per joint, not one per peak: the volume is one joint's")
    if len(values) == 6:
        raise Mistake("soft-argmax returns one point per joint, not one per peak: the volume is one joint's")
    try:
        point = tuple(float(v) for v in values)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int too large for a float
        raise Mistake(f"give the point as three numbers (x, y, z); you gave {answer!r:.40}") from None
    if len(point) != 3:
        raise Mistake(f"give three numbers, (x, y, z); you gave {len(point)}")
    return point


def _check_two_peaks(answer) -> str:
    point = _point_of(answer)
    first, second = _PEAKS
    want = tuple((a + b) / 2 for a, b in zip(first, second))  # each peak holds half the probability

    def near(p):
        return all(abs(a - b) < 1e-3 for a, b in zip(point, p))

    if near(want):
        return ("(17, 40, 25), halfway between the peaks: each holds half the probability, and soft-argmax "
                "returns the mean, where the volume itself has almost nothing.")
    if near(first):
        raise Mistake("(30, 20, 10) is the first peak, where torch.argmax lands on a tie; soft-argmax gives each "
                      "peak half the probability and returns the mean of the two")
    if near(second):
        raise Mistake("(4, 60, 40) is the second peak alone; the first holds just as much probability, and "
                      "soft-argmax is the mean over both")
    if near(tuple(a + b for a, b in zip(first, second))):
        raise Mistake("you added the two peaks; each holds probability 1/2, so the answer is "
                      "1/2 * (30, 20, 10) + 1/2 * (4, 60, 40)")
    if near(_CENTRE) or near((31.5, 31.5, 31.5)):
        raise Mistake("that is the centre, a flat volume's answer; here the two cells hold practically all the "
                      "probability (every other cell gets exp(-1000) as much, which is 0)")
    if near(want[::-1]):
        raise Mistake("you gave (z, y, x); soft-argmax returns (x, y, z)")
    if near(tuple(v + 1 for v in want)):
        raise Mistake("one too large on every axis: indices run from 0, and so does the answer")
    raise Mistake(f"{point} is not it: which probability does each of the two peaks get, and what is the "
                  "expectation of (x, y, z) then?")


q0 = Prediction(
    "05.0", "predict the soft-argmax of two equal peaks", "two_peaks", _check_two_peaks,
    hints=["Two cells share the top logit and every other cell is 1000 below: after the softmax, what probability "
           "does each of the two get?",
           "Soft-argmax is the expected (x, y, z): the sum of probability times position over the cells."],
)


# --- 05.1: a 2D soft-argmax with a sharpness beta --------------------------------------------------------------

def _soft_argmax_2d(h: torch.Tensor, beta: float) -> torch.Tensor:
    """The reference, in float64 and written per cell: exp of (beta * logits - max), normalised per map, then the
    expected (x, y) with every cell weighted by its own coordinates (no marginals)."""
    v = beta * h.double()
    e = (v - v.amax(dim=(2, 3), keepdim=True)).exp()
    p = e / e.sum(dim=(2, 3), keepdim=True)
    yy, xx = torch.meshgrid(torch.arange(h.shape[2], dtype=torch.float64),
                            torch.arange(h.shape[3], dtype=torch.float64), indexing="ij")
    return torch.stack([(p * xx).sum(dim=(2, 3)), (p * yy).sum(dim=(2, 3))], dim=2)


def _spread_2d(h: torch.Tensor, beta: float) -> torch.Tensor:
    """The spread's reference, per cell in float64: sqrt(sum_cells p * (coordinate - mean)^2), for x and y."""
    v = beta * h.double()
    e = (v - v.amax(dim=(2, 3), keepdim=True)).exp()
    p = e / e.sum(dim=(2, 3), keepdim=True)
    yy, xx = torch.meshgrid(torch.arange(h.shape[2], dtype=torch.float64),
                            torch.arange(h.shape[3], dtype=torch.float64), indexing="ij")
    mean = _soft_argmax_2d(h, beta)
    var_x = (p * (xx - mean[..., 0, None, None]) ** 2).sum(dim=(2, 3))
    var_y = (p * (yy - mean[..., 1, None, None]) ** 2).sum(dim=(2, 3))
    return torch.stack([var_x, var_y], dim=2).sqrt()


def _spread_variants(h: torch.Tensor, beta: float) -> dict[str, torch.Tensor]:
    """What realistic wrong spreads are, in float64 (message -> B x J x 2)."""
    b, j, height, width = h.shape
    p = (beta * h.double()).reshape(b, j, -1).softmax(2).reshape(b, j, height, width)
    p_x, p_y = p.sum(2), p.sum(3)
    second = torch.stack([(p_x * torch.arange(width) ** 2).sum(2), (p_y * torch.arange(height) ** 2).sum(2)], 2)
    spread = _spread_2d(h, beta)
    return {
        "your spread is the variance, E[x^2] - E[x]^2; the standard deviation is its square root": spread ** 2,
        "your spread is sqrt(E[x^2]): subtract the squared mean first, sqrt(E[x^2] - E[x]^2), or it grows with the "
        "distance from index 0": second.sqrt(),
        "your spread has x and y swapped: the first is the spread along W (x), the second along H (y)":
            spread.flip(2),
        "that is the standard deviation of the probabilities p_x(i) themselves; the spread is that of x under "
        "them: sum_i p_x(i) * (i - E[x])^2, then the square root": torch.stack([p_x.std(2), p_y.std(2)], 2),
    }


def _expect_2d(p_x: torch.Tensor, p_y: torch.Tensor) -> torch.Tensor:
    ix, iy = (torch.arange(n, dtype=torch.float64) for n in (p_x.shape[-1], p_y.shape[-1]))
    return torch.stack([(p_x * ix).sum(-1), (p_y * iy).sum(-1)], dim=2)


def _variants_2d(h: torch.Tensor, beta: float) -> dict[str, torch.Tensor]:
    """What realistic wrong 2D soft-argmaxes return, in float64 (message -> coordinates)."""
    v = beta * h.double()
    j, height = v.shape[1:3]
    variants = {}
    if beta != 1:
        variants["beta is ignored: your answer is the same for every beta. Multiply the logits by beta before the "
                 "softmax"] = _soft_argmax_2d(h, 1.0)
        variants["you divided the logits by beta (a temperature); here beta multiplies them: softmax(beta * "
                 "logits), so a larger beta gives a sharper map"] = _soft_argmax_2d(h, 1 / beta)
        variants["beta scales the logits before the softmax, not the probabilities or the coordinates after it"] = \
            beta * _soft_argmax_2d(h, 1.0)
    if j > 1:
        p = v.softmax(dim=1)
        variants["the softmax runs over the joint axis (dim=1); it must run over each joint's whole H x W map: "
                 "reshape to B x J x (H*W) first"] = _expect_2d(p.sum(2), p.sum(3))
    for how, marg in [("sums", lambda t, d: t.sum(d)), ("maxima", lambda t, d: t.amax(d))]:
        variants[f"you took two separate softmaxes over the logits' marginal {how}; one softmax over each joint's "
                 "whole map comes first, and the marginals are sums of those probabilities"] = \
            _expect_2d(marg(v, 2).softmax(-1), marg(v, 3).softmax(-1))
    p = v.softmax(dim=3) / height
    variants["each row got its own softmax over W; one softmax must cover the whole H x W map"] = \
        _expect_2d(p.sum(2), p.sum(3))
    return variants


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _check_spread(spread, h: torch.Tensor, beta: float, name: str, tol: float) -> None:
    b, j = h.shape[:2]
    if not isinstance(spread, torch.Tensor):
        raise Mistake(f"return the spread as a tensor; for {name} it was {type(spread).__name__} {spread!r:.40}")
    if tuple(spread.shape) != (b, j, 2):
        raise Mistake(f"for {name} the spread must be B x J x 2 = {(b, j, 2)}, one (std of x, std of y) per joint; "
                      f"got {tuple(spread.shape)}")
    if spread.dtype != h.dtype:
        raise Mistake(f"for {h.dtype} heatmaps your spread is {spread.dtype}: keep the input's dtype")
    got = spread.detach().double().cpu()
    if torch.allclose(got, _spread_2d(h, beta), atol=tol, rtol=0):
        return
    for message, wrong in _spread_variants(h, beta).items():
        if torch.allclose(got, wrong, atol=1e-3, rtol=0):
            raise Mistake(message)
    worst = (got - _spread_2d(h, beta)).abs().max().item()
    raise Mistake(f"for {name} your position is right but your spread differs from sqrt(E[x^2] - E[x]^2) under "
                  f"the same probabilities by up to {worst:.3g} cells")


def _check_soft_argmax_2d(fn) -> str:
    torch.manual_seed(5)
    cases = [  # batch, joints, H, W, beta, logit scale, dtype: non-square maps, sharper and flatter
        (1, 3, 64, 48, 2.5, 1.0, torch.float32),
        (2, 4, 6, 10, 1.0, 3.0, torch.float32),  # called without beta: its default is 1
        (2, 2, 12, 7, 0.3, 10.0, torch.float64),
    ]
    for b, j, height, width, beta, scale, dtype in cases:
        h = (torch.randn(b, j, height, width) * scale).to(dtype)
        both = call(fn, h.clone(), beta) if beta != 1 else call(fn, h.clone())  # beta defaults to 1
        name = f"{b} x {j} x {height} x {width} heatmaps with beta={beta}"
        if isinstance(both, torch.Tensor) and tuple(both.shape) == (b, j, 2):
            raise Mistake(f"for {name} you returned one tensor, the position alone; return two, (xy, spread)")
        if not isinstance(both, (tuple, list)) or len(both) != 2:
            raise Mistake(f"return two tensors, (xy, spread); for {name} you returned {type(both).__name__} "
                          f"{both!r:.40}")
        out, spread = both
        if not isinstance(out, torch.Tensor):
            raise Mistake(f"return a tensor; for {name} you returned {type(out).__name__} {out!r:.40}")
        if tuple(out.shape) == (b, 2, j) and (b, 2, j) != (b, j, 2):
            raise Mistake(f"for {name} you returned shape {tuple(out.shape)} = B x 2 x J; stack x and y along the "
                          f"last axis to get B x J x 2 = {(b, j, 2)}")
        if tuple(out.shape) != (b, j, 2):
            raise Mistake(f"for {name} expected shape B x J x 2 = {(b, j, 2)}, one (x, y) per joint; got "
                          f"{tuple(out.shape)}")
        if out.dtype != dtype:
            raise Mistake(f"for {dtype} heatmaps you returned {out.dtype}: keep the input's dtype (make the indices "
                          "with dtype=heatmaps.dtype, and cast nothing)")
        ref = _soft_argmax_2d(h, beta)
        got = out.detach().double().cpu()
        tol = 1e-9 if dtype == torch.float64 else 1e-3
        if torch.allclose(got, ref, atol=tol, rtol=0):
            _check_spread(spread, h, beta, name, tol)
            continue
        shift = {}  # per axis: 0 if right, +1 or -1 if off by exactly one index
        for axis, label in enumerate("xy"):
            for offset in (0, 1, -1):
                if torch.allclose(got[..., axis] - offset, ref[..., axis], atol=1e-3, rtol=0):
                    shift[label] = offset
        if len(shift) == 2 and any(shift.values()):
            too_large = [a for a in "xy" if shift[a] == 1]
            too_small = [a for a in "xy" if shift[a] == -1]
            if too_large:
                raise Mistake(f"{_and(too_large)} {'is' if len(too_large) == 1 else 'are'} exactly 1 too large "
                              "(off by one): indices run 0 .. N-1 (torch.arange(N)); the official code's "
                              "arange(1, N+1) is followed by a - 1")
            raise Mistake(f"{_and(too_small)} {'is' if len(too_small) == 1 else 'are'} exactly 1 too small "
                          "(off by one): indices run 0 .. N-1, with nothing subtracted")
        if torch.allclose(got.flip(2), ref, atol=1e-3, rtol=0):
            raise Mistake("x and y are swapped: x indexes the last axis (W), y the one before it (H)")
        for message, wrong in _variants_2d(h, beta).items():
            if torch.allclose(got, wrong, atol=1e-3, rtol=0):
                raise Mistake(message)
        flat = h.reshape(b, j, -1).argmax(dim=2)
        if torch.allclose(got, torch.stack([flat % width, flat // width], dim=2).double()):
            raise Mistake("that is the argmax: it snaps to whole cells and has no gradient. Soft-argmax is the "
                          "expected index under the softmax of the whole map")
        worst = (got - ref).abs().max().item()
        raise Mistake(f"for {name} your (x, y) differ from the expected position under softmax(beta * logits) by "
                      f"up to {worst:.3g} cells. Try a map with one huge logit, whose answer you know")
    # The point of soft-argmax: gradients flow back to every logit.
    small = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    out = call(fn, small, 1.7)
    if not all(isinstance(t, torch.Tensor) and t.requires_grad for t in out):
        raise Mistake("the result has no gradient: argmax, rounding, .item(), .numpy() or torch.no_grad() cut it off; "
                      "use only softmax, sums and products")
    try:
        ok = torch.autograd.gradcheck(lambda t: fn(t, 1.7), (small,), raise_exception=False)
    except Exception:  # noqa: BLE001 - reported below as not differentiable
        ok = False
    if not ok:
        raise Mistake("the values are right but the gradient is not (torch.autograd.gradcheck fails in float64): "
                      "avoid in-place edits, .detach(), .data and casts such as .float()")
    return ("Matches softmax(beta * logits), its expected (x, y) and their standard deviations, computed per cell "
            "in float64, for beta = 1, 2.5 and 0.3 on non-square maps (float32 and float64); gradcheck agrees.")


q1 = Exercise(
    "05.1", "a 2D soft-argmax with a sharpness beta, and its spread", "my_soft_argmax", _check_soft_argmax_2d,
    # soft_argmax(beta * h, J, depth_dim=1)[..., :2] would solve it: one depth bin is a 2D map
    refuses=("minipose.integral.soft_argmax", "minipose.fast.soft_argmax_fast",
             "minipose.fast.SoftArgmax", "minipose.bench.reference_soft_argmax"),
    hints=[
        "Multiply by beta, reshape to B x J x (H*W), take one softmax over the last axis, reshape back to "
        "B x J x H x W.",
        "Marginals: p_x = probs.sum(dim=2) (length W), p_y = probs.sum(dim=3) (length H). Expected index: "
        "(p_x * torch.arange(W, device=..., dtype=...)).sum(dim=2).",
        "The spread along x: E[x^2] = (p_x * ix**2).sum(dim=2) with the same ix; then "
        "(E[x^2] - E[x]**2).clamp(min=0).sqrt() (the clamp keeps float rounding from going below 0).",
    ],
)


def _reference_argmax(h: torch.Tensor, joint_num: int, depth_dim: int) -> torch.Tensor:
    """Written differently from the exercise's likely answers: per joint, torch.unravel_index on its H x W x D
    block of the channels-last tensor, without any permute."""
    b, height, width, _ = h.shape
    v = h.reshape(b, height, width, joint_num, depth_dim)
    out = []
    for j in range(joint_num):
        flat = v[:, :, :, j, :].reshape(b, -1).argmax(dim=1)
        y, x, z = torch.unravel_index(flat, (height, width, depth_dim))
        out.append(torch.stack([x, y, z], dim=1))
    return torch.stack(out, dim=1)


def _argmax_variants(h: torch.Tensor, joint_num: int, depth_dim: int) -> dict[str, torch.Tensor]:
    """What realistic wrong answers return (message -> B x J x 3)."""
    b, height, width, c = h.shape

    def unravel_dhw(vol, hh, ww):  # the lesson's unravel, for a flat index over D x hh x ww
        flat = vol.reshape(b, joint_num, -1).argmax(dim=2)
        return torch.stack([flat % ww, flat // ww % hh, flat // (hh * ww)], dim=2)

    v = h.reshape(b, height, width, joint_num, depth_dim)
    return {
        "that is the lesson's code run on a channels-last tensor: here the shape is B x H x W x (J*D), so "
        "reshape(B, J, -1) mixes joints and cells. Split the last axis into J x D first":
            unravel_dhw(h, width, c),
        "channel c is joint c // D at depth c % D (joint-major, as in the lesson); you split the last axis as "
        "D x J (depth-major)": unravel_dhw(h.reshape(b, height, width, depth_dim, joint_num).permute(0, 4, 3, 1, 2),
                                           height, width),
        "you flattened each joint's H x W x D block and unravelled it as D x H x W: in that order the flat index "
        "is y*W*D + x*D + z, so z = flat % D, x = flat // D % W, y = flat // (W*D)":
            unravel_dhw(v.permute(0, 3, 1, 2, 4), height, width),
    }


def _check_argmax_3d(fn) -> str:
    torch.manual_seed(6)
    for b, j, d, height, width in [(2, 3, 8, 6, 10), (1, 2, 16, 12, 5), (3, 1, 4, 7, 9)]:
        h = torch.randn(b, height, width, j * d)
        out = call(fn, h.clone(), j, d)
        name = f"channels-last {b} x {height} x {width} x {j * d} heatmaps (joint_num={j}, depth_dim={d})"
        if not isinstance(out, torch.Tensor):
            raise Mistake(f"return a tensor; for {name} you returned {type(out).__name__} {out!r:.40}")
        if tuple(out.shape) in [(b, j), (b, j, 1)]:
            raise Mistake(f"for {name} you returned one number per joint, shape {tuple(out.shape)}: that is a flat "
                          "index; unravel it into (x, y, z), shape B x J x 3")
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
            raise Mistake("x and y are swapped: x indexes W (axis 2 here), y indexes H (axis 1)")
        if torch.equal(got[..., [2, 1, 0]], ref):
            raise Mistake("you returned (z, y, x); the order is (x, y, z)")
        for message, wrong in _argmax_variants(h, j, d).items():
            if torch.equal(got, wrong):
                raise Mistake(message)
        raise Mistake(f"for {name} some joints' (x, y, z) are not the cell with the largest logit; "
                      "try a tensor with one huge logit at a cell you choose")
    return ("Finds the largest cell of every joint's volume in channels-last B x H x W x (J*D) tensors of three "
            "non-square sizes.")


q2 = Exercise(
    "05.2", "the hard 3D argmax of a channels-last head output", "argmax_3d", _check_argmax_3d,
    hints=["Channel c of the last axis is joint c // D at depth c % D: reshape to B x H x W x J x D.",
           "Either permute to B x J x D x H x W and unravel as in the lesson, or flatten each joint's H x W x D "
           "block and unravel that order: flat = y*W*D + x*D + z."],
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
