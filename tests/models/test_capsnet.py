"""capsnet: the paper's 8.2M count in closed form, the loss = Eq. 4 margin + 0.0005 reconstruction SSE,
decoder masking, and it learns the 8x8 digits."""

import pytest
import torch

import dlzoo
from dlzoo.losses import margin_loss
from dlzoo.models.capsnet import CapsNet

SMALL = {"img_size": 8, "conv_channels": 16, "conv_kernel": 3, "primary_capsules": 4, "primary_dim": 4,
         "primary_kernel": 3, "capsule_dim": 8, "decoder_hidden": (32, 64)}


def test_paper_configuration_count():
    with torch.device("meta"):
        m = dlzoo.create_model("capsnet")
    total = sum(p.numel() for p in m.parameters())
    decoder = sum(p.numel() for p in m.decoder.parameters())
    assert total == 8_215_568 and round(total / 1e6, 1) == 8.2  # paper: 8.2M
    assert round((total - decoder) / 1e6, 1) == 6.8  # paper: 6.8M without the reconstruction subnetwork
    assert m.digit.in_capsules == 1152


def test_loss_is_margin_plus_scaled_reconstruction_and_mask_uses_target():
    torch.manual_seed(0)
    m = CapsNet(**SMALL).double()
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    y = torch.tensor([2, 0, 7])
    out = m(x, y)
    sse = (out.reconstruction - x).pow(2).flatten(1).sum(1)
    torch.testing.assert_close(out.loss, (margin_loss(out.logits, y, reduction="none") + 0.0005 * sse).mean())
    masked = torch.zeros_like(out.capsules)
    masked[torch.arange(3), y] = out.capsules[torch.arange(3), y]
    torch.testing.assert_close(out.reconstruction, m.decoder(masked.flatten(1)).view_as(x))
    pred = m(x)
    assert pred.loss is None
    torch.testing.assert_close(pred.logits, out.capsules.norm(dim=-1))


@pytest.mark.slow
def test_learns_digits():
    from sklearn.datasets import load_digits  # noqa: PLC0415

    torch.manual_seed(0)
    bunch = load_digits()
    x = torch.from_numpy(bunch.images).float().unsqueeze(1) / 16.0  # (1797, 1, 8, 8) in [0, 1]
    y = torch.from_numpy(bunch.target).long()
    m = CapsNet(**SMALL, routing_init_std=0.1)  # 128 input capsules: 0.01 leaves ||s|| ~ 0 (flat squash)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(60):
        idx = torch.randint(0, 1400, (64,))
        loss = m(x[idx], y[idx]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (m(x[1400:]).logits.argmax(1) == y[1400:]).float().mean()
    assert acc > 0.6, float(acc)  # chance: 0.1 (0.80 here at seed 0)


def test_bad_input():
    with pytest.raises(ValueError, match="CapsNet: img_size=4 is too small"):
        CapsNet(img_size=4, conv_kernel=3, primary_kernel=3)
    with pytest.raises(ValueError, match="CapsNet: expected 8x8"):
        CapsNet(**SMALL)(torch.rand(1, 1, 9, 9))
