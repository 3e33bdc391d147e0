"""Classic CNNs against references we did not write, with the same weights, outputs AND gradients.

* torchvision (vgg11..vgg19_bn, alexnet, densenet121, googlenet with aux_logits / transform_input both
  ways) and timm (mobilenetv4_conv_small): the reference's random-init ``state_dict()`` (BN layers given
  random running stats and affine parameters) loads strictly through dlzoo's converter; eval logits and
  training-mode gradients of every parameter (by name) and the updated BN running stats agree in float64.
* No torchvision twin: NiN, LeNet-5 (modern), AlexNet-2012 and the MLP against networks written here from
  torch.nn modules; LeNet-5 (1998) against the paper's equations written with torch.nn.functional.

VGG and AlexNet carry a 100M-parameter classifier: they are compared with torchvision's features and
forward and a narrow torch.nn classifier head; the full-size state-dict layouts are compared on the meta
device, and the full AlexNet once numerically (slow).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dlzoo
from dlzoo.interop.torchvision import load_torchvision_state_dict

tvm = pytest.importorskip("torchvision.models")

N_CLASSES = 10


def _via_converter(ours: nn.Module, state: dict) -> None:
    """The documented path: same keys in the same order, loaded strictly by dlzoo's converter."""
    assert list(ours.state_dict()) == list(state)
    assert load_torchvision_state_dict(ours, state) == []


def _materialize(ref: nn.Module) -> nn.Module:
    """A reference built on the meta device (to skip initialising a huge head), made real with torch's
    default init of each layer."""
    ref = ref.to_empty(device="cpu")
    for m in ref.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return ref


def _narrow_head(in_features: int, hidden: int, vgg: bool) -> nn.Sequential:
    """torchvision's VGG / AlexNet classifier layout at width ``hidden`` (dropout 0), from torch.nn."""
    if vgg:
        return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(True), nn.Dropout(0.0),
                             nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(0.0),
                             nn.Linear(hidden, N_CLASSES))
    return nn.Sequential(nn.Dropout(0.0), nn.Linear(in_features, hidden), nn.ReLU(True), nn.Dropout(0.0),
                         nn.Linear(hidden, hidden), nn.ReLU(True), nn.Linear(hidden, N_CLASSES))


VGG_CFG = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}
VGG_NAMES = ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]
VGGS = [pytest.param(n, marks=pytest.mark.slow) if n.startswith(("vgg16", "vgg19")) else n for n in VGG_NAMES]


@pytest.mark.parametrize("name", VGGS)
def test_vgg_matches_torchvision_features_and_forward(name, reference_parity):
    """torchvision's make_layers + VGG.forward (7x7 adaptive pool of 1x1 maps), narrow classifier."""
    hidden = 32
    features = tvm.vgg.make_layers(tvm.vgg.cfgs[VGG_CFG[name.removesuffix("_bn")]], name.endswith("_bn"))
    with torch.device("meta"):
        ref = tvm.vgg.VGG(nn.Sequential(), num_classes=N_CLASSES, init_weights=False, dropout=0.0)
    ref.features, ref.classifier = features, _narrow_head(512 * 7 * 7, hidden, vgg=True)
    ours = dlzoo.create_model(name, num_classes=N_CLASSES, drop_rate=0.0, mlp_hidden=hidden)
    # train-mode BN sees >= 2 x 2 x 2 values
    reference_parity(ref, ours, torch.randn(2, 3, 32, 32), load=_via_converter)


@pytest.mark.parametrize("name", VGG_NAMES + ["alexnet"])
def test_full_size_state_dict_layout_matches_torchvision(name):
    """Unmodified torchvision models (25088 -> 4096 -> 4096 head): same keys, order and shapes (meta)."""
    with torch.device("meta"):
        ref = getattr(tvm, name)(num_classes=N_CLASSES).state_dict()
        ours = dlzoo.create_model(name, num_classes=N_CLASSES).state_dict()
    assert [(k, v.shape) for k, v in ours.items()] == [(k, v.shape) for k, v in ref.items()]


