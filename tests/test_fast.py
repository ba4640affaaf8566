"""The fast path (lessons 14 and 15): equal outputs and gradients, against references written differently."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

import minipose.fast as fast
from conftest import ROOT
from minipose import Config, get_pose_net
from minipose.fast import (FastPoseNet, fast_pose_net, fold_batchnorm, optimize_for_inference, pointwise_conv,
                           soft_argmax_fast)
from minipose.integral import soft_argmax


def reference(heatmaps: torch.Tensor, joint_num: int, depth_dim: int) -> torch.Tensor:
    """float64, every cell weighted by its own (x, y, z) through einsum, normalised by logsumexp: no marginals."""
    b, _, h, w = heatmaps.shape
    v = heatmaps.double().reshape(b, joint_num, depth_dim * h * w)
    p = torch.exp(v - torch.logsumexp(v, dim=2, keepdim=True)).reshape(b, joint_num, depth_dim, h, w)
    z, y, x = torch.meshgrid(torch.arange(depth_dim), torch.arange(h), torch.arange(w), indexing="ij")
    cells = torch.stack((x, y, z), dim=-1).double()  # D x H x W x 3
    return torch.einsum("bjdhw,dhwc->bjc", p, cells)


@pytest.fixture(params=[None, 2], ids=["one chunk", "chunks of 2 images"])
def chunking(request, monkeypatch):
    if request.param is not None:  # force chunk boundaries inside the batch, as at the paper's size on a CPU
        monkeypatch.setattr(fast, "_chunk_images", lambda heatmaps: request.param)
    return request.param


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_soft_argmax_fast_equals_float64_reference(chunking, layout):
    torch.manual_seed(0)
    h = torch.randn(5, 3 * 7, 6, 9) * 4  # 5 images, 3 joints, 7 bins, 6 x 9: nothing square
    if layout == "channels_last":
        h = h.contiguous(memory_format=torch.channels_last)
    got = soft_argmax_fast(h, 3, 7)
    assert got.dtype == torch.float32 and got.shape == (5, 3, 3)
    assert torch.allclose(got.double(), reference(h, 3, 7), atol=1e-5)


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_soft_argmax_fast_gradient(chunking, layout):
    torch.manual_seed(1)
    h = (torch.randn(5, 2 * 3, 4, 5, dtype=torch.float64) * 3).requires_grad_()
    shape = (lambda t: t.contiguous(memory_format=torch.channels_last)) if layout == "channels_last" else (lambda t: t)
    assert torch.autograd.gradcheck(lambda t: soft_argmax_fast(shape(t), 2, 3), (h,))
    g = torch.randn(5, 2, 3, dtype=torch.float64)
    (ours,) = torch.autograd.grad(soft_argmax_fast(shape(h), 2, 3), h, g)
    (ref,) = torch.autograd.grad(reference(h, 2, 3), h, g)  # autograd through different code
    assert torch.allclose(ours, ref, atol=1e-12)


def test_soft_argmax_fast_huge_logits_and_low_precision():
    huge = torch.zeros(1, 2 * 4, 3, 5)
    huge[0, 1 * 4 + 2, 1, 4] = 1e30  # joint 1 at z=2, y=1, x=4
    huge[0, 0] = -1e30
    assert soft_argmax_fast(huge, 2, 4)[0, 1].tolist() == [4.0, 1.0, 2.0]
    assert torch.isfinite(soft_argmax_fast(huge, 2, 4)).all()
    torch.manual_seed(2)
    h = torch.randn(2, 3 * 8, 16, 16)
    for dtype in (torch.bfloat16, torch.float16):
        low = h.to(dtype).requires_grad_()
        out = soft_argmax_fast(low, 3, 8)
        assert out.dtype == torch.float32  # sums over thousands of cells in float32
        assert (out.double() - reference(low.detach(), 3, 8)).abs().max() < 1e-4
        g = torch.randn(2, 3, 3)
        out.backward(g)
        ref = low.detach().double().requires_grad_()
        (want,) = torch.autograd.grad(reference(ref, 3, 8), ref, g.double())
        assert low.grad.dtype == dtype
        assert torch.allclose(low.grad.double(), want, rtol=1e-2, atol=1e-4)  # the gradient, rounded to dtype


def test_soft_argmax_fast_sums_in_float32_under_bfloat16_autocast():
    """optimize_for_inference runs under autocast: the coordinates' sums must not round to bfloat16 there."""
    torch.manual_seed(4)
    h = torch.randn(2, 3 * 16, 32, 32) * 3
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = soft_argmax_fast(h, 3, 16)
    assert got.dtype == torch.float32 and (got.double() - reference(h, 3, 16)).abs().max() < 1e-4


def test_soft_argmax_fast_on_an_empty_batch():
    assert soft_argmax_fast(torch.zeros(0, 2 * 3, 4, 4), 2, 3).shape == (0, 2, 3)


def test_fold_batchnorm_refuses_training_mode():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    with pytest.raises(ValueError, match="needs eval mode"):
        fold_batchnorm(net)
    assert isinstance(net[1], nn.BatchNorm2d)  # nothing was folded


