"""Small ResNets for low-resolution images, registered with timm.

timm's ResNets start with a 7x7 stride-2 convolution and a stride-2 max-pool: a 32 px image is
8x8 before the first block, and the strokes of an upsampled 8x8 digit are gone. These variants
are timm's ``ResNet`` with the stem swapped for a 3x3 stride-1 convolution and no max-pool (as
CIFAR ResNets do). They are registered with timm, so ``timm.create_model("resnet10_s1")`` builds
them once ``hf_fair`` is imported and their checkpoints keep timm's format
(``timm.create_model("local-dir:...")`` loads them). Which one the embedded recipe uses, and why,
is measured in docs/CLASSIFIER.md.
"""

from __future__ import annotations

import torch.nn as nn
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.resnet import BasicBlock, ResNet


class StrideOneResNet(ResNet):
    """timm ``ResNet`` whose stem keeps the input resolution."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        width = self.conv1.out_channels
        self.conv1 = nn.Conv2d(self.conv1.in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.maxpool = nn.Identity()
        # feature_info carries each stage's reduction (features_only, CAM tools): keep it true
        self.feature_info[0]["reduction"] = 1
        for info in self.feature_info[1:]:
            info["reduction"] //= 4


def _cfg(**kwargs) -> dict:
    # no hub weights: these train from scratch in seconds on small images
    return {"num_classes": 1000, "input_size": (3, 32, 32), "pool_size": (4, 4), "crop_pct": 1.0,
            "interpolation": "bilinear", "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5),
            "first_conv": "conv1", "classifier": "fc", **kwargs}


# the architectures hf-fair adds to timm (a checkpoint of one loads after `import hf_fair`)
MODELS = ("resnet10_s1", "resnet10w_s1", "resnet18_s1")
default_cfgs = generate_default_cfgs({name: _cfg() for name in MODELS})


def _create(variant: str, pretrained: bool, layers, channels, **kwargs) -> StrideOneResNet:
    return build_model_with_cfg(StrideOneResNet, variant, pretrained, block=BasicBlock, layers=layers,
                                channels=channels, stem_width=channels[0], **kwargs)


@register_model
def resnet10_s1(pretrained: bool = False, **kwargs) -> StrideOneResNet:
    """ResNet-10 (one BasicBlock per stage, channels 32/64/128/256) with a 3x3 stride-1 stem."""
    return _create("resnet10_s1", pretrained, (1, 1, 1, 1), (32, 64, 128, 256), **kwargs)


@register_model
def resnet10w_s1(pretrained: bool = False, **kwargs) -> StrideOneResNet:
    """Twice as wide as ``resnet10_s1`` (channels 64-512)."""
    return _create("resnet10w_s1", pretrained, (1, 1, 1, 1), (64, 128, 256, 512), **kwargs)


@register_model
def resnet18_s1(pretrained: bool = False, **kwargs) -> StrideOneResNet:
    """ResNet-18 (two BasicBlocks per stage, channels 64-512) with a 3x3 stride-1 stem."""
    return _create("resnet18_s1", pretrained, (2, 2, 2, 2), (64, 128, 256, 512), **kwargs)
