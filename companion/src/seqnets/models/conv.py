"""Convolutions that respect time: causal and dilated 1-D convolutions, the TCN, PixelCNN.

A convolution is *causal* when its output at time :math:`t` reads inputs at times :math:`\\le t`
only. :class:`CausalConv1d` gets there by padding :math:`(k - 1) d` zeros on the left of the
sequence and none on the right, so that output :math:`t` sees
:math:`x_{t - (k-1)d}, \\dots, x_{t-d}, x_t`:

.. math::

    y_t = b + \\sum_{j=0}^{k-1} W_{k-1-j} \\, x_{t - j d} .

Stacking causal convolutions with dilations :math:`1, 2, 4, \\dots` gives the temporal
convolutional network (:class:`TCN`, Bai et al. 2018), whose receptive field grows exponentially
with depth (:func:`receptive_field`). :class:`MaskedConv2d` is the 2-D analogue for images read
in raster order (PixelCNN, van den Oord et al. 2016): its kernel is masked so that a pixel's
output depends only on the pixels above it and to its left. :class:`PixelCNN` stacks masked
convolutions with WaveNet's :class:`GatedActivation` into a small autoregressive model of
digit images that can :meth:`~PixelCNN.sample` new ones pixel by pixel.

:class:`DigitCNN` is an ordinary (non-causal) image classifier in the style of LeNet: stages of
convolution and pooling, then one linear layer; it classifies the 8 x 8 digits.

Layer-level modules (:class:`CausalConv1d`, :class:`TemporalBlock`, :class:`MaskedConv2d`) mirror
``nn.Conv1d``/``nn.Conv2d`` and take ``(batch, channels, ...)``; the sequence model :class:`TCN`
is batch-first, ``(batch, time, features)``, like every other sequence model of the package.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqnets.utils import check_bool, check_channels, check_number, check_positive_int, check_tensor, training_mode

__all__ = [
    "CausalConv1d",
    "TemporalBlock",
    "TCN",
    "receptive_field",
    "MaskedConv2d",
    "GatedActivation",
    "PixelCNN",
    "DigitCNN",
]


# ----------------------------------------------------------------------------------------------
# 1-D: causal and dilated convolutions, the temporal convolutional network
# ----------------------------------------------------------------------------------------------


class CausalConv1d(nn.Conv1d):
    """A 1-D convolution whose output at time ``t`` depends on inputs at times ``<= t`` only.

    It is an ``nn.Conv1d`` (same parameters ``weight`` of shape ``(C_out, C_in, k)`` and ``bias``,
    so a state dict moves between the two) whose input is padded with ``(k - 1) * dilation``
    zeros on the left and none on the right. The output is as long as the input; nothing is
    computed and then thrown away (unlike padding both sides and chopping the right end off).

    .. math::

        y_t = b + \\sum_{j=0}^{k-1} W_{k-1-j} \\, x_{t - j d}, \\qquad x_s = 0 \\text{ for } s < 0 .

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output.
    kernel_size : int
        Number of taps ``k`` (any positive integer; ``k = 1`` is a pointwise layer).
    dilation : int
        Gap ``d`` between taps: the layer reads ``x[t], x[t-d], ..., x[t-(k-1)d]``.
    bias : bool
        Learn an additive bias per output channel.

    Shape
    -----
    ``(B, C_in, T) -> (B, C_out, T)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        in_channels = check_positive_int(in_channels, "in_channels")
        out_channels = check_positive_int(out_channels, "out_channels")
        kernel_size = check_positive_int(kernel_size, "kernel_size")
        dilation = check_positive_int(dilation, "dilation")
        check_bool(bias, "bias")
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation, padding=0, bias=bias)
        #: Zeros padded on the left, the span of the kernel minus the current step.
        self.left_padding = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_channels(x, "x", 3, self.in_channels, "(batch, channels, time)")
        x = F.pad(x, (self.left_padding, 0))  # (B, C_in, T + (k-1)d)
        return super().forward(x)  # (B, C_out, T)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", left_padding={self.left_padding}"


