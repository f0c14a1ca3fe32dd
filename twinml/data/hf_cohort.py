"""A virtual heart-failure cohort from the reference simulators.

Each patient is a twin of the real heart (`simulators.hearts.load_heart`,
``rodero01``) with a phenotype drawn from `PHENOTYPES`, some with a second
condition (overlaps). Its parameters drive an Eikonal activation with a
pseudo-ECG (`simulators.ep`) and a steady-state beat of the multi-patch
heart in its circulation (`simulators.circulation`). The table keeps:

- the ground truth (``true_*`` columns: phenotype, parameters and the
  noise-free readouts the hazard uses);
- the clinic's measurements (`MEASUREMENTS`) with measurement noise;
- an event time from the known hazard `true_log_hazard`, with censoring.

Hazard (time in months; exponential baseline ``BASELINE_PER_MONTH``)::

    log h = log h0 + g_ef + g_qrs + g_edp + g_age + g_age_ef
    g_ef     = 1.2 softplus((40 - EF) / 6)          EF in %
    g_qrs    = 0.9 / (1 + exp(-(QRS - 130) / 8))    QRS in ms
    g_edp    = 0.4 max(EDP - 20, 0)                 LV EDP in mmHg
    g_age    = 0.035 (age - 65)                     age in years
    g_age_ef = 0.02 (age - 65) (50 - EF) / 10       interaction

Censoring: administrative at ``FOLLOW_UP_MONTHS`` and uniform loss to
follow-up at ``DROPOUT_PER_MONTH``.

Examples
--------
>>> import numpy as np
>>> terms = true_log_hazard_terms(
...     np.array([60.0, 25.0]), np.array([95.0, 160.0]),
...     np.array([10.0, 20.0]), np.array([65.0, 75.0]))
>>> bool(terms["g_ef"][1] > terms["g_ef"][0])
True
"""

from __future__ import annotations

import csv
import logging
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from simulators.errors import DataError
from twinml.provenance import atomic_write

logger = logging.getLogger(__name__)

__all__ = [
    "MEASUREMENTS",
    "PHENOTYPES",
    "CohortConfig",
    "PatientContext",
    "event_times",
    "sample_patients",
    "simulate_patient",
    "true_log_hazard_terms",
]

#: Phenotypes (the diagnosis labels); every one but ``normal`` is HF.
PHENOTYPES = ("normal", "lbbb", "scar", "hfref", "hfpef")
#: Prevalence of each phenotype in the cohort.
PREVALENCE = (0.30, 0.175, 0.175, 0.175, 0.175)
#: Noisy clinic measurements (the diagnosis and prognosis features).
MEASUREMENTS = (
    "age_years",
    "qrs_ms",
    "edv_ml",
    "esv_ml",
    "ef_pct",
    "sbp_mmhg",
    "dbp_mmhg",
    "lvedp_mmhg",
    "gls_pct",
    "strain_dispersion_pct",
    "work_diff_pct",
    "septal_flash_pct",
)
#: Scar territories: AHA segments of the LAD, RCA and LCx.
TERRITORIES = {"lad": (1, 7, 13), "rca": (4, 10, 15), "lcx": (5, 11, 16)}
BASELINE_PER_MONTH = 0.004
FOLLOW_UP_MONTHS = 60.0
DROPOUT_PER_MONTH = 0.004
#: Measurement noise: SDs (absolute, or relative for volumes).
NOISE = {
    "qrs_ms": 6.0,
    "volume_rel": 0.06,
    "pressure_mmhg": 5.0,
    "lvedp_mmhg": 1.0,
    "strain_pct": 1.5,
    "work_diff_pct": 8.0,
}


@dataclass(frozen=True)
class CohortConfig:
    """How many patients and which seed.

    Parameters
    ----------
    n_patients : int
        Cohort size (at least 1).
    seed : int
        Seed of every draw (parameters, noise, event times).
    overlap : float
        Probability that an HF patient carries a second condition.
    """

    n_patients: int = 500
    seed: int = 0
    overlap: float = 0.25

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class PatientContext:
    """What every patient shares: the heart, its patches and a model.

    Build it once (`PatientContext.build`) and scatter it to workers.
    """

    heart: object
    geometry: object
    model: object

    @classmethod
    def build(cls, heart_name: str = "rodero01") -> PatientContext:
        from simulators.circulation import HeartModel, heart_geometry
        from simulators.hearts import load_heart

        heart = load_heart(heart_name)
        geometry = heart_geometry(heart.mesh, heart.aha)
        model = HeartModel.from_geometry(geometry, sigma_act_kpa=62.0)
        return cls(heart=heart, geometry=geometry, model=model)


