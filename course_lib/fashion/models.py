r"""The course's Fashion-MNIST models, with exact parameter counts: the MLP baseline and three-block CNN
of the kernel study, the lecture's batch-norm CNN, and the second course's two-block CNN and dense baseline.

Parameter counts (weights + biases; ``k`` the kernel size):

- conv ``C_in -> C_out``: :math:`k^2 C_{in} C_{out} + C_{out}`; linear ``n -> m``: :math:`nm + m`;
  batch norm over ``C`` channels: :math:`2C` trainable (plus ``2C`` running statistics, not counted).
- ``BaselineMLP((128, 64))``: 784*128+128 + 128*64+64 + 64*10+10 = **109,386**;
  ``BaselineMLP((256, 128))``: **235,146**.
- ``FashionCNN(k)``, channels 1->32->64->128, "same" padding, 2x2 max pool (28 -> 14 -> 7 -> 3),
  flatten 128*3*3 = 1152 -> 128 -> 10:
  :math:`(1 \cdot 32 + 32 \cdot 64 + 64 \cdot 128) k^2 + 224 + 147{,}584 + 1{,}290`
  = 10,272 k^2 + 149,098: **241,546** (3x3), **405,898** (5x5), **652,426** (7x7).
  (The seed notebook's "~279,000" for 3x3 and "~530,000" for 5x5 are wrong.)
- ``FashionCNN(k, separable=True)``: blocks 2 and 3 become depthwise ``k x k`` + pointwise ``1 x 1``
  (:math:`k^2 C_{in} + C_{in} + C_{in} C_{out} + C_{out}` each); the first block keeps its standard
  convolution (one input channel), as MobileNet does: 128 k^2 + 159,434 = **160,586** (3x3).
- ``LectureCNN()``, the lecture's network: 320 + 64 (BN) + 18,496 + 128 (BN) + 803,072 (3136 -> 256)
  + 512 (BN1d) + 2,570 = **825,162** (the lecture's table prints 802,048 for the linear layer).
- ``TwoBlockCNN()``, the second course's Keras baseline: 320 + 18,496 + 401,536 (3136 -> 128) + 1,290
  = **421,642**; its ``DenseBaseline()``: 200,960 + 32,896 + 1,290 = **235,146**.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from course_lib.fashion.data import IMAGE_SIZE, N_CLASSES
from course_lib.validation import check_bool, check_int, check_int_sequence


def _check_widths(name: str, values: Sequence[int]) -> tuple[int, ...]:
    widths = tuple(check_int_sequence(name, values, minimum=1))
    if not widths:
        raise ValueError(f"{name}={values!r} must hold at least one width")
    return widths


def _check_dropout(dropout: float) -> float:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout} must be in [0, 1)")
    return float(dropout)


class BaselineMLP(nn.Module):
    """Flatten -> [Linear -> ReLU -> Dropout] per hidden width -> Linear(10 logits)."""

    def __init__(
        self, hidden: Sequence[int] = (128, 64), dropout: float = 0.2, n_classes: int = N_CLASSES
    ) -> None:
        super().__init__()
        self.hidden = _check_widths("hidden", hidden)
        layers: list[nn.Module] = [nn.Flatten()]
        width = IMAGE_SIZE * IMAGE_SIZE
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(_check_dropout(dropout))]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (N, 1, 28, 28) -> (N, n_classes)


class DepthwiseSeparableConv2d(nn.Sequential):
    r"""``depthwise`` (``Conv2d(C_in, C_in, k, groups=C_in)``) then ``pointwise``
    (``Conv2d(C_in, C_out, 1)``), both with biases: :math:`k^2 C_{in} + C_{in} + C_{in} C_{out} + C_{out}`
    parameters (:func:`course_lib.arithmetic.depthwise_separable_params`); the numpy reference is
    :func:`course_lib.separable.depthwise_separable_conv2d`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, padding=padding, groups=in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)


