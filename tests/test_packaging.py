"""pyproject.toml and environment.yml agree, and the dependency decisions hold."""

import re
import tomllib

from conftest import ROOT


def _environment():
    text = (ROOT / "environment.yml").read_text()
    pip_lines = re.findall(r"^\s+- (-e .*|[A-Za-z].*)$", text.split("- pip:", 1)[1], re.M)
    dependencies = text.split("dependencies:", 1)[1].split("- pip:", 1)[0]
    conda = re.findall(r"^  - ([A-Za-z][^\s:]*.*)$", dependencies, re.M)
    return conda, pip_lines


def test_environment_installs_the_project_through_pip_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    conda, pip_lines = _environment()
    # conda provides only Python and pip; every library comes from pyproject.toml.
    assert sorted(re.split(r"[=<>]", c)[0] for c in conda) == ["pip", "python"]
    assert len(pip_lines) == 1 and pip_lines[0].startswith("-e .[")
    extras = pip_lines[0][len("-e .["):-1].split(",")
    assert set(extras) <= set(project["optional-dependencies"]), extras
    python = next(c for c in conda if c.startswith("python"))
    minimum = project["requires-python"].lstrip(">=")
    assert tuple(map(int, python.split("=")[1].split("."))) >= tuple(map(int, minimum.split(".")))


def test_decided_stack_and_no_tensorflow_addons():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=\[ ;]", d)[0].lower() for d in project["dependencies"]}
    assert {"tensorflow", "keras", "opencv-python-headless", "tifffile", "scikit-learn", "pandas",
            "matplotlib", "seaborn"} <= names
    assert "tensorflow-addons" not in names and "keras-cv" not in names
    test_extra = {re.split(r"[<>=\[ ;]", d)[0].lower() for d in project["optional-dependencies"]["test"]}
    assert {"pytest", "pytest-xdist", "nbmake"} <= test_extra  # -n 2 in the README's test command needs xdist
    assert "jupyterlab" in project["optional-dependencies"]["notebooks"][0]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "PROTKIT_FAST=1 python -m pytest --nbmake -q -n 2"
    assert command in readme and command in ci


def test_public_api_reexports_and_light_import():
    import subprocess
    import sys

    code = ("import sys, protkit; assert 'tensorflow' not in sys.modules, 'import protkit loaded TensorFlow'; "
            "names = [n for n in protkit.__all__ if n != '__version__']; "
            "missing = [n for n in names if not callable(getattr(protkit, n))]; "
            "assert not missing, missing; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
