"""``crmbot bench churn``: the churn pipeline family on the IBM Telco customer-churn schema.

Same ``Pipeline(ColumnTransformer(...), estimator)`` builder as the CRM model
(``analytics.churn.build_churn_pipeline``), with its own feature configuration for Telco:
one-hot categoricals, scaled numerics (``TotalCharges`` blank for brand-new customers: 0),
plus tenure bins, log tenure, contract x internet service, the number of add-on services and
the ratio of total to expected charges. The model was chosen by 10-fold cross-validated
ROC-AUC on the training file (``--compare`` prints every candidate).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

ID = "customerID"
TARGET = "Churn"
CATEGORICAL = (
    "gender", "SeniorCitizen", "Partner", "Dependents", "PhoneService", "MultipleLines",
    "InternetService", "OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport",
    "StreamingTV", "StreamingMovies", "Contract", "PaperlessBilling", "PaymentMethod",
)
NUMERIC = ("tenure", "MonthlyCharges", "TotalCharges")
ADD_ONS = ("OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV",
           "StreamingMovies")
ENGINEERED_CATEGORICAL = ("tenure_bin", "contract_internet")
ENGINEERED_NUMERIC = ("add_ons", "charge_ratio")
ENGINEERED_LOG = ("tenure", "TotalCharges")
TENURE_BINS = (-1, 0, 6, 12, 24, 48, 1000)


def read_telco(path: Path, *, require_target: bool) -> pd.DataFrame:
    """A Telco CSV with clear errors; ``TotalCharges`` blanks become NaN."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError,
            csv.Error) as exc:
        raise click.ClickException(f"{path}: cannot read CSV: {exc}") from exc
    needed = {ID, *CATEGORICAL, *NUMERIC} | ({TARGET} if require_target else set())
    missing = sorted(needed - set(frame.columns))
    if missing:
        raise click.ClickException(f"{path}: missing columns {', '.join(missing)}")
    if frame.empty:
        raise click.ClickException(f"{path}: no rows")
    for column in NUMERIC:
        values = pd.to_numeric(frame[column].str.strip().replace("", np.nan), errors="coerce")
        bad = frame.index[values.isna() & (frame[column].str.strip() != "")]
        if len(bad):
            raise click.ClickException(
                f"{path}: line {int(bad[0]) + 2}: {column} is not a number")
        frame[column] = values
    if frame[["tenure", "MonthlyCharges"]].isna().any().any():
        raise click.ClickException(f"{path}: tenure and MonthlyCharges must not be blank")
    if TARGET in frame.columns:
        labels = frame[TARGET].str.strip()
        unknown = sorted(set(labels) - {"Yes", "No", ""})
        if unknown:
            raise click.ClickException(f"{path}: Churn must be Yes or No, found {unknown[:3]}")
        frame[TARGET] = labels.replace("", np.nan)
    return frame


def telco_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Model inputs: the raw columns plus the engineered ones (same for train and test)."""
    out = frame[[*CATEGORICAL, *NUMERIC]].copy()
    out["TotalCharges"] = out["TotalCharges"].fillna(0.0)  # blank: joined this month
    out["tenure_bin"] = pd.cut(out["tenure"], TENURE_BINS).astype(str)
    out["contract_internet"] = out["Contract"] + "|" + out["InternetService"]
    out["add_ons"] = (frame[list(ADD_ONS)] == "Yes").sum(axis=1).astype(float)
    expected = out["tenure"] * out["MonthlyCharges"]
    out["charge_ratio"] = np.where(expected > 0, out["TotalCharges"] / expected.where(expected > 0),
                                   1.0)
    return out


def candidates(random_state: int) -> dict[str, Callable[[], Pipeline]]:
    """The model family compared by cross-validation (name -> fresh pipeline)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
    from sklearn.linear_model import LogisticRegression

    from analytics.churn import build_churn_pipeline

    def logreg(c: float) -> LogisticRegression:
        return LogisticRegression(C=c, max_iter=5000)

    def hgb() -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            learning_rate=0.04, max_iter=250, max_leaf_nodes=8, min_samples_leaf=40,
            l2_regularization=1.0, random_state=random_state)

    engineered: dict[str, Any] = {
        "log_numeric": ENGINEERED_LOG,
        "numeric": ("MonthlyCharges", *ENGINEERED_NUMERIC),
        "categorical": (*CATEGORICAL, *ENGINEERED_CATEGORICAL),
    }
    return {
        "logreg (one-hot + scaled numerics)": lambda: build_churn_pipeline(
            numeric=NUMERIC, categorical=CATEGORICAL, estimator=logreg(1.0)),
        "logreg + engineered, C=1": lambda: build_churn_pipeline(
            **engineered, estimator=logreg(1.0)),
        "logreg + engineered, C=0.1": lambda: build_churn_pipeline(
            **engineered, estimator=logreg(0.1)),
        "gradient boosting": lambda: build_churn_pipeline(
            **engineered, estimator=hgb()),
        "blend logreg C=0.1 + boosting": lambda: build_churn_pipeline(
            **engineered, estimator=VotingClassifier(
                [("lr", logreg(0.1)), ("gb", hgb())], voting="soft")),
    }


