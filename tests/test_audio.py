"""Tests of seqnets.data.audio: generated touch tones, spectrograms, and WAV files the tests write."""

from __future__ import annotations

import math
import os
import struct
import wave

import numpy as np
import pytest
import torch

from seqnets.data.audio import (
    DTMF_HIGH,
    DTMF_KEYPAD,
    DTMF_LOW,
    dtmf_clips,
    dtmf_frequencies,
    log_spectrogram,
    read_wav,
    write_wav,
)

# ----------------------------------------------------------------------------- read_wav / write_wav


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("rate", [8000, 16000])
def test_wav_round_trip(tmp_path, channels, rate):
    rng = np.random.default_rng(0)
    samples = rng.uniform(-1, 1 - 2**-15, size=(channels, 1000)).astype(np.float32)
    path = tmp_path / "x.wav"
    write_wav(path, torch.from_numpy(samples), rate)
    back, back_rate = read_wav(path)
    assert back_rate == rate
    assert back.dtype == torch.float32 and back.shape == (channels, 1000)
    assert np.abs(back.numpy() - samples).max() <= 2**-16  # rounding to the nearest 16-bit step
    # what read_wav returns is written back to the very same bytes
    again = tmp_path / "again.wav"
    write_wav(again, back, rate)
    assert again.read_bytes() == path.read_bytes()


def test_wav_mono_is_one_channel_and_integers_are_scaled_by_32768(tmp_path):
    path = tmp_path / "mono.wav"
    write_wav(path, np.array([0.0, 0.5, -1.0, 1.0, -0.25]), 8000)
    with wave.open(str(path), "rb") as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()) == (1, 2, 8000, 5)
        ints = np.frombuffer(f.readframes(5), dtype="<i2")
    np.testing.assert_array_equal(ints, [0, 16384, -32768, 32767, -8192])  # 1.0 -> the largest int16
    samples, _ = read_wav(path)
    np.testing.assert_array_equal(samples[0].numpy(), ints / 32768)


def test_wav_stereo_channels_are_interleaved_in_the_file(tmp_path):
    path = tmp_path / "stereo.wav"
    write_wav(path, np.array([[0.5, 0.25], [-0.5, -0.25]]), 16000)  # (channels, S)
    with wave.open(str(path), "rb") as f:
        ints = np.frombuffer(f.readframes(2), dtype="<i2")
    np.testing.assert_array_equal(ints, [16384, -16384, 8192, -8192])  # frame by frame: left, right


def test_write_wav_clips_only_when_told(tmp_path):
    loud = np.array([0.5, 1.5, -2.0], dtype=np.float32)
    with pytest.raises(ValueError, match=r"samples: 2 values lie outside \[-1, 1\].*clip=True"):
        write_wav(tmp_path / "loud.wav", loud, 8000)
    assert not (tmp_path / "loud.wav").exists()
    write_wav(tmp_path / "loud.wav", loud, 8000, clip=True)
    samples, _ = read_wav(tmp_path / "loud.wav")
    np.testing.assert_array_equal(samples[0].numpy(), [0.5, 32767 / 32768, -1.0])


@pytest.mark.parametrize(
    "samples, rate, clip, error, match",
    [
        ([0.1, 0.2], 8000, False, TypeError, "samples: expected a torch.Tensor or numpy.ndarray, got list"),
        (np.array([1, 2], dtype=np.int16), 8000, False, TypeError, "samples: expected floating-point"),
        (np.zeros((2, 2, 2)), 8000, False, ValueError, r"samples: expected a non-empty \(S,\) or \(channels, S\)"),
        (np.zeros(0), 8000, False, ValueError, "samples: expected a non-empty"),
        (np.zeros((1000, 2)), 8000, False, ValueError, r"more channels than samples; transpose it"),
        (np.array([0.0, np.nan]), 8000, False, ValueError, "samples: expected finite values"),
        (np.zeros(4), 0, False, ValueError, "sample_rate: expected an integer >= 1"),
        (np.zeros(4), 8000.0, False, TypeError, "sample_rate: expected an integer"),
        (np.zeros(4), 8000, 1, TypeError, "clip: expected a bool"),
    ],
)
def test_write_wav_rejects_bad_input(tmp_path, samples, rate, clip, error, match):
    with pytest.raises(error, match=match):
        write_wav(tmp_path / "bad.wav", samples, rate, clip=clip)


def chunk(name: bytes, payload: bytes, declared: int | None = None, pad: bool = True) -> bytes:
    """A RIFF chunk declaring ``declared`` bytes (default: its payload's), with a pad byte if odd."""
    size = len(payload) if declared is None else declared
    return name + struct.pack("<I", size) + payload + (b"\x00" if pad and len(payload) % 2 else b"")


