"""A fixed (non-trainable) bank of complex shearlet-like filters: CoShNet's front end.

Ko, Panchal, Andrade-Loarca, Mendez-Vazquez, "CoShNet: A Hybrid Complex Valued Neural Network using
Shearlets", 2022, arXiv:2208.06882, Sec. 3: the image is decomposed by the complex shearlet system of
CoShREM (Reisenhofer, Kiefer, King, "Shearlet-based detection of flame fronts", 2016) into
``scales x (2^shear_level + 2)`` complex coefficient maps (20 for 2 scales and shear level 3, on a 32x32
grid), computed in the Fourier domain (circular convolution):

    c_{j,k}(x) = IFFT2( FFT2(f) * conj(psi_hat_{j,k}) )(x)

**What is built here, and how it differs from CoShREM.** The frequency plane is tiled as a cone-adapted
shearlet system: a horizontal cone (``|xi_2| <= |xi_1|``) and a vertical cone; in each, ``2^(l-1) + 1``
shear slopes ``s = k / 2^(l-2)``, ``k = -2^(l-2), ..., 2^(l-2)`` (l = shear level), so ``2^l + 2``
orientations per scale, as CoShREM. For the horizontal cone (swap xi_1 and xi_2 for the vertical one):

    psi_hat_{j,s}(xi) = 2 * 1[xi_1 > 0] * W(xi_1 / f_j) * exp(-(xi_2 / xi_1 - s)^2 / (2 w_j^2))
    W(t) = t^2 exp(1 - t^2)                       (band-pass, peak 1 at t = 1: a Mexican-hat spectrum)
    f_j = f_max * 2^(-(j - 1) / scales_per_octave),   w_j = w_0 * (f_j / f_max)^(alpha - 1)

with ``xi`` in cycles per pixel, ``f_max = 1/4``, ``w_0 = 1 / 2^(l-1)`` (half of the slope step
``1 / 2^(l-2)``), and every filter scaled to unit L2 norm in space. ``alpha`` is the
anisotropy (0.5 parabolic shearlet scaling: finer scales get narrower wedges; 1: the angular width no
longer depends on scale, wavelet-like). The factor ``2 * 1[xi_1 > 0]`` is CoShREM's Hilbert step
(``psi + H psi``): the filter is analytic, so in space its real part is an even (ridge / line) detector and
its imaginary part the matching odd (edge) detector, the pair CoShREM is built on.

Differences from CoShREM (so the numbers are not the paper's transform): the generating functions here are
a Gaussian-derivative band-pass times a Gaussian in the slope ``xi_2 / xi_1`` written directly in the
frequency domain, while CoShREM digitally shears a separable spatial wavelet (a derivative of Gaussian
across, a Gaussian along: ``wavelet_eff_support``, ``gaussian_eff_support``) and samples it off the origin;
no dual-frame weights are computed (the network never reconstructs the image); the bank is normalised per
filter instead of by CoShREM's RMS. The tiling (cones, shear slopes, scales, Hilbert pairs, FFT-domain
circular filtering) is the same.

Shapes: input real ``(N, C, H, W)`` with ``(H, W)`` the grid the bank was built for -> complex
``(N, C * num_filters, H, W)`` (filters of channel 0 first). No parameters; the bank is a non-persistent
buffer ``filters`` (num_filters, H, W), rebuilt from the constructor arguments.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .channel_affine import check_positive_int

__all__ = ["shearlet_bank", "ShearletTransform"]


def shearlet_bank(
    height: int,
    width: int,
    scales: int = 2,
    shear_level: int = 3,
    alpha: float = 0.5,
    scales_per_octave: int = 2,
    f_max: float = 0.25,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[Tensor, list[tuple[str, int, float]]]:
    """The real, non-negative spectra ``psi_hat`` (scales * (2^l + 2), H, W) on torch's unshifted FFT grid
    (``torch.fft.fftfreq``), and one ``(cone, scale, slope)`` per filter (see module docstring)."""
    for name, value in (
        ("height", height),
        ("width", width),
        ("scales", scales),
        ("scales_per_octave", scales_per_octave),
    ):
        check_positive_int("shearlet_bank", name, value)
    if isinstance(shear_level, bool) or not isinstance(shear_level, int) or shear_level < 2:
        raise ValueError(f"shearlet_bank: shear_level must be an int >= 2, got {shear_level!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"shearlet_bank: alpha must be in [0, 1], got {alpha}")
    if not 0.0 < f_max <= 0.5:
        raise ValueError(f"shearlet_bank: f_max must be in (0, 0.5] cycles/pixel, got {f_max}")
    fy = torch.fft.fftfreq(height, dtype=torch.float64, device=device).view(-1, 1)  # (H, 1) cycles/pixel
    fx = torch.fft.fftfreq(width, dtype=torch.float64, device=device).view(1, -1)  # (1, W)
    fy, fx = torch.broadcast_tensors(fy, fx)
    half = 2 ** (shear_level - 2)
    slopes = [k / half for k in range(-half, half + 1)]  # 2^(l-1) + 1 per cone
    w0 = 1.0 / (2 * half)
    filters, index = [], []
    for j in range(scales):
        f_j = f_max * 2.0 ** (-j / scales_per_octave)
        w_j = w0 * (f_j / f_max) ** (alpha - 1.0)
        for cone, (main, cross) in (("h", (fx, fy)), ("v", (fy, fx))):
            positive = main > 0
            safe = torch.where(positive, main, torch.ones_like(main))
            t = safe / f_j
            radial = t * t * torch.exp(1.0 - t * t)
            ratio = cross / safe
            for s in slopes:
                spec = 2.0 * positive * radial * torch.exp(-((ratio - s) ** 2) / (2 * w_j * w_j))
                # unit L2 norm in space: sum |psi|^2 = sum |psi_hat|^2 / (H W)  (Parseval, unnormalised FFT)
                spec = spec / torch.sqrt((spec * spec).sum() / (height * width)).clamp_min(1e-30)
                filters.append(spec)
                index.append((cone, j, s))
    return torch.stack(filters).to(dtype), index


class ShearletTransform(nn.Module):
    """Fixed complex shearlet-like decomposition (module docstring): real (N, C, H, W) -> complex
    (N, C * num_filters, H, W), computed as ``IFFT2(FFT2(x) * psi_hat)`` (``psi_hat`` is real, so
    ``conj(psi_hat) = psi_hat``)."""

    def __init__(
        self,
        img_size: int | tuple[int, int] = 32,
        scales: int = 2,
        shear_level: int = 3,
        alpha: float = 0.5,
        scales_per_octave: int = 2,
        f_max: float = 0.25,
    ) -> None:
        super().__init__()
        h, w = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.img_size = (
            check_positive_int("ShearletTransform", "img_size", h),
            check_positive_int("ShearletTransform", "img_size", w),
        )
        self.scales, self.shear_level, self.alpha = scales, shear_level, alpha
        bank, self.index = shearlet_bank(h, w, scales, shear_level, alpha, scales_per_octave, f_max)
        self.register_buffer("filters", bank, persistent=False)  # (F, H, W)
        self.num_filters = bank.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or tuple(x.shape[-2:]) != self.img_size or x.is_complex():
            raise ValueError(
                f"ShearletTransform: expected a real (N, C, {self.img_size[0]}, "
                f"{self.img_size[1]}) batch, got {list(x.shape)} {x.dtype}"
            )
        n, c = x.shape[:2]
        spectrum = torch.fft.fft2(x)  # (N, C, H, W) complex
        coeffs = torch.fft.ifft2(spectrum.unsqueeze(2) * self.filters.to(x.dtype))  # (N, C, F, H, W)
        return coeffs.reshape(n, c * self.num_filters, *self.img_size)

    def spatial_filters(self) -> Tensor:
        """The complex spatial filters ``psi`` (F, H, W), centred at pixel (0, 0) (circular)."""
        return torch.fft.ifft2(self.filters.to(torch.complex128))

    def extra_repr(self) -> str:
        return (
            f"img_size={self.img_size}, scales={self.scales}, shear_level={self.shear_level}, "
            f"alpha={self.alpha}, num_filters={self.num_filters}"
        )
