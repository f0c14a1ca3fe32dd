"""``twinml whatif``: CRT response of a twin from the population emulator.

- ``twinml whatif --twin DIR --lv-lead SITE [--vv-delay MS] [--model DIR]
  [--strict] [--json]`` predicts TAT, QRS, LVAT, EF, ΔLVESV and the
  responder probability of one LV lead, each with its 90 % interval, and
  whether the twin lies inside the model's training domain;
- ``twinml whatif --twin DIR --optimise-lead [--vv-delay MS] [--json]``
  ranks the twin's LV candidate sites in one batched call by predicted
  ΔLVESV (ties by LVAT) and prints the best ten.

The lead and VV delay default to the twin's protocol. Outside the training
domain a warning names each parameter and range on stderr; ``--strict``
refuses instead. Registered on the main command as ``app.command("whatif")``.

Exit codes as in `twinml.cli`: 2 for bad input (a twin folder missing or
malformed, a lead outside the candidates, ``--strict`` out of domain, a
``--model`` that is not a folder), 1 for a missing or damaged model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import typer

logger = logging.getLogger("twinml.cli.whatif")
#: ``--vv-delay``'s help; its range is the twin schema's (a test holds them
#: equal: importing the schema here would cost every command 0.8 s).
VV_HELP = "LV lead ahead of the RV lead, ms, -80 to 80 (default: the twin's protocol)."


def whatif(
    twin: Path = typer.Option(..., "--twin", help="Twin folder (`twinml twin new`)."),
    lv_lead: str | None = typer.Option(
        None, "--lv-lead", help="node:ID, aha:N, xyz:X,Y,Z or uvc:Z,PHI_DEG."
    ),
    optimise_lead: bool = typer.Option(
        False, "--optimise-lead", help="Rank the LV candidate sites instead."
    ),
    vv_delay: float | None = typer.Option(
        None,
        "--vv-delay",
        help=VV_HELP,
    ),
    model: Path | None = typer.Option(
        None, "--model", help="Population model folder (default: the packaged one)."
    ),
    max_sites: int = typer.Option(
        300, "--max-sites", help="Most candidate sites ranked by --optimise-lead."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse a twin outside the training domain."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """CRT what-if on a twin: one LV lead, or the best of its candidate sites."""
    from twinml.cli import _setup_logging, guarded

    _setup_logging(verbose, quiet)
    report = guarded(
        lambda: _whatif(
            twin, lv_lead, optimise_lead, vv_delay, model, max_sites, strict
        )
    )
    issues = report["domain_issues"]
    if issues:
        typer.echo(
            "twinml: warning: outside the model's training domain: "
            + "; ".join(issues)
            + (
                ""
                if strict
                else " (answers lie outside what the model was trained "
                "and tested on; --strict refuses)"
            ),
            err=True,
        )
        if strict:
            typer.echo("twinml: error: refused under --strict", err=True)
            raise typer.Exit(2)
    typer.echo(json.dumps(report) if as_json else _text(report))


def _whatif(
    twin, lv_lead, optimise, vv_delay, model, max_sites, strict=False
) -> dict[str, Any]:
    """Check the arguments, load the twin and model, answer (under `strict`,
    only the domain issues when the twin is outside the card already)."""
    from simulators.errors import ParameterError
    from twinml.twins import Twin
    from twinml.twins.schema import check_value
    from twinml.twins.sites import check_lv_lead_text, parse_lv_lead

    # arguments and files first, so that bad input fails before heavy work
    if optimise and lv_lead is not None:
        raise ParameterError("give either --lv-lead SITE or --optimise-lead, not both")
    if max_sites < 1:
        raise ParameterError(f"--max-sites must be at least 1, got {max_sites}")
    t = Twin.load(twin)
    if vv_delay is None:
        vv = float(check_value("vv_delay_ms", t.protocol["vv_delay_ms"]))
    else:
        try:
            vv = float(check_value("vv_delay_ms", vv_delay)) + 0.0  # no -0
        except ParameterError as err:
            raise ParameterError(f"--vv-delay {vv_delay:g}: {err}") from None
    site = lv_lead if lv_lead is not None else t.protocol["lv_lead"]
    if not optimise and site is None:
        raise ParameterError(
            f"twin {twin} names no LV lead; pass --lv-lead SITE or --optimise-lead"
        )
    if not optimise:
        check_lv_lead_text(site)
        _check_node_range(site, t.mesh["n_points"])
    if model is not None and not Path(model).is_dir():
        # before the heart and torch load (`load_surrogate` checks it again)
        raise ParameterError(
            f"--model {str(model)!r} is not a folder; pass a folder holding "
            "member_*.pt, calibration.json and model_card.json"
        )
    heart = t.ventricles()
    if not optimise:
        # a site off the LV free-wall epicardium, before torch and the graph
        parse_lv_lead(heart, site)

    # the model and its torch stack only once the arguments are known good
    from twinml.query import whatif as wi
    from twinml.query.model_folder import DEFAULT_MODEL, load_surrogate

    sur = load_surrogate(model)
    if strict:
        # parameters and shape: refused before the graph and LBBB markers
        issues = wi.domain_issues(sur, t, heart, vv)
        if issues:
            return {"domain_issues": issues}
    prepared = wi.prepare(t, sur, heart=heart)

    # one lead, or the ranking
    head = {
        "twin": str(twin),
        "model": str(DEFAULT_MODEL if model is None else model),
        "n_members": len(sur.members),
        "rv_lead": f"node:{prepared.graph.rv_lead}",
        **prepared.seconds,
    }
    if not optimise:
        return {**head, **wi.answer(sur, prepared, wi.lead_node(prepared, site), vv)}
    ranked = wi.rank_sites(sur, prepared, vv, max_sites)
    issues = wi.domain_issues(sur, t, prepared.heart, vv, None, prepared.enc.markers)
    return {
        **head,
        "vv_delay_ms": vv,
        **ranked,
        "in_domain": not issues,
        "domain_issues": issues,
    }


def _fmt(e: dict, unit: str, digits: int = 1) -> str:
    lo, hi = e["interval_90"]
    unit = f" {unit}" if unit else ""
    return f"{e['value']:.{digits}f}{unit} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _text(r: dict) -> str:
    """A few lines for people."""
    lines = [f"twin {r['twin']} ({r['n_members']} members, 90 % intervals)"]
    if "best" not in r:
        lines += [
            f"  LV lead {r['site']}, RV lead {r['rv_lead']}, "
            f"VV {r['vv_delay_ms']:g} ms",
            f"  TAT    {_fmt(r['tat_ms'], 'ms')}",
            f"  QRS    {_fmt(r['qrs_crt_ms'], 'ms')}",
            f"  LVAT   {_fmt(r['lvat_ms'], 'ms')}",
            f"  EF     {_fmt(r['ef_crt_acute_pct'], '%')}",
            f"  ΔLVESV {_fmt(r['d_lvesv_pct'], '%')}",
            f"  responder probability {_fmt(r['responder_probability'], '', 2)}",
        ]
    else:
        lines.append(
            f"  ranked {r['n_ranked']} of {r['n_candidates']} LV sites in "
            f"{r['predict_s'] * 1000:.0f} ms, best ten refined in "
            f"{r['refine_s'] * 1000:.0f} ms (VV {r['vv_delay_ms']:g} ms)"
        )
        for s in r["best"]:
            lines.append(
                f"  {s['rank']:2d}. {s['site']:>11}  ΔLVESV "
                f"{_fmt(s['d_lvesv_pct'], '%')}  LVAT {_fmt(s['lvat_ms'], 'ms')}  "
                f"P(resp) {s['responder_probability']['value']:.2f}"
            )
    lines.append(f"  in domain: {'yes' if r['in_domain'] else 'no'}")
    return "\n".join(lines)


def _check_node_range(site: str, n_points: int) -> None:
    """A ``node:ID`` lead must name one of the mesh's nodes (before any work)."""
    from simulators.errors import SiteError

    kind, _, value = site.strip().partition(":")
    if kind.lower() == "node" and not 0 <= int(value) < n_points:
        raise SiteError(
            f"LV lead {site!r}: the twin's mesh has nodes 0..{n_points - 1}; "
            "pick a node of its LV free-wall epicardium (--optimise-lead lists some)"
        )
