"""core.evaluation.calibration on data where the answer is known.

True probabilities q (T, P) come from a random logit model with varied per-part base
rates; y ~ Bernoulli(q). Two miscalibrated scorers: (a) sharpened (true logit * 2.5),
(b) shifted per part (true logit + offset_j). Calibrators are fitted on the first days
and judged on LATER days only.
"""

from __future__ import annotations

import ast
import json

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from helpers import ROOT

from core.evaluation import calibration as C
from core.evaluation.calibration import METHODS, Calibrator, fit_calibrator

T_DAYS, P = 6000, 39
N_VAL = 3000  # days [0, N_VAL) are "validation", [N_VAL, T_DAYS) are later held-out days
SHARPEN = 2.5


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def classwise_ece(p, y, n_bins: int = 15) -> float:
    """Reference ECE: equal-width bins, the last bin closed, per part, averaged over parts."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    eces = []
    for j in range(p.shape[1]):
        pj, yj = p[:, j], y[:, j]
        b = np.minimum((pj * n_bins).astype(int), n_bins - 1)
        e = 0.0
        for k in range(n_bins):
            m = b == k
            if m.any():
                e += m.sum() / len(pj) * abs(pj[m].mean() - yj[m].mean())
        eces.append(e)
    return float(np.mean(eces))


def log_loss(p, y) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(20261122)
    base = rng.normal(-2.0, 0.6, size=P)  # varied per-part base rates
    true_logit = base + rng.normal(0.0, 0.9, size=(T_DAYS, P))
    q = _sigmoid(true_logit)
    y = (rng.random((T_DAYS, P)) < q).astype(np.int8)
    offset = rng.uniform(-1.5, 1.5, size=P)
    return {
        "q": q,
        "y": y,
        "true_logit": true_logit,
        "offset": offset,
        "sharp": true_logit * SHARPEN,  # case (a)
        "shifted": true_logit + offset,  # case (b)
    }


def _split(w, key):
    z, y = w[key], w["y"]
    return z[:N_VAL], y[:N_VAL], z[N_VAL:], y[N_VAL:]


@pytest.fixture(scope="module")
def fitted(world):
    """Every (case, method, per_part) fitted once on the validation days."""
    out = {}
    for case in ("sharp", "shifted"):
        zv, yv, _, _ = _split(world, case)
        for method in ("platt", "isotonic", "temperature"):
            for per_part in (True, False):
                out[case, method, per_part] = fit_calibrator(zv, yv, method, per_part)
    return out


# ------------------------------------------------------------- calibration quality


@pytest.mark.parametrize("method", ["platt", "isotonic", "temperature"])
def test_each_per_part_method_cuts_ece_of_sharpened_scores_on_later_days(world, fitted, method):
    _, _, zt, yt = _split(world, "sharp")
    cal, report = fitted["sharp", method, True]
    assert (report["method"], report["per_part"]) == (method, True)
    before = classwise_ece(_sigmoid(zt), yt)
    after = classwise_ece(cal.transform(zt), yt)
    truth = classwise_ece(world["q"][N_VAL:], yt)
    assert before > 0.05  # the sharpened scorer is badly calibrated
    assert after < 0.4 * before
    assert after < truth + 0.02  # close to what the true probabilities reach
    assert log_loss(cal.transform(zt), yt) < log_loss(_sigmoid(zt), yt)


def test_sharpened_scores_recover_the_known_map(fitted):
    """logit * 2.5 is undone by a = 1/2.5, b = 0 (platt) and T = 2.5 (temperature)."""
    platt, _ = fitted["sharp", "platt", False]
    assert platt.params["a"] == pytest.approx(1 / SHARPEN, abs=0.02)
    assert platt.params["b"] == pytest.approx(0.0, abs=0.05)
    temp, _ = fitted["sharp", "temperature", False]
    assert temp.params["T"] == pytest.approx(SHARPEN, rel=0.05)
    temp_pp, _ = fitted["sharp", "temperature", True]
    assert np.median(temp_pp.params["T"]) == pytest.approx(SHARPEN, rel=0.05)


def test_per_part_offsets_are_fixed_by_per_part_maps_not_by_global_temperature(world, fitted):
    _, _, zt, yt = _split(world, "shifted")
    before = classwise_ece(_sigmoid(zt), yt)
    ece = {
        k: classwise_ece(fitted["shifted", m, pp][0].transform(zt), yt)
        for k, (m, pp) in {
            "platt/part": ("platt", True),
            "isotonic/part": ("isotonic", True),
            "temperature/global": ("temperature", False),
        }.items()
    }
    assert before > 0.05
    assert ece["platt/part"] < 0.4 * before
    assert ece["isotonic/part"] < 0.5 * before
    # one temperature cannot move per-part offsets: it stays far behind per-part platt
    assert ece["temperature/global"] > 0.6 * before
    assert ece["platt/part"] < 0.5 * ece["temperature/global"]
    ll_platt = log_loss(fitted["shifted", "platt", True][0].transform(zt), yt)
    ll_temp = log_loss(fitted["shifted", "temperature", False][0].transform(zt), yt)
    assert ll_platt < ll_temp
    # and per-part platt recovers the offsets it has to undo: b_j ~ -offset_j, a_j ~ 1
    platt = fitted["shifted", "platt", True][0]
    assert np.corrcoef(platt.params["b"], -world["offset"])[0, 1] > 0.98
    assert np.median(platt.params["a"]) == pytest.approx(1.0, abs=0.1)


def test_global_temperature_keeps_the_ranking(world, fitted):
    _, _, zt, yt = _split(world, "shifted")
    cal, _ = fitted["shifted", "temperature", False]
    p = cal.transform(zt)
    np.testing.assert_array_equal(np.argsort(-p, axis=1, kind="stable"), np.argsort(-zt, axis=1, kind="stable"))
    for j in range(P):
        assert roc_auc_score(yt[:, j], p[:, j]) == roc_auc_score(yt[:, j], zt[:, j])


# ------------------------------------------------------------- agreement with sklearn


def test_platt_matches_sklearn_predict_proba(world, fitted):
    zv, yv, zt, _ = _split(world, "shifted")
    kw = dict(C=C._PLATT_C, solver="lbfgs", max_iter=1000, tol=1e-8)
    glob, _ = fitted["shifted", "platt", False]
    lr = LogisticRegression(**kw).fit(zv.reshape(-1, 1), yv.ravel())
    np.testing.assert_allclose(
        glob.transform(zt), lr.predict_proba(zt.reshape(-1, 1))[:, 1].reshape(zt.shape), rtol=1e-6, atol=1e-9
    )
    per, _ = fitted["shifted", "platt", True]
    got = per.transform(zt)
    for j in (0, 17, P - 1):
        lr = LogisticRegression(**kw).fit(zv[:, j : j + 1], yv[:, j])
        np.testing.assert_allclose(got[:, j], lr.predict_proba(zt[:, j : j + 1])[:, 1], rtol=1e-6, atol=1e-9)


def test_isotonic_matches_sklearn_predict_including_out_of_range(world, fitted):
    zv, yv, zt, _ = _split(world, "sharp")
    zt = zt.copy()
    zt[:5] = np.array([-40.0, 40.0, -np.inf, np.inf, 0.0])[:, None]  # outside the fitted range
    per, _ = fitted["sharp", "isotonic", True]
    got = per.transform(zt)
    sv, st = _sigmoid(np.clip(zv, -30, 30)), _sigmoid(np.clip(zt, -30, 30))
    for j in (0, 21, P - 1):
        iso = IsotonicRegression(out_of_bounds="clip", y_min=C.EPS, y_max=1 - C.EPS).fit(sv[:, j], yv[:, j])
        np.testing.assert_allclose(got[:, j], np.clip(iso.predict(st[:, j]), C.EPS, 1 - C.EPS), rtol=1e-9, atol=1e-12)


def test_none_is_the_sigmoid():
    z = np.array([[-3.0, 0.0, 2.0], [1.0, -1.0, 0.5]])
    cal, report = fit_calibrator(z, np.array([[0, 1, 1], [1, 0, 0]]), "none")
    np.testing.assert_allclose(cal.transform(z), _sigmoid(z))
    assert report["method"] == "none" and report["candidates"] == {}


# ------------------------------------------------------------- persistence


def _assert_plain(v, where="state"):
    if isinstance(v, dict):
        for k, x in v.items():
            assert type(k) is str, where
            _assert_plain(x, f"{where}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _assert_plain(x, f"{where}[{i}]")
    else:
        assert type(v) in (str, float, int, bool, type(None)), f"{where}: {type(v)}"


def test_state_round_trip_is_plain_and_exact(world, fitted):
    _, _, zt, _ = _split(world, "shifted")
    cals = [v[0] for v in fitted.values()] + [Calibrator("none", False, {})]
    for cal in cals:
        st = cal.state()
        _assert_plain(st)
        assert st["method"] == cal.method and st["per_part"] == cal.per_part
        back = Calibrator.from_state(json.loads(json.dumps(st)))
        assert back == cal
        np.testing.assert_array_equal(back.transform(zt), cal.transform(zt))
    assert {c.method for c in cals} == set(METHODS)


def test_state_loads_with_torch_weights_only(tmp_path, fitted):
    import torch

    states = {
        f"{m}/{pp}": fitted["sharp", m, pp][0].state()
        for m in ("platt", "isotonic", "temperature")
        for pp in (True, False)
    }
    torch.save({"calibrators": states}, tmp_path / "ck.pt")
    back = torch.load(tmp_path / "ck.pt", weights_only=True)["calibrators"]
    assert back == states


def test_from_state_rejects_bad_states():
    with pytest.raises(ValueError):
        Calibrator.from_state({"format": "other/9", "method": "platt", "per_part": False, "params": {}})
    with pytest.raises(ValueError):
        Calibrator.from_state({"method": "platt", "per_part": False, "params": {"a": 1.0}})
    with pytest.raises(ValueError):
        Calibrator.from_state({"method": "magic", "per_part": False, "params": {}})
    with pytest.raises(ValueError):
        Calibrator.from_state({"method": "temperature", "per_part": False, "params": {"T": -1.0}})


# ------------------------------------------------------------- auto


@pytest.fixture(scope="module")
def auto_shifted(world):
    zv, yv, _, _ = _split(world, "shifted")
    return fit_calibrator(zv, yv, "auto", per_part=True, holdout_fraction=0.5)


def test_auto_picks_a_per_part_map_on_offsets_and_the_minimum_candidate(auto_shifted):
    cal, report = auto_shifted
    assert set(report) >= {"method", "per_part", "candidates", "fallback_parts"}
    assert (report["method"], report["per_part"]) in {("platt", True), ("isotonic", True)}
    assert (cal.method, cal.per_part) == (report["method"], report["per_part"])
    cands = report["candidates"]
    assert set(cands) == {
        "none",
        "temperature/global",
        "platt/global",
        "isotonic/global",
        "temperature/part",
        "platt/part",
        "isotonic/part",
    }
    assert cands[cal.name] == min(cands.values())
    assert report["fallback_parts"] == []
    assert report["logloss_after"] < report["logloss_before"]


def test_auto_holds_out_the_later_days_and_refits_on_the_whole_window(world, auto_shifted):
    zv, yv, _, _ = _split(world, "shifted")
    cal, report = auto_shifted
    half = N_VAL // 2
    assert (report["n_fit_days"], report["n_holdout_days"]) == (half, N_VAL - half)
    # the candidate score is exactly: fit on the first days, mean log-loss on the last days
    early, _ = fit_calibrator(zv[:half], yv[:half], report["method"], report["per_part"])
    assert report["candidates"][cal.name] == pytest.approx(
        C.mean_log_loss(early.transform(zv[half:]), yv[half:]), rel=1e-12
    )
    # the returned calibrator is the winner refitted on the whole validation window
    full, _ = fit_calibrator(zv, yv, report["method"], report["per_part"])
    assert full == cal


def test_auto_is_deterministic_and_blind_to_days_after_validation(world, auto_shifted):
    zv, yv, _, _ = _split(world, "shifted")
    y_other = world["y"].copy()
    y_other[N_VAL:] = 1 - y_other[N_VAL:]  # rewrite every later label
    cal, report = auto_shifted
    cal2, report2 = fit_calibrator(world["shifted"][:N_VAL], y_other[:N_VAL], "auto", per_part=True)
    assert cal2.state() == cal.state()
    assert report2 == report


def test_auto_with_global_only_tries_global_candidates(world):
    zv, yv, _, _ = _split(world, "sharp")
    cal, report = fit_calibrator(zv[:1000], yv[:1000], "auto", per_part=False, holdout_fraction=0.3)
    assert set(report["candidates"]) == {"none", "temperature/global", "platt/global", "isotonic/global"}
    assert not cal.per_part and cal.method != "none"
    assert report["candidates"][cal.name] == min(report["candidates"].values())
    assert report["n_holdout_days"] == 300


# ------------------------------------------------------------- edge cases


@pytest.mark.parametrize("method", ["platt", "isotonic", "temperature"])
def test_single_class_columns_fall_back_to_the_global_map(world, method):
    zv, yv, zt, _ = _split(world, "shifted")
    zv, zt = zv[:800], zt[:200]
    yv = yv[:800].copy()
    yv[:, 3] = 0  # part 3 never happens in validation
    yv[:, 7] = 1  # part 7 always happens
    cal, report = fit_calibrator(zv, yv, method, per_part=True)
    assert report["fallback_parts"] == [3, 7]
    glob, _ = fit_calibrator(zv, yv, method, per_part=False)
    p, pg = cal.transform(zt), glob.transform(zt)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p[:, [3, 7]], pg[:, [3, 7]], rtol=1e-12)
    assert not np.allclose(p[:, 0], pg[:, 0])  # the other parts have their own maps


def test_auto_survives_single_class_columns(world):
    zv, yv, _, _ = _split(world, "shifted")
    yv = yv[:600].copy()
    yv[:, 5] = 0
    cal, report = fit_calibrator(zv[:600], yv, "auto")
    assert report["candidates"][cal.name] == min(report["candidates"].values())
    if cal.per_part:
        assert report["fallback_parts"] == [5]


def test_a_single_class_window_degenerates_to_the_identity():
    z = np.random.default_rng(1).normal(size=(50, 4))
    for method in ("platt", "isotonic", "temperature"):
        for per_part in (True, False):
            cal, report = fit_calibrator(z, np.zeros((50, 4)), method, per_part)
            assert report["degenerate"]
            np.testing.assert_allclose(cal.transform(z), np.clip(_sigmoid(z), C.EPS, 1 - C.EPS), atol=1e-12)


def test_infinite_logits_are_clipped_and_nan_is_refused(world):
    zv, yv, _, _ = _split(world, "sharp")
    zv = zv[:500].copy()
    zv[0, :] = -np.inf  # a baseline's log(0)
    zv[1, :] = np.inf
    for method in METHODS:
        for per_part in (True, False):
            cal, _ = fit_calibrator(zv, yv[:500], method, per_part)
            p = cal.transform(zv)
            assert np.isfinite(p).all() and p.min() >= C.EPS and p.max() <= 1 - C.EPS
    with pytest.raises(ValueError, match="NaN"):
        cal.transform(np.full((2, P), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        fit_calibrator(np.full((4, P), np.nan), np.zeros((4, P)), "platt")


def test_bad_inputs_are_refused(world):
    zv, yv, _, _ = _split(world, "sharp")
    zv, yv = zv[:100], yv[:100]
    with pytest.raises(ValueError, match="method"):
        fit_calibrator(zv, yv, "magic")
    with pytest.raises(ValueError, match="shape"):
        fit_calibrator(zv, yv[:, :5], "platt")
    with pytest.raises(ValueError, match="0/1"):
        fit_calibrator(zv, yv * 2, "platt")
    with pytest.raises(ValueError, match="holdout_fraction"):
        fit_calibrator(zv, yv, "auto", holdout_fraction=1.0)
    cal, _ = fit_calibrator(zv, yv, "platt", per_part=True)
    with pytest.raises(ValueError, match="parts"):
        cal.transform(zv[:, :10])
    # a per-part calibrator still takes a single day (tomorrow's pool) as shape (P,)
    assert cal.transform(zv[0]).shape == (P,)


def test_transform_is_vectorised_over_leading_axes(fitted, world):
    _, _, zt, _ = _split(world, "sharp")
    for key in (("sharp", "isotonic", True), ("sharp", "platt", True), ("sharp", "temperature", False)):
        cal = fitted[key][0]
        full = cal.transform(zt[:40])
        np.testing.assert_array_equal(cal.transform(zt[:40].reshape(4, 10, P)).reshape(40, P), full)


def test_calibration_imports_neither_torch_nor_ui():
    tree = ast.parse((ROOT / "core" / "evaluation" / "calibration.py").read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    # numpy/scipy/scikit-learn/threadpoolctl only: no torch (checkpoint readers need none)
    assert roots <= {"__future__", "math", "dataclasses", "typing", "numpy", "scipy", "sklearn", "threadpoolctl"}


def test_vectorised_platt_equals_sklearn_column_by_column():
    from scipy.special import expit

    """All columns in one Newton solve give scikit-learn's per-column answer: ordinary,
    rare-positive, sharpened and inverted columns, and a separable one (Newton cannot
    converge there, so that column must come from scikit-learn itself)."""
    rng = np.random.default_rng(3)
    T = 400
    z = rng.normal(-1.5, 1.0, (T, 5))
    z[:, 2] *= 3.0
    y = (rng.random((T, 5)) < 1 / (1 + np.exp(-z))).astype(float)
    y[:, 1] = rng.random(T) < 0.02
    y[:, 3] = rng.random(T) < 1 / (1 + np.exp(z[:, 3]))  # the logit points the wrong way
    y[:, 4] = (z[:, 4] > -1.5).astype(float)  # separable: the MLE runs off to infinity
    a, b = C._fit_platt_columns(z, y)
    kw = dict(C=C._PLATT_C, solver="lbfgs", max_iter=1000, tol=1e-8)
    for j in range(5):
        lr = LogisticRegression(**kw).fit(z[:, j : j + 1], y[:, j])
        want = lr.predict_proba(z[:, j : j + 1])[:, 1]
        got = expit(a[j] * z[:, j] + b[j])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=f"column {j}")
    assert a[3] < 0 < a[0]
    assert (a[4], b[4]) == C._fit_platt_1d(z[:, 4], y[:, 4])
