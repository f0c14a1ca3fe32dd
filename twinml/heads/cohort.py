"""Heads fitted on the virtual heart-failure cohort, and their scores.

`fit_cohort_heads` fits, on the shipped cohort table
(`twinml.data.hf_cohort`), the HF yes/no and phenotype classifiers and the
prognosis model, from the noisy clinic measurements only (never the
``true_*`` parameters that define the labels). `diagnosis_scores` compares
the additive classifier with a tuned gradient-boosted black box on the
same folds; `truth_recovery` compares the prognosis model's log-hazard
terms with the cohort's known hazard.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twinml.data.hf_cohort import MEASUREMENTS, load_cohort
from twinml.heads.diagnosis import AdditiveClassifier
from twinml.heads.prognosis import AdditiveCox

logger = logging.getLogger(__name__)

__all__ = [
    "FEATURES",
    "CohortHeads",
    "diagnosis_scores",
    "fit_cohort_heads",
    "truth_recovery",
]

#: Features of every cohort head: the clinic's measurements and sex.
FEATURES = (*MEASUREMENTS, "female")
#: The interaction the prognosis head may use.
INTERACTIONS = (("age_years", "ef_pct"),)


@dataclass
class CohortHeads:
    """Fitted heads and the cohort they came from."""

    hf: AdditiveClassifier
    phenotype: AdditiveClassifier
    prognosis: AdditiveCox
    table: dict[str, np.ndarray]


def features(table: dict[str, np.ndarray]) -> np.ndarray:
    """The feature matrix of a cohort table, shape (n_patients, n_features)."""
    return np.column_stack([table[k].astype(float) for k in FEATURES])


def fit_cohort_heads(
    path: Path | None = None,
    missing: str = "median",
    lam: float | str = "auto",
    table: dict[str, np.ndarray] | None = None,
) -> CohortHeads:
    """Fit the three heads on a cohort table (the shipped one by default).

    Parameters
    ----------
    path : Path, optional
        Cohort CSV (`twinml.data.hf_cohort.write_table`).
    missing : str
        Missing-value policy of the heads (``"median"`` or ``"refuse"``).
    lam : float or "auto"
        Smoothing of every head (``"auto"``: cross-validated).
    table : dict, optional
        An already loaded table (then `path` is ignored).
    """
    table = load_cohort(path) if table is None else table
    x, names = features(table), list(FEATURES)
    kw = {"missing": missing, "lam": lam}
    hf = AdditiveClassifier(**kw).fit(x, table["hf"].astype(int), names)
    phen = AdditiveClassifier(**kw).fit(x, table["phenotype"], names)
    prog = AdditiveCox(interactions=INTERACTIONS, **kw).fit(
        x, table["time_months"], table["event"], names
    )
    return CohortHeads(hf, phen, prog, table)


def black_box(random_state: int = 0):
    """Gradient-boosted trees tuned by inner 3-fold CV (the peer)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import GridSearchCV

    grid = {
        "learning_rate": [0.03, 0.1],
        "max_leaf_nodes": [7, 15],
    }
    model = HistGradientBoostingClassifier(
        max_iter=300, early_stopping=False, random_state=random_state
    )
    return GridSearchCV(model, grid, cv=3, scoring="neg_log_loss")


def diagnosis_scores(
    table: dict[str, np.ndarray], n_splits: int = 5, seed: int = 0
) -> dict:
    """Accuracy and macro AUC of both classifiers on the same folds.

    Returns
    -------
    dict
        ``twinml`` and ``black_box``, each with ``accuracy`` and
        ``macro_auc`` (phenotype, one-vs-rest) and ``hf_accuracy``,
        ``hf_auc`` (HF yes/no), the mean over the outer folds.
    """
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    x, names = features(table), list(FEATURES)
    y = table["phenotype"]
    hf = table["hf"].astype(int)
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    scores = {"twinml": [], "black_box": []}
    for train, test in folds.split(x, y):
        for name in scores:
            models = (
                (AdditiveClassifier().fit(x[train], y[train], names),
                 AdditiveClassifier().fit(x[train], hf[train], names))
                if name == "twinml"
                else (black_box(seed).fit(x[train], y[train]),
                      black_box(seed).fit(x[train], hf[train]))
            )  # fmt: skip
            prob = models[0].predict_proba(x[test])
            pred = models[0].classes_[prob.argmax(axis=1)]
            p_hf = models[1].predict_proba(x[test])[:, 1]
            scores[name].append({
                "accuracy": accuracy_score(y[test], pred),
                "macro_auc": roc_auc_score(
                    y[test], prob, multi_class="ovr", average="macro",
                    labels=models[0].classes_),
                "hf_accuracy": accuracy_score(hf[test], p_hf > 0.5),
                "hf_auc": roc_auc_score(hf[test], p_hf),
            })  # fmt: skip
    return {
        name: {k: float(np.mean([f[k] for f in folds_])) for k in folds_[0]}
        for name, folds_ in scores.items()
    }