def fmt(
    tag: int = 1,
    channels: int = 1,
    rate: int = 8000,
    bits: int = 16,
    extra: bytes = b"",
    block: int | None = None,
    byte_rate: int | None = None,
) -> bytes:
    """A fmt chunk; ``extra`` follows the 16 bytes every format has. Block size and byte rate
    follow from the other fields unless given."""
    block = channels * bits // 8 if block is None else block
    byte_rate = rate * block if byte_rate is None else byte_rate
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, byte_rate, block, bits) + extra)


PCM_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")  # the GUID after its 2-byte tag


def extensible(sub_format: int, channels: int = 1, bits: int = 16, tail: bytes = PCM_GUID_TAIL) -> bytes:
    """A WAVE_FORMAT_EXTENSIBLE fmt chunk whose sub-format GUID is ``sub_format`` then ``tail``."""
    guid = struct.pack("<H", sub_format) + tail
    return fmt(0xFFFE, channels, 8000, bits, extra=struct.pack("<HHI", 22, bits, 0) + guid)


def riff(*chunks: bytes, size: int | None = None) -> bytes:
    """A RIFF/WAVE file of the given chunks; ``size`` overrides the size in the RIFF header."""
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body) if size is None else size) + body


PCM = struct.pack("<4h", 1000, -1000, 0, 32767)  # four 16-bit samples
PCM_VALUES = [[1000 / 32768, -1000 / 32768, 0.0, 32767 / 32768]]


@pytest.mark.parametrize(
    "content",
    [
        riff(fmt(), chunk(b"data", PCM)),
        riff(extensible(1), chunk(b"data", PCM)),  # extensible, PCM sub-format: Python 3.10 and 3.11 too
        riff(fmt(extra=b"\x00\x00"), chunk(b"data", PCM)),  # an 18-byte fmt chunk (cbSize 0)
        riff(fmt(), chunk(b"LIST", b"INFOabc"), chunk(b"data", PCM)),  # odd chunk with its pad byte, skipped
        riff(chunk(b"data", PCM), fmt()),  # data before fmt
        riff(fmt(), chunk(b"data", PCM), size=0),  # the RIFF size is not checked
        riff(fmt(), chunk(b"data", PCM), fmt(rate=16000)),  # reading stops after fmt and data
    ],
    ids=["plain", "extensible", "fmt18", "odd-chunk", "data-first", "riff-size-0", "stops"],
)
def test_read_wav_reads_files_written_by_hand(tmp_path, content):
    path = tmp_path / "hand.wav"
    path.write_bytes(content)
    samples, rate = read_wav(path)
    assert rate == 8000 and samples.dtype == torch.float32
    np.testing.assert_array_equal(samples.numpy(), PCM_VALUES)


def test_read_wav_returns_contiguous_channels(tmp_path):
    path = tmp_path / "stereo.wav"
    path.write_bytes(riff(fmt(channels=2), chunk(b"data", PCM)))  # frames (1000, -1000), (0, 32767)
    samples, _ = read_wav(path)
    assert samples.is_contiguous()
    np.testing.assert_array_equal(samples.numpy(), np.array([[1000, 0], [-1000, 32767]]) / 32768)


def wave_file(path, width: int) -> bytes:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(width)
        f.setframerate(8000)
        f.writeframes(bytes(width * 10))
    return path.read_bytes()


