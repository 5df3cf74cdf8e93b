"""Mine a rulebook: every candidate tested on the training window, the false discovery rate
controlled across all of them, then each discovery re-tested on the validation window.

The miner reads rows [0, train stop) to test and rows [val start - lookback, val stop) to
replicate (the lookback rows are training or embargo rows, read only as antecedent history);
the test window is never read (`tests/test_rules.py` poisons it to prove so).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.data.splits import Split
from core.rules import kinds as K
from core.rules.config import RulesSettings
from core.rules.rulebook import Rule
from core.rules.stats import binom_p, fdr_adjust, hypergeom_p, lift_interval


def window_table(Y: np.ndarray, dates: np.ndarray, start: int, stop: int, settings: RulesSettings) -> K.Table:
    """Counts of every candidate on target days [start, stop); reads rows [start - lookback, stop) only."""
    if not 0 <= start < stop <= Y.shape[0]:
        raise ValueError(f"bad window [{start}, {stop}) for {Y.shape[0]} rows")
    lo = max(0, start - settings.lookback)
    Yext = np.ascontiguousarray(Y[lo:stop], dtype=bool)
    dext = dates[lo:stop]
    off = start - lo
    want = set(settings.kinds)
    tables: list[K.Table] = []
    if want & {"follow_within", "inhibition"}:
        for t in K.follow(Yext, off, [tuple(w) for w in settings.windows]):
            if K.KINDS[int(t.kind[0])] in want:
                tables.append(t)
    if "cooccurrence" in want:
        tables += K.cooccurrence(Yext, off)
    if "long_absence" in want and settings.gaps:
        tables += K.long_absence(Yext, off, lo, settings.gaps)
    if "calendar" in want and settings.calendar:
        tables += K.calendar(Yext, off, dext, settings.calendar)
    return K.Table.concat(tables)


@dataclass
class Evidence:
    """Per-candidate statistics of one window (arrays aligned with its Table)."""

    conf: np.ndarray
    lift: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    p: np.ndarray


def evidence(t: K.Table, only: np.ndarray | None = None) -> Evidence:
    """Lift, its interval and the one-sided p-value of every candidate (p only where `only`, else 1)."""
    lift, lo, hi = lift_interval(t.x, t.n, t.base)
    with np.errstate(divide="ignore", invalid="ignore"):
        conf = np.where(t.n > 0, t.x / np.maximum(t.n, 1), np.nan)
    p = np.ones(len(t))
    want = np.ones(len(t), dtype=bool) if only is None else only
    hyper = want & (t.test == K.HYPER) & (t.n > 0)
    if hyper.any():
        p[hyper] = hypergeom_p(t.x[hyper], t.N[hyper], t.M[hyper], t.n[hyper], t.direction[hyper])
    binom = want & (t.test == K.BINOM) & (t.n > 0) & (t.base > 0) & (t.base < 1)
    if binom.any():
        p[binom] = binom_p(t.x[binom], t.n[binom], t.base[binom], t.direction[binom])
    return Evidence(conf, lift, lo, hi, p)


@dataclass
class MineResult:
    settings: RulesSettings
    train: tuple[int, int]
    val: tuple[int, int]
    table: K.Table  # training counts, every candidate
    ev: Evidence  # training evidence
    val_table: K.Table
    val_ev: Evidence
    tested: np.ndarray  # bool: met min_support, entered the FDR family
    q: np.ndarray  # FDR-adjusted p (NaN where not tested)
    discovered: np.ndarray  # bool: q <= fdr
    replicated: np.ndarray  # bool: discovered and the validation test agrees
    kept: np.ndarray  # indices of the kept rules, strongest first
    rules: list[Rule] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """Per kind: candidates, tested (min support), discovered (FDR), replicated, kept."""
        out: dict[str, dict[str, int]] = {}
        keep = np.zeros(len(self.table), dtype=bool)
        keep[self.kept] = True
        for code, name in enumerate(K.KINDS):
            m = self.table.kind == code
            if not m.any():
                continue
            out[name] = {
                "candidates": int(m.sum()),
                "tested": int((m & self.tested).sum()),
                "discovered": int((m & self.discovered).sum()),
                "replicated": int((m & self.replicated).sum()),
                "kept": int((m & keep).sum()),
            }
        total = {
            k: sum(v[k] for v in out.values()) for k in ("candidates", "tested", "discovered", "replicated", "kept")
        }
        out["all"] = total
        return out


def mine(Y: np.ndarray, dates: np.ndarray, split: Split, settings: RulesSettings) -> MineResult:
    """Test every candidate on `split.train`, control the FDR, replicate on `split.val`."""
    tr0, tr1 = split.train
    va0, va1 = split.val
    table = window_table(Y, dates, tr0, tr1, settings)
    tested = (table.n >= settings.min_support) & (table.base > 0) & (table.base < 1) & (table.n < table.N)
    ev = evidence(table, tested)
    q = np.full(len(table), np.nan)
    q[tested] = fdr_adjust(ev.p[tested], settings.fdr_method)
    discovered = tested & (q <= settings.fdr)
    val_table = window_table(Y, dates, va0, va1, settings)
    val_ev = evidence(val_table, discovered)
    with np.errstate(invalid="ignore"):
        agrees = table.direction * (val_ev.lift - 1.0) > 0
    replicated = discovered & agrees & (val_ev.p <= settings.replication_alpha)
    idx = np.flatnonzero(replicated)
    order = np.lexsort((-np.abs(np.log(np.maximum(ev.lift[idx], 1e-12))), ev.p[idx]))
    kept = idx[order]
    if settings.max_rules is not None:
        kept = kept[: settings.max_rules]
    res = MineResult(
        settings, split.train, split.val, table, ev, val_table, val_ev, tested, q, discovered, replicated, kept
    )
    res.rules = [rule_from_row(res, int(i), dates) for i in kept]
    return res


def _window_evidence(t: K.Table, ev: Evidence, i: int, dates: np.ndarray, span: tuple[int, int]) -> dict:
    return {
        "first_date": str(dates[span[0]]),
        "last_date": str(dates[span[1] - 1]),
        "days": int(t.N[i]),
        "support": int(t.n[i]),
        "hits": int(t.x[i]),
        "confidence": _r(ev.conf[i]),
        "base": _r(t.base[i]),
        "lift": _r(ev.lift[i]),
        "ci": [_r(ev.lo[i]), _r(ev.hi[i])],
        "p": _e(ev.p[i]),
    }


def _r(v: float) -> float | None:
    """4 decimals; None (JSON null) where undefined, e.g. the lift of a rule that never fired."""
    return float(round(float(v), 4)) if np.isfinite(v) else None


def _e(v: float) -> float:
    return float(f"{float(v):.3e}")


def rule_from_row(res: MineResult, i: int, dates: np.ndarray) -> Rule:
    t = res.table
    kind = K.KINDS[int(t.kind[i])]
    train = _window_evidence(t, res.ev, i, dates, res.train)
    train["q"] = _e(res.q[i])
    val = _window_evidence(res.val_table, res.val_ev, i, dates, res.val)
    cons = (int(t.cons[i]) + 1,)
    if kind in ("follow_within", "inhibition"):
        return Rule(
            kind,
            (int(t.ant[i]) + 1,),
            cons,
            window=(int(t.a[i]), int(t.b[i])),
            evidence={"train": train, "validation": val},
        )
    if kind == "cooccurrence":
        return Rule(kind, (int(t.ant[i]) + 1,), cons, evidence={"train": train, "validation": val})
    if kind == "long_absence":
        return Rule(kind, (int(t.ant[i]) + 1,), cons, gap=int(t.a[i]), evidence={"train": train, "validation": val})
    if int(t.a[i]) == K.CAL_WEEKDAY:
        return Rule(kind, (), cons, weekday=int(t.b[i]), evidence={"train": train, "validation": val})
    return Rule(kind, (), cons, month=int(t.b[i]), evidence={"train": train, "validation": val})


def evaluate_rules(rules: list[Rule], Y: np.ndarray, dates: np.ndarray, split: Split) -> list[list[dict]]:
    """Evidence of given rules (a user's, or mined ones on new data): per rule, per consequent
    part, {"part", "train": {...}, "validation": {...}} with the miner's statistics (no FDR: a
    rule named in advance is one test). Reads rows before the validation window's end only."""
    va1 = split.val[1]
    Yv = Y[:va1]
    dv = dates[:va1]
    out = []
    for r in rules:
        fire = r.antecedent_series(Yv, dv)
        per = []
        for q in r.consequent:
            row: dict = {"part": q}
            for name, (a, b) in (("train", split.train), ("validation", split.val)):
                f, y = fire[a:b], Yv[a:b, q - 1]
                N, n, x, M = b - a, int(f.sum()), int((f & y).sum()), int(y.sum())
                if r.kind == "cooccurrence":
                    k_mean = float(Yv[a:b].sum()) / N
                    r_a, r_q = n / N, M / N
                    base = r_q * (k_mean - 1) / np.sqrt(max((k_mean - r_a) * (k_mean - r_q), 1e-12))
                    test = K.BINOM
                else:
                    base, test = M / N, K.HYPER
                t = K.Table(*(np.array([v]) for v in (0, 0, 0, 0, 0, r.direction, test, n, x, base, N, M)))
                ev = evidence(t)
                d = _window_evidence(t, ev, 0, dates, (a, b))
                row[name] = d
            per.append(row)
        out.append(per)
    return out
