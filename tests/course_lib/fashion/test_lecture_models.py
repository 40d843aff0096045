"""The lecture's CNN, the two-block CNN and its dense baseline, and the separable kernel-study CNN:
parameter counts pinned to architectures built here from torch layers, shapes, FLOPs, and the
train/eval behaviour of batch norm and dropout."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from course_lib.arithmetic import (
    conv2d_macs,
    conv2d_params,
    depthwise_separable_macs,
    depthwise_separable_params,
    linear_params,
)
from course_lib.fashion.models import (
    DenseBaseline,
    FashionCNN,
    LectureCNN,
    TwoBlockCNN,
    count_parameters,
    forward_flops,
    layer_summary,
)


def spec_lecture() -> nn.Sequential:
    """The lecture's network written out from its description, independently of models.py."""
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3136, 256),
        nn.BatchNorm1d(256),
        nn.ReLU(),
        nn.Dropout(0.4),
        nn.Linear(256, 10),
    )


def spec_two_block() -> nn.Sequential:
    """Keras: Conv2D(32, (3,3), 'same', relu), MaxPooling2D, Conv2D(64, ...), MaxPooling2D, Flatten,
    Dense(128, relu), Dense(10)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding="same"),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding="same"),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3136, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def spec_dense() -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)
    )


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("ours", "spec", "by_formula", "expected"),
    [
        (
            LectureCNN,
            spec_lecture,
            conv2d_params(1, 32, 3)
            + 2 * 32
            + conv2d_params(32, 64, 3)
            + 2 * 64
            + linear_params(64 * 7 * 7, 256)
            + 2 * 256
            + linear_params(256, 10),
            825_162,
        ),
        (
            TwoBlockCNN,
            spec_two_block,
            conv2d_params(1, 32, 3)
            + conv2d_params(32, 64, 3)
            + linear_params(3136, 128)
            + linear_params(128, 10),
            421_642,
        ),
        (
            DenseBaseline,
            spec_dense,
            linear_params(784, 256) + linear_params(256, 128) + linear_params(128, 10),
            235_146,
        ),
    ],
    ids=["lecture", "two_block", "dense"],
)
def test_models_are_the_described_architectures(
    ours: type[nn.Module], spec: type[nn.Module], by_formula: int, expected: int
) -> None:
    """Same parameter count as the network built from the description (and the formula, and the
    literal); same parameter shapes in the same order; and with the spec's weights copied over, the same
    logits in both modes: the layers and their order are the described ones."""
    torch.manual_seed(0)
    model, reference = ours(), spec()
    assert count_parameters(model) == n_params(reference) == by_formula == expected
    assert [p.shape for p in model.parameters()] == [p.shape for p in reference.parameters()]
    with torch.no_grad():
        for p, q in zip(model.parameters(), reference.parameters(), strict=True):
            p.copy_(q)
    x = torch.randn(4, 1, 28, 28)
    for mode in ("train", "eval"):
        getattr(model, mode)()
        getattr(reference, mode)()
        torch.manual_seed(1)  # the same dropout mask for both
        ours_out = model(x)
        torch.manual_seed(1)
        torch.testing.assert_close(ours_out, reference(x), rtol=0, atol=0)


def test_lecture_table_and_its_typo() -> None:
    """The per-layer table: the Linear(3136 -> 256) row is 3136*256 + 256 = 803,072, not the lecture's
    printed 802,048 (which is 1,024 = 4*256 short)."""
    rows = layer_summary(LectureCNN())
    assert [r.kind for r in rows] == [type(m).__name__ for m in spec_lecture()]
    linear = [r for r in rows if r.kind == "Linear"]
    assert linear[0].params == 3136 * 256 + 256 == 803_072 != 802_048
    assert [r.params for r in rows if r.params] == [320, 64, 18_496, 128, 803_072, 512, 2_570]
    assert rows[8].output_shape == (1, 3136)
    assert sum(r.params for r in rows) == 825_162


@pytest.mark.parametrize("kernel_size", [3, 5, 7])
def test_separable_cnn_counts_and_flops(kernel_size: int) -> None:
    """Blocks 2 and 3 depthwise separable, block 1 standard: counts from course_lib.arithmetic, and
    forward FLOPs (torch hooks) = 2 x the multiply-adds of course_lib.arithmetic."""
    k = kernel_size
    model = FashionCNN(k, separable=True)
    dense = linear_params(128 * 3 * 3, 128) + linear_params(128, 10)
    expected = (
        conv2d_params(1, 32, k)
        + depthwise_separable_params(32, 64, k)
        + depthwise_separable_params(64, 128, k)
    )
    assert count_parameters(model) == expected + dense == 128 * k * k + 159_434
    assert count_parameters(model) < count_parameters(FashionCNN(k))
    macs = (
        conv2d_macs(1, 32, k, 28)
        + depthwise_separable_macs(32, 64, k, 14)
        + depthwise_separable_macs(64, 128, k, 7)
        + 1152 * 128
        + 128 * 10
    )
    assert forward_flops(model) == 2 * macs
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    depthwise = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert [(m.in_channels, m.groups, m.kernel_size) for m in depthwise] == [
        (32, 32, (k, k)),
        (64, 64, (k, k)),
    ]
    assert model.first_conv.groups == 1


def test_separable_cnn_3x3_count() -> None:
    assert count_parameters(FashionCNN(3, separable=True)) == 160_586


# ------------------------------------------------------------------------ train / eval behaviour


def test_lecture_cnn_eval_mode_is_per_image_and_deterministic() -> None:
    """eval(): batch norm uses the running statistics and dropout is off, so an image's logits do not
    depend on the batch, repeated calls agree, and the running statistics stay put."""
    torch.manual_seed(0)
    model = LectureCNN().eval()
    x = torch.randn(6, 1, 28, 28)
    buffers = [b.clone() for b in model.buffers()]
    with torch.no_grad():
        batch = model(x)
        torch.testing.assert_close(model(x[:1]), batch[:1])
        torch.testing.assert_close(model(x), batch, rtol=0, atol=0)
    assert all(torch.equal(a, b) for a, b in zip(buffers, model.buffers(), strict=True))


def test_lecture_cnn_train_mode_uses_the_batch_and_dropout() -> None:
    """train(): with the same dropout mask, changing the OTHER images changes image 0's logits (batch
    statistics); with the same batch, a different mask changes them (dropout); every forward pass moves
    the running statistics by momentum 0.1 towards the batch's."""
    torch.manual_seed(0)
    model = LectureCNN().train()
    x = torch.randn(6, 1, 28, 28)
    other = x.clone()
    other[1:] = torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        torch.manual_seed(1)
        a = model(x)
        torch.manual_seed(1)
        b = model(other)
        torch.manual_seed(2)
        c = model(x)
    assert not torch.allclose(a[0], b[0])
    assert not torch.allclose(a[0], c[0])
    bn1 = model.features[1]
    assert isinstance(bn1, nn.BatchNorm2d) and int(bn1.num_batches_tracked) == 3
    dropout = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert [m.p for m in dropout] == [0.4]


