"""Adversarial examples: small input perturbations, chosen by gradient, that change a prediction.

Both attacks here are untargeted and bounded in the L-infinity norm: every input value may move by
at most ``eps``, and the perturbed input stays in the valid range ``clamp`` (``[0, 1]`` for images
scaled that way). Each step moves every value by the sign of the loss's gradient with respect to
the input, the direction that raises a linear approximation of the loss most within the box.

* :func:`fgsm`, the fast gradient sign method (Goodfellow, Shlens & Szegedy, ICLR 2015): one step
  of size ``eps``.
* :func:`pgd`, projected gradient descent (Madry et al., ICLR 2018; here it ascends the loss): a
  random start (uniform noise in the box, clipped to the valid range), then several smaller sign
  steps, each followed by a projection back into the box and the valid range.

:func:`robust_accuracy` measures a classifier's accuracy on the adversarial versions of a data
set, batch by batch. The attacks run the model in eval mode (dropout off, batch-norm running
statistics) and restore its modes afterwards; they leave its parameters and their ``.grad``
untouched, so they can be called inside a training loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqnets.utils import (
    check_bool,
    check_module,
    check_number,
    check_positive_int,
    check_tensor,
    training_mode,
)

__all__ = ["fgsm", "pgd", "robust_accuracy"]

LossFn = Callable[[torch.Tensor, Any], torch.Tensor]


def _check_attack(
    model: Any, x: Any, y: Any, eps: Any, loss_fn: Any, clamp: Any
) -> tuple[float, tuple[float, float] | None]:
    """Validate the arguments both attacks share; return ``eps`` and ``clamp`` as floats."""
    check_module(model)
    check_tensor(x, "x", floating=True)
    if x.dim() == 0:
        raise ValueError("x: expected a batch (first dimension: samples), got a 0-D tensor")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x: expected finite values, got NaN or infinity")
    check_tensor(y, "y")
    if y.dim() == 0 or y.shape[0] != x.shape[0]:
        want = f"one target per input, first dimension {x.shape[0]}"
        raise ValueError(f"y: expected {want}, got shape {tuple(y.shape)}")
    eps = check_number(eps, "eps", low=0)
    if not callable(loss_fn):
        what = type(loss_fn).__name__
        raise TypeError(f"loss_fn: expected a callable loss_fn(outputs, targets), got {what}")
    if clamp is None:
        return eps, None
    if not isinstance(clamp, (tuple, list)) or len(clamp) != 2:
        raise TypeError(f"clamp: expected a pair (low, high) or None, got {clamp!r}")
    low, high = check_number(clamp[0], "clamp[0]"), check_number(clamp[1], "clamp[1]")
    if low >= high:
        raise ValueError(f"clamp: expected low < high, got ({low:g}, {high:g})")
    if x.numel() and (x.min() < low or x.max() > high):
        got = f"{x.min().item():g}..{x.max().item():g}"
        raise ValueError(
            f"x: expected values in clamp=({low:g}, {high:g}), got {got}; "
            "scale the inputs or pass the range they live in"
        )
    return eps, (low, high)


def _input_gradient(model: nn.Module, x: torch.Tensor, y: Any, loss_fn: LossFn) -> torch.Tensor:
    """Gradient of ``loss_fn(model(x), y)`` with respect to ``x``; no parameter's grad changes."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():  # also when called under torch.no_grad()
        loss = loss_fn(model(x), y)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError("loss_fn: expected a scalar tensor (reduce the batch with a mean or a sum)")
    grad = torch.autograd.grad(loss, x, allow_unused=True)[0] if loss.requires_grad else None
    if grad is None:
        raise ValueError(
            "model: expected outputs that depend on x through differentiable operations, got a "
            "loss with no gradient with respect to x (detached, constant or integer outputs?)"
        )
    return grad


def _project(
    x_adv: torch.Tensor,
    x: torch.Tensor,
    eps: float,
    clamp: tuple[float, float] | None,
) -> torch.Tensor:
    """The point of the box ``|x_adv - x| <= eps`` (within ``clamp``) nearest to ``x_adv``."""
    x_adv = torch.minimum(torch.maximum(x_adv, x - eps), x + eps)
    return x_adv if clamp is None else x_adv.clamp(*clamp)


