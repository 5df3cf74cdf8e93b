"""Hyperparameters as fields: any dotted config key (`train.lr`, `model.hidden`) filters and sorts runs.

The flat config of each run is stored in the index at upsert (`config_json`), so a listing
never rereads config.yaml; the grammar takes dotted names, compares numbers numerically and
text with = (globs) and ~, and a missing key never satisfies a comparison (except != / !~).
"""

from __future__ import annotations

import json
import random

import pytest
import typer
from typer.testing import CliRunner

from core.errors import InputError
from core.query import QueryError, parse
from core.service.runs import list_runs
from core.store import Store
from synapse_tui.commands.runs import runs_app
from test_store import make_run  # noqa: E402  (tests/ is on sys.path under pytest)

CONFIG = """name: {name}
seed: 0
model:
  kind: {kind}
  hidden: {hidden}
train:
  epochs: 3
  lr: {lr}
calibration:
  method: {cal}
split:
  test_days: 200
"""

BASELINES_CONFIG = """name: base
seed: 0
eval:
  baselines: [uniform, recency]
split:
  test_days: 150
"""


def config_run(root, run_id, *, kind="gru", hidden=64, lr=0.001, cal="platt", job="train"):
    rd = make_run(root, kind, run_id=run_id, kind=kind, job=job)
    text = (
        BASELINES_CONFIG if job == "baselines" else CONFIG.format(name=kind, kind=kind, hidden=hidden, lr=lr, cal=cal)
    )
    rd.write_text("config.yaml", text)
    return rd


@pytest.fixture
def three(tmp_path):
    config_run(tmp_path, "20260101-000000-gru-0001", hidden=64, lr=0.001)  # the one
    config_run(tmp_path, "20260102-000000-gru-0002", hidden=16, lr=0.003, cal="isotonic")
    config_run(tmp_path, "20260103-000000-lstm-0003", kind="lstm", hidden=64, lr=0.05)
    config_run(tmp_path, "20260104-000000-base-0004", job="baselines")
    return tmp_path


def ids(rows):
    return [r["run_id"][-4:] for r in rows]


# ------------------------------------------------------------------ the grammar


def test_parser_accepts_dotted_fields():
    q = parse("train.lr<0.01 and model.hidden=64")
    assert q.fields == {"train.lr", "model.hidden"}
    assert parse(str(q)) == q
    assert str(parse("model.kind=gr*")) == 'model.kind="gr*"'
    assert parse("calibration.method~iso").matches({"config": {"calibration.method": "isotonic"}})
    with pytest.raises(QueryError, match="expected a value"):
        parse("train.lr<")


def test_a_typo_in_a_section_gets_a_did_you_mean():
    keys = ["train.lr", "train.epochs", "model.hidden", "model.kind"]
    with pytest.raises(QueryError, match="did you mean train.lr"):
        parse("trian.lr<0.01", config_keys=keys)
    assert parse("train.nope=1", config_keys=keys).fields == {"train.nope"}  # a known section: fine


ROWS = [
    {"config": {"train.lr": 0.001, "model.hidden": 64, "model.kind": "gru", "train.amp": True}},
    {"config": {"train.lr": 0.003, "model.hidden": 16, "model.kind": "GRU", "train.amp": False}},
    {"config": {"train.lr": 0.05, "model.hidden": 64, "model.kind": "lstm", "eval.ks": [20, 21]}},
    {"config": {"split.test_days": 150}},
    {"config": {}},
    {},
]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("train.lr<0.01", [0, 1]),
        ("train.lr>=0.003", [1, 2]),
        ("model.hidden=64", [0, 2]),
        ("model.hidden=64.0", [0, 2]),
        ("model.hidden!=64", [1, 3, 4, 5]),  # as for every field: a missing value satisfies != only
        ("model.kind=gru", [0, 1]),
        ("model.kind=g*", [0, 1]),
        ("model.kind~st", [2]),
        ("model.kind!~st", [0, 1, 3, 4, 5]),
        ("train.amp=true", [0]),
        ("train.amp=false", [1]),
        ("model.hidden=null", [3, 4, 5]),
        ("model.hidden!=null", [0, 1, 2]),
        ("model.kind<h", [0, 1]),
        ("model.kind>10", []),  # text against a number: no order
        ("eval.ks~21", [2]),
        ("train.lr<0.01 and model.hidden=64", [0]),
        ("not model.hidden=64", [1, 3, 4, 5]),
    ],
)
def test_matching_config_keys(text, expected):
    q = parse(text)
    assert [i for i, r in enumerate(ROWS) if q.matches(r)] == expected


def test_matching_on_the_stored_json_agrees_with_the_dict():
    """A row straight from the index (config_json) and a public row (config) match alike."""
    rng = random.Random(7)
    ops = ["=", "!=", "<", "<=", ">", ">="]
    for _ in range(300):
        cfg = {"train.lr": rng.choice([0.001, 0.01, 0.1, 1, None]), "model.hidden": rng.choice([8, 16, 64])}
        cfg = {k: v for k, v in cfg.items() if v is not None}
        text = f"train.lr{rng.choice(ops)}{rng.choice(['0.01', '1', '0.001'])} or model.hidden{rng.choice(ops)}16"
        q = parse(text)
        assert q.matches({"config": cfg}) == q.matches({"config_json": json.dumps(cfg)}), (text, cfg)


