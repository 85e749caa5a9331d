"""The package logger (lanmsff_edge/log.py): one stderr stream, quiet/default/verbose, seen by pytest and click."""
import logging
import sys

import pytest

from lanmsff_edge import log


@pytest.fixture(autouse=True)
def default_level():
    yield
    log.configure(0)


def test_lines_go_to_the_stderr_of_the_moment_with_their_text_unchanged(capsys):
    logger = log.get_logger("lanmsff_edge.somewhere")
    logger.info("note: plain text")
    logger.warning("warning: kept as written")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "note: plain text\nwarning: kept as written\n"


def test_verbosity_levels(capsys):
    logger = log.get_logger(__name__)
    everything = ["debug", "info", "warn"]
    for verbosity, shown in ((-1, ["warn"]), (0, ["info", "warn"]), (1, everything), (5, everything)):
        log.configure(verbosity)
        logger.debug("debug")
        logger.info("info")
        logger.warning("warn")
        assert capsys.readouterr().err.split() == shown, verbosity
    log.configure(-1)
    assert not log.enabled() and log.enabled(logging.WARNING)


def test_names_are_put_under_the_package_and_indented_blocks_nest(capsys):
    assert log.get_logger("firmware_export.bundle").name == "lanmsff_edge.firmware_export.bundle"
    assert log.get_logger("lanmsff_edge.bench").name == "lanmsff_edge.bench" and log.get_logger() is log.LOGGER
    with log.indented("  "):
        log.LOGGER.info("one\ntwo")
        with log.indented("  "):
            log.LOGGER.info("three")
    log.LOGGER.info("four")
    assert capsys.readouterr().err == "  one\n  two\n    three\nfour\n"


def test_stdout_is_flushed_before_a_log_line(monkeypatch):
    events = []

    class Stream:
        def __init__(self, name):
            self.name = name

        def write(self, text):
            events.append((self.name, text))

        def flush(self):
            events.append((self.name, "flush"))

    monkeypatch.setattr(sys, "stdout", Stream("out"))
    monkeypatch.setattr(sys, "stderr", Stream("err"))
    log.LOGGER.info("line")
    assert events == [("out", "flush"), ("err", "line\n"), ("err", "flush")]


def test_the_cli_sets_the_level_and_click_captures_the_lines(run_cli, monkeypatch):
    from lanmsff_edge.commands import info

    def fake(**_):
        logger = log.get_logger("lanmsff_edge.commands.info")
        logger.debug("debug detail")
        logger.info("progress note")
        logger.warning("warning: something")

    monkeypatch.setattr(info.command, "callback", fake)
    assert run_cli("info").output.split("\n")[:2] == ["progress note", "warning: something"]
    assert "debug detail" in run_cli("-v", "info").output
    assert run_cli("-q", "info").output == "warning: something\n"
    assert "progress note" in run_cli("info").output  # every run sets its level again


def test_quieted_keeps_warnings_and_gives_way_to_verbose(capsys):
    logger = log.get_logger("lanmsff_edge.bench.somewhere")
    with log.quieted():
        logger.info("hidden")
        logger.warning("warning: shown")
    with log.quieted("lanmsff_edge.bench"):
        logger.info("hidden too")
        log.LOGGER.info("other loggers go on")
    logger.info("back")
    log.configure(1)
    with log.quieted():
        logger.info("verbose shows it")
    assert capsys.readouterr().err.splitlines() == ["warning: shown", "other loggers go on", "back",
                                                    "verbose shows it"]


@pytest.mark.parametrize("verbose, shown", [("0", False), ("1", True)])
def test_tensorflow_python_warnings_are_hidden_unless_lanmsff_verbose(verbose, shown):
    """AutoGraph's "could not transform" notes (seen in the demo's QAT step) go through TensorFlow's Python logger."""
    import os
    import subprocess

    code = ("import lanmsff_edge.keras as k; k.tf.get_logger().warning('AutoGraph could not transform x')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "LANMSFF_VERBOSE": verbose})
    assert result.returncode == 0, result.stderr
    assert ("AutoGraph could not transform" in result.stderr) is shown
