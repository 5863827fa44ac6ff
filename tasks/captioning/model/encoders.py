"""Image encoders that return a spatial feature grid for attention: (B, 3, H, W) -> (B, S, D).

The torchvision backbones lose their pooling/classifier; what remains is a sequence of
*blocks* (stem, stages) whose last output (B, D, h, w) is flattened to S = h * w positions.
``freeze=true`` freezes every block except the last ``trainable_blocks`` ones, which keeps
the frozen blocks' BatchNorm statistics fixed as well (they stay in eval mode).
"""

from __future__ import annotations

from urllib.error import URLError

import torch
import torchvision
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_ARCHS: dict[str, str] = {
    "resnet18": "resnet18",
    "resnet50": "resnet50",
    "mobilenet_v3": "mobilenet_v3_small",
    "efficientnet_b0": "efficientnet_b0",
}


def small_cnn_blocks(channels: tuple[int, ...] = (16, 32, 64)) -> tuple[list[nn.Module], int]:
    """A stride-2 conv stem, then conv-BN-ReLU + 2x2 max-pool per further width.

    The output stride is ``2 ** len(channels)`` (8 for the default: a 64 px image gives an
    8 x 8 grid). Cheap enough to train on a CPU in minutes. Returns (blocks, D).
    """
    blocks: list[nn.Module] = []
    c_in = 3
    for i, c_out in enumerate(channels):
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, 3, stride=2 if i == 0 else 1, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]
        if i > 0:
            layers.append(nn.MaxPool2d(2))
        blocks.append(nn.Sequential(*layers))
        c_in = c_out
    return blocks, c_in


def _load_torchvision(arch: str, pretrained: bool) -> nn.Module:
    """Build ``arch``; with ``pretrained`` fetch its default weights or fail with a clear message."""
    if not pretrained:
        return torchvision.models.get_model(arch, weights=None)
    weights = torchvision.models.get_model_weights(arch).DEFAULT
    try:
        return torchvision.models.get_model(arch, weights=weights)
    except (URLError, OSError, RuntimeError) as err:
        raise RuntimeError(
            f"encoder.pretrained=true needs the torchvision weights {weights} ({weights.url}), "
            f"which are not in {torch.hub.get_dir()}/checkpoints and could not be downloaded "
            f"({err}). Copy the file there from a machine with internet, or set "
            "encoder.pretrained=false."
        ) from None


def torchvision_blocks(name: str, pretrained: bool) -> tuple[list[nn.Module], int]:
    """Feature blocks of a torchvision classifier and the channel count D of the last one."""
    if name not in TORCHVISION_ARCHS:
        raise ValueError(
            f"unknown encoder {name!r}; choose from {[*TORCHVISION_ARCHS, 'small_cnn']}"
        )
    net = _load_torchvision(TORCHVISION_ARCHS[name], pretrained)
    if name.startswith("resnet"):
        stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        stages = [net.layer1, net.layer2, net.layer3, net.layer4]
        return [stem, *stages], net.fc.in_features
    blocks = list(net.features.children())
    out_channels = [m.out_channels for m in blocks[-1].modules() if isinstance(m, nn.Conv2d)][-1]
    return blocks, out_channels


class ImageEncoder(nn.Module):
    """ImageNet-normalise, run the blocks, flatten the grid.

    Args:
        name: ``small_cnn``, ``resnet18``, ``resnet50``, ``mobilenet_v3`` or ``efficientnet_b0``.
        pretrained: load torchvision's default ImageNet weights (needs them cached or internet).
        freeze: freeze the encoder except its last ``trainable_blocks`` blocks.
        trainable_blocks: blocks left trainable when ``freeze`` (0 = fully frozen).
        channels: ``small_cnn`` widths, one block per entry.

    Shape:
        images (B, 3, H, W) in [0, 1] -> features (B, S, D), S = (H / stride) * (W / stride).
    """

    def __init__(
        self,
        name: str = "small_cnn",
        pretrained: bool = False,
        freeze: bool = False,
        trainable_blocks: int = 0,
        channels: tuple[int, ...] = (16, 32, 64),
    ) -> None:
        super().__init__()
        if name == "small_cnn":
            if pretrained:
                raise ValueError(
                    "small_cnn has no pretrained weights; set encoder.pretrained=false"
                )
            blocks, self.out_dim = small_cnn_blocks(tuple(channels))
        else:
            blocks, self.out_dim = torchvision_blocks(name, pretrained)
        self.blocks = nn.ModuleList(blocks)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if not 0 <= trainable_blocks <= len(blocks):
            raise ValueError(
                f"trainable_blocks must be in [0, {len(blocks)}] for {name}, got {trainable_blocks}"
            )
        self.frozen_blocks = len(blocks) - trainable_blocks if freeze else 0
        for block in self.blocks[: self.frozen_blocks]:
            block.requires_grad_(False)

    def train(self, mode: bool = True) -> ImageEncoder:
        super().train(mode)
        for block in self.blocks[: self.frozen_blocks]:
            block.eval()
        return self

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, D, h, w)."""
        x = (images - self.mean) / self.std
        # oneDNN convolutions on CPU run ~30% faster on NHWC than on NCHW tensors
        x = x.contiguous(memory_format=torch.channels_last)
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.feature_map(images).flatten(2).transpose(1, 2)  # (B, D, h, w) -> (B, h*w, D)
