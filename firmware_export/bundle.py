"""``export_firmware``: an int8 ``.tflite`` → a TensorFlow Lite Micro bundle (sources, settings, golden vector,
example, README, manifest), verified against the ``tflite_micro`` interpreter and written atomically.

Order of work: everything that can fail on the user's input (file, model, ops, output directory) is checked
before anything is measured. A new bundle is rendered into a staging folder beside ``out`` and renamed into
place; a re-export writes its files into the earlier bundle as one ``atomic.artifact_group``, so ``out`` holds
either the previous bundle or the complete new one, never half of one.

The folder is the user's as much as the tool's: ``bundle.json`` lists every file the tool wrote with its SHA-256,
and only those, unchanged, are the tool's to replace or remove. Anything else (the user's ``my_camera.cc``, notes,
a ``.git``) is left alone; an edited platform hook (``image_provider.cc``…) is kept instead of the new default;
an edited or foreign file where a generated file must go is refused, by name, before anything is written.
"""
import contextlib
import datetime
import hashlib
import json
import math
import os
import re
import shutil
import string
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from lanmsff_edge import __version__ as TOOL_VERSION
from lanmsff_edge import atomic, boards, userfiles
from lanmsff_edge.artifacts.labels import resolve_labels
from lanmsff_edge.errors import UserError
from lanmsff_edge.firmware_export import csource
from lanmsff_edge.firmware_export import tflm as tflm_tree
from lanmsff_edge.firmware_export.csource import C_TYPES
from lanmsff_edge.firmware_export.golden import golden_face, quantize_input
from lanmsff_edge.firmware_export.tflm import DEFAULT_ROUNDING
from lanmsff_edge.log import get_logger
from lanmsff_edge.memory.fit import parse_margin, round_up
from lanmsff_edge.runtimes import micro
from lanmsff_edge.tflite_graph import read_tflite

LOGGER = get_logger(__name__)
LAYOUTS = ("plain", "cmake", "arduino")
DEFAULT_MARGIN = "10%"
# Two kinds of bundle. A face model (one N×64×64×1 input, one N×C output: runtimes.base.is_face_model) gets the
# face preprocessing in C and the expression hooks; any other full-integer model gets its input tensor as it is
# (a seeded golden tensor or --golden-input) and generic hooks.
KINDS = ("face", "tensor")
HOOKS = {"face": ("image_provider", "expression_responder"), "tensor": ("input_provider", "output_handler")}
GOLDEN_SEED = 0


class _Template(string.Template):
    delimiter = "@@"


def render(template_name, **values):
    text = resources.files(__package__).joinpath("templates", *template_name.split("/")).read_text(encoding="utf-8")
    try:
        return _Template(text).substitute(values)
    except KeyError as missing:  # a template/code mismatch, not a user error
        raise RuntimeError(f"template {template_name} needs {missing}") from None


@dataclass
class Bundle:
    """What ``export_firmware`` wrote and measured (also serialised as ``bundle.json``)."""

    out: Path
    name: str
    layout: str
    files: dict
    model_bytes: int
    arena_minimum: int
    arena_margin: int
    arena_size: int
    ops: list
    resolver_methods: list
    labels: tuple
    golden_output: list
    golden_top: int
    fit: list = field(default_factory=list)
    manifest: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Facts:
    """Everything the templates and ``bundle.json`` say about one bundle, gathered once by ``export_firmware``."""

    name: str
    layout: str
    graph: object              # tflite_graph of the model as bundled (patched / undilated if asked)
    data: bytes                # that model's flatbuffer
    model_path: Path           # the file it came from
    labels: tuple
    label_source: str
    arena_minimum: int         # bytes, measured
    arena_margin: int          # bytes on top of the minimum
    arena_size: int            # bytes declared (minimum + margin, rounded up)
    margin_option: str         # the margin as given ("10%", or bytes)
    methods: list              # op resolver methods
    image: np.ndarray          # golden face, 8-bit gray (None for a tensor bundle)
    golden_input: np.ndarray   # the model input of the self-test
    golden_output: np.ndarray  # TFLM's output for it
    golden_top: int
    probabilities: np.ndarray  # dequantized golden output
    golden_description: str
    fit: list                  # boards.fit_table verdicts
    latency: dict              # board key -> boards.estimate_latency
    rounding: str              # tflm.ROUNDINGS: what the golden was computed with, what the build must define
    kind: str = "face"         # KINDS


def bundle_kind(graph):
    """``"face"`` for a model that takes one 64×64×1 face and gives one class vector, else ``"tensor"``."""
    from lanmsff_edge.runtimes.base import is_face_model

    return "face" if is_face_model([tuple(t.shape) for t in graph.inputs],
                                   [tuple(t.shape) for t in graph.outputs]) else "tensor"


def _validate_model(graph, source, kind="face"):
    allowed = ("int8",) if kind == "face" else tuple(C_TYPES)
    problems = [f"input '{t.name}' is {t.dtype}" for t in graph.inputs if t.dtype not in allowed]
    problems += [f"output '{t.name}' is {t.dtype}" for t in graph.outputs if t.dtype not in allowed]
    floats = graph.non_integer_tensors + graph.float_constants
    if floats:
        example = floats[0].name if len(floats[0].name) <= 60 else floats[0].name[:57] + "..."
        problems.append(f"{len(floats)} tensor(s) are {floats[0].dtype}, e.g. '{example}'")
    if problems:
        raise UserError(f"{source} is not a full-integer model ({'; '.join(problems[:3])}): a bundle's input and "
                        f"output must be {' or '.join(allowed)}; make one with `lanmsff-edge quantize` (int8 PTQ or "
                        "QAT, int8 input and output)")
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UserError(f"{source} has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; the bundle's "
                        "example and golden self-test feed one input tensor and check one output tensor")


def _validate_shapes(graph, source):
    x, y = graph.inputs[0], graph.outputs[0]
    for role, tensor in (("input", x), ("output", y)):
        if any(int(d) < 1 for d in tensor.shape):
            raise UserError(f"{source}: {role} '{tensor.name}' has shape {list(tensor.shape)}; TFLite Micro needs "
                            "a static shape (export with a fixed batch of 1)")
    if not x.quantized or not y.quantized or not (0 < x.scale < math.inf and 0 < y.scale < math.inf):
        raise UserError(f"{source}: input/output tensors carry no per-tensor quantization scale (or a NaN, "
                        "infinite or non-positive one)")


