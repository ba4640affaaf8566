"""Exercise checks of lesson 14 (speed and memory): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import torch
from torch import nn

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import PASSED, ex14


def test_predicted_gflop_check():
    assert_verdicts(ex14.q0, reference("14.0", "predicted_gflop"), [
        (1.21, "you counted multiply-adds"),
        (0.0377, "not 18: one heatmap per joint and depth bin"),
        (0.134, "you left out the 18 joints"),
        (2.28, "the loader adds the thorax"),
        (21.7, "one position of the kernel"),
        (38.65, "not the crop's size"),
        (77.3, "do not multiply by the batch"),
        (0.604, "config.head_channels"),
        (5.0, "is not it"),
        ("2.4 GFLOP", "give one number"),
    ])
    assert ex14.q0.result(2.4).status == PASSED and ex14.q0.result(2_415_919_104).status == PASSED  # FLOPs count


def test_predicted_gflop_against_flop_counter_mode():
    """The checker's 2 x 256 x 1152 x 64 x 64, against torch's own count of the layer (bias and all)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.device("meta"):
        torch.nn.Conv2d(256, 18 * 64, 1)(torch.empty(1, 256, 64, 64))
    assert counter.get_total_flops() == 2 * 256 * 1152 * 64 * 64
    assert ex14.q0.result(counter.get_total_flops() / 1e9).status == PASSED


def _out(conv, h, w, padding=True):
    kh, kw = conv.kernel_size
    ph, pw = conv.padding if padding else (0, 0)
    return (h + 2 * ph - kh) // conv.stride[0] + 1, (w + 2 * pw - kw) // conv.stride[1] + 1


