"""House rules for every committed notebook (CI executes them separately, via nbmake)."""

import ast
import json

import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _cells(path):
    return json.loads(path.read_text())["cells"]


def test_the_numbered_series_is_there():
    names = [p.name[:2] for p in NOTEBOOKS]
    assert names == sorted(names) and {"01", "02", "03", "04", "05", "06", "07", "08", "09"} <= set(names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, \
                f"{path.name}: strip outputs before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_structure_purpose_colab_parameters(path):
    cells = _cells(path)
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# ")
    assert "google.colab" in "".join(cells[1]["source"])
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: one cell tagged 'parameters'"
    assert 'os.environ.get("PROTKIT_FAST") == "1"' in "".join(tagged[0]["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_imports_from_protkit_and_defines_no_functions(path):
    source = "\n".join("".join(c["source"]) for c in _cells(path) if c["cell_type"] == "code")
    tree = ast.parse(source)
    defined = [node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert defined == [], f"{path.name} defines {defined}: such code belongs in protkit"
    assert "from protkit" in source or "import protkit" in source


def _source_url():
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Source"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_cell_installs_from_the_project_address(path):
    install = "".join(_cells(path)[1]["source"])
    url = _source_url()
    assert f'"git+{url}.git"' in install, f"{path.name}: the Colab cell must install from {url} (pyproject.toml)"
    assert "<repo URL>" not in install
    assert f"git+{url}.git" in (ROOT / "README.md").read_text()
