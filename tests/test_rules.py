"""Rules with evidence (core.rules, `synapse rules`): the statistics against scipy, the counts
against slow loops, the controls (uniform and shuffled histories give an empty rulebook), the
recovery of planted delayed pairs, the windows the miner may read, rulebook files and the CLI.

Speed is a benchmark (benchmarks/bench_rules.py), not an assert here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats as st
import typer
from typer.testing import CliRunner

from helpers import ROOT
from rules_data import PAIRS, matches, planted_days, recall, uniform_days

from core.data import load_dataset, write_draws_csv
from core.data.splits import Split, make_splits
from core.errors import ConfigError
from core.rules import (
    Rule,
    RulebookError,
    RulesSettings,
    dump_rulebook,
    fdr_adjust,
    load_rules_config,
    mine,
    parse_rulebook,
    wilson,
    window_table,
)
from core.rules import kinds as K
from core.rules.mine import evaluate_rules
from core.rules.stats import binom_p, hypergeom_p, lift_interval
from synapse_tui.commands.rules import rules_app

SAMPLE = ROOT / "sample_data" / "parts_daily.csv"
SETTINGS = RulesSettings()


def _split(T: int) -> Split:
    return make_splits(T)[-1]


@pytest.fixture(scope="module")
def sample():
    ds = load_dataset(SAMPLE, parts=39, events_per_day=5)
    return ds.dates, ds.Y


@pytest.fixture(scope="module")
def sample_mined(sample):
    dates, Y = sample
    return mine(Y, dates, _split(len(dates)), SETTINGS)


# ----------------------------------------------------------------------------- statistics
def test_wilson_matches_scipy_binomtest():
    rng = np.random.default_rng(0)
    n = rng.integers(1, 400, 60)
    x = rng.integers(0, n + 1)
    lo, hi = wilson(x, n)
    for xi, ni, a, b in zip(x, n, lo, hi, strict=True):
        ci = st.binomtest(int(xi), int(ni)).proportion_ci(method="wilson")
        assert a == pytest.approx(ci.low, abs=1e-12) and b == pytest.approx(ci.high, abs=1e-12)
    lift, llo, lhi = lift_interval(x, n, 0.2)
    np.testing.assert_allclose(lift, x / n / 0.2)
    np.testing.assert_allclose([llo, lhi], [lo / 0.2, hi / 0.2])


def test_hypergeom_p_is_fishers_exact_one_sided():
    rng = np.random.default_rng(1)
    for _ in range(40):
        N = int(rng.integers(50, 2000))
        M = int(rng.integers(1, N))
        n = int(rng.integers(1, N))
        lo, hi = max(0, n + M - N), min(n, M)
        x = int(rng.integers(lo, hi + 1))
        table = [[x, n - x], [M - x, N - n - M + x]]
        up = st.fisher_exact(table, alternative="greater").pvalue
        down = st.fisher_exact(table, alternative="less").pvalue
        assert hypergeom_p(x, N, M, n, 1) == pytest.approx(up, rel=1e-9, abs=1e-300)
        assert hypergeom_p(x, N, M, n, -1) == pytest.approx(down, rel=1e-9, abs=1e-300)


def test_binom_p_matches_binomtest():
    rng = np.random.default_rng(2)
    n = rng.integers(1, 500, 50)
    x = rng.integers(0, n + 1)
    p = rng.uniform(0.02, 0.5, 50)
    up = binom_p(x, n, p, np.ones(50))
    down = binom_p(x, n, p, -np.ones(50))
    for i in range(50):
        assert up[i] == pytest.approx(st.binomtest(int(x[i]), int(n[i]), p[i], alternative="greater").pvalue, rel=1e-9)
        assert down[i] == pytest.approx(st.binomtest(int(x[i]), int(n[i]), p[i], alternative="less").pvalue, rel=1e-9)


@pytest.mark.parametrize("method", ["bh", "by"])
def test_fdr_adjust_matches_scipy(method):
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(size=300), rng.uniform(0, 1e-4, 20), [0.01, 0.01, 0.01, 1.0, 0.0]])
    np.testing.assert_allclose(fdr_adjust(p, method), st.false_discovery_control(p, method=method), rtol=1e-12)
    assert fdr_adjust([], method).size == 0
    with pytest.raises(ValueError):
        fdr_adjust([0.5, 1.5])


# ----------------------------------------------------------------------------- counts
def test_window_counts_match_slow_loops():
    """Every kind's n (antecedent days) and x (with the consequent) against a loop over days,
    on a validation-like window whose antecedents look back into earlier rows."""
    rng = np.random.default_rng(4)
    T, P = 260, 7
    Y = rng.random((T, P)) < 0.3
    dates = np.datetime64("2001-03-01") + np.arange(T)
    settings = RulesSettings(windows=[[1, 1], [2, 4]], gaps=[3, 6], min_support=1)
    start, stop = 120, 230
    t = window_table(Y, dates, start, stop, settings)
    days = range(start, stop)
    wd, mo = K.weekday_index(dates), K.month_index(dates)
    for i in range(len(t)):
        kind, p, q, a, b = K.KINDS[t.kind[i]], t.ant[i], t.cons[i], t.a[i], t.b[i]
        if kind in ("follow_within", "inhibition"):
            fire = [Y[max(0, s - b) : s - a + 1, p].any() for s in days]
        elif kind == "cooccurrence":
            fire = [Y[s, p] for s in days]
        elif kind == "long_absence":
            fire = [s >= a and not Y[s - a : s, p].any() for s in days]
        else:
            fire = [(wd if a == K.CAL_WEEKDAY else mo)[s] == b for s in days]
        fire = np.array(fire, dtype=bool)
        hit = Y[start:stop, q]
        assert t.n[i] == fire.sum(), (kind, p, q, a, b)
        assert t.x[i] == (fire & hit).sum(), (kind, p, q, a, b)
        assert t.N[i] == stop - start and t.M[i] == hit.sum()
    assert set(K.KINDS) == {K.KINDS[k] for k in np.unique(t.kind)}


def test_cooccurrence_null_rate_is_exact_for_uniform_days():
    """With equal rates the conditional rate is (K - 1) / (P - 1) (not K / P: exactly-K days)."""
    P, K_ = 39, 5
    Y = np.zeros((P, P), dtype=bool)
    for s in range(P):  # every part exactly 5 times over 39 days: equal rates
        Y[s, [(s + j) % P for j in range(K_)]] = True
    t = K.cooccurrence(Y, 0)[0]
    np.testing.assert_allclose(t.base, (K_ - 1) / (P - 1))


def test_rule_fires_where_the_miner_counted(sample_mined, sample):
    """Rule.antecedent_series (what a hybrid would use) reproduces the mined support and hits."""
    dates, Y = sample
    tr0, tr1 = sample_mined.train
    assert sample_mined.rules
    for r in sample_mined.rules[:25]:
        fire = r.antecedent_series(Y, dates)[tr0:tr1]
        ev = r.evidence["train"]
        assert fire.sum() == ev["support"], r.when
        assert (fire & Y[tr0:tr1, r.consequent[0] - 1]).sum() == ev["hits"], r.when
        # causal: changing day t does not change whether the rule fires on day t
        if r.predictive:
            Y2 = Y.copy()
            Y2[5000] = ~Y2[5000]
            assert r.antecedent_series(Y2, dates)[5000] == r.antecedent_series(Y, dates)[5000]


# ----------------------------------------------------------------------------- truth and controls
def test_recovers_planted_delayed_pairs():
    recalls, false = [], []
    for seed in range(3):
        dates, Y = planted_days(seed=seed)
        res = mine(Y, dates, _split(len(dates)), SETTINGS)
        recalls.append(recall(res.rules))
        false.append(sum(not matches(r) for r in res.rules))
    print(f"planted pairs: recall per seed {recalls}, false discoveries per seed {false}")
    assert min(recalls) >= 0.6 and np.mean(recalls) >= 0.8
    assert sum(false) <= 2


def test_uniform_control_gives_an_empty_rulebook_over_seeds():
    nonempty, discovered = 0, 0
    for seed in range(6):
        dates, Y = uniform_days(seed=100 + seed)
        res = mine(Y, dates, _split(len(dates)), SETTINGS)
        nonempty += bool(res.rules)
        discovered += res.counts()["all"]["discovered"]
    print(f"uniform control: {nonempty}/6 non-empty rulebooks, {discovered} training discoveries in all")
    assert nonempty == 0  # expected rate <= FDR 0.05 x replication 0.05
    assert discovered <= 3  # BH at 0.05 under the global null: P(any) <= 0.05 a seed


def test_shuffled_history_gives_an_empty_rulebook(sample):
    """The sample's rows permuted: every temporal rule is destroyed (dates stay in place), and
    the same-day structure that is left is what exactly-K days imply (co-occurrence null)."""
    dates, Y = sample
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(Y))
        res = mine(Y[perm], dates, _split(len(dates)), SETTINGS)
        assert res.rules == [], [(r.kind, r.when, r.then) for r in res.rules]


def test_bundled_sample_recovers_its_planted_mechanisms(sample_mined):
    rules = sample_mined.rules
    lag1 = {(r.antecedent[0], r.consequent[0]) for r in rules if r.kind == "follow_within" and r.window == (1, 1)}
    pairs = {(6, 3), (12, 9), (18, 15), (24, 21), (30, 27), (36, 33)}
    assert pairs <= lag1  # every planted pair, at lag 1, in its own direction
    assert not {(b, a) for a, b in pairs} & lag1  # and never reversed
    excited = {p for p in range(1, 40) if p % 6 == 1}
    assert excited <= {a for a, b in lag1 if a == b}
    inhibited = {r.antecedent[0] for r in rules if r.kind == "inhibition" and r.antecedent == r.consequent}
    assert {p for p in range(1, 40) if p % 6 == 4} <= inhibited  # (a weekday part also "inhibits" itself 2-3 draws on)
    weekday = {r.consequent[0] for r in rules if r.kind == "calendar" and r.weekday is not None}
    assert len(weekday & {p for p in range(1, 40) if p % 6 in (2, 5)}) >= 10
    assert sample_mined.counts()["cooccurrence"]["kept"] == 0  # none planted


# ----------------------------------------------------------------------------- windows read
def test_test_window_is_never_read(sample):
    """A blatant pattern in the test window (part 30 is always followed by part 31, part 39 every
    Monday) must not appear, and the rulebook must not change at all."""
    dates, Y = sample
    split = _split(len(dates))
    clean = mine(Y, dates, split, SETTINGS)
    te0, te1 = split.test
    Yp = Y.copy()
    rng = np.random.default_rng(9)
    for s in range(te0, te1):
        day = np.zeros(39, dtype=bool)
        fixed = [30] if s % 2 == 0 else [31]
        if K.weekday_index(dates[s : s + 1])[0] == 0:
            fixed.append(39)
        day[[f - 1 for f in fixed]] = True
        others = rng.choice([p for p in range(39) if not day[p]], 5 - day.sum(), replace=False)
        day[others] = True
        Yp[s] = day
    poisoned = mine(Yp, dates, split, SETTINGS)
    assert [r.to_dict() for r in poisoned.rules] == [r.to_dict() for r in clean.rules]
    assert not any(r.antecedent == (30,) and r.consequent == (31,) for r in poisoned.rules)
    # the same poison in the validation window is read (replication), never in training
    Yv = Y.copy()
    va0, va1 = split.val
    Yv[va0:va1] = Yp[te0 : te0 + (va1 - va0)]
    val_poisoned = mine(Yv, dates, split, SETTINGS)
    np.testing.assert_array_equal(val_poisoned.ev.p, clean.ev.p)  # training evidence untouched
    assert len(val_poisoned.rules) < len(clean.rules)  # replication really looks at validation
    assert not any(r.antecedent == (30,) and r.consequent == (31,) for r in val_poisoned.rules)


def test_window_table_reads_only_its_rows():
    dates, Y = uniform_days(T=400, seed=5)
    settings = RulesSettings(windows=[[1, 2]], gaps=[5])
    t = window_table(Y, dates, 200, 300, settings)
    Y2 = Y.copy()
    Y2[300:] = True  # after the window
    Y2[: 200 - settings.lookback] = True  # before its look-back
    t2 = window_table(Y2, dates, 200, 300, settings)
    np.testing.assert_array_equal(t.x, t2.x)
    np.testing.assert_array_equal(t.n, t2.n)


# ----------------------------------------------------------------------------- rulebook files
def test_rulebook_round_trip(sample_mined):
    text = dump_rulebook(sample_mined.rules, parts=39, mined={"data": "x.csv", "settings": SETTINGS.model_dump()})
    book = parse_rulebook(text, "rulebook.yaml")
    assert [r.key() for r in book.rules] == [r.key() for r in sample_mined.rules]
    assert [r.evidence for r in book.rules] == [r.evidence for r in sample_mined.rules]
    assert all(r.source == "mined" for r in book.rules)
    first = sample_mined.rules[0]
    assert f"when: {first.when}" in text and f"lift: {first.lift_text}" in text
    assert parse_rulebook(dump_rulebook([], parts=39), "empty.yaml").rules == []


USER_BOOK = """\
format: synapse.rulebook/1
parts: 39
rules:
  - kind: follow_within
    when: my own words
    antecedent: [12]
    consequent: [37]
    window: {min: 2, max: 6}
  - kind: inhibition
    antecedent: [40]
    consequent: [3]
    window: {min: 1, max: 1}
  - kind: calendar
    weekday: Funday
    consequent: [5]
  - kind: long_absense
    antecedent: [3]
    consequent: [3]
    gap: 20
  - kind: follow_within
    antecedent: [1]
    consequent: [2]
    window: {min: 5, max: 2}
    colour: red
