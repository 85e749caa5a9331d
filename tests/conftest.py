"""Shared test helpers: the CLI runner and the location of ../shared/data (tests needing it skip without it)."""
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LANMSFF_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_archive(name):
    """Path of ../shared/data/<name>, or skip the test when the shared data is not on this machine."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} not present (shared data is only on CI and developer machines)")
    return path


@pytest.fixture
def run_cli():
    """Invoke `lanmsff-edge ARGS...` in-process; returns click's Result (exit_code, output)."""
    from cli import cli

    def invoke(*args):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke
