"""Post-hoc calibration of per-part logits: platt, isotonic, temperature (global or per part).

Every model in Synapse outputs one logit per part per day. A calibrator is fitted on the
validation window's logits and labels only, and maps any (..., P) logits to calibrated
probabilities in [EPS, 1 - EPS].

Methods (docs/ARCHITECTURE.md, "Calibration"):
- ``none``         p = sigmoid(z)
- ``platt``        p = sigmoid(a * z + b): scikit-learn's LogisticRegression objective
                   (effectively unregularised) on the logit as the one feature, solved for
                   all parts at once by Newton steps (scikit-learn itself where that fails)
- ``isotonic``     p = iso(sigmoid(z)), scikit-learn's IsotonicRegression; the fitted step
                   function is stored as plain threshold lists and applied with np.interp
- ``temperature``  p = sigmoid(z / T), T > 0, minimising validation NLL over log T
                   (scipy.optimize.minimize_scalar). Temperature preserves the ranking and
                   cannot fix per-part offsets in base rate; per-part platt/isotonic can.

``per_part=True`` fits one map per column. A column with a single class in validation
(no positive or no negative day) falls back to the global map; those columns are listed
in the report's ``fallback_parts`` (0-based column indices). If the whole window has a
single class, every method degenerates to the identity (p = sigmoid(z)), reported as
``degenerate``.

``fit_calibrator(..., method="auto")`` splits the validation window in time (the first
``1 - holdout_fraction`` of the days fit, the last ``holdout_fraction`` are scored; never
shuffled), fits every candidate, picks the lowest mean held-out log-loss (ties go to the
simpler candidate, earlier in ``candidate order``), then refits the winner on the whole
validation window.

Calibrators hold plain Python values only (``state()``), so a checkpoint that stores them
loads with ``torch.load(weights_only=True)`` and no scikit-learn object is ever pickled.
This module never imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from threadpoolctl import threadpool_limits

METHODS = ("none", "platt", "isotonic", "temperature")
EPS = 1e-6  # calibrated probabilities lie in [EPS, 1 - EPS]
LOGIT_CLIP = 30.0  # logits are clipped to [-LOGIT_CLIP, LOGIT_CLIP] first (log(0) = -inf happens)
STATE_FORMAT = "synapse.calibrator/1"

_PLATT_MAX_SLOPE = 1e3  # a Platt slope beyond this means separable data (no finite optimum)
_PLATT_C = 1e10  # "effectively unregularised" and accepted by every scikit-learn >= 1.4
_LOG_T_BOUNDS = (-6.0, 6.0)  # T in [0.0025, 403]


# --------------------------------------------------------------------------- helpers


def _sigmoid(x) -> np.ndarray:
    """Logistic function into a new float64 array. The argument is clipped to +-40 first
    (beyond that every output is clipped to [EPS, 1-EPS] anyway), so exp never overflows;
    ~3x faster than scipy.special.expit on this hot path."""
    out = np.clip(np.asarray(x, dtype=np.float64), -40.0, 40.0)
    np.negative(out, out=out)
    np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def _clean_logits(logits) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if np.isnan(z).any():
        raise ValueError("logits contain NaN")
    return np.clip(z, -LOGIT_CLIP, LOGIT_CLIP)  # also maps +-inf to the finite range


def _clip_probs(p: np.ndarray) -> np.ndarray:
    return np.clip(p, EPS, 1.0 - EPS, out=p)


def _check_xy(logits_val, y_val) -> tuple[np.ndarray, np.ndarray]:
    z = _clean_logits(logits_val)
    y = np.asarray(y_val)
    if z.ndim != 2:
        raise ValueError(f"logits_val must be 2-D (days, parts), got shape {z.shape}")
    if y.shape != z.shape:
        raise ValueError(f"y_val shape {y.shape} does not match logits_val shape {z.shape}")
    if z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"empty validation window: shape {z.shape}")
    y = y.astype(np.float64)
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_val must be 0/1")
    return z, y


def mean_log_loss(probs, y) -> float:
    """Mean binary cross-entropy over every (day, part) pair, probabilities clipped to EPS."""
    p = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1.0 - EPS)
    y = np.asarray(y, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def _nll_at_temperature(z: np.ndarray, y: np.ndarray, log_t: float) -> float:
    s = z * math.exp(-log_t)
    return float(np.mean(np.logaddexp(0.0, s) - y * s))


def _single_class(y: np.ndarray) -> bool:
    m = float(y.mean())
    return m == 0.0 or m == 1.0


# ------------------------------------------------------------------- 1-D fitters
# Each takes 1-D finite logits z and 0/1 labels y with both classes present, and
# returns plain-float parameters.


def _fit_platt_1d(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=_PLATT_C, solver="lbfgs", max_iter=1000, tol=1e-8)
    lr.fit(z.reshape(-1, 1), y.astype(np.int64))
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _fit_platt_columns(z: np.ndarray, y: np.ndarray, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Platt (a, b) for every column of (T, P) logits and 0/1 labels at once -> two (P,) arrays.

    The objective is scikit-learn's for LogisticRegression(C=_PLATT_C) on the logit as the
    one feature (sum of log-losses + a^2 / 2C), minimised by damped Newton steps with the
    2x2 Hessian of each column, from the identity map a=1, b=0. One vectorised solve
    replaces P lbfgs fits (each ~10 ms of Python overhead; Platt per part was most of a
    demo run's calibration time). A column that does not converge, or converges to a slope
    over _PLATT_MAX_SLOPE (separable data), is fitted by scikit-learn instead."""
    T, P = z.shape
    lam = 1.0 / _PLATT_C
    a, b = np.ones(P), np.zeros(P)

    def objective(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        s = z * a + b
        return (np.logaddexp(0.0, s) - y * s).sum(axis=0) + 0.5 * lam * a * a

    f = objective(a, b)
    done = np.zeros(P, dtype=bool)
    for _ in range(iters):
        s = z * a + b
        p = _sigmoid(s)
        r, w = p - y, p * (1.0 - p)
        ga, gb = (r * z).sum(axis=0) + lam * a, r.sum(axis=0)
        haa, hab, hbb = (w * z * z).sum(axis=0) + lam, (w * z).sum(axis=0), w.sum(axis=0)
        det = haa * hbb - hab * hab
        ok = np.isfinite(det) & (det > 0)
        det = np.where(ok, det, 1.0)
        da = np.where(ok, -(hbb * ga - hab * gb) / det, 0.0)
        db = np.where(ok, -(haa * gb - hab * ga) / det, 0.0)
        slope = ga * da + gb * db  # < 0 for a descent direction
        step = np.ones(P)
        for _ in range(40):  # backtracking (Armijo), per column
            f_new = objective(a + step * da, b + step * db)
            worse = f_new > f + 1e-4 * step * slope + 1e-12 * np.abs(f)
            if not worse.any():
                break
            step = np.where(worse, 0.5 * step, step)
        a, b, f = a + step * da, b + step * db, f_new
        done = ok & (np.maximum(np.abs(step * da), np.abs(step * db)) < 1e-10)
        if done.all():
            break
    # Separable columns have no finite MLE: the tiny ridge stops Newton at some huge slope
    # and lbfgs at another, both meaning "a step function". Keep scikit-learn's there too.
    for j in np.flatnonzero(~done | (np.abs(a) > _PLATT_MAX_SLOPE)):
        a[j], b[j] = _fit_platt_1d(z[:, j], y[:, j])
    return a, b


def _fit_isotonic_1d(z: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1.0 - EPS, increasing=True)
    iso.fit(_sigmoid(z), y)
    return [float(v) for v in iso.X_thresholds_], [float(v) for v in iso.y_thresholds_]


def _fit_temperature_1d(z: np.ndarray, y: np.ndarray) -> float:
    res = minimize_scalar(
        lambda lt: _nll_at_temperature(z, y, lt), bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-7}
    )
    return float(math.exp(res.x))


