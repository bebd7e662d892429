"""Audio for the speech chapter: touch-tone recordings, spectrograms and 16-bit WAV files.

:func:`dtmf_clips` generates telephone keypad (DTMF) recordings with known transcripts: each key
sounds as the sum of two sine waves, one from a low (row) group and one from a high (column)
group of frequencies (ITU-T Recommendation Q.23), separated by pauses and buried in noise.
:func:`log_spectrogram` turns waveforms into the time-frequency pictures a recogniser reads.
:func:`read_wav` and :func:`write_wav` read and write uncompressed 16-bit PCM WAV files (reading
parses the file's RIFF chunks, writing uses the standard library's :mod:`wave`), so a reader can
try a model on a recording of their own.
"""

from __future__ import annotations

import errno
import math
import os
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqnets.utils import check_bool, check_number, check_positive_int, check_tensor

__all__ = [
    "DTMF_LOW",
    "DTMF_HIGH",
    "DTMF_KEYPAD",
    "dtmf_frequencies",
    "DTMFClips",
    "dtmf_clips",
    "log_spectrogram",
    "read_wav",
    "write_wav",
]

#: Row frequencies of the DTMF keypad in Hz (the low group), top row first.
DTMF_LOW = (697, 770, 852, 941)
#: Column frequencies of the DTMF keypad in Hz (the high group), left column first.
DTMF_HIGH = (1209, 1336, 1477, 1633)
#: The keypad row by row; the key in row ``i``, column ``j`` sounds ``DTMF_LOW[i] + DTMF_HIGH[j]``.
DTMF_KEYPAD = ("123A", "456B", "789C", "*0#D")


def dtmf_frequencies(key: str) -> tuple[int, int]:
    """The two frequencies in Hz, ``(low, high)``, of one DTMF ``key`` (``0-9 * # A-D``).

    >>> dtmf_frequencies("5")
    (770, 1336)
    """
    for row, keys in enumerate(DTMF_KEYPAD):
        if isinstance(key, str) and len(key) == 1 and key in keys:
            return DTMF_LOW[row], DTMF_HIGH[keys.index(key)]
    raise ValueError(f"key: expected one of {''.join(DTMF_KEYPAD)!r}, got {key!r}")


