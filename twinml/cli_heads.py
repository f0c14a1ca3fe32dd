"""``twinml diagnose``: diagnosis, risk and explanations from measurements.

The command `diagnose` is registered on the main command with
``app.command("diagnose")(diagnose)``. It applies the heads
fitted on the virtual heart-failure cohort (`twinml.heads.cohort`) to a
patient's clinic measurements (a JSON object of `FEATURES`, or a list of
them, or ``{"patients": [...]}``). Missing measurements are filled with
the cohort's medians and flagged; unknown keys, booleans, NaN and values
outside the physiological ranges of `measurement_ranges` (a unit slip such
as a QRS in seconds) are refused. The risk comes
from the virtual cohort's assumed hazard (its data card), not from a
clinical study. Exit 0 on success, 2 on bad input, 1 otherwise.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

logger = logging.getLogger("twinml.cli.heads")

RISK_NOTE = (
    "risk from the virtual cohort's assumed hazard (twinml/data/"
    "hf_cohort.card.json), not a clinical risk estimate"
)
#: The file of a twin folder that holds clinic observations.
TWIN_OBSERVATIONS = "observations.json"


def read_measurements(path: Path) -> list[dict]:
    """Patients' measurements from a JSON file, refused with the reason."""
    from twinml.heads.checks import FeatureError
    from twinml.heads.cohort import FEATURES

    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FeatureError(f"no measurements file {path}") from None
    except json.JSONDecodeError as err:
        raise FeatureError(f"{path} is not JSON: {err}") from None
    if isinstance(data, dict) and "patients" in data:
        extra = sorted(set(data) - {"patients"})
        if extra:
            raise FeatureError(
                f"{path}: unknown top-level keys {extra} beside 'patients'; "
                "put each patient's measurements inside 'patients'"
            )
        data = data["patients"]
    patients = [data] if isinstance(data, dict) else data
    if not isinstance(patients, list) or not patients:
        raise FeatureError(f"{path}: expected an object of measurements or a list")
    for i, p in enumerate(patients):
        if not isinstance(p, dict):
            raise FeatureError(f"{path}: patient {i} is not an object")
        unknown = sorted(set(p) - set(FEATURES))
        if unknown:
            raise FeatureError(
                f"patient {i}: unknown measurements {unknown}; expected keys "
                f"from {list(FEATURES)} (units in the names)"
            )
        for key, value in p.items():
            check_measurement(key, value, f"patient {i}")
    return patients


def measurement_ranges() -> dict[str, tuple[str, float, float]]:
    """Feature -> (unit, low, high), inclusive: the physiological range.

    Features a twin also records take the ranges of
    `twinml.twins.observations.FIELDS`; the others are set here.
    """
    from twinml.twins.observations import FIELDS

    ranges = {f: FIELDS[name] for name, f in TWIN_TO_FEATURE.items()}
    return {**ranges, **OTHER_RANGES}


#: Ranges of the features `twinml.twins.observations.FIELDS` lacks. GLS is
#: negative (shortening); strain dispersion is an SD (never negative); the
#: septal-to-lateral work difference is relative to the mean LV work, which
#: a septum doing negative work can push past 200 %.
OTHER_RANGES: dict[str, tuple[str, float, float]] = {
    "age_years": ("years", 0.0, 120.0),
    "gls_pct": ("%", -40.0, 5.0),
    "strain_dispersion_pct": ("%", 0.0, 40.0),
    "work_diff_pct": ("%", -400.0, 400.0),
    "septal_flash_pct": ("%", -50.0, 50.0),
    "female": ("0 or 1", 0.0, 1.0),
}


def check_measurement(key: str, value, where: str) -> None:
    """Refuse a value that is not a finite number in `key`'s range.

    None (not measured) passes; ``female`` must be 0 or 1.
    """
    import math

    from twinml.heads.checks import FeatureError

    unit, low, high = measurement_ranges()[key]
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FeatureError(
            f"{where}: {key} must be a number ({unit}) or null, got {value!r}"
        )
    if not math.isfinite(value):
        raise FeatureError(
            f"{where}: {key} must be a finite number ({unit}) or null for not "
            f"measured, got {value}"
        )
    if key == "female" and value not in (0, 1):
        raise FeatureError(f"{where}: female must be 0 or 1, got {value!r}")
    if not low <= value <= high:
        raise FeatureError(
            f"{where}: {key} = {value:g} {unit} is outside the physiological "
            f"range {low:g} .. {high:g} {unit}; give it in {unit} (the unit is "
            "in the name)"
        )


#: Twin observation fields (`twinml.twins.observations`) to head features.
TWIN_TO_FEATURE = {
    "qrs_ms": "qrs_ms",
    "edv_ml": "edv_ml",
    "esv_ml": "esv_ml",
    "ef_pct": "ef_pct",
    "systolic_pressure_mmhg": "sbp_mmhg",
    "diastolic_pressure_mmhg": "dbp_mmhg",
    "lv_end_diastolic_pressure_mmhg": "lvedp_mmhg",
}


def twin_measurements(twin: Path) -> list[dict]:
    """One patient's measurements from a twin folder's observations.

    Observations the heads do not use (heart rate, LV systolic pressure,
    follow-up ΔLVESV) are left out; features the twin does not record are
    imputed by the heads and flagged in the explanation.
    """
    from twinml.heads.checks import FeatureError
    from twinml.twins import Twin

    if not Path(twin).is_dir():
        raise FeatureError(f"--twin {twin} is not a folder")
    obs = Twin.load(twin).observations  # checks the whole folder first
    if obs is None:
        raise FeatureError(
            f"twin folder {twin} holds no observations ({TWIN_OBSERVATIONS}); add "
            "them (`twinml twin new ... --observations FILE`) or pass "
            "--measurements FILE instead"
        )
    patient = {
        feature: obs[name]
        for name, feature in TWIN_TO_FEATURE.items()
        if obs.get(name) is not None
    }
    if not patient:
        raise FeatureError(
            f"{Path(twin) / TWIN_OBSERVATIONS} records none of "
            f"{sorted(TWIN_TO_FEATURE)}: nothing to diagnose from"
        )
    return [patient]


def diagnose_patients(patients: list[dict], plots: Path | None = None) -> dict:
    """Diagnosis, risk and explanations of each patient (JSON-ready)."""
    import numpy as np

    from twinml.heads.cohort import FEATURES, cached_cohort_heads

    heads = cached_cohort_heads()
    cols = {k: np.array([_num(p.get(k)) for p in patients]) for k in FEATURES}
    hf = heads.hf.explain(cols)
    phen = heads.phenotype.explain(cols)
    prog = heads.prognosis.explain(cols)
    out = {
        "risk_note": RISK_NOTE,
        "time_unit": "months",
        "patients": [
            {"hf": a, "phenotype": b, "prognosis": c}
            for a, b, c in zip(hf, phen, prog, strict=True)
        ],
    }
    if plots is not None:
        out["plots"] = [str(p) for p in _render(heads, out["patients"], plots)]
    return out


def _num(value) -> float:
    return float("nan") if value is None else float(value)


def _render(heads, patients: list[dict], folder: Path) -> list[Path]:
    """Shape functions, contributions and calibration as PNG files."""
    from twinml.heads import plots
    from twinml.heads.cohort import calibration

    folder.mkdir(parents=True, exist_ok=True)
    paths = [
        plots.plot_shape_functions(heads.hf, folder / "shape_hf.png",
                                   "HF log-odds shape functions", output=1),
        plots.plot_shape_functions(heads.prognosis, folder / "shape_risk.png",
                                   "log-hazard shape functions (virtual cohort)"),
        plots.plot_calibration(calibration(heads), folder / "calibration_hf.png",
                               "HF yes/no, 5-fold out-of-fold"),
    ]  # fmt: skip
    for i, p in enumerate(patients):
        paths.append(
            plots.plot_contributions(
                p["hf"], folder / f"patient{i}_hf.png", f"patient {i}: HF"
            )
        )
        paths.append(
            plots.plot_contributions(
                p["prognosis"], folder / f"patient{i}_risk.png", f"patient {i}: risk"
            )
        )
    return paths  # fmt: skip


def diagnose(
    measurements: Path | None = typer.Option(
        None, "--measurements", help="Clinic measurements as JSON."
    ),
    twin: Path | None = typer.Option(
        None, "--twin", help="A twin folder holding observations.json."
    ),
    plots: Path | None = typer.Option(
        None, "--plots", help="Folder for PNG plots (shape functions, ...)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Diagnosis (HF yes/no, phenotype), risk and per-feature explanations."""
    from twinml.cli import check_out_path, guarded
    from twinml.heads.checks import FeatureError

    def step() -> dict:
        if (measurements is None) == (twin is None):
            raise FeatureError("give exactly one of --measurements FILE or --twin DIR")
        if plots is not None:
            check_out_path(plots, "folder", "--plots")
        if twin is not None:
            return diagnose_patients(twin_measurements(twin), plots)
        return diagnose_patients(read_measurements(measurements), plots)

    result = guarded(step)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for i, p in enumerate(result["patients"]):
        hf, ph, pr = p["hf"], p["phenotype"], p["prognosis"]
        top = sorted(pr["features"].items(), key=lambda kv: -abs(kv[1]["contribution"]))
        typer.echo(
            f"patient {i}: HF {hf['probabilities'].get('1', 0):.0%}, phenotype "
            f"{ph['prediction']}, hazard ratio {pr['hazard_ratio']:.2f} "
            f"(top: {', '.join(k for k, _ in top[:3])})"
        )
        if pr["out_of_training_range"]:
            typer.echo(f"  outside the cohort's range: {pr['out_of_training_range']}")
    typer.echo(f"note: {RISK_NOTE}")
