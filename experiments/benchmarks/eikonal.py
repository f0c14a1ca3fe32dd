"""Speed and accuracy of the Eikonal solver against fim-python and Dijkstra.

For each unit cube mesh (Kuhn tetrahedra, n cells per side) a point source at
the centre in a transversely isotropic medium (fibre (1, 1, 0)/√2, v_f = 1,
v_c = 0.4 mm/ms) is solved by

* ours: `simulators.ep.eikonal.EikonalSolver`, best of `--repeats` solves
  after one warm-up (numba JIT), solver construction excluded;
* fim-python: its CPU Fast Iterative Method in float32 with the active list
  (`create_fim_solver(..., precision=np.float32, device="cpu",
  use_active_list=True)`), best of `--fim-repeats` solves; optional, install
  with ``pip install fim-python`` (the ``bench`` extra);
* Dijkstra: `scipy.sparse.csgraph.dijkstra` on the mesh edges weighted by their
  metric length, a graph bound that ignores paths through cell interiors
  (graph construction included, as ours includes its cell geometry).

The exact solution t = sqrt((x − x0)ᵀ M (x − x0)) is seeded on every node
within 0.2 mm of the centre; relative errors are max |t − t_exact| / max
t_exact over the other nodes. Our peak memory is the tracemalloc peak of
building the solver plus one solve, after a warm-up so that the JIT is not
counted (the numba kernels allocate nothing; inputs are not counted).

Run from the repository root::

    .venv/bin/python -m experiments.benchmarks.eikonal            # n = 20, 30, 40
    .venv/bin/python -m experiments.benchmarks.eikonal --quick    # n = 10, 20
    .venv/bin/python -m experiments.benchmarks.eikonal --json > eikonal.json

To add a row for another mesh (a real heart), call `benchmark_case` with the
`TetMesh`, its metric and sources; pass ``exact=None`` when no analytic
solution exists (the error columns are then null).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from simulators.ep.conduction import metric_tensors
from simulators.ep.eikonal import EikonalSolver
from simulators.ep.graph_paths import graph_activation, metric_edge_graph
from simulators.mesh.structured import unit_cube_mesh
from simulators.mesh.tetmesh import TetMesh

logger = logging.getLogger("benchmarks.eikonal")

FIBRE = np.array([1.0, 1.0, 0.0]) / np.sqrt(2.0)
V_FIBRE, V_CROSS = 1.0, 0.4  # mm/ms
SEED_RADIUS_MM = 0.2
COLUMNS = [
    "mesh", "n_nodes", "n_tets", "ours_s", "fim_s", "dijkstra_s",
    "ours_rel_err", "fim_rel_err", "ours_peak_mb",
]  # fmt: skip


def _load_fim() -> Callable | None:
    """fim-python's solver factory, or None when it is not installed."""
    # fimpy prints a note about CuPy on import: keep stdout clean for --json
    try:
        with contextlib.redirect_stdout(sys.stderr):
            from fimpy.solver import create_fim_solver
    except ImportError:
        return None
    return create_fim_solver


