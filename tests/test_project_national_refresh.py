"""scripts/refresh_national.py rebuilds the shipped national table from OWID/Ember-shaped inputs."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "data" / "national" / "national_electricity.csv"
OWID_ID, EMBER_ID = "owid_energy_e7897ae", "ember_api_ae39f58"


@pytest.fixture(scope="module")
def refresh():
    spec = importlib.util.spec_from_file_location("refresh_national", ROOT / "scripts" / "refresh_national.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """OWID- and Ember-shaped files holding exactly what the shipped table says came from each."""
    d = tmp_path_factory.mktemp("in")
    s = pd.read_csv(SHIPPED, dtype=str, keep_default_na=False)
    owid_demand = s["demand_source"] == OWID_ID
    owid = pd.DataFrame({
        "country": s["country"], "year": s["year"],
        "iso_code": s["iso3"].replace({"XKX": "OWID_KOS"}),
        "population": "1",  # an extra column, as in the real file
        "electricity_demand": s["electricity_demand_twh"].where(owid_demand, ""),
        "electricity_generation": s["electricity_generation_twh"],
        "carbon_intensity_elec": s["carbon_intensity_g_per_kwh"]})
    extra = pd.DataFrame([{"country": "Non-OECD (EI)", "year": "2020", "iso_code": "", "population": "",
                           "electricity_demand": "", "electricity_generation": "9000.5", "carbon_intensity_elec": ""},
                          {"country": "Ireland", "year": "2015", "iso_code": "IRL", "population": "",
                           "electricity_demand": "28.1", "electricity_generation": "27.0", "carbon_intensity_elec": ""}])
    pd.concat([owid, extra]).to_csv(d / "owid-energy-data.csv", index=False)
    e = s[s["demand_source"] == EMBER_ID]
    ember = pd.DataFrame({
        "country_or_region": e["country"].str.removesuffix(" (Ember)"),
        "country_code": e["iso3"], "year": e["year"], "demand_twh": e["electricity_demand_twh"],
        "emissions_intensity_gco2_per_kwh": "1"})
    ember.to_csv(d / "api_country_overview_yearly.csv", index=False)
    return d / "owid-energy-data.csv", d / "api_country_overview_yearly.csv"


def test_rebuilds_the_shipped_table(refresh, inputs, tmp_path):
    out = tmp_path / "national_electricity.csv"
    assert refresh.main(["--owid", str(inputs[0]), "--ember", str(inputs[1]), "--owid-id", OWID_ID,
                         "--ember-id", EMBER_ID, "--out", str(out)]) == 0
    new, old = pd.read_csv(out), pd.read_csv(SHIPPED)
    key = ["country", "year"]
    new, old = new.sort_values(key).reset_index(drop=True), old.sort_values(key).reset_index(drop=True)
    assert list(new.columns) == list(old.columns)
    pd.testing.assert_frame_equal(new, old, check_dtype=False)


def test_rules(refresh, inputs):
    df, dropped = refresh.build(*inputs, OWID_ID, EMBER_ID)
    assert dropped == ["Non-OECD (EI)"]
    assert "2015" not in set(df["year"].astype(str))  # before --first-year
    kos = df[df["country"] == "Kosovo"]
    assert set(kos["iso3"]) == {"XKX"}
    eu = df[(df["country"] == "EU (Ember)") & (df["electricity_demand_twh"] != "")]
    assert len(eu) >= 6 and (eu["demand_source"] == EMBER_ID).all() and (eu["aggregate_type"] == "ember_region").all()
    europe = df[df["country"] == "Europe"]
    assert (europe["electricity_demand_twh"] == "").all()  # OWID regions carry no demand


def test_owid_demand_wins_over_ember(refresh, tmp_path):
    owid = tmp_path / "o.csv"
    owid.write_text("country,year,iso_code,electricity_demand,electricity_generation,carbon_intensity_elec\n"
                    "Ireland,2024,IRL,35.470,31.080,270.910\nIreland,2023,IRL,,30.0,280\n"
                    "EU (Ember),2024,,2700.00,2700.00,211.2\n")
    ember = tmp_path / "e.csv"
    ember.write_text("country_or_region,country_code,year,demand_twh\nIreland,IRL,2024,99\nIreland,IRL,2023,34.1\n"
                     "EU,,2024,2728.61\n")
    df, _ = refresh.build(owid, ember, "o1", "e1")
    got = {(r.country, r.year): (r.electricity_demand_twh, r.demand_source) for r in df.itertuples()}
    assert got[("Ireland", 2024)] == ("35.47", "o1")      # OWID first, trailing zeros stripped
    assert got[("Ireland", 2023)] == ("34.1", "e1")       # Ember where OWID has none
    assert got[("EU (Ember)", 2024)] == ("2728.61", "e1")  # never OWID's demand (= generation) for Ember regions
    latest = df[df["is_latest_demand_year"] == 1]
    assert set(zip(latest["country"], latest["year"])) == {("Ireland", 2024), ("EU (Ember)", 2024)}


@pytest.mark.parametrize("args,words", [
    (["--owid", "/nonexistent.csv"], "not a file"),
    ([], "--owid PATH"),
])
def test_bad_input_is_one_message(refresh, capsys, args, words):
    assert refresh.main(args) == 2
    assert words in capsys.readouterr().err


def test_missing_column_is_named(refresh, tmp_path, capsys):
    p = tmp_path / "o.csv"
    p.write_text("country,year,iso_code\nX,2020,XXX\n")
    assert refresh.main(["--owid", str(p), "--out", str(tmp_path / "n.csv")]) == 2
    assert "electricity_demand" in capsys.readouterr().err
    assert not (tmp_path / "n.csv").exists()


def test_number_formatting(refresh):
    assert [refresh.number(x) for x in ("1352.110", "0.000", "6.70", "26723.369", "", "12", np.nan)] == \
        ["1352.11", "0", "6.7", "26723.369", "", "12", ""]