@pytest.mark.slow
def test_full_size_alexnet_matches_torchvision(reference_parity):
    """The unmodified torchvision AlexNet (9216 -> 4096 -> 4096 classifier), strict load, parity."""
    ref = tvm.alexnet(num_classes=N_CLASSES, dropout=0.0)
    ours = dlzoo.create_model("alexnet", num_classes=N_CLASSES, drop_rate=0.0)
    # 63: AlexNet's smallest input
    reference_parity(ref, ours, torch.randn(2, 3, 63, 63), load=_via_converter)


def test_alexnet_matches_torchvision_features_and_forward(reference_parity):
    with torch.device("meta"):
        ref = tvm.AlexNet(num_classes=N_CLASSES, dropout=0.0)
        ref.classifier = _narrow_head(256 * 6 * 6, 32, vgg=False)
    ours = dlzoo.create_model("alexnet", num_classes=N_CLASSES, drop_rate=0.0, mlp_hidden=32)
    reference_parity(_materialize(ref), ours, torch.randn(2, 3, 63, 63), load=_via_converter)


def test_densenet121_matches_torchvision(reference_parity):
    ref = tvm.densenet121(num_classes=N_CLASSES)
    ours = dlzoo.create_model("densenet121", num_classes=N_CLASSES)
    # 3: norm5 (1x1 maps) normalises over the batch
    reference_parity(ref, ours, torch.randn(3, 3, 32, 32), load=_via_converter)


# each option both ways (and the default, both off)
@pytest.mark.parametrize(("aux_logits", "transform_input"), [(False, False), (True, True)])
def test_googlenet_matches_torchvision(aux_logits, transform_input, reference_parity):
    kw = dict(num_classes=N_CLASSES, aux_logits=aux_logits, transform_input=transform_input)
    ref = tvm.GoogLeNet(**kw, init_weights=True, dropout=0.0, dropout_aux=0.0)
    ours = dlzoo.create_model("googlenet", **kw, drop_rate=0.0, aux_drop_rate=0.0)
    reference_parity(ref, ours, torch.randn(3, 3, 32, 32), load=_via_converter)
    ours.train()
    out = ours(torch.randn(2, 3, 32, 32, dtype=torch.float64))
    if aux_logits:  # torchvision's fields, and the paper's loss L + 0.3 (L_aux1 + L_aux2)
        target = torch.tensor([1, 2])
        loss = F.cross_entropy(out.logits, target) + 0.3 * (
            F.cross_entropy(out.aux_logits1, target) + F.cross_entropy(out.aux_logits2, target))
        torch.testing.assert_close(out.loss(F.cross_entropy, target), loss)
    else:
        assert isinstance(out, torch.Tensor)


def test_mobilenetv4_conv_small_matches_timm(reference_parity):
    timm = pytest.importorskip("timm")
    ref = timm.create_model("mobilenetv4_conv_small", pretrained=False, num_classes=N_CLASSES)
    ours = dlzoo.create_model("mobilenetv4_conv_small", num_classes=N_CLASSES)
    # norm_head sees (N, 1280, 1, 1)
    reference_parity(ref, ours, torch.randn(3, 3, 32, 32), load=_via_converter)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    ours.eval()
    ref.eval()
    with torch.no_grad(), dlzoo.reference_mode():  # the explicit-math path of every layer, too
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-9, atol=1e-9)
    assert ours.forward_head(ours.forward_features(x), pre_logits=True).shape == (2, ref.head_hidden_size)


# --- no torchvision twin: references written here from torch.nn modules -----------------------------


def _load_by_order(ours: nn.Module, theirs: dict) -> dict[str, str]:
    """Copy the reference's tensors into ours in registration order (same layer sequence), reshaping a 1x1
    conv kernel (K, C, 1, 1) into a Linear weight (K, C); returns our key -> reference key."""
    own = ours.state_dict()
    assert len(own) == len(theirs)
    ours.load_state_dict({k: v.reshape(own[k].shape) for k, v in zip(own, theirs.values())}, strict=True)
    return dict(zip(own, theirs))


