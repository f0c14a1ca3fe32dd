"""How far scalar activation markers go towards the chronic CRT response.

A diagnostic, not a model we ship: gradient-boosted trees (scikit-learn's
``HistGradientBoostingRegressor``, seeded) fitted on the training sets of
the population sweeps (every ``train*`` folder) predict each response
target of the test sets from

* ``params``: the twin's tissue, scar and mechanics, the VV delay and the
  LV lead's height and angle (cosine and sine), the sweep's own inputs;
* ``lbbb``: the reference LBBB markers (QRS, LVAT, TAT) and QLV;
* ``crt``: the reference CRT markers (QRS, LVAT, TAT);
* ``haemo``: the ejection fraction and septal-to-lateral work difference
  of the twin's remodelled LBBB heart (once per twin, the reference
  pipeline's baseline remodelling; 4-7 s on the real heart).

The markers are the reference pipeline's, so the figures bound what a
response head reading emulated markers could reach; they need no mesh and
no heart, so they say whether the real heart's shape or the head's inputs
limit the emulator's ΔLVESV. Prints R² per set and target, and the
responder AUC of ΔLVESV (responder: ΔLVESV <= -15 %).

    python experiments/population/marker_regression.py --sweeps $TWINML_CACHE/population
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import r2_score, roc_auc_score

from twinml.data.response_sweep import PIPELINE_VERSION
from twinml.data.sample_store import SampleStore

PARAMS = (
    "contractility", "stiffness", "v_fibre_mm_ms", "v_cross_mm_ms",
    "v_endo_mm_ms", "scar", "scar_radius_mm", "scar_transmurality",
    "scar_border_mm", "vv_delay_ms", "lv_lead_apicobasal",
)  # fmt: skip
LBBB = ("qrs_lbbb_ms", "lvat_lbbb_ms", "tat_lbbb_ms", "qlv_ms")
CRT = ("qrs_crt_ms", "lvat_crt_ms", "tat_crt_ms")
HAEMO = ("ef_lbbb_pct", "work_diff_lbbb_pct")
TARGETS = ("d_lvesv_pct", "d_lvedv_pct", "d_work_diff_pct", "ef_crt_acute_pct")
TEST_SETS = ("unseen_params", "unseen_shapes", "real_heart")
GROUPS = {"params": ("params",), "params+lbbb": ("params", "lbbb"),
          "params+lbbb+haemo": ("params", "lbbb", "haemo"),
          "params+crt": ("params", "crt"),
          "params+lbbb+crt": ("params", "lbbb", "crt")}  # fmt: skip


def load(folder: Path) -> dict[str, np.ndarray]:
    """Inputs by group and targets of one sweep set (its scalars only)."""
    rows: dict[str, list] = {"params": [], "lbbb": [], "crt": [], "haemo": [], "y": []}
    store = SampleStore(folder, PIPELINE_VERSION)
    for key in store.keys():
        entry = store.load(key)
        if entry is None:
            continue
        s, sc = entry["meta"]["sample"], entry["meta"]["scalars"]
        phi = np.deg2rad(float(s.get("lv_lead_rotational_deg", 0.0)))
        rows["params"].append(
            [float(s.get(k) or 0.0) for k in PARAMS] + [np.cos(phi), np.sin(phi)]
        )
        rows["lbbb"].append([sc[k] for k in LBBB])
        rows["crt"].append([sc[k] for k in CRT])
        rows["haemo"].append([sc[k] for k in HAEMO])
        rows["y"].append([np.nan if sc.get(k) is None else sc[k] for k in TARGETS])
    return {k: np.asarray(v, dtype=float) for k, v in rows.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweeps", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    sets = {p.name: load(p) for p in sorted(args.sweeps.iterdir()) if p.is_dir()}
    train = [v for k, v in sets.items() if k.startswith("train")]
    if not train or any(t not in sets for t in TEST_SETS):
        raise SystemExit(f"{args.sweeps} needs train* and {TEST_SETS} sweep folders")
    report: dict = {"n_train": int(sum(len(t["y"]) for t in train))}
    for name, groups in GROUPS.items():

        def x(d, groups=groups):
            return np.hstack([d[g] for g in groups])

        for j, target in enumerate(TARGETS):
            X = np.vstack([x(t) for t in train])
            y = np.concatenate([t["y"][:, j] for t in train])
            ok = np.isfinite(y)
            model = HistGradientBoostingRegressor(
                max_iter=600, learning_rate=0.05, random_state=args.seed
            ).fit(X[ok], y[ok])
            for s in TEST_SETS:
                d = sets[s]
                yt = d["y"][:, j]
                k = np.isfinite(yt)
                pred = model.predict(x(d)[k])
                row = report.setdefault(name, {}).setdefault(target, {})
                row[s] = {"r2": float(r2_score(yt[k], pred))}
                if target == "d_lvesv_pct":
                    resp = yt[k] <= -15.0
                    if 0 < resp.sum() < resp.size:
                        row[s]["responder_auc"] = float(roc_auc_score(resp, -pred))
    sys.stdout.write(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