def test_soft_argmax_fast_keeps_no_volume_of_its_own():
    """What the forward saves for backward: the logits themselves (no copy) and small tensors, never a new volume.
    Lesson 05's soft_argmax, through autograd, keeps its probabilities: a volume of its own."""
    h = torch.randn(2, 3 * 8, 16, 16, requires_grad=True)

    def saved_volumes(fn):
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
            fn(h, 3, 8)
        return [t for t in saved if t.numel() >= h.numel() and t.data_ptr() != h.data_ptr()]

    assert saved_volumes(soft_argmax_fast) == []
    assert len(saved_volumes(soft_argmax)) >= 1


def test_soft_argmax_fast_names_a_wrong_shape():
    with pytest.raises(ValueError, match="joint_num=18, depth_dim=64"):
        soft_argmax_fast(torch.zeros(1, 18 * 32, 4, 4), 18, 64)


def _net_with_statistics(resnet_type: int) -> nn.Module:
    """A PoseNet whose BatchNorms hold running statistics far from the identity, in eval mode."""
    torch.manual_seed(resnet_type)
    config = Config(resnet_type=resnet_type, input_shape=(64, 64), depth_dim=8)
    net = get_pose_net(config, is_train=False, joint_num=18)
    net.head.init_weights()
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(4, 3, 64, 64) * 2 + 0.5)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_()
    return net.eval()


@pytest.mark.parametrize("resnet_type", [18, 50])
def test_fold_batchnorm_is_exact_in_eval(resnet_type):
    net = _net_with_statistics(resnet_type)
    img = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        want = net(img)
        folded = fold_batchnorm(net)
        got = folded(img)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(got, want, atol=1e-3), (got - want).abs().max()


def test_pointwise_conv_equals_the_convolution():
    torch.manual_seed(3)
    for bias in (True, False):
        conv = nn.Conv2d(16, 24, 1, bias=bias)
        x = torch.randn(3, 16, 5, 7).contiguous(memory_format=torch.channels_last)
        out = pointwise_conv(conv, x)
        assert out.is_contiguous() and torch.allclose(out, conv(x), atol=1e-5)


@pytest.mark.parametrize("resnet_type", [18, 50])
def test_optimize_for_inference_equals_the_default_and_leaves_net_alone(resnet_type):
    net = _net_with_statistics(resnet_type)
    net.train()  # the caller's mode must survive
    before = {k: v.clone() for k, v in net.state_dict().items()}
    img = torch.randn(3, 3, 64, 64)
    fast_net = optimize_for_inference(net)
    assert net.training and any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not isinstance(fast_net, torch._dynamo.eval_frame.OptimizedModule)  # no compile on a CPU by default
    with torch.no_grad():
        want = net.eval()(img)
    got = fast_net(img)
    assert not got.requires_grad and torch.allclose(got, want, atol=1e-3), (got - want).abs().max()


def test_fast_pose_net_trains_like_the_default():
    net = _net_with_statistics(18).train()
    fast_net = fast_pose_net(net)
    assert isinstance(fast_net, FastPoseNet) and list(fast_net.state_dict()) == list(net.state_dict())
    img = torch.randn(4, 3, 64, 64)
    target = {"coord": torch.rand(4, 18, 3) * 8, "vis": torch.ones(4, 18), "have_depth": torch.ones(4)}
    grads = []
    for model in (net, fast_net):  # the same modules: train mode statistics move the same way in both
        model.zero_grad()
        model(img, target).mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        assert torch.allclose(grads[1][name], grads[0][name], rtol=1e-3, atol=1e-5), name


def test_bfloat16_moves_the_shipped_networks_joints_by_millimetres():
    """The stated tolerance of the bf16 path, after the full way back to camera millimetres (lesson 12): mean joint
    move under 5 mm, MPJPE changed by under 1 mm, on the shipped weights and the held-out sample."""
    from minipose.data import PoseDataset
    from minipose.h36m import Human36M
    from minipose.metrics import mpjpe
    from minipose.train import load_trained, predict_cam, preset_config

    config = preset_config("cpu")
    net = load_trained(ROOT / "data" / "posenet_cpu" / "weights.pth.tar", config)
    loader = torch.utils.data.DataLoader(
        PoseDataset(Human36M(ROOT / "data" / "synth_sample", "test", config=config), config), batch_size=32)
    plain, truth = predict_cam(net, loader, config, "cpu")
    fp32, _ = predict_cam(optimize_for_inference(net), loader, config, "cpu")
    assert np.linalg.norm(fp32 - plain, axis=2).max() < 0.01
    bf16, _ = predict_cam(optimize_for_inference(net, bf16=True), loader, config, "cpu")
    moved = np.linalg.norm(bf16 - plain, axis=2)
    assert 0.1 < moved.mean() < 2  # it did run in bfloat16 (float32 moves < 0.01 mm), and stays within tolerance
    assert abs(mpjpe(bf16, truth) - mpjpe(plain, truth)) < 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA only: bf16 autocast and torch.compile by default")
def test_optimize_for_inference_on_cuda():
    net = _net_with_statistics(18).cuda()
    img = torch.randn(2, 3, 64, 64, device="cuda")
    with torch.no_grad():
        want = net(img)
    got = optimize_for_inference(net)(img)
    assert (got.float() - want).abs().max() < 0.1  # heatmap cells (of 16): bfloat16