def sample_patients(config: CohortConfig) -> list[dict]:
    """Draw every patient's ground truth (phenotype and twin parameters).

    Returns
    -------
    list of dict
        One dict per patient: ``id``, ``phenotype``, ``second`` (the
        overlapping condition or ``""``), ``lbbb``, ``scar_territory``,
        ``scar_radius_mm``, ``scar_transmurality``, ``contractility``
        (scale of the active stress), ``stiffness`` (scale of the passive
        stress), ``cv_scale``, ``age_years``, ``female`` and ``seed``.
    """
    rng = np.random.default_rng(config.seed)
    seeds = np.random.SeedSequence(config.seed).generate_state(config.n_patients)
    out = []
    for i in range(config.n_patients):
        p = {
            "id": i,
            "phenotype": str(rng.choice(PHENOTYPES, p=PREVALENCE)),
            "second": "",
            "lbbb": False,
            "scar_territory": "",
            "scar_radius_mm": 0.0,
            "scar_transmurality": 0.0,
            "contractility": rng.uniform(0.85, 1.15),
            "stiffness": rng.uniform(0.8, 1.25),
            "cv_scale": rng.uniform(0.9, 1.1),
            "age_years": float(np.clip(rng.normal(66.0, 11.0), 35.0, 95.0)),
            "female": bool(rng.random() < 0.4),
            "seed": int(seeds[i]),
        }
        _apply(p, p["phenotype"], rng)
        if p["phenotype"] != "normal" and rng.random() < config.overlap:
            others = [c for c in PHENOTYPES[1:] if c != p["phenotype"]]
            p["second"] = str(rng.choice(others))
            _apply(p, p["second"], rng)
        out.append(p)
    return out


def _apply(p: dict, condition: str, rng: np.random.Generator) -> None:
    """Set the parameters of one condition on a patient dict."""
    if condition == "lbbb":
        p["lbbb"] = True
        p["contractility"] = min(p["contractility"], rng.uniform(0.7, 1.0))
        p["cv_scale"] = rng.uniform(0.8, 1.0)
    elif condition == "scar":
        p["scar_territory"] = str(rng.choice(list(TERRITORIES)))
        p["scar_radius_mm"] = rng.uniform(14.0, 28.0)
        p["scar_transmurality"] = rng.uniform(0.5, 1.0)
    elif condition == "hfref":
        p["contractility"] = rng.uniform(0.35, 0.65)
        p["cv_scale"] = min(p["cv_scale"], rng.uniform(0.8, 1.0))
    elif condition == "hfpef":
        p["stiffness"] = rng.uniform(2.0, 4.0)


def simulate_patient(ctx: PatientContext, p: dict) -> dict:
    """Simulate one patient: activation, ECG, beat, noisy measurements.

    Parameters
    ----------
    ctx : PatientContext
        The shared heart, patches and baseline model.
    p : dict
        A patient from `sample_patients`.

    Returns
    -------
    dict
        The patient's row: ground truth (``true_*``), measurements
        (`MEASUREMENTS`) without the event columns (see `event_times`).
    """
    from simulators.circulation import haemodynamics, patch_onsets, simulate
    from simulators.ep.protocols import PacingPlan, TissueParams

    heart, g = ctx.heart, ctx.geometry
    rng = np.random.default_rng(p["seed"])

    # activation and pseudo-ECG
    scar = _scar(heart, p, rng) if p["scar_territory"] else None
    plan = PacingPlan("lbbb" if p["lbbb"] else "sinus")
    with warnings.catch_warnings():
        # nodes walled in by scar are unreachable (NaN) by design
        warnings.filterwarnings("ignore", "(?s).*cannot be reached", RuntimeWarning)
        act = heart.activate(plan, TissueParams(cv_scale=p["cv_scale"]), scar)
    qrs = float(heart.ecg(act).qrs_ms)

    # patch contractility and stiffness, scarred patches weakened
    frac = _patch_scar_fraction(heart, g, scar)
    model = ctx.model
    model = replace(
        model,
        sigma_act_kpa=model.sigma_act_kpa * p["contractility"] * (1.0 - frac),
        sigma_pas_kpa=model.sigma_pas_kpa * p["stiffness"] * (1.0 + 3.0 * frac),
    )
    onset = patch_onsets(act.t_ms, g.node_patch, g.n_patches)
    onset = np.where(np.isfinite(onset), onset, np.nanmax(onset))
    beat = simulate(model, onset)
    h = haemodynamics(beat, model)
    truth = _readouts(beat, model, h, qrs)
    truth["age_years"] = p["age_years"]
    row = {f"true_{k}": v for k, v in p.items() if k != "seed"}
    row.update({f"true_{k}": v for k, v in truth.items() if k != "age_years"})
    row["true_scar_fraction_lv"] = float(np.mean(frac[model.wall < 2]))
    row.update(_noisy(truth, rng))
    row["female"] = int(p["female"])
    row["hf"] = int(p["phenotype"] != "normal")
    row["phenotype"] = p["phenotype"]
    return row