@pytest.mark.parametrize(
    "name, make, match",
    [
        ("eight_bit.wav", lambda p: wave_file(p, 1), "8-bit samples; read_wav reads uncompressed 16-bit PCM"),
        ("24_bit.wav", lambda p: wave_file(p, 3), "24-bit samples; read_wav reads uncompressed 16-bit PCM"),
        ("32_bit.wav", lambda p: wave_file(p, 4), "32-bit samples"),
        ("float.wav", lambda p: riff(fmt(3, bits=32), chunk(b"data", bytes(40))), r"floating-point samples \(format"),
        ("ext_float.wav", lambda p: riff(extensible(3, bits=32), chunk(b"data", bytes(40))), "floating-point"),
        ("ext_24.wav", lambda p: riff(extensible(1, bits=24), chunk(b"data", bytes(30))), "24-bit samples"),
        (
            "ext_short.wav",  # an extensible tag without the 22 bytes that say which format
            lambda p: riff(fmt(0xFFFE, extra=b"\x00\x00"), chunk(b"data", PCM)),
            "malformed extensible fmt chunk: 18 bytes",
        ),
        (
            "ext_guid.wav",  # the PCM tag, but not the rest of the PCM GUID
            lambda p: riff(extensible(1, tail=bytes(14)), chunk(b"data", PCM)),
            "extensible format whose sub-format GUID 0100(00)+ is not PCM",
        ),
        ("mu_law.wav", lambda p: riff(fmt(7, bits=8), chunk(b"data", bytes(10))), "mu-law samples"),
        ("adpcm.wav", lambda p: riff(fmt(2, bits=4), chunk(b"data", bytes(10))), "compressed samples"),
        ("text.wav", lambda p: b"hello, this is not audio", "not a RIFF/WAVE file"),
        ("empty.wav", lambda p: b"", "truncated WAV header"),
        ("header.wav", lambda p: riff(fmt(), chunk(b"data", bytes(20)))[:30], "truncated or malformed WAV file"),
        ("no_fmt.wav", lambda p: b"RIFF\x04\x00\x00\x00WAVE", "fmt chunk missing"),
        ("no_data.wav", lambda p: riff(fmt()), "data chunk missing"),
        ("data.wav", lambda p: riff(fmt(), chunk(b"data", bytes(20)))[:-3], "truncated WAV data"),
        ("huge.wav", lambda p: riff(fmt(2), chunk(b"data", bytes(8), declared=2**31)), "truncated WAV data"),
        ("huge_list.wav", lambda p: riff(fmt(), chunk(b"LIST", b"abcd", 0x7FFFFFF0), chunk(b"data", PCM)), "LIST"),
        ("no_pad.wav", lambda p: riff(fmt(), chunk(b"LIST", b"abc", pad=False), chunk(b"data", PCM)), "malformed"),
        ("rate0.wav", lambda p: riff(fmt(rate=0), chunk(b"data", PCM)), "sample rate 0"),
        ("rate_big.wav", lambda p: riff(fmt(rate=768_001), chunk(b"data", PCM)), "sample rate 768001"),
        (
            "rate_max.wav",  # the largest 32-bit rate, its byte rate wrapped to 32 bits too
            lambda p: riff(fmt(rate=2**32 - 1, byte_rate=2**32 - 2), chunk(b"data", PCM)),
            "sample rate 4294967295",
        ),
        ("byte_rate.wav", lambda p: riff(fmt(byte_rate=12345), chunk(b"data", PCM)), "12345 bytes per second"),
        ("block.wav", lambda p: riff(fmt(block=4), chunk(b"data", PCM)), "4 bytes per frame"),
        ("two_fmt.wav", lambda p: riff(fmt(), fmt(channels=2), chunk(b"data", PCM)), "a second fmt chunk"),
        (
            "two_data.wav",  # Python's wave would read the first, a loop keeping the last the second
            lambda p: riff(chunk(b"data", PCM), chunk(b"data", PCM[:4]), fmt()),
            "a second data chunk, at byte 28",
        ),
        ("channels0.wav", lambda p: riff(fmt(channels=0), chunk(b"data", PCM)), "0 channels"),
        ("partial.wav", lambda p: riff(fmt(channels=2), chunk(b"data", PCM + b"\x01\x02")), "no whole number"),
        # what a streaming recorder leaves when it never fills in the sizes
        ("stream0.wav", lambda p: riff(fmt(), chunk(b"data", PCM, declared=0)), "declares 0 bytes"),
        ("streamFF.wav", lambda p: riff(fmt(), chunk(b"data", PCM, 2**32 - 1), size=2**32 - 1), "never set the size"),
    ],
)
def test_read_wav_refuses_other_files_naming_the_file(tmp_path, name, make, match):
    path = tmp_path / name
    content = make(path)
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        read_wav(path)
    message = str(info.value)
    assert str(path) in message, "the error names the file"
    assert "read_wav reads uncompressed 16-bit PCM" in message and "ffmpeg" in message, "and what it reads"


def test_read_wav_of_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "nowhere.wav")


def test_read_wav_refuses_what_is_not_a_regular_file(tmp_path):
    with pytest.raises(ValueError, match="not a regular file") as info:
        read_wav(tmp_path)  # a directory
    assert str(tmp_path) in str(info.value)
    if hasattr(os, "mkfifo"):  # opening a pipe would wait for a writer: refused without opening
        os.mkfifo(tmp_path / "pipe.wav")
        with pytest.raises(ValueError, match="not a regular file"):
            read_wav(tmp_path / "pipe.wav")


def test_read_wav_accepts_the_highest_sample_rate(tmp_path):
    path = tmp_path / "fast.wav"
    path.write_bytes(riff(fmt(rate=768_000), chunk(b"data", PCM)))
    assert read_wav(path)[1] == 768_000


