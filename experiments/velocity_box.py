"""Over which velocities do the physiology checks hold on the real heart?

For a grid of myocardial (along and across the fibre) and fast-endocardium
velocities, this script activates the Rodero 01 heart under sinus rhythm,
LBBB and CRT (LV lead at the latest-activated LBBB candidate site, RV lead at
the apex) and checks the relations of tests/simulators/test_physiology.py:
sinus QRS 65-110 ms, LBBB QRS >= 130 ms and >= 1.4 x sinus, CRT QRS < LBBB.
It prints a table and the box (per-axis ranges) in which every grid point
passes. Run::

    .venv/bin/python experiments/velocity_box.py [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys

import numpy as np

from simulators.ep.protocols import PacingPlan, TissueParams
from simulators.hearts import load_heart

V_FIBRE = (0.5, 0.6, 0.7)
V_CROSS = (0.2, 0.24, 0.3)
V_ENDO = (1.5, 2.0, 3.0)


def check(heart, tissue: TissueParams) -> dict:
    """QRS of sinus, LBBB and CRT at the latest LBBB site, and the verdicts."""
    sinus = heart.activate(PacingPlan("sinus"), tissue)
    lbbb = heart.activate(PacingPlan("lbbb"), tissue)
    cand = heart.lv_candidates
    late = int(cand[np.nanargmax(lbbb.t_ms[cand])])
    crt = heart.activate(PacingPlan("crt", lv_lead=late), tissue)
    q = {
        name: heart.ecg(a).qrs_ms
        for name, a in [("sinus", sinus), ("lbbb", lbbb), ("crt", crt)]
    }
    ok = (
        65 <= q["sinus"] <= 110
        and q["lbbb"] >= 130
        and q["lbbb"] >= 1.4 * q["sinus"]
        and q["crt"] < q["lbbb"]
    )
    return {
        "qrs_sinus_ms": q["sinus"],
        "qrs_lbbb_ms": q["lbbb"],
        "qrs_crt_ms": q["crt"],
        "ok": ok,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    heart = load_heart("rodero01")
    rows = []
    for v_f, v_c, v_e in itertools.product(V_FIBRE, V_CROSS, V_ENDO):
        tissue = TissueParams(v_fibre=v_f, v_cross=v_c, v_endo=v_e)
        rows.append(
            {"v_fibre": v_f, "v_cross": v_c, "v_endo": v_e, **check(heart, tissue)}
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
    passing = [r for r in rows if r["ok"]]
    box = {
        k: [min(r[k] for r in passing), max(r[k] for r in passing)] if passing else None
        for k in ("v_fibre", "v_cross", "v_endo")
    }
    if args.json:
        print(json.dumps({"rows": rows, "passing": len(passing), "box": box}))
        return 0
    print(
        f"{'v_f':>5} {'v_c':>5} {'v_endo':>6} {'sinus':>6} {'lbbb':>6} {'crt':>6}  ok"
    )
    for r in rows:
        print(
            f"{r['v_fibre']:5.2f} {r['v_cross']:5.2f} {r['v_endo']:6.1f} "
            f"{r['qrs_sinus_ms']:6.1f} {r['qrs_lbbb_ms']:6.1f} "
            f"{r['qrs_crt_ms']:6.1f}  {r['ok']}"
        )
    print(f"{len(passing)}/{len(rows)} pass; ranges among passing points: {box}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
