"""course_lib.fashion.models: exact parameter counts, shapes, and the summary checked against arithmetic."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from course_lib.arithmetic import conv2d_params, linear_params, output_size
from course_lib.fashion.models import (
    BaselineMLP,
    FashionCNN,
    count_parameters,
    first_layer_parameters,
    format_summary,
    forward_flops,
    layer_summary,
)


@pytest.mark.parametrize(("kernel_size", "expected"), [(3, 241_546), (5, 405_898), (7, 652_426)])
def test_cnn_parameter_counts(kernel_size: int, expected: int) -> None:
    model = FashionCNN(kernel_size)
    assert count_parameters(model) == expected
    by_formula = (
        conv2d_params(1, 32, kernel_size)
        + conv2d_params(32, 64, kernel_size)
        + conv2d_params(64, 128, kernel_size)
        + linear_params(128 * 3 * 3, 128)
        + linear_params(128, 10)
    )
    assert count_parameters(model) == by_formula


def test_seed_notebook_estimates_are_wrong() -> None:
    """The seed notebook claimed ~279,000 (3x3) and ~530,000 (5x5); both are off by >10 %."""
    assert abs(count_parameters(FashionCNN(3)) - 279_000) > 30_000
    assert abs(count_parameters(FashionCNN(5)) - 530_000) > 100_000


@pytest.mark.parametrize(("hidden", "expected"), [((128, 64), 109_386), ((256, 128), 235_146)])
def test_mlp_parameter_counts(hidden: tuple[int, int], expected: int) -> None:
    model = BaselineMLP(hidden)
    assert count_parameters(model) == expected
    widths = [784, *hidden, 10]
    assert expected == sum(linear_params(a, b) for a, b in itertools.pairwise(widths))


def test_batch_norm_adds_two_parameters_per_channel() -> None:
    plain, bn = FashionCNN(3), FashionCNN(3, batch_norm=True)
    assert count_parameters(bn) - count_parameters(plain) == 2 * (32 + 64 + 128)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in bn.modules()) == 3
    assert count_parameters(bn, trainable_only=False) == count_parameters(bn)  # buffers are not parameters
    for p in bn.parameters():
        p.requires_grad_(False)
    assert count_parameters(bn) == 0 and count_parameters(bn, trainable_only=False) > 0


@pytest.mark.parametrize("model", [BaselineMLP(), FashionCNN(3), FashionCNN(7, batch_norm=True)], ids=str)
def test_output_shape_is_batch_by_ten_logits(model: nn.Module) -> None:
    model.eval()
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)


@pytest.mark.parametrize("kernel_size", [3, 5, 7])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_layer_summary_agrees_with_arithmetic(kernel_size: int, batch_norm: bool) -> None:
    """Every conv/pool/linear row: output shape by output_size, parameters by conv2d/linear_params."""
    rows = layer_summary(FashionCNN(kernel_size, batch_norm=batch_norm))
    channels, size = 1, 28
    for row in rows:
        if row.kind == "Conv2d":
            c_out = row.output_shape[1]
            assert row.params == conv2d_params(channels, c_out, kernel_size)
            size = output_size(size, kernel_size, padding="same")
            channels = c_out
        elif row.kind == "MaxPool2d":
            size = output_size(size, 2, stride=2)
        elif row.kind == "Linear":
            assert row.params == linear_params(channels, row.output_shape[1])
            channels = row.output_shape[1]
        elif row.kind == "Flatten":
            channels = channels * size * size
            size = 0
        elif row.kind == "BatchNorm2d":
            assert row.params == 2 * channels
        else:
            assert row.params == 0
        if size:
            assert row.output_shape == (1, channels, size, size), row
        else:
            assert row.output_shape == (1, channels), row
    assert [r.output_shape[-1] for r in rows if r.kind == "MaxPool2d"] == [14, 7, 3]
    assert sum(r.params for r in rows) == count_parameters(FashionCNN(kernel_size, batch_norm=batch_norm))


def test_format_summary_shows_every_layer_and_the_total() -> None:
    rows = layer_summary(FashionCNN(5))
    text = format_summary(rows)
    assert text.count("\n") == len(rows) + 3
    assert text.rstrip().endswith("405,898")
    assert "(1, 128, 3, 3)" in text


def test_first_layer_parameters() -> None:
    assert first_layer_parameters(FashionCNN(5)) == conv2d_params(1, 32, 5)
    assert first_layer_parameters(BaselineMLP()) == linear_params(784, 128)
    assert FashionCNN(5).first_conv.weight.shape == (32, 1, 5, 5)


def test_summary_restores_training_mode() -> None:
    model = FashionCNN(3, batch_norm=True).train()
    layer_summary(model)
    assert model.training


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"kernel_size": 4}, ValueError, "kernel_size=4 must be odd"),
        ({"kernel_size": 0}, ValueError, "kernel_size=0 must be >= 1"),
        ({"kernel_size": True}, TypeError, "kernel_size must be an int"),
        ({"channels": ()}, ValueError, "channels=.* at least one"),
        ({"channels": (8, 8, 8, 8, 8)}, ValueError, "pooling blocks shrink 28x28"),
        ({"dropout": 1.0}, ValueError, r"dropout=1.0 must be in \[0, 1\)"),
        ({"hidden": 0}, ValueError, "hidden=0 must be >= 1"),
    ],
)
def test_cnn_rejects_bad_arguments(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        FashionCNN(**kwargs)  # type: ignore[arg-type]


def test_mlp_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"hidden\[1\]=0 must be >= 1"):
        BaselineMLP((128, 0))
    with pytest.raises(ValueError, match="dropout"):
        BaselineMLP(dropout=-0.1)


def test_forward_flops_by_hand() -> None:
    """3x3 CNN: 2 * (9*1*32*28^2 + 9*32*64*14^2 + 9*64*128*7^2 + 1152*128 + 128*10) per image."""
    per_image = 2 * (9 * 1 * 32 * 28**2 + 9 * 32 * 64 * 14**2 + 9 * 64 * 128 * 7**2 + 1152 * 128 + 128 * 10)
    assert forward_flops(FashionCNN(3)) == per_image
    assert forward_flops(FashionCNN(3, batch_norm=True), (4, 1, 28, 28)) == 4 * per_image
    assert forward_flops(BaselineMLP()) == 2 * (784 * 128 + 128 * 64 + 64 * 10)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_pool_before_relu_is_the_lecture_block_bit_for_bit(batch_norm: bool) -> None:
    """FashionCNN pools before its ReLU; the lecture's Conv -> (BN) -> ReLU -> MaxPool order, built from
    the very same layers, gives identical logits and identical gradients (ReLU is monotone)."""
    torch.manual_seed(0)
    model = FashionCNN(3, channels=(4, 6, 8), hidden=5, dropout=0.0, batch_norm=batch_norm)
    layers = list(model.features)
    lecture: list[nn.Module] = []
    for layer in layers:
        if isinstance(layer, nn.ReLU):
            lecture.insert(len(lecture) - 1, layer)  # move each ReLU in front of its pool
        else:
            lecture.append(layer)
    assert [type(m).__name__ for m in lecture[: 4 if batch_norm else 3]] == (
        ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"] if batch_norm else ["Conv2d", "ReLU", "MaxPool2d"]
    )
    reference = nn.Sequential(*lecture, model.classifier)
    x = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    x[0, 0, :4, :4] = -1.0  # whole pooling windows below zero, and ties
    model.double()
    grads = []
    for net in (model, reference):
        net.zero_grad()
        out = net(x)
        out.square().sum().backward()
        grads.append((out.detach().clone(), [p.grad.clone() for p in model.parameters()]))
    assert torch.equal(grads[0][0], grads[1][0])
    for ours, theirs in zip(grads[0][1], grads[1][1], strict=True):
        assert torch.equal(ours, theirs)
