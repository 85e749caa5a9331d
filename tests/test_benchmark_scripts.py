"""The scripts in benchmarks/ stay runnable as the library moves under them: each answers --help, and every
``lanmsff_edge`` name each imports (at any depth: most import inside ``main``) exists where it imports it from."""
import ast
import importlib
import subprocess
import sys

import pytest
from conftest import REPO

SCRIPTS = sorted((REPO / "benchmarks").glob("*.py"))


def _package_imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lanmsff_edge"):
            yield node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            yield from ((alias.name, []) for alias in node.names if alias.name.startswith("lanmsff_edge"))


def test_there_are_scripts_to_check():
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_every_package_name_a_benchmark_imports_exists(script):
    missing = []
    for module, names in _package_imports(script):
        try:
            imported = importlib.import_module(module)
        except ImportError as error:
            missing.append(f"{module} ({error})")
            continue
        for name in names:
            if not hasattr(imported, name):
                try:
                    importlib.import_module(f"{module}.{name}")  # a submodule
                except ImportError:
                    missing.append(f"{module}.{name}")
    assert not missing, missing


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_every_benchmark_answers_help(script):
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage:" in done.stdout or "usage:" in done.stdout
