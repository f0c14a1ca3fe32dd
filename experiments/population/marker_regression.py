"""How far scalar activation markers go towards the chronic CRT response.

A diagnostic, not a model we ship: gradient-boosted trees (scikit-learn's
``HistGradientBoostingRegressor``, seeded) fitted on the training sets of
the population sweeps (every ``train*`` folder; ``train_asym*``, whose
shapes have an asymmetric LV wall, only with ``--asymmetric``) predict
each response target of the test sets from

* ``params``: the twin's tissue, scar and mechanics, the VV delay and the
  LV lead's height and angle (cosine and sine), the sweep's own inputs;
* ``lbbb``: the reference LBBB markers (QRS, LVAT, TAT) and QLV;
* ``crt``: the reference CRT markers (QRS, LVAT, TAT);
* ``haemo``: the ejection fraction and septal-to-lateral work difference
  of the twin's remodelled LBBB heart (once per twin, the reference
  pipeline's baseline remodelling; 4-7 s on the real heart);
* ``patch``: dyssynchrony of the patch onsets the heart model beats under
  (`simulators.circulation.geometry.patch_onsets` of the reference LBBB
  and CRT maps on the heart's own patches): wall-volume-weighted mean and
  SD over the LV patches, SD over all patches, LV free wall minus septum,
  RV minus LV and the LV range, for LBBB, CRT and their difference;
* ``geom``: the heart's cavity and wall volumes (`shape_descriptors`).

The markers are the reference pipeline's, so the figures bound what a
response head reading emulated markers could reach; they need no mesh and
no heart, so they say whether the real heart's shape or the head's inputs
limit the emulator's ΔLVESV. Prints R² per set and target, and the
responder AUC of ΔLVESV (responder: ΔLVESV <= -15 %).

``thin_septum`` answers whether the real heart's thin septum explains its
lower ΔLVESV R²: its septum holds 0.30 of the LV free wall's volume, below
every training shape (0.36-0.59). It holds out every parametric shape of
the training and test sets whose ratio lies below `THIN_SEPTUM`, fits on
the other shapes and scores ΔLVESV R² on the held-out ones.

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

# run as a script: this folder is on the path (the sweeps' heart builder)
from train import check_loaded, sweep_entries, sweep_folders

from simulators.circulation.geometry import heart_geometry, patch_onsets
from twinml.query.whatif import shape_descriptors

PARAMS = (
    "contractility", "stiffness", "v_fibre_mm_ms", "v_cross_mm_ms",
    "v_endo_mm_ms", "scar", "scar_radius_mm", "scar_transmurality",
    "scar_border_mm", "vv_delay_ms", "lv_lead_apicobasal",
)  # fmt: skip
LBBB = ("qrs_lbbb_ms", "lvat_lbbb_ms", "tat_lbbb_ms", "qlv_ms")
CRT = ("qrs_crt_ms", "lvat_crt_ms", "tat_crt_ms")
HAEMO = ("ef_lbbb_pct", "work_diff_lbbb_pct")
PATCH = ("lv_mean_ms", "lv_sd_ms", "all_sd_ms", "free_wall_minus_septum_ms",
         "rv_minus_lv_ms", "lv_range_ms")  # fmt: skip
TARGETS = ("d_lvesv_pct", "d_lvedv_pct", "d_work_diff_pct", "ef_crt_acute_pct")
TEST_SETS = ("unseen_params", "unseen_shapes", "real_heart")
GROUPS = {"params": ("params",), "params+lbbb": ("params", "lbbb"),
          "params+lbbb+haemo": ("params", "lbbb", "haemo"),
          "params+crt": ("params", "crt"),
          "params+lbbb+crt": ("params", "lbbb", "crt"),
          "params+lbbb+patch": ("params", "lbbb", "patch"),
          "params+lbbb+patch+geom": ("params", "lbbb", "patch", "geom"),
          "params+lbbb+haemo+patch": ("params", "lbbb", "haemo", "patch")}  # fmt: skip
#: Septal-to-LV-free-wall volume ratio below which a shape counts as thin.
THIN_SEPTUM = 0.42


def dyssynchrony(geometry, t_ms: np.ndarray) -> list[float]:
    """The `PATCH` indices of one activation map on a heart's patches, ms."""
    t = np.asarray(t_ms, dtype=float)
    onset = patch_onsets(t - np.nanmin(t), geometry.node_patch, geometry.n_patches)
    weight = np.where(np.isfinite(onset), geometry.v_wall_ml, 0.0)
    onset = np.nan_to_num(onset)
    lv, free, septum, rv = (
        geometry.wall < 2,
        geometry.wall == 0,
        geometry.wall == 1,
        geometry.wall == 2,
    )

    def mean(mask):
        return float(np.average(onset[mask], weights=weight[mask]))

    def sd(mask):
        dev = onset[mask] - mean(mask)
        return float(np.sqrt(np.average(dev**2, weights=weight[mask])))

    lv_on = onset[lv & (weight > 0)]
    return [
        mean(lv), sd(lv), sd(np.ones_like(lv)), mean(free) - mean(septum),
        mean(rv) - mean(lv), float(lv_on.max() - lv_on.min()),
    ]  # fmt: skip