def test_lecture_cnn_running_mean_follows_torch_momentum() -> None:
    """After one training forward pass from zeros, BN1's running mean is 0.1 x the batch mean of the
    first convolution's output per channel (torch's momentum definition)."""
    torch.manual_seed(0)
    model = LectureCNN().train()
    x = torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        conv_out = model.features[0](x)
        model(x)
    bn1 = model.features[1]
    assert isinstance(bn1, nn.BatchNorm2d) and bn1.running_mean is not None
    torch.testing.assert_close(bn1.running_mean, 0.1 * conv_out.mean(dim=(0, 2, 3)))


def test_two_block_and_dense_have_no_mode_dependent_layers() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 1, 28, 28)
    for model in (TwoBlockCNN(), DenseBaseline()):
        with torch.no_grad():
            train_out = model.train()(x)
            torch.testing.assert_close(model.eval()(x), train_out, rtol=0, atol=0)


def test_lecture_cnn_in_training_needs_two_images() -> None:
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        LectureCNN().train()(torch.zeros(1, 1, 28, 28))


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: LectureCNN(dropout=1.0), ValueError, r"dropout=1.0 must be in \[0, 1\)"),
        (lambda: LectureCNN(hidden=0), ValueError, "hidden=0 must be >= 1"),
        (lambda: TwoBlockCNN(hidden=True), TypeError, "hidden must be an int"),
        (lambda: DenseBaseline(hidden=()), ValueError, "at least one width"),
        (lambda: FashionCNN(3, separable=1), TypeError, "separable must be a bool"),
    ],
)
def test_models_reject_bad_arguments(make: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()  # type: ignore[operator]


def test_parameter_count_grows_like_the_formula_with_hidden_width() -> None:
    """LectureCNN(hidden=h): 19,008 (convs + BN2d) + 3137 h + 2 h + 10 h + 10 = 19,018 + 3149 h."""
    for h in (1, 16, 256):
        assert count_parameters(LectureCNN(hidden=h)) == 19_018 + 3_149 * h
    for h1, h2 in itertools.product((8, 256), (4, 128)):
        assert count_parameters(DenseBaseline((h1, h2))) == 785 * h1 + (h1 + 1) * h2 + (h2 + 1) * 10