def truth_recovery(table: dict[str, np.ndarray]) -> dict:
    """How well the prognosis head's terms recover the known hazard.

    The head is fitted on the noisy measurements; its terms are compared,
    patient by patient, with the true terms of the cohort's hazard
    (`twinml.data.hf_cohort.true_log_hazard_terms`, on noise-free values).

    Returns
    -------
    dict
        ``correlation``: Pearson r between the head's whole log-hazard and
        the true one; ``terms``: r per term (``qrs``, ``edp``, and
        ``age_ef``, the sum of the age and EF terms and their
        interaction, since a bilinear term shares its main effects).
    """
    x, names = features(table), list(FEATURES)
    head = AdditiveCox(interactions=INTERACTIONS).fit(
        x, table["time_months"], table["event"], names
    )
    z = head.design_.transform(x[:, head._keep])
    got = {n: v[:, 0] for n, v in head._terms(z, head.coef_).items()}

    def r(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a, b)[0, 1])

    age_ef = got["age_years"] + got["ef_pct"] + got.get("age_years x ef_pct", 0.0)
    true_age_ef = table["true_g_age"] + table["true_g_ef"] + table["true_g_age_ef"]
    return {
        "correlation": r(sum(got.values()), table["true_log_hazard"]),
        "terms": {
            "qrs": r(got["qrs_ms"], table["true_g_qrs"]),
            "edp": r(got["lvedp_mmhg"], table["true_g_edp"]),
            "age_ef": r(age_ef, true_age_ef),
        },
        "lam": head.lam_,
        "n_patients": int(len(x)),
        "n_events": int(table["event"].sum()),
    }


#: Bump when a change to the heads makes cached fits stale.
HEADS_VERSION = 2


def cached_cohort_heads(path: Path | None = None) -> CohortHeads:
    """`fit_cohort_heads`, cached by the table's hash under the twinml cache.

    The fit takes tens of seconds; the pickle lies at
    ``$TWINML_CACHE/heads/`` (or the platform's cache folder) and is
    refitted when the table or `HEADS_VERSION` changes.
    """
    import pickle

    from simulators.mesh.wheel import cache_dir
    from twinml.data.hf_cohort import COHORT_CSV
    from twinml.provenance import atomic_write, sha256_file

    table_path = COHORT_CSV if path is None else Path(path)
    if not table_path.exists():
        load_cohort(table_path)  # raises DataError naming the fix
    key = sha256_file(table_path)[:16]
    cached = cache_dir() / "heads" / f"hf_cohort-{key}-v{HEADS_VERSION}.pkl"
    if cached.exists():
        try:
            with open(cached, "rb") as f:
                return pickle.load(f)
        except Exception as err:  # noqa: BLE001 - a stale cache is refitted
            logger.warning("refitting the heads: cache %s unreadable (%s)", cached, err)
    logger.info("fitting the heads on %s (cached at %s)", table_path, cached)
    heads = fit_cohort_heads(table_path)
    atomic_write(cached, lambda tmp: tmp.write_bytes(pickle.dumps(heads)))
    return heads


def calibration(heads: CohortHeads, n_splits: int = 5) -> dict:
    """Out-of-fold reliability of the HF head (its smoothing kept fixed)."""
    from sklearn.model_selection import StratifiedKFold

    from twinml.heads.metrics import calibration_bins

    x, names = features(heads.table), list(FEATURES)
    y = heads.table["hf"].astype(int)
    prob = np.zeros(len(y))
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=0)
    for train, test in folds.split(x, y):
        head = AdditiveClassifier(lam=heads.hf.lam_, missing="median")
        prob[test] = head.fit(x[train], y[train], names).predict_proba(x[test])[:, 1]
    return calibration_bins(y, prob)
