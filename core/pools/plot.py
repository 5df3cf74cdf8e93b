"""The pool calibration plot (core.pools): a reliability diagram of a backtest, as a PNG.

matplotlib is imported only when a plot is drawn, so importing core.pools stays light.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from core.fsutil import atomic_write_bytes

# ------------------------------------------------------------------------ plot


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _nan(xs) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in xs], dtype=float)


def plot_pool_calibration(result: Mapping, path: str | Path, *, min_count: int = 20) -> None:
    """Reliability diagram of predicted vs realised P(good-or-better@K), written as a PNG.

    result: a :func:`backtest` result. Pooled over K (bold, Wilson 95% bars), one faint
    line per K (bins with fewer than ``min_count`` days left out: they are noise), the
    diagonal, and the number of (day, K) pairs per bin in a lower panel. Written
    atomically (temp file + rename).
    """
    plt = _pyplot()
    pooled = result["pooled"]
    rel = pooled["reliability"]
    edges = np.asarray(rel["edges"], dtype=float)
    centres = 0.5 * (edges[:-1] + edges[1:])
    good, m = result["good_tier"], result["min_hits"]
    fig, (ax, axn) = plt.subplots(
        2, 1, figsize=(6.4, 7.0), sharex=True, gridspec_kw={"height_ratios": [3, 1.1], "hspace": 0.08}
    )
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="honest: said = happened")
    cmap = plt.get_cmap("viridis")
    nK = len(result["per_k"])
    for j, row in enumerate(result["per_k"]):
        r = row["reliability"]
        mp, mr = _nan(r["mean_pred"]), _nan(r["mean_real"])
        ok = ~np.isnan(mp) & (np.asarray(r["count"]) >= min_count)
        ax.plot(
            mp[ok],
            mr[ok],
            color=cmap(j / max(nK - 1, 1)),
            alpha=0.35,
            linewidth=1,
            marker=".",
            markersize=3,
            label=(f"each K ({result['ks'][0]}..{result['ks'][-1]}, light = larger)" if j == 0 else None),
        )
    mp, mr = _nan(rel["mean_pred"]), _nan(rel["mean_real"])
    lo, hi = _nan(rel["ci_low"]), _nan(rel["ci_high"])
    ok = ~np.isnan(mp)
    ax.errorbar(
        mp[ok],
        mr[ok],
        yerr=[np.maximum(mr[ok] - lo[ok], 0), np.maximum(hi[ok] - mr[ok], 0)],
        color="#1f77b4",
        marker="o",
        markersize=5,
        linewidth=2,
        capsize=3,
        label=(
            f"all K pooled: ECE {pooled['ece']:.3f}\n"
            f"said {pooled['pred_rate']:.3f} on average, happened {pooled['real_rate']:.3f} "
            f"[{pooled['real_ci_low']:.3f}, {pooled['real_ci_high']:.3f}]"
        ),
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"share of days the pool really got >= {m} hits")
    ax.set_title(
        f"Pool calibration: if the tool says 60% for {good}-or-better (>= {m} hits), is it 60%?\n"
        f"top-K pools, {result['n_days']} days x {nK} pool sizes, {result['bins']} equal-width bins, "
        f"bars: Wilson 95%",
        fontsize=9.5,
    )
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    width = edges[1] - edges[0]
    axn.bar(centres, rel["count"], width=0.9 * width, color="#1f77b4", alpha=0.6)
    axn.set_ylabel("(day, K)\npairs", fontsize=8)
    axn.set_xlabel(f"predicted P({good}-or-better)")
    axn.grid(alpha=0.3)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