# ------------------------------------------------------------------ the index


def test_list_runs_filters_on_config_keys(three):
    assert ids(list_runs(three, where="train.lr<0.01 and model.hidden=64")) == ["0001"]
    assert ids(list_runs(three, where="model.hidden=64")) == ["0003", "0001"]
    assert ids(list_runs(three, where="calibration.method=iso*")) == ["0002"]
    assert ids(list_runs(three, where="split.test_days<200")) == ["0004"]
    row = list_runs(three, where="model.kind=lstm")[0]
    assert row["config"]["train.lr"] == 0.05 and "config_json" not in row


def test_sort_by_a_config_key_missing_last(three):
    """As for every field: `train.lr` ascending, `-train.lr` descending; runs without the key last."""
    assert ids(list_runs(three, sort="train.lr")) == ["0001", "0002", "0003", "0004"]
    assert ids(list_runs(three, sort="-train.lr")) == ["0003", "0002", "0001", "0004"]
    assert ids(list_runs(three, sort="model.hidden"))[:1] == ["0002"]
    assert ids(list_runs(three, sort="-model.kind")) == ["0003", "0002", "0001", "0004"]


def test_a_typo_against_the_index_gets_a_did_you_mean(three):
    with pytest.raises(QueryError, match="did you mean train.lr"):
        list_runs(three, where="trian.lr<0.01")
    with pytest.raises(InputError, match="did you mean"):
        list_runs(three, sort="trian.lr")


def test_the_config_is_read_at_upsert_not_at_listing(three, monkeypatch):
    list_runs(three)
    import core.store.rows as rows_mod

    def boom(path):
        raise AssertionError(f"config.yaml reread at listing: {path}")

    monkeypatch.setattr(rows_mod, "read_yaml", boom)
    assert ids(list_runs(three, where="model.hidden=16")) == ["0002"]


def test_config_keys_of_the_index(three):
    keys = Store(three).config_keys()
    assert {"train.lr", "model.hidden", "model.kind", "calibration.method", "split.test_days"} <= set(keys)
    assert keys["train.lr"]["type"] == "number" and keys["model.kind"]["type"] == "text"
    assert keys["train.lr"]["runs"] == 3 and keys["split.test_days"]["runs"] == 4
    assert "name" not in keys and "seed" not in keys  # top-level values are not fields


# ------------------------------------------------------------------ the CLI

app = typer.Typer()
app.add_typer(runs_app, name="runs")


@app.callback()
def _root() -> None:
    """A group callback keeps `runs` a subcommand, as in the real app."""


def cli(*args):
    return CliRunner().invoke(app, ["runs", *map(str, args)])


def test_cli_ls_where_config_key_json(three):
    res = cli("ls", "--runs-dir", three, "--where", "model.hidden=64", "--json")
    assert res.exit_code == 0, res.output
    assert ids(json.loads(res.stdout)) == ["0003", "0001"]
    res = cli("ls", "--runs-dir", three, "--sort", "-train.lr", "--json")
    assert ids(json.loads(res.stdout)) == ["0003", "0002", "0001", "0004"]
    res = cli("ls", "--runs-dir", three, "--where", "trian.lr<0.01")
    assert res.exit_code == 2 and "did you mean train.lr" in res.output


def test_cli_fields_lists_config_keys(three):
    res = cli("fields", "--runs-dir", three, "--json")
    assert res.exit_code == 0, res.output
    data = {d["name"]: d for d in json.loads(res.stdout)}
    assert "ece_after" in data and data["train.lr"]["type"] == "number"
    assert data["model.hidden"]["type"] == "number" and data["calibration.method"]["type"] == "text"
    out = cli("fields", "--runs-dir", three).stdout
    assert "train.lr" in out and "split.test_days" in out


# ------------------------------------------------------------------ the dashboard


async def test_the_dashboard_filter_takes_config_keys(three):
    from textual.widgets import DataTable, Input, Label

    from synapse_tui.app import SynapseApp

    app = SynapseApp(three, ascii_plots=False)

    def keys():
        return sorted(row.key.value[-4:] for row in app.screen.query_one("#runs", DataTable).ordered_rows)

    async def until(cond, tries=80):
        for _ in range(tries):
            await pilot.pause(0.05)
            if cond():
                return True
        return False

    async with app.run_test(size=(120, 30)) as pilot:
        assert await until(lambda: len(keys()) == 4)
        await pilot.press("slash")
        app.screen.query_one("#filter", Input).value = "model.hidden=16"
        await pilot.press("enter")
        assert await until(lambda: keys() == ["0002"]), keys()
        await pilot.press("slash")
        app.screen.query_one("#filter", Input).value = "trian.lr<0.01"
        await pilot.press("enter")
        error = app.screen.query_one("#filter-error", Label)
        assert await until(lambda: "did you mean train.lr" in str(error.render())), str(error.render())
        assert keys() == ["0002"]  # the rows shown stay
