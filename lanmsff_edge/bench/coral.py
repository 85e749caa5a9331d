"""``--device coral``: Edge TPU compatibility of each TFLite model, ``edgetpu_compiler`` when it is on PATH, and
latency through the Edge TPU delegate (``libedgetpu.so.1``). Without the runtime the bench stops with a one-line
error, as for a missing GPU or phone, unless ``--mapping-only`` asks for the op mapping alone (published rules,
or the compiler's report when it is installed)."""
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from lanmsff_edge.bench.rows import RUNTIME_ERRORS, keras_row, measure_row, new_row, one_line, time_runtime
from lanmsff_edge.log import get_logger
from lanmsff_edge.runtimes import edgetpu_rules
from lanmsff_edge.runtimes.edgetpu import load_edgetpu_delegate, open_edgetpu

LOGGER = get_logger(__name__)

COMPILER = "edgetpu_compiler"
EDGETPU_CUSTOM_OP = "edgetpu-custom-op"
COMPILE_TIMEOUT_S = 180

_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3}
_NUMBERS = {
    "ops_on_tpu": r"Number of operations that will run on Edge TPU:\s*(\d+)",
    "ops_on_cpu": r"Number of operations that will run on CPU:\s*(\d+)",
    "ops_total": r"Total number of operations:\s*(\d+)",
    "subgraphs": r"Number of Edge TPU subgraphs:\s*(\d+)",
}
_SIZES = {
    "on_chip_memory_bytes": r"On-chip memory used for caching model parameters:\s*([\d.]+)\s*([KMG]?i?B)",
    "on_chip_remaining_bytes": r"On-chip memory remaining for caching model parameters:\s*([\d.]+)\s*([KMG]?i?B)",
    "off_chip_memory_bytes": r"Off-chip memory used for streaming uncached model parameters:\s*([\d.]+)\s*([KMG]?i?B)",
}
_OPERATOR_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)\s+(\d+)\s+(\S.*?)\s*$")


def parse_compiler_report(text, log=None):
    """The figures of an ``edgetpu_compiler`` run: ``text`` is its output, ``log`` its ``*_edgetpu.log`` (the
    per-operator table; taken from ``text`` when there is no log, as ``-s`` prints it there too).

    When the report has no "will run on" lines the whole graph mapped, so ops_on_tpu = total, ops_on_cpu = 0.
    """
    found = {}
    version = re.search(r"Edge TPU Compiler version\s+(\S+)", text + "\n" + (log or ""))
    found["version"] = version.group(1) if version else None
    for key, pattern in _NUMBERS.items():
        match = re.search(pattern, text)
        found[key] = int(match.group(1)) if match else None
    for key, pattern in _SIZES.items():
        match = re.search(pattern, text)
        found[key] = int(round(float(match.group(1)) * _UNITS[match.group(2)])) if match else None
    operators = []
    for line in (log if log else text).splitlines():
        match = _OPERATOR_LINE.match(line.strip())
        if match and match.group(1) not in ("Operator",):
            operators.append({"op": match.group(1), "count": int(match.group(2)), "status": match.group(3)})
    found["operators"] = operators
    if found["ops_on_tpu"] is None and operators:
        found["ops_on_tpu"] = sum(o["count"] for o in operators if o["status"] == "Mapped to Edge TPU")
        found["ops_on_cpu"] = sum(o["count"] for o in operators if o["status"] != "Mapped to Edge TPU")
    if found["ops_on_tpu"] is None and found["ops_total"] is not None and "successfully" in text:
        found["ops_on_tpu"], found["ops_on_cpu"] = found["ops_total"], 0
    if found["ops_total"] is None and found["ops_on_tpu"] is not None and found["ops_on_cpu"] is not None:
        found["ops_total"] = found["ops_on_tpu"] + found["ops_on_cpu"]
    total = found["ops_total"]
    found["fraction_on_tpu"] = (found["ops_on_tpu"] / total) if total and found["ops_on_tpu"] is not None else None
    return found