def _torch_nin(num_classes: int) -> nn.Sequential:
    """Lin et al. 2014, CIFAR-10 model: three mlpconv layers, the last with one map per class, global
    average pooling (Caffe's ceil-mode pools)."""
    c, r = nn.Conv2d, nn.ReLU
    return nn.Sequential(
        c(3, 192, 5, padding=2), r(), c(192, 160, 1), r(), c(160, 96, 1), r(),
        nn.MaxPool2d(3, 2, ceil_mode=True), nn.Dropout(0.0),
        c(96, 192, 5, padding=2), r(), c(192, 192, 1), r(), c(192, 192, 1), r(),
        nn.AvgPool2d(3, 2, ceil_mode=True), nn.Dropout(0.0),
        c(192, 192, 3, padding=1), r(), c(192, 192, 1), r(), c(192, num_classes, 1), r(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )


def test_nin_matches_torch_nn_network(reference_parity):
    ref = _torch_nin(N_CLASSES)
    ours = dlzoo.create_model("nin_cifar10", num_classes=N_CLASSES, drop_rate=0.0)
    reference_parity(ref, ours, torch.randn(2, 3, 32, 32), load=_load_by_order)


def test_lenet5_modern_matches_torch_nn_network(reference_parity):
    ref = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                        nn.ReLU(), nn.Linear(84, N_CLASSES))
    ours = dlzoo.create_model("lenet5_modern", num_classes=N_CLASSES)
    reference_parity(ref, ours, torch.randn(3, 1, 32, 32), load=_load_by_order)


def test_mlp_digits_matches_torch_nn_network(reference_parity):
    ref = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.LayerNorm(128), nn.GELU(), nn.Linear(128, 128),
                        nn.LayerNorm(128), nn.GELU(), nn.Linear(128, N_CLASSES))
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5), m.bias.normal_(0.0, 0.2)
    ours = dlzoo.create_model("mlp_digits", num_classes=N_CLASSES)
    reference_parity(ref, ours, torch.randn(3, 1, 8, 8), load=_load_by_order)