def test_conv_flops_check():
    def flops(conv, h, w, factor=2, padding=True, area=True, channels=True, bias=False):
        oh, ow = _out(conv, h, w, padding)
        kh, kw = conv.kernel_size
        n = factor * conv.out_channels * oh * ow * (conv.in_channels if channels else 1) * (kh * kw if area else 1)
        return n + (conv.out_channels * oh * ow if bias else 0)

    assert_verdicts(ex14.q1, reference("14.1", "my_conv_flops"), [
        (lambda c, h, w: flops(c, h, w, factor=1), "multiply-adds"),
        (lambda c, h, w: 2 * c.out_channels * h * w * c.in_channels * c.kernel_size[0] * c.kernel_size[1],
         "the input's height and width"),
        (lambda c, h, w: flops(c, h, w, padding=False), "left out the padding"),
        (lambda c, h, w: flops(c, h, w, area=False), "kernel's area"),
        (lambda c, h, w: flops(c, h, w, channels=False), "left out in_channels"),
        (lambda c, h, w: flops(c, h, w, bias=True), "bias additions"),
        (lambda c, h, w: 2 * c.out_channels * c.in_channels * c.kernel_size[0] * c.kernel_size[1]
         * ((h + 2 * c.padding[0] - c.kernel_size[0]) / c.stride[0] + 1)
         * ((w + 2 * c.padding[1] - c.kernel_size[1]) / c.stride[1] + 1), "divided with /"),
        (lambda c, h, w: 2 * c.out_channels * c.in_channels * c.kernel_size[0] * c.kernel_size[1]
         * (-(-(h + 2 * c.padding[0] - c.kernel_size[0]) // c.stride[0]) + 1)
         * (-(-(w + 2 * c.padding[1] - c.kernel_size[1]) // c.stride[1]) + 1), "rounded the output size up"),
        (lambda c, h, w: flops(c, h, w) + 1, "FlopCounterMode counts"),
        (lambda c, h, w: "many", "one number"),
    ])


def test_deconv_flops_check():
    def out(d, h, w):
        (kh, kw), (sh, sw), (ph, pw) = d.kernel_size, d.stride, d.padding
        return (h - 1) * sh - 2 * ph + kh + d.output_padding[0], (w - 1) * sw - 2 * pw + kw + d.output_padding[1]

    def area(d):
        return d.kernel_size[0] * d.kernel_size[1]

    def over_output(d, h, w):
        oh, ow = out(d, h, w)
        return 2 * d.out_channels * oh * ow * d.in_channels * area(d)

    def as_convolution(d, h, w):
        (kh, kw), (sh, sw), (ph, pw) = d.kernel_size, d.stride, d.padding
        return 2 * d.out_channels * ((h + 2 * ph - kh) // sh + 1) * ((w + 2 * pw - kw) // sw + 1) * d.in_channels \
            * area(d)

    def right(d, h, w):
        return 2 * d.in_channels * d.out_channels * area(d) * h * w

    assert_verdicts(ex14.q2, reference("14.2", "my_deconv_flops"), [
        (over_output, "counted it as a convolution over its output"),
        (as_convolution, "a convolution's output size"),
        (lambda d, h, w: right(d, h, w) // 2, "multiply-adds"),
        (lambda d, h, w: over_output(d, h, w) / (d.stride[0] * d.stride[1]), "divided the output-side count"),
        (lambda d, h, w: 2 * d.in_channels * d.out_channels * h * w, "left out the kernel's area"),
        (lambda d, h, w: right(d, h, w) + d.out_channels * out(d, h, w)[0] * out(d, h, w)[1], "bias additions"),
        (lambda d, h, w: right(d, h, w) + 1, "FlopCounterMode counts"),
        (lambda d, h, w: "many", "one number"),
    ])


def test_deconv_flops_reference_is_the_backward_of_a_convolution():
    """A transposed convolution is a convolution's input gradient: FlopCounterMode counts the same work for the
    deconvolution's forward and for that convolution's backward to its input (torch.autograd.grad), and that is
    the checker's count."""
    from torch.utils.flop_counter import FlopCounterMode

    for what, kwargs, h, w in ex14._DECONVS:
        deconv = nn.ConvTranspose2d(**kwargs)
        conv = nn.Conv2d(deconv.out_channels, deconv.in_channels, deconv.kernel_size, deconv.stride,
                         deconv.padding, bias=False)
        oh = (h - 1) * deconv.stride[0] - 2 * deconv.padding[0] + deconv.kernel_size[0] + deconv.output_padding[0]
        ow = (w - 1) * deconv.stride[1] - 2 * deconv.padding[1] + deconv.kernel_size[1] + deconv.output_padding[1]
        x = torch.randn(1, deconv.out_channels, oh, ow, requires_grad=True)
        y = conv(x)
        assert tuple(y.shape[2:]) == (h, w), what
        counter = FlopCounterMode(display=False)
        with counter:
            torch.autograd.grad(y, x, torch.randn_like(y))
        assert counter.get_total_flops() == ex14._deconv_flops(nn.ConvTranspose2d(**kwargs), h, w), what


def test_conv_flops_refuse_flop_counter_mode():
    from torch.utils.flop_counter import FlopCounterMode

    def counted(conv, h, w):
        counter = FlopCounterMode(display=False)
        with counter:
            conv(torch.zeros(1, conv.in_channels, h, w))
        return counter.get_total_flops()

    for exercise in (ex14.q1, ex14.q2):
        result = exercise.result(counted)
        assert result.status == "failed" and "FlopCounterMode" in result.message, result.message


def _by_autograd(logits, g):
    leaf = logits.clone().requires_grad_()
    p = torch.softmax(leaf, 0)
    i = torch.arange(len(leaf), dtype=leaf.dtype)
    ((p * (i - (p * i).sum()) ** 2).sum() * g).backward()
    return leaf.grad


def test_variance_grad_check():
    def parts(logits):
        p = torch.softmax(logits, 0)
        i = torch.arange(len(logits), dtype=logits.dtype)
        mean = (p * i).sum()
        return p, i, mean, (p * (i - mean) ** 2).sum()

    def grad(logits, g, mode=""):
        p, i, m, v = parts(logits)
        e2 = (p * i ** 2).sum()
        return {"mean": g * p * (i - m), "no v": g * p * (i - m) ** 2, "no p": g * ((i - m) ** 2 - v),
                "e2": g * p * (i ** 2 - e2), "plus": g * p * (i ** 2 - e2 + 2 * m * (i - m)),
                "sign": -g * p * ((i - m) ** 2 - v), "no g": p * ((i - m) ** 2 - v)}.get(mode, g * p * ((i - m) ** 2 - v))

    assert_verdicts(ex14.q3, reference("14.3", "my_variance_grad"), [
        (lambda l, g: grad(l, g, "mean"), "the gradient of x_hat"),
        (lambda l, g: grad(l, g, "no v"), "you left out - v"),
        (lambda l, g: grad(l, g, "no p"), "you left out the factor p_i"),
        (lambda l, g: grad(l, g, "e2"), "you differentiated E[i^2] only"),
        (lambda l, g: grad(l, g, "plus"), "the x_hat^2 term has the wrong sign"),
        (lambda l, g: grad(l, g, "sign"), "your gradient has the wrong sign"),
        (lambda l, g: grad(l, g, "no g"), "you left out g"),
        (lambda l, g: grad(l, g) * 1.1, "differs from autograd's"),
        (lambda l, g: grad(l, g)[:-1], "one gradient per logit"),
        (lambda l, g: "grad", "return a tensor"),
        (_by_autograd, "you used autograd"),
    ])


def test_variance_grad_reference_against_finite_differences():
    """The closed form g p_i ((i - x_hat)^2 - v), against central differences of the variance in float64: the
    checker's own reference (autograd) is not the only witness."""
    torch.manual_seed(0)
    logits, g, h = torch.randn(9, dtype=torch.float64) * 2, -1.7, 1e-6

    def variance(l):
        p = torch.softmax(l, 0)
        i = torch.arange(len(l), dtype=l.dtype)
        return (p * (i - (p * i).sum()) ** 2).sum()

    numeric = torch.stack([(variance(logits + h * e) - variance(logits - h * e)) / (2 * h)
                           for e in torch.eye(9, dtype=torch.float64)]) * g
    assert torch.allclose(reference("14.3", "my_variance_grad")(logits, g), numeric, atol=1e-7)


def test_variance_grad_refuses_autograd_in_its_other_forms():
    """torch.func.grad and torch.autograd.functional.jacobian end in torch.autograd.grad, which the check replaces
    while the answer runs: both are refused with the autograd sentence, not passed."""
    def variance(logits, g):
        p = torch.softmax(logits, 0)
        i = torch.arange(len(logits), dtype=logits.dtype)
        return (p * (i - (p * i).sum()) ** 2).sum() * g

    for answer in (lambda logits, g: torch.func.grad(lambda x: variance(x, g))(logits),
                   lambda logits, g: torch.autograd.functional.jacobian(lambda x: variance(x, g), logits)):
        result = ex14.q3.result(answer)
        assert result.status == "failed" and "you used autograd" in result.message, result.message
