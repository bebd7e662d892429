r"""Text generation: extend a prompt with an autoregressive model, one sampled token at a time.

:func:`generate` works with any model that maps token ids ``(B, T)`` to next-token logits
``(B, T, V)`` causally (the logits at step ``t`` depend on the ids up to ``t`` only), such as
:class:`seqnets.models.recurrent.CharLM` with a recurrent or a convolutional backbone. At each
step it turns the last logits :math:`z` into a distribution and draws the next token from it,

.. math::

    p_i = \frac{\exp(z_i / \tau)}{\sum_j \exp(z_j / \tau)}
    \quad \text{over the } k \text{ largest } z_i \text{ (top-}k\text{), 0 elsewhere,}

where the temperature :math:`\tau` sharpens (:math:`\tau < 1`) or flattens (:math:`\tau > 1`)
the model's distribution; :math:`\tau = 0` means always taking the most likely token (greedy).
The draws come from their own seeded generator, so a seed gives the same text every time.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from seqnets.utils import (
    check_module,
    check_number,
    check_positive_int,
    check_tensor,
    training_mode,
)

__all__ = ["generate"]


def _generator(seed: int | torch.Generator | None) -> torch.Generator:
    """A CPU generator: ``seed`` itself, seeded with it, or seeded from torch's global generator."""
    if isinstance(seed, torch.Generator):
        if seed.device.type != "cpu":
            raise ValueError(f"seed: expected a CPU torch.Generator, got one on {seed.device}")
        return seed
    if seed is None:  # follows torch.manual_seed / seed_everything
        seed = int(torch.randint(2**62, ()).item())
    seed = check_positive_int(seed, "seed", minimum=0)
    if seed >= 2**64:
        raise ValueError(f"seed: expected an integer below 2**64 (a generator's seed), got {seed}")
    return torch.Generator().manual_seed(seed)


def _last_logits(logits: Any, batch: int, steps: int) -> torch.Tensor:
    """Check that the model returned ``(batch, steps, V)`` logits; return the last step's."""
    shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else None
    if shape is None or len(shape) != 3 or shape[:2] != (batch, steps):
        got = f"shape {shape}" if shape is not None else type(logits).__name__
        raise ValueError(f"model: expected logits of shape ({batch}, {steps}, V), got {got}")
    if not logits.is_floating_point():
        raise TypeError(f"model: expected floating-point logits, got dtype {logits.dtype}")
    return logits[:, -1]  # (B, V)


def _sample(
    logits: torch.Tensor,
    temperature: float,
    top_k: int | None,
    generator: torch.Generator,
) -> torch.Tensor:
    """Draw one token per row of ``logits`` ``(B, V)``; returns ``(B,)`` ids."""
    logits = logits.double()  # so that dividing by a tiny or huge temperature stays finite
    if top_k is not None:
        best = logits.topk(top_k, dim=-1)  # exactly k kept, even with ties
        logits = torch.full_like(logits, -torch.inf).scatter(-1, best.indices, best.values)
    if temperature == 0:
        return logits.argmax(dim=-1)
    # Subtracting the maximum first keeps a tiny temperature from turning logits into inf - inf;
    # in float64 no finite temperature > 0 rounds to 0 or overflows, so no 0 / 0 or inf / inf.
    scaled = (logits - logits.max(dim=-1, keepdim=True).values) / temperature
    probs = torch.softmax(scaled, dim=-1).to(generator.device)
    return torch.multinomial(probs, 1, generator=generator)[:, 0].to(logits.device)


