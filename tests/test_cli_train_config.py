"""``lyrebird train … --config FILE --set KEY=VALUE --print-config``: override parsing, clear
errors, precedence, and the printed settings round-tripping through ``config_from_dict``.
Only ``--print-config`` runs here: nothing trains."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from lyrebird.cli import main
from lyrebird.cli._train_config import flatten, resolve_settings, split
from lyrebird.core.configs import (
    ConfigError,
    apply_overrides,
    config_from_dict,
    load_config_file,
    merge_config,
    parse_value,
)
from lyrebird.mulan.config import AudioTowerConfig, MuLanConfig
from lyrebird.train.trainers.run_config import RunConfig

BASE = {"audio": {"n_layers": 0, "layers": [-1], "pooling": "mean", "encoder": "default"},
        "text": None, "lr": 3e-4, "name": "x"}


def invoke(*args: str):
    return CliRunner().invoke(main, ["train", *args])


def printed(*args: str) -> dict:
    res = invoke(*args, "--print-config")
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


# ------------------------------------------------------------------- parsing the overrides


@pytest.mark.parametrize("text, value", [
    ("4", 4), ("1e-4", 1e-4), ("true", True), ("null", None), ("[4, -1]", [4, -1]),
    ('{"a": 1}', {"a": 1}), ('"4"', "4"), ("meanstd", "meanstd"), ("myna:base-hybrid",
                                                                    "myna:base-hybrid"),
    ("", ""), ("a=b", "a=b")])
def test_values_are_json_when_they_parse_else_strings(text, value):
    assert parse_value(text) == value


def test_overrides_nested_typed_and_lists():
    got = apply_overrides(BASE, ["audio.n_layers=4", "lr=1e-4", "audio.layers=[4,-1]",
                                 "audio.encoder=myna:base-hybrid", "name=a=b",
                                 'audio={"pooling": "meanstd"}'])
    assert got["audio"] == {"n_layers": 4, "layers": [4, -1], "pooling": "meanstd",
                            "encoder": "myna:base-hybrid"}  # a section merges key by key
    assert got["lr"] == 1e-4 and got["name"] == "a=b"
    assert BASE["audio"]["n_layers"] == 0  # the input is left alone
    assert apply_overrides(BASE, ["lr=1", "lr=2"])["lr"] == 2  # later wins


@pytest.mark.parametrize("item, words", [
    ("audio.n_layer=4", ["'audio.n_layer'", "under 'audio'", "n_layers, pooling"]),
    ("bogus=1", ["'bogus'", "valid keys: audio, lr, name, text"]),
    ("lr.x=1", ["'lr' is a value, not a section"]),
    ("text.n_layers=1", ["'text' is null", "set it whole"]),
    ("no-equals", ["expected KEY=VALUE"]),
    ("=3", ["expected KEY=VALUE"])])
def test_unknown_keys_name_the_key_and_the_valid_ones(item, words):
    with pytest.raises(ConfigError) as e:
        apply_overrides(BASE, [item])
    assert str(e.value).startswith("--set: ")
    for w in words:
        assert w in str(e.value)


def test_merge_checks_keys_and_merges_sections():
    got = merge_config(BASE, {"audio": {"pooling": "meanstd"}, "text": {"n_layers": 0}}, "f")
    assert got["audio"]["n_layers"] == 0 and got["audio"]["pooling"] == "meanstd"
    assert got["text"] == {"n_layers": 0}  # a null section is set whole
    with pytest.raises(ConfigError, match=r"f: unknown key 'audio.heads'; valid keys under "
                                          r"'audio': encoder, layers, n_layers, pooling"):
        merge_config(BASE, {"audio": {"heads": 2}}, "f")


def test_strict_config_from_dict_checks_types():
    d = {"audio": {"n_layers": 2, "layers": [4, -1]}, "tau": 1, "loss": "infonce"}
    cfg = config_from_dict(MuLanConfig, d, strict=True)
    assert cfg.audio.layers == (4, -1) and cfg.tau == 1.0 and isinstance(cfg.tau, float)
    for bad, words in [({"dim": "abc"}, "MuLanConfig.dim: expected an integer"),
                       ({"loss": "foo"}, 'MuLanConfig.loss: expected one of "dcl", "infonce"'),
                       ({"learn_tau": 1}, "expected true or false"),
                       ({"audio": {"layers": 3}}, "MuLanConfig.audio.layers: expected a list"),
                       ({"audio": {"layers": ["a"]}}, "expected a list"),
                       ({"audio": 3}, "MuLanConfig.audio: expected an object")]:
        with pytest.raises(ConfigError, match=words):
            config_from_dict(MuLanConfig, bad, strict=True)
    # optional fields take null; int | str fields take either
    assert config_from_dict(RunConfig, {"devices": 2, "precision": None}, strict=True).devices == 2
    assert config_from_dict(RunConfig, {"lr": "abc"}).lr == "abc"  # not strict: as before


# ------------------------------------------------------------------ files and precedence


def test_precedence_defaults_file_options_set(tmp_path):
    parts = {"model": MuLanConfig(), "run": RunConfig()}
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"audio": {"n_layers": 2}, "lr": 0.01, "max_steps": 7, "dim": 64}))
    got = resolve_settings(parts, f, {"lr": 0.02, "dim": 32}, ["dim=16"])
    assert got["model"].audio.n_layers == 2 and got["run"].max_steps == 7  # file over defaults
    assert got["run"].lr == 0.02  # a given option over the file
    assert got["model"].dim == 16  # --set over everything
    assert got["model"].audio.pooling == AudioTowerConfig().pooling  # untouched: the default


def test_cli_precedence_only_given_options_override_the_file(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"lr": 0.01, "max_steps": 7, "audio": {"n_layers": 2}}))
    d = printed("mulan", "--config", str(f), "--max-steps", "9")
    assert d["lr"] == 0.01  # --lr not given: its default does not undo the file
    assert d["max_steps"] == 9 and d["audio"]["n_layers"] == 2
    d = printed("mulan", "--config", str(f), "--lr", "0.5", "--set", "lr=1e-4",
                "--set", "audio.layers=[4,-1]", "--set", "teacher=null", "--devices", "2")
    assert d["lr"] == 1e-4 and d["audio"]["layers"] == [4, -1] and d["teacher"] is None
    assert d["devices"] == 2


def test_print_config_round_trips_through_config_from_dict(tmp_path):
    from lyrebird.train.trainers.mulan_data import MuLanDataConfig

    d = printed("mulan", "--set", "audio.n_layers=4", "--set", "text.backbone=random-bert:tiny",
                "--set", "tag_caption_p=0.4", "--lr", "1e-3")
    want_model = dataclasses.replace(MuLanConfig(), audio=dataclasses.replace(
        AudioTowerConfig(), n_layers=4), text=dataclasses.replace(
        MuLanConfig().text, backbone="random-bert:tiny"))
    model_keys = {f.name for f in dataclasses.fields(MuLanConfig)}
    assert config_from_dict(MuLanConfig, {k: d[k] for k in model_keys}) == want_model
    assert split({"m": MuLanConfig(), "d": MuLanDataConfig(), "r": RunConfig()}, d) == {
        "m": want_model, "d": MuLanDataConfig(tag_caption_p=0.4), "r": RunConfig(lr=1e-3)}
    # the printed settings are a config file that resolves to the same settings
    f = tmp_path / "printed.json"
    f.write_text(json.dumps(d))
    assert printed("mulan", "--config", str(f)) == d


@pytest.mark.parametrize("verb, sets, check", [
    ("myna", ["patch=square", "mask_ratio=0.75", "group_by=instrument_family", "warmup_steps=5"],
     lambda d: d["patch"] == "square" and d["dim"] == 192 and d["group_size"] == 32),
    ("muq", ["backbone.mixer=summary", "tokenizer.kind=random", "objective.mask_prob=0.5",
             "clip_s=5"],
     lambda d: d["backbone"]["mixer"] == "summary" and d["tokenizer"]["num_codebooks"] == 8),
    ("melrvq", ["num_codebooks=3", "restart_every=20"],
     lambda d: d["kind"] == "melrvq" and d["steps"] == 2000),
    ("tag-head", ["hidden=0", "hop_s=2.5"], lambda d: d["epochs"] > 1 and d["lr"] > 0),
    ("tag-student", ["width=48", "jitter=0"], lambda d: d["epochs"] == 20 and d["top"] == 5)])
def test_every_train_verb_takes_config_and_set(verb, sets, check, tmp_path):
    d = printed(verb, *[a for s in sets for a in ("--set", s)])
    for s in sets:
        key, _, value = s.partition("=")
        node = d
        for k in key.split(".")[:-1]:
            node = node[k]
        assert node[key.split(".")[-1]] == parse_value(value), s
    assert check(d)
    f = tmp_path / "c.json"
    f.write_text(json.dumps(d))
    assert printed(verb, "--config", str(f)) == d
    res = invoke(verb, "--set", "nope=1", "--print-config")
    assert res.exit_code == 2 and "unknown key 'nope'; valid keys:" in res.output


def test_presets_are_the_defaults_and_the_file_wins_over_them(tmp_path):
    assert printed("myna", "--preset", "tiny")["dim"] == 64
    assert printed("muq", "--preset", "omar-tiny")["tokenizer"]["num_codebooks"] == 4
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"patch": "vertical"}))
    assert printed("myna", "--preset", "tiny", "--config", str(f))["patch"] == "vertical"


def test_the_options_and_the_settings_never_collide():
    from lyrebird.cli.train import MelRVQRun, MynaBatches
    from lyrebird.encoders.muq import muq_config
    from lyrebird.encoders.myna import MynaConfig
    from lyrebird.encoders.tokenizers import TokenizerConfig
    from lyrebird.train.trainers.mulan_data import MuLanDataConfig
    from lyrebird.train.trainers.tag_head import TagHeadTrainConfig

    for parts in ({"m": MynaConfig(), "b": MynaBatches(), "r": RunConfig()},
                  {"m": MuLanConfig(), "d": MuLanDataConfig(), "r": RunConfig()},
                  {"m": muq_config("muq-tiny"), "r": RunConfig()},
                  {"m": TokenizerConfig(), "r": MelRVQRun()}, {"h": TagHeadTrainConfig()}):
        flatten(parts)  # raises on a name two parts share


# ------------------------------------------------------------------------ clear errors


@pytest.mark.parametrize("args, words", [
    (["--set", "audio.n_layer=4"], ["unknown key 'audio.n_layer'", "valid keys under 'audio'",
                                    "n_layers"]),
    (["--set", "audio.n_layers=abc"], ['MuLanConfig.audio.n_layers: expected an integer, '
                                       'got "abc"']),
    (["--set", "loss=foo"], ['expected one of "dcl", "infonce"']),
    (["--set", "tau=2"], ["MuLanConfig.tau must be in (0, 1]"]),
    (["--set", "lr"], ["expected KEY=VALUE"])])
def test_bad_settings_are_usage_errors(args, words):
    res = invoke("mulan", *args, "--print-config")
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit)  # not a traceback
    assert "Traceback" not in res.output
    assert "Error: " in res.output
    for w in words:
        assert w in res.output


def test_a_bad_config_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"audio": {"n_layers": 2,}')
    res = invoke("mulan", "--config", str(bad), "--print-config")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert f"{bad}: not valid JSON" in res.output and "line 1, column" in res.output
    bad.write_text("[1, 2]")
    res = invoke("mulan", "--config", str(bad))
    assert res.exit_code == 2 and f"{bad}: a config file holds one JSON object" in res.output
    bad.write_text('{"audio": {"pooling": "meanstd", "n_layer": 1}}')
    res = invoke("mulan", "--config", str(bad), "--print-config")
    assert res.exit_code == 2 and f"{bad}: unknown key 'audio.n_layer'" in res.output
    res = invoke("mulan", "--config", str(tmp_path / "missing.json"), "--print-config")
    assert res.exit_code == 2 and "missing.json: cannot read the config file" in res.output
    with pytest.raises(ConfigError, match="bad.json"):
        load_config_file(tmp_path / "nope" / "bad.json")


def test_data_is_required_unless_printing():
    for verb, opt in (("mulan", "--data"), ("myna", "--data"), ("muq", "--data"),
                      ("melrvq", "--data"), ("tag-head", "--manifest"),
                      ("tag-student", "--manifest")):
        res = invoke(verb)
        assert res.exit_code == 2 and f"Missing option '{opt}'" in res.output, verb
