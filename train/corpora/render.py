"""In-process General-MIDI rendering with FluidSynth (through pyfluidsynth).

The fluidsynth command line can hang, or write an unbounded WAV, on some MIDI files. This module
never goes through MIDI files or the CLI: it drives one ``fluid_synth_t`` directly, scheduling
note events sample-accurately and pulling exactly ``duration_s`` of audio, so every render has a
fixed length and a bounded cost. Output is float32 (no dither), so equal inputs give
bit-identical audio in any process.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lyrebird.core.atomic import replaced_on_success

SOUNDFONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/sounds/sf2/MuseScore_General.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
)
"""Where Debian's GM soundfonts land (``fluid-soundfont-gm`` first)."""

_BLOCK = 64  # fluidsynth's internal block size (samples); renders start on a block boundary


class RenderError(RuntimeError):
    """The synthesiser or its soundfont is unavailable, or a render request is invalid."""


@dataclass(frozen=True)
class Note:
    """One note to play. Times in seconds from the start of the piece."""

    onset_s: float
    duration_s: float
    pitch: int  # MIDI key 0..127 (drum sound on the drum channel)
    velocity: int  # 1..127
    channel: int  # 0..15; 9 is the GM drum channel


@dataclass(frozen=True)
class RenderConfig:
    """Synth settings shared by every clip of a corpus."""

    sample_rate: int = 22050  # Hz of the rendered audio
    soundfont: str | None = None  # path; None → $LYREBIRD_SOUNDFONT or a Debian default
    gain: float = 0.3  # fluidsynth master gain (linear)
    # fluidsynth's own reverb/chorus keep state across system_reset (renders would depend on
    # earlier ones), so they stay off; :func:`add_room` adds a deterministic room instead.
    polyphony: int = 256  # voices
    max_notes: int = 50_000  # a render request with more notes is refused


def find_soundfont(explicit: str | os.PathLike | None = None) -> Path:
    """Path of a GM soundfont: ``explicit``, ``$LYREBIRD_SOUNDFONT``, else a Debian default.

    Raises:
        RenderError: none found (install one: ``apt-get install fluid-soundfont-gm``).
    """
    for cand in (explicit, os.environ.get("LYREBIRD_SOUNDFONT"), *SOUNDFONT_CANDIDATES):
        if cand and Path(cand).is_file():
            return Path(cand).resolve()
    if explicit:
        raise RenderError(f"soundfont '{explicit}' not found")
    raise RenderError("no General-MIDI soundfont found; install one with "
                      "`apt-get install fluidsynth fluid-soundfont-gm` or set LYREBIRD_SOUNDFONT")