def _check_range(
    value: Any,
    name: str,
    *,
    low: float | None,
    low_open: bool = False,
) -> tuple[float, float]:
    """Check a finite pair ``(min, max)``: ``min <= max``, ``low <= min`` (``<`` if low_open)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name}: expected a pair (min, max), got {value!r}")
    a = check_number(value[0], f"{name}[0]", low=low, low_open=low_open)
    b = check_number(value[1], f"{name}[1]", low=low, low_open=low_open)
    if a > b:
        raise ValueError(f"{name}: expected min <= max, got {value!r}")
    return a, b


@dataclass(frozen=True)
class DTMFClips:
    """Generated touch-tone recordings and what is in them (see :func:`dtmf_clips`).

    Attributes
    ----------
    waveforms : list of torch.Tensor
        One float32 tensor ``(S_k,)`` per clip: samples, not clipped to ``[-1, 1]``.
    transcripts : list of str
        The keys pressed in clip ``k``, in order.
    tones : list of list of (int, int)
        For each clip, the ``(start, stop)`` sample indices of each tone (``stop`` excluded).
    snr_db : torch.Tensor
        ``(N,)`` signal-to-noise ratio of each clip in dB (``inf`` without noise).
    amplitude : torch.Tensor
        ``(N,)`` peak amplitude of each clip's tones (before noise).
    sample_rate : int
        Samples per second.
    """

    waveforms: list[torch.Tensor]
    transcripts: list[str]
    tones: list[list[tuple[int, int]]]
    snr_db: torch.Tensor
    amplitude: torch.Tensor
    sample_rate: int

    def __len__(self) -> int:
        return len(self.waveforms)


def dtmf_clips(
    n: int,
    *,
    sample_rate: int = 8000,
    digits: tuple[int, int] = (3, 8),
    symbols: str = "0123456789*#",
    tone_ms: tuple[float, float] = (40.0, 120.0),
    pause_ms: tuple[float, float] = (40.0, 120.0),
    amplitude: tuple[float, float] = (0.05, 0.5),
    snr_db: tuple[float, float] | None = (10.0, 30.0),
    seed: int | None = None,
) -> DTMFClips:
    r"""Generate ``n`` touch-tone (DTMF) recordings of random key sequences, with their transcripts.

    A clip is a pause, then a tone for each key with a pause after it. The tone of the key in row
    ``i`` and column ``j`` of :data:`~seqnets.data.audio.DTMF_KEYPAD` is

    .. math:: s(t) = \tfrac{a}{2} \bigl(\sin(2\pi f_i t + \varphi) + \sin(2\pi g_j t + \psi)\bigr)

    with ``f_i`` from :data:`~seqnets.data.audio.DTMF_LOW`, ``g_j`` from :data:`~seqnets.data.audio.DTMF_HIGH`, random phases and a peak
    amplitude ``a`` drawn per clip. The keys, the number of keys, every tone and pause length,
    ``a`` and the noise level are drawn uniformly from the given ranges (ends included). A key
    pressed twice sounds twice with a pause between, as on a telephone: without the pause "55"
    and "5" would be the same sound. White Gaussian noise is added to the whole clip, with the
    power of a tone over the power of the noise, ``(a^2 / 4) / sigma^2``, equal to the clip's
    signal-to-noise ratio (SNR) during a tone. Over the whole clip, pauses included, the ratio
    is lower by the share of samples that are tones (about 3.4 dB lower with the defaults).

    Parameters
    ----------
    n : int
        Number of clips.
    sample_rate : int
        Samples per second; at least 4000, so that 1633 Hz stays below the Nyquist frequency.
    digits : (int, int)
        Smallest and largest number of keys per clip.
    symbols : str
        The keys to draw from, any of ``"0123456789*#ABCD"``, each at most once.
    tone_ms, pause_ms : (float, float)
        Range of the length of each tone and each pause, in milliseconds (longer than 0).
    amplitude : (float, float)
        Range of the peak amplitude of the tones, in ``(0, 1]``.
    snr_db : (float, float) or None
        Range of the SNR during a tone in dB, ``10 log10`` of the power ratio, finite;
        ``None`` adds no noise.
    seed : int, optional
        Seeds a private generator, so the same call gives the same clips and leaves the global
        random state alone; ``None`` draws from torch's global generator.

    Returns
    -------
    DTMFClips
        Waveforms ``(S_k,)`` float32, transcripts, tone positions, SNR and amplitude per clip.

    Examples
    --------
    >>> clips = dtmf_clips(2, digits=(4, 4), seed=0)
    >>> len(clips), [len(t) for t in clips.transcripts], clips.waveforms[0].dtype
    (2, [4, 4], torch.float32)
    """
    n = check_positive_int(n, "n")
    sample_rate = check_positive_int(sample_rate, "sample_rate", minimum=4000)
    if not isinstance(digits, (tuple, list)) or len(digits) != 2:
        raise TypeError(f"digits: expected a pair (min, max) of integers, got {digits!r}")
    fewest = check_positive_int(digits[0], "digits[0]")
    most = check_positive_int(digits[1], "digits[1]")
    if fewest > most:
        raise ValueError(f"digits: expected min <= max, got {digits!r}")
    if not isinstance(symbols, str) or not symbols:
        raise TypeError(f"symbols: expected a non-empty str of keys, got {symbols!r}")
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"symbols: expected each key once, got {symbols!r}")
    pairs = [dtmf_frequencies(key) for key in symbols]
    tone_range = _check_range(tone_ms, "tone_ms", low=0, low_open=True)
    pause_range = _check_range(pause_ms, "pause_ms", low=0, low_open=True)
    amplitude_range = _check_range(amplitude, "amplitude", low=0, low_open=True)
    if amplitude_range[1] > 1:
        raise ValueError(f"amplitude: expected values in (0, 1], got {amplitude!r}")
    snr_range = None
    if snr_db is not None:
        try:
            snr_range = _check_range(snr_db, "snr_db", low=None)
        except ValueError as err:  # e.g. inf: no noise is asked for with None instead
            raise ValueError(f"{err} (snr_db=None adds no noise)") from None
    if seed is not None:
        seed = check_positive_int(seed, "seed", minimum=0)
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    f64 = torch.float64

    def uniform(bounds: tuple[float, float], size: int) -> torch.Tensor:
        low, high = bounds
        return low + (high - low) * torch.rand(size, generator=generator, dtype=f64)

    def lengths(bounds_ms: tuple[float, float], size: int) -> list[int]:  # in samples, >= 1
        return [max(1, round(float(ms) * sample_rate / 1000)) for ms in uniform(bounds_ms, size)]

    amplitudes = uniform(amplitude_range, n)
    snrs = torch.full((n,), math.inf, dtype=f64) if snr_range is None else uniform(snr_range, n)
    waveforms, transcripts, tones = [], [], []
    for k in range(n):
        count = int(torch.randint(fewest, most + 1, (1,), generator=generator))
        keys = torch.randint(0, len(symbols), (count,), generator=generator).tolist()
        tone_lengths, pauses = lengths(tone_range, count), lengths(pause_range, count + 1)
        phases = 2 * math.pi * torch.rand(count, 2, generator=generator, dtype=f64)
        pieces, spans, position = [torch.zeros(pauses[0], dtype=f64)], [], pauses[0]
        for key, length, pause, phase in zip(keys, tone_lengths, pauses[1:], phases, strict=True):
            t = torch.arange(length, dtype=f64) / sample_rate  # (length,) seconds
            omega = 2 * math.pi * torch.tensor(pairs[key], dtype=f64)  # (2,) low, high
            tone = torch.sin(omega * t[:, None] + phase).sum(dim=1)  # (length,)
            pieces += [amplitudes[k] / 2 * tone, torch.zeros(pause, dtype=f64)]
            spans.append((position, position + length))
            position += length + pause
        clip = torch.cat(pieces)  # (S,)
        if snr_range is not None:  # tone power (a/2)^2 over noise power sigma^2
            sigma = amplitudes[k] / 2 * 10 ** (-snrs[k] / 20)
            clip = clip + sigma * torch.randn(clip.shape, generator=generator, dtype=f64)
        waveforms.append(clip.float())
        transcripts.append("".join(symbols[key] for key in keys))
        tones.append(spans)
    return DTMFClips(waveforms, transcripts, tones, snrs.float(), amplitudes.float(), sample_rate)


def log_spectrogram(
    waveform: torch.Tensor,
    *,
    n_fft: int = 256,
    hop_length: int = 160,
) -> torch.Tensor:
    r"""Log power spectrogram of one waveform or a batch, time first: ``(..., S) -> (..., T, F)``.

    The waveform is cut into frames of ``n_fft`` samples, ``hop_length`` apart, each multiplied
    by a Hann window and Fourier transformed (``torch.stft`` with ``center=False``, so frame
    ``t`` covers samples ``t * hop_length`` to ``t * hop_length + n_fft - 1`` and no frame reads
    past the end). The result is ``log(|X[t, f]|^2 + 1e-10)`` for the ``F = n_fft // 2 + 1``
    frequencies ``f * sample_rate / n_fft``. The defaults, at 8000 samples per second, are a
    32 ms window and a 20 ms hop.

    Parameters
    ----------
    waveform : torch.Tensor
        ``(S,)`` or ``(B, S)`` floating, with ``S >= n_fft``. Half precision (float16,
        bfloat16) is computed in float32, which the FFT needs.
    n_fft : int
        Window length in samples. It sets both resolutions: bins ``sample_rate / n_fft`` Hz
        apart, and each frame averages over ``n_fft / sample_rate`` s.
    hop_length : int
        Step between frames in samples: frames every ``hop_length / sample_rate`` s. It spaces
        the frames and does not sharpen them.

    Returns
    -------
    torch.Tensor
        ``(T, F)`` or ``(B, T, F)`` with ``T = 1 + (S - n_fft) // hop_length`` frames, in the
        waveform's dtype (float32 for half precision).
    """
    check_tensor(waveform, "waveform", ndim=(1, 2), floating=True)
    n_fft = check_positive_int(n_fft, "n_fft", minimum=2)
    hop_length = check_positive_int(hop_length, "hop_length")
    if waveform.shape[-1] < n_fft:
        got = tuple(waveform.shape)
        raise ValueError(f"waveform: expected at least n_fft={n_fft} samples, got shape {got}")
    if waveform.dtype in (torch.float16, torch.bfloat16):
        waveform = waveform.float()
    window = torch.hann_window(n_fft, dtype=waveform.dtype, device=waveform.device)
    spec = torch.stft(
        waveform, n_fft, hop_length=hop_length, window=window, center=False, return_complex=True
    )  # (..., F, T)
    return torch.log(spec.abs() ** 2 + 1e-10).transpose(-1, -2)  # (..., T, F)


# ----------------------------------------------------------------------------------------------
# WAV files
# ----------------------------------------------------------------------------------------------

_SUPPORTED = "uncompressed 16-bit PCM WAV, any number of channels and sample rate"
_CONVERT = "Convert the file first, for example: ffmpeg -i in.wav -c:a pcm_s16le out.wav"
_PCM, _EXTENSIBLE = 1, 0xFFFE  # format tags: plain PCM, and "see the sub-format GUID"
#: The sub-format GUID of PCM in an extensible fmt chunk (its first two bytes: the format tag).
_PCM_GUID = bytes.fromhex("0100000000001000800000aa00389b71")
_FORMAT_NAMES = {3: "floating-point", 6: "A-law", 7: "mu-law"}
# The highest sample rate read_wav accepts, the highest that audio hardware records at: a higher
# rate is a corrupt header (and resampling from it would design an enormous filter).
_MAX_RATE = 768_000


def read_wav(path: str | os.PathLike) -> tuple[torch.Tensor, int]:
    """Read a 16-bit PCM WAV file: ``(samples (channels, S) float32 in [-1, 1), sample_rate)``.

    The samples are the file's integers divided by 32768 (exactly), channels first and
    contiguous (as ``torchaudio.load`` returns them), also for a mono file: ``samples[0]`` is its
    waveform. Both the plain PCM format (tag 1) and the extensible format (tag 0xFFFE) with the
    PCM sub-format are read, on every Python version; the file's RIFF chunks are parsed here,
    because Python's :mod:`wave` refuses the extensible format before Python 3.12. Chunks other
    than ``fmt`` and ``data`` are skipped without being read, the size in the RIFF header is not
    checked, and reading stops once both ``fmt`` and ``data`` have been found. Only the ``fmt``
    chunk and the samples are read; at the peak the samples are held twice, as 16-bit integers
    and as the float32 result (three times the size of the data chunk).

    Raises
    ------
    ValueError
        Naming the file and saying what is supported, if it is not a regular file (a directory,
        a device or a pipe); is not a RIFF/WAVE file; holds compressed audio, floats or samples
        of another width (8, 24 or 32 bits); has a malformed ``fmt`` chunk (shorter than 16
        bytes, or than 40 with the extensible format), or one that contradicts itself (no
        channels, a sample rate below 1 or above 768 kHz, a block size other
        than 2 bytes per channel, or a byte rate other than sample rate x block size); has no
        ``fmt`` or ``data`` chunk, two of either before both are found, or a data chunk of 0
        bytes (what a streaming recorder leaves when it never fills in the size); or is shorter
        than one of its chunks declares (a file cut short, or a streamed one whose data size
        was left at ``0xFFFFFFFF``). Other files can be converted first, for example
        ``ffmpeg -i in.wav -c:a pcm_s16le out.wav``.
    FileNotFoundError
        If there is no such file.
    PermissionError
        If the file cannot be opened for reading (as from :func:`open`).
    """
    path = Path(path)

    def refuse(problem: str) -> ValueError:
        return ValueError(f"{path}: {problem}; read_wav reads {_SUPPORTED}. {_CONVERT}")

    if not path.is_file():  # before opening it: opening a pipe would wait for a writer
        if not path.exists():
            raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
        raise refuse("not a regular file (a directory, a device or a pipe)")
    with path.open("rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        header = f.read(12)
        if len(header) < 12:
            raise refuse(f"truncated WAV header ({len(header)} bytes)")
        if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            raise refuse(f"not a RIFF/WAVE file (it starts with {header!r})")
        fmt: bytes | None = None
        fmt_size = 0
        data: tuple[int, int] | None = None  # (offset, size) of the samples in the file
        position = 12
        while (fmt is None or data is None) and position + 8 <= file_size:
            f.seek(position)
            name, size = struct.unpack("<4sI", f.read(8))
            body = position + 8
            if body + size > file_size:
                declared = f"declares {size} bytes, {file_size - body} follow it in the file"
                if name == b"data":  # cut short, or streamed and its size never filled in
                    why = "the file was cut short, or a streaming recorder never set the size"
                    raise refuse(f"truncated WAV data: the data chunk {declared} ({why})")
                where = f"the {name!r} chunk at byte {position}"
                raise refuse(f"truncated or malformed WAV file: {where} {declared}")
            if (name == b"fmt " and fmt is not None) or (name == b"data" and data is not None):
                raise refuse(f"a second {name.decode().strip()} chunk, at byte {position}")
            if name == b"fmt ":
                fmt = f.read(min(size, 40))  # the 40 bytes hold every field read here
                fmt_size = size
            elif name == b"data":
                data = body, size
            position = body + size + size % 2  # chunks of odd size are followed by a pad byte
        if fmt is None or fmt_size < 16:
            raise refuse("fmt chunk missing or shorter than 16 bytes")
        tag, channels, rate, byte_rate, block, bits = struct.unpack_from("<HHIIHH", fmt)
        if tag == _EXTENSIBLE:
            if fmt_size < 40:
                raise refuse(f"malformed extensible fmt chunk: {fmt_size} bytes, not 40 or more")
            if fmt[26:40] != _PCM_GUID[2:]:
                guid = fmt[24:40].hex()
                raise refuse(f"extensible format whose sub-format GUID {guid} is not PCM")
            tag = int.from_bytes(fmt[24:26], "little")  # the sub-format's own tag: 1 for PCM
        if tag != _PCM:
            kind = _FORMAT_NAMES.get(tag, "compressed")
            raise refuse(f"{kind} samples (format tag {tag:#06x}), not PCM")
        if bits != 16:
            raise refuse(f"{bits}-bit samples")
        rate_ok = 1 <= rate <= _MAX_RATE and byte_rate == rate * block
        if channels < 1 or block != 2 * channels or not rate_ok:
            got = f"{channels} channels, sample rate {rate}, {block} bytes per frame, {byte_rate} "
            want = f"channels >= 1, rate 1 to {_MAX_RATE}, 2 bytes per channel, rate x frame bytes"
            raise refuse(f"bad fmt chunk: {got}bytes per second (expected {want} per second)")
        if data is None:
            raise refuse("data chunk missing")
        offset, size = data
        if size == 0:  # no samples, or streamed and its size never filled in
            raise refuse("the data chunk declares 0 bytes: no samples")
        if size % block:
            frames = f"no whole number of {block}-byte frames"
            raise refuse(f"the data chunk's {size} bytes are {frames}")
        ints = np.empty((size // block, channels), dtype="<i2")  # (S, C): frames interleave
        f.seek(offset)
        if f.readinto(ints.data) != size:
            raise refuse("the file changed while it was read")
    samples = ints.T.astype(np.float32, order="C")  # (C, S), contiguous
    samples /= 32768  # a power of two: exact
    return torch.from_numpy(samples), rate


def write_wav(
    path: str | os.PathLike,
    samples: torch.Tensor | np.ndarray,
    sample_rate: int,
    *,
    clip: bool = False,
) -> None:
    """Write ``samples`` as a 16-bit PCM WAV file.

    Each value ``x`` becomes the integer ``round(32768 x)``, so :func:`read_wav` gives back every
    value in ``[-1, 1 - 2^-15]`` to within ``2^-16``; ``1.0`` itself becomes 32767, the largest
    16-bit integer. Values outside ``[-1, 1]`` cannot be stored: they raise a ``ValueError``
    unless ``clip=True``, which sets them to the nearest end of the range (audible as distortion).

    Parameters
    ----------
    path : str or PathLike
    samples : torch.Tensor or numpy.ndarray
        Floating, ``(S,)`` for mono or ``(channels, S)``, finite. An array with more channels
        than samples is refused as probably transposed.
    sample_rate : int
        Samples per second.
    clip : bool
        Clip values outside ``[-1, 1]`` instead of refusing them.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "beep.wav"
    >>> write_wav(path, torch.tensor([0.0, 0.5, -0.5]), 8000)
    >>> read_wav(path)
    (tensor([[ 0.0000,  0.5000, -0.5000]]), 8000)
    """
    if not isinstance(samples, (torch.Tensor, np.ndarray)):
        got = type(samples).__name__
        raise TypeError(f"samples: expected a torch.Tensor or numpy.ndarray, got {got}")
    x = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else samples
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"samples: expected floating-point values in [-1, 1], got dtype {x.dtype}")
    if x.ndim not in (1, 2) or x.size == 0:
        want = "a non-empty (S,) or (channels, S) array"
        raise ValueError(f"samples: expected {want}, got shape {x.shape}")
    x = x.reshape(1, -1) if x.ndim == 1 else x
    if x.shape[0] > x.shape[1]:
        raise ValueError(
            f"samples: expected (channels, S), got shape {x.shape}, more channels than samples; "
            "transpose it (samples.T)"
        )
    sample_rate = check_positive_int(sample_rate, "sample_rate")
    check_bool(clip, "clip")
    if not np.isfinite(x).all():
        raise ValueError("samples: expected finite values, got NaN or inf")
    outside = int((np.abs(x) > 1).sum())
    if outside and not clip:
        largest = np.abs(x).max()
        raise ValueError(
            f"samples: {outside} values lie outside [-1, 1] (largest magnitude {largest:.3g}); "
            "scale them down, or pass clip=True to clip them"
        )
    ints = np.clip(np.round(x.astype(np.float64) * 32768), -32768, 32767).astype("<i2")
    with wave.open(str(Path(path)), "wb") as f:
        f.setnchannels(x.shape[0])
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(ints.T.tobytes())  # frame by frame, the channels interleaved
