"""The package's one logger: ``LOGGER`` ("lanmsff_edge") and its children from ``get_logger(__name__)``.

Messages are plain lines on stderr (the text is the message, prefixes such as ``warning:`` are part of it), so a
command's results on stdout stay parseable. The handler looks ``sys.stderr`` up on every line, so pytest's capture
and click's ``CliRunner`` see what is logged, and flushes stdout first, so a redirected log keeps the order in which
stdout (Keras' progress lines, result tables) and log lines were written.

Library use logs at INFO out of the box; the CLI calls ``configure(verbosity)`` once per run: 0 (default) INFO,
1 (``-v``) DEBUG, -1 (``-q``) warnings and errors only.
"""
import contextlib
import logging
import os
import sys

NAME = "lanmsff_edge"
LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}


class _CurrentStderr(logging.Handler):
    """Writes each record to the ``sys.stderr`` of the moment it is emitted (not the one at import)."""

    prefix = ""  # set by ``indented``

    def emit(self, record):
        try:
            text = self.format(record)
            if self.prefix:
                text = "\n".join(self.prefix + line if line else line for line in text.split("\n"))
            sys.stdout.flush()
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001  logging's own contract: a failing handler reports, never raises
            self.handleError(record)


HANDLER = _CurrentStderr()
HANDLER.setFormatter(logging.Formatter("%(message)s"))
LOGGER = logging.getLogger(NAME)
LOGGER.addHandler(HANDLER)
LOGGER.setLevel(logging.INFO)
LOGGER.propagate = False  # one line per message even when an application configures the root logger


def get_logger(name=None):
    """The package logger, or its child for a module (``get_logger(__name__)``; names outside the package, such
    as ``firmware_export.bundle``, are put under it)."""
    if not name or name == NAME:
        return LOGGER
    return logging.getLogger(name if name.startswith(NAME + ".") else f"{NAME}.{name}")


def configure(verbosity=0):
    """Set how much is shown: -1 warnings and errors, 0 what users see by default, 1 (or more) debug detail too."""
    LOGGER.setLevel(LEVELS[max(-1, min(1, int(verbosity)))])


def tensorflow_verbose():
    """True when ``LANMSFF_VERBOSE=1`` asks to see what TensorFlow and TFLite Micro print themselves (hidden by
    default: it speaks of their internals, not of the user's run)."""
    return os.environ.get("LANMSFF_VERBOSE") == "1"


def enabled(level=logging.INFO):
    """True when messages at ``level`` are shown (e.g. whether Keras may print its own progress lines)."""
    return LOGGER.isEnabledFor(level)


@contextlib.contextmanager
def quieted(*names):
    """Inside the block, the loggers ``names`` (default: the whole package) show only warnings and errors, unless
    ``-v`` asked for debug detail: for steps whose progress notes a caller does not want (the demo's bench)."""
    loggers = [get_logger(name) for name in names] or [LOGGER]
    if LOGGER.isEnabledFor(logging.DEBUG):
        yield
        return
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        for logger, level in zip(loggers, before):
            logger.setLevel(level)


@contextlib.contextmanager
def indented(prefix="      "):
    """Lines logged inside the block start with ``prefix`` (the demo nests each step's output under its title)."""
    before = HANDLER.prefix
    HANDLER.prefix = before + prefix
    try:
        yield
    finally:
        HANDLER.prefix = before
