"""National comparisons: demand of a stated year (OWID/Ember), names via country_converter."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from project.cli import app
from project.compare import national_rank, ranked_with, share_of_world
from project.national import (COMPARISON_YEAR, _by_year, aggregate_row, country_lookup, iam_region, national_electricity,
                              national_table, world_electricity_twh)


def test_table_rows_carry_their_year_and_source():
    t = national_table()
    assert t["year"].between(2019, 2025).all()
    assert (t["source"] != "").all()
    demand = t[t["electricity_demand_twh"].notna()]
    assert (demand["demand_source"] != "").all()


def test_countries_use_demand_of_the_stated_year_or_earlier():
    d = national_electricity(2024)
    assert (d["year"] <= 2024).all() and (d["year"] == 2024).sum() > 80
    ire = d.set_index("iso_code").loc["IRL"]
    # demand (gross generation + net imports), not generation (31.08 TWh in 2024)
    assert ire["twh"] == pytest.approx(35.47) and ire["generation_twh"] == pytest.approx(31.08)
    assert ire["year"] == 2024
    # an earlier stated year gives that year's value
    assert country_lookup("IRL", 2021)["year"] == 2021
    assert country_lookup("IRL", 2021)["twh"] != ire["twh"]


def test_aggregates_are_not_ranked_as_countries():
    d = national_electricity(2024)
    assert "World" not in set(d["country"]) and "EU (Ember)" not in set(d["country"])


def test_world_share_uses_the_same_years_world_demand():
    assert world_electricity_twh(2024) == pytest.approx(30930.23)
    assert world_electricity_twh(2025) == pytest.approx(31772.35)
    assert share_of_world(309.3023, 2024) == pytest.approx(0.01)
    assert share_of_world(309.3023) == pytest.approx(309.3023 / world_electricity_twh(COMPARISON_YEAR))
    with pytest.raises(KeyError, match="2017"):
        world_electricity_twh(2017)


def test_rank_states_its_year():
    r = national_rank(35.0, year=2024)
    assert r.year == 2024 and r.nearest["country"] == "Ireland"
    assert "2024 demand" in r.sentence
    bigger = (national_electricity(2024)["twh"] > 35.0).sum()
    assert r.rank == bigger + 1


@pytest.mark.parametrize("key,name", [("IRL", "Ireland"), ("ireland", "Ireland"), ("Republic of Ireland", "Ireland"),
                                      ("Korea, Rep.", "South Korea"), ("Viet Nam", "Vietnam")])
def test_names_through_country_converter(key, name):
    assert country_lookup(key, 2024)["country"] == name


def test_unknown_country_names_close_matches():
    with pytest.raises(KeyError, match="did you mean.*Ireland"):
        country_lookup("Irelend")


def test_owid_region_without_demand_falls_back_to_ember_twin():
    row = aggregate_row("Europe", 2024)
    assert row["country"] == "Europe (Ember)" and row["twh"] > 3000


@pytest.mark.parametrize("key,region,message", [("Germany", "Europe", "WEU"), ("GBR", "Rest of World", "WEU"),
                                                 ("United States", "United States", "NAM"), ("CHN", "China", "CPA")])
def test_iam_regions(key, region, message):
    assert iam_region(key) == region
    assert iam_region(key, "MESSAGE") == message


def test_iam_region_refuses_unknown_scheme_and_country():
    with pytest.raises(ValueError, match="scheme"):
        iam_region("DEU", "GCAM")
    with pytest.raises(KeyError):
        iam_region("Atlantis")


def test_ranked_with_includes_named_countries_of_the_year():
    rk = ranked_with(35.0, include=["Germany"], year=2024)
    de = rk[rk["name"] == "Germany"].iloc[0]
    assert de["year"] == 2024 and de["twh"] == pytest.approx(country_lookup("DEU", 2024)["twh"])
    assert rk["is_ai"].sum() == 1 and list(rk["twh"]) == sorted(rk["twh"], reverse=True)


def test_codecarbon_file_is_not_read(monkeypatch):
    import importlib.resources

    _by_year.cache_clear()
    real = importlib.resources.files

    def guard(pkg):
        assert pkg != "codecarbon", "national comparisons must not read codecarbon's generation file"
        return real(pkg)

    monkeypatch.setattr(importlib.resources, "files", guard)
    assert len(national_electricity(2023)) > 200


def test_cli_states_the_comparison_year():
    res = CliRunner().invoke(app, ["project", "--preset", "devries-google-search", "--samples", "0"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert f"world electricity demand in {COMPARISON_YEAR}" in text
    assert f"national demand of {COMPARISON_YEAR}" in text
    assert f"Ireland 35.5 TWh ({COMPARISON_YEAR} demand)" in text
