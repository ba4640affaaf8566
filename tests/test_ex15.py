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


def test_fold_check():
    def fold(conv, bn, mode=""):
        eps = 0.0 if mode == "no eps" else bn.eps
        std = bn.running_var + eps if mode == "var" else torch.sqrt(bn.running_var + eps)
        gamma = torch.ones_like(bn.weight) if mode == "no gamma" else bn.weight
        scale = gamma / std
        cb = conv.bias if conv.bias is not None and mode != "no conv bias" else torch.zeros_like(bn.running_mean)
        if mode == "in channels":
            weight = conv.weight * scale[None, :, None, None]
        else:
            weight = conv.weight * scale[:, None, None, None]
        bias = {"mean after": cb * scale - bn.running_mean + bn.bias, "no beta": (cb - bn.running_mean) * scale,
                "plus mean": (cb + bn.running_mean) * scale + bn.bias,
                "bias unscaled": cb - bn.running_mean * scale + bn.bias}.get(mode, (cb - bn.running_mean) * scale + bn.bias)
        return weight, bias

    assert_verdicts(ex15.q1, reference("15.1", "my_fold"), [
        (lambda c, b: fold(c, b, "var"), "divided by the variance"),
        (lambda c, b: fold(c, b, "no eps"), "left out eps"),
        (lambda c, b: fold(c, b, "in channels"), "scaled the input channels"),
        (lambda c, b: fold(c, b, "no gamma"), "left out gamma"),
        (lambda c, b: (c.weight * (b.weight / (torch.sqrt(b.running_var) + b.eps))[:, None, None, None],
                       fold(c, b)[1]), "outside the square root"),
        (_torch_fusion, "this calls torch.nn.utils.fusion.fuse_conv_bn_eval"),
        (_torch_weights, "this calls torch.nn.utils.fusion.fuse_conv_bn_weights"),
        (lambda c, b: fold(c, b, "mean after"), "after scaling"),
        (lambda c, b: fold(c, b, "no beta"), "left out beta"),
        (lambda c, b: fold(c, b, "no conv bias"), "dropped the convolution's own bias"),
        (lambda c, b: fold(c, b, "plus mean"), "added the running mean"),
        (lambda c, b: fold(c, b, "bias unscaled"), "must be scaled too"),
        (lambda c, b: (fold(c, b)[0], None), "return a bias too"),
        (lambda c, b: fold(c, b)[0], "return two tensors"),
        (lambda c, b: (fold(c, b)[0][:, :1], fold(c, b)[1]), "keep conv.weight's shape"),
        (lambda c, b: (fold(c, b)[0] * 1.01, fold(c, b)[1]), "your weight is not"),
        (lambda c, b: (fold(c, b)[0], fold(c, b)[1] + 0.1), "your bias is not"),
    ])


def test_fold_refuses_torchs_fold_reached_through_torch_fx():
    result = ex15.q1.result(_through_torch_fx)
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
