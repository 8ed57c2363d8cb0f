"""The `wattcast` command line: presets, projections and (with the measure extra) measurements.

Errors a user can cause print one message naming the field, value or file on stderr and
exit with status 2; no output file is written then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .scenario import ScenarioError

app = typer.Typer(
    name="wattcast",
    help="Energy, CO2 and water of AI inference: from per-inference measurements to national scale.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print a user-facing error and return the Exit(2) to raise."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


@app.command()
def presets(
    format_: Optional[str] = typer.Option(
        None, "--format", "-f", help="table, tsv or json (default: table on a terminal, tsv in a pipe)."),
) -> None:
    """List the shipped scenario presets (names are never shortened, whatever the width)."""
    import json

    from .scenario import load_preset, preset_names

    fmt = format_ or ("table" if console.is_terminal else "tsv")
    if fmt not in ("table", "tsv", "json"):
        raise fail(f"--format: {fmt!r} is not one of table, tsv, json")
    rows = []
    for n in preset_names():
        s = load_preset(n)
        parts = [k for k, on in (("fleet", s.fleet is not None), ("workloads", bool(s.workloads)),
                                 ("training", s.training is not None), ("conventional", s.conventional),
                                 ("policy", bool(s.policy))) if on]
        rows.append({"name": n, "models": "+".join(parts), "start_year": s.start_year, "end_year": s.end_year,
                     "target_year": s.target_year, "title": s.title})
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=1))
    elif fmt == "tsv":
        for r in rows:  # one line per preset, tabs: name models years title (no tabs or newlines inside)
            cells = [r["name"], r["models"], f"{r['start_year']}-{r['end_year']}", " ".join(r["title"].split())]
            typer.echo("\t".join(cells))
    else:
        narrow = console.width < 100  # names first: drop the middle columns rather than cut a name
        t = Table(title="wattcast presets (data/scenarios)")
        t.add_column("name", style="bold", no_wrap=True, min_width=max(len(r["name"]) for r in rows))
        if not narrow:
            t.add_column("models")
            t.add_column("years")
        t.add_column("title")
        for r in rows:
            mid = [] if narrow else [r["models"], f"{r['start_year']}-{r['end_year']} (target {r['target_year']})"]
            t.add_row(r["name"], *mid, r["title"])
        console.print(t)


def _load(preset: Optional[str], scenario: Optional[Path], overrides: list[str]):
    """The scenario named by --preset or --scenario, with --set overrides applied."""
    from .scenario import apply_overrides, load_preset, load_scenario

    if (preset is None) == (scenario is None):
        raise ScenarioError("give exactly one of --preset NAME or --scenario FILE")
    scen = load_preset(preset) if preset else load_scenario(scenario)
    return apply_overrides(scen, overrides) if overrides else scen


def _fmt(x: float, digits: int = 3) -> str:
    if x != x:  # NaN
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 1e6:
        return f"{x:.3g}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


@app.command()
def project(
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="A shipped preset (see `wattcast presets`)."),
    scenario: Optional[Path] = typer.Option(None, "--scenario", "-s", help="A scenario TOML file."),
    set_: list[str] = typer.Option([], "--set", help="Override a field by dotted path, e.g. facility.pue=1.2 (repeatable)."),
    samples: int = typer.Option(1000, "--samples", "-n", help="Monte Carlo samples for p5/p50/p95 (0 = central run only)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the Monte Carlo (part of the result)."),
    measurements: Optional[Path] = typer.Option(
        None, "--measurements", "-m", help="A folder or file of wattcast measurement records: use them as per-task energy."
    ),
    allow_fake: bool = typer.Option(False, "--allow-fake", help="With --measurements: also use fake-backend records (invented energy)."),
    allow_cpu: bool = typer.Option(False, "--allow-cpu", help="With --measurements: also use records measured on a CPU."),
    allow_random_init: bool = typer.Option(False, "--allow-random-init", help="With --measurements: also use random-init models' records."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Write the result as an IAMC table (.csv, .parquet, .xlsx, .json; pyam reads them)."),
    layout: str = typer.Option("long", "--layout", help="long (a row per year) or wide (a column per year) for --out."),
    format_: str = typer.Option("table", "--format", "-f", help="table (default) or json (summary and data) on stdout."),
) -> None:
    """Project yearly TWh, Mt CO2e and water for a preset or scenario file."""
    from .compare import headline
    from .engine import run_projection, with_measured_energy
    from .export import LAYOUTS, ExportError, check_output_path, write_result
    try:
        if format_ not in ("table", "json"):
            raise ScenarioError(f"--format: {format_!r} is not one of table, json")
        if (preset is None) == (scenario is None):
            raise ScenarioError("give exactly one of --preset NAME or --scenario FILE")
        if samples < 0:
            raise ScenarioError(f"--samples: must be >= 0, got {samples}")
        if samples > 5_000_000:
            raise ScenarioError(f"--samples: at most 5,000,000, got {samples}")
        if layout not in LAYOUTS:
            raise ScenarioError(f"--layout: {layout!r} is not one of {', '.join(LAYOUTS)}")
        if out is not None:  # before any computing: a bad path costs nothing
            try:
                check_output_path(out)
            except ExportError as exc:
                raise ExportError(f"--out {exc.args[0]}") from None
        scen = _load(preset, scenario, set_)
        table = None
        if measurements is not None:
            from .measurements import Rules, select_measurements

            chosen = select_measurements(measurements, Rules(allow_fake, allow_cpu, allow_random_init))
            for line in chosen.lines():  # which records were used, and why the others were not
                err.print(line, highlight=False, markup=False, soft_wrap=True)
            table = chosen.table
            scen, switched = with_measured_energy(scen, table)
            err.print(f"measured energy used for: {', '.join(switched) or '(no matching task)'}")
        elif allow_fake or allow_cpu or allow_random_init:
            raise ScenarioError("--allow-fake, --allow-cpu and --allow-random-init need --measurements")
        result = run_projection(scen, samples=samples, seed=seed, measurements=table)
        if out is not None:
            try:
                write_result(result, out, layout=layout)
            except OSError as exc:
                raise ExportError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    except (ScenarioError, ExportError, ValueError, KeyError) as exc:
        raise fail(exc.args[0] if exc.args else str(exc)) from None

    from .cli_report import print_projection, projection_json

    if format_ == "json":
        typer.echo(projection_json(result, headline(result)))
    else:
        # in a pipe, a wide console: rich would otherwise cut labels to $COLUMNS (80 by default)
        print_projection(result, console if console.is_terminal else Console(width=max(console.width, 160)),
                         headline(result))
    if out is not None:
        err.print(f"wrote {out}")


@app.command()
def calibrate(
    preset: Optional[str] = typer.Option("reference", "--preset", "-p", help="A shipped preset with a fleet."),
    scenario: Optional[Path] = typer.Option(None, "--scenario", "-s", help="A scenario TOML file."),
    set_: list[str] = typer.Option([], "--set", help="Override a field by dotted path (repeatable)."),
) -> None:
    """Fit the fleet utilisation scale and conventional growth on 2024 (see docs/model.md)."""
    from .calibrate import calibrate as fit

    try:
        scen = _load(None if scenario else preset, scenario, set_)
        res = fit(scen)
    except (ScenarioError, ValueError, KeyError) as exc:
        raise fail(exc.args[0] if exc.args else str(exc)) from None
    t = Table(title=f"{scen.name}: calibrated on {res['world_twh']:g} TWh (World data centres, 2024) and an "
                    f"accelerated-server IT share of {res['accelerated_it_share']:.0%}", title_justify="left")
    t.add_column("parameter", no_wrap=True)
    t.add_column("fitted", justify="right")
    t.add_column("in the scenario", justify="right")
    cur = {"fleet.utilisation_scale": scen.fleet.utilisation_scale.value,
           "regions.all.conventional_growth_per_year": getattr(
               scen.regions.get("all"), "conventional_growth_per_year", None)}
    for k in ("fleet.utilisation_scale", "regions.all.conventional_growth_per_year"):
        c = cur[k]
        c = c.value if hasattr(c, "value") else c
        t.add_row(k, f"{res[k]:.4g}", "-" if c is None else f"{c:.4g}")
    console.print(t)
    console.print(f"2024 outcome: data centres {res['world_twh_2024']:.1f} TWh, AI fleet IT {res['ai_it_twh_2024']:.1f} TWh")


@app.command()
def sensitivity(
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="A shipped preset."),
    scenario: Optional[Path] = typer.Option(None, "--scenario", "-s", help="A scenario TOML file."),
    set_: list[str] = typer.Option([], "--set", help="Override a field by dotted path (repeatable)."),
    sobol_n: int = typer.Option(1024, "--sobol-n", help="Base sample size of the Sobol indices (a power of two; 0 = skip)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the Sobol sampling."),
    top: int = typer.Option(10, "--top", help="How many parameters to list."),
) -> None:
    """What drives the target year's total: one-at-a-time swings and Sobol indices."""
    from .engine import compile_scenario
    from .sensitivity import sobol, tornado

    try:
        scen = _load(preset, scenario, set_)
        c = compile_scenario(scen)
        tor = tornado(c)
        sob = sobol(c, n=sobol_n, seed=seed).set_index("path") if sobol_n and len(c.uncertain) >= 2 else None
    except (ScenarioError, ValueError, KeyError) as exc:
        raise fail(exc.args[0] if exc.args else str(exc)) from None
    if tor.empty:
        console.print("no uncertain parameters in this scenario: nothing to swing")
        return
    t = Table(title=f"{scen.name}: Energy in {scen.target_year} (TWh/yr), central {_fmt(tor['central_total'][0])}",
              title_justify="left")
    for col in ("parameter", "low", "high", "TWh at low", "TWh at high", "swing"):
        t.add_column(col, justify="left" if col == "parameter" else "right")
    if sob is not None:
        t.add_column("Sobol S1", justify="right")
        t.add_column("Sobol ST", justify="right")
    for _, r in tor.head(top).iterrows():
        row = [f"{r['label']} ({r['unit']})", _fmt(r["low"]), _fmt(r["high"]), _fmt(r["total_at_low"]),
               _fmt(r["total_at_high"]), _fmt(r["swing"])]
        if sob is not None:
            row += [f"{sob.at[r['path'], 'first_order']:.2f}", f"{sob.at[r['path'], 'total_order']:.2f}"]
        t.add_row(*row)
    console.print(t)


