"""Exercise checks of lesson 15 (a faster network): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import torch
import torchvision
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_conv_bn_weights

from exercise_helpers import assert_verdicts, reference
from minipose import Config, get_pose_net
from minipose.exercises import ex15


def test_batchnorm_count_prediction_check():
    assert_verdicts(ex15.q0, reference("15.0", "batchnorms_folded"), [
        (53, "the backbone alone"),
        (52, "the projection shortcuts have BatchNorms too"),
        (55, "count layer1's projection too"),
        (57, "has a bias and no BatchNorm"),
        (23, "the small network of this lesson"),
        (0, "left after folding"),
        (49, "main path only"),
        (40, "two BatchNorms per block"),
        (60, "60 is not it"),
        (55.5, "a whole number"),
        ("56 BatchNorms", "give one number of BatchNorm layers"),
    ])
    assert ex15.q0.result(56.0).passed and ex15.q0.result(torch.tensor(56)).passed


def test_batchnorm_count_reference_against_real_networks():
    """The checker's count, from the architecture, against torchvision's ResNet-50 plus the head's three, and against
    the package's PoseNet built on the meta device (shapes only)."""
    count = sum(ex15._paper_batchnorms().values())
    torchvision_resnet50 = sum(isinstance(m, nn.BatchNorm2d) for m in torchvision.models.resnet50().modules())
    assert count == torchvision_resnet50 + 3 == 56
    with torch.device("meta"):
        net = get_pose_net(Config(), is_train=False, joint_num=18)
    assert count == sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def _before(bn, conv, mode=""):
    """A student's my_fold_before, written independently of the checker (with einsum), one thing done differently."""
    eps = 0.0 if mode == "no eps" else bn.eps
    s = bn.weight / torch.sqrt(bn.running_var + eps)
    t = (bn.bias if mode == "beta only" else bn.bias - bn.running_mean * s)
    w = conv.weight
    weight = torch.einsum("oikl,o->oikl", w, s) if mode == "out channels" else torch.einsum("oikl,i->oikl", w, s)
    b = conv.bias if conv.bias is not None and mode != "no conv bias" else torch.zeros(w.shape[0])
    shift = {"mean over kernel": torch.einsum("oikl,i->o", w, t) / (w.shape[2] * w.shape[3]),
             "t added": t, "no shift": torch.zeros_like(t)}.get(mode, torch.einsum("oikl,i->o", w, t))
    return weight, b + shift


def test_fold_before_check():
    assert_verdicts(ex15.q1, reference("15.1", "my_fold_before"), [
        (lambda b, c: _before(b, c, "out channels"), "you scaled the output channels"),
        (lambda b, c: _before(b, c, "no eps"), "left out eps"),
        (lambda b, c: _before(b, c, "mean over kernel"), "not their average"),
        (lambda b, c: _before(b, c, "t added"), "only through the weights"),
        (lambda b, c: _before(b, c, "no shift"), "you kept the convolution's own bias only"),
        (lambda b, c: _before(b, c, "no conv bias"), "dropped the convolution's own bias"),
        (lambda b, c: _before(b, c, "beta only"), "you shifted by beta only"),
        (lambda b, c: (_before(b, c)[0], None), "return a bias too"),
        (lambda b, c: _before(b, c)[0], "return two tensors"),
        (lambda b, c: (_before(b, c)[0][:, :1], _before(b, c)[1]), "keep conv.weight's shape"),
        (lambda b, c: (_before(b, c)[0] * 1.01, _before(b, c)[1]), "your weight is not"),
        (lambda b, c: (_before(b, c)[0], _before(b, c)[1] + 0.1), "your bias is not"),
        (lambda b, c: _torch_fusion(c, b), "this calls torch.nn.utils.fusion.fuse_conv_bn_eval"),
        (lambda b, c: _torch_weights(c, b), "this calls torch.nn.utils.fusion.fuse_conv_bn_weights"),
    ])


