"""Tracker modules (.mod/.xm/.it/.s3m): sniffing, their text, and rendering with openmpt123.

A module's text is its song title, its song message (IT) and the names of its samples and
instruments, which composers traditionally use for credits and notes. :func:`module_text`
parses those from the header (no external tool). :func:`render_module` renders the song once
(``--repeat 0``), capped at ``max_s`` seconds, through Debian's ``openmpt123`` under a time-out,
without dither and without IT instruments' random variation (:func:`derandomise`), and checks
that two renders are the same bytes.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from dataclasses import dataclass, field

import numpy as np

from .text_sources import clean_text, decode_text

MODULE_EXTENSIONS = (".mod", ".xm", ".it", ".s3m")
_MOD_TAGS = {b"M.K.", b"M!K!", b"FLT4", b"FLT8", b"4CHN", b"6CHN", b"8CHN", b"CD81", b"OKTA",
             b"OCTA", b"TDZ4", b"M&K!", b"N.T."}


def sniff(head: bytes) -> str | None:
    """The format of a file from its first 1,084+ bytes: ``ogg``, ``flac``, ``wav``, ``mp3``,
    ``xm``, ``it``, ``s3m``, ``mod`` or ``zip``; None for anything else."""
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"ID3") or (len(head) > 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
                                   and head[1] & 0x06):
        return "mp3"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"Extended Module:"):
        return "xm"
    if head.startswith(b"IMPM"):
        return "it"
    if len(head) >= 48 and head[44:48] == b"SCRM":
        return "s3m"
    if len(head) >= 1084 and (head[1080:1084] in _MOD_TAGS
                              or (head[1081:1084] == b"CHN" and head[1080:1081].isdigit())
                              or (head[1082:1084] in (b"CH", b"CN")
                                  and head[1080:1082].isdigit())):
        return "mod"
    return None


def sniff_file(path: str | os.PathLike) -> str | None:
    """:func:`sniff` on the first bytes of ``path`` (None when unreadable)."""
    try:
        with open(path, "rb") as f:
            return sniff(f.read(1100))
    except OSError:
        return None


@dataclass
class ModuleText:
    """The text inside a module: title, message and sample / instrument names."""

    format: str
    title: str | None = None
    message: str | None = None
    names: list[str] = field(default_factory=list)

    def joined(self) -> str:
        """Title, message and names as one line of text (empty parts left out)."""
        return " | ".join(x for x in (self.title, self.message, " / ".join(self.names)) if x)


def _str(data: bytes) -> str:
    return clean_text(decode_text(data.replace(b"\x00", b" ")))


def _names(raw: list[bytes]) -> list[str]:
    out = []
    for r in raw:
        s = _str(r)
        if s and any(c.isalnum() for c in s) and s not in out:
            out.append(s)
    return out


def module_text(data: bytes, fmt: str | None = None) -> ModuleText:
    """Parse title, message and sample / instrument names from a module's bytes.

    Raises:
        ValueError: the bytes are not a module of a known format, or the header is cut short.
    """
    fmt = fmt or sniff(data[:1100])
    try:
        if fmt == "mod":
            return ModuleText("mod", _str(data[0:20]) or None,
                              names=_names([data[20 + 30 * i:42 + 30 * i] for i in range(31)]))
        if fmt == "xm":
            return _xm_text(data)
        if fmt == "s3m":
            return _s3m_text(data)
        if fmt == "it":
            return _it_text(data)
    except (struct.error, IndexError) as err:
        raise ValueError(f"truncated {fmt} header ({err})") from err
    raise ValueError("not a .mod/.xm/.it/.s3m module")


def _xm_text(data: bytes) -> ModuleText:
    title = _str(data[17:37]) or None
    header_size = struct.unpack_from("<I", data, 60)[0]
    n_patterns, n_instruments = struct.unpack_from("<HH", data, 70)
    pos = 60 + header_size
    for _ in range(n_patterns):
        ph_len, _pack, _rows, size = struct.unpack_from("<IBHH", data, pos)
        pos += ph_len + size
    names: list[bytes] = []
    for _ in range(min(n_instruments, 256)):
        ins_size = struct.unpack_from("<I", data, pos)[0]
        names.append(data[pos + 4:pos + 26])
        n_samples = struct.unpack_from("<H", data, pos + 27)[0] if ins_size >= 29 else 0
        sh_size = struct.unpack_from("<I", data, pos + 29)[0] if n_samples else 0
        pos += ins_size
        total = 0
        for _s in range(n_samples):
            length = struct.unpack_from("<I", data, pos)[0]
            names.append(data[pos + 18:pos + 40])
            total += length
            pos += sh_size
        pos += total
        if pos > len(data):
            break
    return ModuleText("xm", title, names=_names(names))


def _s3m_text(data: bytes) -> ModuleText:
    title = _str(data[0:28]) or None
    n_orders, n_ins = struct.unpack_from("<HH", data, 32)
    names = []
    for i in range(min(n_ins, 256)):
        para = struct.unpack_from("<H", data, 96 + n_orders + 2 * i)[0] * 16
        names.append(data[para + 48:para + 76])
    return ModuleText("s3m", title, names=_names(names))


def _it_text(data: bytes) -> ModuleText:
    title = _str(data[4:30]) or None
    n_orders, n_ins, n_smp = struct.unpack_from("<HHH", data, 32)
    special = struct.unpack_from("<H", data, 46)[0]
    message = None
    if special & 1:
        length, offset = struct.unpack_from("<HI", data, 54)
        if 0 < length and offset + length <= len(data):
            message = clean_text(decode_text(data[offset:offset + length].replace(b"\r", b"\n")
                                             .replace(b"\x00", b""))) or None
    base = 192 + n_orders
    names = []
    for i in range(min(n_ins, 256)):
        off = struct.unpack_from("<I", data, base + 4 * i)[0]
        names.append(data[off + 32:off + 58])
    for i in range(min(n_smp, 256)):
        off = struct.unpack_from("<I", data, base + 4 * n_ins + 4 * i)[0]
        names.append(data[off + 20:off + 46])
    return ModuleText("it", title, message, _names(names))


class RenderError(RuntimeError):
    """A module could not be rendered (bad file, renderer error, time-out, silence)."""


def openmpt123() -> str | None:
    """Path of the ``openmpt123`` program, or None when it is not installed."""
    return shutil.which("openmpt123")


def derandomise(data: bytes) -> bytes:
    """The module with its random instrument variation switched off (IT ``RV``/``RP``: random
    volume and panning per note). libopenmpt seeds its random generator anew on every run, so
    such modules would render differently each time. Other formats are returned unchanged."""
    if not data.startswith(b"IMPM") or len(data) < 192:
        return data
    out = bytearray(data)
    try:
        n_orders, n_ins = struct.unpack_from("<HH", data, 32)
        for off in struct.unpack_from(f"<{min(n_ins, 256)}I", data, 192 + n_orders):
            if data[off:off + 4] == b"IMPI" and off + 0x1C <= len(data):
                out[off + 0x1A] = out[off + 0x1B] = 0
    except struct.error:
        return data
    return bytes(out)


def _render_pcm(exe: str, src: str, sample_rate: int, max_s: float, timeout_s: float
                ) -> np.ndarray:
    cmd = [exe, "--batch", "--quiet", "--stdout", "--no-float", "--samplerate",
           str(sample_rate), "--channels", "2", "--dither", "0", "--repeat", "0",
           "--end-time", str(int(max_s)), "--", src]
    try:
        res = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as err:
        raise RenderError(f"openmpt123 timed out after {timeout_s:.0f} s") from err
    if res.returncode != 0:
        msg = res.stderr.decode("utf-8", "replace").strip().splitlines()
        msg = [m for m in msg if not m.startswith(("openmpt123 v", "Copyright", "Usage"))]
        raise RenderError(f"openmpt123 failed (exit {res.returncode}): "
                          f"{(msg[-1] if msg else 'no message')[:200]}")
    pcm = np.frombuffer(res.stdout[: len(res.stdout) // 4 * 4], dtype="<i2").reshape(-1, 2)
    return pcm[: int(max_s * sample_rate)]


def render_module(src: str | os.PathLike, dst: str | os.PathLike, *, sample_rate: int = 22050,
                  max_s: float = 600.0, timeout_s: float = 120.0,
                  check_deterministic: bool = True) -> float:
    """Render a module once to a 16-bit stereo FLAC ``dst``; returns the duration in seconds.

    Runs ``openmpt123 --batch --stdout`` (raw little-endian 16-bit PCM) with ``--repeat 0``
    (play once, no infinite loops), ``--end-time max_s`` (cap) and ``--dither 0``, under
    ``timeout_s``, on a copy made by :func:`derandomise`. With ``check_deterministic`` it
    renders twice and refuses output that differs (random effects left in the patterns).
    ``dst`` is written by soundfile as FLAC whatever its extension, so callers can write to a
    temporary name.

    Raises:
        RenderError: openmpt123 is missing, fails, times out, renders no or silent audio, or
            renders differently twice.
    """
    import tempfile

    import soundfile as sf

    exe = openmpt123()
    if exe is None:
        raise RenderError("openmpt123 is not installed (Debian package 'openmpt123')")
    data = open(src, "rb").read()
    fixed = derandomise(data)
    with tempfile.TemporaryDirectory(prefix="lyrebird-mod-") as tmp:
        path = str(src)
        if fixed != data:
            path = os.path.join(tmp, "module" + os.path.splitext(str(src))[1])
            with open(path, "wb") as fh:
                fh.write(fixed)
        pcm = _render_pcm(exe, path, sample_rate, max_s, timeout_s)
        if len(pcm) == 0:
            raise RenderError("openmpt123 rendered no audio")
        if not np.any(pcm):
            raise RenderError("openmpt123 rendered only silence")
        if check_deterministic and not np.array_equal(
                pcm, _render_pcm(exe, path, sample_rate, max_s, timeout_s)):
            raise RenderError("two renders differ (random effects); not deterministic")
    sf.write(str(dst), pcm, sample_rate, format="FLAC", subtype="PCM_16")
    return len(pcm) / sample_rate


__all__ = ["MODULE_EXTENSIONS", "ModuleText", "RenderError", "derandomise", "module_text",
           "openmpt123", "render_module", "sniff", "sniff_file"]
