"""Synthetic generator: determinism, exact truth, the planted mechanisms, the committed sample."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hypergeom

from helpers import ROOT

from core.data import synthetic
from core.data.synthetic import PlantedParams, SyntheticError, generate, truth_path, write
from core.errors import InputError

SAMPLE = ROOT / "sample_data"
PLANTED_CSV = SAMPLE / "parts_daily.csv"
UNIFORM_CSV = SAMPLE / "control_uniform.csv"
KS = range(20, 28)
# Oracle good-or-better@K minus the hypergeometric rate, on the committed planted sample,
# is at least this at every K in 20..27 (achieved: 0.248 at K=20 .. 0.274 at K=24).
ORACLE_MARGIN = 0.20
# The last TEST_DAYS days of the committed sample (the default test window, see
# core/data/splits.py): the oracle beats the part-frequency ranking fitted on the days before
# them by at least this many paired standard errors at every K (achieved: 4.6 .. 5.9).
TEST_DAYS = 1000
HONEST_Z = 3.0


# ---------------------------------------------------------------------------- helpers


def read_draws(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a draws CSV independently of core.data.load: (dates datetime64[D], Y bool)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    ids = df.drop(columns="date").astype(int).to_numpy()
    P = 39
    Y = np.zeros((len(df), P), dtype=bool)
    np.put_along_axis(Y, ids - 1, True, axis=1)
    return df["date"].to_numpy().astype("datetime64[D]"), Y


def read_truth(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def good_or_better(truth: np.ndarray, Y: np.ndarray, K: int, m: int = 4) -> np.ndarray:
    """Per-day indicator: the top-K pool by `truth` (ties to the lower id) holds >= m events."""
    order = np.argsort(-truth, axis=1, kind="stable")
    pool = np.zeros_like(Y)
    np.put_along_axis(pool, order[:, :K], True, axis=1)
    return (pool & Y).sum(axis=1) >= m


def random_rate(K: int, P: int = 39, n: int = 5, m: int = 4) -> float:
    return float(hypergeom(P, n, K).sf(m - 1))


def log_odds(p: float) -> float:
    return float(np.log(p / (1 - p)))


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def planted():
    t0 = time.process_time()
    syn = generate("planted", days=11_000, parts=39, per_day=5, seed=1)
    return syn, time.process_time() - t0


@pytest.fixture(scope="module")
def uniform():
    return generate("uniform", days=11_000, parts=39, per_day=5, seed=2)


@pytest.fixture(scope="module")
def sample():
    dates, Y = read_draws(PLANTED_CSV)
    return dates, Y, read_truth(truth_path(PLANTED_CSV))


# ---------------------------------------------------------------------------- basics


def test_generation_of_11000_days_is_fast(planted):
    _, cpu_seconds = planted
    assert cpu_seconds < 2.0


@pytest.mark.parametrize("kind", ["planted", "uniform"])
def test_same_seed_same_data_other_seed_other_data(kind):
    a = generate(kind, days=1500, seed=5)
    b = generate(kind, days=1500, seed=5)
    c = generate(kind, days=1500, seed=6)
    np.testing.assert_array_equal(a.Y, b.Y)
    np.testing.assert_array_equal(a.truth, b.truth)
    np.testing.assert_array_equal(a.dates, b.dates)
    assert a.params == b.params
    assert not np.array_equal(a.Y, c.Y)
    if kind == "planted":
        assert not np.array_equal(a.truth, c.truth)
    # a prefix of a longer run is the shorter run (the process is causal)
    d = generate(kind, days=3000, seed=5)
    if kind == "planted":
        np.testing.assert_array_equal(d.Y[:1500], a.Y)


@pytest.mark.parametrize("which", ["planted", "uniform"])
def test_every_day_has_k_distinct_parts_and_truth_rows_sum_to_k(which, planted, uniform):
    syn = planted[0] if which == "planted" else uniform
    assert syn.Y.shape == (11_000, 39) and syn.Y.dtype == bool
    assert syn.truth.shape == (11_000, 39) and syn.truth.dtype == np.float64
    assert np.all(syn.Y.sum(axis=1) == 5)
    np.testing.assert_allclose(syn.truth.sum(axis=1), 5.0, rtol=0, atol=1e-12)
    assert np.all((syn.truth > 0) & (syn.truth < 1))
    assert syn.dates.dtype == np.dtype("datetime64[D]")
    assert syn.dates[0] == np.datetime64("1995-01-02")
    assert np.all(np.diff(syn.dates).astype(int) == 1)
    assert syn.K == 5 and syn.P == 39 and syn.kind == which
    if which == "uniform":
        assert np.all(syn.truth == 5 / 39)


def test_other_sizes_and_explicit_params():
    small = generate("planted", days=400, parts=10, per_day=3, seed=3, start="2020-02-28")
    assert small.Y.shape == (400, 10) and np.all(small.Y.sum(1) == 3)
    assert small.dates[1] == np.datetime64("2020-02-29")
    np.testing.assert_allclose(small.truth.sum(1), 3, atol=1e-12)
    lay = small.params["planted"]
    d = PlantedParams()  # the layout is fixed by P; the strengths are the defaults
    assert lay["excite"] == {"parts": [1, 7], "alpha": d.excite_alpha, "decay": d.excite_decay}
    assert lay["inhibit"] == {"parts": [4, 10], "alpha": d.inhibit_alpha, "decay": d.inhibit_decay}
    assert lay["weekday"] == {"parts": [2, 5, 8], "favoured": [0, 1, 2], "amplitude": d.weekday_amplitude}
    assert lay["pairs"] == [[6, 3, d.pair_lift]]
    p = PlantedParams(
        base_logits=(0.0,) * 6, excite_parts=(2,), inhibit_parts=(), weekday_parts=(), pairs=((1, 2, 2.0),)
    )
    syn = generate("planted", days=300, parts=6, per_day=2, seed=0, params=p)
    assert syn.params["planted"]["pairs"] == [[1, 2, 2.0]]
    # with every mechanism off, the truth is exactly K/P
    off = PlantedParams(base_spread=0.0, excite_parts=(), inhibit_parts=(), weekday_parts=(), pairs=())
    flat = generate("planted", days=50, parts=8, per_day=2, params=off)
    np.testing.assert_allclose(flat.truth, 2 / 8, atol=1e-15)


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        (dict(kind="nope", days=10), "kind must be"),
        (dict(kind="planted", days=0), "days must be"),
        (dict(kind="planted", days=10, parts=5, per_day=6), "per_day must be"),
        (dict(kind="planted", days=10, seed=-1), "seed must be"),
        (dict(kind="planted", days=10, start="1995-13-01"), "start must be"),
        (dict(kind="planted", days=10, days_extra=1), None),
        (dict(kind="uniform", days=10, params=PlantedParams()), "no planted params"),
        (dict(kind="planted", days=10, params=PlantedParams(excite_parts=(40,))), "out of range"),
        (dict(kind="planted", days=10, params=PlantedParams(pairs=((3, 3, 1.0),))), "bad pair"),
        (dict(kind="planted", days=10, params=PlantedParams(excite_decay=1.0)), "excite_decay"),
        (dict(kind="planted", days=10, params=PlantedParams(excite_parts=(1,), inhibit_parts=(1,))), "both"),
    ],
)
def test_bad_arguments_are_input_errors(kwargs, msg):
    kind = kwargs.pop("kind")
    if msg is None:
        with pytest.raises(TypeError):
            generate(kind, **kwargs)
        return
    with pytest.raises(SyntheticError, match=msg) as e:
        generate(kind, **kwargs)
    assert isinstance(e.value, InputError) and isinstance(e.value, ValueError)


# ---------------------------------------------------------------------------- truth


def test_truth_is_calibrated(planted):
    syn, _ = planted
    p, y = syn.truth.ravel(), syn.Y.ravel().astype(float)
    edges = np.quantile(p, np.linspace(0, 1, 11))
    b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, 9)
    for k in range(10):
        m = b == k
        se = np.sqrt((p[m] * (1 - p[m])).sum()) / m.sum()
        assert abs(y[m].mean() - p[m].mean()) < 4 * se, (k, y[m].mean(), p[m].mean(), se)
    # per part, too
    se = np.sqrt((syn.truth * (1 - syn.truth)).sum(0)) / len(syn.Y)
    assert np.all(np.abs(syn.Y.mean(0) - syn.truth.mean(0)) < 4 * se)
    # and the truth varies: parts have different base rates, days differ
    assert syn.truth.mean(0).max() - syn.truth.mean(0).min() > 0.05
    assert np.std(syn.truth) > 0.02


def _conditional_rates(y_today: np.ndarray, cond_yesterday: np.ndarray, truth_today: np.ndarray):
    """Realised and truth-implied rates of a part today given / not given a condition yesterday."""
    m = cond_yesterday[:-1]
    y, t = y_today[1:], truth_today[1:]
    return (y[m].mean(), y[~m].mean()), (t[m].mean(), t[~m].mean()), m.sum()


def _check_against_truth(real, implied, n_cond, n_other):
    for r, i, n in ((real[0], implied[0], n_cond), (real[1], implied[1], n_other)):
        assert abs(r - i) < 4.5 * np.sqrt(i * (1 - i) / n), (r, i, n)


@pytest.mark.parametrize("group", ["excite", "inhibit"])
def test_self_excitation_and_inhibition_are_visible(planted, group):
    syn, _ = planted
    lay = syn.params["planted"][group]
    ors = []
    for part in lay["parts"]:
        j = part - 1
        real, implied, n = _conditional_rates(syn.Y[:, j], syn.Y[:, j], syn.truth[:, j])
        _check_against_truth(real, implied, n, len(syn.Y) - 1 - n)
        if group == "excite":
            assert real[0] > real[1] + 0.03, (part, real)
        else:
            assert real[0] < real[1] - 0.03, (part, real)
        ors.append(log_odds(real[0]) - log_odds(real[1]))
    # roughly the configured log-odds (alpha times one unit of h; for the excited parts
    # the memory adds more, since h before an occurrence is itself higher: ~1.25 x alpha
    # with the defaults, and the truth implies the same)
    ratio = np.mean(ors) / lay["alpha"]
    assert 0.6 <= ratio <= 1.4, (np.mean(ors), lay["alpha"])


def test_weekday_seasonality_is_visible(planted):
    syn, _ = planted
    lay = syn.params["planted"]["weekday"]
    wd = (syn.dates.astype(np.int64) + 3) % 7
    assert wd[0] == 0  # 1995-01-02 was a Monday
    ors = []
    for part, fav in zip(lay["parts"], lay["favoured"]):
        y = syn.Y[:, part - 1]
        on, off = y[wd == fav].mean(), y[wd != fav].mean()
        assert on > off + 0.02, (part, fav, on, off)
        t_on, t_off = syn.truth[wd == fav, part - 1].mean(), syn.truth[wd != fav, part - 1].mean()
        _check_against_truth((on, off), (t_on, t_off), (wd == fav).sum(), (wd != fav).sum())
        ors.append(log_odds(on) - log_odds(off))
    # favoured day: +amp; the mean of the other six cos terms is -1/6
    expected = lay["amplitude"] * (1 + 1 / 6)
    assert 0.6 * expected <= np.mean(ors) <= 1.4 * expected, (np.mean(ors), expected)
    # parts without seasonality show none
    plain = [p for p in range(1, 40) if p % 6 in (0, 3)]
    spread = [np.ptp([syn.Y[wd == d, p - 1].mean() for d in range(7)]) for p in plain]
    seasonal = [np.ptp([syn.Y[wd == d, p - 1].mean() for d in range(7)]) for p in lay["parts"]]
    assert np.mean(seasonal) > 1.5 * np.mean(spread)


def test_pair_associations_are_visible(planted):
    syn, _ = planted
    ors = []
    for a, b, lift in syn.params["planted"]["pairs"]:
        real, implied, n = _conditional_rates(syn.Y[:, b - 1], syn.Y[:, a - 1], syn.truth[:, b - 1])
        _check_against_truth(real, implied, n, len(syn.Y) - 1 - n)
        assert real[0] > real[1] + 0.03, (a, b, real)
        ors.append(log_odds(real[0]) - log_odds(real[1]))
        # the reverse direction carries no planted lift
        rev, _, _ = _conditional_rates(syn.Y[:, a - 1], syn.Y[:, b - 1], syn.truth[:, a - 1])
        assert abs(log_odds(rev[0]) - log_odds(rev[1])) < 0.5 * lift
    lift = syn.params["planted"]["pairs"][0][2]
    assert 0.6 * lift <= np.mean(ors) <= 1.4 * lift, (np.mean(ors), lift)


# ---------------------------------------------------------------------------- oracle


def test_oracle_beats_random_clearly_on_the_committed_sample(sample):
    dates, Y, npz = sample
    truth = npz["truth"]
    assert truth.shape == Y.shape == (11_000, 39)
    np.testing.assert_array_equal(npz["dates"], dates)
    margins = {}
    for K in KS:
        oracle = good_or_better(truth, Y, K).mean()
        margins[K] = oracle - random_rate(K)
        assert margins[K] >= ORACLE_MARGIN, (K, oracle, random_rate(K))
        assert oracle < 0.8  # learnable, not trivial
    assert min(margins.values()) >= ORACLE_MARGIN


def test_oracle_beats_the_honest_frequency_baseline_on_the_test_window(sample):
    """What the planted strengths are for: on the last 1,000 days, knowing the dynamics
    beats ranking parts by their frequency before those days, by a clear margin."""
    _, Y, npz = sample
    truth = npz["truth"]
    split = len(Y) - TEST_DAYS
    freq = np.tile(Y[:split].mean(0), (TEST_DAYS, 1))
    for K in KS:
        oracle = good_or_better(truth[split:], Y[split:], K).astype(float)
        baseline = good_or_better(freq, Y[split:], K).astype(float)
        d = oracle - baseline
        z = d.mean() / (d.std(ddof=1) / np.sqrt(TEST_DAYS))
        assert z >= HONEST_Z, (K, oracle.mean(), baseline.mean(), z)


def test_oracle_does_not_beat_random_on_uniform_data(uniform):
    T = len(uniform.Y)
    for K in KS:
        rate = good_or_better(uniform.truth, uniform.Y, K).mean()
        r = random_rate(K)
        assert abs(rate - r) < 4 * np.sqrt(r * (1 - r) / T), (K, rate, r)
    # and every part is equally likely
    f = uniform.Y.mean(0)
    assert np.all(np.abs(f - 5 / 39) < 4.5 * np.sqrt(5 / 39 * 34 / 39 / T))


def test_random_reference_is_the_hypergeometric_tail():
    from math import comb

    for K in KS:
        exact = sum(comb(5, h) * comb(34, K - h) for h in (4, 5)) / comb(39, K)
        assert abs(random_rate(K) - exact) < 1e-12


# ---------------------------------------------------------------------------- files


def test_write_formats(tmp_path, planted):
    syn = generate("planted", days=30, seed=4)
    out = tmp_path / "d" / "x.csv"
    paths = write(out, syn)
    assert paths == [out, tmp_path / "d" / "x.truth.npz"]
    raw = out.read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n")
    lines = raw.decode("ascii").split("\n")[:-1]
    assert lines[0] == "date,e1,e2,e3,e4,e5" and len(lines) == 31
    for line, d, row in zip(lines[1:], syn.dates, syn.Y):
        date, *ids = line.split(",")
        assert date == str(d)
        assert [int(i) for i in ids] == (np.nonzero(row)[0] + 1).tolist()
    assert sorted(p.name for p in out.parent.iterdir()) == ["x.csv", "x.truth.npz"]  # no temp left
    npz = read_truth(paths[1])
    assert set(npz) == {"truth", "dates", "K", "P", "seed", "kind", "params", "format_version"}
    np.testing.assert_array_equal(npz["truth"], syn.truth)
    np.testing.assert_array_equal(npz["dates"], syn.dates)
    assert int(npz["K"]) == 5 and int(npz["P"]) == 39 and int(npz["seed"]) == 4
    assert str(npz["kind"]) == "planted"
    assert json.loads(str(npz["params"])) == syn.params
    # writing again gives the same bytes (no timestamps inside the zip)
    before = sha256(paths[1])
    write(out, syn)
    assert sha256(paths[1]) == before


def test_written_csv_matches_the_loader_and_its_writer(tmp_path):
    from core.data import load

    syn = generate("planted", days=200, seed=8)
    out = write(tmp_path / "a.csv", syn)[0]
    ds = load.load_dataset(out, parts=39, events_per_day=5)
    np.testing.assert_array_equal(ds.Y, syn.Y)
    np.testing.assert_array_equal(ds.dates, syn.dates)
    load.write_draws_csv(tmp_path / "b.csv", syn.dates, syn.Y)
    assert (tmp_path / "b.csv").read_bytes() == out.read_bytes()


def test_committed_files_are_consistent(sample, planted):
    dates, Y, npz = sample
    syn, _ = planted
    np.testing.assert_array_equal(Y, syn.Y)
    np.testing.assert_array_equal(npz["truth"], syn.truth)
    params = json.loads(str(npz["params"]))
    assert params["kind"] == "planted" and params["seed"] == int(npz["seed"]) == 1
    udates, uY = read_draws(UNIFORM_CSV)
    assert uY.shape == (11_000, 39) and np.all(uY.sum(1) == 5)


def _documented_commands() -> list[list[str]]:
    text = (SAMPLE / "README.md").read_text(encoding="utf-8")
    cmds = [shlex.split(m) for m in re.findall(r"^python -m core\.data\.synthetic .*$", text, re.M)]
    assert len(cmds) >= 2
    return cmds


def test_documented_commands_regenerate_the_committed_files_byte_for_byte(tmp_path, capsys):
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    for argv in _documented_commands():
        args = argv[3:]
        i = args.index("--out")
        committed = ROOT / args[i + 1]
        args[i + 1] = str(tmp_path / committed.name)
        assert synthetic._main(args) == 0
        for made, ref in (
            (tmp_path / committed.name, committed),
            (truth_path(tmp_path / committed.name), truth_path(committed)),
        ):
            assert ref.exists(), ref
            assert sha256(made) == sha256(ref), f"{ref.name} differs from its documented command"
            assert sha256(ref) in readme, f"README does not list the sha256 of {ref.name}"
    # the entry point reports bad input with exit code 2, and overwrites only with --force
    assert synthetic._main(["--kind", "planted", "--days", "0", "--out", str(tmp_path / "z.csv")]) == 2
    assert "days must be" in capsys.readouterr().err
    out = tmp_path / "again.csv"
    assert synthetic._main(["--kind", "uniform", "--days", "5", "--out", str(out)]) == 0
    assert synthetic._main(["--kind", "uniform", "--days", "5", "--out", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert synthetic._main(["--kind", "uniform", "--days", "6", "--out", str(out), "--force"]) == 0
    assert len(out.read_text().splitlines()) == 7


def test_documented_synapse_commands_give_the_same_bytes(tmp_path):
    """The `synapse data generate` lines in the README (the CLI calls generate + write)."""
    from typer.testing import CliRunner

    from synapse_tui import cli

    text = (SAMPLE / "README.md").read_text(encoding="utf-8")
    cmds = [shlex.split(m) for m in re.findall(r"^synapse data generate .*$", text, re.M)]
    assert len(cmds) == 2
    for argv in cmds:
        args = argv[1:]
        i = args.index("--out")
        committed = ROOT / args[i + 1]
        args[i + 1] = str(tmp_path / committed.name)
        result = CliRunner().invoke(cli.app, args)
        assert result.exit_code == 0, result.output
        assert sha256(tmp_path / committed.name) == sha256(committed)
        assert sha256(truth_path(tmp_path / committed.name)) == sha256(truth_path(committed))
