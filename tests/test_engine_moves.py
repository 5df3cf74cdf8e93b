"""Engine logic the dashboard used to hold, now in the engine: the config YAML of the run
screen's Config tab (core.config.dump_yaml), the compare screen's read
(core.service.compare.compare_view / paired_view) and the runs screen's `/` filter
(core.query.text). Each is tested here at the engine level, on plain data."""

import shutil

import pytest
import yaml

from core.config import config_from_text, dump_yaml, load_config, shipped_configs
from core.errors import InputError
from core.query import QueryError, filter_error, is_expression, matches_text, row_filter
from core.runs import RunDir
from core.service.compare import compare_view, paired_view, window_of
from core.train.run import run_baselines

from tui_fixture import SPLIT, make_fixture_runs

# --------------------------------------------------------------------------- the config as YAML


def test_a_config_read_back_dumps_as_the_engine_wrote_it():
    """The Config tab dumps the config.yaml it read (a plain mapping): the same text as the
    engine's dump of the Config, for every shipped config."""
    for name in shipped_configs():
        cfg = load_config(name)
        text = dump_yaml(cfg)
        assert dump_yaml(yaml.safe_load(text)) == text, name


def test_text_is_written_as_typed_not_escaped():
    """The drift the dashboard's copy had: no allow_unicode, so `données` read `"donn\\xE9es"`."""
    cfg = load_config("gru", overrides=["data.path=données/ü.csv"])
    text = dump_yaml(cfg)
    assert "path: données/ü.csv\n" in text and "\\x" not in text
    assert dump_yaml(yaml.safe_load(text)) == text
    assert config_from_text(text) == cfg


def test_a_mapping_that_no_longer_validates_dumps_as_it_is():
    """An old or hand-edited config.yaml still shows: its keys as they are, model.kind first,
    lists of plain values on one line."""
    raw = {"name": "old", "model": {"hidden": 8, "kind": "gru", "old_key": [1, 2]}, "extra": {"a": [{"b": 1}]}}
    text = dump_yaml(raw)
    assert text == ("name: old\nmodel:\n  kind: gru\n  hidden: 8\n  old_key: [1, 2]\nextra:\n  a:\n  - b: 1\n")
    assert raw["model"] == {"hidden": 8, "kind": "gru", "old_key": [1, 2]}  # the caller's mapping untouched


# --------------------------------------------------------------------------- fixture runs


@pytest.fixture(scope="module")
def fixture_root(synthetic_csv, tmp_path_factory):
    """tui_fixture's runs: two finished baselines runs (no predictions kept), a queued and a failed one."""
    root = tmp_path_factory.mktemp("moves") / "runs"
    ids = make_fixture_runs(root, synthetic_csv("planted", days=900, seed=5))
    return root, ids


def test_the_run_screen_config_yaml_is_the_engine_dump(fixture_root, tmp_path):
    from synapse_tui.screens.run.reading import read_run

    root, ids = fixture_root
    runs = tmp_path / "runs"
    shutil.copytree(root / ids[0], runs / ids[0])
    rd = RunDir(runs / ids[0])
    rd.config_yaml.write_text(rd.config_yaml.read_text().replace("path: planted.csv", "path: données.csv"))
    view = read_run(runs, ids[0])
    assert view["config_yaml"] == rd.config_yaml.read_text()  # the file the engine wrote, unescaped
    assert "path: données.csv\n" in view["config_yaml"]


# --------------------------------------------------------------------------- the compare screen's read


def test_compare_view_is_what_the_compare_screen_shows(fixture_root):
    from synapse_tui.screens import compare as screen

    root, ids = fixture_root
    a, b = ids[0], ids[1]
    view = compare_view([a, b], root, most=4)
    assert view["ids"] == [a, b] and view["labels"] == ["A", "B"]
    assert [r["status"] for r in view["rows"]] == ["succeeded", "succeeded"]
    # the fixture keeps no predictions.npz: no test window, and why
    assert view["windows"] == [None, None]
    assert all("no predictions.npz" in m for m in view["missing"])
    # b ran fewer baselines: that key differs, every value plain data (None where absent)
    assert view["diff"]["eval.baselines"][1] == ["uniform", "recency"]
    assert view["diff"]["eval.baselines"][0] != view["diff"]["eval.baselines"][1]
    assert view["gob"]["ks"] and len(view["gob"]["rates"]) == 2
    assert [s["epoch"] for s in view["loss"]] == [[], []]  # baselines do not train
    assert view["active"] is False
    # the screen keeps only presentation: its read is the service's
    assert screen.read_comparison(root, [a, b]) == view