class _TorchAlexNet2012(nn.Module):
    """Krizhevsky et al. 2012, Fig. 2: conv2/4/5 in two groups, LRN after the ReLUs of conv1 and conv2
    (paper alpha = 1e-4 over n = 5 maps; torch's LRN divides alpha by n, so 5e-4), pools 3x3/2."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        lrn = lambda: nn.LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2.0)  # noqa: E731
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(6)
        self.classifier = _narrow_head(256 * 6 * 6, hidden, vgg=False)

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def test_alexnet_original_matches_torch_nn_network(reference_parity):
    ref = _TorchAlexNet2012(hidden=32)
    ours = dlzoo.create_model("alexnet_original", num_classes=N_CLASSES, drop_rate=0.0, mlp_hidden=32)
    reference_parity(ref, ours, torch.randn(2, 3, 67, 67), load=_via_converter)


def test_alexnet_original_lrn_is_the_papers_equation():
    """Sec. 3.3: b^i = a^i / (k + alpha sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} (a^j)^2)^beta."""
    lrn = dlzoo.create_model("alexnet_original", mlp_hidden=8, pool_size=1).features[2]
    a = torch.randn(2, 96, 5, 5, dtype=torch.float64).relu()
    k, n, alpha, beta = 2.0, 5, 1e-4, 0.75
    sq = a.square()
    window = torch.stack([sq[:, max(0, i - n // 2):min(96, i + n // 2 + 1)].sum(1) for i in range(96)], 1)
    torch.testing.assert_close(lrn(a), a / (k + alpha * window) ** beta)


# LeNet-5, Table I: row = S2 map, column = C3 map, X = connected
TABLE_I = """
X...XXX..XXXX.XX
XX...XXX..XXXX.X
XXX...XXX..X.XXX
.XXX..XXXX..X.XX
..XXX..XXXX.XX.X
...XXX..XXXX.XXX
""".split()


def _lenet5_paper(x: torch.Tensor, p: dict[str, torch.Tensor], pairs: list[tuple[int, int]]) -> torch.Tensor:
    """LeCun et al. 1998, Sec. II.B with f(a) = 1.7159 tanh(2a/3) (Appendix A) and eq. (7) RBF outputs."""
    f = lambda a: 1.7159 * torch.tanh(2.0 / 3.0 * a)  # noqa: E731

    def subsample(h, w, b):  # sum of each 2x2 window times a trainable coefficient, plus a bias
        return F.avg_pool2d(h, 2) * 4 * w.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)

    h = f(F.conv2d(x, p["c1.weight"], p["c1.bias"]))  # C1 (N, 6, 28, 28)
    h = f(subsample(h, p["s2.weight"], p["s2.bias"]))  # S2 (N, 6, 14, 14)
    kernel = torch.zeros(16, 6, 5, 5, dtype=x.dtype)
    for c, (o, i) in enumerate(pairs):
        kernel[o, i] = p["c3.weight"][c]
    h = f(F.conv2d(h, kernel, p["c3.bias"]))  # C3 (N, 16, 10, 10), sparse (Table I)
    h = f(subsample(h, p["s4.weight"], p["s4.bias"]))  # S4 (N, 16, 5, 5)
    h = f(F.conv2d(h, p["c5.weight"], p["c5.bias"])).flatten(1)  # C5 (N, 120)
    h = f(F.linear(h, p["f6.weight"], p["f6.bias"]))  # F6 (N, 84)
    return -torch.cdist(h, p["output.weight"]).square()  # -(sum_j (x_j - w_ij)^2)


def test_lenet5_matches_the_papers_equations():
    ours = dlzoo.create_model("lenet5").double()
    pairs = [tuple(pair) for pair in ours.c3.index.tolist()]  # layout of c3.weight: one kernel per pair
    table = [(o, i) for i, row in enumerate(TABLE_I) for o, mark in enumerate(row) if mark == "X"]
    assert sorted(pairs) == sorted(table)
    assert set(ours.output.weight.unique().tolist()) == {-1.0, 1.0}  # fixed +-1 RBF code
    trained = dict(ours.named_parameters())
    params = {n: t.detach().clone().requires_grad_(n in trained) for n, t in ours.state_dict().items()}
    x = torch.randn(3, 1, 32, 32, dtype=torch.float64)
    expected = _lenet5_paper(x, params, pairs)
    out = ours(x)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)
    w = torch.randn_like(out)
    (w * expected).sum().backward()
    (w * out).sum().backward()
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, params[name].grad, rtol=1e-9, atol=1e-12, msg=name)
    assert sum(p.numel() for p in ours.parameters()) == 60_000 and not ours.output.weight.requires_grad


def test_converter_takes_state_dicts_and_drops_absent_aux_heads():
    """torchvision's pretrained GoogLeNet is saved with aux heads; a model built without them loads it."""
    ref = tvm.GoogLeNet(num_classes=N_CLASSES, aux_logits=True, init_weights=False)
    ours = dlzoo.create_model("googlenet", num_classes=N_CLASSES)
    assert load_torchvision_state_dict(ours, ref.state_dict()) == []
    torch.testing.assert_close(ours.fc.weight, ref.fc.weight)
    with_aux = dlzoo.create_model("googlenet", num_classes=N_CLASSES, aux_logits=True)
    assert load_torchvision_state_dict(with_aux, ref.state_dict()) == []
    torch.testing.assert_close(with_aux.aux2.fc2.weight, ref.aux2.fc2.weight)
    with pytest.raises(ValueError, match="missing keys"):
        load_torchvision_state_dict(with_aux, tvm.GoogLeNet(num_classes=N_CLASSES, aux_logits=False,
                                                            init_weights=False).state_dict())
    with pytest.raises(TypeError, match="file path or a name -> tensor mapping"):
        load_torchvision_state_dict(ours, [1, 2])
