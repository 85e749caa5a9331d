"""One check for every command, run before any work: no output may be an input (the model evaluated, the photo
classified, a data set's file, a run's config.json) or another output (``--json`` and ``--markdown`` naming one
file, a quantize report landing on a file the run owns).

Options say what they are through their click type (``params.InputPath`` / ``ModelPath`` read, ``OutputPath``
writes, with the companion files it implies); ``guard`` wraps a command's callback with ``check``. Paths are
compared after resolving links and ``..``, and by inode when both exist (a hard link is the same file).
"""
import functools
import os
from pathlib import Path

import click


def guard(command):
    """Make ``command`` refuse colliding paths (exit 2, click's usage error) before its callback runs."""
    if getattr(command, "_collisions_guarded", False) or command.callback is None:
        return command
    callback = command.callback

    @functools.wraps(callback)
    def checked(*args, **kwargs):
        check(click.get_current_context())
        return callback(*args, **kwargs)

    command.callback = checked
    command._collisions_guarded = True
    return command


def check(ctx):
    from lanmsff_edge.commands.params import InputPath, ModelPath, OutputPath

    reads, writes = [], []
    for param in ctx.command.params:
        values = ctx.params.get(param.name)
        if values is None:
            continue
        values = values if isinstance(values, (tuple, list)) else (values,)
        label = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
        for value in values:
            if value in (None, ""):
                continue
            if isinstance(param.type, ModelPath):
                reads += [(label, path, role, sidecar) for path, role, sidecar in _model_files(value, label)]
            elif isinstance(param.type, InputPath):
                reads.append((label, Path(value), f"the {label} input {value}", False))
            elif isinstance(param.type, OutputPath):
                writes.append((f"{label} {value}", Path(value), False))
                writes += [(f"{label} {value} (which also writes {path})", path, True)
                           for path in param.type.companions(Path(value), ctx.params)]
    for index, (label, path, implied) in enumerate(writes):
        for read_label, read, role, sidecar in reads:
            if sidecar and implied:  # quantize's OUT.json beside m.keras: its own report of last time, rewritten
                continue
            if _same(path, read) or _inside_existing(path, read, read_label):
                inside = "" if _same(path, read) else f" (a file inside it: {path})"
                raise click.UsageError(f"{label} would overwrite {role}{inside}; write it somewhere else", ctx)
        for other_label, other, _ in writes[:index]:
            if _same(path, other):
                raise click.UsageError(f"{other_label} and {label} name the same file ({path}); give each its own",
                                       ctx)


def _model_files(value, label):
    """(path, what it is, whether it is a sidecar) for the files a ``--model`` value stands for: the file itself,
    its existing sidecars (kept off explicit outputs only), and the run folder's own files."""
    from lanmsff_edge.artifacts import presets, run_folder

    if presets.is_bundled_name(value):
        return []
    path = Path(value)
    files = [(path, f"the {label} model {value}", False)]
    if path.is_file():  # an existing sidecar (labels, quantize's report); a new one is nobody's yet
        files += [(sidecar, f"{sidecar}, the sidecar (labels, report) of the {label} model", True)
                  for sidecar in (path.with_suffix(".json"), path.with_name(path.name + ".json"))
                  if sidecar.is_file()]
    folder = path if path.is_dir() else path.parent
    if (folder / run_folder.CONFIG_NAME).is_file():
        files += [(folder / name, f"{folder / name}, a file of the training run the {label} model belongs to",
                   False) for name in run_folder.RUN_FILES]
    return files


def _same(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        first, second = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino) and not os.path.isdir(a)


def _inside_existing(path, folder, label):
    """An output replacing an existing file inside an input folder given as data (``--data DIR``)."""
    if label != "--data" or not os.path.isdir(folder) or not os.path.lexists(path):
        return False
    root = os.path.realpath(folder)
    return os.path.realpath(path).startswith(root + os.sep)