class TemporalBlock(nn.Module):
    """The residual block of a TCN (Bai et al. 2018): two dilated causal convolutions.

    .. math::

        z = \\operatorname{drop}(\\operatorname{ReLU}(\\operatorname{conv}_2(
            \\operatorname{drop}(\\operatorname{ReLU}(\\operatorname{conv}_1(x)))))), \\qquad
        y = \\operatorname{ReLU}(z + R x),

    where both convolutions are :class:`CausalConv1d` with the same kernel size and dilation, and
    the residual map :math:`R` is the identity when the widths agree and a 1x1 convolution when
    they differ. Each block therefore widens the receptive field by :math:`2 (k - 1) d`.

    Bai et al. put weight normalisation (Salimans & Kingma 2016) on both convolutions. It is
    optional here (``weight_norm=False`` by default): at the depths this course trains it changes
    little, and without it the weights are plain ``weight`` tensors that load and inspect simply.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int
    dilation : int
    dropout : float
        Dropout probability after each ReLU inside the block, in ``[0, 1)``.
    weight_norm : bool
        Reparametrise both convolutions with ``torch.nn.utils.parametrizations.weight_norm``.

    Shape
    -----
    ``(B, C_in, T) -> (B, C_out, T)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        dropout: float = 0.0,
        weight_norm: bool = False,
    ) -> None:
        super().__init__()
        dropout = check_number(dropout, "dropout", low=0, high=1, high_open=True)
        check_bool(weight_norm, "weight_norm")
        self.conv1 = CausalConv1d(in_channels, out_channels, kernel_size, dilation)
        self.conv2 = CausalConv1d(out_channels, out_channels, kernel_size, dilation)
        if weight_norm:
            self.conv1 = nn.utils.parametrizations.weight_norm(self.conv1)
            self.conv2 = nn.utils.parametrizations.weight_norm(self.conv2)
        self.dropout = nn.Dropout(dropout)
        self.residual: nn.Module = (
            nn.Identity() if in_channels == out_channels else nn.Conv1d(in_channels, out_channels, 1)
        )
        self.in_channels, self.out_channels = in_channels, out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_channels(x, "x", 3, self.in_channels, "(batch, channels, time)")
        z = self.dropout(F.relu(self.conv1(x)))  # (B, C_out, T)
        z = self.dropout(F.relu(self.conv2(z)))  # (B, C_out, T)
        return F.relu(z + self.residual(x))


def receptive_field(kernel_size: int, levels: int) -> int:
    """Number of input steps that one output of a :class:`TCN` can see.

    A causal convolution with kernel size :math:`k` and dilation :math:`d` reads :math:`(k-1) d`
    steps of the past besides the present one, so a stack of causal convolutions with dilations
    :math:`d_1, \\dots, d_n` sees :math:`1 + (k - 1) \\sum_i d_i` steps (each layer extends the
    window of the one below by its own span). A TCN with ``levels`` residual blocks has two
    convolutions per block and dilation :math:`2^l` in block :math:`l = 0, \\dots, L-1`, so

    .. math::

        r = 1 + 2 (k - 1) \\sum_{l=0}^{L-1} 2^l = 1 + 2 (k - 1) (2^L - 1).

    The residual 1x1 convolutions and the pointwise ReLUs do not widen the window.

    >>> receptive_field(kernel_size=3, levels=4)
    61
    """
    kernel_size = check_positive_int(kernel_size, "kernel_size")
    levels = check_positive_int(levels, "levels")
    return 1 + 2 * (kernel_size - 1) * (2**levels - 1)


class TCN(nn.Module):
    """Temporal convolutional network: residual blocks with dilations 1, 2, 4, ... (Bai et al. 2018).

    Block :math:`l` is a :class:`TemporalBlock` with dilation :math:`2^l`; the first one maps
    ``input_size`` channels to ``hidden_size``, the others keep ``hidden_size``. The output at time
    :math:`t` depends on the inputs at times :math:`t - r + 1, \\dots, t` with
    :math:`r` = :func:`receptive_field` ``(kernel_size, levels)``.

    Parameters
    ----------
    input_size : int
        Features per time step of the input.
    hidden_size : int
        Channels of every block, and features per step of the output.
    levels : int
        Number of residual blocks.
    kernel_size : int
        Taps of every causal convolution.
    dropout : float
        Dropout inside the blocks, in ``[0, 1)``.
    weight_norm : bool
        Weight normalisation on the convolutions, as in Bai et al.; see :class:`TemporalBlock`.

    Shape
    -----
    ``(B, T, input_size) -> (B, T, hidden_size)``, batch-first like the recurrent layers.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        levels: int,
        kernel_size: int = 3,
        dropout: float = 0.0,
        weight_norm: bool = False,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.levels = check_positive_int(levels, "levels")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.blocks = nn.Sequential(
            *(
                TemporalBlock(
                    self.input_size if level == 0 else self.hidden_size,
                    self.hidden_size,
                    self.kernel_size,
                    dilation=2**level,
                    dropout=dropout,
                    weight_norm=weight_norm,
                )
                for level in range(self.levels)
            )
        )

    @property
    def receptive_field(self) -> int:
        """How many input steps one output step sees, ``receptive_field(kernel_size, levels)``."""
        return receptive_field(self.kernel_size, self.levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", ndim=3, floating=True)
        if x.shape[2] != self.input_size:
            raise ValueError(f"x: expected shape (batch, time, {self.input_size}) (batch-first), got {tuple(x.shape)}")
        y = self.blocks(x.transpose(1, 2))  # (B, H, T)
        return y.transpose(1, 2)  # (B, T, H)


# ----------------------------------------------------------------------------------------------
# 2-D: masked convolutions and a small PixelCNN
# ----------------------------------------------------------------------------------------------


def _odd_pair(kernel_size: Any) -> tuple[int, int]:
    pair = (kernel_size, kernel_size) if not isinstance(kernel_size, (tuple, list)) else tuple(kernel_size)
    if len(pair) != 2:
        raise ValueError(f"kernel_size: expected an int or a pair of ints, got {kernel_size!r}")
    for k in pair:
        check_positive_int(k, "kernel_size")
        if k % 2 == 0:
            raise ValueError(
                f"kernel_size: expected odd sizes (the kernel is centred on the current pixel), got {kernel_size!r}"
            )
    return int(pair[0]), int(pair[1])


class MaskedConv2d(nn.Conv2d):
    """A 2-D convolution that sees only the pixels before the current one in raster order.

    Pixels are ordered row by row, left to right. The kernel, centred on pixel :math:`(i, j)`, is
    multiplied by a fixed binary mask that zeroes every tap below the centre row and every tap to
    the right of the centre in the centre row. Mask ``"A"`` also zeroes the centre tap, so output
    :math:`(i, j)` depends on input pixels strictly before :math:`(i, j)`: use it on the first
    layer, which reads the image. Mask ``"B"`` keeps the centre tap: use it on later layers, whose
    input at :math:`(i, j)` has itself seen only the pixels before :math:`(i, j)`.

    For a 5x5 kernel (1 = tap kept)::

        mask "A"      mask "B"
        1 1 1 1 1     1 1 1 1 1
        1 1 1 1 1     1 1 1 1 1
        1 1 0 0 0     1 1 1 0 0
        0 0 0 0 0     0 0 0 0 0
        0 0 0 0 0     0 0 0 0 0

    The mask is the same for every pair of channels, which is right for single-channel (grey or
    binary) images. Colour PixelCNNs also order the channels R, G, B inside a pixel; that
    refinement is not implemented here.

    Parameters
    ----------
    mask_type : {"A", "B"}
    in_channels, out_channels : int
    kernel_size : int or (int, int)
        Odd sizes, so that the kernel has a centre.
    **conv2d_kwargs
        Passed to ``nn.Conv2d`` (``bias``, ``dilation``, ``groups``, ``device``, ``dtype``).
        ``padding`` defaults to "same" (``dilation * (k // 2)``) and may only take that value;
        ``stride`` must be 1 and ``padding_mode`` ``"zeros"``: any other value would shift or wrap
        pixels and break the raster-order guarantee.

    Shape
    -----
    ``(B, C_in, H, W) -> (B, C_out, H, W)``.
    """

    mask: torch.Tensor

    def __init__(
        self,
        mask_type: str,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        **conv2d_kwargs: Any,
    ) -> None:
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type: expected 'A' or 'B', got {mask_type!r}")
        kh, kw = _odd_pair(kernel_size)
        in_channels = check_positive_int(in_channels, "in_channels")
        out_channels = check_positive_int(out_channels, "out_channels")
        dilation = conv2d_kwargs.get("dilation", 1)
        dh, dw = (dilation, dilation) if not isinstance(dilation, (tuple, list)) else tuple(dilation)
        same = (dh * (kh // 2), dw * (kw // 2))
        padding = conv2d_kwargs.pop("padding", same)
        as_pair = (
            (padding, padding)
            if isinstance(padding, int)
            else tuple(padding)
            if isinstance(padding, (tuple, list))
            else padding
        )
        if padding != "same" and as_pair != same:
            raise ValueError(
                f"padding: expected {same} or 'same', so that output pixel (i, j) is centred on input (i, j); got {padding!r}"
            )
        stride = conv2d_kwargs.pop("stride", 1)
        if stride not in (1, (1, 1)):
            raise ValueError(f"stride: expected 1 (a masked convolution keeps the raster order), got {stride!r}")
        padding_mode = conv2d_kwargs.pop("padding_mode", "zeros")
        if padding_mode != "zeros":
            raise ValueError(
                f"padding_mode: expected 'zeros' (other modes wrap or reflect later pixels into earlier ones), got {padding_mode!r}"
            )
        super().__init__(in_channels, out_channels, (kh, kw), padding=same, **conv2d_kwargs)
        self.mask_type = mask_type
        mask = torch.ones(kh, kw)
        ci, cj = kh // 2, kw // 2
        mask[ci, cj + (1 if mask_type == "B" else 0) :] = 0  # the centre row: current pixel (A) and right of it
        mask[ci + 1 :, :] = 0  # every row below
        # (1, 1, kh, kw): the same mask for every pair of channels, broadcast over the weight.
        self.register_buffer("mask", mask[None, None], persistent=False)
        with torch.no_grad():
            self.weight.mul_(self.mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_channels(x, "x", 4, self.in_channels, "(batch, channels, height, width)")
        return self._conv_forward(x, self.weight * self.mask, self.bias)

    def extra_repr(self) -> str:
        return f"mask_type={self.mask_type!r}, " + super().extra_repr()


class GatedActivation(nn.Module):
    """WaveNet's gated unit: split the channels in two halves and return ``tanh(f) * sigmoid(g)``.

    .. math::

        z = \\tanh(W_f * x) \\odot \\sigma(W_g * x)

    (van den Oord et al. 2016). The convolution that precedes this module produces ``2C``
    channels, the *filter* half ``f = (W_f * x)`` and the *gate* half ``g = (W_g * x)``; the gate,
    between 0 and 1, decides how much of each filter response passes.

    Shape
    -----
    ``(B, 2C, ...) -> (B, C, ...)``: any number of trailing (time or space) dimensions.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", floating=True)
        if x.dim() < 2 or x.shape[1] % 2:
            raise ValueError(
                f"x: expected (batch, 2 * channels, ...) with an even number of channels, got shape {tuple(x.shape)}"
            )
        f, g = x.chunk(2, dim=1)  # (B, C, ...) each
        return torch.tanh(f) * torch.sigmoid(g)


class _GatedMaskedLayer(nn.Module):
    """Mask-B convolution to ``2C`` channels, gated unit, 1x1 convolution, residual connection."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = MaskedConv2d("B", channels, 2 * channels, kernel_size)
        self.gate = GatedActivation()
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.out(self.gate(self.conv(x)))  # (B, C, H, W)


class PixelCNN(nn.Module):
    """A small PixelCNN for single-channel images with ``num_values`` grey levels (van den Oord et al. 2016).

    It models an image as a sequence of pixels in raster order,

    .. math::

        p(x) = \\prod_{i=1}^{HW} p(x_i \\mid x_1, \\dots, x_{i-1}),

    and outputs, for every pixel at once, the logits of a categorical distribution over the
    ``num_values`` values given the pixels before it. The network is a mask-A convolution, ``layers``
    residual gated layers (mask-B convolution to ``2C`` channels, :class:`GatedActivation`, 1x1
    convolution) and a 1x1 output head. Training is one forward pass per image (teacher forcing
    over all pixels in parallel); :meth:`sample` needs one pass per pixel.

    The stack of masked convolutions has the "blind spot" of the original PixelCNN: pixels far
    above and to the right are never seen, however deep the stack (with a mask-A first layer of
    size ``k`` and 3x3 mask-B layers, pixel ``(i, j)`` never reads ``(i - u, j + c)`` for
    ``c >= u + k // 2``). A wider first kernel only moves that edge; Gated PixelCNN's vertical
    and horizontal stacks remove it. Chapter 8 maps it over every pixel of an 8x8 image.

    Parameters
    ----------
    num_values : int
        Number of pixel values, at least 2 (2 for binary images, 17 for scikit-learn's digits).
    channels : int
        Width ``C`` of the hidden layers.
    layers : int
        Number of residual gated mask-B layers.
    kernel_size : int
        Odd kernel size of the mask-B layers.
    first_kernel_size : int
        Odd kernel size of the mask-A input layer.

    Shape
    -----
    ``forward``: integer images ``(B, 1, H, W)`` with values in ``0 .. num_values - 1`` ->
    logits ``(B, num_values, H, W)``, ready for ``F.cross_entropy(logits, x[:, 0])``.
    """

    def __init__(
        self,
        num_values: int = 2,
        channels: int = 32,
        layers: int = 4,
        kernel_size: int = 3,
        first_kernel_size: int = 7,
    ) -> None:
        super().__init__()
        self.num_values = check_positive_int(num_values, "num_values", minimum=2)
        channels = check_positive_int(channels, "channels")
        layers = check_positive_int(layers, "layers", minimum=0)
        _odd_pair(kernel_size)
        _odd_pair(first_kernel_size)
        self.input = MaskedConv2d("A", 1, channels, first_kernel_size)
        self.layers = nn.Sequential(*(_GatedMaskedLayer(channels, kernel_size) for _ in range(layers)))
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, self.num_values, 1)
        )

    def _check_images(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        check_tensor(x, name, ndim=4)
        if x.shape[1] != 1:
            raise ValueError(
                f"{name}: expected single-channel images (batch, 1, height, width), got shape {tuple(x.shape)}"
            )
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"{name}: expected an integer tensor of pixel levels, got dtype {x.dtype}")
        # One host-device synchronisation for the check; the message reads the range only on failure.
        if bool(((x < 0) | (x >= self.num_values)).any()):
            raise ValueError(
                f"{name}: expected pixel values in 0..{self.num_values - 1}, got values in {int(x.min())}..{int(x.max())}"
            )
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_images(x)
        return self._logits(x)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """The forward pass without the input check (``sample`` makes valid images itself)."""
        z = x.to(self.input.weight.dtype) * (2.0 / (self.num_values - 1)) - 1.0  # (B, 1, H, W) in [-1, 1]
        z = self.layers(self.input(z))  # (B, C, H, W)
        return self.head(z)  # (B, num_values, H, W)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log-likelihood :math:`\\log p(x)` of each image, in nats: shape ``(B,)``."""
        logits = self(x)  # (B, num_values, H, W)
        return -F.cross_entropy(logits, x[:, 0].long(), reduction="none").flatten(1).sum(1)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        size: tuple[int, int] = (8, 8),
        *,
        seed: int | None = None,
        temperature: float = 1.0,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Draw ``n`` images pixel by pixel in raster order; returns ``(n, 1, H, W)`` integers.

        Pixel :math:`i` is drawn from :math:`p(x_i \\mid x_{<i})` computed by a forward pass over
        the partly drawn images (later pixels are still zero, and the masks make sure they are
        not read). ``seed`` makes the draw repeat exactly; ``temperature`` divides the logits.
        """
        n = check_positive_int(n, "n")
        if not isinstance(size, (tuple, list)) or len(size) != 2:
            raise ValueError(f"size: expected (height, width), got {size!r}")
        height, width = (check_positive_int(s, "size") for s in size)
        temperature = check_number(temperature, "temperature", low=0, low_open=True)
        device = torch.device(device) if device is not None else self.input.weight.device
        generator = torch.Generator(device=device)
        generator.manual_seed(seed if seed is not None else int(torch.randint(2**62, ()).item()))
        x = torch.zeros(n, 1, height, width, dtype=torch.long, device=device)
        with training_mode(self, False):
            for i in range(height):
                for j in range(width):
                    logits = self._logits(x)[:, :, i, j] / temperature  # (n, num_values)
                    probs = torch.softmax(logits, dim=1)
                    x[:, 0, i, j] = torch.multinomial(probs, 1, generator=generator)[:, 0]
        return x


# ----------------------------------------------------------------------------------------------
# A small image classifier: LeNet-style convolution and pooling stages
# ----------------------------------------------------------------------------------------------


class DigitCNN(nn.Module):
    """The job of a DigitCNN is to classify small square images: conv/pool stages, then a linear map.

    Like LeNet (LeCun et al. 1998) it alternates convolution and pooling, so each stage detects
    local patterns with weights shared over the whole image, then halves the resolution. Each stage
    is ``Conv2d(3x3, padding 1) -> BatchNorm2d -> ReLU -> MaxPool2d(2)``; the last feature map is
    flattened, dropped out and mapped to logits by one linear layer.

    With the defaults on scikit-learn's 8 x 8 digits::

        (B, 1, 8, 8) -> (B, 32, 4, 4) -> (B, 64, 2, 2) -> (B, 256) -> (B, 10)

    21,578 parameters; each of the 2 x 2 final positions sees a 10 x 10 window of the (zero-padded)
    input, so together they see the whole image.

    Parameters
    ----------
    image_size : int
        Height and width of the (square) input; must be divisible by ``2 ** len(channels)``.
    num_classes : int
        Like every classifier of the package, the class count comes right after the input's size.
    channels : sequence of int
        Output channels of each stage; ``len(channels)`` stages.
    dropout : float
        Dropout probability before the linear layer, in ``[0, 1)``.
    in_channels : int
        Channels of the input image (1 for grey).
    batch_norm : bool
        Normalise each convolution's output over the batch (``False`` drops the layers).

    Shape
    -----
    ``(B, in_channels, image_size, image_size) -> (B, num_classes)`` logits.
    """

    def __init__(
        self,
        image_size: int = 8,
        num_classes: int = 10,
        channels: tuple[int, ...] = (32, 64),
        dropout: float = 0.3,
        in_channels: int = 1,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.image_size = check_positive_int(image_size, "image_size")
        if not isinstance(channels, (tuple, list)) or not channels:
            raise TypeError(f"channels: expected a non-empty sequence of ints, got {channels!r}")
        channels = tuple(check_positive_int(c, "channels") for c in channels)
        if self.image_size % 2 ** len(channels):
            raise ValueError(
                f"image_size: {len(channels)} stages halve it {len(channels)} times, so it must be divisible "
                f"by {2 ** len(channels)}; got {image_size}"
            )
        check_bool(batch_norm, "batch_norm")
        stages: list[nn.Module] = []
        previous = self.in_channels
        for c in channels:
            stages += [nn.Conv2d(previous, c, 3, padding=1), nn.BatchNorm2d(c) if batch_norm else nn.Identity()]
            stages += [nn.ReLU(), nn.MaxPool2d(2)]
            previous = c
        side = self.image_size // 2 ** len(channels)
        self.features = nn.Sequential(*stages)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(check_number(dropout, "dropout", low=0, high=1, high_open=True)),
            nn.Linear(previous * side * side, self.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_channels(x, "x", 4, self.in_channels, "(batch, channels, height, width)")
        if x.shape[2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"x: expected images of {self.image_size} x {self.image_size} pixels "
                f"(batch, channels, height, width), got shape {tuple(x.shape)}"
            )
        return self.classifier(self.features(x))  # (B, C, S', S') -> (B, num_classes)
