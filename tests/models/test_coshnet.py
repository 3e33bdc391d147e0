"""coshnet: the reference recipe's parameter count layer by layer in closed form, the forward equals the same
network written with torch's complex ops, and the small model learns the 8x8 digits in a few steps."""

import pytest
import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.models.coshnet import CoShNet

SMALL = {"img_size": 8, "conv_channels": (4, 6), "kernel_size": 3, "padding": 1, "hidden": 16, "embed_dim": 4}


def test_reference_recipe_count_in_closed_form():
    with torch.device("meta"):
        m = dlzoo.create_model("coshnet")

    def cconv(i, o, k):  # real + imaginary weights and biases
        return 2 * (i * o * k * k + o)

    def clin(i, o):
        return 2 * (i * o + o)

    # 32 -conv5-> 28 -pool-> 14 -conv5-> 10 -pool-> 5: 50 * 5 * 5 = 1250 flattened complex features
    expected = cconv(20, 30, 5) + cconv(30, 50, 5) + clin(1250, 500) + clin(500, 10) + (20 * 10 + 10)
    assert m.flat_features == 1250 and m.shearlets.num_filters == 20
    assert sum(p.numel() for p in m.parameters()) == expected == 1_366_390
    assert sum(p.numel() for p in m.shearlets.parameters()) == 0


def test_forward_equals_torch_complex_ops():
    torch.manual_seed(0)
    m = CoShNet(**SMALL).double().eval()
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    z = torch.fft.ifft2(torch.fft.fft2(x) * m.shearlets.filters)  # (3, 20, 8, 8): C=1 broadcasts over F
    for conv in (m.features[0], m.features[3]):
        w = torch.complex(conv.weight_real, conv.weight_imag)
        b = torch.complex(conv.bias_real, conv.bias_imag)
        z = F.conv2d(z, w, b, padding=1)
        z = torch.complex(z.real.relu(), z.imag.relu())
        z = z.reshape(*z.shape[:2], z.shape[2] // 2, 2, z.shape[3] // 2, 2).mean((3, 5))
    for fc in (m.fc1, m.fc2):
        z = F.linear(
            z.flatten(1),
            torch.complex(fc.weight_real, fc.weight_imag),
            torch.complex(fc.bias_real, fc.bias_imag),
        )
        z = torch.complex(z.real.relu(), z.imag.relu())
    ref = m.fc(torch.cat([z.real, z.imag], 1))
    with torch.no_grad():
        torch.testing.assert_close(m(x), ref)


def test_modrelu_variant_and_bad_input():
    m = CoShNet(**SMALL, act_layer="modrelu")
    assert m(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ValueError, match="act_layer"):
        CoShNet(**SMALL, act_layer="gelu")
    with pytest.raises(ValueError, match="CoShNet: expected 8x8 images"):
        CoShNet(**SMALL)(torch.randn(2, 1, 9, 9))
    with pytest.raises(ValueError, match="too small"):
        CoShNet(img_size=8)


def test_learns_digits_in_a_few_steps():
    from sklearn.datasets import load_digits  # noqa: PLC0415

    torch.manual_seed(0)
    bunch = load_digits()
    x = torch.from_numpy(bunch.images).float().unsqueeze(1) / 16.0  # (1797, 1, 8, 8)
    y = torch.from_numpy(bunch.target).long()
    m = CoShNet(**SMALL)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    with torch.no_grad():
        before = F.cross_entropy(m(x[1400:]), y[1400:]).item()
    for _ in range(80):
        idx = torch.randint(0, 1400, (64,))
        loss = F.cross_entropy(m(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        logits = m(x[1400:])
    after = F.cross_entropy(logits, y[1400:]).item()
    acc = (logits.argmax(1) == y[1400:]).float().mean().item()
    assert after < 0.6 * before, (before, after)  # held-out loss falls (ln 10 = 2.30 at chance)
    assert acc > 0.6, acc  # chance: 0.1 (0.76 here at seed 0)