@torch.no_grad()
def generate(
    model: nn.Module,
    prompt: torch.Tensor,
    steps: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | torch.Generator | None = None,
) -> torch.Tensor:
    """Extend ``prompt`` by ``steps`` tokens drawn from ``model``, one at a time.

    The model runs in eval mode without gradients (its mode is restored afterwards). If it has a
    method ``step(x, state) -> (logits, state)``, as :class:`~seqnets.models.recurrent.CharLM`
    does, the prompt is read once and each new token is fed in alone with the state. Otherwise the
    model is called on the whole text so far at every step, cropped to its last
    ``model.receptive_field`` tokens if it has that attribute: exact for a causal model, and
    ``steps`` times more work for one that could have carried a state.

    Parameters
    ----------
    model : nn.Module
        ``model(x)`` maps ids ``(B, T)`` to logits ``(B, T, V)`` causally.
    prompt : LongTensor ``(T,)`` or ``(B, T)``
        Ids to start from, ``T >= 1``, of any integer dtype (read as int64); each row of a batch
        is extended independently.
    steps : int
        Tokens to add (0 returns the prompt without running the model).
    temperature : float
        Divides the logits before the softmax (in float64, so any finite ``temperature > 0`` is
        safe, however small or large); ``0`` takes the most likely token (greedy).
    top_k : int, optional
        Sample among the ``top_k`` most likely tokens only (``1`` is greedy); at most the
        vocabulary size, checked when the model has run (so not when ``steps == 0``).
    seed : int or torch.Generator, optional
        Seeds the draws, ``0 <= seed < 2**64`` (a CPU generator is used, and advanced, as it is);
        ``None`` draws the seed from torch's global generator, so
        :func:`seqnets.utils.seed_everything` fixes it too. Draws are made on the CPU, so a seed
        gives the same tokens on every device wherever the model's probabilities agree.

    Returns
    -------
    LongTensor ``(T + steps,)`` or ``(B, T + steps)``
        The prompt followed by the generated ids, shaped like ``prompt``, always int64, on the
        model's device (the prompt's device for a model without parameters).

    Examples
    --------
    >>> from seqnets.models.recurrent import CharLM
    >>> model = CharLM(vocab_size=10, hidden_size=8)
    >>> generate(model, torch.tensor([1, 2, 3]), steps=5, seed=0).shape
    torch.Size([8])
    """
    model = check_module(model)
    check_tensor(prompt, "prompt", ndim=(1, 2))
    if prompt.is_floating_point() or prompt.is_complex() or prompt.dtype == torch.bool:
        raise TypeError(f"prompt: expected integer token ids, got dtype {prompt.dtype}")
    if prompt.shape[-1] == 0:
        raise ValueError(f"prompt: expected at least one token, got shape {tuple(prompt.shape)}")
    if bool((prompt < 0).any()):
        raise ValueError(f"prompt: expected token ids >= 0, got {int(prompt.min())}")
    steps = check_positive_int(steps, "steps", minimum=0)
    temperature = check_number(temperature, "temperature", low=0)
    top_k = None if top_k is None else check_positive_int(top_k, "top_k")
    generator = _generator(seed)
    device = next((p.device for p in model.parameters()), prompt.device)
    tokens = (prompt[None] if prompt.dim() == 1 else prompt).to(device, torch.long)  # (B, T)
    if steps == 0:
        return tokens[0] if prompt.dim() == 1 else tokens
    batch = tokens.shape[0]
    step = getattr(model, "step", None)
    window = getattr(model, "receptive_field", None)
    out = [tokens]
    with training_mode(model, False):
        if callable(step):
            logits, state = step(tokens, None)
        else:
            logits = model(tokens)
        last = _last_logits(logits, batch, tokens.shape[1])  # (B, V)
        if top_k is not None and top_k > last.shape[-1]:
            vocab_size = last.shape[-1]
            raise ValueError(f"top_k: expected at most the vocabulary size {vocab_size}, got {top_k}")
        for i in range(steps):
            token = _sample(last, temperature, top_k, generator)[:, None]  # (B, 1)
            out.append(token)
            if i == steps - 1:
                break
            if callable(step):
                logits, state = step(token, state)
                last = _last_logits(logits, batch, 1)
            else:
                text = torch.cat(out, dim=1)  # (B, T + i + 1)
                text = text[:, -window:] if window else text
                last = _last_logits(model(text), batch, text.shape[1])
    result = torch.cat(out, dim=1)  # (B, T + steps)
    return result[0] if prompt.dim() == 1 else result