def _scar(heart, p: dict, rng: np.random.Generator):
    """A spherical scar centred on the LV endocardium of the territory."""
    from simulators.ep.scar import spherical_scar

    endo = heart.mesh.surface_nodes("lv_endo")
    segs = TERRITORIES[p["scar_territory"]]
    nodes = endo[np.isin(heart.aha[endo], segs)]
    centre = heart.mesh.points[rng.choice(nodes)]
    return spherical_scar(
        heart.mesh, centre, p["scar_radius_mm"], p["scar_transmurality"]
    )


def _patch_scar_fraction(heart, g, scar) -> np.ndarray:
    """Fraction of each patch's nodes in scar (border zone counts half)."""
    if scar is None:
        return np.zeros(g.n_patches)
    cells = heart.mesh.cells
    weight = np.zeros(heart.mesh.n_points)
    weight[cells[scar.border].ravel()] = 0.5
    weight[cells[scar.cells].ravel()] = 1.0
    total = np.bincount(g.node_patch, minlength=g.n_patches)
    hit = np.bincount(g.node_patch, weight, minlength=g.n_patches)
    return np.clip(hit / np.maximum(total, 1), 0.0, 0.9)


def _readouts(beat, model, h, qrs_ms: float) -> dict:
    """Noise-free clinic readouts of a beat (units in the names)."""
    p = beat.pressures_mmhg
    v_lv = beat.volumes_ml[:, 0]
    ed, es = int(np.argmax(v_lv)), int(np.argmin(v_lv))
    lv = model.wall < 2
    shortening = 100.0 * (beat.strain[es, lv] - beat.strain[ed, lv])
    return {
        "qrs_ms": qrs_ms,
        "edv_ml": h.edv_ml,
        "esv_ml": h.esv_ml,
        "ef_pct": h.ef_pct,
        "sbp_mmhg": float(p[:, 4].max()),
        "dbp_mmhg": float(p[:, 4].min()),
        "lvedp_mmhg": float(p[ed, 0]),
        "gls_pct": float(np.average(shortening, weights=model.v_wall_ml[lv])),
        "strain_dispersion_pct": float(np.std(shortening)),
        "work_diff_pct": h.work_diff_pct,
        "septal_flash_pct": h.septal_flash_pct,
    }


def _noisy(truth: dict, rng: np.random.Generator) -> dict:
    """The clinic's view of the readouts: each with measurement noise."""
    n = NOISE
    edv = truth["edv_ml"] * (1.0 + n["volume_rel"] * rng.standard_normal())
    esv = truth["esv_ml"] * (1.0 + n["volume_rel"] * rng.standard_normal())
    esv = min(esv, 0.95 * edv)
    return {
        "age_years": truth["age_years"],
        "qrs_ms": truth["qrs_ms"] + n["qrs_ms"] * rng.standard_normal(),
        "edv_ml": edv,
        "esv_ml": esv,
        "ef_pct": 100.0 * (edv - esv) / edv,
        "sbp_mmhg": truth["sbp_mmhg"] + n["pressure_mmhg"] * rng.standard_normal(),
        "dbp_mmhg": truth["dbp_mmhg"] + n["pressure_mmhg"] * rng.standard_normal(),
        "lvedp_mmhg": truth["lvedp_mmhg"] + n["lvedp_mmhg"] * rng.standard_normal(),
        "gls_pct": truth["gls_pct"] + n["strain_pct"] * rng.standard_normal(),
        "strain_dispersion_pct": abs(
            truth["strain_dispersion_pct"] + n["strain_pct"] * rng.standard_normal()
        ),
        "work_diff_pct": truth["work_diff_pct"]
        + n["work_diff_pct"] * rng.standard_normal(),
        "septal_flash_pct": truth["septal_flash_pct"]
        + n["strain_pct"] * rng.standard_normal(),
    }