_IDENTITY = {
    "platt": {"a": 1.0, "b": 0.0},
    "isotonic": {"x": [0.0, 1.0], "y": [0.0, 1.0]},
    "temperature": {"T": 1.0},
}


def _fit_global(method: str, z: np.ndarray, y: np.ndarray) -> dict:
    zf, yf = z.ravel(), y.ravel()
    if _single_class(yf):
        return dict(_IDENTITY[method])
    if method == "platt":
        a, b = _fit_platt_columns(zf[:, None], yf[:, None])
        return {"a": float(a[0]), "b": float(b[0])}
    if method == "isotonic":
        xs, ys = _fit_isotonic_1d(zf, yf)
        return {"x": xs, "y": ys}
    return {"T": _fit_temperature_1d(zf, yf)}


def _fit_per_part(method: str, z: np.ndarray, y: np.ndarray) -> tuple[dict, list[int]]:
    n_parts = z.shape[1]
    rates = y.mean(axis=0)
    fallback = [j for j in range(n_parts) if rates[j] == 0.0 or rates[j] == 1.0]
    glob = _fit_global(method, z, y) if fallback else None
    keys = {"platt": ("a", "b"), "isotonic": ("x", "y"), "temperature": ("T",)}[method]
    cols: dict[str, list] = {k: [] for k in keys}
    if method == "platt":  # all columns in one vectorised solve
        fit = [j for j in range(n_parts) if j not in fallback]
        a, b = np.full(n_parts, np.nan), np.full(n_parts, np.nan)
        if fit:
            a[fit], b[fit] = _fit_platt_columns(z[:, fit], y[:, fit])
        for j in range(n_parts):
            cols["a"].append(glob["a"] if j in fallback else float(a[j]))
            cols["b"].append(glob["b"] if j in fallback else float(b[j]))
        return cols, fallback
    for j in range(n_parts):
        if j in fallback:
            for k in keys:
                cols[k].append(list(glob[k]) if isinstance(glob[k], list) else glob[k])
            continue
        zj, yj = z[:, j], y[:, j]
        if method == "isotonic":
            xs, ys = _fit_isotonic_1d(zj, yj)
            cols["x"].append(xs)
            cols["y"].append(ys)
        else:
            cols["T"].append(_fit_temperature_1d(zj, yj))
    return cols, fallback


