"""chunk / stream_chunks: window placement for every last-chunk policy, and bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from lyrebird.encoders import AudioError, chunk, stream_chunks


def brute_starts(n: int, clip: int, hop: int, last: str) -> list[int]:
    """Independent oracle: walk the hop grid sample by sample."""
    if n <= clip:
        return [0]
    starts, s = [], 0
    while s + clip <= n:
        starts.append(s)
        s += hop
    covered = starts[-1] + clip
    if covered < n:
        if last == "shift":
            starts.append(n - clip)
        elif last == "pad" and s < n:
            starts.append(s)
    return starts


@pytest.mark.parametrize("last", ["shift", "pad", "drop"])
def test_starts_match_brute_force(last):
    rng = np.random.default_rng(0)
    sr = 100
    for _ in range(200):
        n = int(rng.integers(1, 3000))
        clip_s = float(rng.integers(1, 12))
        hop_s = float(rng.choice([clip_s, clip_s / 2, clip_s * 1.5, 1.0]))
        wav = rng.standard_normal(n).astype(np.float32)
        ch = chunk(wav, sr, clip_s, hop_s, last=last)
        clip, hop = int(clip_s * sr), int(hop_s * sr)
        exp = brute_starts(n, clip, hop, last)
        np.testing.assert_array_equal(np.round(ch.starts_s * sr).astype(int), exp)
        for i, s in enumerate(exp):  # contents are the source samples, zero-padded
            real = wav[s : s + clip]
            assert ch.valid[i] == len(real)
            np.testing.assert_array_equal(ch.audio[i, : len(real)], real)
            assert not ch.audio[i, len(real) :].any()


def test_policies_on_a_concrete_track():
    sr, wav = 10, np.arange(95, dtype=np.float32) + 1  # 9.5 s
    shift = chunk(wav, sr, 3.0, 3.0)
    assert list(shift.starts_s) == [0.0, 3.0, 6.0, 6.5] and shift.valid.tolist() == [30] * 4
    assert shift.ends_s[-1] == pytest.approx(9.5)  # the tail is covered by real audio
    pad = chunk(wav, sr, 3.0, 3.0, last="pad")
    assert list(pad.starts_s) == [0.0, 3.0, 6.0, 9.0] and pad.valid[-1] == 5
    drop = chunk(wav, sr, 3.0, 3.0, last="drop")
    assert list(drop.starts_s) == [0.0, 3.0, 6.0]
    short = chunk(wav[:7], sr, 3.0, last="drop")  # shorter than a clip: always one chunk
    assert len(short) == 1 and short.valid[0] == 7


def test_chunk_rejects_bad_arguments():
    x = np.zeros(100, np.float32)
    with pytest.raises(ValueError, match="clip_s"):
        chunk(x, 10, 0.0)
    with pytest.raises(ValueError, match="hop_s"):
        chunk(x, 10, 1.0, -1.0)
    with pytest.raises(ValueError, match="last"):
        chunk(x, 10, 1.0, last="wrap")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mono"):
        chunk(np.zeros((2, 100), np.float32), 10, 1.0)
    with pytest.raises(AudioError, match="empty"):
        chunk(np.zeros(0, np.float32), 10, 1.0)


@pytest.mark.parametrize("last", ["shift", "pad", "drop"])
@pytest.mark.parametrize("hop_s", [10.0, 5.0, 12.5])
def test_stream_chunks_equals_in_memory_chunks(tmp_path, last, hop_s):
    sr = 8000
    wav = (np.random.default_rng(1).standard_normal(int(sr * 47.3)) * 0.1).astype(np.float32)
    p = tmp_path / "x.wav"
    sf.write(p, wav, sr, subtype="FLOAT")
    ref = chunk(wav, sr, 10.0, hop_s, last=last)
    got = list(stream_chunks(p, sr, 10.0, hop_s, batch=3, last=last))
    assert all(len(b) <= 3 for b in got)
    audio = np.concatenate([b.audio for b in got])
    np.testing.assert_array_equal(np.concatenate([b.starts_s for b in got]), ref.starts_s)
    np.testing.assert_array_equal(np.concatenate([b.valid for b in got]), ref.valid)
    np.testing.assert_array_equal(audio, ref.audio)


def test_stream_chunks_short_file_gives_one_padded_chunk(tmp_path):
    p = tmp_path / "s.wav"
    sf.write(p, np.full(800, 0.1, np.float32), 8000, subtype="FLOAT")
    (b,) = list(stream_chunks(p, 8000, 10.0))
    assert len(b) == 1 and b.valid[0] == 800 and b.audio.shape == (1, 80000)


def _peak_bytes(path, sr) -> tuple[int, int]:
    tracemalloc.start()
    n = sum(len(b) for b in stream_chunks(path, sr, 10.0, 5.0, batch=4))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return n, peak


def test_stream_chunks_memory_is_bounded_on_a_long_track(tmp_path):
    sr = 16000
    rng = np.random.default_rng(2)
    peaks = {}
    for minutes in (3, 12):
        p = tmp_path / f"long{minutes}.flac"
        with sf.SoundFile(p, "w", sr, 1, subtype="PCM_16") as f:  # written in pieces
            for _ in range(minutes):
                f.write((rng.standard_normal(sr * 60) * 0.05).astype(np.float32))
        n, peaks[minutes] = _peak_bytes(p, sr)
        assert n == (minutes * 60 - 10) // 5 + 1
    full_bytes = sr * 60 * 12 * 4
    assert peaks[12] < full_bytes / 4, peaks  # never holds the whole track
    assert peaks[12] < 1.25 * peaks[3], peaks  # 4x the audio, about the same memory
