"""Bad input: one message naming the field, value and file; exit status 2; no output written."""

import pytest
from typer.testing import CliRunner

from project.cli import app
from project.scenario import ScenarioError, apply_overrides, load_preset, load_scenario

runner = CliRunner()

GOOD = """
name = "t"
base_year = 2025
start_year = 2025
end_year = 2030
target_year = 2030
[workloads.chat]
requests_per_day = 1e8
energy = { kwh = 0.0003, boundary = "it" }
[regions.all]
grid_intensity_g_per_kwh = 400
"""


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# (description, TOML text, words the message must contain)
CASES = [
    ("unknown top-level field", GOOD + "\ncolour = 'red'\n", ["colour", "unknown field"]),
    ("unknown nested field", GOOD.replace("[regions.all]", "[regions.all]\nfoo = 1"), ["regions.all.foo", "unknown field"]),
    ("wrong type", GOOD.replace("base_year = 2025", "base_year = 'soon'"), ["base_year", "soon"]),
    ("negative usage", GOOD.replace("1e8", "-5"), ["workloads.chat.requests_per_day", "-5"]),
    ("reversed years", GOOD.replace("end_year = 2030", "end_year = 2020").replace("target_year = 2030", "target_year = 2025"),
     ["reversed", "2020"]),
    ("target outside years", GOOD.replace("target_year = 2030", "target_year = 2040"), ["target_year", "2040"]),
    ("unknown region", GOOD + "[regions.MARS]\npue = 1.2\n", ["regions", "MARS"]),
    ("unknown country", GOOD.replace("grid_intensity_g_per_kwh = 400", "grid_country = 'Atlantis'"), ["regions", "Atlantis"]),
    ("country and intensity", GOOD.replace("grid_intensity_g_per_kwh = 400", "grid_intensity_g_per_kwh = 400\ngrid_country = 'FRA'"),
     ["regions", "not both"]),
    ("PUE below 1", GOOD + "pue = 0.8\n", ["regions.all.pue", "0.8"]),
    ("PUE absurd", GOOD + "pue = 1e308\n", ["regions.all.pue"]),
    ("low above high", GOOD + "pue = { value = 1.2, low = 1.5, high = 1.1 }\n", ["regions.all.pue", "low"]),
    ("value outside range", GOOD + "pue = { value = 2.0, low = 1.1, high = 1.5 }\n", ["regions.all.pue", "outside"]),
    ("loguniform value not its median", GOOD.replace("requests_per_day = 1e8",
     "requests_per_day = { value = 1e8, low = 1e7, high = 1e10, distribution = 'loguniform' }"),
     ["requests_per_day", "geometric midpoint"]),
    ("unknown distribution", GOOD + "pue = { value = 1.2, low = 1.1, high = 1.5, distribution = 'weibull' }\n",
     ["regions.all.pue.distribution", "weibull"]),
    ("nan value", GOOD + "pue = nan\n", ["regions.all.pue", "finite"]),
    ("inf value", GOOD.replace("1e8", "inf"), ["requests_per_day", "finite"]),
    ("unknown reference task", GOOD.replace('{ kwh = 0.0003, boundary = "it" }', "{ reference = 'juggling' }"),
     ["workloads.chat.energy", "juggling"]),
    ("two energy sources", GOOD.replace('{ kwh = 0.0003, boundary = "it" }',
                                        "{ kwh = 0.0003, boundary = 'it', reference = 'summarization' }"),
     ["workloads.chat.energy", "exactly one"]),
    ("energy without boundary", GOOD.replace('{ kwh = 0.0003, boundary = "it" }', "{ kwh = 0.0003 }"),
     ["workloads.chat.energy", "boundary"]),
    ("facility energy without its PUE", GOOD.replace('boundary = "it"', 'boundary = "facility"'),
     ["workloads.chat.energy", "pue"]),
    ("growth below -99%", GOOD.replace("requests_per_day = 1e8", "requests_per_day = 1e8\ngrowth = { rate = -1.5 }"),
     ["growth.rate", "-1.5"]),
    ("absurd growth", GOOD.replace("requests_per_day = 1e8", "requests_per_day = 1e8\ngrowth = { rate = 1e308 }"),
     ["growth.rate"]),
    ("utilisation above 1", GOOD + "[fleet]\nclasses = { h100 = { utilisation = 1.7 } }\n",
     ["fleet.classes.h100.utilisation", "1.7"]),
    ("unknown accelerator class", GOOD + "[fleet]\nshipments = { z80 = { 2025 = 5 } }\n", ["fleet", "z80"]),
    ("shares not summing to 1", GOOD.replace("[regions.all]", "[workloads.chat.region_shares]\nUSA = 0.7\n[regions.all]"),
     ["region_shares", "sum to 1"]),
    ("boolean for a number", GOOD + "pue = true\n", ["regions.all.pue"]),
    ("nothing to project", GOOD.split("[workloads.chat]")[0], ["nothing to project"]),
    ("unknown comparison country", GOOD.replace('name = "t"', 'name = "t"\ncompare_with = ["XXY"]'),
     ["compare_with", "XXY"]),
    ("unknown lever", GOOD + "[policy.magic]\nstart_year = 2026\n", ["policy.magic", "unknown lever"]),
    ("lever out of range", GOOD + "[policy.clean_power]\nstart_year = 2026\nprocurement_share = 1.5\n",
     ["policy.clean_power.procurement_share", "1.5"]),
    ("deeply nested", GOOD + "deep = " + "[" * 300 + "]" * 300 + "\n", ["nested"]),
    ("unknown extends", 'extends = "nope"\n' + GOOD, ["extends", "nope"]),
]


