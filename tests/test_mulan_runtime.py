"""``--runtime``: a library searched, extended and served on onnxruntime from an ONNX export
made once and cached by fingerprint; the int8 text tower is query-only; a missing onnxruntime
names the pip extra. Offline, with a tiny random MuLan checkpoint."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from lyrebird.core.atomic import folder_on_success
from lyrebird.index import Library, LibraryError, load_model
from lyrebird.index.caches import TEXT_CACHE
from lyrebird.index.model import text_key
from lyrebird.mulan import AudioTowerConfig, MuLan, MuLanConfig, TextTowerConfig

SR = 16000
QUERIES = ["a calm piano piece", "ein schneller Rocksong", "drums"]


def _cos(a, b) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory, one_thread):
    """The Lyrebird cache (where the export is kept) in a temporary folder."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    with pytest.MonkeyPatch.context() as mp:
        root = tmp_path_factory.mktemp("cache")
        mp.setenv("LYREBIRD_CACHE", str(root))
        yield root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    cfg = MuLanConfig(audio=AudioTowerConfig(encoder="myna:tiny-hybrid", window_s=4.0),
                      text=TextTowerConfig(backbone="random-bert:tiny", n_layers=1, heads=2),
                      dim=16)
    d = tmp_path_factory.mktemp("mulan") / "m"
    MuLan(cfg).eval().save(d)
    return d


