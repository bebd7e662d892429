"""Linear recurrences, computed three ways: a loop, a parallel scan and a convolution by FFT.

The first-order linear recurrence

.. math::

    h_t = a_t \\odot h_{t-1} + b_t, \\qquad t = 0, \\dots, T - 1, \\qquad h_{-1} = h_0^{\\text{init}},

is the state update of linear RNNs and of diagonal state-space models (S4D, S5, LRU, Mamba).
Indices here are Python's, from 0, so that ``h[:, t]`` is :math:`h_t` and ``h0`` is the state before
the first step; chapter 9 of the book counts steps from 1 and calls that state :math:`h_0`.
Unrolled, it reads

.. math::

    h_t = \\sum_{s=0}^{t} \\Big(\\prod_{r=s+1}^{t} a_r\\Big) b_s + \\Big(\\prod_{r=0}^{t} a_r\\Big) h_{-1},

and when :math:`a_t = a` does not depend on time the products are powers, so
:math:`h_t = \\sum_{k=0}^{t} a^k b_{t-k} + a^{t+1} h_{-1}`: a causal convolution of :math:`b`
with the kernel :math:`(1, a, a^2, \\dots)`. :func:`linear_recurrence` computes it with

``"loop"``
    the recurrence itself, one step after the other: :math:`T` sequential steps.
``"scan"``
    a parallel prefix scan (Blelloch 1990; Martin & Cundy 2018). The pairs :math:`(a_t, b_t)`
    compose associatively, :math:`(a, b) \\bullet (a', b') = (a' a, a' b + b')`, so the prefix
    compositions can be computed in :math:`O(\\log T)` rounds of whole-tensor operations.
``"fft"``
    the convolution with :math:`a^k`, evaluated with the fast Fourier transform in
    :math:`O(T \\log T)`. Only for a time-invariant :math:`a`.

All three accept real or complex tensors and are differentiable with autograd.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["METHODS", "linear_recurrence"]

#: Names accepted by the ``method`` argument of :func:`linear_recurrence`.
METHODS = ("loop", "scan", "fft")


def _check_numeric(x: Any, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not (x.is_floating_point() or x.is_complex()):
        raise TypeError(f"{name}: expected a floating-point or complex tensor, got dtype {x.dtype}")
    return x


def _check_inputs(a: Any, b: Any, h0: Any, method: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    b = _check_numeric(b, "b")
    if b.dim() != 3:
        raise ValueError(f"b: expected a 3-D tensor (batch, time, features), got shape {tuple(b.shape)}")
    batch, steps, features = b.shape
    a = _check_numeric(a, "a")
    if a.dim() == 1:
        a = a.reshape(1, 1, -1)  # (1, 1, D) or (1, 1, 1)
    expected = f"(batch, time, features) = {tuple(b.shape)}, with 1 allowed in any position, or ({features},)"
    if a.dim() != 3 or any(sa not in (1, sb) for sa, sb in zip(a.shape, b.shape, strict=True)):
        raise ValueError(f"a: expected a tensor broadcastable to b's shape {expected}, got shape {tuple(a.shape)}")
    if h0 is not None:
        h0 = _check_numeric(h0, "h0")
        if tuple(h0.shape) != (batch, features):
            raise ValueError(f"h0: expected shape (batch, features) = {(batch, features)}, got {tuple(h0.shape)}")
    if method == "fft" and a.shape[1] != 1 and steps > 1:
        raise ValueError(
            f"a: method 'fft' needs a time-invariant a of shape ({features},) or (batch or 1, 1, {features}), "
            f"got shape {tuple(a.shape)}; use method='scan' for a time-varying a"
        )
    dtype = torch.result_type(a, b) if h0 is None else torch.promote_types(torch.result_type(a, b), h0.dtype)
    return a.to(dtype), b.to(dtype), None if h0 is None else h0.to(dtype)


def _loop(a: torch.Tensor, b: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``T`` sequential steps of ``h = a[t] * h + b[t]``."""
    steps = b.shape[1]
    a_steps = a.unbind(1) if a.shape[1] > 1 else (a[:, 0],) * steps  # T views of (B or 1, D)
    out = []
    for a_t, b_t in zip(a_steps, b.unbind(1), strict=True):
        h = torch.addcmul(b_t, a_t, h)  # a_t * h + b_t: (B, D)
        out.append(h)
    return torch.stack(out, dim=1)  # (B, T, D)


