"""tiny-resnet, exported by convcalc from examples/resnet-blocks.yaml.

Input 3×64×64, batch 8: 397,386 params, 1,664 buffers, 513,288,192 MACs.
"""

import torch
from torch import nn


class Basic(nn.Module):
    """Block `basic` (shapes as at `repeat1.basic1`)."""

    def __init__(self, in_channels: int, filters: int = 64, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(
                in_channels, filters, 3, stride=stride, padding=1, bias=False
            ),  # 64×16×16
            nn.BatchNorm2d(filters),  # 64×16×16
            nn.ReLU(),  # 64×16×16
            nn.Conv2d(filters, filters, 3, padding=1, bias=False),  # 64×16×16
            nn.BatchNorm2d(filters),  # 64×16×16
        )
        self.downsample = nn.Sequential(
            nn.Conv2d(in_channels, filters, 1, stride=stride, bias=False),
            nn.BatchNorm2d(filters),
        )
        self.relu1 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.downsample(x)  # 64×16×16
        x = self.body(x)  # 64×16×16
        x = x + shortcut  # 64×16×16
        x = self.relu1(x)  # 64×16×16
        return x


class TinyResnet(nn.Module):
    """The network `tiny-resnet`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.batchnorm1 = nn.BatchNorm2d(64)
        self.relu1 = nn.ReLU()
        self.maxpool1 = nn.MaxPool2d(3, stride=2, padding=1)
        self.repeat1 = nn.Sequential(
            *[Basic(64) for _ in range(2)],  # 64×16×16
        )
        self.stage2 = Basic(64, filters=128, stride=2)
        self.globalavgpool1 = nn.AdaptiveAvgPool2d(1)
        self.flatten1 = nn.Flatten()
        self.fc1 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)  # 64×32×32
        x = self.batchnorm1(x)  # 64×32×32
        x = self.relu1(x)  # 64×32×32
        x = self.maxpool1(x)  # 64×16×16
        x = self.repeat1(x)  # 64×16×16
        x = self.stage2(x)  # 128×8×8
        x = self.globalavgpool1(x)  # 128×1×1
        x = self.flatten1(x)  # 128
        x = self.fc1(x)  # 10
        return x


if __name__ == "__main__":
    model = TinyResnet().eval()
    with torch.no_grad():
        output = model(torch.zeros(8, 3, 64, 64))
    print(output.shape)
    print(f"{sum(parameter.numel() for parameter in model.parameters()):,} params")
