"""Predictive models, refitted each month, each measured against a naive baseline.

* **Forecasts** (statsmodels ETS, additive errors, damped additive trend; weekly seasonality for
  spend): MRR at each of the next months' ends and spend in each of the next months, with
  prediction intervals from simulated future paths. Backtest: rolling origins one horizon apart
  over the latest history, MAPE of the model against a naive baseline (MRR: the last value
  carried forward; spend: the last week repeated, i.e. seasonal naive).
* **Churn risk** (scikit-learn logistic regression): the probability that a paying account stops
  paying within the horizon, from its plan, MRR, seats, tenure, payment trouble and product
  usage. Backtest: accounts as they stood one horizon ago, labelled by what happened since,
  scored out-of-fold (stratified 5-fold); AUC against a baseline that knows only each plan's
  churn rate.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from reporting_assets.analytics.monthly import PAYING, add_months, month_end, states_at

# -- forecasts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backtest:
    model_mape: float
    baseline_mape: float
    origins: list[str]
    model_errors: list[float]
    baseline_errors: list[float]

    @property
    def beats_baseline(self) -> bool:
        return self.model_mape <= self.baseline_mape


def _fit(y: np.ndarray, seasonal: bool):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    model = ETSModel(
        y.astype(float),
        error="add",
        trend="add",
        damped_trend=True,
        seasonal="add" if seasonal else None,
        seasonal_periods=7 if seasonal else None,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short windows
        return model.fit(disp=False, maxiter=200)


def naive_forecast(y: np.ndarray, horizon: int, seasonal: bool) -> np.ndarray:
    """The baseline: the last value (levels) or the last week repeated (weekly flows)."""
    if seasonal:
        return np.tile(y[-7:], math.ceil(horizon / 7))[:horizon]
    return np.repeat(y[-1], horizon)


def mape(actual: np.ndarray, predicted: np.ndarray) -> float:
    keep = actual != 0
    return float(np.mean(np.abs((predicted[keep] - actual[keep]) / actual[keep])))


def backtest(
    dates: list[date], y: np.ndarray, *, seasonal: bool, origins: int, horizon: int
) -> Backtest:
    """Refit at `origins` cut-off points, `horizon` days apart, ending one horizon before the
    last day; compare each forecast of the next `horizon` days with what happened."""
    cuts = [len(y) - horizon * (origins - k) for k in range(origins)]
    cuts = [c for c in cuts if c >= 4 * 7]
    if not cuts:
        raise ValueError(f"too little history to backtest: {len(y)} days")
    model_err, base_err = [], []
    for cut in cuts:
        train, test = y[:cut], y[cut : cut + horizon]
        model_err.append(mape(test, np.asarray(_fit(train, seasonal).forecast(len(test)))))
        base_err.append(mape(test, naive_forecast(train, len(test), seasonal)))
    return Backtest(float(np.mean(model_err)), float(np.mean(base_err)),
                    [dates[c].isoformat() for c in cuts], model_err, base_err)  # fmt: skip


FORECAST_SCHEMA = {
    "series": pl.String, "month": pl.Date, "kind": pl.String, "forecast": pl.Float64,
    "lower": pl.Float64, "upper": pl.Float64, "interval": pl.Float64,
    "baseline": pl.Float64, "model": pl.String, "backtest_mape": pl.Float64,
    "baseline_mape": pl.Float64, "beats_baseline": pl.Boolean,
}  # fmt: skip


def forecast_series(
    name: str,
    dates: list[date],
    y: np.ndarray,
    *,
    level: bool,
    months: int,
    interval: float,
    origins: int,
    horizon_days: int = 30,
    repetitions: int = 400,
    seed: int = 7,
) -> tuple[pl.DataFrame, dict]:
    """The next `months` whole months after the last day's month: the month-end value (levels
    such as MRR) or the month's total (flows such as spend), with an `interval` prediction
    interval from simulated paths, the naive baseline's figure, and the backtest."""
    seasonal = not level
    test = backtest(dates, y, seasonal=seasonal, origins=origins, horizon=horizon_days)
    fit = _fit(y, seasonal)
    last = dates[-1]
    target_months = [add_months(last.replace(day=1), k) for k in range(1, months + 1)]
    horizon = (month_end(target_months[-1]) - last).days
    point = np.asarray(fit.forecast(horizon))
    rng = np.random.default_rng(seed)
    sims = np.asarray(fit.simulate(nsimulations=horizon, repetitions=repetitions, anchor="end",
                                   rng=rng)).reshape(horizon, -1)  # fmt: skip
    base = naive_forecast(y, horizon, seasonal)
    lo_q, hi_q = (1 - interval) / 2, 1 - (1 - interval) / 2
    rows = []
    for m in target_months:
        first = (m - last).days - 1  # index of the month's first day in the horizon
        final = (month_end(m) - last).days - 1
        pick = slice(final, final + 1) if level else slice(first, final + 1)
        paths = sims[pick].sum(axis=0)
        rows.append({
            "series": name, "month": m, "kind": "month_end" if level else "month_total",
            "forecast": float(point[pick].sum()), "lower": float(np.quantile(paths, lo_q)),
            "upper": float(np.quantile(paths, hi_q)), "interval": interval,
            "baseline": float(base[pick].sum()),
            "model": "ETS(A,Ad,A) weekly" if seasonal else "ETS(A,Ad,N)",
            "backtest_mape": test.model_mape, "baseline_mape": test.baseline_mape,
            "beats_baseline": test.beats_baseline,
        })  # fmt: skip
    params = {k: round(float(v), 6) for k, v in zip(fit.param_names, fit.params, strict=True)
              if "initial" not in k}  # fmt: skip
    meta = {"params": params, "aic": round(float(fit.aic), 2), "origins": test.origins,
            "model_errors": [round(e, 5) for e in test.model_errors],
            "baseline_errors": [round(e, 5) for e in test.baseline_errors],
            "history_days": len(y)}  # fmt: skip
    return pl.DataFrame(rows, schema=FORECAST_SCHEMA, orient="row"), meta


