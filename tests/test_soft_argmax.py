"""soft_argmax against a float64 NumPy reference, exact cases, extreme logits, gradients and errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from minipose import soft_argmax


def numpy_reference(heatmaps: np.ndarray, joint_num: int, depth_dim: int) -> np.ndarray:
    """Straight from the definition, in float64, looping over every cell's coordinates."""
    b, _, h, w = heatmaps.shape
    v = heatmaps.astype(np.float64).reshape(b, joint_num, depth_dim, h, w)
    out = np.zeros((b, joint_num, 3))
    z, y, x = np.meshgrid(np.arange(depth_dim), np.arange(h), np.arange(w), indexing="ij")
    for i in range(b):
        for j in range(joint_num):
            e = np.exp(v[i, j] - v[i, j].max())
            p = e / e.sum()
            out[i, j] = [(p * x).sum(), (p * y).sum(), (p * z).sum()]
    return out


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_matches_float64_reference(dtype, atol):
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(3, 4 * 8, 6, 10))  # non-square on purpose
    ours = soft_argmax(torch.from_numpy(logits).to(dtype), joint_num=4, depth_dim=8)
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours.double().numpy(), numpy_reference(logits, 4, 8), rtol=0, atol=atol)


def test_official_index_convention_agrees():
    """The official code's first version (2019) weighted by arange(1..N) and subtracted 1; the result must be the same."""
    torch.manual_seed(0)
    logits = torch.randn(2, 3 * 5, 7, 9, dtype=torch.float64)
    p = logits.reshape(2, 3, 5 * 7 * 9).softmax(2).reshape(2, 3, 5, 7, 9)
    x = (p.sum(dim=(2, 3)) * torch.arange(1, 10, dtype=torch.float64)).sum(2) - 1
    y = (p.sum(dim=(2, 4)) * torch.arange(1, 8, dtype=torch.float64)).sum(2) - 1
    z = (p.sum(dim=(3, 4)) * torch.arange(1, 6, dtype=torch.float64)).sum(2) - 1
    torch.testing.assert_close(soft_argmax(logits, 3, 5), torch.stack([x, y, z], 2), rtol=0, atol=1e-12)


def test_exact_on_a_peaked_volume():
    volume = torch.zeros(2, 3 * 64, 64, 48)
    cells = [(0, 0, 10, 20, 30), (0, 2, 63, 63, 47), (1, 1, 0, 0, 0)]  # batch, joint, z, y, x
    for b, j, z, y, x in cells:
        volume[b, j * 64 + z, y, x] = 1e4
    coords = soft_argmax(volume, joint_num=3)
    for b, j, z, y, x in cells:
        assert coords[b, j].tolist() == [x, y, z]


def test_finite_for_extreme_logits():
    torch.manual_seed(0)
    logits = torch.randn(2, 2 * 64, 16, 16).sign() * 1e4
    out = soft_argmax(logits, joint_num=2)
    assert torch.isfinite(out).all()
    assert ((out >= 0) & (out <= torch.tensor([15, 15, 63]))).all()


def test_uniform_logits_give_the_centre():
    out = soft_argmax(torch.zeros(1, 64, 64, 48), joint_num=1)
    torch.testing.assert_close(out, torch.tensor([[[23.5, 31.5, 31.5]]]))


def test_gradients():
    torch.manual_seed(0)
    logits = torch.randn(2, 2 * 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: soft_argmax(t, 2, 3), (logits,))
    assert torch.autograd.gradgradcheck(lambda t: soft_argmax(t, 2, 3), (logits,))


@pytest.mark.parametrize("shape", [(1, 18 * 64 + 1, 8, 8), (18 * 64, 8, 8)])
def test_wrong_heatmap_shape_is_refused(shape):
    with pytest.raises(ValueError, match=r"joint_num \* depth_dim"):
        soft_argmax(torch.zeros(shape), joint_num=18, depth_dim=64)