def _add_product(c: torch.Tensor, x: torch.Tensor, y: torch.Tensor, exact_zero: bool) -> torch.Tensor:
    """``c + x * y``; with ``exact_zero`` the product is 0 wherever ``y == 0``, even if ``x`` is inf."""
    if not exact_zero:
        return torch.addcmul(c, x, y)  # one fused operation
    product = x * y
    return c + torch.where(y == 0, torch.zeros_like(product), product)


def _scan(a: torch.Tensor, b: torch.Tensor, exact_zero: bool = False) -> torch.Tensor:
    """All prefixes of ``h_t = a_t h_{t-1} + b_t`` from ``h_{-1} = 0``, by odd-even recursion.

    Pair the steps ``(0, 1), (2, 3), ...``: step ``2i`` followed by step ``2i + 1`` is one step
    with ``a' = a_{2i+1} a_{2i}`` and ``b' = a_{2i+1} b_{2i} + b_{2i+1}``, and the prefixes of
    these pairs are the odd-indexed ``h``. Solve that half-length problem recursively, then fill
    in every even index in one vectorised step, ``h_{2i} = a_{2i} h_{2i-1} + b_{2i}``. Each level
    halves the length, so there are ``ceil(log2 T)`` levels down and as many back up, and the
    total work is ``O(T)`` (Blelloch's work-efficient scan; Hillis and Steele's does
    ``O(T log T)``). A time-invariant ``a`` of shape ``(B or 1, 1, D)`` stays one row at every
    level, where it stands for ``a^(2^level)``.

    With ``|a| > 1`` those products of ``a`` can overflow to inf where every ``h`` is finite (a
    zero input ``b`` in front of them); ``exact_zero`` then keeps ``inf * 0`` at 0, not NaN.
    """
    steps = b.shape[1]
    if steps == 1:
        return b
    pairs, evens = steps // 2, (steps + 1) // 2
    invariant = a.shape[1] == 1
    a_even, a_odd = (a, a) if invariant else (a[:, 0::2], a[:, 1::2])  # (B, evens, D), (B, pairs, D)
    b_even, b_odd = b[:, 0::2], b[:, 1::2]
    a_pair = a_odd * (a_even if invariant else a_even[:, :pairs])
    b_pair = _add_product(b_odd, a_odd, b_even[:, :pairs], exact_zero)
    h_odd = _scan(a_pair, b_pair, exact_zero)  # h at t = 1, 3, 5, ...: (B, pairs, D)
    h = torch.empty_like(b)  # (B, T, D), every entry written below
    h[:, 1::2] = h_odd
    h[:, 0] = b[:, 0]
    h[:, 2::2] = _add_product(b_even[:, 1:], a_even if invariant else a_even[:, 1:], h_odd[:, : evens - 1], exact_zero)
    return h


def _powers(a: torch.Tensor, count: int) -> torch.Tensor:
    """``a^0, a^1, ..., a^(count-1)`` along dim 1, by doubling: ``ceil(log2 count)`` products.

    Doubling (``[K, K * a^n]``) is as accurate as binary exponentiation and, unlike ``torch.pow``,
    has a finite gradient at ``a = 0``.
    """
    kernel = torch.ones_like(a)  # (B or 1, 1, D): a^0
    power = a  # a^(length of kernel)
    while kernel.shape[1] < count:
        kernel = torch.cat([kernel, kernel * power], dim=1)
        power = power * power
    return kernel[:, :count]