# -- churn risk --------------------------------------------------------------------------------

NUMERIC = ["log_mrr", "tenure_days", "past_due", "past_due_days_90", "downgrades_90",
           "log_events_per_seat", "usage_trend"]  # fmt: skip
CHURN_SCHEMA = {
    "month": pl.Date, "account_id": pl.String, "plan": pl.String, "mrr": pl.Float64,
    "churn_probability": pl.Float64, "risk_band": pl.String, "mrr_at_stake": pl.Float64,
    "top_driver": pl.String,
}  # fmt: skip


def churn_features(
    accounts: pl.DataFrame, activity: pl.DataFrame | None, as_of: date, window_days: int = 28
) -> pl.DataFrame:
    """Paying accounts at the end of `as_of`, with what could foretell their churn."""
    now = states_at(accounts, as_of).filter(pl.col("status").is_in(PAYING))
    current = accounts.join(now.select("account_id"), on="account_id").filter(
        (pl.col("valid_from") <= as_of)
        & (pl.col("valid_to").is_null() | (pl.col("valid_to") > as_of))
    )
    since = as_of - timedelta(days=90)
    history = accounts.filter(pl.col("valid_from") <= as_of)
    trouble = (
        history.filter(pl.col("status") == "past_due")
        .with_columns(
            start=pl.max_horizontal(pl.col("valid_from"), pl.lit(since)),
            end=pl.min_horizontal(pl.col("valid_to").fill_null(as_of + timedelta(days=1)),
                                  pl.lit(as_of + timedelta(days=1))),
        )
        .with_columns(days=(pl.col("end") - pl.col("start")).dt.total_days().clip(lower_bound=0))
        .group_by("account_id").agg(past_due_days_90=pl.col("days").sum())
    )  # fmt: skip
    versions = history.sort("account_id", "valid_from").with_columns(
        prev_mrr=pl.col("mrr").shift(1).over("account_id"))  # fmt: skip
    downgrades = versions.filter(
        (pl.col("valid_from") > since) & (pl.col("mrr") < pl.col("prev_mrr"))
        & pl.col("status").is_in(PAYING)
    ).group_by("account_id").agg(downgrades_90=pl.len())  # fmt: skip
    frame = current.select(
        "account_id", "plan", "mrr", "seats",
        tenure_days=(pl.lit(as_of) - pl.col("created_date")).dt.total_days(),
        past_due=(pl.col("status") == "past_due").cast(pl.Float64),
    ).join(trouble, on="account_id", how="left").join(
        downgrades, on="account_id", how="left")  # fmt: skip
    usage = None
    if activity is not None and not activity.is_empty():
        start = as_of - timedelta(days=window_days - 1)
        window = activity.filter(pl.col("date").is_between(start, as_of))
        mid = as_of - timedelta(days=window_days // 2)
        stored_days = max(1, window["date"].n_unique())
        usage = window.group_by("account_id").agg(
            events_per_day=pl.col("events").sum() / stored_days,
            recent=pl.col("events").filter(pl.col("date") > mid).sum(),
            earlier=pl.col("events").filter(pl.col("date") <= mid).sum(),
        ).with_columns(usage_trend=(pl.col("recent") + 1) / (pl.col("earlier") + 1))  # fmt: skip
    if usage is not None and window["date"].n_unique() >= 7:
        frame = frame.join(usage.select("account_id", "events_per_day", "usage_trend"),
                           on="account_id", how="left").with_columns(
            events_per_day=pl.col("events_per_day").fill_null(0.0),
            usage_trend=pl.col("usage_trend").fill_null(1.0))  # fmt: skip
    else:  # no stored usage for the window: the model runs without it
        frame = frame.with_columns(events_per_day=pl.lit(None, pl.Float64),
                                   usage_trend=pl.lit(None, pl.Float64))  # fmt: skip
    return (
        frame.with_columns(
            pl.col("past_due_days_90", "downgrades_90").fill_null(0).cast(pl.Float64),
            pl.col("mrr", "seats", "tenure_days").cast(pl.Float64),
        )
        .with_columns(
            log_mrr=pl.col("mrr").log1p(),
            # Usage per seat: how engaged the account is, whatever its size.
            log_events_per_seat=(
                pl.col("events_per_day") / pl.col("seats").clip(lower_bound=1)
            ).log1p(),
        )
        .sort("account_id")
    )


def churn_labels(accounts: pl.DataFrame, features: pl.DataFrame, by: date) -> np.ndarray:
    """1 for each featured account that no longer pays at the end of `by`."""
    later = states_at(accounts, by).filter(pl.col("status").is_in(PAYING))["account_id"]
    return (~features["account_id"].is_in(later.to_list())).cast(pl.Int8).to_numpy()


def _pipeline(numeric: list[str]):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer([
        ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ("numeric", StandardScaler(), numeric),
    ])  # fmt: skip
    return Pipeline([("prep", prep), ("model", LogisticRegression(
        C=0.1, max_iter=2000))])  # fmt: skip


def _columns(features: pl.DataFrame) -> list[str]:
    return [c for c in NUMERIC if features[c].null_count() == 0]


@dataclass(frozen=True)
class ChurnBacktest:
    auc: float | None
    baseline_auc: float | None
    accounts: int
    churned: int
    features: list[str]

    @property
    def beats_baseline(self) -> bool | None:
        if self.auc is None or self.baseline_auc is None:
            return None
        return self.auc >= self.baseline_auc


def churn_backtest(features: pl.DataFrame, labels: np.ndarray, seed: int = 7) -> ChurnBacktest:
    """Out-of-fold AUC of the model and of the plan-churn-rate baseline (stratified 5-fold)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    numeric = _columns(features)
    positives = int(labels.sum())
    folds = min(5, positives, len(labels) - positives)
    if folds < 2:
        return ChurnBacktest(None, None, len(labels), positives, numeric)
    pdf = features.to_pandas()
    model_scores, base_scores = np.zeros(len(labels)), np.zeros(len(labels))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(pdf, labels):
        pipe = _pipeline(numeric).fit(pdf.iloc[train], labels[train])
        model_scores[test] = pipe.predict_proba(pdf.iloc[test])[:, 1]
        rates = pl.DataFrame({"plan": features["plan"].gather(train), "y": labels[train]}) \
            .group_by("plan").agg(pl.col("y").mean())  # fmt: skip
        prior = dict(zip(rates["plan"], rates["y"], strict=True))
        overall = float(labels[train].mean())
        base_scores[test] = [prior.get(p, overall) for p in features["plan"].gather(test)]
    return ChurnBacktest(float(roc_auc_score(labels, model_scores)),
                         float(roc_auc_score(labels, base_scores)), len(labels), positives,
                         numeric)  # fmt: skip


def churn_scores(
    train_features: pl.DataFrame, labels: np.ndarray, current: pl.DataFrame, month: date
) -> tuple[pl.DataFrame, dict]:
    """Fit on the accounts of one horizon ago and score today's paying accounts. With no churn
    (or nothing but churn) to learn from, every account gets the observed rate and a low band."""
    if labels.sum() in (0, len(labels)):
        rate = float(labels.mean()) if len(labels) else 0.0
        frame = pl.DataFrame({
            "month": [month] * current.height, "account_id": current["account_id"],
            "plan": current["plan"], "mrr": current["mrr"],
            "churn_probability": [rate] * current.height, "risk_band": ["low"] * current.height,
            "mrr_at_stake": current["mrr"] * rate,
            "top_driver": ["no churn to learn from"] * current.height,
        }, schema=CHURN_SCHEMA)  # fmt: skip
        return frame, {"coefficients": {}, "features": [], "base_rate": rate}
    numeric = [c for c in _columns(train_features) if current[c].null_count() == 0]
    pipe = _pipeline(numeric).fit(train_features.to_pandas(), labels)
    pdf = current.to_pandas()
    proba = pipe.predict_proba(pdf)[:, 1]
    prep, model = pipe.named_steps["prep"], pipe.named_steps["model"]
    names = list(prep.get_feature_names_out())
    contrib = prep.transform(pdf) * model.coef_[0]
    contrib = contrib.toarray() if hasattr(contrib, "toarray") else contrib
    drivers = [names[i].split("__", 1)[-1] for i in contrib.argmax(axis=1)]
    # Bands relative to the churn rate the model learned from: high at 3x it, medium at 1.5x.
    base = float(labels.mean())
    bands = np.where(proba >= 3 * base, "high", np.where(proba >= 1.5 * base, "medium", "low"))
    frame = pl.DataFrame({
        "month": [month] * len(proba), "account_id": current["account_id"],
        "plan": current["plan"], "mrr": current["mrr"], "churn_probability": proba,
        "risk_band": bands, "mrr_at_stake": current["mrr"].to_numpy() * proba,
        "top_driver": drivers,
    }, schema=CHURN_SCHEMA)  # fmt: skip
    coefficients = {n.split("__", 1)[-1]: round(float(c), 4)
                    for n, c in zip(names, model.coef_[0], strict=True)}  # fmt: skip
    return frame.sort("churn_probability", descending=True), {
        "coefficients": coefficients, "features": numeric, "base_rate": base,
        "high_band_from": 3 * base, "medium_band_from": 1.5 * base}  # fmt: skip
