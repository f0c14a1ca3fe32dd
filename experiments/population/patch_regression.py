"""How far the heart model's own inputs go towards the chronic CRT response.

A diagnostic, not a model we ship. The reference pipeline's ΔLVESV comes
from the multi-patch heart (`simulators.circulation`), which reads per
patch only its onsets (sinus for the set-points, LBBB for the baseline
remodelling, CRT), its wall volume and midwall area, its wall (LV free
wall, septum, RV free wall) and its scar and border-zone fractions, and
per twin its contractility, stiffness and cavities. This script gives a
network exactly those inputs, from the reference solver's own activation
maps, so its test figures bound what any head reading emulated maps could
reach on each test set.

The network is permutation-invariant over the patches (Deep Sets; Zaheer
et al. 2017, NeurIPS): a per-patch MLP, the mean and maximum over the
patches joined to the twin's scalars and handed back to every patch, a
second per-patch MLP, the same pooling, and an MLP to ΔLVESV. Three
seeds, fitted on every ``train*`` folder (``train_asym*`` only with
``--asymmetric``), scored by R² of the seeds' mean on the calibration and
test sets; the seeds' own R² show how stable the fit is.

    python experiments/population/patch_regression.py --sweeps $TWINML_CACHE/population

The per-patch inputs are cached in ``--features`` (about 4 min to build,
mostly the hearts), so a second run only fits.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import r2_score
from torch import nn

# run as a script: this folder is on the path (the sweeps' heart builder)
from train import check_loaded, sweep_entries, sweep_folders

from simulators.circulation.geometry import (
    heart_geometry,
    patch_fractions,
    patch_onsets,
)
from simulators.ep.protocols import PacingPlan
from twinml.data.response_sweep import SAMPLE_DEFAULTS, _scar_of
from twinml.twins.folder import scar_cells

#: Per-patch inputs, then the twin's scalars.
PATCH = ("onset_sinus_ms", "onset_lbbb_ms", "onset_crt_ms", "wall_ml", "mid_area_cm2",
         "lv_free_wall", "septum", "rv_free_wall", "scar", "border")  # fmt: skip
TWIN = ("contractility", "stiffness", "lv_cavity_ml", "rv_cavity_ml", "rvot_ml",
        "qrs_lbbb_ms", "qrs_crt_ms", "vv_delay_ms")  # fmt: skip
#: Most patches of any heart (the real heart has 25).
MAX_PATCHES = 40
TEST_SETS = ("calibration", "unseen_params", "unseen_shapes", "real_heart")


def heart_inputs(heart) -> tuple:
    """A heart's patches and its sinus onsets (once per shape)."""
    geometry = heart_geometry(heart.mesh, heart.aha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sinus = heart.activate(PacingPlan("sinus"))
    onset = patch_onsets(sinus.t_ms, geometry.node_patch, geometry.n_patches)
    return geometry, onset


def sample_inputs(entry: dict, heart, geometry, sinus) -> tuple:
    """One sample's per-patch rows (n_patches, len(PATCH)) and twin scalars."""
    s = {**SAMPLE_DEFAULTS, **entry["meta"]["sample"]}
    sc = entry["meta"]["scalars"]
    n = geometry.n_patches
    scar = border = np.zeros(n)
    if s["scar"]:
        cells = scar_cells(heart, _scar_of(s))
        volume = heart.mesh.signed_volumes()
        scar = patch_fractions(cells.cells, volume, geometry.cell_patch, n)
        border = patch_fractions(cells.border, volume, geometry.cell_patch, n)
    onsets = [
        patch_onsets(entry["arrays"][f"t_{p}_ms"].astype(float), geometry.node_patch, n)
        for p in ("lbbb", "crt")
    ]
    wall = geometry.wall
    rows = np.column_stack(
        [np.nan_to_num(sinus), *map(np.nan_to_num, onsets), geometry.v_wall_ml,
         geometry.a_mid_mm2 / 100.0, wall == 0, wall == 1, wall == 2, scar, border]
    )  # fmt: skip
    twin = [
        s["contractility"], s["stiffness"], geometry.v_lv_ml, geometry.v_rv_ml,
        geometry.v_rvot_ml, sc["qrs_lbbb_ms"], sc["qrs_crt_ms"], s["vv_delay_ms"],
    ]  # fmt: skip
    return rows, np.asarray(twin, dtype=float)


def load(folder: Path, hearts: dict) -> dict[str, np.ndarray]:
    """Padded per-patch inputs, masks, twin scalars and ΔLVESV of one set."""
    X, mask, twin, y = [], [], [], []
    for key, entry, hkey, heart in sweep_entries(folder, hearts):
        if (hkey, "patch_inputs") not in hearts:
            hearts[hkey, "patch_inputs"] = heart_inputs(heart)
        rows, scalars = sample_inputs(entry, heart, *hearts[hkey, "patch_inputs"])
        if len(rows) > MAX_PATCHES:
            raise ValueError(f"{key}: {len(rows)} patches, more than {MAX_PATCHES}")
        pad = np.zeros((MAX_PATCHES, len(PATCH)))
        pad[: len(rows)] = rows
        X.append(pad)
        mask.append(np.arange(MAX_PATCHES) < len(rows))
        twin.append(scalars)
        value = entry["meta"]["scalars"].get("d_lvesv_pct")
        y.append(np.nan if value is None else value)
    return {"X": np.array(X), "mask": np.array(mask), "twin": np.array(twin),
            "y": np.array(y, dtype=float)}  # fmt: skip


class PatchSet(nn.Module):
    """Two rounds of per-patch MLPs with pooled context, then the response."""

    def __init__(self, n_patch: int, n_twin: int, width: int = 64) -> None:
        super().__init__()
        self.first = nn.Sequential(
            nn.Linear(n_patch, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU()
        )
        self.second = nn.Sequential(
            nn.Linear(3 * width + n_twin, width), nn.SiLU(),
            nn.Linear(width, width), nn.SiLU(),
        )  # fmt: skip
        self.out = nn.Sequential(
            nn.Linear(2 * width + n_twin, width), nn.SiLU(), nn.Linear(width, 1)
        )

    @staticmethod
    def pool(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask[..., None]
        mean = (h * m).sum(1) / m.sum(1)
        top = (h - 1e4 * (1.0 - m)).amax(1)
        return torch.cat([mean, top], -1)

    def forward(self, x, mask, twin):
        h = self.first(x)
        context = torch.cat([self.pool(h, mask), twin], -1)
        h = self.second(torch.cat([h, context[:, None].expand(-1, h.shape[1], -1)], -1))
        return self.out(torch.cat([self.pool(h, mask), twin], -1)).squeeze(-1)


def fit_and_score(train: dict, tests: dict, seeds: int, epochs: int) -> dict:
    """R² of the seeds' mean and of each seed on every test set."""
    ok = np.isfinite(train["y"])
    X, mask, twin, y = (train[k][ok] for k in ("X", "mask", "twin", "y"))
    live = mask.astype(bool)
    x_mean, x_sd = X[live].mean(0), X[live].std(0) + 1e-6
    t_mean, t_sd = twin.mean(0), twin.std(0) + 1e-6
    y_mean, y_sd = y.mean(), y.std()

    def tensors(d):
        m = d["mask"].astype(np.float32)
        x = (d["X"] - x_mean) / x_sd * m[..., None]
        t = (d["twin"] - t_mean) / t_sd
        return [torch.tensor(a, dtype=torch.float32) for a in (x, m, t)]

    xs = tensors({"X": X, "mask": mask, "twin": twin})
    target = torch.tensor((y - y_mean) / y_sd, dtype=torch.float32)
    preds: dict[str, list] = {name: [] for name in tests}
    for seed in range(seeds):
        torch.manual_seed(seed)
        net = PatchSet(len(PATCH), len(TWIN))
        opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            order = torch.randperm(len(target), generator=gen)
            for i in range(0, len(order), 128):
                b = order[i : i + 128]
                loss = nn.functional.mse_loss(net(*(a[b] for a in xs)), target[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
            sched.step()
        net.eval()
        with torch.no_grad():
            for name, d in tests.items():
                preds[name].append(net(*tensors(d)).numpy() * y_sd + y_mean)
    out = {}
    for name, d in tests.items():
        k = np.isfinite(d["y"])
        out[name] = {
            "n": int(k.sum()),
            "r2": float(r2_score(d["y"][k], np.mean(preds[name], 0)[k])),
            "r2_per_seed": [float(r2_score(d["y"][k], p[k])) for p in preds[name]],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweeps", type=Path, required=True)
    ap.add_argument("--features", type=Path, default=Path("patch_inputs.npz"))
    ap.add_argument("--asymmetric", action="store_true", help="train_asym* too")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=300)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    # per-patch inputs of every set, cached by set name
    cached = {}
    if args.features.exists() and not args.features.is_file():
        ap.error(f"--features {args.features} is not a file; name an .npz file")
    if args.features.is_file():
        try:
            with np.load(args.features) as data:
                cached = {k: data[k] for k in data.files}
        except Exception as err:  # noqa: BLE001 - any unreadable cache is refused
            ap.error(f"--features {args.features} is not a feature cache ({err!r})")
    sets, hearts = {}, {}
    for folder in sweep_folders(ap, args.sweeps, TEST_SETS, args.asymmetric):
        keys = [f"{folder.name}/{k}" for k in ("X", "mask", "twin", "y")]
        if not all(k in cached for k in keys):
            loaded = load(folder, hearts)
            check_loaded(ap, {folder.name: len(loaded["y"])})
            cached.update({f"{folder.name}/{k}": v for k, v in loaded.items()})
            np.savez(args.features, **cached)
        sets[folder.name] = {k.split("/")[1]: cached[k] for k in keys}

    names = [n for n in sets if n.startswith("train")]
    train = {k: np.concatenate([sets[n][k] for n in names]) for k in sets["train"]}
    report = {
        "training_sets": names,
        "n_train": int(np.isfinite(train["y"]).sum()),
        "d_lvesv_pct": fit_and_score(
            train, {t: sets[t] for t in TEST_SETS}, args.seeds, args.epochs
        ),
    }
    sys.stdout.write(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