def load(folder: Path, hearts: dict) -> dict[str, np.ndarray]:
    """Inputs by group and targets of one sweep set.

    ``hearts`` caches each shape's heart, patches and descriptors.
    """
    names = ("params", "lbbb", "crt", "haemo", "patch", "geom", "shape", "y")
    rows: dict[str, list] = {k: [] for k in names}
    for _, entry, hkey, heart in sweep_entries(folder, hearts):
        s, sc = entry["meta"]["sample"], entry["meta"]["scalars"]
        if (hkey, "patches") not in hearts:
            geometry = heart_geometry(heart.mesh, heart.aha)
            hearts[hkey, "patches"] = geometry, shape_descriptors(heart)
        geometry, descriptors = hearts[hkey, "patches"]
        arrays = entry["arrays"]
        lbbb = dyssynchrony(geometry, arrays["t_lbbb_ms"])
        crt = dyssynchrony(geometry, arrays["t_crt_ms"])
        rows["patch"].append(lbbb + crt + list(np.subtract(crt, lbbb)))
        rows["geom"].append(list(descriptors.values()))
        rows["shape"].append(hkey)
        phi = np.deg2rad(float(s.get("lv_lead_rotational_deg", 0.0)))
        rows["params"].append(
            [float(s.get(k) or 0.0) for k in PARAMS] + [np.cos(phi), np.sin(phi)]
        )
        rows["lbbb"].append([sc[k] for k in LBBB])
        rows["crt"].append([sc[k] for k in CRT])
        rows["haemo"].append([sc[k] for k in HAEMO])
        rows["y"].append([np.nan if sc.get(k) is None else sc[k] for k in TARGETS])
    shape = np.asarray(rows.pop("shape"))
    return {"shape": shape, **{k: np.asarray(v, dtype=float) for k, v in rows.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweeps", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--asymmetric", action="store_true", help="train_asym* too")
    args = ap.parse_args(argv)

    hearts: dict = {}
    folders = sweep_folders(ap, args.sweeps, TEST_SETS, args.asymmetric)
    sets = {p.name: load(p, hearts) for p in folders}
    check_loaded(ap, {k: len(v["y"]) for k, v in sets.items()})
    train = [v for k, v in sets.items() if k.startswith("train")]
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
    report["thin_septum"] = thin_septum(sets, args.seed)
    sys.stdout.write(json.dumps(report, indent=1) + "\n")
    return 0


def thin_septum(sets: dict, seed: int) -> dict:
    """ΔLVESV R² on held-out parametric shapes with a thin septum, by group."""
    pool = {k: v for k, v in sets.items() if k.startswith("train") or k in TEST_SETS}
    pool.pop("real_heart", None)
    data = {g: np.concatenate([d[g] for d in pool.values()]) for g in pool["train"]}
    y = data["y"][:, TARGETS.index("d_lvesv_pct")]
    ratio = data["geom"][:, 3] / data["geom"][:, 2]  # septum / LV free wall
    thin = np.isin(data["shape"], np.unique(data["shape"][ratio < THIN_SEPTUM]))
    fit, held = ~thin & np.isfinite(y), thin & np.isfinite(y)
    geom = [d["geom"] for k, d in sets.items() if k.startswith("train")]
    train_ratio = np.concatenate([g[:, 3] / g[:, 2] for g in geom])
    real = sets["real_heart"]["geom"]
    out = {
        "training_ratio_range": [float(train_ratio.min()), float(train_ratio.max())],
        "real_heart_ratio": float(real[0, 3] / real[0, 2]),
        "ratio_below": THIN_SEPTUM,
        "n_held_out": int(held.sum()),
        "shapes_held_out": len(np.unique(data["shape"][held])),
    }
    for name, groups in GROUPS.items():
        X = np.hstack([data[g] for g in groups])
        model = HistGradientBoostingRegressor(
            max_iter=600, learning_rate=0.05, random_state=seed
        ).fit(X[fit], y[fit])
        out[name] = float(r2_score(y[held], model.predict(X[held])))
    return out


if __name__ == "__main__":
    sys.exit(main())
