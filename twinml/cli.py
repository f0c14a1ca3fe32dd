"""The `twinml` command line.

Progress goes to stderr, the short human report to stdout (or one JSON
object with ``--json``). Exit codes: 0 success, 2 bad input, 1 otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="twinml: cardiac digital twins with millisecond what-if answers.",
)
logger = logging.getLogger("twinml.cli")


@app.callback()
def main() -> None:
    """twinml: cardiac digital twins with millisecond what-if answers."""


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="twinml: %(message)s", force=True
    )
    for noisy in (
        "distributed",
        "lightning",
        "mlflow",
        "alembic",
        "numba",
        "matplotlib",
    ):
        logging.getLogger(noisy).setLevel(
            logging.WARNING if not verbose else logging.INFO
        )


def _fail(err: BaseException) -> None:
    """One-line reason on stderr and the exit code of the error's class."""
    from simulators.errors import TwinmlInputError

    code = 2 if isinstance(err, TwinmlInputError) else 1
    typer.echo(f"twinml: error: {err}", err=True)
    raise typer.Exit(code)


@app.command()
def demo(
    quick: bool = typer.Option(False, "--quick", help="Reduced run for tests."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    retrain: bool = typer.Option(
        False, "--retrain", help="Ignore cached sweep and model."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of every random draw."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Address of an existing Dask scheduler."
    ),
    out: Path = typer.Option(Path("twinml-out"), "--out", help="Output folder."),
    threads: int | None = typer.Option(None, "--threads", help="Torch threads."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """CRT what-if on the Rodero 01 heart: rank LV lead sites in one call."""
    _setup_logging(verbose, quiet)
    try:
        import torch

        from simulators.errors import ParameterError
        from twinml.demo import DemoConfig, run_demo

        if threads is not None:
            if threads < 1:
                raise ParameterError(f"--threads must be at least 1, got {threads}")
            torch.set_num_threads(threads)
        config = DemoConfig.quick(seed) if quick else DemoConfig().with_seed(seed)
        report = run_demo(config, out, scheduler=scheduler, retrain=retrain)
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        typer.echo("twinml: interrupted", err=True)
        raise typer.Exit(1) from None
    except Exception as err:  # noqa: BLE001 - the CLI maps every failure to a code
        if os.environ.get("TWINML_DEBUG"):
            raise
        _fail(err)
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(_human_report(report))


def _human_report(r: dict) -> str:
    """A few lines for people."""
    lines = [
        "CRT what-if on the Rodero 01 heart (LBBB baseline, RV lead at the apex)",
        f"  LBBB: TAT {r['lbbb']['tat_ms']:.1f} ms, "
        f"MLVAT {r['lbbb']['mlvat_ms']:.1f} ms",
        f"  ranked {r['n_candidates']} LV lead sites in "
        f"{r['surrogate_s'] * 1000:.0f} ms "
        f"(reference solver: ~{r['solver_s']:.0f} s, speed-up {r['speedup']:.0f}x)",
        "  best sites (predicted / simulated MLVAT):",
    ]
    for s in r["best_sites"]:
        lines.append(
            f"    {s['site']:>12}  {s['predicted_mlvat_ms']:6.1f} / "
            f"{s['simulated_mlvat_ms']:6.1f} ms"
        )
    lines += [
        f"  best CRT: TAT {r['best_crt']['tat_ms']:.1f} ms "
        f"(LBBB {r['lbbb']['tat_ms']:.1f} ms)",
        f"  check on {r['n_checked']} top and random sites: Spearman "
        f"{r['spearman']:.2f}, regret {r['regret_ms']:.1f} ms",
        f"  activation error {r['mae_ms']:.2f} ms ({r['mae_pct_tat']:.1f} % of TAT); "
        f"graph baseline {r['baseline_mae_ms']:.2f} ms",
        f"  images: {', '.join(r['images'])}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    app()