@app.command()
def compare(
    scenarios: list[str] = typer.Argument(..., help="Presets, policy packages (combined = policy-combined) or "
                                                    "TOML files; the first is the baseline."),
    set_: list[str] = typer.Option([], "--set", help="[LABEL:]path=value: override for every scenario, or for the "
                                                     "one LABEL names (position 1, 2, ... or its name), e.g. "
                                                     "--set 2:policy.clean_power.procurement_share=0.8 (repeatable)."),
    samples: int = typer.Option(1000, "--samples", "-n", help="Monte Carlo samples per scenario (0 = central run only)."),
    seed: int = typer.Option(0, "--seed", help="Random seed, the same for every scenario."),
    year: Optional[int] = typer.Option(None, "--year", "-y", help="Year of the table (default: the first scenario's target year)."),
    wedges: bool = typer.Option(False, "--wedges", help="Split each scenario's difference from the first by policy lever."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write every scenario (and wedges) to one .csv, .parquet, .xlsx or .json."),
    format_: str = typer.Option("table", "--format", help="table (default) or json (the summary on stdout)."),
) -> None:
    """Scenarios side by side: energy, emissions and water by kind, peak GW (p50 with p5-p95)."""
    from .cli_compare import (all_wedges, comparison_json, load_input, print_comparison, route_overrides, wedge_frame,
                              write_comparison)
    from .comparison import check_compatible
    from .comparison import compare as run_compare
    from .export import ExportError, check_output_path
    from .scenario import apply_overrides

    try:
        if format_ not in ("table", "json"):
            raise ScenarioError(f"--format: {format_!r} is not one of table, json")
        if samples < 0 or samples > 1_000_000:
            raise ScenarioError(f"--samples: must be within 0..1,000,000, got {samples}")
        if out is not None:
            check_output_path(out)
        loaded = [load_input(s) for s in scenarios]
        sets = route_overrides(scenarios, loaded, set_)
        scens = [apply_overrides(s, o) if o else s for s, o in zip(loaded, sets)]
        check_compatible(scens)
        if year is not None and year not in scens[0].years:
            raise ScenarioError(f"--year {year}: outside the scenarios' years {scens[0].start_year}..{scens[0].end_year}")
        comp = run_compare(scens, samples=samples, seed=seed)
        y = comp.target_year if year is None else year
        split = all_wedges(comp) if wedges else None
        table_wedges = wedge_frame(split, y) if split is not None else None
        if out is not None:
            write_comparison(comp, out, split)
    except (ScenarioError, ExportError, ValueError, KeyError) as exc:
        raise fail(exc.args[0] if exc.args else str(exc)) from None
    if format_ == "json":
        typer.echo(comparison_json(comp, y, table_wedges))
    else:
        print_comparison(comp, console, y, table_wedges)
    if out is not None:
        err.print(f"wrote {out}")


def _register_measure() -> None:
    try:
        from measure.cli import register
    except ImportError:  # the measure package is absent: projection-only install
        return
    register(app)


_register_measure()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