def _best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall time of `repeats` calls of fn and the last result."""
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _rel_err(t: np.ndarray, exact: np.ndarray, mask: np.ndarray) -> float:
    """max |t − exact| / max exact over the nodes in mask."""
    return float(np.abs(t - exact)[mask].max() / np.abs(exact[mask]).max())


def benchmark_case(
    name: str,
    mesh: TetMesh,
    metric: np.ndarray,
    source_nodes: np.ndarray,
    source_times: np.ndarray,
    *,
    conduction: np.ndarray | None = None,
    exact: np.ndarray | None = None,
    repeats: int = 3,
    fim_repeats: int = 1,
    use_fim: bool = True,
) -> dict[str, Any]:
    """One benchmark row: times, errors and our peak memory on one mesh.

    Parameters
    ----------
    name : str
        Row label.
    mesh : TetMesh
        The mesh, in mm.
    metric : ndarray of shape (n_cells, 3, 3)
        Metric M = D⁻¹ per cell, ms²/mm².
    source_nodes : ndarray of shape (n_sources,)
        Source node ids.
    source_times : ndarray of shape (n_sources,)
        Onset times, ms.
    conduction : ndarray of shape (n_cells, 3, 3), optional
        D = M⁻¹ for fim-python, mm²/ms²; inverted from `metric` if None.
    exact : ndarray of shape (n_nodes,), optional
        Analytic times, ms; without it the error columns are None.
    repeats, fim_repeats : int
        Timed solves per solver (ours after one warm-up).
    use_fim : bool
        Run fim-python when it is importable.

    Returns
    -------
    dict
        The keys of `COLUMNS`; None where a value was not measured.
    """
    source_nodes = np.asarray(source_nodes, dtype=np.int64)
    source_times = np.broadcast_to(np.asarray(source_times, float), source_nodes.shape)
    free = np.ones(mesh.n_points, dtype=bool)
    free[source_nodes] = False
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(mesh=name, n_nodes=mesh.n_points, n_tets=mesh.n_cells)

    # ours: warm up the JIT, then peak memory of a build and solve, then timings
    EikonalSolver.from_mesh(mesh).solve(metric, source_nodes, source_times)
    tracemalloc.start()
    solver = EikonalSolver.from_mesh(mesh)
    t_ours = solver.solve(metric, source_nodes, source_times)
    row["ours_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    row["ours_s"], t_ours = _best_time(
        lambda: solver.solve(metric, source_nodes, source_times), repeats
    )
    logger.info("%s: ours %.3f s", name, row["ours_s"])

    # dijkstra on metric edge lengths
    def graph_solve() -> np.ndarray:
        m = np.broadcast_to(metric, (mesh.n_cells, 3, 3))
        graph = metric_edge_graph(mesh.points, mesh.cells, m)
        return graph_activation(graph, source_nodes, source_times)

    row["dijkstra_s"], _ = _best_time(graph_solve, repeats)

    # fim-python, float32 active list on the CPU
    create_fim_solver = _load_fim() if use_fim else None
    if create_fim_solver is not None:
        d = np.linalg.inv(metric) if conduction is None else conduction
        fim = create_fim_solver(
            mesh.points, mesh.cells, d, precision=np.float32, device="cpu",
            use_active_list=True,
        )  # fmt: skip
        row["fim_s"], t_fim = _best_time(
            lambda: fim.comp_fim(source_nodes, source_times), fim_repeats
        )
        t_fim = np.asarray(t_fim, dtype=np.float64)
        logger.info("%s: fim %.3f s", name, row["fim_s"])

    # errors against the analytic solution, away from the seeded nodes
    if exact is not None:
        row["ours_rel_err"] = _rel_err(t_ours, exact, free)
        if row["fim_s"] is not None:
            row["fim_rel_err"] = _rel_err(t_fim, exact, free)
    return row


def cube_case(n: int) -> tuple[TetMesh, np.ndarray, np.ndarray, np.ndarray, dict]:
    """Unit cube, centred anisotropic point source seeded on a ball.

    Returns the mesh, metric, source nodes, source times and the keyword
    arguments `conduction` and `exact` for `benchmark_case`.
    """
    mesh = unit_cube_mesh(n)
    fibres = np.tile(FIBRE, (mesh.n_cells, 1))
    metric = metric_tensors(fibres, V_FIBRE, V_CROSS)
    d = mesh.points - 0.5
    exact = np.sqrt(np.einsum("ni,ij,nj->n", d, metric[0], d))
    seeds = np.flatnonzero(np.linalg.norm(d, axis=1) <= SEED_RADIUS_MM + 1e-12)
    conduction = np.broadcast_to(np.linalg.inv(metric[0]), metric.shape)
    return mesh, metric, seeds, exact[seeds], {"conduction": conduction, "exact": exact}


def heart_cases() -> list[tuple]:
    """The Rodero 01 ventricles at 2.0 and 1.5 mm under LBBB.

    The 1.5 mm problem (`simulators.ep.reference.refined_reference`: the
    2.0 mm fibres and sources on the finer mesh), interpolated linearly onto
    the 2.0 mm nodes, is the reference of the 2.0 mm row, for ours and
    fim-python alike.

    Returns
    -------
    list of (name, mesh, metric, nodes, times, extra) for `benchmark_case`
    """
    from simulators.ep.protocols import PacingPlan, TissueParams
    from simulators.ep.reference import refined_reference
    from simulators.ep.ventricles import Ventricles
    from simulators.fibres.rule_based import helix_fibres
    from simulators.mesh.rodero import load_rodero_ventricles

    coarse = load_rodero_ventricles("2.0mm")
    heart = Ventricles(coarse, helix_fibres(coarse))
    plan = PacingPlan("lbbb")
    nodes, times = heart.sources(plan)
    fine = load_rodero_ventricles("1.5mm")
    ref = refined_reference(heart, fine, plan)
    logger.info("1.5 mm reference: %d nodes extrapolated", int(ref.extrapolated.sum()))
    return [
        ("rodero01-2.0mm", coarse, heart.metric(TissueParams(), plan), nodes, times,
         {"exact": ref.reference_ms}),
        ("rodero01-1.5mm", fine, ref.metric, ref.nodes, ref.times, {}),
    ]  # fmt: skip


def _fmt(value: Any, spec: str) -> str:
    return "null" if value is None else format(value, spec)


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of benchmark rows, with the fim/ours speed ratio."""
    head = (
        f"{'mesh':<10} {'n_nodes':>8} {'n_tets':>8} {'ours_s':>8} {'fim_s':>8} "
        f"{'dijk_s':>8} {'fim/ours':>8} {'ours_err':>9} {'fim_err':>9} "
        f"{'peak_MB':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = None if r["fim_s"] is None else r["fim_s"] / r["ours_s"]
        lines.append(
            f"{r['mesh']:<10} {r['n_nodes']:>8d} {r['n_tets']:>8d} "
            f"{_fmt(r['ours_s'], '8.3f')} {_fmt(r['fim_s'], '8.2f'):>8} "
            f"{_fmt(r['dijkstra_s'], '8.3f')} {_fmt(ratio, '8.0f'):>8} "
            f"{_fmt(r['ours_rel_err'], '9.4f'):>9} "
            f"{_fmt(r['fim_rel_err'], '9.4f'):>9} {_fmt(r['ours_peak_mb'], '8.1f')}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--quick", action="store_true", help="cubes n = 10, 20")
    parser.add_argument("--sizes", type=int, nargs="+", help="cells per side")
    parser.add_argument("--repeats", type=int, default=3, help="timed solves (ours)")
    parser.add_argument("--fim-repeats", type=int, default=1, help="timed fim solves")
    parser.add_argument("--no-fim", action="store_true", help="skip fim-python")
    parser.add_argument(
        "--no-heart", action="store_true", help="skip the real heart (Rodero 01)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")

    sizes = args.sizes or ([10, 20] if args.quick else [20, 30, 40, 51])
    use_fim = not args.no_fim
    if use_fim and _load_fim() is None:
        logger.warning(
            "fim-python is not importable: fim_s and fim_rel_err are null "
            "(pip install fim-python to compare)"
        )
        use_fim = False

    rows = []
    for n in sizes:
        mesh, metric, nodes, times, extra = cube_case(n)
        rows.append(
            benchmark_case(
                f"cube{n}",
                mesh,
                metric,
                nodes,
                times,
                **extra,
                repeats=args.repeats,
                fim_repeats=args.fim_repeats,
                use_fim=use_fim,
            )  # fmt: skip
        )
    if not args.no_heart:
        for name, mesh, metric, nodes, times, extra in heart_cases():
            rows.append(
                benchmark_case(
                    name,
                    mesh,
                    metric,
                    nodes,
                    times,
                    **extra,
                    repeats=args.repeats,
                    fim_repeats=args.fim_repeats,
                    use_fim=use_fim,
                )  # fmt: skip
            )
    if args.json:
        print(json.dumps({"rows": rows}, indent=2))
    else:
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
