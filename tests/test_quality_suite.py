"""The quality suite's machinery (benchmarks/quality.py, benchmarks/reference.py) on tiny sets:
a planted and a uniform 1,000-day file, P=12, K=2, the baselines, a 3-epoch logistic run, a
hawkes fit, the ensemble of those two and the scikit-learn reference. The numbers are not judged here, only that they are measured,
reported in the table and the JSON, and that the uniform control is read honestly."""

import json

import numpy as np
import pytest

from benchmarks import quality
from benchmarks.quality import SetSpec
from benchmarks.reference import fit_reference, part_features, rescale
from core.config import load_config
from core.data.synthetic import generate

TINY = SetSpec("tiny", "tiny planted", days=1000, parts=12, per_day=2, seed=3)
TINY_UNIFORM = SetSpec("tiny_uniform", "tiny uniform control", kind="uniform", days=1000, parts=12, per_day=2, seed=4)
NUMBERS = ("lift_capture", "brier_skill", "oracle_brier_skill", "ratio", "ece", "classwise_ece", "seconds")


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    lines = []
    res = quality.run_suite(
        [TINY, TINY_UNIFORM],
        ["baselines", "logistic", "hawkes", "ensemble", "reference"],
        {"logistic": 3},
        runs_dir=tmp_path_factory.mktemp("quality"),
        log=lines.append,
        extra={"logistic": ["model.coupling=yesterday"]},
    )
    res["log"] = lines
    return res


@pytest.mark.slow  # the module fixture runs the suite on two tiny sets
def test_planted_set_is_measured(result):
    s = result["sets"][0]
    assert s["spec"]["name"] == "tiny" and not s.get("skipped")
    assert set(s["rows"]) == {"baselines", "logistic", "hawkes", "ensemble", "reference"}
    for fam, r in s["rows"].items():
        assert not r.get("error"), r
        for key in NUMBERS:
            assert isinstance(r[key], float) and np.isfinite(r[key]), (fam, key, r[key])
        assert r["verdict"] in ("APPROVED", "FAILED")
        # the ratio is model / oracle on the same test window
        assert r["ratio"] == pytest.approx(r["brier_skill"] / r["oracle_brier_skill"])
    assert s["rows"]["logistic"]["epochs"] <= 3
    # an --override reaches its family's runs only, and the report says so
    assert "model.coupling=yesterday" in s["rows"]["logistic"]["overrides"]
    assert result["overrides"] == {"logistic": ["model.coupling=yesterday"]}
    assert s["rows"]["reference"]["variant"] in ("raw", "sum-to-K")
    # and the same reference fitted on the training rows only (the days a run fits on)
    ref = s["rows"]["reference"]
    assert np.isfinite(ref["brier_skill_train_only"]) and ref["brier_skill_train_only"] != ref["brier_skill"]
    assert ref["ratio_train_only"] == pytest.approx(ref["brier_skill_train_only"] / ref["oracle_brier_skill"])
    fams = result["summary"]["families"]
    for fam in ("logistic", "hawkes"):
        below = s["rows"][fam]["ratio"] < ref["ratio_train_only"] - quality.BELOW_TOLERANCE
        assert ("tiny" in fams[fam]["below_reference_train_only"]) == below, fam
    assert fams["reference"]["ratio_median_train_only"] == pytest.approx(ref["ratio_train_only"])
    # every family and the reference read the same oracle on the same window
    o = s["oracle"]["brier_skill"]
    assert all(r["oracle_brier_skill"] == pytest.approx(o, abs=1e-12) for r in s["rows"].values())
    # neither the reference nor the ensemble (weights fitted on validation) is ever chosen
    assert s["chosen"] in ("baselines", "logistic", "hawkes")
    ens = s["rows"]["ensemble"]
    assert set(ens["members"]) == {"logistic", "hawkes"} and all(w >= 0 for w in ens["members"].values())
    assert quality._choose({**s["rows"], "ensemble": {**ens, "val_brier": 0.0}}) == s["chosen"]
    assert s["split"]["test"]["stop"] - s["split"]["test"]["start"] == 300
    assert any("tiny · logistic ·" in line for line in result["log"])  # progress lines