def test_compare_view_refuses_what_the_screen_cannot_show(fixture_root):
    root, ids = fixture_root
    with pytest.raises(InputError, match="compare needs 2 to 4 different runs, got 1"):
        compare_view([ids[0], ids[0]], root, most=4)
    with pytest.raises(InputError, match="compare needs 2 to 3 different runs, got 4"):
        compare_view(ids, root, most=3)
    assert len(compare_view(ids, root)["ids"]) == 4  # no limit given: the service's own (two or more)


def test_a_queued_run_makes_the_view_active(fixture_root):
    root, ids = fixture_root
    view = compare_view([ids[0], ids[2]], root)
    assert view["active"] is True
    assert view["rows"][1]["status"] == "queued"


@pytest.fixture(scope="module")
def evaluated(synthetic_csv, tmp_path_factory):
    """Two baselines runs that keep their test predictions (the same window)."""
    data = synthetic_csv("planted", days=900, seed=5)
    root = tmp_path_factory.mktemp("moves-eval") / "runs"
    a = run_baselines(load_config("baselines", overrides=SPLIT, data=str(data)), root)
    b = run_baselines(
        load_config("baselines", overrides=[*SPLIT, "eval.baselines=[uniform,recency]"], data=str(data)), root
    )
    return root, a, b


def test_compare_view_windows_and_the_paired_view(evaluated):
    root, a, b = evaluated
    before = len(a.read_json("manifest.json")["test_touches"])  # the run's own evaluation
    view = compare_view([a.run_id, b.run_id], root, most=4)
    first, last, days = view["windows"][0]
    assert view["windows"][0] == view["windows"][1] and days == 200 and first < last
    assert view["missing"] == [None, None]
    assert len(a.read_json("manifest.json")["test_touches"]) == before  # the view touches nothing
    tests = paired_view([a.run_id, b.run_id], root)
    assert [t["run"] for t in tests] == [b.run_id] and tests[0]["window"].endswith("(200 days)")
    assert len(a.read_json("manifest.json")["test_touches"]) == before + 1  # the paired test is recorded


def test_window_of():
    import numpy as np

    assert window_of({"missing": "x"}) is None
    assert window_of({"dates": np.array([], dtype="datetime64[D]")}) is None
    d = np.array(["2026-01-01", "2026-01-02", "2026-01-05"], dtype="datetime64[D]")
    assert window_of({"dates": d}) == ("2026-01-01", "2026-01-05", 3)


# --------------------------------------------------------------------------- the `/` filter


ROW = {"run_id": "20260101-120000-gru-ab12", "name": "Nightly", "model": "gru", "status": "running", "host": None}


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("gru", False),
        ("nightly run", False),
        ("android", False),  # "and" inside a word is text
        ("ece<0.05", True),
        ("model=gru", True),
        ("name~gru", True),
        ("(gru)", True),
        ("!beats", True),
        ("gru and lstm", True),
        ("x OR y", True),
        ("not beats", True),
    ],
)
def test_is_expression(text, expression):
    assert is_expression(text) is expression


def test_matches_text_is_a_case_insensitive_substring_of_a_few_fields():
    assert matches_text(ROW, "GRU")
    assert matches_text(ROW, "night")
    assert matches_text(ROW, "ab12")
    assert matches_text(ROW, "RUNNING")
    assert not matches_text(ROW, "lstm")
    assert not matches_text(ROW, "none")  # a missing value is no text
    assert matches_text({"host": "Box-1"}, "box")
    assert not matches_text({"verdict": "gru"}, "gru")  # other fields are the grammar's


def test_filter_error():
    assert filter_error("") is None and filter_error("gru") is None
    assert filter_error("model=gru") is None
    message = filter_error("modl=gru")
    assert message and "model" in message  # the parser's did-you-mean
    with pytest.raises(QueryError):
        row_filter("modl=gru")


def test_row_filter():
    rows = [ROW, dict(ROW, run_id="20260102-120000-lstm-cd34", model="lstm", name="other", status="failed")]
    assert [r["model"] for r in rows if row_filter("")(r)] == ["gru", "lstm"]
    assert [r["model"] for r in rows if row_filter("LSTM")(r)] == ["lstm"]
    assert [r["model"] for r in rows if row_filter("model=gru or status=failed")(r)] == ["gru", "lstm"]
    assert [r["model"] for r in rows if row_filter("status=running")(r)] == ["gru"]