# ----------------------------------------------------------------------------- dtmf_clips


def test_dtmf_table_is_itu_q23():
    assert DTMF_LOW == (697, 770, 852, 941) and DTMF_HIGH == (1209, 1336, 1477, 1633)
    assert DTMF_KEYPAD == ("123A", "456B", "789C", "*0#D")
    assert dtmf_frequencies("1") == (697, 1209)
    assert dtmf_frequencies("0") == (941, 1336)
    assert dtmf_frequencies("#") == (941, 1477)
    assert dtmf_frequencies("D") == (941, 1633)
    for bad in ["x", "12", "", 5]:
        with pytest.raises(ValueError, match="key: expected one of"):
            dtmf_frequencies(bad)


def test_dtmf_clips_repeat_with_a_seed_and_leave_the_global_generator_alone():
    state = torch.random.get_rng_state()
    a, b = dtmf_clips(5, seed=3), dtmf_clips(5, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())
    assert a.transcripts == b.transcripts and a.tones == b.tones
    assert all(torch.equal(u, v) for u, v in zip(a.waveforms, b.waveforms, strict=True))
    assert torch.equal(a.snr_db, b.snr_db) and torch.equal(a.amplitude, b.amplitude)
    c = dtmf_clips(5, seed=4)
    assert c.transcripts != a.transcripts
    # without a seed, torch's global generator decides
    torch.manual_seed(1)
    d = dtmf_clips(2)
    torch.manual_seed(1)
    assert dtmf_clips(2).transcripts == d.transcripts


def test_dtmf_clips_follow_their_ranges():
    rate = 8000
    clips = dtmf_clips(
        40, digits=(2, 4), symbols="12AB", tone_ms=(30, 50), pause_ms=(20, 60), amplitude=(0.2, 0.3), seed=0
    )
    assert len(clips) == 40 and clips.sample_rate == rate
    assert ((clips.snr_db >= 10) & (clips.snr_db <= 30)).all()
    assert ((clips.amplitude >= 0.2) & (clips.amplitude <= 0.3)).all()
    for wave_, text, spans in zip(clips.waveforms, clips.transcripts, clips.tones, strict=True):
        assert wave_.dtype == torch.float32 and wave_.dim() == 1
        assert 2 <= len(text) <= 4 and set(text) <= set("12AB") and len(spans) == len(text)
        starts = [0] + [stop for _, stop in spans]
        pauses = [start - previous for (start, _), previous in zip(spans, starts, strict=False)]
        pauses.append(len(wave_) - spans[-1][1])  # the pause after the last tone
        assert all(round(0.030 * rate) <= stop - start <= round(0.050 * rate) for start, stop in spans)
        assert all(round(0.020 * rate) <= p <= round(0.060 * rate) for p in pauses)


def test_dtmf_tones_have_the_keys_frequencies_and_silence_between():
    rate = 8000
    clips = dtmf_clips(3, digits=(4, 4), tone_ms=(200, 200), snr_db=None, seed=1)
    assert torch.isinf(clips.snr_db).all()
    for wave_, text, spans, a in zip(clips.waveforms, clips.transcripts, clips.tones, clips.amplitude, strict=True):
        assert wave_.abs().max() <= a + 1e-6  # the two sines of amplitude a/2 never exceed a
        silent = torch.ones(len(wave_), dtype=torch.bool)
        for (start, stop), key in zip(spans, text, strict=True):
            silent[start:stop] = False
            tone = wave_[start:stop].double().numpy()
            spectrum = np.abs(np.fft.rfft(tone))  # 1600 samples: bins 5 Hz apart
            freqs = np.fft.rfftfreq(len(tone), 1 / rate)
            low_band, high_band = freqs < 1100, freqs >= 1100
            low, high = dtmf_frequencies(key)
            assert abs(freqs[low_band][spectrum[low_band].argmax()] - low) <= 5
            assert abs(freqs[high_band][spectrum[high_band].argmax()] - high) <= 5
        assert (wave_[silent] == 0).all(), "without noise the pauses are silent"


