"""Issue 12 item 7: `compare_with` and `sources` lengths are limited, refused with one message."""

import pytest
from typer.testing import CliRunner

from project.cli import app

runner = CliRunner()


@pytest.mark.parametrize("setting,words", [
    ("compare_with=[" + ",".join(['"IRL"'] * 21) + "]", ["compare_with", "at most 20"]),
    ("sources=[" + ",".join(['"x"'] * 51) + "]", ["sources", "at most 50"]),
    ('sources=["' + "y" * 1001 + '"]', ["sources", "at most 1,000 characters"]),
])
def test_length_limits(tmp_path, setting, words):
    out = tmp_path / "r.csv"
    res = runner.invoke(app, ["project", "--preset", "devries-2027", "--samples", "0", "--set", setting,
                              "--out", str(out)])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert text.startswith("error:") and all(w in text for w in words) and "Traceback" not in text
    assert not out.exists()


def test_at_the_limits_it_runs():
    res = runner.invoke(app, ["project", "--preset", "devries-2027", "--samples", "0",
                              "--set", "compare_with=[" + ",".join(['"IRL"'] * 20) + "]",
                              "--set", 'sources=["' + "y" * 1000 + '"]'])
    assert res.exit_code == 0, res.output