# ------------------------------------------------------------------- the calibrator


@dataclass
class Calibrator:
    """A fitted calibration map. ``params`` holds plain Python floats and lists only.

    params by method (global -> floats / one list; per part -> one entry per column):
      none:        {}
      platt:       {"a": float | [float]*P, "b": float | [float]*P}
      temperature: {"T": float | [float]*P}
      isotonic:    {"x": [float] | [[float]]*P, "y": [float] | [[float]]*P}
                   (increasing thresholds on sigmoid(logit), and the fitted values)
    """

    method: str
    per_part: bool
    params: dict
    _cache: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown calibration method {self.method!r}; expected one of {METHODS}")
        if self.method == "none":
            self.per_part = False
        self.per_part = bool(self.per_part)
        self._validate()

    # -- description
    @property
    def name(self) -> str:
        """Short label, e.g. ``platt/part``, ``temperature/global`` or ``none``."""
        if self.method == "none":
            return "none"
        return f"{self.method}/{'part' if self.per_part else 'global'}"

    @property
    def n_parts(self) -> int | None:
        """Number of columns a per-part calibrator expects (None for global ones)."""
        if not self.per_part:
            return None
        key = {"platt": "a", "isotonic": "x", "temperature": "T"}[self.method]
        return len(self.params[key])

    def _validate(self) -> None:
        m, p = self.method, self.params
        need = {"none": (), "platt": ("a", "b"), "isotonic": ("x", "y"), "temperature": ("T",)}[m]
        missing = [k for k in need if k not in p]
        if missing:
            raise ValueError(f"{m} calibrator params lack {missing}")
        if m == "none":
            return
        if self.per_part:
            lens = {len(p[k]) for k in need}
            if len(lens) != 1 or 0 in lens:
                raise ValueError(f"per-part {m} params must be equal-length non-empty lists")
        if m == "temperature":
            ts = p["T"] if self.per_part else [p["T"]]
            if not all(float(t) > 0 and math.isfinite(float(t)) for t in ts):
                raise ValueError("temperature must be finite and > 0")
        if m == "isotonic":
            pairs = zip(p["x"], p["y"]) if self.per_part else [(p["x"], p["y"])]
            for xs, ys in pairs:
                if len(xs) != len(ys) or len(xs) == 0:
                    raise ValueError("isotonic thresholds x and y must be equal-length and non-empty")

    # -- application
    def _arrays(self):
        if self._cache is None:
            p = self.params
            if self.method == "platt":
                self._cache = (np.asarray(p["a"], dtype=np.float64), np.asarray(p["b"], dtype=np.float64))
            elif self.method == "temperature":
                self._cache = (1.0 / np.asarray(p["T"], dtype=np.float64),)
            elif self.method == "isotonic":
                if self.per_part:
                    self._cache = tuple(
                        (np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64))
                        for xs, ys in zip(p["x"], p["y"])
                    )
                else:
                    self._cache = (np.asarray(p["x"], dtype=np.float64), np.asarray(p["y"], dtype=np.float64))
            else:
                self._cache = ()
        return self._cache

    def transform(self, logits) -> np.ndarray:
        """Logits of shape (..., P) -> calibrated probabilities, same shape, float64 in [EPS, 1-EPS].

        Global calibrators accept any shape; per-part ones need the last axis to be P.
        Infinite logits are clipped to +-LOGIT_CLIP first; NaN raises ValueError.
        """
        z = _clean_logits(logits)
        if self.per_part:
            n = self.n_parts
            if z.ndim == 0 or z.shape[-1] != n:
                raise ValueError(f"per-part calibrator fitted on {n} parts, got logits of shape {z.shape}")
        arrs = self._arrays()
        if self.method == "none":
            out = _sigmoid(z)
        elif self.method == "platt":
            a, b = arrs
            out = _sigmoid(z * a + b)
        elif self.method == "temperature":
            (inv_t,) = arrs
            out = _sigmoid(z * inv_t)
        else:  # isotonic: np.interp clamps at the end thresholds, as out_of_bounds="clip" does
            s = _sigmoid(z)
            if self.per_part:
                out = np.empty_like(s)
                s2 = s.reshape(-1, s.shape[-1])
                o2 = out.reshape(-1, s.shape[-1])
                for j, (xs, ys) in enumerate(arrs):
                    o2[:, j] = np.interp(s2[:, j], xs, ys)
            else:
                xs, ys = arrs
                out = np.interp(s, xs, ys)
        return _clip_probs(np.asarray(out, dtype=np.float64))

    __call__ = transform

    # -- persistence
    def state(self) -> dict:
        """Plain Python values only (json-able; torch.load(weights_only=True)-safe)."""
        return {
            "format": STATE_FORMAT,
            "method": self.method,
            "per_part": self.per_part,
            "eps": EPS,
            "logit_clip": LOGIT_CLIP,
            "params": _plain(self.params),
        }

    @classmethod
    def from_state(cls, state: dict) -> Calibrator:
        if not isinstance(state, dict):
            raise ValueError(f"calibrator state must be a dict, got {type(state).__name__}")
        fmt = state.get("format", STATE_FORMAT)
        if fmt != STATE_FORMAT:
            raise ValueError(f"unsupported calibrator state format {fmt!r} (expected {STATE_FORMAT!r})")
        try:
            return cls(method=state["method"], per_part=bool(state["per_part"]), params=_plain(state.get("params", {})))
        except KeyError as e:
            raise ValueError(f"calibrator state lacks {e.args[0]!r}") from None