MANIFEST = "bundle.json"
FORMAT = "lanmsff-edge firmware bundle"
# Generated files meant to be edited (the application's hooks): an edited one is kept on re-export.
USER_HOOKS = ("image_provider_h", "image_provider_cc", "expression_responder_h", "expression_responder_cc")
_LEGACY_STAGING = re.compile(r"^\.(?P<name>.+)\.(old-[0-9a-f]{8}|[a-z0-9_]{8}\.partial)$")  # before the manifest


@dataclass(frozen=True)
class _Folder:
    """What ``out`` holds before the export: the files the tool wrote there (path → SHA-256, from the earlier
    bundle.json) and every file now present (path → SHA-256 of its bytes if it is one of those, else None)."""

    owned: dict
    present: dict

    def foreign(self):
        """Files the tool did not write, or that were changed since: the user's."""
        return {path for path, digest in self.present.items() if digest is None or self.owned.get(path) != digest}


def _check_out_dir(out):
    """Refuse early what would fail late: a file in the way, a non-empty directory that is not a bundle, an
    unwritable parent. Finishes what a killed earlier export left half done. Returns a ``_Folder``."""
    if out.parent.is_dir():
        _recover_legacy(out)
        atomic.tidy(out.parent)  # finishes a swap a killed export left, removes its staging folders
        atomic.settle(out.parent)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    parent = out.parent
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"--out {out}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"--out {out}: {existing} is not writable")
    if not out.is_dir():
        return _Folder({}, {})
    atomic.settle(out)
    if not any(out.iterdir()):
        return _Folder({}, {})
    owned = _owned_files(out)
    if owned is None:
        raise UserError(f"--out {out} is a non-empty directory without a bundle.json written by lanmsff-edge; give "
                        "a new or empty directory, or an earlier bundle (whose files the tool can tell from yours)")
    return _Folder(owned, _present_files(out, owned))


def _present_files(out, owned):
    """relative path → SHA-256 of every file under ``out`` that the tool wrote (None for the others: a user's
    build folder is listed, not read; symlinks are never followed and never the tool's)."""
    present = {}
    for folder, folders, files in os.walk(out):
        folders[:] = [f for f in folders if not os.path.islink(os.path.join(folder, f))]
        for name in files + [f for f in os.listdir(folder) if os.path.islink(os.path.join(folder, f))
                             and f not in files]:
            path = Path(folder) / name
            relative = path.relative_to(out).as_posix()
            ours = relative in owned and path.is_file() and not path.is_symlink()
            present[relative] = _sha256_file(path) if ours else None
    return present


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _owned_files(out):
    """path → SHA-256 of what the earlier export wrote (bundle.json itself included), or None when ``out`` holds no
    bundle.json of this tool."""
    try:
        manifest = json.loads(userfiles.read_bytes(out / MANIFEST, limit=64 << 20))
    except (OSError, UserError, ValueError):
        return None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or manifest.get("format") != FORMAT:
        return None
    owned = {path: entry.get("sha256") for path, entry in files.items()
             if isinstance(entry, dict) and isinstance(path, str)}
    owned[MANIFEST] = _sha256_file(out / MANIFEST)
    return owned