def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: Any,
    eps: float,
    *,
    loss_fn: LossFn = F.cross_entropy,
    clamp: tuple[float, float] | None = (0.0, 1.0),
) -> torch.Tensor:
    """Fast gradient sign method: ``clamp(x + eps * sign(grad_x loss(model(x), y)))``.

    One step that maximises the first-order (linear) approximation of the loss over the
    L-infinity ball of radius ``eps`` around ``x`` (Goodfellow et al., 2015).

    Parameters
    ----------
    model : nn.Module
        Run in eval mode during the attack; its modes, parameters and ``.grad`` are left as found.
    x : torch.Tensor
        Floating-point inputs, shape ``(B, ...)``, within ``clamp``.
    y : torch.Tensor
        Targets, first dimension ``B`` (class indices ``(B,)`` for the default loss).
    eps : float
        Largest change of any input value, ``>= 0``, in the units of ``x``.
    loss_fn : callable
        ``loss_fn(outputs, y) -> scalar tensor``; the attack raises it. Default: cross-entropy.
    clamp : (float, float) or None
        Valid range of the inputs; the result is clipped to it. ``None``: no range.

    Returns
    -------
    torch.Tensor
        Adversarial inputs, detached, same shape, dtype and device as ``x``; ``|x_adv - x| <= eps``.
        ``x`` itself is not modified.

    Raises
    ------
    TypeError
        If ``model`` is not a module, ``x`` not a floating-point tensor, ``loss_fn`` not callable
        or its value not a scalar tensor, or ``clamp`` not a pair.
    ValueError
        If ``x`` is 0-D or holds NaN or infinity or values outside ``clamp``, ``y`` does not have
        one target per input, ``eps < 0``, ``clamp`` is not increasing, or the loss does not
        depend on ``x`` (a model whose output is detached from its input cannot be attacked).

    Examples
    --------
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    >>> x, y = torch.rand(5, 2, 2), torch.tensor([0, 1, 2, 0, 1])
    >>> x_adv = fgsm(model, x, y, eps=0.1)
    >>> bool((x_adv - x).abs().max() <= 0.1 + 1e-6)
    True
    """
    eps, box = _check_attack(model, x, y, eps, loss_fn, clamp)
    with training_mode(model, False):
        grad = _input_gradient(model, x, y, loss_fn)
    return _project(x.detach() + eps * grad.sign(), x.detach(), eps, box)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: Any,
    eps: float,
    *,
    step_size: float | None = None,
    steps: int = 10,
    random_start: bool = True,
    generator: torch.Generator | None = None,
    loss_fn: LossFn = F.cross_entropy,
    clamp: tuple[float, float] | None = (0.0, 1.0),
) -> torch.Tensor:
    """Projected gradient ascent on the loss in the L-infinity ball (Madry et al., 2018).

    Start at ``x`` plus noise drawn uniformly from ``[-eps, eps]`` for every value, clipped to
    ``clamp`` (or start at ``x``), then ``steps`` times::

        x_adv = project(x_adv + step_size * sign(grad_x loss(model(x_adv), y)))

    where ``project`` clips to ``[x - eps, x + eps]`` and to ``clamp``. More steps search the ball
    more thoroughly than :func:`fgsm`'s single step; the random start avoids beginning exactly
    where a model's gradient may be uninformative.

    Parameters
    ----------
    model, x, y, eps, loss_fn, clamp
        As for :func:`fgsm`.
    step_size : float, optional
        Change per step, ``> 0``. Default ``2.5 * eps / steps``, enough to cross the ball from one
        side to the other along the way.
    steps : int
        Number of gradient steps, ``>= 1``.
    random_start : bool
        Begin at ``x`` plus uniform noise in ``[-eps, eps]``, clipped to ``clamp``, instead of at
        ``x``. The clipping is not uniform on the part of the ball within ``clamp``: every value
        within ``eps`` of an end of the range starts on that end with a probability of up to one
        half (a value at 0, like most pixels of a digit, starts at 0 half the time).
    generator : torch.Generator, optional
        Source of the random start, on the device of ``x``; ``None`` uses torch's global generator.

    Returns
    -------
    torch.Tensor
        Adversarial inputs, detached, same shape, dtype and device as ``x``; ``|x_adv - x| <= eps``.
        ``x`` itself is not modified.

    Raises
    ------
    TypeError, ValueError
        As for :func:`fgsm`, and for ``steps``, ``step_size``, ``random_start`` or ``generator``
        of the wrong type or range.
    """
    eps, box = _check_attack(model, x, y, eps, loss_fn, clamp)
    steps = check_positive_int(steps, "steps")
    if step_size is None:
        step_size = 2.5 * eps / steps
    else:
        step_size = check_number(step_size, "step_size", low=0, low_open=True)
    check_bool(random_start, "random_start")
    if generator is not None and not isinstance(generator, torch.Generator):
        what = type(generator).__name__
        raise TypeError(f"generator: expected a torch.Generator or None, got {what}")
    x = x.detach()
    x_adv = x
    if random_start:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x_adv = _project(x + eps * (2 * noise - 1), x, eps, box)
    with training_mode(model, False):
        for _ in range(steps):
            grad = _input_gradient(model, x_adv, y, loss_fn)
            x_adv = _project(x_adv + step_size * grad.sign(), x, eps, box)
    return x_adv


def robust_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: Callable[..., torch.Tensor] = fgsm,
    *,
    batch_size: int = 256,
    **attack_kwargs: Any,
) -> float:
    """Accuracy of a classifier on ``attack(model, xb, yb, **attack_kwargs)``, batch by batch.

    Parameters
    ----------
    model : nn.Module
        Returns logits ``(B, num_classes)``; predictions are made in eval mode.
    x : torch.Tensor
        Inputs ``(N, ...)``.
    y : torch.Tensor
        Class indices ``(N,)``.
    attack : callable
        :func:`fgsm`, :func:`pgd`, or any function with their signature.
    batch_size : int
        Samples attacked at a time.
    **attack_kwargs
        Passed to ``attack``; ``eps`` at least. With :func:`fgsm` and ``eps=0``: clean accuracy.

    Returns
    -------
    float
        Fraction of the ``N`` adversarial inputs classified as ``y``.

    Examples
    --------
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    >>> x, y = torch.rand(6, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    >>> clean = (model(x).argmax(dim=1) == y).sum().item() / len(y)
    >>> robust_accuracy(model, x, y, fgsm, eps=0.0) == clean
    True
    """
    check_module(model)
    check_tensor(x, "x", floating=True)
    check_tensor(y, "y", ndim=1)
    if x.dim() == 0 or x.shape[0] != y.shape[0] or y.shape[0] == 0:
        shapes = f"{tuple(x.shape)} and {tuple(y.shape)}"
        raise ValueError(f"x, y: expected the same number of samples, at least 1, got {shapes}")
    batch_size = check_positive_int(batch_size, "batch_size")
    if not callable(attack):
        what = type(attack).__name__
        raise TypeError(f"attack: expected a callable attack(model, x, y, **kwargs), got {what}")
    correct = 0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        x_adv = attack(model, xb, yb, **attack_kwargs)
        with training_mode(model, False), torch.no_grad():
            correct += int((model(x_adv).argmax(dim=1) == yb).sum())
    return correct / len(x)