class Renderer:
    """A FluidSynth instance with one soundfont loaded; renders note lists to mono float32.

    Not thread-safe. ``render`` kills every voice and resets the synth first, so earlier renders
    never leak into a later one; FluidSynth's voice bookkeeping still lets them change the
    result by float rounding (about 1e-4). For bit-identical output make a fresh Renderer per
    unit of work: it is cheap (about 20 ms; samples load on demand), and a fresh instance
    given the same calls gives the same samples in any process.
    """

    def __init__(self, config: RenderConfig = RenderConfig()):
        try:
            # pyfluidsynth prints where it found the library when $CI is set; that line would
            # corrupt `--json` output on stdout, so it goes nowhere.
            with contextlib.redirect_stdout(io.StringIO()):
                import fluidsynth
        except (ImportError, OSError) as err:  # OSError: the libfluidsynth shared library
            raise RenderError(f"FluidSynth is unavailable ({err}): install the synthesiser and a "
                              "General-MIDI soundfont with `apt-get install fluidsynth "
                              "fluid-soundfont-gm` (and `pip install pyfluidsynth`)") from err
        self.config = config
        self.soundfont = find_soundfont(config.soundfont)
        self.sr = int(config.sample_rate)
        self._synth = fluidsynth.Synth(gain=config.gain, samplerate=float(self.sr))
        for key, val in (("synth.reverb.active", 0), ("synth.chorus.active", 0),
                         ("synth.polyphony", config.polyphony), ("synth.cpu-cores", 1),
                         ("synth.dynamic-sample-loading", 1)):
            self._synth.setting(key, val)
        self._sfid = self._synth.sfload(str(self.soundfont))
        if self._sfid < 0:
            raise RenderError(f"fluidsynth could not load soundfont '{self.soundfont}'")
        write = fluidsynth._fl.fluid_synth_write_float
        write.restype = ctypes.c_int
        write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                          ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        self._write = write
        self._written = 0  # samples pulled since creation (for block alignment)

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free the synthesiser."""
        if getattr(self, "_synth", None) is not None:
            self._synth.delete()
            self._synth = None

    def _pull(self, n: int) -> np.ndarray:
        """Render ``n`` samples; returns ``(n,)`` float32 mono (mean of left and right)."""
        left = np.zeros(n, np.float32)
        right = np.zeros(n, np.float32)
        if n:
            self._write(self._synth.synth, n, left.ctypes.data, 0, 1, right.ctypes.data, 0, 1)
            self._written += n
        return (left + right) * np.float32(0.5)

    def _reset(self) -> None:
        """Silence everything, reset controllers and effects, and re-align to a block.

        ``system_reset`` only releases notes (long release tails would leak into the next
        render), so voices are killed with all-sounds-off and rendered out until none is left.
        """
        for ch in range(16):
            self._synth.all_sounds_off(ch)
        self._synth.system_reset()
        for _ in range(400):  # at most ~18 s of tails at 22.05 kHz
            if self._synth.get_active_voice_count() == 0:
                break
            self._pull(1024)
        flush = self.sr // 20
        flush += (-(self._written + flush)) % _BLOCK
        self._pull(flush)

    def render(self, notes: Sequence[Note], programs: Mapping[int, tuple[int, int]],
               duration_s: float, *, start_s: float = 0.0, preroll_s: float = 1.0,
               volumes: Mapping[int, int] | None = None,
               room: tuple[float, float, int] | None = None) -> np.ndarray:
        """Play ``notes`` and return exactly ``duration_s`` seconds from ``start_s``.

        Args:
            notes: the events; those ending before ``start_s - preroll_s`` or starting after
                the window are ignored.
            programs: channel → (bank, preset); bank 128 selects a drum kit.
            duration_s: output length, seconds (> 0).
            start_s: where the output begins in the piece, seconds.
            preroll_s: seconds rendered before ``start_s`` and discarded, so notes already
                sounding at ``start_s`` are heard naturally.
            volumes: channel → MIDI CC7 volume (0..127); default 100.
            room: ``(rt60_s, wet, seed)`` for :func:`add_room`, applied before the pre-roll
                is cut so the window starts with the room already ringing; None = dry.

        Returns:
            ``(round(duration_s * sample_rate),)`` float32 mono.
        """
        if not duration_s > 0 or not math.isfinite(duration_s):
            raise RenderError(f"duration_s must be a positive number of seconds, got {duration_s}")
        if len(notes) > self.config.max_notes:
            raise RenderError(f"{len(notes)} notes exceed max_notes={self.config.max_notes}")
        self._reset()
        synth = self._synth
        for ch, (bank, preset) in sorted(programs.items()):
            if synth.program_select(ch, self._sfid, bank, preset) != 0 and bank != 128:
                raise RenderError(f"soundfont has no preset bank {bank} program {preset}")
            synth.cc(ch, 7, int((volumes or {}).get(ch, 100)))
        pre = min(preroll_s, start_s)
        t0 = start_s - pre
        total = int(round(duration_s * self.sr)) + int(round(pre * self.sr))
        events: list[tuple[int, int, int, int, int]] = []  # (sample, kind, ch, key, vel)
        for n in notes:
            on = int(round((n.onset_s - t0) * self.sr))
            off = int(round((n.onset_s + n.duration_s - t0) * self.sr))
            if off <= 0 or on >= total or not 0 <= n.pitch <= 127:
                continue
            on = max(on, 0)
            events.append((on, 1, n.channel, n.pitch, max(1, min(127, int(n.velocity)))))
            if off < total:
                events.append((max(off, on + 1), 0, n.channel, n.pitch, 0))
        events.sort()  # at equal times note-offs (kind 0) go first
        out = []
        pos = 0
        for at, kind, ch, key, vel in events:
            if at > pos:
                out.append(self._pull(at - pos))
                pos = at
            if kind:
                synth.noteon(ch, key, vel)
            else:
                synth.noteoff(ch, key)
        out.append(self._pull(total - pos))
        wav = np.concatenate(out)
        if room is not None:
            wav = add_room(wav, self.sr, *room)
        return np.ascontiguousarray(wav[int(round(pre * self.sr)):][: int(round(duration_s * self.sr))])


def set_level(wav: np.ndarray, target_dbfs: float, peak: float = 0.98) -> tuple[np.ndarray, float]:
    """Scale ``(T,)`` audio to an RMS of ``target_dbfs`` dB full scale, limited so |x| ≤ ``peak``.

    Returns the scaled float32 audio and the gain applied in dB. Silent input is returned as is.
    """
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if len(wav) else 0.0
    top = float(np.abs(wav).max()) if len(wav) else 0.0
    if rms <= 1e-9 or top <= 0:
        return wav.astype(np.float32), 0.0
    gain = min(10 ** (target_dbfs / 20) / rms, peak / top)
    return (wav * gain).astype(np.float32), 20 * math.log10(gain)


def add_room(wav: np.ndarray, sr: int, rt60_s: float, wet: float, seed: int) -> np.ndarray:
    """Add a synthetic room to ``(T,)`` audio: convolution with decaying filtered noise.

    Args:
        wav: mono float32 audio at ``sr`` Hz.
        rt60_s: reverberation time (seconds for a 60 dB decay), e.g. 0.3 (room) … 2.5 (church).
        wet: level of the reverberant part relative to the dry signal (0 = dry).
        seed: seeds the noise, so the same arguments give identical output.

    Returns:
        ``(T,)`` float32, the same length as ``wav``.
    """
    if wet <= 0 or rt60_s <= 0 or len(wav) == 0:
        return wav.astype(np.float32)
    from scipy.signal import fftconvolve, lfilter

    rng = np.random.default_rng(seed)
    n = int(min(rt60_s * 1.2, 4.0) * sr)
    t = np.arange(n) / sr
    noise = rng.standard_normal(n) * np.exp(-6.91 * t / rt60_s)  # -60 dB at rt60
    noise = lfilter([0.35], [1.0, -0.65], noise)  # darker tail, as in real rooms
    noise[: int(0.01 * sr)] = 0.0  # 10 ms pre-delay
    noise /= np.sqrt(np.sum(noise ** 2)) + 1e-12
    tail = fftconvolve(wav.astype(np.float64), noise)[: len(wav)]
    return (wav + wet * tail).astype(np.float32)


def rms_dbfs(wav: np.ndarray) -> float:
    """RMS level of ``(T,)`` audio in dB full scale (-inf for silence)."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if len(wav) else 0.0
    return 20 * math.log10(rms) if rms > 0 else float("-inf")


def write_flac(path: str | os.PathLike, wav: np.ndarray, sr: int) -> None:
    """Write ``(T,)`` float32 audio as 16-bit mono FLAC atomically (temp file, then rename)."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_on_success(path) as tmp:
        sf.write(tmp, np.clip(wav, -1.0, 1.0), sr, format="FLAC", subtype="PCM_16")
