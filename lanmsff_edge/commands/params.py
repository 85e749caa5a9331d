"""Click parameter types the commands share: a bad option value is refused while the command line is parsed (exit
code 2, click's usage error) instead of failing later, and without starting TensorFlow."""
import math
from pathlib import Path

import click

from lanmsff_edge.errors import UserError

SEED = click.IntRange(0, 2**32 - 1)  # what NumPy's and Python's global seeding accept


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses NaN and the infinities (float("nan") parses; no width or learning
    rate can be NaN)."""

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


MAX_WIDTH = 8.0  # 64× LANMSFF's parameters (~23 M): beyond it a "width" is a typo that would exhaust memory
WIDTH = FiniteFloatRange(0, MAX_WIDTH, min_open=True)


def bundled_models(formats=None):
    """``ferplus, ferplus:int8, ferplus:float``: the bundled model names, from what lanmsff_edge/pretrained holds;
    with ``formats`` (e.g. ``("float",)``), only those a command taking just these formats accepts."""
    from lanmsff_edge.artifacts import presets

    names = presets.bundled_names()
    if formats is not None:
        bare = {name.partition(":")[0] for name in names if name.partition(":")[2] in formats}
        names = [name for name in names if (name.partition(":")[2] in formats if ":" in name else name in bare)]
    return ", ".join(names) or "none installed"


def model_help(what, note="", formats=None):
    """A ``--model`` help: ``what`` the command reads, the bundled names that are installed (in ``formats``, when
    the command takes only those), then ``note``."""
    return f"{what}, or a bundled model: {bundled_models(formats)}. {note}".strip()


class ModelPath(click.ParamType):
    """A ``--model`` value: a bundled model's name (``ferplus``, ``ferplus:int8``) or a file or folder that exists.
    A bundled name whose file is not installed, or whose format the command does not take (``formats``), is
    refused here; which kind of file a path is, and whether it loads, is for the command to find out."""

    name = "model"

    def __init__(self, formats=None):
        self.formats = None if formats is None else tuple(formats)

    def convert(self, value, param, ctx):
        from lanmsff_edge.artifacts import presets

        if not str(value).strip():
            self.fail("an empty value: give a model file, a run folder or a bundled name", param, ctx)
        if presets.is_bundled_name(value):
            name, _, fmt = str(value).partition(":")
            if fmt and self.formats is not None and fmt not in self.formats:
                self.fail(f"{value}: this command takes a {' or '.join(self.formats)} model (bundled: "
                          f"{bundled_models(self.formats)})", param, ctx)
            if value not in presets.bundled_names():  # not installed, or an unknown format
                try:
                    presets.require(name, fmt or "float")  # its error: what is bundled, how to make this one
                except UserError as error:
                    self.fail(str(error), param, ctx)
            return value
        try:
            Path(value).stat()
        except FileNotFoundError:
            self.fail(f"model file not found: {value}", param, ctx)
        except OSError as error:  # a symlink loop, a file used as a folder, no permission
            self.fail(f"{value}: {error.strerror}", param, ctx)
        _refuse_special(self, value, param, ctx)
        return value


def _refuse_special(param_type, value, param, ctx):
    """A FIFO or device given as a file would block or never end: refused while parsing."""
    from lanmsff_edge.userfiles import special_kind

    try:
        kind = special_kind(Path(value).stat().st_mode)
    except OSError:
        return
    if kind is not None:
        param_type.fail(f"{value} is {kind}, not a regular file", param, ctx)


class InputPath(click.Path):
    """A file or folder the command reads (``--data``, a photo, a label list): refused at parse time when it is
    empty, missing (unless ``exists=False``: the command reports those one by one) or a FIFO/device. The
    ``collisions`` check keeps every output off it."""

    def __init__(self, exists=True, **kwargs):
        super().__init__(exists=exists, **kwargs)

    def convert(self, value, param, ctx):
        if not str(value).strip():
            self.fail("an empty value: give a path", param, ctx)
        value = super().convert(value, param, ctx)
        _refuse_special(self, value, param, ctx)
        return value


class OutputPath(click.Path):
    """A file the command writes. ``companions(path, params)`` lists the files written beside it (a report, a
    calibration record), which the ``collisions`` check also keeps off the inputs and the other outputs."""

    def __init__(self, companions=None, **kwargs):
        super().__init__(**kwargs)
        self.companions = companions or (lambda path, params: [])

    def convert(self, value, param, ctx):
        if not str(value).strip():
            self.fail("an empty value: give a path", param, ctx)
        return super().convert(value, param, ctx)


class CommaChoice(click.ParamType):
    """A comma-separated subset of ``choices`` (``cpu,gpu``), returned as a tuple in the order given."""

    name = "list"

    def __init__(self, choices):
        self.choices = tuple(choices)

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        items = tuple(item.strip() for item in str(value).split(",") if item.strip())
        unknown = [item for item in items if item not in self.choices]
        if unknown or not items:
            self.fail(f"{value!r}: choose from {', '.join(self.choices)} (comma-separated)", param, ctx)
        return items


def detector_options(command):
    """``--detector``, ``--min-face`` and ``--min-face-score`` (or ``--min-score``): which face detector and its
    knobs (predict, gradcam)."""
    from lanmsff_edge.faces import DETECTORS, MIN_FACE, MIN_FACE_SCORE

    options = [
        click.option("--detector", type=click.Choice(DETECTORS), default=DETECTORS[0], show_default=True,
                     help="Face detector: blazeface (MediaPipe BlazeFace on LiteRT, finds turned faces) or haar "
                          "(OpenCV's frontal cascade)."),
        click.option("--min-face", type=click.IntRange(8, None), default=MIN_FACE, show_default=True,
                     help="Smallest face side, in photo pixels."),
        click.option("--min-face-score", "--min-score", "min_score",
                     type=FiniteFloatRange(0, 1, min_open=True, max_open=True),
                     help=f"Faces BlazeFace scores lower are dropped (lower finds more, and more false faces: a "
                          f"turned photo's collar or visor) [default: {MIN_FACE_SCORE}]."),
    ]
    for option in reversed(options):
        command = option(command)
    return command