class FashionCNN(nn.Module):
    r"""Three conv blocks [Conv(k, "same") -> (BatchNorm) -> ReLU -> MaxPool 2x2], then dense -> logits.

    Spatial sizes 28 -> 14 -> 7 -> 3 (floor), so the flattened features are ``channels[-1] * 3 * 3``.
    This is the kernel-size study's network. ``batch_norm=True`` adds BatchNorm2d after each convolution
    (the benchmark's three-block BN CNN; the lecture's own two-block BN network is :class:`LectureCNN`).
    ``separable=True`` makes every block after the first a :class:`DepthwiseSeparableConv2d` (the first
    block sees one input channel, where a depthwise step would be a single filter; MobileNet also keeps
    its first convolution standard).

    Each block runs the pool BEFORE the ReLU: ``features`` is Conv -> (BN) -> MaxPool -> ReLU. The result
    is exactly the lecture's Conv -> (BN) -> ReLU -> MaxPool, values and gradients bit for bit, because
    ReLU is monotone: :math:`\max_i \max(a_i, 0) = \max(\max_i a_i, 0)`. The ReLU then touches 4x fewer
    activations (measured: ~6 % of a CPU training step saved).
    """

    def __init__(
        self,
        kernel_size: int = 3,
        channels: Sequence[int] = (32, 64, 128),
        hidden: int = 128,
        dropout: float = 0.3,
        batch_norm: bool = False,
        n_classes: int = N_CLASSES,
        separable: bool = False,
    ) -> None:
        super().__init__()
        kernel_size = check_int("kernel_size", kernel_size, minimum=1)
        self.separable = check_bool("separable", separable)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size={kernel_size} must be odd for symmetric 'same' padding")
        self.kernel_size = kernel_size
        self.channels = _check_widths("channels", channels)
        hidden = check_int("hidden", hidden, minimum=1)
        blocks: list[nn.Module] = []
        c_in, size = 1, IMAGE_SIZE
        for i, c_out in enumerate(self.channels):
            if separable and i > 0:
                blocks.append(DepthwiseSeparableConv2d(c_in, c_out, kernel_size, padding=kernel_size // 2))
            else:
                blocks.append(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2))
            if batch_norm:
                blocks.append(nn.BatchNorm2d(c_out))
            blocks += [nn.MaxPool2d(2), nn.ReLU()]  # = ReLU -> MaxPool (see the class docstring)
            c_in, size = c_out, size // 2
        if size < 1:
            raise ValueError(
                f"channels={self.channels}: {len(self.channels)} pooling blocks shrink 28x28 to nothing"
            )
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (N, C, 3, 3) -> (N, C * 9)
            nn.Linear(c_in * size * size, hidden),
            nn.ReLU(),
            nn.Dropout(_check_dropout(dropout)),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # (N, 1, 28, 28) -> (N, n_classes)

    @property
    def first_conv(self) -> nn.Conv2d:
        first = self.features[0]
        assert isinstance(first, nn.Conv2d)
        return first


class LectureCNN(nn.Module):
    r"""The lecture's PyTorch CNN, layer for layer (825,162 parameters):

    ``features``: [Conv2d(3x3, padding 1) -> BatchNorm2d -> ReLU -> MaxPool2d(2)] x 2, channels
    1 -> 32 -> 64 (28 -> 14 -> 7); ``classifier``: Flatten (64*7*7 = 3136) -> Linear(3136, 256) ->
    BatchNorm1d(256) -> ReLU -> Dropout(0.4) -> Linear(256, 10).

    Batch norm and dropout behave differently in ``train()`` and ``eval()`` modes: in training, the
    normalisation uses each batch's statistics (and updates the running ones) and dropout zeroes 40 %
    of the hidden units (scaling the rest by 1/0.6); in evaluation, both are fixed maps, so an image's
    logits do not depend on the rest of the batch. Training mode needs batches of at least 2 images
    (BatchNorm1d has one value per feature and image). The lecture's training recipe is
    :data:`course_lib.fashion.train.LECTURE_CONFIG`.
    """

    def __init__(self, hidden: int = 256, dropout: float = 0.4, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        hidden = check_int("hidden", hidden, minimum=1)
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),  # (N, 32, 28, 28)
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1),  # (N, 64, 14, 14)
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 64, 7, 7)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (N, 64, 7, 7) -> (N, 3136)
            nn.Linear(64 * 7 * 7, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(_check_dropout(dropout)),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # (N, 1, 28, 28) -> (N, n_classes)


class TwoBlockCNN(nn.Module):
    r"""The second course's Keras baseline CNN (421,642 parameters): Conv2D(32, 3x3, 'same', ReLU) ->
    MaxPool(2) -> Conv2D(64, 3x3, 'same', ReLU) -> MaxPool(2) -> Flatten (3136) -> Dense(128, ReLU) ->
    Dense(10). Keras' softmax output layer is the cross-entropy loss here (the model returns logits).
    No batch norm, no dropout."""

    def __init__(self, hidden: int = 128, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        hidden = check_int("hidden", hidden, minimum=1)
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),  # (N, 32, 28, 28): Keras 'same' for 3x3 pads 1 per side
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1),  # (N, 64, 14, 14)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 64, 7, 7)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (N, 3136)
            nn.Linear(64 * 7 * 7, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # (N, 1, 28, 28) -> (N, n_classes)


class DenseBaseline(nn.Module):
    """The two-block CNN's fully connected baseline (235,146 parameters): Flatten (784) -> Dense(256, ReLU)
    -> Dense(128, ReLU) -> Dense(10). Unlike :class:`BaselineMLP` it has no dropout."""

    def __init__(self, hidden: Sequence[int] = (256, 128), n_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.hidden = _check_widths("hidden", hidden)
        layers: list[nn.Module] = [nn.Flatten()]  # (N, 784)
        width = IMAGE_SIZE * IMAGE_SIZE
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (N, 1, 28, 28) -> (N, n_classes)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters: the sum of ``p.numel()`` over ``model.parameters()``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def first_layer_parameters(model: nn.Module) -> int:
    """Parameters of the first layer that has any (the first conv of a CNN, first linear of an MLP)."""
    for module in model.modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if own:
            return own
    return 0


@dataclass(frozen=True)
class LayerRow:
    """One line of :func:`layer_summary`."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int


def layer_summary(
    model: nn.Module, input_shape: tuple[int, ...] = (1, 1, IMAGE_SIZE, IMAGE_SIZE)
) -> list[LayerRow]:
    """Every leaf module in forward order with its output shape (batch included) and own parameters."""
    rows: list[LayerRow] = []
    hooks = []
    for name, module in model.named_modules():
        if len(list(module.children())) == 0:

            def hook(mod: nn.Module, _inp: object, out: torch.Tensor, name: str = name) -> None:
                own = sum(p.numel() for p in mod.parameters(recurse=False))
                rows.append(LayerRow(name, type(mod).__name__, tuple(out.shape), own))

            hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            device = next(model.parameters()).device
            model(torch.zeros(input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return rows


def format_summary(rows: Sequence[LayerRow]) -> str:
    """A Keras-style text table of :func:`layer_summary` rows with the total."""
    name_w = max([16, *(len(r.name) + 2 for r in rows)])  # (nested names such as features.3.depthwise)
    kind_w = max([12, *(len(r.kind) + 1 for r in rows)])
    width = name_w + kind_w + 32
    lines = [f"{'layer':<{name_w}}{'type':<{kind_w}}{'output shape':<22}{'params':>10}", "-" * width]
    for r in rows:
        lines.append(f"{r.name:<{name_w}}{r.kind:<{kind_w}}{r.output_shape!s:<22}{r.params:>10,}")
    lines += ["-" * width, f"{'total':<{width - 10}}{sum(r.params for r in rows):>10,}"]
    return "\n".join(lines)


def forward_flops(model: nn.Module, input_shape: tuple[int, ...] = (1, 1, IMAGE_SIZE, IMAGE_SIZE)) -> int:
    r"""Multiply-add FLOPs (2 per MAC) of one forward pass, counting convolutions and linear layers only.

    Conv: :math:`2 K_h K_w (C_{in} / g) C_{out} H_{out} W_{out}` per image; linear: :math:`2 D_{in} D_{out}`;
    times the batch size of ``input_shape``. Bias adds, ReLU, pooling and batch norm are O(activations)
    and left out. A training step costs about 3x this (forward, input gradient, weight gradient).
    """
    total = 0
    hooks = []

    def hook(mod: nn.Module, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            n, c_out, h_out, w_out = out.shape  # (N, C_out, H_out, W_out)
            total += 2 * kh * kw * (mod.in_channels // mod.groups) * c_out * h_out * w_out * n
        elif isinstance(mod, nn.Linear):
            total += 2 * mod.in_features * mod.out_features * out.shape[0]

    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(input_shape, device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total
