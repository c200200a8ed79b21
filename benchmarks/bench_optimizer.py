"""Time optimize_weights on real CSI300: ~300 investable names x 250 days, FactorRiskModel."""

import resource
import time
import warnings

import numpy as np

from seqalpha.data.qlib_bin import load_panel
from seqalpha.paths import shared_data_dir
from seqalpha.portfolio.optimizer import OptimizerParams, optimize_weights
from seqalpha.risk import fit_factor_model

warnings.simplefilter("ignore", UserWarning)
d = shared_data_dir("cn_csi300")
panel = load_panel(d, ["close", "factor"], "csi300", "2019-01-01", "2020-12-31")
t0 = time.perf_counter()
rm = fit_factor_model(d, panel)
t_fit = time.perf_counter() - t0
T, N = panel.shape
close = panel["close"].astype(np.float64)
score = np.full((T, N), np.nan)
score[5:] = -(close[5:] / close[:-5] - 1)
mask = panel.universe & np.isfinite(close)
tradable = np.isfinite(close)  # suspended (NaN close) names keep their weight
days = slice(T - 250, T)
bench = np.where(mask, 1.0, 0.0)
bench /= bench.sum(1, keepdims=True)
print(
    f"grid {T}x{N}, universe names/day {mask[days].sum(1).mean():.0f}, "
    f"factors {len(rm.factor_names)}, fit {t_fit:.2f}s"
)
for name, p, kw in [
    (
        "long-only, bounds, turnover",
        OptimizerParams(risk_aversion=10, turnover_cost=0.001, max_weight=0.02),
        {},
    ),
    (
        "+ industry active <= 2% vs equal-weight bench",
        OptimizerParams(
            risk_aversion=10, turnover_cost=0.001, max_weight=0.02, max_industry_active=0.02
        ),
        {"benchmark": bench[days]},
    ),
    (
        "dollar-neutral, gross 2, industry neutral",
        OptimizerParams(
            mode="dollar_neutral",
            risk_aversion=10,
            turnover_cost=0.001,
            max_weight=0.02,
            gross=2.0,
            industry_neutral=True,
        ),
        {},
    ),
]:

    class Sub:  # the risk model restricted to the last 250 rows (same data, shifted index)
        shape = (250, N)
        dates = panel.dates[days]
        industry_codes = rm.industry_codes[days]

        def ready(self, t):
            return rm.ready(t + T - 250)

        def covariance(self, t):
            return rm.covariance(t + T - 250)

    t0 = time.perf_counter()
    w = optimize_weights(score[days], Sub(), p, mask[days], tradable[days], **kw)
    dt = time.perf_counter() - t0
    tov = np.abs(np.diff(w, axis=0)).sum(1).mean()
    print(
        f"{name:48s} {dt:6.1f}s  {1000 * dt / 250:5.0f} ms/day  "
        f"names held {(w > 1e-6).sum(1).mean():5.0f}  daily turnover {tov:.3f}"
    )
print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
