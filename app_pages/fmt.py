"""Number and text formatting for the app (no Streamlit here, so it tests without a browser).

Units follow the model (project.variables): energy TWh/yr, emissions Mt CO2-equiv/yr,
water million m3/yr, power GW. Every formatter returns plain text.
"""

from __future__ import annotations

import math
import re

NOT_MODELLED = "not modelled"


def sig(x: float, digits: int = 3) -> str:
    """`x` with `digits` significant digits and thousands separators ('1,187', '6.88', '0.0123')."""
    x = float(x)
    if not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    mag = int(math.floor(math.log10(abs(x))))
    decimals = max(0, digits - 1 - mag)
    return f"{round(x, decimals):,.{decimals}f}"


def count(x: float) -> str:
    """1.5e9 -> '1.5 billion', 34e6 -> '34 million', 0 -> '0'."""
    x = float(x)
    if x == 0:
        return "0"
    for div, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if abs(x) >= div:
            return f"{x / div:,.3g} {word}"
    return f"{x:,.3g}"


def _ladder(x: float, units: tuple[str, str, str]) -> str:
    """`x` in units[0]; below 1 in units[1] (x 1e3); below 1e-3 in units[2] (x 1e6)."""
    x = float(x)
    if abs(x) >= 1 or x == 0 or not math.isfinite(x):
        return f"{sig(x)} {units[0]}"
    if abs(x) >= 1e-3:
        return f"{sig(x * 1e3)} {units[1]}"
    return f"{sig(x * 1e6)} {units[2]}"


def energy(twh: float) -> str:
    """TWh, stepping down to GWh and MWh for small totals."""
    return _ladder(twh, ("TWh", "GWh", "MWh"))


def emissions(mt: float) -> str:
    """Mt CO2e, stepping down to kt and t."""
    return _ladder(mt, ("Mt CO₂e", "kt CO₂e", "t CO₂e"))


def water(million_m3: float) -> str:
    """Water volume: billion m3 above 1,000 million m3, else million m3 (then thousand m3)."""
    x = float(million_m3)
    if abs(x) >= 1000:
        return f"{sig(x / 1000)} billion m³"
    return _ladder(x, ("million m³", "thousand m³", "m³"))


def power(gw: float) -> str:
    return _ladder(gw, ("GW", "MW", "kW"))


FORMAT = {"Energy": energy, "Emissions": emissions, "Water": water, "Power": power, "Data Centres": energy}


def value(variable: str, x: float) -> str:
    """Format `x` in the unit of model variable `variable` (by its first part)."""
    return FORMAT.get(variable.split("|")[0], sig)(x)


def axis_unit(variable: str) -> str:
    """The model's unit of `variable` (project.engine.unit_of) as a chart axis says it:
    'TWh/yr' -> 'TWh per year', 'Mt CO2-equiv/yr' -> 'Mt CO₂e per year', 'million m3/yr' -> 'million m³ per year'."""
    from project.engine import unit_of

    u = unit_of(variable)
    return u.replace("CO2-equiv", "CO₂e").replace("m3", "m³").replace("/yr", " per year")


def span(variable: str, lo: float, hi: float) -> str:
    """'498-910 TWh' (one unit for both ends when they share it)."""
    a, b = value(variable, lo), value(variable, hi)
    ua, ub = a.split(" ", 1), b.split(" ", 1)
    if len(ua) == 2 and len(ub) == 2 and ua[1] == ub[1]:
        return f"{ua[0]}–{ub[0]} {ua[1]}"
    return f"{a} – {b}"


def pct(frac: float, digits: int = 2) -> str:
    """A fraction as a percentage: 0.0257 -> '2.6%', 18.8 -> '1,880%'."""
    p = float(frac) * 100
    if not math.isfinite(p):
        return "n/a"
    if p == 0:
        return "0%"
    if abs(p) < 0.01:
        return "<0.01%"
    if abs(p) >= 100:
        return f"{p:,.0f}%"
    return f"{sig(p, digits)}%"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&])")


def clip(text: object, limit: int = 60) -> str:
    """User text cut to `limit` characters, control characters dropped (still unescaped)."""
    s = "".join(ch for ch in str(text) if ch.isprintable())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def plain(text: object, limit: int = 400) -> str:
    """Text made safe for a Markdown-rendering widget (st.warning, st.toast): clipped, and every
    Markdown/HTML/Streamlit-directive character escaped, so a link, an image or a `:red[...]`
    directive planted in a URL shows as the characters typed."""
    s = _MD_SPECIAL.sub(r"\\\1", clip(text, limit))
    # GFM turns bare URLs, www. names and e-mail addresses into links even when escaped:
    # a zero-width space before the scheme's colon, the www dot and the @ keeps them text
    return _AUTOLINK.sub(lambda m: "\u200b" + m.group(0), s)


_AUTOLINK = re.compile(r"(?:\\?:|(?<=www)\\?\.|\\?@)")
