"""measure/ never imports streamlit; project/ never imports torch; only the app imports streamlit."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_project_never_imports_torch_or_streamlit():
    for f in (ROOT / "project").rglob("*.py"):
        bad = imported_modules(f) & {"torch", "streamlit", "transformers", "diffusers"}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_measure_never_imports_streamlit():
    for f in (ROOT / "measure").rglob("*.py"):
        assert "streamlit" not in imported_modules(f), f


def test_only_app_imports_streamlit():
    for f in ROOT.rglob("*.py"):
        rel = f.relative_to(ROOT)
        if rel.parts[0] in {"tests", "benchmarks", "app_pages"} or rel.name == "app.py" or rel.parts[0].startswith("."):
            continue
        assert "streamlit" not in imported_modules(f), rel


def test_cli_and_engine_load_without_torch():
    code = (
        "import sys; import project.cli, project.engine, project.compare, project.sensitivity, project.export; "
        "bad = [m for m in ('torch', 'streamlit', 'transformers', 'diffusers') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