def run_command(args, timeout=None):
    """The default command runner: (exit code, stdout + stderr text)."""
    try:
        LOGGER.debug("$ " + " ".join(str(a) for a in args))
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout} s: {' '.join(map(str, args))}"
    return done.returncode, (done.stdout or "") + (done.stderr or "")


def compile_model(model, folder, runner=None):
    """Run ``edgetpu_compiler -s`` on ``model`` into ``folder``; (report dict, compiled bytes or None)."""
    runner = runner or run_command
    source = Path(folder) / (Path(model.name).stem + ".tflite")
    source.write_bytes(model.data)
    code, output = runner([COMPILER, "-s", "-o", str(folder), str(source)], timeout=COMPILE_TIMEOUT_S)
    log = Path(folder) / f"{source.stem}_edgetpu.log"
    report = parse_compiler_report(output, log.read_text(errors="replace") if log.exists() else None)
    report["exit_code"] = code
    compiled = Path(folder) / f"{source.stem}_edgetpu.tflite"
    if code != 0:
        lines = [line for line in output.splitlines() if line.strip()]
        report["error"] = lines[-1] if lines else f"exit code {code}"
    return report, (compiled.read_bytes() if code == 0 and compiled.exists() else None)


def require_edgetpu():
    """The Edge TPU delegate, or a ``UserError`` saying what is missing and how to check the mapping without it."""
    from lanmsff_edge.errors import UserError

    delegate, problem = load_edgetpu_delegate()
    if delegate is None:
        raise UserError(f"no Edge TPU: {problem}; `--mapping-only` checks the op mapping without one")
    return delegate


def is_compiled(model):
    return any(op.custom_code == EDGETPU_CUSTOM_OP for op in model.graph.ops if not op.builtin)


def coral_row(model, settings, compiler_path, delegate, folder):
    row = new_row(model, "Edge TPU check (published rules)")
    result = {"check": None, "compiler": None, "timed": False}
    row.extra["edgetpu"] = result
    if is_compiled(model):
        row.notes.append("already compiled for the Edge TPU (edgetpu-custom-op)")
        compiled = model.data
    else:
        result["check"] = edgetpu_rules.check(model.data, model.path)
        row.notes.append(edgetpu_rules.summary(result["check"]))
        compiled = None
        if compiler_path:
            LOGGER.info(f"{model.name}: compiling with edgetpu_compiler")
            report, compiled = compile_model(model, folder, settings.command_runner)
            result["compiler"] = report
            row.runtime = f"edgetpu_compiler {report.get('version')}"
            if report.get("error"):
                row.notes.append(f"edgetpu_compiler failed: {report['error']}")
    if delegate is not None and compiled is not None:
        LOGGER.info(f"{model.name}: timing on the Edge TPU")
        try:
            runtime = open_edgetpu(compiled, delegate, settings.threads)
        except RUNTIME_ERRORS as error:
            row.error = one_line(error)
            return row
        row.runtime = "Edge TPU (libedgetpu delegate)"
        measure_row(row, model, settings, runtime.predict, lambda: time_runtime(runtime, model, settings))
        result["timed"] = row.latency is not None
    return row


def run(models, settings):
    compiler_path = shutil.which(COMPILER)
    delegate = None if settings.mapping_only else (settings.extra.get("edgetpu_delegate") or require_edgetpu())
    notes = []
    if compiler_path is None:
        notes.append(f"{COMPILER} not on PATH: mapping from Coral's published rules only ({edgetpu_rules.DOCS}); "
                     f"the compiler (Debian package edgetpu-compiler, x86-64 Linux) gives the authoritative report")
    if delegate is None:
        notes.append("--mapping-only: the op mapping, no Edge TPU timing")
    elif compiler_path is None:
        notes.append("libedgetpu loaded, but only models already compiled for the Edge TPU can be timed")
    rows = []
    with tempfile.TemporaryDirectory(prefix="lanmsff-edgetpu-") as folder:
        for model in models:
            if model.is_keras:
                rows.append(keras_row(model, settings))
            else:
                rows.append(coral_row(model, settings, compiler_path, delegate, folder))
    tools = {"edgetpu_compiler": compiler_path, "libedgetpu": delegate is not None}
    return rows, notes, {"coral": tools}
