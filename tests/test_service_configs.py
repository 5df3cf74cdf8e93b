"""core.service.configs: the configs a front end can launch, their text, and validation that
creates nothing and never raises for bad input."""

from pathlib import Path

import yaml

from core.config import BASELINE_KINDS, load_config, shipped_configs
from core.service import configs

from helpers import ROOT


def _tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def test_list_has_every_shipped_config_with_its_job(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    listed = {Path(c["path"]).resolve(): c for c in configs.list_configs()}
    for name, path in shipped_configs().items():
        entry = listed[path.resolve()]
        kind = yaml.safe_load(path.read_text())["model"]["kind"]
        assert entry["kind"] == kind and entry["source"] == "shipped" and entry["error"] is None
        assert entry["job"] == ("baselines" if kind in BASELINE_KINDS else "train"), name
        first_comment = next(line for line in path.read_text().splitlines() if line.startswith("#"))
        assert entry["description"] == first_comment.lstrip("# ").strip()
    assert listed[(ROOT / "configs" / "baselines.yaml").resolve()]["job"] == "baselines"
    assert listed[(ROOT / "configs" / "gru.yaml").resolve()]["job"] == "train"


def test_list_adds_the_current_and_extra_dirs_once(tmp_path, monkeypatch):
    here, extra = tmp_path / "here", tmp_path / "extra"
    here.mkdir(), extra.mkdir()
    (here / "mine.yaml").write_text("# my GRU\nmodel:\n  kind: gru\n  hidden: 32\n")
    (extra / "base.yml").write_text("model: {kind: frequency}\n")
    (extra / "broken.yaml").write_text("model: [unclosed\n")
    (extra / "odd.yaml").write_text("model: {kind: gruu}\n")
    monkeypatch.chdir(here)
    out = configs.list_configs([extra, here, tmp_path / "missing"])
    by_name = {c["name"]: c for c in out}
    assert by_name["mine"]["job"] == "train" and by_name["mine"]["description"] == "my GRU"
    assert by_name["base"]["job"] == "baselines" and by_name["base"]["description"] == ""
    assert "not valid YAML" in by_name["broken"]["error"]
    assert by_name["odd"]["job"] is None and "gruu" in by_name["odd"]["error"]
    assert sum(c["name"] == "mine" for c in out) == 1  # the cwd given again as an extra dir
    assert len(out) == len(shipped_configs()) + 4


def test_preview_is_the_file_text():
    path = ROOT / "configs" / "gru.yaml"
    assert configs.preview(path) == path.read_text()


def test_validate_a_shipped_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)
    out = configs.validate(ROOT / "configs" / "baselines.yaml")
    assert out["ok"] and out["errors"] == [] and out["job"] == "baselines" and out["kind"] == "ewma"
    cfg = load_config("baselines")
    from core.config import config_hash, dump_yaml

    assert out["config_hash"] == config_hash(cfg) and out["resolved"] == dump_yaml(cfg)
    assert out["data"]["rows"] == 11000 and out["data"]["splits"]["test"] == 1000  # the bundled sample
    assert configs.validate("gru")["job"] == "train"
    assert _tree(tmp_path) == before  # nothing created


def test_a_typo_override_is_a_did_you_mean_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = configs.validate("baselines", overrides="split.test_days=200\nsplit.val_dayz=200\n\nmodel.hiden=64")
    assert not out["ok"] and out["resolved"] == "" and out["config_hash"] is None
    assert any("did you mean 'split.val_days'" in e for e in out["errors"])
    assert [p["override"] for p in out["problems"]] == [1, 3]  # each bad line, by its line number
    assert any("model.hiden" in e for e in out["errors"])
    # A line that is no override at all, a bad YAML value: messages, never exceptions.
    for bad in ("model.hiden", "=3", "split.test_days=[1", "model.kind=gruu"):
        out = configs.validate("baselines", overrides=[bad])
        assert not out["ok"] and out["errors"] and out["problems"][0]["override"] == 0, bad
    assert "did you mean 'gru'" in configs.validate("baselines", overrides=["model.kind=gruu"])["errors"][0]
    assert _tree(tmp_path) == set()


def test_bad_data_and_splits_are_messages(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = configs.validate("baselines", data=tmp_path / "nope.csv")
    assert not out["ok"] and out["job"] == "baselines"
    assert out["errors"] == [f"data: {tmp_path / 'nope.csv'}: no such file"]
    out = configs.validate("baselines", overrides=["split.test_days=20000"])
    assert not out["ok"] and out["errors"][0].startswith("split: not enough data")
    out = configs.validate(tmp_path / "missing.yaml")
    assert not out["ok"] and "no such config file" in out["errors"][0]
    assert _tree(tmp_path) == set()


def test_validate_a_sweep_grid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = configs.validate("gru", grid="model.hidden=64,128\ntrain.lr=1e-3,3e-3")
    assert out["ok"] and len(out["combos"]) == 4
    out = configs.validate("gru", grid=["model.hiden=64,128"])
    assert not out["ok"] and "did you mean 'model.hidden'" in out["errors"][0]
    assert not configs.validate("gru", grid=["model.hidden"])["ok"]
    assert _tree(tmp_path) == set()


def test_model_kind_switch_warns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = configs.validate("baselines", overrides=["model.kind=gru"])
    assert out["ok"] and out["job"] == "train"
    assert any("drops model.halflife" in w for w in out["warnings"])
