"""Sweeps of the population emulator: training, calibration and three test sets.

The design separates shapes from the rest so that a test set can hold
unseen parameters on training shapes:

- ``train``: ``--train-shapes`` biventricular shapes (scrambled Sobol over
  the shape parameters, seed ``seed``), each with ``--twins-per-shape``
  draws of tissue, scar and mechanics, each with ``--leads`` therapy draws
  (LV lead place, VV delay);
- ``train_extra`` (``train_extra<R>`` for ``--extra-round R``): more
  training data at lower cost per sample: ``--extra-shapes`` new shapes
  (Latin hypercube, seed ``seed + 6000 + 100 R``) plus the training
  shapes again, each with two new twins of six lead draws (a twin's
  remodelled baseline is shared by its leads);
- ``train_asym<R>`` (``--asymmetric-round R``): ``--asymmetric-shapes``
  new shapes whose LV wall is also asymmetric (`asymmetric_space`: a
  thinned septum and thickened lateral wall; Latin hypercube, seed
  ``seed + 9000 + 100 R``), each with two twins of six lead draws;
- ``calibration``: ``--n-cal`` new parameter draws on the training shapes
  (rounded up to whole twins of three leads per shape) and ``--cal-shapes``
  shapes of its own (Latin hypercube, seed ``seed + 8000``; two twins of
  three leads each), since queries come on training and new hearts alike
  (the intervals are scaled on it, never trained on);
- ``unseen_params``: ``--n-test`` new draws on the training shapes;
- ``unseen_shapes``: ``--n-test`` draws, five per new shape;
- ``real_heart``: ``--n-test`` draws (five leads per twin) on the Rodero 01
  heart (2.0 mm), which the emulator never sees in training.

Each set is a resumable response sweep (`twinml.data.response_sweep`) in
``<out>/<set>``; a run killed midway restarts where it stopped.

    python experiments/population/sweeps.py --out $TWINML_CACHE/population
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from simulators.errors import ParameterError
from twinml.cli import quiet_libraries
from twinml.data.response_sweep import ResponseSettings, run_response_sweep
from twinml.data.space import asymmetric_space, population_space

logger = logging.getLogger("population.sweeps")


def design(args) -> dict[str, tuple[list[dict], ResponseSettings]]:
    """Samples and settings of every set.

    A twin (shape, tissue, scar, mechanics) carries ``--leads`` therapy
    draws, consecutive, so the sweep's workers reuse its remodelled LBBB
    baseline (`twinml.data.response_sweep`).
    """
    space = population_space()
    shape_space = space.without("tissue", "mechanics", "therapy")
    twin_space = space.without("shape", "therapy")
    therapy = space.without("shape", "tissue", "mechanics")
    biv = ResponseSettings(mesh="biv", h_mm=args.h_mm)
    real = ResponseSettings(mesh="rodero01")
    k = args.leads

    def twins(shapes, per_shape, n_leads, seed0):
        out = []
        for i, shape in enumerate(shapes):
            for j, tw in enumerate(
                twin_space.sample(per_shape, seed=seed0 + 97 * i, method="lhs")
            ):
                leads = therapy.sample(n_leads, 97 * i + 1 + j + seed0, method="lhs")
                out += [{**shape, **tw, **t} for t in leads]
        return out

    train_shapes = shape_space.sample(args.train_shapes, seed=args.seed)
    new_shapes = shape_space.sample(
        args.n_test // 5, seed=args.seed + 1000, method="lhs"
    )
    r = args.extra_round
    extra_shapes = (
        shape_space.sample(
            args.extra_shapes, seed=args.seed + 6000 + 100 * r, method="lhs"
        )
        if args.extra_shapes
        else []
    )
    asym = args.asymmetric_round
    asym_shapes = (
        asymmetric_space(shape_space).sample(
            args.asymmetric_shapes, seed=args.seed + 9000 + 100 * asym, method="lhs"
        )
        if asym is not None
        else []
    )
    # calibration: new draws on the training shapes and on shapes of its own,
    # since queries come on both
    cal_shapes = shape_space.sample(
        args.cal_shapes, seed=args.seed + 8000, method="lhs"
    )
    n_cal = -(-args.n_cal // (args.train_shapes * 3))  # twins per shape
    n_par = -(-args.n_test // (args.train_shapes * k))
    sets = {
        "train": (twins(train_shapes, args.twins_per_shape, k, args.seed + 1), biv),
        f"train_extra{r or ''}": (
            twins(extra_shapes + train_shapes, 2, 6, args.seed + 7000 + 100 * r)
            if args.extra_shapes
            else [],
            biv,
        ),
        "calibration": (
            twins(train_shapes, n_cal, 3, args.seed + 2000)
            + twins(cal_shapes, 2, 3, args.seed + 8100),
            biv,
        ),
        "unseen_params": (twins(train_shapes, n_par, k, args.seed + 3000), biv),
        "unseen_shapes": (twins(new_shapes, 1, 5, args.seed + 4000), biv),
        "real_heart": (twins([{}], args.n_test // 5, 5, args.seed + 5000), real),
    }
    if asym is not None:
        seed = args.seed + 9100 + 100 * asym
        sets[f"train_asym{asym}"] = (twins(asym_shapes, 2, 6, seed), biv)
    return sets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--train-shapes", type=int, default=16, help="shapes of train")
    ap.add_argument("--twins-per-shape", type=int, default=3, help="in train")
    ap.add_argument("--leads", type=int, default=4, help="lead draws per twin")
    ap.add_argument(
        "--extra-shapes", type=int, default=0, help="new shapes of train_extra"
    )
    ap.add_argument(
        "--extra-round", type=int, default=0, help="R of train_extra<R> (0: none)"
    )
    ap.add_argument(
        "--asymmetric-round",
        type=int,
        default=None,
        help="make train_asym<R>: new shapes with an asymmetric LV wall (with "
        "--sets train_asym<R> to make it alone)",
    )
    ap.add_argument(
        "--asymmetric-shapes", type=int, default=32, help="shapes of train_asym<R>"
    )
    ap.add_argument("--n-cal", type=int, default=130, help="calibration draws")
    ap.add_argument(
        "--cal-shapes", type=int, default=16, help="new shapes of calibration"
    )
    ap.add_argument("--n-test", type=int, default=50, help="draws per test set")
    ap.add_argument("--h-mm", type=float, default=3.0, help="grid step, mm")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="local Dask workers")
    ap.add_argument("--scheduler", default=None, help="an existing Dask cluster")
    ap.add_argument("--sets", nargs="*", default=None, help="only these sets")
    args = ap.parse_args(argv)
    least = {"train_shapes": 1, "twins_per_shape": 1, "leads": 1, "n_cal": 1,
             "cal_shapes": 1, "n_test": 5, "workers": 1, "asymmetric_shapes": 1,
             "extra_shapes": 0, "seed": 0, "extra_round": 0,
             "asymmetric_round": 0}  # fmt: skip
    for name, low in least.items():
        value = getattr(args, name)  # None: an option not given
        if value is not None and value < low:
            ap.error(f"--{name.replace('_', '-')} must be at least {low}, got {value}")
    if args.sets == []:
        ap.error("--sets needs one set name or more (leave it out for every set)")
    try:
        sets = design(args)
    except ParameterError as err:
        ap.error(str(err))
    unknown = sorted(set(args.sets or ()) - set(sets))
    if unknown:
        ap.error(
            f"--sets {unknown}: no such set here; the sets are {list(sets)} "
            "(train_extra<R> needs --extra-round R, train_asym<R> needs "
            "--asymmetric-round R)"
        )
    empty = [name for name in args.sets or () if not sets[name][0]]
    if empty:
        ap.error(f"--sets {empty} would hold no sample: give --extra-shapes N")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    quiet_libraries()  # Dask, Lightning and MLflow chatter
    for name in ("simulators", "twinml.data.sweep"):
        logging.getLogger(name).setLevel(logging.WARNING)

    reports = {}
    for name, (samples, settings) in sets.items():
        if (args.sets and name not in args.sets) or not samples:
            continue
        logger.info("%s: %d samples", name, len(samples))
        report = run_response_sweep(
            samples,
            settings,
            args.out / name,
            scheduler=args.scheduler,
            n_workers=args.workers,
            provenance={
                "set": name,
                "seed": args.seed,
                "args": vars(args),
                "space": (
                    asymmetric_space(population_space())
                    if name.startswith("train_asym")
                    else population_space()
                ).as_dict(),
            },
        )
        reports[name] = report.as_dict()
        logger.info("%s: %s", name, {k: v for k, v in reports[name].items()})
    print(json.dumps(reports, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
