"""Tests of seqnets.models.linear: the loop, the parallel scan and the FFT agree; gradients; errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqnets.models.linear import METHODS, linear_recurrence

FAST = settings(max_examples=40, deadline=None)

#: The shapes ``a`` may take, as functions of (B, T, D).
A_SHAPES = {
    "full": lambda B, T, D: (B, T, D),
    "shared over batch": lambda B, T, D: (1, T, D),
    "per batch, time-invariant": lambda B, T, D: (B, 1, D),
    "time-invariant (1, 1, D)": lambda B, T, D: (1, 1, D),
    "time-invariant (D,)": lambda B, T, D: (D,),
    "scalar (1,)": lambda B, T, D: (1,),
}


def reference(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """The recurrence in float64 with plain Python indexing, as a definition to test against."""
    B, T, D = b.shape
    a = a.reshape(1, 1, -1) if a.dim() == 1 else a
    a = a.to(torch.complex128 if a.is_complex() or b.is_complex() else torch.float64).expand(B, T, D)
    h = torch.zeros(B, D, dtype=a.dtype) if h0 is None else h0.to(a.dtype)
    out = torch.empty(B, T, D, dtype=a.dtype)
    for t in range(T):
        h = a[:, t] * h + b[:, t].to(a.dtype)
        out[:, t] = h
    return out


def random_problem(seed: int, B: int, T: int, D: int, a_shape: str, complex_: bool, with_h0: bool):
    g = torch.Generator().manual_seed(seed)
    shape = A_SHAPES[a_shape](B, T, D)
    # |a| <= 0.95: a stable recurrence, where float32 FFT convolution is accurate
    modulus = 0.95 * torch.rand(shape, generator=g)
    if complex_:
        a = torch.polar(modulus, 2 * torch.pi * torch.rand(shape, generator=g))
        b = torch.randn(B, T, D, dtype=torch.complex64, generator=g)
    else:
        sign = torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)
        a = modulus * sign
        b = torch.randn(B, T, D, generator=g)
    h0 = torch.randn(B, D, dtype=b.dtype, generator=g) if with_h0 else None
    return a, b, h0


@FAST
@given(
    seed=st.integers(0, 2**31 - 1),
    B=st.integers(1, 3),
    T=st.integers(1, 80),
    D=st.integers(1, 5),
    a_shape=st.sampled_from(sorted(A_SHAPES)),
    complex_=st.booleans(),
    with_h0=st.booleans(),
)
def test_three_methods_agree(seed, B, T, D, a_shape, complex_, with_h0):
    a, b, h0 = random_problem(seed, B, T, D, a_shape, complex_, with_h0)
    expected = reference(a, b, h0)
    invariant = a.dim() == 1 or a.shape[1] == 1
    for method in METHODS if invariant else ("loop", "scan"):
        h = linear_recurrence(a, b, h0, method=method)
        assert h.shape == (B, T, D) and h.dtype == b.dtype, method
        torch.testing.assert_close(h, expected.to(h.dtype), atol=1e-4, rtol=1e-4, msg=method)


def test_long_sequences_agree_in_float32():
    """T = 4096 with |a| up to 0.99: the regime the chapter times."""
    a, b, h0 = random_problem(0, 2, 4096, 8, "time-invariant (D,)", False, True)
    a = 0.99 * a / a.abs().max()
    loop = linear_recurrence(a, b, h0)
    for method in ("scan", "fft"):
        torch.testing.assert_close(linear_recurrence(a, b, h0, method=method), loop, atol=1e-4, rtol=1e-4)


def test_known_values_and_kernel():
    # impulse response of h_t = 0.5 h_{t-1} + b_t is the kernel 0.5^k
    b = torch.zeros(1, 6, 1)
    b[0, 0, 0] = 1.0
    for method in METHODS:
        h = linear_recurrence(torch.tensor([0.5]), b, method=method)
        torch.testing.assert_close(h[0, :, 0], 0.5 ** torch.arange(6.0))
    # the initial state decays as a^(t+1)
    h = linear_recurrence(torch.tensor([0.5]), torch.zeros(1, 3, 1), h0=torch.ones(1, 1), method="fft")
    torch.testing.assert_close(h[0, :, 0], torch.tensor([0.5, 0.25, 0.125]))


@pytest.mark.parametrize("a_shape", ["full", "time-invariant (D,)"])
def test_gradients_agree(a_shape):
    a, b, h0 = random_problem(1, 2, 37, 3, a_shape, False, True)
    a, b, h0 = a.double(), b.double(), h0.double()
    grads = {}
    for method in METHODS if a_shape != "full" else ("loop", "scan"):
        leaves = [t.clone().requires_grad_() for t in (a, b, h0)]
        h = linear_recurrence(*leaves, method=method)
        (h * torch.linspace(-1, 1, 37)[None, :, None]).sum().backward()
        grads[method] = [leaf.grad for leaf in leaves]
    for method, g in grads.items():
        for got, want in zip(g, grads["loop"], strict=True):
            torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-8, msg=method)


def test_gradcheck_scan_and_fft():
    g = torch.Generator().manual_seed(3)
    b = torch.randn(1, 9, 2, dtype=torch.float64, generator=g, requires_grad=True)
    a_full = (0.9 * torch.rand(1, 9, 2, dtype=torch.float64, generator=g)).requires_grad_()
    a_inv = (0.9 * torch.rand(2, dtype=torch.float64, generator=g)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: linear_recurrence(a, b, method="scan"), (a_full, b))
    assert torch.autograd.gradcheck(lambda a, b: linear_recurrence(a, b, method="fft"), (a_inv, b))
    # a = 0 exactly: the FFT kernel (1, 0, 0, ...) still has a finite gradient
    zero = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    linear_recurrence(zero, b, method="fft").sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_empty_sequence():
    assert linear_recurrence(torch.ones(3), torch.zeros(2, 0, 3), method="scan").shape == (2, 0, 3)


def test_dtype_promotion():
    h = linear_recurrence(torch.full((2,), 0.5), torch.ones(1, 4, 2, dtype=torch.float64), method="scan")
    assert h.dtype == torch.float64
    h = linear_recurrence(torch.full((2,), 0.5), torch.ones(1, 4, 2, dtype=torch.complex64), method="fft")
    assert h.dtype == torch.complex64


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"method": "cumsum"}, ValueError, r"method: expected one of \('loop', 'scan', 'fft'\), got 'cumsum'"),
        ({"method": "fft", "a": torch.rand(2, 5, 3)}, ValueError, "a: method 'fft' needs a time-invariant a"),
        (
            {"b": torch.zeros(5, 3)},
            ValueError,
            r"b: expected a 3-D tensor \(batch, time, features\), got shape \(5, 3\)",
        ),
        ({"b": torch.zeros(2, 5, 3, dtype=torch.long)}, TypeError, "b: expected a floating-point or complex tensor"),
        ({"a": [0.5, 0.5, 0.5]}, TypeError, "a: expected a torch.Tensor, got list"),
        ({"a": torch.rand(4)}, ValueError, r"a: expected a tensor broadcastable to b's shape"),
        ({"a": torch.rand(2, 4, 3)}, ValueError, r"a: expected a tensor broadcastable"),
        ({"a": torch.rand(5, 3)}, ValueError, r"a: expected a tensor broadcastable"),
        ({"h0": torch.zeros(3)}, ValueError, r"h0: expected shape \(batch, features\) = \(2, 3\), got \(3,\)"),
    ],
)
def test_errors(kwargs, error, match):
    args = {"a": torch.rand(3), "b": torch.zeros(2, 5, 3), "h0": None, "method": "loop"}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        linear_recurrence(**args)


@pytest.mark.parametrize("time_varying", [False, True])
def test_scan_stays_finite_where_the_loop_is_finite_with_growing_a(time_varying):
    """|a| = 2 over 300 steps: a^256 overflows float32, but the inputs are zero until the last five
    steps, so every h is small and finite. The scan's products of a overflow to inf; they must
    not turn the zeros in front of them into NaN."""
    steps = 300
    b = torch.zeros(2, steps, 3)
    b[:, -5:] = 1.0
    a = torch.full((3,), 2.0) if not time_varying else torch.full((2, steps, 3), 2.0)
    loop = linear_recurrence(a, b, method="loop")
    assert torch.isfinite(loop).all() and loop.abs().max() == 31
    scan = linear_recurrence(a, b, method="scan")
    assert torch.isfinite(scan).all()
    torch.testing.assert_close(scan, loop)
    h0 = torch.zeros(2, 3)
    torch.testing.assert_close(linear_recurrence(a, b, h0, method="scan"), loop)


def test_scan_with_growing_a_agrees_with_the_loop_on_dense_inputs():
    torch.manual_seed(0)
    a = 1.0 + 0.01 * torch.rand(1, 1, 4)
    b = torch.randn(3, 1000, 4, dtype=torch.float64)
    a = a.double()
    torch.testing.assert_close(linear_recurrence(a, b, method="scan"), linear_recurrence(a, b, method="loop"))
