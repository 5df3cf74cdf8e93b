"""core.config: typed config, YAML with line numbers, dotted overrides, hashing, shipped configs."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from helpers import ROOT

from core.config import (
    BASELINE_KINDS,
    COMBINED_KINDS,
    MODEL_CLASSES,
    MODEL_KINDS,
    Config,
    ConfigWarning,
    GruModel,
    LstmModel,
    TransformerModel,
    apply_overrides,
    config_from_text,
    config_hash,
    dump_yaml,
    load_config,
)
from core.errors import ConfigError

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
FAMILIES = {"baselines", "logistic", "gru", "lstm", "transformer", "hawkes", "transformer_h200"}


def _write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(tmp_path: Path | None, text: str | None = None, **kw) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        if text is None:
            load_config(**kw)
        else:
            load_config(_write(tmp_path, text), **kw)
    return info.value


# --------------------------------------------------------------------------- shipped configs


def test_one_shipped_config_per_family():
    assert {p.stem for p in CONFIGS} >= FAMILIES


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_config_validates_and_round_trips(path: Path):
    text = path.read_text()
    assert text.startswith("#"), "each shipped config begins with a comment saying what it is for"
    cfg = load_config(path)
    assert cfg.data.path == "sample_data/parts_daily.csv"
    again = config_from_text(dump_yaml(cfg))
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)
    assert dump_yaml(again) == dump_yaml(cfg)


def test_shipped_configs_have_the_intended_models():
    kinds = {p.stem: load_config(p) for p in CONFIGS}
    assert kinds["baselines"].model.kind == "ewma"
    assert set(kinds["baselines"].eval.baselines) == set(BASELINE_KINDS)
    for fam in ("logistic", "gru", "lstm", "transformer", "hawkes"):
        assert kinds[fam].model.kind == fam
    cpu, h200 = kinds["transformer"], kinds["transformer_h200"]
    assert h200.model.kind == "transformer" and h200.train.device == "cuda" and h200.train.bf16
    assert h200.model.d_model > cpu.model.d_model and h200.model.context > cpu.model.context
    assert h200.train.batch_size > cpu.train.batch_size
    assert cpu.model.d_model == 128 and cpu.model.context == 256 and not cpu.train.bf16


def test_a_bare_name_means_the_shipped_config():
    assert load_config("gru") == load_config(ROOT / "configs" / "gru.yaml")


# --------------------------------------------------------------------------- defaults and dump


def _assert_every_field_present(dumped: dict, cls: type[BaseModel], where: str = "") -> None:
    assert set(dumped) == set(cls.model_fields), where
    for name, field in cls.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            _assert_every_field_present(dumped[name], ann, f"{where}.{name}")


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_dump_yaml_fills_in_every_default(kind: str):
    # an ensemble has no default members: it is made of runs that must be named
    required = ["model.members=[run_a, run_b]"] if kind in COMBINED_KINDS else []
    cfg = load_config(overrides=[f"model.kind={kind}", *required])
    dumped = yaml.safe_load(dump_yaml(cfg))
    _assert_every_field_present(dumped, Config)
    assert set(dumped["model"]) == set(MODEL_CLASSES[kind].model_fields)
    assert list(dumped["model"])[0] == "kind"
    assert dumped["name"] == kind  # the name defaults to the model kind
    assert list(dumped) == list(Config.model_fields)  # stable key order
    assert config_from_text(dump_yaml(cfg)) == cfg


def test_defaults_match_the_design():
    cfg = load_config()
    assert cfg == Config()
    assert cfg.model.kind == "uniform" and cfg.name == "uniform" and cfg.seed == 0
    assert (cfg.data.parts, cfg.data.events_per_day, cfg.data.format, cfg.data.allow_unsorted) == (39, 5, "auto", False)
    s = cfg.split
    assert (s.test_days, s.val_days, s.gap_days, s.folds, s.fold_step_days, s.min_train_days) == (
        1000,
        1000,
        0,
        1,
        None,
        365,
    )
    assert cfg.eval.k == list(range(20, 28))
    assert cfg.eval.tiers == {"excellent": 5, "good": 4, "fair": 3} and cfg.eval.good_tier == "good"
    assert cfg.eval.good_hits == 4 and cfg.eval.ece_bins == 15
    assert set(cfg.eval.baselines) == {"uniform", "frequency", "recency", "ewma", "hot_cold"}
    assert cfg.train.patience == 10 and cfg.train.monitor == "val_loss" and cfg.train.monitor_mode == "min"
    assert cfg.calibration.method == "auto" and cfg.calibration.per_part and cfg.calibration.holdout_fraction == 0.5
    t = cfg.targets
    assert (t.ece_max, t.brier_skill_min, t.beat_baseline) == (0.10, 0.0, True)
    gru = GruModel()
    assert (gru.hidden, gru.layers, gru.chunks, gru.tbptt, gru.mode, gru.head) == (
        128,
        1,
        16,
        128,
        "stateful",
        "sigmoid",
    )
    tf = TransformerModel()
    assert (tf.d_model, tf.heads, tf.layers, tf.context, tf.positions) == (128, 4, 2, 512, "rope")


def test_empty_file_and_empty_sections_mean_defaults(tmp_path):
    assert load_config(_write(tmp_path, "# nothing yet\n")) == Config()
    cfg = load_config(_write(tmp_path, "data:\ntrain:\nmodel:\n  kind: gru\n"))
    assert cfg.model == GruModel() and cfg.train == Config().train


def test_monitor_forms():
    cfg = load_config(overrides=["train.monitor=val_good_or_better@24"])
    assert cfg.train.monitor_k == 24 and cfg.train.monitor_mode == "max"
    err = _error(None, overrides=["train.monitor=val_auc"])
    assert "train.monitor" in str(err) and "val_good_or_better@K" in str(err)
    err = _error(None, overrides=["train.monitor=val_good_or_better@40"])
    assert "K=40" in str(err) and "1..data.parts (39)" in str(err)


def test_k_range_shorthand():
    assert load_config(overrides=["eval.k=20..23"]).eval.k == [20, 21, 22, 23]
    assert load_config(overrides=["eval.k=22"]).eval.k == [22]


# --------------------------------------------------------------------------- unknown keys, lines


@pytest.mark.parametrize(
    "text, line, key, suggestion",
    [
        ("seeed: 3\n", 1, "seeed", "seed"),
        ("seed: 1\ntrain:\n  lr: 0.01\n  epohcs: 5\n", 4, "train.epohcs", "train.epochs"),
        (
            "# gru\nname: x\nseed: 1\ndata:\n  parts: 39\nmodel:\n  hiden: 64\n  kind: gru\n",
            7,
            "model.hiden",
            "model.hidden",
        ),
        ("eval:\n  k: [20]\n  ece_bin: 10\n", 3, "eval.ece_bin", "eval.ece_bins"),
        ("split:\n  test_day: 10\n", 2, "split.test_day", "split.test_days"),
    ],
)
def test_unknown_key_names_path_line_and_suggestion(tmp_path, text, line, key, suggestion):
    err = _error(tmp_path, text)
    assert err.line == line and err.path.endswith("config.yaml")
    assert str(err).startswith(f"{err.path}:{line}: unknown key '{key}' — did you mean '{suggestion}'?")


def test_unknown_key_without_a_close_match_lists_the_allowed_keys(tmp_path):
    err = _error(tmp_path, "calibration:\n  zzz: 1\n")
    assert err.line == 2 and "'calibration.zzz'" in str(err) and "per_part" in str(err)


def test_a_field_of_another_kind_says_which_kinds_have_it(tmp_path):
    err = _error(tmp_path, "model:\n  kind: ewma\n  hidden: 64\n")
    assert err.line == 3 and "gru, lstm" in str(err) and "model.kind" in str(err)


def test_bad_kind_lists_the_valid_kinds(tmp_path):
    err = _error(tmp_path, "seed: 0\nmodel:\n  kind: gur\n  hidden: 3\n")
    assert err.line == 3
    assert "did you mean 'gru'" in str(err)
    for kind in MODEL_KINDS:
        assert kind in str(err)
    err = _error(None, overrides=["model.kind=rnn"])
    assert str(err).startswith("-o model.kind=rnn: ") and all(k in str(err) for k in MODEL_KINDS)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    err = _error(tmp_path, "seed: 1\ndata:\n  parts: [1, 2\n")
    assert err.path.endswith("config.yaml") and err.line is not None and err.line >= 3
    assert "YAML syntax error" in str(err)
    err = _error(tmp_path, "seed: 1\n  bad: indentation\n")
    assert err.line == 2


def test_duplicate_keys_are_refused(tmp_path):
    err = _error(tmp_path, "model:\n  kind: gru\n  hidden: 1\n  hidden: 2\n")
    assert err.line == 4 and "duplicate key 'model.hidden'" in str(err) and "line 3" in str(err)


def test_only_safe_load_is_used(tmp_path):
    err = _error(tmp_path, "seed: 1\nname: !!python/object/apply:os.system ['echo pwned']\n")
    assert err.line == 2 and "!!python/object/apply:os.system" in str(err) and "safe_load" in str(err)
    with pytest.raises(ConfigError, match="python/object"):
        load_config(overrides=["name=!!python/object/apply:os.system ['echo pwned']"])
    source = "\n".join(p.read_text() for p in sorted((ROOT / "core" / "config").glob("*.py")))
    assert not re.search(
        r"yaml\.(load|unsafe_load|full_load|load_all)\(|Loader=yaml\.(Loader|FullLoader|UnsafeLoader)", source
    )


def test_top_level_must_be_a_mapping(tmp_path):
    err = _error(tmp_path, "- a\n- b\n")
    assert "mapping" in str(err) and err.line == 1


def test_missing_and_undecodable_files(tmp_path):
    err = _error(None, path=tmp_path / "nope.yaml")
    assert "no such config file" in str(err) and "nope.yaml" in str(err)
    (tmp_path / "bin.yaml").write_bytes(b"seed: \xff\xfe\n")
    err = _error(None, path=tmp_path / "bin.yaml")
    assert "UTF-8" in str(err)


# --------------------------------------------------------------------------- types and ranges


@pytest.mark.parametrize(
    "text, line, needle",
    [
        ("model:\n  kind: gru\n  dropout: 1.5\n", 3, "model.dropout: should be less than 1"),
        (
            "model:\n  kind: transformer\n  d_model: 128\n  heads: 3\n",
            4,
            "model.heads: heads (3) must divide d_model (128)",
        ),
        ("model:\n  kind: transformer\n  d_model: 130\n", 3, "must divide d_model (130)"),
        ("eval:\n  k:\n    - 20\n    - 40\n", 4, "eval.k: K=40 is outside 1..data.parts (39)"),
        ("data:\n  parts: 10\n", 2, "outside 1..data.parts (10)"),
        ("model:\n  kind: gru\n  hidden: 0\n", 3, "model.hidden: should be greater than or equal to 1"),
        ("model:\n  kind: gru\n  hidden: big\n", 3, "model.hidden: should be a valid integer"),
        ("model:\n  kind: gru\n  mode: sideways\n", 3, "model.mode: should be 'stateful' or 'window'"),
        ("train:\n  device: tpu\n", 2, "train.device"),
        ("train:\n  bf16: maybe\n", 2, "train.bf16"),
        ("train:\n  lr: true\n", 2, "train.lr: expected a number, not a boolean"),
        ("seed: -1\n", 1, "seed: should be greater than or equal to 0"),
        ("name: runs/evil\n", 1, "safe as a file name"),
        ("eval:\n  tiers:\n    top: 5\n", 2, "good_tier 'good' is not one of the tiers"),
        ("data:\n  events_per_day: 3\n", 2, "tier 'excellent' needs 5 hits"),
        ("calibration:\n  holdout_fraction: 1.0\n", 2, "calibration.holdout_fraction: should be less than 1"),
        ("model:\n  kind: hawkes\n  decays: [1.0, 1.0]\n", 3, "decays must be distinct"),
        ("train: 5\n", 1, "train: should be a mapping"),
        ("model: gru\n", 1, "model: should be a mapping (a YAML section) with a kind, e.g. `model: {kind: gru}`"),
        ("seed: null\n", 1, "seed: should be a valid integer"),
    ],
)
def test_type_and_range_errors_name_key_and_line(tmp_path, text, line, needle):
    err = _error(tmp_path, text)
    assert err.line == line, str(err)
    assert needle in str(err)


def test_several_problems_are_all_reported(tmp_path):
    err = _error(tmp_path, "model:\n  kind: gru\n  hidden: 0\n  dropout: 2\n")
    assert err.line == 3 and "model.hidden" in str(err) and "config.yaml:4: model.dropout" in str(err)


def test_programmatic_configs_are_checked_too():
    with pytest.raises(ValidationError, match="outside 1..data.parts"):
        Config(data={"parts": 10})
    with pytest.raises(ValidationError, match="must divide d_model"):
        TransformerModel(d_model=128, heads=3)
    with pytest.raises(ValidationError, match="even head size"):
        TransformerModel(d_model=132, heads=4)
    assert TransformerModel(d_model=132, heads=4, positions="alibi").heads == 4
    with pytest.raises(ValidationError):
        Config(model={"kind": "gru", "hiden": 3})


# --------------------------------------------------------------------------- overrides


def test_override_values_are_parsed_as_yaml():
    raw = apply_overrides(
        {},
        [
            "model.kind=gru",
            "model.hidden=64",
            "eval.k=[20,21]",
            "data.events_per_day=null",
            "train.bf16=true",
            "train.lr=0.5",
            "name=my-run",
        ],
    )
    assert raw == {
        "model": {"kind": "gru", "hidden": 64},
        "eval": {"k": [20, 21]},
        "data": {"events_per_day": None},
        "train": {"bf16": True, "lr": 0.5},
        "name": "my-run",
    }
    cfg = load_config(
        overrides=["model.kind=gru", "model.hidden=64", "eval.k=[20,21]", "data.events_per_day=null", "train.lr=1e-3"]
    )
    assert cfg.model.hidden == 64 and cfg.eval.k == [20, 21] and cfg.data.events_per_day is None
    assert cfg.train.lr == pytest.approx(1e-3)  # YAML 1.1 reads `1e-3` as a string; still a number here


def test_apply_overrides_does_not_touch_its_input():
    raw = {"model": {"kind": "gru", "hidden": 3}}
    apply_overrides(raw, ["model.hidden=5", "seed=2"])
    assert raw == {"model": {"kind": "gru", "hidden": 3}}


def test_overrides_win_over_the_file_and_are_validated_the_same_way(tmp_path):
    path = _write(tmp_path, "model:\n  kind: gru\n  hidden: 32\n")
    assert load_config(path, overrides=["model.hidden=64"]).model.hidden == 64
    err = _error(None, path=path, overrides=["model.hiden=64"])
    assert str(err) == "-o model.hiden=64: unknown key 'model.hiden' — did you mean 'model.hidden'?"
    err = _error(None, path=path, overrides=["model.dropout=1.5"])
    assert str(err).startswith("-o model.dropout=1.5: model.dropout: should be less than 1")
    err = _error(None, path=path, overrides=["foo.bar=1"])
    assert str(err).startswith("-o foo.bar=1: unknown key 'foo'")


@pytest.mark.parametrize(
    "bad, needle",
    [
        ("model.hidden", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("model..hidden=3", "empty part"),
        ("eval.k=[20, 21", "not valid YAML"),
        ("seed.x=1", "seed: should be a valid integer"),
    ],
)
def test_malformed_overrides_name_the_override(bad, needle):
    err = _error(None, overrides=[bad])
    assert str(err).startswith(f"-o {bad}: ") and needle in str(err)


def test_an_override_cannot_descend_into_a_value():
    err = _error(None, overrides=["seed=1", "seed.x=1"])
    assert str(err) == "-o seed.x=1: 'seed' holds 1, not a section"
    err = _error(None, overrides=["eval.k.0=5"])
    assert "set the whole list" in str(err)
    assert load_config(overrides=["eval.k=[3,4]", "eval.k.0=5"]).eval.k == [4, 5]


def test_a_problem_caused_by_an_override_points_at_it(tmp_path):
    path = _write(tmp_path, "seed: 1\n")
    err = _error(None, path=path, overrides=["data.parts=10"])
    assert str(err).startswith("-o data.parts=10: eval.k: K=20, 21")


def test_data_shortcut(tmp_path):
    path = _write(tmp_path, "data:\n  path: a.csv\n")
    cfg = load_config(path, data="other.csv")
    assert cfg.data.path == "other.csv"
    assert cfg == load_config(path, overrides=["data.path=other.csv"])
    assert load_config(data="x/y.csv").data.path == "x/y.csv"


def test_switching_kind_by_override_gives_the_new_kind_and_says_what_it_dropped():
    with pytest.warns(ConfigWarning, match=r"ewma -> gru drops model\.halflife=30\.0 \(.*baselines\.yaml:\d+\)"):
        cfg = load_config(ROOT / "configs" / "baselines.yaml", overrides=["model.kind=gru"])
    assert cfg.model == GruModel() and cfg.name == "baselines"  # an explicit name is kept
    # Fields of a shared family carry over: gru <-> lstm.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg = load_config(overrides=["model.kind=gru", "model.hidden=64", "model.kind=lstm"])
    assert cfg.model == LstmModel(hidden=64)
    # A field the user set explicitly is never dropped: it is validated against the new kind.
    err = _error(None, overrides=["model.kind=ewma", "model.halflife=9", "model.kind=gru"])
    assert str(err).startswith("-o model.halflife=9: unknown key 'model.halflife'")
    # With no config file, the kind override just picks the kind.
    assert load_config(overrides=["model.kind=transformer"]).model == TransformerModel()


# --------------------------------------------------------------------------- hash


def test_config_hash_is_stable_and_sensitive(tmp_path):
    a = _write(tmp_path, "seed: 1\neval:\n  tiers: {good: 4, excellent: 5}\nmodel: {kind: gru, hidden: 64}\n", "a.yaml")
    b = _write(tmp_path, "model: {hidden: 64, kind: gru}\neval:\n  tiers: {excellent: 5, good: 4}\nseed: 1\n", "b.yaml")
    h = config_hash(load_config(a))
    assert re.fullmatch(r"[0-9a-f]{12}", h)
    assert h == config_hash(load_config(a)) == config_hash(load_config(b))
    assert h == config_hash(config_from_text(dump_yaml(load_config(a))))
    changed = {
        config_hash(load_config(a, overrides=[o]))
        for o in ("seed=2", "model.hidden=65", "train.lr=0.002", "eval.k=[20]", "data.path=x.csv", "model.kind=lstm")
    }
    assert h not in changed and len(changed) == 6
    # Pinned: a change here means old run dirs no longer match their config hash.
    assert config_hash(Config()) == config_hash(load_config())