def _recover_legacy(out):
    """Staging folders of the pre-manifest export (``.NAME.old-XXXXXXXX`` / ``.NAME.XXXXXXXX.partial``), left by a
    kill between its two renames: the old bundle is put back when ``out`` is missing, the rest removed."""
    try:
        names = [entry.name for entry in os.scandir(out.parent) if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for name in sorted(names):
        match = _LEGACY_STAGING.match(name)
        if not match or match.group("name") != out.name:
            continue
        with contextlib.suppress(OSError):
            if name.endswith(".partial") or os.path.lexists(out):
                shutil.rmtree(out.parent / name)
            else:
                os.replace(out.parent / name, out)


def _plan_writes(out, folder, contents, paths):
    """(files to write, files of ours to remove, files of the user kept in place of a generated one); refuses,
    naming them, files of the user a generated file would replace."""
    foreign = folder.foreign()
    hooks = {paths[key] for key in USER_HOOKS if key in paths}
    kept = sorted(path for path in foreign if path in contents and path in hooks)
    clashes = sorted(path for path in foreign if path in contents and path not in hooks)
    if clashes:
        raise UserError(f"--out {out}: {', '.join(clashes)} {'was' if len(clashes) == 1 else 'were'} not written by "
                        "lanmsff-edge or changed since; the new bundle would replace "
                        f"{'it' if len(clashes) == 1 else 'them'}: move them out of the folder (your own code "
                        "belongs in files of your own, which a re-export keeps) or give another --out")
    writes = {path: body for path, body in contents.items() if path not in kept}
    stale = sorted(path for path, digest in folder.present.items()
                   if path not in contents and path not in foreign)
    return writes, stale, kept


def _layout_paths(name, layout, kind="face"):
    """Logical file → path inside the bundle."""
    hooks = HOOKS[kind]
    common = {
        "model_data_cc": f"{name}_model_data.cc",
        "model_data_h": f"{name}_model_data.h",
        "op_resolver_h": f"{name}_op_resolver.h",
        "model_settings_h": f"{name}_model_settings.h",
        **({"preprocess_h": f"{name}_preprocess.h"} if kind == "face" else {}),
        "golden_h": f"{name}_golden.h",
        **{f"{hook}_{suffix}": f"{hook}.{suffix}" for hook in hooks for suffix in ("h", "cc")},
        "main_functions_cc": "main_functions.cc",
        "main_functions_h": "main_functions.h",
        "main_cc": "main.cc",
        "readme": "README.md",
    }
    if layout == "cmake":
        common["cmakelists"] = "CMakeLists.txt"
    if layout == "arduino":
        paths = {key: f"src/{value}" for key, value in common.items()
                 if key in ("model_data_cc", "model_data_h", "op_resolver_h", "model_settings_h", "preprocess_h")}
        paths["library_h"] = f"src/{name}.h"
        paths["golden_h"] = f"examples/{name}/{name}_golden.h"
        # The hooks belong to the application, so they sit with the sketch (.cpp: what a sketch folder compiles).
        for hook in hooks:
            paths[f"{hook}_h"] = f"examples/{name}/{hook}.h"
            paths[f"{hook}_cc"] = f"examples/{name}/{hook}.cpp"
        paths["sketch"] = f"examples/{name}/{name}.ino"
        paths["library_properties"] = "library.properties"
        paths["readme"] = "README.md"
        return paths
    return common


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def export_firmware(model, out, name="lanmsff", layout="plain", arena_margin=None, labels=None,
                    max_arena=None, board=None, patches=None, verify=None, tflm=None, undilate=False,
                    rounding=None, golden_input=None):
    """Write a TFLite Micro bundle for the int8 model at ``model`` (a path, or a bundled name such as ``ferplus``)
    into the directory ``out``; return a ``Bundle``.

    ``max_arena`` (bytes or a size string) and/or ``board`` (its largest SRAM block, less the application's
    reserve) set an arena budget: the model is then run in the fewest row patches whose measured arena fits
    (``lanmsff_edge.memory``); ``patches`` forces a count. ``verify`` (a core name, e.g. ``cortex-m7``) builds
    the bundle with real TFLM + CMSIS-NN from the tree ``tflm`` and runs its golden self-test under QEMU before
    anything is written; a mismatch is an error. ``undilate`` rewrites dilated depthwise convolutions into the
    form CMSIS-NN's fast kernels take (``lanmsff_edge.memory.dilation``; same integers, fewer instructions).
    ``rounding`` (``tflm.ROUNDINGS``) is the requantization the firmware is to be built with: the golden output
    is computed with it (``single``: by TFLM built from the tree ``tflm`` for this computer, ``firmware_export.host``;
    ``double``: by the tflite-micro package), the bundle's build files define its switches, and ``bundle.json``
    records it, so every build of the bundle (``emulate``, ``--verify``) uses it. None: ``single`` when a TFLM
    tree is at hand (``tflm`` or ``$TFLM_DIR``), else ``double`` with a note (a bundle must not need a TFLM tree).

    Any full-integer model with one input and one output is taken (``bundle_kind``): a face model gets the face
    preprocessing and the expression hooks; any other gets its input tensor as it is (int8 or int16), generic
    hooks, and as its golden input ``golden_input`` (a ``.npy`` file: integers in the input's dtype, or floats,
    quantized) or else seeded random integers. Labels then come only from the model or ``labels``.

    Raises ``UserError`` (nothing written) for: a missing/non-tflite file, a model that is not full-integer or has
    dynamic shapes or several inputs/outputs, an op TFLite Micro lacks, an unusable ``golden_input``, a bad
    name/layout/margin/labels, an unusable ``out``, a budget no patch count reaches, a failed verification.
    """
    from lanmsff_edge.artifacts import presets

    model_path = Path(presets.resolve(model, "int8") or model)
    out = Path(out).expanduser().absolute()
    if not csource.check_identifier(name):
        raise UserError(f"--name {name!r} must be a C identifier (letters, digits, _; not starting with a digit)")
    if layout not in LAYOUTS:
        raise UserError(f"--layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    graph = read_tflite(model_path)
    data = userfiles.read_bytes(model_path, "model", what="model")
    source = str(model_path)
    kind = bundle_kind(graph)
    _validate_model(graph, source, kind)
    micro.check_supported(graph, source)
    _validate_shapes(graph, source)
    folder = _check_out_dir(out)
    label_names, label_source = _labels(graph, kind, model_path, data, labels)
    if golden_input is not None and kind == "face":
        raise UserError("--golden-input is for models other than 64×64 face classifiers: a face model's golden "
                        "input is the bundled face through the C preprocessing the bundle ships")
    golden = _golden_tensor(graph.inputs[0], golden_input) if kind == "tensor" else None

    if arena_margin is not None:
        parse_margin(arena_margin, 1)  # a malformed margin fails before minutes of measuring
    rounding = _default_rounding(tflm) if rounding is None else tflm_tree.check_rounding(rounding)
    core = tree = None
    if verify:
        from lanmsff_edge.firmware_export import cores

        core = cores.get_core(verify)
        tree = tflm_tree.find_tree(tflm)
        tflm_tree.require_tools()
    if rounding == "single" and tree is None:
        try:
            tree = tflm_tree.find_tree(tflm)
        except UserError as error:
            raise UserError(f"--rounding single computes the golden vector with TFLite Micro built "
                            f"from a TFLM tree: {error}; or export with --rounding double (TFLM's stock "
                            f"arithmetic, computed with the tflite-micro package)") from None
    source_data, undilated = data, 0
    if undilate:
        from lanmsff_edge.memory import dilation

        data, undilated = dilation.undilate(data)
        graph = read_tflite(data)
    graph, data, patching = _patched(graph, data, source, max_arena, board, patches, arena_margin)
    patching["undilated_convolutions"] = undilated

    # Measure: the smallest arena that allocates, then the margin on top (within the budget, if there is one:
    # the fit already proved that the budget leaves at least the fit's margin).
    minimum = micro.find_arena_size(data, source=source)
    arena_margin = arena_margin or DEFAULT_MARGIN
    margin = parse_margin(arena_margin, minimum)
    arena = round_up(minimum + margin)
    budget = patching.get("budget_bytes")
    if budget and arena > budget and patching.get("margin_chosen") is None:
        arena = budget // 16 * 16
        margin = arena - minimum
        arena_margin = str(margin)  # what the budget leaves, stated as bytes
    if arena > micro.MAX_ARENA:  # the header declares it as an int: keep it far from any wrap-around
        raise UserError(f"--arena-margin {arena_margin}: an arena of {arena:,} bytes is more than the "
                        f"{micro.MAX_ARENA:,} bytes any microcontroller (and TFLite Micro's host check) can have")

    # Golden vector, produced by TFLM with the arena the bundle declares (so it is proven to be enough).
    x, y = graph.inputs[0], graph.outputs[0]
    if kind == "face":
        image, golden_description = golden_face()
        golden_input = quantize_input(image, x.scale, x.zero_point)
    else:
        image, (golden_input, golden_description) = None, golden
    golden_output = _golden_run(data, golden_input, rounding, tree, arena, source)
    golden_top = int(np.argmax(golden_output))
    patching.pop("original", None)
    if data != source_data:  # patched and/or undilated: the same integers, or nothing is written
        _check_bit_identical(_golden_run(source_data, golden_input, rounding, tree), golden_output)
    probabilities = (golden_output.astype(np.float32) - y.zero_point) * y.scale

    methods = micro.resolver_methods(graph)
    latency = {board.key: boards.estimate_latency(graph.macs, board) for board in boards.BOARDS}
    paths = _layout_paths(name, layout, kind)

    def assemble(arena, margin, sized_for):
        """The bundle's files and manifest for an arena of ``arena`` bytes (``margin`` over the host minimum)."""
        fit = boards.fit_table(len(data), arena)
        facts = _Facts(name=name, layout=layout, graph=graph, data=data, model_path=model_path, labels=label_names,
                       label_source=label_source, arena_minimum=minimum, arena_margin=margin, arena_size=arena,
                       margin_option=arena_margin, methods=methods, image=image, golden_input=golden_input,
                       golden_output=golden_output, golden_top=golden_top, probabilities=probabilities,
                       golden_description=golden_description, fit=fit, latency=latency, rounding=rounding,
                       kind=kind)
        values = _values(facts)
        values["patch_notes"] = _patch_notes(patching)
        contents = _render_all(paths, values, layout, kind)
        manifest = _manifest(facts, contents)
        manifest["arena"]["sized_for"] = sized_for
        manifest["patches"] = patching
        _, _, kept = _plan_writes(out, folder, {**contents, MANIFEST: b""}, paths)  # refuse clashes before verifying
        for path in kept:  # the user's edited hook stays; the manifest lists only what the tool wrote
            manifest["files"].pop(path, None)
        if kept:
            manifest["kept_user_files"] = kept
        contents[MANIFEST] = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
        return fit, contents, manifest

    fit, contents, manifest = assemble(arena, margin, "the host (tflite-micro's 64-bit interpreter)")
    if core is not None:
        result, core_arena = _verify_on_core(contents, core, tree, arena)
        if core_arena is not None:  # the core needs more than the host: the arena is sized on the core's figure
            arena = round_up(core_arena + parse_margin(arena_margin, core_arena))
            if budget and arena > budget:
                if core_arena > budget:
                    raise UserError(f"--verify {core.name}: the model needs {core_arena:,} bytes of arena on this "
                                    f"core (its optimized kernels' scratch buffers; the host measured {minimum:,}), "
                                    f"more than the {budget:,}-byte budget: allow more (--max-arena), or more "
                                    "patches (--patches); nothing was written")
                arena = budget // 16 * 16
            margin = arena - minimum
            fit, contents, manifest = assemble(arena, margin, f"{core.name} (emulated, TFLM + CMSIS-NN: "
                                                              f"{core_arena:,} bytes used, more than the host's "
                                                              f"{minimum:,})")
            result, _ = _verify_on_core(contents, core, tree, arena, probe=False)
        manifest["verified"] = result
        contents[MANIFEST] = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    writes, stale, _ = _plan_writes(out, folder, contents, paths)
    _write_directory(out, writes, stale)
    return Bundle(out=out, name=name, layout=layout, files={path: len(body) for path, body in contents.items()},
                  model_bytes=len(data), arena_minimum=minimum, arena_margin=margin, arena_size=arena,
                  ops=graph.builtin_ops, resolver_methods=methods, labels=label_names,
                  golden_output=golden_output.tolist(), golden_top=golden_top, fit=fit, manifest=manifest)


def _patched(graph, data, source, max_arena, board, count, margin):
    """The model to bundle: as given, or run in row patches for an arena budget. Returns (graph, bytes, the
    ``patches`` entry of bundle.json, with the original bytes under "original" for the identity check)."""
    from lanmsff_edge.memory import fit

    budget = fit.parse_size(max_arena) if max_arena is not None else None
    if board is not None:
        chosen = boards.get_board(board)
        on_board = min(chosen.ram_block, chosen.ram - boards.DEFAULT_RAM_RESERVE)
        budget = on_board if budget is None else min(budget, on_board)
    if budget is None and count in (None, 1):
        return graph, data, {"patches": 1, "original": data}
    if count is not None:
        chosen_variant, tried = fit.variant(data, int(count)), []
    else:
        chosen_variant, tried = fit.fit(data, budget, margin)  # margin None: fit.BUDGET_MARGIN
    base_macs = graph.macs
    entry = {**chosen_variant.as_dict(base_macs), "budget_bytes": budget, "board": board, "margin_chosen": margin,
             "unpatched_arena_bytes": (tried[0].arena if tried else micro.find_arena_size(data)),
             "tried": [v.as_dict(base_macs) for v in tried], "source_model_sha256": _sha256(data),
             "method": "row stripes of the peak regions with halos (lanmsff_edge.memory), op order hoisting, "
                       "offline memory plan in the model's OfflineMemoryAllocation metadata",
             "original": data}
    entry.pop("model_bytes", None)
    if chosen_variant.data == data:
        return graph, data, entry
    return read_tflite(chosen_variant.data), chosen_variant.data, entry


def _patch_notes(patching):
    notes = ""
    if patching.get("undilated_convolutions"):
        notes = (f"\n**Dilated convolutions rewritten.** {patching['undilated_convolutions']} dilated depthwise "
                 "convolution(s) run as PAD → SPACE_TO_DEPTH → depthwise (dilation 1) → DEPTH_TO_SPACE, the form "
                 "CMSIS-NN's fast depthwise kernels take; the integers are the same.\n")
    if patching.get("patches", 1) == 1:
        if patching.get("planned_activation_bytes"):
            notes = (f"\n**Offline memory plan.** The model array is the original model with its ops reordered "
                     f"and an offline memory plan in its metadata (no patches): the arena falls from "
                     f"{patching['unpatched_arena_bytes']:,} to {patching['arena_bytes']:,} bytes (host "
                     "measurement); the outputs are bit-identical.\n") + notes
        return notes
    budget = f" to fit a {patching['budget_bytes']:,}-byte budget" if patching.get("budget_bytes") else ""
    return (f"\n**Patch-based execution.** The model array is the original model rewritten{budget}: "
            f"{', '.join(patching['regions'])} run in {patching['patches']} row stripes with halos, one after the "
            f"other, with an offline memory plan in the model's metadata. The arena falls from "
            f"{patching['unpatched_arena_bytes']:,} to {patching['arena_bytes']:,} bytes (host measurement) for "
            f"{patching['extra_macs'] * 100:.1f} % more multiply-accumulates (the halos, recomputed). The "
            "outputs are bit-identical to the unpatched model's (checked on the golden face when the bundle was "
            "made; the rewrite keeps every weight and quantization parameter).\n") + notes


def _default_rounding(tflm):
    """``DEFAULT_ROUNDING`` (single: phone-board parity) when a TFLM tree is given or in ``$TFLM_DIR``, since its
    golden vector needs TFLM built from a tree; else ``double``, said in a note."""
    if tflm or os.environ.get("TFLM_DIR"):
        return DEFAULT_ROUNDING
    LOGGER.info("note: --rounding double (TFLM's stock arithmetic): no TFLM tree (--tflm or TFLM_DIR) to compute a "
                "single-rounding golden vector with; give one for the rounding a phone's XNNPACK uses "
                "(docs/parity.md)")
    return "double"


def _labels(graph, kind, model_path, data, option):
    """``(labels tuple, source)``: a face model's as ``resolve_labels`` finds them (the data set's by count at
    worst); any other model's only from the model, a file beside it or ``option`` (``()`` when none names them)."""
    y = graph.outputs[0]
    if kind == "face":
        return resolve_labels(model_path, int(y.shape[1]), model_bytes=data, option=option)
    if len(y.shape) == 2 and y.shape[0] == 1:
        found, source = resolve_labels(model_path, int(y.shape[1]), model_bytes=data, option=option, guess=False)
        return tuple(found or ()), source
    if option:
        raise UserError(f"--labels: the output {list(y.shape)} is not one (1, classes) vector to name")
    return (), f"none: the output {list(y.shape)} is not one (1, classes) vector"


def _golden_tensor(tensor, path):
    """``(golden input in the tensor's dtype and shape, description)``: the ``.npy`` at ``path`` (integers of the
    dtype as they are, floats quantized by the tensor's scale and zero point), else seeded random integers over
    the dtype's range (a bit-exactness check needs no meaningful input, only a deterministic one)."""
    from lanmsff_edge.runtimes.quantization import RULE, quantize, random_integers

    dtype, shape = np.dtype(tensor.dtype), tuple(int(d) for d in tensor.shape)
    info = np.iinfo(dtype)
    if path is None:
        return random_integers(dtype, shape, GOLDEN_SEED), (
            f"seeded random {tensor.dtype} values over the whole range (numpy default_rng({GOLDEN_SEED}).integers, "
            f"shape {list(shape)})")
    path = Path(path)
    raw = userfiles.read_bytes(path, "model", what="--golden-input")
    try:
        import io

        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise UserError(f"--golden-input {path}: not a NumPy .npy array ({error})") from None
    if not isinstance(array, np.ndarray) or array.size != int(np.prod(shape)):
        raise UserError(f"--golden-input {path}: {getattr(array, 'size', 0)} values, the input "
                        f"'{tensor.name}' {list(shape)} takes {int(np.prod(shape))}")
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < info.min or array.max() > info.max:
            raise UserError(f"--golden-input {path}: integers outside {tensor.dtype}'s range "
                            f"[{info.min}, {info.max}] (give floats to have them quantized)")
        return array.astype(dtype).reshape(shape), f"{path.name} ({array.dtype} values as they are)"
    if not np.issubdtype(array.dtype, np.floating) or not np.all(np.isfinite(array)):
        raise UserError(f"--golden-input {path}: needs finite numbers (integers in {tensor.dtype}, or floats)")
    return (quantize(array, tensor.scale, tensor.zero_point, dtype).reshape(shape),
            f"{path.name} (float values quantized: {RULE})")


def _golden_run(data, golden_input, rounding, tree, arena=None, source="the model"):
    """The output of ``data`` for ``golden_input`` under TFLM with ``rounding``, flat, in the output's dtype: the
    tflite-micro package (in a forked child, so a native abort is a one-line error naming ``source``) for double
    rounding, the host build of the tree for single."""
    graph = read_tflite(data)
    x = golden_input.reshape(graph.inputs[0].shape)
    dtype = np.dtype(graph.outputs[0].dtype)
    if rounding == "single":
        from lanmsff_edge.firmware_export.host import HostMicro

        runner = HostMicro(data, tree, rounding)
        try:
            return runner.invoke(x)[0].reshape(-1).astype(dtype)
        finally:
            runner.close()
    return micro.run_isolated(data, x, arena, source)[0].reshape(-1).astype(dtype)


def _check_bit_identical(reference, golden_output):
    """The patched model must compute the unpatched model's integers; a difference is a bug, never shipped."""
    if not np.array_equal(reference, golden_output):
        raise RuntimeError(f"internal error: the patched model's golden output {golden_output.tolist()} differs "
                           f"from the unpatched model's {reference.tolist()}")


_ARENA_CONSTANT = re.compile(rb"(TensorArenaSize = )(\d+);")
SETUP_FAILED = "setup() failed"


def _emulated(contents, core, tree, arena=None):
    """``contents`` built for ``core`` and run under QEMU (``emulate.Emulation``); ``arena``: the tensor arena
    the build declares instead of the bundle's own (a probe)."""
    from lanmsff_edge.firmware_export import emulate

    with tempfile.TemporaryDirectory(prefix="lanmsff-verify-") as staging:
        for relative, body in contents.items():
            if arena is not None and relative.endswith("_model_settings.h"):
                body = _ARENA_CONSTANT.sub(rb"\g<1>" + str(int(arena)).encode() + b";", body)
            target = Path(staging) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
        return emulate.emulate(staging, core, tree)


def _verify_on_core(contents, core, tree, arena, probe=True):
    """Build ``contents`` for ``core`` and run its self-test under QEMU: ``(figures for bundle.json, None)``. When
    the declared ``arena`` is too small on that core (CMSIS-NN's scratch buffers, largest on Helium cores) and
    ``probe``: ``(None, the bytes it used with a generous arena)``, for the caller to size the arena on the core."""
    try:
        result = _emulated(contents, core, tree)
    except UserError as error:
        if not probe or SETUP_FAILED not in str(error):
            raise
        # twice the host figure and 64 KB more; within the emulated machine's RAM (data, bss and stack share it)
        generous = min(round_up(2 * arena + 64 * 1024), micro.MAX_ARENA, core.ram.length * 3 // 4 // 16 * 16)
        LOGGER.info(f"the {arena:,}-byte arena measured on the host is too small on the emulated {core.name}: "
                    f"measuring what it uses there (with {generous:,} bytes)")
        used = _emulated(contents, core, tree, arena=generous).arena_used_bytes
        if not used:
            raise
        return None, used
    if not result.golden_ok:
        raise UserError(f"--verify {core.name}: the golden self-test FAILED on the emulated core: output "
                        f"{result.output} vs golden {result.golden_output} (max difference {result.max_diff_lsb} "
                        "steps); the bundle was not written")
    figures = result.as_dict()
    figures.pop("ops")
    return figures, None


def _golden_source(rounding):
    if rounding == "single":
        return "TFLite Micro built from the TFLM tree for the host, reference kernels, single rounding"
    return f"tflite_micro {micro.tflm_version()} host interpreter (reference kernels, double rounding)"


def _rounding_values(rounding):
    """Template text for the rounding: the CMake definitions and the README paragraph."""
    defines = tflm_tree.rounding_defines(rounding)
    if not defines:
        cmake = "# double rounding (TFLM's stock arithmetic): no rounding switch to define"
        notes = ("The golden output was computed with TFLM's stock double rounding (gemmlowp-style requantization; "
                 "the tflite-micro package): build TFLM as it comes, without `TFLITE_SINGLE_ROUNDING`. A phone "
                 "running this file with LiteRT's XNNPACK rounds once and can answer a few output steps apart.")
    else:
        cmake = ("# single rounding: the golden output was computed with it (bundle.json \"rounding\")\n"
                 f"target_compile_definitions(tflm PUBLIC {' '.join(defines)})")
        notes = ("**Single rounding.** The golden output was computed by TFLM built with single rounding, "
                 "the requantization LiteRT's XNNPACK uses on a phone: build TFLite Micro and CMSIS-NN with "
                 + " and ".join(f"`-D{d}`" for d in defines) + " (the CMake file here does; with TFLM's own "
                 "Makefile pass `ADDITIONAL_DEFINES=\"-DCMSIS_NN " + " ".join(f"-D{d}" for d in defines) +
                 "\"`). A stock (double-rounding) TFLM build answers up to a few steps apart and can fail the "
                 "byte-for-byte self-test; export with `--rounding double` for such a build.")
    return {"rounding_cmake": cmake, "rounding_notes": notes, "rounding": rounding}


def millions(count):
    """``12.3 M`` from 100,000 on, the exact count below (a few hundred MACs are not "0.0 M")."""
    return f"{count / 1e6:,.1f} M" if count >= 100_000 else f"{count:,}"


def _margin_text(arena_margin, margin):
    text = str(arena_margin).strip()
    return f"{text} ({margin} bytes)" if text.endswith("%") else f"{margin}-byte"


def _values(facts):
    """The template variables of every file of the bundle."""
    name, graph, data, labels = facts.name, facts.graph, facts.data, facts.labels
    fit, latency = facts.fit, facts.latency
    minimum, arena, methods, golden_top = facts.arena_minimum, facts.arena_size, facts.methods, facts.golden_top
    x, y = graph.inputs[0], graph.outputs[0]
    camel = csource.camel(name)
    sha = _sha256(data)
    fit_rows, fitting, not_fitting = [], [], []
    for verdict in fit:
        board = verdict.board
        estimate = latency[board.key]
        fit_rows.append(
            f"| {board.name} | {board.core} @ {board.clock_mhz} MHz | {board.flash // 1024:,} KB"
            f"{' (external)' if board.flash_external else ''} | {board.ram // 1024:,} KB "
            f"({board.ram_block // 1024:,} KB) "
            f"| **{verdict.verdict}**{': ' + verdict.reason if verdict.reason else ''} "
            f"| ~{estimate['ms']:,.0f} ms ({estimate['macs_per_cycle']:g} MAC/cycle) |")
        (fitting if verdict.fits else not_fitting).append(board.name)
    if fitting:
        summary = f"Fits on-chip: {', '.join(fitting)}."
    else:
        summary = "No board of the table holds this model in on-chip memory with this arena."
    with_psram = [v.board.name for v in fit if v.fits_with_psram]
    if with_psram:
        summary += f" With external PSRAM for the arena: {', '.join(with_psram)} (slower memory)."
    if not_fitting and fitting:
        summary += f" Does not fit: {', '.join(n for n in not_fitting if n not in with_psram) or 'none'}."
    macs_by_op = graph.macs_by_op
    values = dict(
        name=name, camel=camel, layout=facts.layout, tool_version=TOOL_VERSION,
        model_file=csource.comment_text(facts.model_path.name),
        model_sha256=sha, model_sha256_short=sha[:16], model_bytes=len(data), model_kb=f"{len(data) / 1024:,.1f}",
        schema_version=graph.schema_version,
        input_scale=csource.c_float(x.scale), input_zero_point=x.zero_point, input_scale_text=f"{x.scale:.9g}",
        output_scale=csource.c_float(y.scale), output_zero_point=y.zero_point, num_classes=len(labels),
        labels_source=csource.comment_text(facts.label_source),
        label_rows="\n".join(f"    {csource.c_string(label)}," for label in labels),
        labels_inline=csource.comment_text(", ".join(labels), limit=2000), arena_minimum=minimum, arena_size=arena,
        margin_text=_margin_text(facts.margin_option, facts.arena_margin), tflm_version=micro.tflm_version(),
        op_count=len(methods), resolver_calls="\n".join(
            f"  if (resolver.{method}() != kTfLiteOk) return kTfLiteError;" for method in methods),
        golden_description=csource.comment_text(facts.golden_description), golden_top_index=golden_top,
        golden_top_label=csource.comment_text(_top_label(labels, golden_top)),
        golden_top_probability=f"{facts.probabilities[golden_top]:.3f}",
        golden_computed_with=_golden_source(facts.rounding),
        golden_input_rows=csource.int_rows(facts.golden_input.reshape(-1), per_line=16),
        golden_output_rows=csource.int_rows(facts.golden_output.reshape(-1), per_line=16),
        golden_output_inline=", ".join(str(int(v)) for v in facts.golden_output),
        model_rows=csource.byte_rows(data), code_flash=boards.DEFAULT_CODE_FLASH,
        ram_reserve=boards.DEFAULT_RAM_RESERVE,
        macs_m=f"{graph.macs / 1e6:,.1f}",
        mac_ops=", ".join(f"{op} {millions(macs)}" for op, macs in macs_by_op.items()) or "none",
        model_bytes_text=f"{len(data):,}", arena_size_text=f"{arena:,}", arena_minimum_text=f"{minimum:,}",
        code_flash_text=f"{boards.DEFAULT_CODE_FLASH:,}", ram_reserve_text=f"{boards.DEFAULT_RAM_RESERVE:,}",
        fit_rows="\n".join(fit_rows), fit_summary=summary, library_version="1.0.0",
    )
    values.update(_rounding_values(facts.rounding))
    values.update(_face_values(facts) if facts.kind == "face" else _tensor_values(facts))
    return values


def _top_label(labels, index):
    return labels[index] if labels else f"index {index}"


def _hook_values(kind, name):
    """Template text that names a kind's platform hooks (CMake sources, the Arduino library header)."""
    hooks = HOOKS[kind]
    functions = "GetImage / RespondToExpression" if kind == "face" else "GetInput / HandleOutput"
    includes = [f"{name}_model_data.h", f"{name}_model_settings.h", f"{name}_op_resolver.h"]
    includes += [f"{name}_preprocess.h"] if kind == "face" else []
    return {"hook_sources": " ".join(f"{hook}.cc" for hook in hooks),
            "hook_comment": f"{' and '.join(f'{hook}.cc' for hook in hooks)}: add a file of your own that defines "
                            f"{functions} to replace them",
            "library_includes": "\n".join(f'#include "{header}"' for header in includes)}


def _face_values(facts):
    x, labels = facts.graph.inputs[0], facts.labels
    return {**_hook_values("face", facts.name), "rows": x.shape[1], "cols": x.shape[2], "channels": x.shape[3],
            "golden_image_rows": csource.int_rows(np.asarray(facts.image, np.uint8).reshape(-1), per_line=16),
            "library_sentence": f"int8 facial-expression recognition ({len(labels)} classes, 64x64 gray)"}


def _tensor_values(facts):
    graph, labels, camel = facts.graph, facts.labels, csource.camel(facts.name)
    x, y = graph.inputs[0], graph.outputs[0]

    def shape_text(tensor):
        return ", ".join(str(int(d)) for d in tensor.shape) or "scalar"

    if labels:
        label_block = (f"constexpr const char* k{camel}CategoryLabels[k{camel}CategoryCount] = {{\n"
                       + "\n".join(f"    {csource.c_string(label)}," for label in labels) + "\n};\n")
        print_line = (f'  MicroPrintf("output: %s (index %d of %d, q %d, %d/1000)", k{camel}CategoryLabels[top], top,\n'
                      "              size, static_cast<int>(output[top]), real);")
        sentence = f" ({len(labels)} classes: {csource.comment_text(', '.join(labels), limit=2000)})"
    else:
        label_block = ""
        print_line = ('  MicroPrintf("output: largest value at index %d of %d (q %d, %d/1000)", top, size,\n'
                      "              static_cast<int>(output[top]), real);")
        sentence = ""
    golden = facts.golden_output.reshape(-1)
    shown = ", ".join(str(int(v)) for v in golden[:16]) + (", ..." if golden.size > 16 else "")
    summary = (f"`[{shown}]` ({golden.size} values), largest at index {facts.golden_top}"
               + (f" (**{labels[facts.golden_top]}**)" if labels else ""))
    return {**_hook_values("tensor", facts.name),
            "input_dtype": x.dtype, "output_dtype": y.dtype, "input_ctype": C_TYPES[x.dtype][0],
            "output_ctype": C_TYPES[y.dtype][0], "input_tflite_type": C_TYPES[x.dtype][1],
            "output_tflite_type": C_TYPES[y.dtype][1], "input_rank": max(len(x.shape), 1),
            "input_dims": ", ".join(str(int(d)) for d in x.shape) or "1", "input_shape_text": shape_text(x),
            "output_shape_text": shape_text(y), "input_size": x.elements, "output_size": y.elements,
            "label_block": label_block, "handler_label_print": print_line, "labels_sentence": sentence,
            "golden_output_summary": summary,
            "library_sentence": f"a full-integer model ({x.dtype} [{shape_text(x)}] in, {y.dtype} "
                                f"[{shape_text(y)}] out)"}


_LAYOUT_NOTES = {
    "plain": "",
    "cmake": ("\n### CMake\n\n`CMakeLists.txt` builds the TFLM tree, "
              "a `{name}_model` library and the `{name}_self_test` "
              "executable:\n\n```sh\ncmake -S . -B build -DTFLM_DIR=/path/to/tflm-tree\ncmake --build build -j\n"
              "./build/{name}_self_test    # exit status 0 = golden self-test passed\n```\n\nAdd "
              "`-DTFLM_CMSIS_NN=ON` for a tree generated with `OPTIMIZED_KERNEL_DIR=cmsis_nn`, and a toolchain file "
              "for your MCU to cross-compile.\n"),
    "arduino": ("\n### Arduino\n\nThis directory is an Arduino library: copy it to `~/Arduino/libraries/{camel}` (or "
                "*Sketch → Include Library → Add .ZIP Library* on a zip of it), install a TensorFlow Lite Micro "
                "Arduino library (`Arduino_TensorFlowLite`, from tflite-micro-arduino-examples), then open "
                "*File → Examples → {camel} → {name}*. The sketch prints the self-test on the serial monitor, "
                "then one classification per `loop()`. `src/` holds the model, op resolver, settings and "
                "preprocessing; the golden vector and the platform hooks (`image_provider.cpp`, "
                "`expression_responder.cpp`) live with the example: copy the example to start a sketch and "
                "define the hooks there.\n"),
}


def _render_all(paths, values, layout, kind="face"):
    name = values["name"]
    own = "" if kind == "face" else "tensor/"  # the tensor bundle's own templates; the rest are shared
    guards = {key: csource.include_guard(Path(path).name) for key, path in paths.items()}
    contents = {}

    def put(key, template, **extra):
        if key in paths:
            text = render(template, **{**values, "guard": guards[key], **extra})
            contents[paths[key]] = text.encode("utf-8")

    put("model_data_cc", "model_data.cc.tmpl")
    put("model_data_h", "model_data.h.tmpl")
    put("op_resolver_h", "op_resolver.h.tmpl")
    put("model_settings_h", f"{own}model_settings.h.tmpl")
    put("preprocess_h", "preprocess.h.tmpl")
    put("golden_h", f"{own}golden.h.tmpl")
    put("main_functions_h", f"{own}main_functions.h.tmpl")
    platform = "#include <TensorFlowLite.h>\n" if layout == "arduino" else ""
    for hook in HOOKS[kind]:
        put(f"{hook}_h", f"{own}{hook}.h.tmpl")
        put(f"{hook}_cc", f"{own}{hook}.cc.tmpl", platform_includes=platform)
    put("main_functions_cc", f"{own}main_functions.cc.tmpl", platform_includes="",
        self_include='#include "main_functions.h"')
    put("main_cc", "main.cc.tmpl")
    put("cmakelists", "CMakeLists.txt.tmpl")
    put("library_h", "library_header.h.tmpl")
    put("library_properties", "library.properties.tmpl")
    put("sketch", f"{own}main_functions.cc.tmpl", platform_includes="#include <TensorFlowLite.h>\n",
        self_include=f"#include <{name}.h>")
    described = dict(_FILE_ROLES)
    rows = [f"| `{path}` | {described.get(key, '')} |" for key, path in paths.items()]
    rows.append("| `bundle.json` | manifest: checksums, sizes, arena, ops, quantization, golden vector, fit table |")
    notes = _LAYOUT_NOTES[layout].format(name=name, camel=values["camel"])
    put("readme", f"{own}README.md.tmpl", file_rows="\n".join(rows), layout_notes=notes)
    return contents


_FILE_ROLES = {
    "model_data_cc": "the model as a 16-byte-aligned `const unsigned char` array",
    "model_data_h": "`extern` declarations of the array and its length",
    "op_resolver_h": "`MicroMutableOpResolver` with exactly the model's ops",
    "model_settings_h": "input shape, quantization, labels, arena size",
    "preprocess_h": "min-max + quantization of a gray face, dequantize, argmax (no TFLM dependency)",
    "golden_h": "the golden self-test vector: its input (and face) and TFLM's output for it",
    "image_provider_h": "`GetImage()`: the platform hook that supplies each face (camera)",
    "image_provider_cc": "weak default `GetImage()`: the golden face, so the example runs without a camera",
    "expression_responder_h": "`RespondToExpression()`: the platform hook that acts on each result",
    "expression_responder_cc": "weak default `RespondToExpression()`: prints label and score (MicroPrintf)",
    "input_provider_h": "`GetInput()`: the platform hook that supplies each model input (sensor, features)",
    "input_provider_cc": "weak default `GetInput()`: the golden input, so the example runs without a sensor",
    "output_handler_h": "`HandleOutput()`: the platform hook that acts on each result",
    "output_handler_cc": "weak default `HandleOutput()`: prints the largest output value (MicroPrintf)",
    "main_functions_cc": "`setup()`: load, check, allocate, golden self-test; `loop()`: get → invoke → respond",
    "main_functions_h": "entry points of the example",
    "main_cc": "`main()` for a host or bare-metal build",
    "cmakelists": "CMake build against a TFLM tree (`-DTFLM_DIR=`)",
    "library_h": "Arduino library header",
    "library_properties": "Arduino library metadata",
    "sketch": "Arduino example sketch (self-test, then get → invoke → respond, over Serial)",
    "readme": "this file",
}


def _manifest(facts, contents):
    """``bundle.json`` (without ``patches`` / ``verified``, which export_firmware adds)."""
    graph, data, labels, fit, latency = facts.graph, facts.data, facts.labels, facts.fit, facts.latency
    x, y = graph.inputs[0], graph.outputs[0]
    return {
        "format": "lanmsff-edge firmware bundle",
        "tool": "lanmsff-edge",
        "tool_version": TOOL_VERSION,
        "tflite_micro_version": micro.tflm_version(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "name": facts.name,
        "layout": facts.layout,
        "kind": facts.kind,
        "hooks": list(HOOKS[facts.kind]),
        "model": {"file": facts.model_path.name, "sha256": _sha256(data), "bytes": len(data),
                  "schema_version": graph.schema_version, "subgraphs": graph.subgraph_count, "macs": graph.macs,
                  "macs_by_op": graph.macs_by_op},
        "input": {"name": x.name, "shape": list(x.shape), "dtype": x.dtype, "scale": x.scale,
                  "zero_point": x.zero_point,
                  "preprocessing": ("64x64 gray, per-image min-max to [0,1], q = zp + floor(x/scale + 0.5) "
                                    "(round half up, float32; lanmsff_edge.runtimes.quantization)"
                                    if facts.kind == "face" else "none: the application supplies the quantized "
                                    "input tensor (q = zp + floor(x/scale + 0.5))")},
        "output": {"name": y.name, "shape": list(y.shape), "dtype": y.dtype, "scale": y.scale,
                   "zero_point": y.zero_point},
        "labels": list(labels),
        "labels_source": facts.label_source,
        "ops": graph.builtin_ops,
        "op_counts": graph.op_counts,
        "resolver_methods": facts.methods,
        "arena": {"minimum": facts.arena_minimum, "margin": facts.arena_margin, "size": facts.arena_size,
                  "granularity": micro.ARENA_ALIGNMENT,
                  "measured_with": f"tflite_micro {micro.tflm_version()} host interpreter (64-bit)"},
        "flash": {"model_bytes": len(data), "code_estimate": boards.DEFAULT_CODE_FLASH},
        "rounding": {"mode": facts.rounding, "defines": tflm_tree.rounding_defines(facts.rounding),
                     "golden_computed_with": _golden_source(facts.rounding)},
        "golden": {"description": facts.golden_description, "output": [int(v) for v in facts.golden_output],
                   "top_index": facts.golden_top, "top_label": _top_label(labels, facts.golden_top),
                   "probabilities": [round(float(p), 6) for p in facts.probabilities]},
        "boards": [{**verdict.as_dict(), "latency_ms_estimate": round(latency[verdict.board.key]["ms"], 1),
                    "latency_assumption": latency[verdict.board.key]["assumption"]} for verdict in fit],
        "files": {path: {"bytes": len(body), "sha256": _sha256(body)} for path, body in sorted(contents.items())},
    }


def _write_directory(out, contents, stale=()):
    """Write ``contents`` (relative path → bytes) into ``out``: a new folder is staged beside it and renamed into
    place; an earlier bundle gets its files replaced as one artifact group (the user's files untouched), then
    the files of the earlier bundle the new one no longer has (``stale``) are removed."""
    try:
        if not out.is_dir() or not any(out.iterdir()):
            staging = atomic.staging_folder(out)
            try:
                for relative, body in contents.items():
                    target = staging / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(body)
                os.chmod(staging, 0o755)  # mkdtemp makes it 0700
                atomic.replace_folder(staging, out)
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
            return
        with atomic.artifact_group():  # bundle.json first: the group's journal sits in ``out`` itself
            for relative in sorted(contents, key=lambda path: path != MANIFEST):
                atomic.write_bytes(out / relative, contents[relative])
    except atomic.WriteError as error:
        raise UserError(f"--out {out}: writing the bundle failed ({str(error).split(': ', 1)[-1]})") from None
    except OSError as error:
        raise UserError(f"--out {out}: writing the bundle failed ({error.strerror or error})") from None
    for relative in stale:
        with contextlib.suppress(OSError):
            (out / relative).unlink()
            for parent in (out / relative).parents:
                if parent == out:
                    break
                parent.rmdir()  # only if empty: OSError ends the loop