def _tone(path, hz: float, seconds: float = 9.0):
    t = np.arange(int(seconds * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * hz * t) + 0.3 * np.sin(2 * np.pi * 2.02 * hz * t)
    sf.write(path, x.astype(np.float32), SR)
    return path


@pytest.fixture(scope="module")
def built_library(checkpoint, tmp_path_factory):
    """Four tones indexed once per module; tests get a copy (``library``), never this one."""
    root = tmp_path_factory.mktemp("lib")
    music = root / "music"
    music.mkdir()
    for hz in (110.0, 440.0, 1500.0, 3000.0):
        _tone(music / f"tone{int(hz)}.wav", hz)
    with Library.create(root / "lib", model=str(checkpoint), segment_s=4.0, hop_s=2.0) as lib:
        assert len(lib.add([music]).added) == 4
    return root


@pytest.fixture
def library(built_library, tmp_path):
    """A private copy of the four-track library and its music folder: a test may add to it."""
    root = tmp_path / "copy"
    shutil.copytree(built_library, root)
    return root / "lib"


def _results(lib: Library) -> tuple[list[list[int]], list[list[float]], list[int]]:
    TEXT_CACHE.clear()  # fp32 ONNX and PyTorch share text-cache keys: make each embed
    hits = [lib.search(q, k=4) for q in QUERIES]
    return ([[h.track_id for h in hs] for hs in hits], [[h.score for h in hs] for hs in hits],
            [h.track_id for h in lib.similar(1, k=3)])


def test_runtime_onnx_serves_the_same_library(library, checkpoint, cache, monkeypatch):
    from lyrebird.mulan.onnx_runtime import OnnxMuLan
    from lyrebird.mulan.runtimes import onnx_cache_dir

    with Library.open(library, readonly=True) as lib:
        ids_t, scores_t, similar_t = _results(lib)
        fp = lib.meta["fingerprint"]
    with Library.open(library, readonly=True, runtime="onnx") as lib:
        ids_o, scores_o, similar_o = _results(lib)
        m = lib.model
    assert isinstance(m, OnnxMuLan) and m.name == str(checkpoint) and m.fingerprint() == fp
    assert (onnx_cache_dir(fp) / "lyrebird_onnx.json").is_file()
    assert ids_o == ids_t and similar_o == similar_t
    assert np.allclose(scores_o, scores_t, atol=2e-3)
    # cached: found by the library's fingerprint, without loading the PyTorch model again
    monkeypatch.setattr(MuLan, "from_dir", lambda *a, **k: pytest.fail("reloaded the model"))
    with Library.open(library, runtime="onnx") as lib:  # and it may write: the same vectors
        rep = lib.add([_tone(library.parent / "music" / "new.wav", 700.0)])
        assert len(rep.added) == 1
        assert _results(lib)[0][0][:1]  # searchable


def test_int8_text_tower_is_query_only(library):
    from lyrebird.mulan.onnx_runtime import OnnxMuLan
    from lyrebird.mulan.runtimes import onnx_cache_dir

    with Library.open(library, readonly=True, runtime="onnx") as lib:
        fp32 = lib.model
        ids32 = [[h.track_id for h in lib.search(q, k=4)] for q in QUERIES]
    with Library.open(library, runtime="onnx-int8") as lib:
        q = lib.model
        assert q.query_only and q.fingerprint() == fp32.fingerprint()  # fp32 audio: same vectors
        # its text vectors are its own: never served from, nor stored as, fp32 ones
        assert text_key(q) != text_key(fp32)
        ids8 = [[h.track_id for h in lib.search(t, k=4)] for t in QUERIES]
        for t in QUERIES:
            assert not np.array_equal(TEXT_CACHE.get((text_key(q), t)),
                                      TEXT_CACHE.get((text_key(fp32), t)))
        with pytest.raises(LibraryError, match="serves queries only"):
            lib.add([library.parent / "music" / "tone440.wav"])
        with pytest.raises(LibraryError, match="serves queries only"):
            lib.remove(1)
    assert [set(x) for x in ids8] == [set(x) for x in ids32]  # the same four tracks
    # an int8 *audio* tower makes other vectors: a library of fp32 vectors refuses it
    both = OnnxMuLan(onnx_cache_dir(fp32.fingerprint()), int8="all")
    with pytest.raises(LibraryError, match="cannot be mixed"):
        Library.open(library, model=both, readonly=True)


def test_serve_and_cli_take_the_runtime(library, tmp_path):
    from lyrebird.cli import main
    from lyrebird.cli.serve import serve_settings
    from lyrebird.ui import LibraryService
    from lyrebird.ui.config import ServeConfig

    settings = serve_settings("127.0.0.1", 0, None, 2, 50, 600.0, False, runtime="onnx-int8")
    assert settings["config"].runtime == "onnx-int8" and ServeConfig().runtime == "torch"
    for verb in ("serve", "demo", "search", "similar"):  # the default is the config's
        opt = next(p for p in main.commands[verb].params if p.name == "runtime")
        assert opt.default == ServeConfig().runtime
    with pytest.raises(ValueError, match="runtime 'tf'"):
        ServeConfig(runtime="tf")
    svc = LibraryService(library, runtime="onnx-int8", allow_add=True)
    assert svc.model.query_only and not svc.allow_add
    assert svc.search("drums", k=2)
    svc = LibraryService(library, runtime="onnx")
    assert svc.allow_add and not svc.model.query_only
    res = CliRunner().invoke(main, ["search", str(library), "drums", "-k", "2", "--json",
                                    "--runtime", "onnx"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["index", "add", str(library), str(tmp_path),
                                    "--runtime", "onnx-int8"])
    assert res.exit_code == 1 and "serves queries only" in res.output
    with pytest.raises(ValueError, match="not one"):
        load_model("encoder:default", runtime="onnx")


def test_missing_onnxruntime_names_the_pip_extra(library, monkeypatch):
    from lyrebird.cli import main

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime → ImportError
    with pytest.raises(ImportError, match=r"pip install 'lyrebird\[onnx\]'"):
        Library.open(library, readonly=True, runtime="onnx")
    res = CliRunner().invoke(main, ["search", str(library), "drums", "--runtime", "onnx-int8"])
    assert res.exit_code == 1 and "pip install 'lyrebird[onnx]'" in res.output
    assert "Traceback" not in res.output


def test_eval_model_on_onnx_matches_pytorch(checkpoint):
    from lyrebird.mulan.runtimes import eval_model

    ref, om = MuLan.load(checkpoint), eval_model(str(checkpoint), "onnx")
    ref.text.backbone.lean = None  # the fp32 Hugging Face path the export was traced from
    rng = np.random.default_rng(0)
    wavs = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (3 * SR, 11 * SR)]
    assert _cos(om.embed_audio_batch(wavs, SR), ref.embed_audio_batch(wavs, SR)).min() >= 0.9999
    assert _cos(om.embed_text(QUERIES), ref.embed_text(QUERIES)).min() >= 0.9999
    tags, tpl = ["rock", "piano"], ("A {} track", "{} music")
    assert _cos(om.prompt_embeddings(tags, tpl), ref.prompt_embeddings(tags, tpl)).min() >= 0.9999
    assert om.audio.sample_rate == ref.audio.sample_rate and om.cfg.dim == ref.cfg.dim


def test_folder_on_success_is_whole_or_nothing(tmp_path):
    target = tmp_path / "cache" / "abc"
    with pytest.raises(RuntimeError), folder_on_success(target) as tmp:
        (tmp / "half.onnx").write_text("x")
        raise RuntimeError("killed")
    assert not target.exists() and list(target.parent.iterdir()) == []
    with folder_on_success(target) as tmp:
        (tmp / "a.onnx").write_text("first")
    with folder_on_success(target) as tmp:  # another writer finished first: its folder stays
        (tmp / "a.onnx").write_text("second")
    assert (target / "a.onnx").read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["abc"]


def test_an_export_unlike_pytorch_is_not_kept(checkpoint, tmp_path, monkeypatch):
    import lyrebird.mulan.onnx_export as onnx_export
    from lyrebird.mulan.runtimes import cached_onnx_export

    monkeypatch.setenv("LYREBIRD_CACHE", str(tmp_path))

    def drifting(model, out, **kw):
        (out / "text.onnx").write_text("x")
        return {"parity": {"text": {"min_cosine_fp32": 0.99}, "audio": {"min_cosine_fp32": 1.0}}}

    monkeypatch.setattr(onnx_export, "export_onnx", drifting)
    with pytest.raises(ValueError, match=r"does not match PyTorch.*--runtime torch"):
        cached_onnx_export(str(checkpoint))
    assert list((tmp_path / "onnx").iterdir()) == []  # nothing cached under the fingerprint
