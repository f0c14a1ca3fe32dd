"""Diagnosis and prognosis heads: real outcomes, virtual cohort, black boxes.

Prognosis on real data: WHAS500 (Hosmer, Lemeshow and May 2008; 500
patients after myocardial infarction), without ``los`` (for in-hospital
deaths the length of stay equals the follow-up). Repeated stratified
K-fold (3 x 5 by default, stratified on the event flag), the same folds
for every model; each model is tuned by cross-validation inside the
training folds:

* twinml: `twinml.heads.AdditiveCox` (smoothing by inner 5-fold CV
  partial likelihood);
* Cox PH (ridge ``alpha`` by inner 3-fold CV C-index), random survival
  forest and gradient-boosted survival (small grids, inner 3-fold CV
  C-index), from scikit-survival (GPL-3: the ``bench`` extra only, loaded
  here and never by ``twinml``).

C-index: Harrell's, the same function for every model
(`twinml.heads.metrics.concordance_index`). ``paired_diff_vs_best`` is
twinml minus the best peer (highest mean C), fold by fold; ``ibs`` the
IPCW integrated Brier score over the 10th-80th percentiles of the event
times.

Diagnosis and truth recovery on the virtual cohort shipped with twinml
(`twinml.data.hf_cohort`): 5-fold accuracy and macro AUC of the phenotype
(and HF yes/no) for the additive classifier and a tuned
`HistGradientBoostingClassifier`; correlation between the prognosis
head's log-hazard terms and the known ones.

Run from the repository root (about 2 min on 2 cores)::

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python -m experiments.benchmarks.heads --json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from twinml.heads import AdditiveCox
from twinml.heads.metrics import concordance_index, integrated_brier_score

logger = logging.getLogger("experiments.benchmarks.heads")


def load_whas500() -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """WHAS500 features without ``los``, follow-up (days) and death flag."""
    try:
        from sksurv.datasets import load_whas500 as load
    except ImportError as err:
        raise SystemExit(
            f"WHAS500 comes with scikit-survival: pip install -e '.[bench]' ({err})"
        ) from None
    frame, y = load()
    frame = frame.drop(columns="los")
    names = list(frame.columns)
    x = np.column_stack([frame[c].astype(float).to_numpy() for c in names])
    return x, names, y["lenfol"].astype(float), y["fstat"].astype(bool)


def peers(seed: int) -> dict:
    """The scikit-survival peers, each wrapped in its inner grid search."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sksurv.ensemble import (
        GradientBoostingSurvivalAnalysis,
        RandomSurvivalForest,
    )
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    cox = make_pipeline(StandardScaler(), CoxPHSurvivalAnalysis())
    rsf = RandomSurvivalForest(n_estimators=100, random_state=seed, n_jobs=1)
    gbs = GradientBoostingSurvivalAnalysis(random_state=seed)
    return {
        "cox_ph": GridSearchCV(
            cox, {"coxphsurvivalanalysis__alpha": [1e-3, 1.0, 10.0, 50.0]}, cv=3
        ),
        "rsf": GridSearchCV(
            rsf, {"min_samples_leaf": [5, 15], "max_features": ["sqrt", 0.5]}, cv=3
        ),
        "gbs": GridSearchCV(
            gbs,
            {"learning_rate": [0.05, 0.1], "max_depth": [1, 2], "n_estimators": [100]},
            cv=3,
        ),  # fmt: skip
    }


def prognosis(repeats: int, folds: int, seed: int) -> dict:
    """C-index of every model on the same folds, paired differences, IBS."""
    from sklearn.model_selection import RepeatedStratifiedKFold
    from sksurv.util import Surv

    x, names, time_, event = load_whas500()
    grid = np.quantile(time_[event], np.linspace(0.1, 0.8, 15))
    cv = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats,
                                 random_state=seed)  # fmt: skip
    c: dict[str, list[float]] = {}
    ibs: dict[str, list[float]] = {}
    for k, (train, test) in enumerate(cv.split(x, event)):
        start = time.perf_counter()
        ours = AdditiveCox(n_knots=4).fit(x[train], time_[train], event[train], names)
        risk = {"twinml": ours.predict(x[test])}
        surv = {"twinml": ours.predict_survival(x[test], grid)}
        y_train = Surv.from_arrays(event[train], time_[train])
        for name, model in peers(seed).items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(x[train], y_train)
            risk[name] = model.predict(x[test])
            fns = model.best_estimator_.predict_survival_function(x[test])
            surv[name] = np.array([fn(np.minimum(grid, fn.x[-1])) for fn in fns])
        for name in risk:
            c.setdefault(name, []).append(
                concordance_index(time_[test], event[test], risk[name])
            )
            ibs.setdefault(name, []).append(integrated_brier_score(
                time_[train], event[train], time_[test], event[test],
                surv[name], grid))  # fmt: skip
        logger.info(
            "fold %d: %s (%.0f s)",
            k, {n: round(v[-1], 3) for n, v in c.items()},
            time.perf_counter() - start,
        )  # fmt: skip
    mean = {n: float(np.mean(v)) for n, v in c.items()}
    best = max((n for n in mean if n != "twinml"), key=mean.get)
    diff = np.array(c["twinml"]) - np.array(c[best])
    return {
        "c_index": mean,
        "c_index_sd": {n: float(np.std(v, ddof=1)) for n, v in c.items()},
        "best_peer": best,
        "paired_diff_vs_best": {
            "mean": float(diff.mean()),
            "sd": float(diff.std(ddof=1)),
        },  # fmt: skip
        "ibs": {n: float(np.mean(v)) for n, v in ibs.items()},
        "folds": f"{repeats} x {folds}-fold, stratified on the event",
        "dataset": "WHAS500 without los",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="heads: %(message)s")  # fmt: skip
    logging.getLogger("twinml").setLevel(logging.WARNING)

    from twinml.data.hf_cohort import load_cohort
    from twinml.heads.cohort import diagnosis_scores, truth_recovery

    # one BLAS/OpenMP thread: on a shared 2-core machine the boosted trees'
    # OpenMP threads spin against each other and run 5-10x slower
    start = time.perf_counter()
    table = load_cohort()
    with threadpool_limits(1):
        result = {
            "prognosis": prognosis(args.repeats, args.folds, args.seed),
            "diagnosis": diagnosis_scores(table, seed=args.seed),
            "truth_recovery": truth_recovery(table),
            "wall_s": None,
        }
    result["wall_s"] = round(time.perf_counter() - start, 1)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