@pytest.mark.parametrize("desc,text,words", CASES, ids=[c[0] for c in CASES])
def test_bad_scenario_file_message(tmp_path, desc, text, words):
    p = write(tmp_path, text)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(p)
    msg = str(exc.value)
    assert str(p) in msg
    for w in words:
        assert w in msg, (desc, msg)


@pytest.mark.parametrize("desc,text,words", CASES, ids=[c[0] for c in CASES])
def test_bad_scenario_cli_exit_2_no_output(tmp_path, desc, text, words):
    p = write(tmp_path, text)
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["project", "--scenario", str(p), "--out", str(out), "--samples", "10"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert words[0] in res.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [p]  # no temp files left either


def test_good_scenario_passes(tmp_path):
    p = write(tmp_path, GOOD)
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["project", "--scenario", str(p), "--out", str(out), "--samples", "10"])
    assert res.exit_code == 0, res.output
    assert out.exists()


@pytest.mark.parametrize("args,words", [
    (["--scenario", "/nonexistent/s.toml"], ["/nonexistent/s.toml", "not found"]),
    (["--preset", "nope"], ["nope", "available"]),
    (["--preset", "paper-2023", "--set", "regions.colour=1"], ["regions", "colour"]),
    (["--preset", "paper-2023", "--set", "regions.all.pue"], ["key=value"]),
    (["--preset", "paper-2023", "--set", "regions.all.pue=0.5"], ["regions.all.pue", "0.5"]),
    (["--preset", "paper-2023", "--set", "regions.EUR.grid_country=Narnia"], ["Narnia"]),
    (["--preset", "reference", "--samples", "10000000"], ["--samples"]),
    (["--preset", "paper-2023", "--samples", "-3"], ["--samples"]),
    (["--preset", "paper-2023", "--samples", "10", "--seed", "-1"], ["--seed", "-1"]),
    (["--preset", "reference", "--set", "workloads.llm_text.requests_per_day=1e15"],
     ["requests_per_day", "growth ceiling"]),
    (["--preset", "paper-2023", "--out", "/tmp/result.docx"], ["docx", "unsupported"]),
    (["--preset", "paper-2023", "--out", "/nonexistent-dir/r.csv"], ["does not exist"]),
    (["--preset", "paper-2023", "--scenario", "x.toml"], ["exactly one"]),
    ([], ["exactly one"]),
])
def test_bad_cli_arguments(args, words):
    res = runner.invoke(app, ["project", *args])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    for w in words:
        assert w in res.output


def test_malformed_toml(tmp_path):
    p = write(tmp_path, "name = \n[[[")
    res = runner.invoke(app, ["project", "--scenario", str(p)])
    assert res.exit_code == 2
    assert "malformed TOML" in res.output and str(p) in res.output


def test_directory_and_binary_scenario(tmp_path):
    with pytest.raises(ScenarioError, match="directory"):
        load_scenario(tmp_path)
    b = tmp_path / "b.toml"
    b.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ScenarioError, match="UTF-8|malformed"):
        load_scenario(b)


def test_override_keeps_range_and_widens():
    s = load_preset("reference")
    s2 = apply_overrides(s, ["regions.all.conventional_growth_per_year=0.07"])
    u = s2.regions["all"].conventional_growth_per_year
    assert (u.value, u.low, u.high) == (0.07, 0.06, 0.1)
    s3 = apply_overrides(s, ["regions.all.conventional_growth_per_year=0.2"])
    assert s3.regions["all"].conventional_growth_per_year.high == 0.2


def test_override_moves_a_median_range_with_it():
    s = load_preset("reference")
    s2 = apply_overrides(s, ["workloads.video_generation.requests_per_day=1e7"])
    u = s2.workloads["video_generation"].requests_per_day
    assert u.value == 1e7 and u.low == pytest.approx(1e6) and u.high == pytest.approx(1e8)