def test_fold_before_reference_computes_conv_of_bn():
    """The checker's folded weights, put into a real nn.Conv2d, give torch's conv(bn(x)) on random inputs; with
    padding the border would differ (the zeros are padded after the BatchNorm), which is why the cases have none."""
    for seed, bias, eps, kernel, stride in [(0, False, 1e-5, 3, 1), (1, True, 1e-5, 1, 1), (2, True, 0.5, 3, 2)]:
        bn, conv = ex15._bn_conv(seed, bias, eps, kernel, stride)
        weight, b = ex15._fold_before(bn, conv)
        folded = nn.Conv2d(4, 4, kernel, stride=stride, bias=True).double().eval()
        with torch.no_grad():
            folded.weight.copy_(weight)
            folded.bias.copy_(b)
            x = torch.randn(2, 4, 9, 7, dtype=torch.float64)
            want = conv.double()(bn.double()(x))
            assert torch.allclose(folded(x), want, atol=1e-10), (seed, kernel, stride)
    bn, conv = ex15._bn_conv(0, True, 1e-5, 3, 1)
    padded = nn.Conv2d(4, 4, 3, padding=1).double().eval()
    weight, b = ex15._fold_before(bn, conv)
    with torch.no_grad():
        padded.weight.copy_(weight)
        padded.bias.copy_(b)
        conv.padding = (1, 1)
        x = torch.randn(1, 4, 6, 6, dtype=torch.float64)
        difference = (padded(x) - conv.double()(bn.double()(x))).abs()
    assert difference[..., 1:-1, 1:-1].max() < 1e-10 and difference.max() > 1e-3  # exact inside, not at the border


def test_fold_refuses_torchs_fold_reached_through_torch_fx():
    result = ex15.q1.result(lambda bn, conv: _through_torch_fx(conv, bn))
    assert result.status == "failed" and "this calls torch.nn.utils.fusion.fuse_conv_bn_eval" in result.message


def _torch_fusion(conv, bn):
    fused = fuse_conv_bn_eval(conv, bn)  # imported before the check runs, as lesson 15's first cell does
    return fused.weight, fused.bias


def _torch_weights(conv, bn):
    return fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)


def _through_torch_fx(conv, bn):
    """Another public torch path to the same fold: torch.fx's fuse, which calls fuse_conv_bn_eval inside."""
    from torch.fx.experimental.optimization import fuse

    fused = fuse(nn.Sequential(conv, bn))
    conv_ = next(m for m in fused.modules() if isinstance(m, nn.Conv2d))
    return conv_.weight, conv_.bias


def test_fold_deconv_check():
    def scaled(deconv, bn, axis=1, bias_too=True):
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        own = deconv.bias if deconv.bias is not None else torch.zeros(4)
        shape = [1, 1, 1, 1]
        shape[axis] = 4
        return deconv.weight * scale.view(shape), ((own - bn.running_mean) * scale + bn.bias) if bias_too else None

    def torch_fusion(deconv, bn):  # as a student might, inside the answer
        fused = fuse_conv_bn_eval(deconv, bn, transpose=True)
        return fused.weight, fused.bias

    assert_verdicts(ex15.q2, reference("15.2", "my_fold_deconv"), [
        (lambda d, b: scaled(d, b, axis=0), "the weight's first axis"),
        (lambda d, b: scaled(d, b, bias_too=False), "a bias even when"),
        (lambda d, b: (scaled(d, b)[0] * 1.01, scaled(d, b)[1]), "your weight is not"),
        (lambda d, b: (scaled(d, b)[0], scaled(d, b)[1] + 0.1), "your bias is not"),
        (lambda d, b: (scaled(d, b)[0], scaled(d, b)[1] - b.bias), "you left out beta"),
        (lambda d, b: (scaled(d, b)[0][:, :2], scaled(d, b)[1]), "keep deconv.weight's shape"),
        (torch_fusion, "this calls torch.nn.utils.fusion.fuse_conv_bn_eval"),
    ])
    # The checker's written-out reference agrees with torch's own fold for a transposed convolution.
    for seed, in_channels, bias in [(20, 4, True), (21, 6, False)]:
        deconv, bn = ex15._deconv_bn(seed, in_channels, bias)
        fused = fuse_conv_bn_eval(deconv, bn, transpose=True)
        weight, b = reference("15.2", "my_fold_deconv")(deconv, bn)
        assert torch.allclose(weight, fused.weight, atol=1e-6) and torch.allclose(b, fused.bias, atol=1e-6)
