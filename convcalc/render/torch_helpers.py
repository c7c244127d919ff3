"""The small ``nn.Module`` classes an exported module defines for kinds that ``torch.nn`` has no
module for (a crop, a channel slice, ConvNeXt's LayerNorm2d, layer scale, stochastic depth):
their source, written into the module before the classes that use them, and only when used.

Each needs only torch, has the state convcalc counts (LayerScale: C parameters; the rest
none beyond ``nn.LayerNorm``'s 2C) and no MACs.
"""

from __future__ import annotations

HELPERS: dict[str, str] = {
    "CenterCrop": '''\
class CenterCrop(nn.Module):
    """The centre `size` of each map; the offsets round half to even, as torchvision's."""

    def __init__(self, size: int | tuple[int, int]) -> None:
        super().__init__()
        self.size = (size, size) if isinstance(size, int) else size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = self.size
        top = round((x.shape[-2] - height) / 2)
        left = round((x.shape[-1] - width) / 2)
        return x[..., top : top + height, left : left + width]
''',
    "Crop": '''\
class Crop(nn.Module):
    """Each map without the given margins."""

    def __init__(self, top: int, bottom: int, left: int, right: int) -> None:
        super().__init__()
        self.top, self.bottom, self.left, self.right = top, bottom, left, right

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        return x[..., self.top : height - self.bottom, self.left : width - self.right]
''',
    "ChannelSlice": '''\
class ChannelSlice(nn.Module):
    """Channels [start, end) of the input."""

    def __init__(self, start: int, end: int) -> None:
        super().__init__()
        self.start, self.end = start, end

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.start : self.end]
''',
    "LayerNorm2d": '''\
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels at each position (ConvNeXt's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
''',
    "LayerScale": '''\
class LayerScale(nn.Module):
    """y = γ·x with one learned γ per channel."""

    def __init__(self, channels: int, init: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(-1, *[1] * (x.dim() - 2))
''',
    "StochasticDepth": '''\
class StochasticDepth(nn.Module):
    """Drop path: while training, zero each sample (`row`) or the whole batch (`batch`) with
    probability p and scale the rest by 1/(1 - p); the identity at evaluation."""

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        shape = [x.shape[0] if self.mode == "row" else 1] + [1] * (x.dim() - 1)
        keep = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p) if self.p < 1.0 else x * keep
''',
}
"""Helper class name → its source (ruff-formatted, default settings)."""