#: The candidate used for predictions (best 10-fold CV ROC-AUC on train.csv; see the README).
DEFAULT_MODEL = "blend logreg C=0.1 + boosting"


def cv_auc(make: Callable[[], Pipeline], x: pd.DataFrame, y: np.ndarray, folds: int,
           random_state: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    splitter = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    return cross_val_score(make(), x, y, cv=splitter, scoring="roc_auc")


def holdout_auc(make: Callable[[], Pipeline], x: pd.DataFrame, y: np.ndarray,
                random_state: int) -> float:
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=random_state)
    model = make().fit(x_train, y_train)
    return float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))


@click.command("churn")
@click.option("--train", "train_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Telco CSV with the Churn column (Yes/No).")
@click.option("--test", "test_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Telco CSV to score (a Churn column, if present, is used for ROC-AUC only).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Predictions CSV: customerID,churn_probability.")
@click.option("--model", "model_name", default=DEFAULT_MODEL, show_default=True,
              help="Which candidate pipeline to use (see --compare).")
@click.option("--cv", "folds", default=0, show_default=True,
              help="Also report FOLDS-fold cross-validated ROC-AUC and an 80/20 hold-out on TRAIN.")
@click.option("--compare", is_flag=True, help="Cross-validate every candidate (with --cv folds).")
@click.option("--random-state", default=42, show_default=True)
def churn(train_path: Path, test_path: Path, out_path: Path, model_name: str, folds: int,
          compare: bool, random_state: int) -> None:
    """Fit the churn pipeline on TRAIN, write churn probabilities for TEST, print metrics."""
    from sklearn.metrics import roc_auc_score
    from tqdm.auto import tqdm

    from crmbot.cmd_bench import echo_metrics, write_csv

    pipelines = candidates(random_state)
    if model_name not in pipelines:
        raise click.ClickException(f"unknown --model; choose one of: {', '.join(pipelines)}")
    train = read_telco(train_path, require_target=True)
    train = train[train[TARGET].notna()]
    test = read_telco(test_path, require_target=False)
    x_train, y_train = telco_features(train), (train[TARGET] == "Yes").to_numpy(dtype=int)
    if len(set(y_train)) < 2:
        raise click.ClickException(f"{train_path}: Churn needs both Yes and No rows")
    metrics: dict[str, float] = {"train_rows": len(train), "test_rows": len(test)}
    if folds and folds < 2:
        raise click.ClickException("--cv needs at least 2 folds")
    if folds:
        names = list(pipelines) if compare else [model_name]
        for name in tqdm(names, desc=f"{folds}-fold CV", disable=len(names) == 1):
            scores = cv_auc(pipelines[name], x_train, y_train, folds, random_state)
            click.echo(f"  {name:<36} CV ROC-AUC {scores.mean():.4f} +/- {scores.std():.4f}"
                       f"  hold-out 80/20 "
                       f"{holdout_auc(pipelines[name], x_train, y_train, random_state):.4f}")
            if name == model_name:
                metrics["cv_roc_auc_mean"] = float(scores.mean())
                metrics["cv_roc_auc_std"] = float(scores.std())
    model = pipelines[model_name]().fit(x_train, y_train)
    proba = model.predict_proba(telco_features(test))[:, 1]
    write_csv(out_path, [ID, "churn_probability"],
              ({ID: cid, "churn_probability": f"{p:.6f}"}
               for cid, p in zip(test[ID], proba, strict=True)))
    if TARGET in test.columns and test[TARGET].notna().any():
        known = test[TARGET].notna().to_numpy()
        truth = (test.loc[known, TARGET] == "Yes").to_numpy(dtype=int)
        if len(set(truth)) == 2:
            metrics["test_roc_auc"] = float(roc_auc_score(truth, proba[known]))
    echo_metrics(f"Churn ({model_name}): {train_path.name} -> {test_path.name} -> {out_path}",
                 metrics)
