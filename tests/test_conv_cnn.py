"""DigitCNN: the small LeNet-style image classifier in seqnets.models.conv."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqnets.models.conv import DigitCNN
from seqnets.utils import count_parameters


def test_shapes_and_parameter_count() -> None:
    torch.manual_seed(0)
    model = DigitCNN()
    assert model(torch.rand(5, 1, 8, 8)).shape == (5, 10)
    # conv 1->32 (3x3) + BN, conv 32->64 + BN, linear 64*2*2 -> 10
    expected = (32 * 9 + 32) + 2 * 32 + (64 * 32 * 9 + 64) + 2 * 64 + (256 * 10 + 10)
    assert count_parameters(model) == expected == 21_578


def test_features_shape_follows_stages() -> None:
    model = DigitCNN(num_classes=3, channels=(4, 8, 16), in_channels=3, image_size=16)
    assert model.features(torch.rand(2, 3, 16, 16)).shape == (2, 16, 2, 2)
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 3)


def test_batch_norm_off_has_no_norm_layers() -> None:
    model = DigitCNN(batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def test_eval_is_deterministic_and_per_sample() -> None:
    """In eval mode dropout is off and BN uses running statistics: a sample's logits do not depend
    on the rest of the batch."""
    torch.manual_seed(0)
    model = DigitCNN().eval()
    x = torch.rand(6, 1, 8, 8)
    torch.testing.assert_close(model(x)[:2], model(x[:2]))
    torch.testing.assert_close(model(x)[2:], model(x[2:]))
    # the check can fail: in train mode batch norm uses the batch's statistics (and dropout is on)
    model.train()
    assert not torch.allclose(model(x)[:2], model(x[:2]), atol=1e-4)


def test_learns_a_small_batch() -> None:
    """Overfit 40 real digits: the training loss must fall near zero."""
    from seqnets.data.images import digits

    x, y = digits()
    x, y = x[:40], y[:40]
    torch.manual_seed(0)
    model = DigitCNN(dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert loss.item() < 0.05 * first
    assert (model(x).argmax(1) == y).float().mean() == 1.0


def test_rejects_bad_input() -> None:
    model = DigitCNN()
    with pytest.raises(ValueError, match=r"x: expected a 4-D tensor, got shape \(2, 8, 8\)"):
        model(torch.rand(2, 8, 8))
    with pytest.raises(ValueError, match=r"x: expected 1 channels .* got shape \(2, 3, 8, 8\)"):
        model(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"x: expected images of 8 x 8 pixels .* got shape \(2, 1, 28, 28\)"):
        model(torch.rand(2, 1, 28, 28))
    with pytest.raises(TypeError, match="x: expected a floating-point tensor"):
        model(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="image_size: 3 stages halve it 3 times, so it must be divisible by 8; got 12"):
        DigitCNN(channels=(4, 4, 4), image_size=12)
    with pytest.raises(TypeError, match="channels: expected a non-empty sequence"):
        DigitCNN(channels=())
    with pytest.raises(ValueError, match="channels: expected an integer >= 1, got 0"):
        DigitCNN(channels=(8, 0))
    with pytest.raises(ValueError, match=r"dropout: expected a number in \[0, 1\), got 1.0"):
        DigitCNN(dropout=1.0)
    with pytest.raises(ValueError, match="num_classes"):
        DigitCNN(num_classes=0)
    with pytest.raises(TypeError, match="batch_norm: expected a bool"):
        DigitCNN(batch_norm="yes")