@pytest.mark.parametrize("snr", [0.0, 20.0])
def test_dtmf_noise_has_the_requested_snr_during_the_tones(snr):
    clips = dtmf_clips(20, digits=(3, 3), tone_ms=(200, 200), pause_ms=(400, 400), snr_db=(snr, snr), seed=2)
    ratios = []
    for wave_, spans in zip(clips.waveforms, clips.tones, strict=True):
        x = wave_.double()
        noise = x[: spans[0][0]].pow(2).mean()  # the leading pause holds noise only
        during = torch.cat([x[a:b] for a, b in spans]).pow(2).mean()  # tone plus independent noise
        ratios.append(((during - noise) / noise).item())  # measured tone power over noise power
    assert 10 * math.log10(np.mean(ratios)) == pytest.approx(snr, abs=0.3)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n": 0}, ValueError, "n: expected an integer >= 1, got 0"),
        ({"sample_rate": 2000}, ValueError, "sample_rate: expected an integer >= 4000"),
        ({"digits": (0, 3)}, ValueError, r"digits\[0\]: expected an integer >= 1"),
        ({"digits": (5, 3)}, ValueError, "digits: expected min <= max"),
        ({"digits": 3}, TypeError, "digits: expected a pair"),
        ({"symbols": ""}, TypeError, "symbols: expected a non-empty str"),
        ({"symbols": "00"}, ValueError, "symbols: expected each key once"),
        ({"symbols": "0x"}, ValueError, "key: expected one of"),
        ({"tone_ms": (0, 10)}, ValueError, r"tone_ms\[0\]: expected a number > 0"),
        ({"pause_ms": (30, 20)}, ValueError, "pause_ms: expected min <= max"),
        ({"pause_ms": (10,)}, TypeError, "pause_ms: expected a pair"),
        ({"amplitude": (0.5, 1.5)}, ValueError, r"amplitude: expected values in \(0, 1\]"),
        ({"snr_db": (float("nan"), 10)}, ValueError, r"snr_db\[0\]"),
        (
            {"snr_db": (10, float("inf"))},
            ValueError,
            r"snr_db\[1\]: expected a finite number.*snr_db=None adds no noise",
        ),
        ({"seed": -1}, ValueError, "seed: expected an integer >= 0"),
        ({"seed": 1.5}, TypeError, "seed: expected an integer"),
    ],
)
def test_dtmf_clips_reject_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        dtmf_clips(**{"n": 2, **kwargs})


# ----------------------------------------------------------------------------- log_spectrogram


def test_log_spectrogram_shapes_and_batches():
    torch.manual_seed(0)
    x = torch.randn(3, 1000)
    spec = log_spectrogram(x, n_fft=256, hop_length=160)
    assert spec.shape == (3, 1 + (1000 - 256) // 160, 129)  # (B, T, F), no frame past the end
    for b in range(3):
        torch.testing.assert_close(log_spectrogram(x[b], n_fft=256, hop_length=160), spec[b])


def test_log_spectrogram_of_a_sine_peaks_at_its_frequency():
    rate, n_fft = 8000, 256
    t = torch.arange(4000) / rate
    spec = log_spectrogram(torch.sin(2 * math.pi * 1000 * t), n_fft=n_fft, hop_length=128)
    assert (spec.argmax(dim=1) == round(1000 * n_fft / rate)).all()  # bin 32 = 1000 Hz


def test_log_spectrogram_frame_t_covers_samples_t_hop_to_t_hop_plus_n_fft_minus_1():
    n_fft, hop, at = 64, 16, 100
    x = torch.zeros(400, dtype=torch.float64)
    x[at] = 1.0  # an impulse: frame t holds it times the window, w[at - t hop], at every frequency
    spec = log_spectrogram(x, n_fft=n_fft, hop_length=hop)  # (T, F)
    window = torch.hann_window(n_fft, dtype=torch.float64)
    for t in range(spec.shape[0]):
        n = at - t * hop
        weight = window[n] if 0 <= n < n_fft else 0.0
        torch.testing.assert_close(spec[t], torch.full_like(spec[t], math.log(weight**2 + 1e-10)))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_log_spectrogram_computes_half_precision_in_float32(dtype):
    x = torch.randn(2, 600)
    spec = log_spectrogram(x.to(dtype))
    assert spec.dtype == torch.float32
    torch.testing.assert_close(spec, log_spectrogram(x.to(dtype).float()))


@pytest.mark.parametrize(
    "x, kwargs, error, match",
    [
        (torch.zeros(100), {}, ValueError, r"waveform: expected at least n_fft=256 samples"),
        (torch.zeros(1, 2, 300), {}, ValueError, "waveform: expected a 1-D or 2-D tensor"),
        (torch.zeros(300, dtype=torch.long), {}, TypeError, "waveform: expected a floating-point"),
        (torch.zeros(300), {"hop_length": 0}, ValueError, "hop_length: expected an integer >= 1"),
        (torch.zeros(300), {"n_fft": 1}, ValueError, "n_fft: expected an integer >= 2"),
    ],
)
def test_log_spectrogram_rejects_bad_input(x, kwargs, error, match):
    with pytest.raises(error, match=match):
        log_spectrogram(x, **kwargs)
