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
[tasks.chat]
inferences_per_day = 1e8
energy = { kwh_per_inference = 0.0003 }
[grid]
intensity_g_per_kwh = 400
"""


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# (description, TOML text, words the message must contain)
CASES = [
    ("unknown top-level field", GOOD + "\ncolour = 'red'\n", ["colour", "unknown field"]),
    ("unknown nested field", GOOD.replace("[grid]", "[grid]\nfoo = 1"), ["grid.foo", "unknown field"]),
    ("wrong type", GOOD.replace("base_year = 2025", "base_year = 'soon'"), ["base_year", "soon"]),
    ("negative usage", GOOD.replace("1e8", "-5"), ["tasks.chat.inferences_per_day", "-5"]),
    ("reversed years", GOOD.replace("end_year = 2030", "end_year = 2020").replace("target_year = 2030", "target_year = 2025"),
     ["reversed", "2020"]),
    ("target outside years", GOOD.replace("target_year = 2030", "target_year = 2040"), ["target_year", "2040"]),
    ("unknown country", GOOD.replace("intensity_g_per_kwh = 400", "country = 'Atlantis'"), ["grid", "Atlantis"]),
    ("country and intensity", GOOD.replace("intensity_g_per_kwh = 400", "intensity_g_per_kwh = 400\ncountry = 'FRA'"),
     ["grid", "not both"]),
    ("PUE below 1", GOOD + "[facility]\npue = 0.8\n", ["facility.pue", "0.8"]),
    ("low above high", GOOD + "[facility]\npue = { value = 1.2, low = 1.5, high = 1.1 }\n", ["facility.pue", "low"]),
    ("value outside range", GOOD + "[facility]\npue = { value = 2.0, low = 1.1, high = 1.5 }\n", ["facility.pue", "outside"]),
    ("unknown distribution", GOOD + "[facility]\npue = { value = 1.2, low = 1.1, high = 1.5, distribution = 'weibull' }\n",
     ["facility.pue.distribution", "weibull"]),
    ("unknown reference task", GOOD.replace("{ kwh_per_inference = 0.0003 }", "{ reference = 'juggling' }"),
     ["tasks.chat.energy", "juggling"]),
    ("two energy sources", GOOD.replace("{ kwh_per_inference = 0.0003 }",
                                        "{ kwh_per_inference = 0.0003, reference = 'summarization' }"),
     ["tasks.chat.energy", "exactly one"]),
    ("growth below -100%", GOOD.replace("inferences_per_day = 1e8", "inferences_per_day = 1e8\ngrowth_per_year = -1.5"),
     ["growth_per_year", "-1.5"]),
    ("utilisation above 1", GOOD + "[fleet]\nutilisation = 1.7\n", ["fleet.utilisation", "1.7"]),
    ("boolean for a number", GOOD + "[facility]\npue = true\n", ["facility.pue"]),
    ("demand basis without tasks", GOOD.split("[tasks.chat]")[0] + "[grid]\nintensity_g_per_kwh = 400\n", ["tasks"]),
    ("unknown comparison country", GOOD.replace('name = "t"', 'name = "t"\ncompare_with = ["XXY"]'),
     ["compare_with", "XXY"]),
    ("ai share above 1", GOOD.replace('name = "t"', 'name = "t"\nbasis = "top-down"') +
     "[datacentres]\ntwh = { 2024 = 415 }\nai_share = { 2024 = 1.5 }\n", ["datacentres", "ai_share"]),
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
    (["--preset", "paper-2023", "--set", "facility.colour=1"], ["facility.colour", "unknown field"]),
    (["--preset", "paper-2023", "--set", "facility.pue"], ["key=value"]),
    (["--preset", "paper-2023", "--set", "facility.pue=0.5"], ["facility.pue", "0.5"]),
    (["--preset", "paper-2023", "--set", "grid.country=Narnia"], ["Narnia"]),
    (["--preset", "paper-2023", "--samples", "-3"], ["--samples"]),
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
    s = load_preset("baseline-2025")
    s2 = apply_overrides(s, ["facility.pue=1.2"])
    assert (s2.facility.pue.value, s2.facility.pue.low, s2.facility.pue.high) == (1.2, 1.09, 1.56)
    s3 = apply_overrides(s, ["facility.pue=1.8"])
    assert (s3.facility.pue.value, s3.facility.pue.high) == (1.8, 1.8)