def true_log_hazard_terms(
    ef_pct: np.ndarray,
    qrs_ms: np.ndarray,
    lvedp_mmhg: np.ndarray,
    age_years: np.ndarray,
) -> dict[str, np.ndarray]:
    """The known log-hazard terms of the cohort (module docstring).

    Parameters
    ----------
    ef_pct, qrs_ms, lvedp_mmhg, age_years : ndarray of shape (n_patients,)
        Noise-free EF (%), QRS duration (ms), LV end-diastolic pressure
        (mmHg) and age (years).

    Returns
    -------
    dict of str to ndarray of shape (n_patients,)
        ``g_ef``, ``g_qrs``, ``g_edp``, ``g_age`` and ``g_age_ef``.
    """
    ef, qrs = np.asarray(ef_pct, float), np.asarray(qrs_ms, float)
    edp, age = np.asarray(lvedp_mmhg, float), np.asarray(age_years, float)
    return {
        "g_ef": 1.2 * np.logaddexp(0.0, (40.0 - ef) / 6.0),
        "g_qrs": 0.9 / (1.0 + np.exp(-(qrs - 130.0) / 8.0)),
        "g_edp": 0.4 * np.maximum(edp - 20.0, 0.0),
        "g_age": 0.035 * (age - 65.0),
        "g_age_ef": 0.02 * (age - 65.0) * (50.0 - ef) / 10.0,
    }


def event_times(rows: list[dict], seed: int) -> None:
    """Draw each patient's event time and status in place.

    Adds ``time_months`` (event or censoring time), ``event`` (1 death,
    0 censored) and ``true_log_hazard`` (without the baseline) to every
    row, from the hazard of the module docstring.
    """
    rng = np.random.default_rng([seed, 6])
    col = {k: np.array([r[f"true_{k}"] for r in rows], float) for k in _HAZARD_IN}
    terms = true_log_hazard_terms(**col)
    eta = sum(terms.values())
    t_event = rng.exponential(1.0 / (BASELINE_PER_MONTH * np.exp(eta)))
    t_drop = rng.exponential(1.0 / DROPOUT_PER_MONTH, size=len(rows))
    t_cens = np.minimum(t_drop, FOLLOW_UP_MONTHS)
    for i, r in enumerate(rows):
        r["time_months"] = float(min(t_event[i], t_cens[i]))
        r["event"] = int(t_event[i] <= t_cens[i])
        r["true_log_hazard"] = float(eta[i])
        for name, value in terms.items():
            r[f"true_{name}"] = float(value[i])


_HAZARD_IN = ("ef_pct", "qrs_ms", "lvedp_mmhg", "age_years")


#: The shipped 500-patient table and its data card (package data).
COHORT_CSV = Path(__file__).with_name("hf_cohort.csv")
COHORT_CARD = Path(__file__).with_name("hf_cohort.card.json")


def write_table(rows: list[dict], path: Path) -> Path:
    """Write rows as CSV atomically (a temporary file, then a rename)."""
    columns = list(rows[0])

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for r in rows:
                writer.writerow({k: _cell(r[k]) for k in columns})

    return atomic_write(path, write)


def _cell(value) -> str:
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    return str(value)


def data_card(config: CohortConfig, rows: list[dict], extra: dict) -> dict:
    """The cohort's data card: how it was made, seed, hazard, counts."""
    phen = [r["phenotype"] for r in rows]
    return {
        "name": "twinml virtual heart-failure cohort",
        "config": config.as_dict(),
        "heart": "rodero01 (Rodero et al. 2021, case 01, CC-BY 4.0)",
        "simulators": "simulators.ep (Eikonal, pseudo-ECG) + "
        "simulators.circulation (multi-patch heart, closed loop)",
        "phenotypes": {k: phen.count(k) for k in PHENOTYPES},
        "overlaps": sum(bool(r["true_second"]) for r in rows),
        "events": int(sum(r["event"] for r in rows)),
        "measurements": list(MEASUREMENTS),
        "noise_sd": NOISE,
        "hazard": __doc__.split("Hazard")[1].split("Censoring")[0].strip(),
        "baseline_per_month": BASELINE_PER_MONTH,
        "follow_up_months": FOLLOW_UP_MONTHS,
        "dropout_per_month": DROPOUT_PER_MONTH,
        **extra,
    }


def load_cohort(path: Path | None = None) -> dict[str, np.ndarray]:
    """Read a cohort table: numeric columns as float, the others as str.

    Parameters
    ----------
    path : Path, optional
        CSV written by `write_table`; the shipped cohort by default.

    Returns
    -------
    dict of str to ndarray of shape (n_patients,)
    """
    path = COHORT_CSV if path is None else Path(path)
    if not path.exists():
        raise DataError(
            f"no cohort table at {path}; run experiments/hf_cohort.py to make it"
        )
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for name in rows[0]:
        values = [r[name] for r in rows]
        try:
            out[name] = np.array([float(v) for v in values])
        except ValueError:
            out[name] = np.array(values)
    return out
