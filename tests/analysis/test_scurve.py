"""S-curve capture: hooks vs calling the layers directly; affine removal vs the norm equations; tail stats."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dlzoo.analysis import collect_norm_io, find_norm_layers, norm_layer_types, remove_affine, tail_stats
from dlzoo.nn import DyT, LayerNorm, RMSNorm


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.ln = LayerNorm(8)
        self.fc2 = nn.Linear(8, 8)
        self.dyt = DyT(8, alpha_init=0.8)
        self.torch_ln = nn.LayerNorm(8)
        self.rms = RMSNorm(8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = self.ln(self.fc1(x))
        h = self.dyt(self.fc2(torch.relu(h)))
        return self.head(self.rms(self.torch_ln(h)))


def _randomize(model: nn.Module) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.5 + (1.0 if p.dim() == 1 else 0.0))


def test_norm_layer_types_cover_ours_and_torch():
    types = norm_layer_types()
    for cls in (LayerNorm, RMSNorm, DyT, nn.LayerNorm, nn.GroupNorm, nn.BatchNorm2d):
        assert issubclass(cls, types)
    assert not issubclass(nn.Linear, types)
    assert [n for n, _ in find_norm_layers(_Net())] == ["ln", "dyt", "torch_ln", "rms"]


def test_hook_capture_equals_calling_layers_directly():
    torch.manual_seed(0)
    net = _Net()
    _randomize(net)
    x = torch.randn(5, 4, 6)
    io = collect_norm_io(net, x, max_points=None, pre_affine=False)
    # replay the forward by hand, layer by layer
    with torch.no_grad():
        a = net.fc1(x)
        b = net.ln(a)
        c = net.fc2(torch.relu(b))
        d = net.dyt(c)
        e = net.torch_ln(d)
        f = net.rms(e)
    for name, (inp, out) in {"ln": (a, b), "dyt": (c, d), "torch_ln": (d, e), "rms": (e, f)}.items():
        torch.testing.assert_close(io[name].x, inp.reshape(-1), rtol=0, atol=0)
        torch.testing.assert_close(io[name].y, out.reshape(-1), rtol=0, atol=0)
        assert io[name].affine_removed is False
    assert net.training  # mode restored


def test_pre_affine_outputs_follow_the_norm_equations():
    torch.manual_seed(1)
    net = _Net()
    _randomize(net)
    x = torch.randn(7, 6)
    io = collect_norm_io(net, x, max_points=None, pre_affine=True)
    with torch.no_grad():
        a = net.fc1(x).double()
        ln_hat = (a - a.mean(-1, keepdim=True)) / torch.sqrt(a.var(-1, unbiased=False, keepdim=True) + 1e-5)
        c = net.fc2(torch.relu(net.ln(net.fc1(x)))).double()
        dyt_hat = torch.tanh(net.dyt.alpha.double() * c)  # DyT before gamma/beta: tanh(alpha x)
    torch.testing.assert_close(io["ln"].y.double(), ln_hat.reshape(-1), atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(io["dyt"].y.double(), dyt_hat.reshape(-1), atol=2e-5, rtol=1e-4)
    assert all(v.affine_removed for v in io.values())


def test_remove_affine_channels_first_and_zero_gamma():
    dyt = DyT(3, channels_last=False)
    with torch.no_grad():
        dyt.weight.copy_(torch.tensor([2.0, 0.0, -1.0]))
        dyt.bias.copy_(torch.tensor([1.0, 1.0, 1.0]))
    u = torch.randn(2, 3, 4, 4)
    y = dyt.weight.view(1, 3, 1, 1) * u + dyt.bias.view(1, 3, 1, 1)
    back, done = remove_affine(dyt, y)
    assert done
    torch.testing.assert_close(back[:, [0, 2]], u[:, [0, 2]])
    assert torch.isnan(back[:, 1]).all()  # gamma = 0: not invertible, dropped by collect_norm_io


def test_subsample_is_matched_and_bounded():
    layer = DyT(16, alpha_init=1.3)
    x = torch.randn(40, 16) * 3
    io = collect_norm_io(nn.Sequential(layer), x, max_points=100, pre_affine=True, seed=3)["0"]
    assert io.x.numel() == io.y.numel() == 100
    torch.testing.assert_close(io.y, torch.tanh(1.3 * io.x))  # pairs stay matched after subsampling


def test_collect_requires_a_norm_layer():
    with pytest.raises(ValueError, match="has no norm layers"):
        collect_norm_io(nn.Linear(2, 2), torch.randn(1, 2))


def test_tail_stats_linear_map_is_uncompressed():
    x = torch.linspace(-5, 5, 2001)
    s = tail_stats(x, 2.0 * x + 0.5)
    assert s["central_slope"] == pytest.approx(2.0) and s["intercept"] == pytest.approx(0.5)
    assert s["compression"] == pytest.approx(1.0)
    assert s["squashed_fraction"] == 0.0


def test_tail_stats_saturated_map_matches_hand_computation():
    # half the points in the linear regime y = 2x + 0.5 on [-1, 1]; half saturated at y = +-2 + 0.5 for
    # 1 < |x| <= 11. Central slope 2; a point is squashed when |y - c| = 2 < 0.5 * 2 * |x|, i.e. |x| > 2:
    # 9/10 of the saturated half -> 0.45 of all points.
    inner = torch.linspace(-1, 1, 4000, dtype=torch.float64)
    mag = torch.linspace(1, 11, 2001, dtype=torch.float64)[1:]  # (1, 11]
    outer = torch.cat([-mag, mag])
    x = torch.cat([inner, outer])
    y = torch.cat([2 * inner + 0.5, 2 * torch.sign(outer) + 0.5])
    s = tail_stats(x, y)
    assert s["central_slope"] == pytest.approx(2.0, rel=1e-6)
    assert s["squashed_fraction"] == pytest.approx(0.45, abs=2e-3)
    q95 = torch.quantile(x.abs(), 0.95)
    tail = x.abs() >= q95
    expected_tail_slope = np.polyfit(x[tail].numpy(), y[tail].numpy(), 1)[0]  # numpy's least squares
    assert s["tail_slope"] == pytest.approx(expected_tail_slope, rel=1e-9)
    assert s["compression"] == pytest.approx(expected_tail_slope / 2.0, rel=1e-6)
    assert s["compression"] < 0.15


# --- per-channel layers (BatchNorm / GroupNorm): collected and summarised channel by channel -------------


def _torch_bn(c: int = 6) -> nn.BatchNorm2d:
    """A torch BatchNorm2d in eval mode with per-channel running statistics of very different scales."""
    torch.manual_seed(3)
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.running_mean.copy_(torch.linspace(-2.0, 2.0, c))
        bn.running_var.copy_(torch.logspace(-1, 1.5, c))  # slopes 1/sqrt(var+eps) from ~3 to ~0.2
        bn.weight.copy_(torch.randn(c))
        bn.bias.copy_(torch.randn(c))
    return bn.eval()


@pytest.mark.parametrize("ours", [False, True])
def test_batchnorm_is_linear_per_channel_against_torch(ours):
    from dlzoo.analysis.scurve import layer_stats, linear_fit
    from dlzoo.nn import BatchNorm2d

    ref = _torch_bn()
    layer = ref
    if ours:  # dlzoo's BatchNorm2d with torch's weights
        layer = BatchNorm2d(6)
        layer.load_state_dict(ref.state_dict())
    x = torch.randn(4, 6, 5, 5) * 3 + 1
    io = collect_norm_io(nn.Sequential(layer), x, max_points=None, pre_affine=True)["0"]
    assert io.grouping == "channel" and io.affine_removed and io.layer_type == "BatchNorm2d"
    rm, rs = ref.running_mean, torch.sqrt(ref.running_var + ref.eps)
    c = io.channel
    # every point follows its own channel's eval map, so the channel bookkeeping is right
    torch.testing.assert_close(io.y, (io.x - rm[c]) / rs[c], atol=1e-5, rtol=1e-5)
    for ch in range(6):
        fit = linear_fit(io.x[c == ch], io.y[c == ch])
        assert fit["slope"] == pytest.approx(1 / rs[ch].item(), rel=1e-5)
        assert fit["intercept"] == pytest.approx(-rm[ch].item() / rs[ch].item(), abs=1e-5)
        assert fit["r2"] > 1 - 1e-9
    s = layer_stats(io)
    assert s["num_channels"] == 6 and s["linear_r2"] > 1 - 1e-9
    assert s["squashed_fraction"] == 0.0 and s["compression"] == pytest.approx(1.0, abs=1e-4)
    # pooling the channels (the old behaviour) reads the six lines as a squashed S: the artefact
    assert s["pooled_squashed_fraction"] > 0.01
    # with the affine kept, the points are torch's own outputs
    io_raw = collect_norm_io(nn.Sequential(layer), x, max_points=None, pre_affine=False)["0"]
    assert not ref.training  # each submodule's own mode is restored, not the wrapper's
    with torch.no_grad():
        expected = ref(x).transpose(0, 1).reshape(6, -1)  # (C, N*H*W), the order of the per-channel sample
    torch.testing.assert_close(io_raw.y.reshape(6, -1), expected, atol=1e-5, rtol=1e-5)


def test_per_channel_subsample_is_stratified():
    bn = _torch_bn(8)
    x = torch.randn(16, 8, 6, 6)
    io = collect_norm_io(nn.Sequential(bn), x, max_points=100, pre_affine=True, min_per_channel=20)["0"]
    counts = torch.bincount(io.channel, minlength=8)
    assert counts.tolist() == [20] * 8  # max(ceil(100 / 8), 20) per channel
    rm, rs = bn.running_mean, torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(io.y, (io.x - rm[io.channel]) / rs[io.channel], atol=1e-5, rtol=1e-5)
    io2 = collect_norm_io(nn.Sequential(bn), x, max_points=1000, pre_affine=True, min_per_channel=20)["0"]
    assert torch.bincount(io2.channel).tolist() == [125] * 8


def test_groupnorm_affine_removed_against_torch_group_norm():
    from dlzoo.nn import GroupNorm

    torch.manual_seed(4)
    gn = GroupNorm(2, 6)
    with torch.no_grad():
        gn.weight.copy_(torch.randn(6))
        gn.bias.copy_(torch.randn(6))
    x = torch.randn(3, 6, 4, 4) * 2
    io = collect_norm_io(nn.Sequential(gn), x, max_points=None, pre_affine=True)["0"]
    assert io.grouping == "channel" and io.affine_removed
    expected = torch.nn.functional.group_norm(x, 2, eps=gn.eps).transpose(0, 1).reshape(6, -1)  # (C, N*H*W)
    torch.testing.assert_close(io.y.reshape(6, -1), expected, atol=1e-5, rtol=1e-5)


def test_token_layer_channel_index_and_pooled_stats():
    from dlzoo.analysis.scurve import layer_stats

    ln = LayerNorm(5)
    x = torch.randn(2, 3, 5) * torch.tensor([0.5, 1.0, 4.0])[None, :, None]  # tokens of different scales
    io = collect_norm_io(nn.Sequential(ln), x, max_points=None)["0"]
    assert io.grouping == "token"
    assert io.channel.tolist() == list(range(5)) * 6  # feature index of every element, row-major
    s = layer_stats(io)
    assert s["num_channels"] == 0
    r = np.corrcoef(io.x.double().numpy(), io.y.double().numpy())[0, 1]
    assert s["linear_r2"] == pytest.approx(r**2, rel=1e-9)  # R^2 of a line = squared correlation
    for k, v in tail_stats(io.x, io.y).items():
        assert s[k] == pytest.approx(v, nan_ok=True)
