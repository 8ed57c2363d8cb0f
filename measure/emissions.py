"""Grid carbon intensity for a measurement's emissions, from codecarbon's shipped country data.

codecarbon (a base dependency) ships ``data/private_infra/global_energy_mix.json``: per
country, the generation mix and its ``carbon_intensity`` (g CO2e/kWh) with the ``year`` of
the data (Our World in Data / Ember; mostly 2022-23). Offline, codecarbon computes a
country's emissions from exactly this row, so the emissions in a record agree with what
codecarbon's own tracker would say for the same energy. This is the measurement-side grid
factor only; national comparisons in ``project/`` use their own data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from measure.errors import MeasureError


@dataclass(frozen=True)
class GridIntensity:
    g_per_kwh: float
    source: str
    year: int | None


@lru_cache(maxsize=32)
def grid_intensity(country_iso_code: str) -> GridIntensity:
    """Carbon intensity (g CO2e/kWh) of a country's electricity, as codecarbon's offline data has it.

    An unknown code is a :class:`MeasureError` naming the field (codecarbon itself would fall
    back to a world average silently).
    """
    try:
        import codecarbon
        from codecarbon.input import DataSource
    except ImportError:  # pragma: no cover - a base dependency
        raise MeasureError("codecarbon is not installed", "country_iso_code") from None
    code = str(country_iso_code).strip().upper()
    mix = DataSource().get_global_energy_mix_data()
    row = mix.get(code)
    if row is None or row.get("carbon_intensity") is None:
        raise MeasureError(f"{country_iso_code!r} is not an ISO 3166-1 alpha-3 code in codecarbon's "
                           "country data (for example USA, FRA, DEU, IRL)", "country_iso_code")
    year = row.get("year")
    src = (f"codecarbon {codecarbon.__version__} global_energy_mix.json, {row.get('country_name', code)}"
           f" ({code}){f', {year}' if year else ''}")
    return GridIntensity(float(row["carbon_intensity"]), src, int(year) if year else None)


def emissions_g(energy_kwh: float | None, intensity: GridIntensity) -> float | None:
    """Emissions (g CO2e) of ``energy_kwh`` at the grid's intensity (no PUE: IT energy only)."""
    return None if energy_kwh is None else energy_kwh * intensity.g_per_kwh