def _plain(v):
    """Deep-copy into plain Python types (numpy scalars/arrays -> float/int/list)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_plain(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if v is None or isinstance(v, str):
        return v
    raise TypeError(f"not a plain value: {type(v).__name__}")


# ------------------------------------------------------------------- fitting


def _fit(method: str, per_part: bool, z: np.ndarray, y: np.ndarray) -> tuple[Calibrator, list[int]]:
    if method == "none":
        return Calibrator("none", False, {}), []
    if per_part:
        params, fallback = _fit_per_part(method, z, y)
        return Calibrator(method, True, params), fallback
    return Calibrator(method, False, _fit_global(method, z, y)), []


def candidate_order(per_part: bool = True) -> list[tuple[str, bool]]:
    """Candidates `auto` tries, simplest first (ties in held-out log-loss go to the earlier)."""
    cands = [("none", False), ("temperature", False), ("platt", False), ("isotonic", False)]
    if per_part:
        cands += [("temperature", True), ("platt", True), ("isotonic", True)]
    return cands


def fit_calibrator(
    logits_val, y_val, method: str = "auto", per_part: bool = True, holdout_fraction: float = 0.5
) -> tuple[Calibrator, dict]:
    """Fit a calibrator on validation logits (T, P) and 0/1 labels (T, P); nothing else is seen.

    method: one of METHODS or "auto". Returns (calibrator, report) where report is
      {"method": str, "per_part": bool, "name": "platt/part" | ...,
       "candidates": {name: held-out mean log-loss} (empty unless method="auto"),
       "fallback_parts": [0-based columns that used the global map],
       "degenerate": bool (whole window single-class -> identity map),
       "n_days": int, "logloss_before": float, "logloss_after": float  (on the whole window),
       and for "auto" also "holdout_fraction", "n_fit_days", "n_holdout_days"}.
    """
    z, y = _check_xy(logits_val, y_val)
    # Thousands of tiny BLAS calls: OpenBLAS worker threads only add hand-off overhead
    # (measured ~20x slower per LogisticRegression fit on 2 cores), so run them on one.
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_calibrator(z, y, method, per_part, holdout_fraction)


def _fit_calibrator(
    z: np.ndarray, y: np.ndarray, method: str, per_part: bool, holdout_fraction: float
) -> tuple[Calibrator, dict]:
    n_days = z.shape[0]
    report: dict[str, Any] = {}
    if method == "auto":
        if not 0.0 < holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
        if n_days < 2:
            raise ValueError("auto calibration needs at least 2 validation days")
        n_fit = int(round(n_days * (1.0 - holdout_fraction)))
        n_fit = min(max(n_fit, 1), n_days - 1)
        z_fit, y_fit, z_ho, y_ho = z[:n_fit], y[:n_fit], z[n_fit:], y[n_fit:]
        candidates: dict[str, float] = {}
        best: tuple[str, bool] | None = None
        best_loss = math.inf
        for m, pp in candidate_order(per_part):
            cal, _ = _fit(m, pp, z_fit, y_fit)
            loss = mean_log_loss(cal.transform(z_ho), y_ho)
            candidates[cal.name] = loss
            if loss < best_loss:
                best, best_loss = (m, pp), loss
        method, per_part = best
        report.update(
            candidates=candidates,
            holdout_fraction=float(holdout_fraction),
            n_fit_days=int(n_fit),
            n_holdout_days=int(n_days - n_fit),
        )
    elif method in METHODS:
        report["candidates"] = {}
    else:
        raise ValueError(f"unknown calibration method {method!r}; expected 'auto' or one of {METHODS}")

    cal, fallback = _fit(method, per_part, z, y)
    report.update(
        method=cal.method,
        per_part=cal.per_part,
        name=cal.name,
        fallback_parts=[int(j) for j in fallback],
        degenerate=bool(cal.method != "none" and _single_class(y.ravel())),
        n_days=int(n_days),
        logloss_before=mean_log_loss(_sigmoid(z), y),
        logloss_after=mean_log_loss(cal.transform(z), y),
    )
    order = ["method", "per_part", "name", "candidates", "fallback_parts"]
    return cal, {k: report[k] for k in order} | {k: v for k, v in report.items() if k not in order}