"""


def test_user_rulebook_errors_name_file_and_line():
    with pytest.raises(RulebookError) as exc:
        parse_rulebook(USER_BOOK, "mine.yaml")
    e = exc.value
    assert (e.path, e.line) == ("mine.yaml", 10)
    assert "rules[1].antecedent: 40 is not a part id in 1..39" in e.problem
    msg = str(e)
    assert "mine.yaml:14: rules[2].weekday: 'Funday' is not a weekday" in msg
    assert "mine.yaml:16: rules[3].kind: unknown kind 'long_absense' — did you mean 'long_absence'?" in msg
    assert "mine.yaml:23: rules[4].window: min (5) is larger than max (2)" in msg
    assert "mine.yaml:24: rules[4].colour: unknown key 'colour'" in msg


def test_user_rules_accepted():
    good = USER_BOOK.split("  - kind: inhibition")[0] + (
        "  - kind: calendar\n    month: march\n    consequent: [5, 6]\n    enabled: false\n"
        "  - kind: long_absence\n    antecedent: [3]\n    consequent: [3]\n    gap: 20\n"
    )
    book = parse_rulebook(good, "good.yaml")
    assert [r.kind for r in book.rules] == ["follow_within", "calendar", "long_absence"]
    assert book.rules[0].window == (2, 6) and book.rules[0].source == "user" and book.rules[0].line == 4
    assert book.rules[1].month == 2 and book.rules[1].consequent == (5, 6) and not book.rules[1].enabled
    assert book.rules[0].when == "part 12 within the last 2-6 draws"
    with pytest.raises(RulebookError, match="good.yaml:2: the rulebook is for 39 parts but the data has 20"):
        parse_rulebook(good, "good.yaml", parts=20)
    dup = good + "  - kind: long_absence\n    antecedent: [3]\n    consequent: [3]\n    gap: 20\n"
    with pytest.raises(RulebookError, match=r"good.yaml:17: rules\[3\]: the same rule as rules\[2\]"):
        parse_rulebook(dup, "good.yaml")
    with pytest.raises(RulebookError, match="good.yaml:3: YAML syntax error"):
        parse_rulebook("rules:\n  - kind: [\n", "good.yaml")


# ----------------------------------------------------------------------------- config
def test_rules_config_uses_the_run_split_and_names_lines(tmp_path):
    cfg, settings = load_rules_config(
        ROOT / "configs" / "rules" / "mine.yaml", overrides=["rules.fdr=0.1", "split.val_days=500"]
    )
    assert settings.fdr == 0.1 and cfg.split.val_days == 500 and cfg.split.test_days == 1000
    assert settings == RulesSettings(fdr=0.1)  # the shipped file holds the defaults
    with pytest.raises(
        ConfigError, match=r"-o rules.windowz=1: unknown key 'rules.windowz' — did you mean 'rules.windows'"
    ):
        load_rules_config(ROOT / "configs" / "rules" / "mine.yaml", overrides=["rules.windowz=1"])
    bad = tmp_path / "r.yaml"
    bad.write_text("split:\n  val_days: 300\nrules:\n  fdr: 0.05\n  windows: [[3, 1]]\n")
    with pytest.raises(ConfigError, match=r"r.yaml:5: rules.windows: .*min must not exceed max"):
        load_rules_config(bad)
    bad.write_text("split:\n  val_dayz: 300\n")
    with pytest.raises(ConfigError, match=r"r.yaml:2: unknown key 'split.val_dayz'"):
        load_rules_config(bad)


# ----------------------------------------------------------------------------- CLI
def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(rules_app, name="rules")

    @app.callback()
    def _root() -> None:
        pass

    return app


@pytest.fixture(scope="module")
def planted_csv(tmp_path_factory):
    d = tmp_path_factory.mktemp("rules")
    dates, Y = planted_days(T=6000, seed=0)
    path = d / "planted.csv"
    write_draws_csv(path, dates, Y)
    return path


def test_cli_mine_json_shape(planted_csv, tmp_path):
    runner = CliRunner()
    out = tmp_path / "book"
    res = runner.invoke(_app(), ["rules", "mine", "--data", str(planted_csv), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) >= {"data", "windows", "settings", "counts", "rules", "files"}
    assert doc["windows"]["test"]["read"] is False
    assert doc["windows"]["train"]["days"] == 4000 and doc["windows"]["validation"]["days"] == 1000
    assert doc["rules"], "the planted pairs should give rules"
    for r in doc["rules"]:
        assert r["kind"] in K.KINDS
        assert all(isinstance(p, int) for p in r["antecedent"] + r["consequent"])
        for w in ("train", "validation"):
            assert {"support", "hits", "confidence", "base", "lift", "ci", "p"} <= set(r["evidence"][w])
        assert "q" in r["evidence"]["train"]
    found = {(tuple(r["antecedent"]), tuple(r["consequent"])) for r in doc["rules"]}
    assert len(found) >= 3 and found <= {((p,), (q,)) for p, q, *_ in PAIRS}  # planted pairs, nothing else
    assert (out / "rulebook.yaml").is_file() and (out / "rulebook.md").is_file()
    assert "| # | kind | when |" in (out / "rulebook.md").read_text()
    # the written rulebook checks, and a second mine refuses to overwrite it
    chk = runner.invoke(_app(), ["rules", "check", str(out / "rulebook.yaml"), "--json"])
    assert chk.exit_code == 0 and json.loads(chk.stdout)["rules"] == len(doc["rules"])
    again = runner.invoke(_app(), ["rules", "mine", "--data", str(planted_csv), "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    forced = runner.invoke(_app(), ["rules", "mine", "--data", str(planted_csv), "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert "(1,000 days): not read" in forced.output and "kept rules" in forced.output
    assert f"wrote {out / 'rulebook.yaml'}" in forced.output


def test_cli_check_reports_file_line(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(USER_BOOK)
    res = CliRunner().invoke(_app(), ["rules", "check", str(path)])
    assert res.exit_code == 2
    assert f"{path}:10: rules[1].antecedent: 40 is not a part id" in res.output


def test_cli_module_import_is_light():
    code = (
        "import sys, synapse_tui.commands.rules as m; "
        "bad = [k for k in ('torch', 'scipy', 'numpy', 'core.rules') if k in sys.modules]; "
        "print(bad); sys.exit(bool(bad))"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_rule_words():
    assert Rule("follow_within", (12,), (37,), window=(2, 6)).when == "part 12 within the last 2-6 draws"
    assert Rule("inhibition", (3,), (5,), window=(1, 1)).then == "part 5 less likely"
    assert Rule("long_absence", (3,), (3,), gap=20).when == "part 3 unseen for 20+ draws"
    assert Rule("calendar", (), (5,), weekday=0).when == "the draw is on a Monday"


def test_same_day_pair_is_found_and_evaluated_like_the_miner():
    """A planted same-day pair (part 4 joins part 9's day half the time) is the only
    co-occurrence kept; evaluating that rule on its own gives the miner's numbers."""
    dates, Y = uniform_days(seed=7)
    rng = np.random.default_rng(7)
    for s in np.flatnonzero(Y[:, 8] & ~Y[:, 3]):
        if rng.random() < 0.5:
            drop = rng.choice([p for p in np.flatnonzero(Y[s]) if p != 8])
            Y[s, drop], Y[s, 3] = False, True
    split = _split(len(dates))
    res = mine(Y, dates, split, RulesSettings(kinds=["cooccurrence"]))
    assert [(r.antecedent, r.consequent) for r in res.rules] == [((4,), (9,))]
    ev = evaluate_rules(res.rules, Y, dates, split)[0][0]
    train = dict(res.rules[0].evidence["train"])
    train.pop("q")
    assert ev["train"] == train and ev["validation"] == res.rules[0].evidence["validation"]


def test_cli_check_measures_user_rules(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "rules:\n  - kind: follow_within\n    antecedent: [6]\n    consequent: [3, 4]\n    window: {min: 1, max: 1}\n"
    )
    res = CliRunner().invoke(_app(), ["rules", "check", str(path), "--data", str(SAMPLE), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    (rule,) = doc["evidence"]
    assert rule["line"] == 2 and [e["part"] for e in rule["parts"]] == [3, 4]
    planted, unrelated = rule["parts"]
    assert planted["train"]["lift"] > 1.8 and planted["validation"]["p"] < 0.01
    assert 0.8 < unrelated["train"]["lift"] < 1.25 and unrelated["train"]["p"] > 0.05
    # a rule that never fires on training: no lift (null, not NaN: the JSON stays strict), p = 1
    path.write_text(
        "rules:\n  - kind: follow_within\n    antecedent: [6]\n    consequent: [3]\n    window: {min: 9990, max: 10000}\n"
    )
    res = CliRunner().invoke(_app(), ["rules", "check", str(path), "--data", str(SAMPLE), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    train = doc["evidence"][0]["parts"][0]["train"]
    assert train["support"] == 0 and train["lift"] is None and train["p"] == 1.0
    res = CliRunner().invoke(_app(), ["rules", "check", str(path), "--data", str(SAMPLE)])
    assert res.exit_code == 0 and "n/a" in res.output


def test_the_rules_config_is_not_a_run_config():
    from core.config import shipped_configs
    from core.rules import DEFAULT_RULES_CONFIG

    assert DEFAULT_RULES_CONFIG.is_file() and DEFAULT_RULES_CONFIG not in shipped_configs().values()
    assert load_rules_config()[1] == RulesSettings()


def test_a_run_config_gives_its_split_to_the_miner():
    cfg, settings = load_rules_config(ROOT / "configs" / "gru.yaml", overrides=["split.test_days=700"])
    assert cfg.model.kind == "gru" and cfg.split.test_days == 700
    assert settings == RulesSettings()


def test_large_rulebooks_read_and_aliases_are_refused(sample_mined):
    """A mined rulebook can hold thousands of rules (far past the 10,000 YAML nodes a config
    may have); aliases, which could blow it up, are refused instead."""
    many = [
        Rule("follow_within", (p,), (q,), window=(a, a), evidence=sample_mined.rules[0].evidence)
        for p in range(1, 40)
        for q in range(1, 40)
        for a in (1, 2)
    ]
    text = dump_rulebook(many, parts=39)
    assert len(parse_rulebook(text, "big.yaml").rules) == len(many) == 3042
    bomb = "parts: 39\nx: &a [1, 2]\nrules:\n  - kind: calendar\n    weekday: Mon\n    consequent: *a\n"
    with pytest.raises(RulebookError, match=r"bomb.yaml:6: YAML aliases \(\*name\) are not allowed"):
        parse_rulebook(bomb, "bomb.yaml")
    with pytest.raises(RulebookError, match="top level must be a mapping"):
        parse_rulebook("- kind: calendar\n", "list.yaml")


def test_settings_change_what_is_kept(sample_mined, sample):
    dates, Y = sample
    split = _split(len(dates))
    by = mine(Y, dates, split, RulesSettings(fdr_method="by"))
    assert {r.key() for r in by.rules} < {r.key() for r in sample_mined.rules}  # BY is stricter than BH
    top = mine(Y, dates, split, RulesSettings(max_rules=5))
    assert [r.key() for r in top.rules] == [r.key() for r in sample_mined.rules[:5]]
    only = mine(Y, dates, split, RulesSettings(kinds=["calendar"], calendar=["month"]))
    assert set(only.counts()) == {"calendar", "all"} and only.counts()["calendar"]["candidates"] == 12 * 39
    assert all(r.month is not None for r in only.rules)