@pytest.mark.slow  # the module fixture runs the suite on two tiny sets
def test_uniform_control_reads_honestly(result):
    s = result["sets"][1]
    assert s["spec"]["kind"] == "uniform"
    ref = s["rows"]["reference"]
    assert ref["lift_capture"] is None and ref["lift_se"] is None and ref["ratio"] is None
    for fam, r in s["rows"].items():
        assert r["lift_capture"] is None, fam
        assert r["beats_random"] is False, fam
    sm = result["summary"]
    assert sm["control_beats_random"] == [] and sm["controls_run"] == ["tiny_uniform"]
    assert [g["set"] for g in sm["goal_rows"]] == ["tiny"]  # the control is not a learnable set
    md = quality.render_markdown(result)
    assert "nothing beats random" in md and "**beats random**" not in md
    block = md.split("### tiny_uniform", 1)[1]
    assert "| reference | — |" in block
    assert "fitted on train only (as the runs)" in md.split("### tiny\n", 1)[1]


@pytest.mark.slow  # the module fixture runs the suite on two tiny sets
def test_table_and_json_hold_the_numbers(result, tmp_path):
    md = quality.render_markdown(result, "python -m benchmarks.quality --only tiny")
    s = result["sets"][0]
    block = md.split("### tiny\n", 1)[1].split("### ", 1)[0]
    for fam in ("baselines", "logistic", "reference", "oracle"):
        assert f"| {fam} |" in block
    lg = s["rows"]["logistic"]
    assert f"| logistic | {lg['lift_capture']:.3f}" in block
    assert f"{lg['brier_skill']:.4f}" in block and f"{lg['classwise_ece']:.4f}" in block
    assert "## Summary" in md and "## Goals" in md
    assert "python -m benchmarks.quality --only tiny" in md
    text = json.dumps(quality._jsonable(result), allow_nan=False)
    back = json.loads(text)
    row = back["sets"][0]["rows"]["logistic"]
    assert row["lift_capture"] == pytest.approx(lg["lift_capture"])
    assert back["summary"]["families"]["logistic"]["lift_median"] == pytest.approx(lg["lift_capture"])
    # regenerating keeps hand-written notes
    out = tmp_path / "Q.md"
    out.write_text(md.replace("(none yet)", "my reading of the numbers"))
    assert quality.existing_notes(out) == "my reading of the numbers"


def test_successive_sets_skip_without_the_keyword(monkeypatch, tmp_path):
    monkeypatch.setattr(quality, "successive_supported", lambda: False)
    spec = SetSpec("succ", "successive", days=1000, parts=12, per_day=2, seed=1, sampling="successive")
    res = quality.run_suite([spec], ["baselines"], {}, runs_dir=tmp_path, log=lambda m: None)
    assert res["sets"][0]["skipped"] and res["summary"]["skipped"][0]["set"] == "succ"
    assert "Skipped" in quality.render_markdown(res)


def test_frozen_sets_and_their_configs():
    names = [s.name for s in quality.SETS]
    assert len(names) == len(set(names)) and 10 <= len(names) <= 16
    assert sum(s.sampling == "successive" for s in quality.SETS) >= len(names) // 4
    assert any(s.kind == "uniform" for s in quality.SETS)
    assert min(s.days for s in quality.SETS) == 2000 and max(s.days for s in quality.SETS) == 11000
    for s in quality.SETS:
        assert s.window == max(300, round(0.2 * s.days))
        ov = s.eval_overrides() + s.split_overrides()
        for fam in ("baselines", "logistic"):
            cfg = load_config(quality.CONFIGS / f"{fam}.yaml", ov)  # the overrides validate for every P, K
            assert cfg.data.parts == s.parts and cfg.eval.k == s.ks
            assert cfg.eval.tiers["good"] == s.per_day - 1
    assert set(quality.QUICK_SETS) <= set(names)
    with pytest.raises(SystemExit):
        quality._pick_sets(["nope"], False)
    assert quality._pick_families("reference,baselines", False) == ["baselines", "reference"]


def test_reference_is_causal_and_rescales():
    syn = generate("planted", days=400, parts=12, per_day=2, seed=2)
    X = part_features(syn.Y, syn.dates)
    Y2 = syn.Y.copy()
    Y2[200:] = ~Y2[200:]
    X2 = part_features(Y2, syn.dates)
    assert np.array_equal(X[:201], X2[:201])  # row t reads days < t only
    assert not np.array_equal(X[201], X2[201])
    p = np.random.default_rng(0).uniform(0.05, 0.5, (5, 12))
    assert np.allclose(rescale(p, 2).sum(axis=1), 2)
    ref = fit_reference(syn.Y, syn.dates, (0, 200), (200, 300), (300, 400), K=2)
    assert ref.p_test.shape == (100, 12) and ref.variant in ref.val_brier
    assert np.all((ref.p_test > 0) & (ref.p_test < 1))
