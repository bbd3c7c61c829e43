"""The paper's three networks (PAPER.md §8), built exactly as specified there.

=========  =========  ==========  ===============================================
name       data       parameters  layers
=========  =========  ==========  ===============================================
mnistfc    MNIST      1,867,786   784-1024-1024-10 MLP, ReLU, BN, dropout 0.2
lenet      MNIST      131,220     conv 20 (5x5) - pool 3 - conv 50 (5x5) - pool 2
                                  - fc 500 - fc 10, BN after each pool, dropout 0.25
allcnn     CIFAR-10   1,667,166   All-CNN-BN: eight 3x3 conv-BN-ReLU blocks, a 1x1
                                  conv to 10 channels with BN, global average pool
=========  =========  ==========  ===============================================

Inputs: MNIST models take ``(N, 1, 28, 28)`` (or ``(N, 784)``) floats; All-CNN takes
``(N, 3, 32, 32)``. All return logits (use ``torch.nn.functional.cross_entropy``).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

__all__ = [
    "MODELS",
    "PARAM_COUNTS",
    "allcnn",
    "build_model",
    "count_parameters",
    "lenet",
    "mnistfc",
    "model_table",
]


def mnistfc() -> nn.Module:
    """mnistfc: View(784), Dropout(0.2), Linear(784,1024), ReLU, BN(1024), Dropout(0.2),
    Linear(1024,1024), ReLU, Dropout(0.2), BN(1024), Linear(1024,10)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(784, 1024),
        nn.ReLU(),
        nn.BatchNorm1d(1024),
        nn.Dropout(0.2),
        nn.Linear(1024, 1024),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.BatchNorm1d(1024),
        nn.Linear(1024, 10),
    )


def lenet() -> nn.Module:
    """LeNet with BN: spatial size 28 -> 24 -> 8 -> 4 -> 2, so the flattened features are 50*2*2 = 200."""
    return nn.Sequential(
        nn.Conv2d(1, 20, 5),
        nn.ReLU(),
        nn.MaxPool2d(3, 3),
        nn.BatchNorm2d(20),
        nn.Dropout(0.25),
        nn.Conv2d(20, 50, 5),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.BatchNorm2d(50),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(200, 500),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(500, 10),
    )


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]


def allcnn() -> nn.Module:
    """All-CNN-BN for 32x32 CIFAR-10: spatial size 32 -> 16 -> 8, then a 1x1 convolution to 10
    channels, BN(10), ReLU and an 8x8 average pool to 10 logits."""
    return nn.Sequential(
        nn.Dropout(0.2),
        *_conv_bn_relu(3, 96),
        *_conv_bn_relu(96, 96),
        *_conv_bn_relu(96, 96, stride=2),
        nn.Dropout(0.5),
        *_conv_bn_relu(96, 192),
        *_conv_bn_relu(192, 192),
        *_conv_bn_relu(192, 192, stride=2),
        nn.Dropout(0.5),
        *_conv_bn_relu(192, 192),
        *_conv_bn_relu(192, 192),
        nn.Conv2d(192, 10, 1),
        nn.BatchNorm2d(10),
        nn.ReLU(),
        nn.AvgPool2d(8),
        nn.Flatten(),
    )


MODELS: dict[str, Callable[[], nn.Module]] = {"mnistfc": mnistfc, "lenet": lenet, "allcnn": allcnn}

#: The parameter counts PAPER.md §8 gives (trainable parameters; BN running statistics excluded).
PARAM_COUNTS: dict[str, int] = {"mnistfc": 1_867_786, "lenet": 131_220, "allcnn": 1_667_166}

#: Which data set each model is built for.
MODEL_DATASETS: dict[str, str] = {"mnistfc": "mnist", "lenet": "mnist", "allcnn": "cifar10"}


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (BN running statistics are buffers and do not count)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build_model(name: str) -> nn.Module:
    """Build a fresh model by name (one of :data:`MODELS`), initialized by PyTorch's defaults
    under the current global seed."""
    if name not in MODELS:
        raise ValueError(f"Invalid model value: {name!r} (choose from {', '.join(MODELS)})")
    return MODELS[name]()


def model_table() -> str:
    """The paper's models, their data sets and parameter counts, as an aligned text table."""
    lines = [f"{'model':<10}{'data set':<10}{'parameters':>12}"]
    for name in MODELS:
        lines.append(
            f"{name:<10}{MODEL_DATASETS[name]:<10}{count_parameters(build_model(name)):>12,}"
        )
    return "\n".join(lines)