def _fft(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """Causal convolution of ``b`` with ``(1, a, a^2, ...)`` through the FFT, zero-padded to ``2T``."""
    steps = b.shape[1]
    kernel = _powers(a, steps + 1)  # (B or 1, T + 1, D): a^0 .. a^T
    n = 2 * steps  # linear (not circular) convolution of two length-T signals needs >= 2T - 1 points
    signal, taps = b.transpose(1, 2), kernel[:, :steps].transpose(1, 2)  # time last: (B, D, T)
    if b.is_complex():
        h = torch.fft.ifft(torch.fft.fft(signal, n=n) * torch.fft.fft(taps, n=n))
    else:
        h = torch.fft.irfft(torch.fft.rfft(signal, n=n) * torch.fft.rfft(taps, n=n), n=n)
    h = h[..., :steps].transpose(1, 2)  # (B, T, D)
    if h0 is not None:
        h = h + kernel[:, 1:] * h0[:, None, :]  # a^(t+1) h_{-1}
    return h


def linear_recurrence(
    a: torch.Tensor,
    b: torch.Tensor,
    h0: torch.Tensor | None = None,
    method: str = "loop",
) -> torch.Tensor:
    """Compute ``h[:, t] = a[:, t] * h[:, t-1] + b[:, t]`` for every ``t``, element-wise per feature.

    .. math::

        h_t = a_t \\odot h_{t-1} + b_t, \\qquad h_{-1} = h_0 \\ (\\text{zeros if } h_0 \\text{ is None}).

    Parameters
    ----------
    a : torch.Tensor
        The decay (the diagonal of the state matrix): ``(B, T, D)``, ``(1, T, D)``, or time-invariant
        ``(D,)``, ``(1, 1, D)`` or ``(B, 1, D)``; any size-1 dimension broadcasts.
    b : torch.Tensor
        The inputs, ``(B, T, D)``.
    h0 : torch.Tensor, optional
        The state before the first step, ``(B, D)``.
    method : {"loop", "scan", "fft"}
        ``"loop"``: ``T`` sequential steps. ``"scan"``: parallel prefix scan, ``O(log T)`` rounds
        of vectorised work, ``O(T)`` work in all. ``"fft"``: convolution with the kernel
        ``a^k`` by FFT; needs a time-invariant ``a``.

    Returns
    -------
    torch.Tensor
        ``h`` of shape ``(B, T, D)``, in the promoted dtype of the inputs (real or complex).

    Notes
    -----
    Numerical care: with ``|a| > 1`` the recurrence grows like ``|a|^T`` and no method is
    accurate for long. Where the loop stays finite, so does the scan: its products of ``a`` may
    overflow to inf, and it keeps ``inf * 0`` at 0 then (the gradient there is not meaningful). The FFT method also spreads its rounding error evenly over all steps
    (about float epsilon times the largest ``|h|``), so it needs ``|a| < 1`` (a stable filter), and
    when ``|a|`` is close to 1 its relative error on small values of ``h`` is larger than the
    loop's; the scan reassociates products and sums and agrees with the loop to rounding.

    Examples
    --------
    >>> a, b = torch.full((3,), 0.5), torch.ones(1, 4, 3)
    >>> linear_recurrence(a, b, method="scan")[0, :, 0]
    tensor([1.0000, 1.5000, 1.7500, 1.8750])
    """
    a, b, h0 = _check_inputs(a, b, h0, method)
    batch, steps, features = b.shape
    if steps == 0:
        return b.clone()
    if method == "loop":
        start = h0 if h0 is not None else b.new_zeros(batch, features)
        return _loop(a, b, start)
    if method == "scan":
        if h0 is not None:  # fold the initial state into the first input: b_0 + a_0 h_{-1}
            b = torch.cat([b[:, :1] + a[:, :1] * h0[:, None, :], b[:, 1:]], dim=1)
        # One host synchronisation decides whether products of a can overflow (|a| > 1).
        return _scan(a, b, exact_zero=bool((a.abs() > 1).any()))
    return _fft(a, b, h0)
