"""Pool sizing from calibrated per-part probabilities (docs/ARCHITECTURE.md, "Pools").

distribution  the exact hit distribution of a top-K pool under conditional Bernoulli
table         one day's sizing table (`pool_table`) and the smallest K for a target
backtest      predicted against realised tier rates over a test window
plot          the pool calibration plot

pools.pool_table(p, events=5, ks=range(20, 28))
"""

from core.pools.backtest import backtest, backtest_rows
from core.pools.distribution import EPS, hit_distribution, pool_weights, rescale_probabilities, topk_hit_distribution
from core.pools.plot import plot_pool_calibration
from core.pools.table import pool_table, suggest_k

__all__ = [
    "EPS",
    "backtest",
    "backtest_rows",
    "hit_distribution",
    "plot_pool_calibration",
    "pool_table",
    "pool_weights",
    "rescale_probabilities",
    "suggest_k",
    "topk_hit_distribution",
]
