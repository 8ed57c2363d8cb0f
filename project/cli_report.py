"""What `wattcast project` prints: the headline, World and regions, composition, back-test."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .variables import REGIONS


def fmt(x: float, digits: int = 3) -> str:
    """A number for a terminal table: thousands separators, 3 significant digits, '-' for NaN."""
    if x != x:  # NaN
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 1e6:
        return f"{x:.3g}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


ROWS = [
    ("Energy", "AI electricity (TWh/yr)"),
    ("Energy|Inference", "  inference"),
    ("Energy|Training", "  training"),
    ("Energy|Unattributed", "  unattributed fleet use"),
    ("Data Centres", "All data centres (TWh/yr)"),
    ("Data Centres|Conventional", "  conventional"),
    ("Power|Peak", "Peak AI power (GW)"),
    ("Emissions", "Emissions (Mt CO2e/yr)"),
    ("Emissions|Location-based", "  location-based"),
    ("Emissions|Embodied", "  embodied"),
    ("Emissions|Market-based", "  market-based (alternative)"),
    ("Water", "Water consumed (million m3/yr)"),
    ("Water|On-site", "  on-site cooling"),
    ("Water|Off-site", "  at power plants"),
]


def print_projection(result, console: Console, headline: dict) -> None:
    s = result.scenario
    y = s.target_year
    stat = "median (p5-p95)" if result.percentiles else "central run"
    t = Table(title=f"{s.name}: {s.title}\nWorld, {y}, {stat}", title_justify="left")
    t.add_column("variable", style="bold", no_wrap=True)
    cols = ("p50", "p5", "p95") if result.percentiles else ("central",)
    for col in cols:
        t.add_column(col, justify="right")
    rows = [(v, lab) for v, lab in ROWS if v in result.central]
    for var, label in rows:
        stats = cols if var in result.percentiles else ("central",) * len(cols)
        vals = [fmt(result.value(var, y, st)) for st in stats]
        t.add_row(label, *(vals if var in result.percentiles else [vals[0]] + [""] * (len(cols) - 1)))
    console.print(t)
    g = Table(title=f"By region, {y} ({'median' if result.percentiles else 'central run'})", title_justify="left")
    g.add_column("variable", style="bold", no_wrap=True)
    for r in REGIONS.values():
        g.add_column(r, justify="right")
    for var, label in rows:
        g.add_row(label, *[fmt(result.value(var, y, region=r)) for r in REGIONS.values()])
    console.print(g)
    from .engine import COUNTS_SENTENCE

    console.print(f"Counted: {COUNTS_SENTENCE}", highlight=False)
    share = result.value("Share|Attributed", stat="central")
    if "Fleet|Energy" in result.central and share == share:
        console.print(f"Attributed to modelled workloads: {share:.1%} of AI electricity in {y} "
                      f"(the rest is fleet use no modelled workload explains).", highlight=False)
    r, cy = headline["rank"], headline["comparison_year"]
    console.print(f"[bold]{fmt(headline['twh'])} TWh[/] in {y} is {r.sentence}; "
                  f"{headline['share_of_world']:.2%} of world electricity demand in {cy} "
                  f"({fmt(headline['world_twh'])} TWh); rank {r.rank} of {r.n_countries + 1} against national "
                  f"demand of {cy} (Our World in Data / Ember).")
    if s.compare_with:
        from .national import country_lookup

        parts = []
        for key in s.compare_with:
            c = country_lookup(key, cy)
            parts.append(f"{c['country']} {c['twh']:,.1f} TWh ({int(c['year'])} demand) -> "
                         f"{headline['twh'] / c['twh']:.0%}")
        console.print("  compared with: " + "; ".join(parts), highlight=False)
    print_per_unit(result, console)
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    bt = result.backtest
    if len(bt):
        b = Table(title="Back-test: modelled vs observed (TWh/yr)", title_justify="left")
        for col in ("year", "region", "variable", "observed", "modelled", "error"):
            b.add_column(col, justify="right" if col in ("observed", "modelled", "error") else "left")
        for _, row in bt.sort_values(["year", "region"]).iterrows():
            mark = " (calibrated)" if row["calibrated"] else ""
            b.add_row(str(row["year"]), row["region"], row["variable"], fmt(row["observed"]), fmt(row["modelled"]),
                      f"{row['error']:+.0%}{mark}")
        console.print(b)
    if result.percentiles:
        console.print(f"Monte Carlo: {result.samples:,} samples, seed {result.seed}; median shown, 90% range in "
                      f"brackets.", highlight=False)


PER_UNIT_COLUMNS = [
    ("accelerator_wh", "Wh accel."), ("facility_wh", "Wh facility"), ("location_g", "g CO2e loc."),
    ("market_g", "g market"), ("embodied_g", "g embodied"), ("onsite_ml", "mL on-site"), ("offsite_ml", "mL off-site"),
]


def print_per_unit(result, console: Console) -> None:
    """Per request (prompt, image, video...) in the base year, World (activity-weighted), central run:
    energy at the accelerator and at the meter, emissions by kind, water by kind (issue 11)."""
    pu = result.per_unit
    if pu.empty:
        return
    pu = pu[pu["region"] == "World"]
    year = int(pu["year"].iloc[0])
    t = Table(title=f"Per request, {year}, World (central run)", title_justify="left")
    t.add_column("workload", style="bold", no_wrap=True)
    for _, lab in PER_UNIT_COLUMNS:
        t.add_column(lab, justify="right")
    for _, row in pu.iterrows():
        t.add_row(str(row["label"]), *[fmt(float(row[k])) for k, _ in PER_UNIT_COLUMNS])
    console.print(t)


def projection_json(result, headline: dict) -> str:
    """`wattcast project --format json`: the summary (target year, World) and the IAMC data.

    Keys: scenario, title, meta (as the export's meta sheet), headline (TWh/yr, Mt CO2-equiv/yr,
    million m3/yr; the median when sampled; national comparison with its demand year),
    compared_with, warnings, per_unit (impacts per request by workload and region, base year:
    Wh at each boundary, g CO2e by kind, mL by kind), data (IAMC long records, as
    `wattcast project --out x.json`).
    """
    import json

    from .export import json_records, iamc_table, meta_table
    from .national import country_lookup

    r, cy = headline["rank"], headline["comparison_year"]
    head = {k: headline[k] for k in ("year", "twh", "mt_co2e", "water_billion_l", "share_of_world", "households",
                                     "comparison_year", "world_twh") if k in headline}
    head.update({k: v for k, v in headline.items() if k.startswith(("twh_p", "mt_co2e_p"))})
    head["rank"] = {"rank": r.rank, "of": r.n_countries + 1, "demand_year": r.year,
                    "nearest_country": str(r.nearest["country"]), "nearest_iso3": str(r.nearest["iso_code"]),
                    "nearest_twh": float(r.nearest["twh"]), "nearest_year": int(r.nearest["year"])}
    compared = []
    for key in result.scenario.compare_with:
        c = country_lookup(key, cy)
        compared.append({"country": str(c["country"]), "iso3": str(c["iso_code"]), "twh": float(c["twh"]),
                         "year": int(c["year"]), "ratio": headline["twh"] / float(c["twh"])})
    doc = {"scenario": result.scenario.name, "title": result.scenario.title,
           "meta": json_records(meta_table(result))[0], "headline": head, "compared_with": compared,
           "warnings": list(result.warnings), "per_unit": json_records(result.per_unit),
           "data": json_records(iamc_table(result))}
    return json.dumps(doc, indent=1, allow_nan=False, default=float)
