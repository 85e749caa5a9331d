"""Build a firmware bundle with real TensorFlow Lite Micro + CMSIS-NN for an Arm core and run it under QEMU.

``emulate(bundle_dir, core, tree)`` compiles the bundle's own sources (model array, ``main_functions.cc``, the
platform hooks' defaults) with the core's flags against the TFLM tree and its cached static library, links them
with a bare-metal start-up and a harness ``main`` (``templates/emulation/``) using ``-nostartfiles``, and runs the
ELF on the core's QEMU machine under ``-icount``. The bundle's ``setup()`` runs its golden self-test, then the
harness times ``Invoke()`` with SysTick, whose ticks under ``-icount`` count executed instructions; a spin loop
of known length converts ticks to instructions. The figures are instructions on an emulated core: QEMU models no
pipeline, caches or wait states, so they are not cycles and not milliseconds on a board.
"""
import json
import shutil
import statistics
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from lanmsff_edge.errors import UserError
from lanmsff_edge.firmware_export import cores, csource, tflm
from lanmsff_edge.log import get_logger

LOGGER = get_logger(__name__)

ICOUNT_SHIFT = 3  # 8 ns of virtual time per instruction: SysTick (25 MHz) ticks every 5 instructions
DEFAULT_RUNS = 3
DEFAULT_TIMEOUT = 900  # seconds for one emulator run (the full model is ~2 G instructions for 3 runs + test)
MARKER = "@emu "


@dataclass
class Emulation:
    """What one emulated run of a bundle measured (``as_dict`` is the ``emulation`` entry of bench's JSON)."""

    core: str
    machine: str
    tflm_arch: str
    kernels: str
    golden_ok: bool               # the core's int8 output equals the golden (host TFLM) output bit for bit
    self_test_passed: bool        # the bundle's own verdict (its tolerance, kGoldenTolerance)
    max_diff_lsb: int
    output: list
    golden_output: list
    instructions: int             # median over runs of one Invoke()
    instructions_runs: list
    instructions_per_mac: float
    macs: int
    ops: list                     # [{"index", "op", "instructions"}] of the last run, in execution order
    by_op_type: dict              # op name -> {"instructions", "share", "count"}, heaviest first
    arena_used_bytes: int
    arena_bytes: int
    flash_bytes: int              # .text + .rodata + .data initialisers (model array included)
    ram_bytes: int                # .data + .bss (tensor arena included), without stack and heap
    model_bytes: int
    stack_bytes: int              # high-water mark of the main stack
    sections: dict = field(default_factory=dict)
    outputs: list = field(default_factory=list)  # raw int8 outputs of the extra ``inputs``, in order
    warnings: list = field(default_factory=list)
    rounding: str = "double"      # the requantization TFLM and CMSIS-NN were built with (tflm.ROUNDINGS)
    unit: str = "instructions under QEMU -icount (not cycles on a board)"

    def as_dict(self):
        return asdict(self)

    def heaviest(self, count=5):
        return list(self.by_op_type.items())[:count]


def _template(*parts):
    return resources.files(__package__).joinpath("templates", "emulation", *parts).read_text(encoding="utf-8")


def _run(command, cwd, log, what, timeout=None):
    with open(log, "a") as handle:
        handle.write("$ " + " ".join(str(c) for c in command) + "\n")
        LOGGER.debug("$ " + " ".join(str(c) for c in command))
        handle.flush()
        try:
            result = subprocess.run([str(c) for c in command], cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                                    timeout=timeout)
        except subprocess.TimeoutExpired:
            raise UserError(f"{what} did not finish within {timeout} s; log: {log}") from None
    if result.returncode != 0:
        raise UserError(f"{what} failed (exit {result.returncode}); log: {log}")


def _bundle_manifest(bundle_dir):
    path = Path(bundle_dir) / "bundle.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"{bundle_dir} is not a firmware bundle (bundle.json unreadable: {error})") from None
    if manifest.get("layout") == "arduino":
        raise UserError(f"{bundle_dir} is an Arduino library; emulation builds the plain or cmake layout")
    return manifest


def bundle_rounding(manifest):
    """The rounding a bundle's golden output was computed with (``bundle.json``; bundles made before the option
    existed were double rounding): the TFLM library it is built with."""
    return tflm.check_rounding((manifest.get("rounding") or {}).get("mode", "double"))


def _inputs_header(inputs, dtype="int8"):
    """``emulation_inputs.h``: the extra inputs of a parity run (one row per input, in the model input's
    ``dtype``) or none."""
    ctype = csource.C_TYPES.get(dtype, (None,))[0]
    if ctype is None:
        raise UserError(f"the emulation feeds int8, int16 or int32 inputs; this bundle's input is {dtype}")
    if inputs is None or len(inputs) == 0:
        return (f"#include <cstdint>\nconstexpr int kEmulationInputCount = 0;\n"
                f"alignas(16) const {ctype} kEmulationInputs[1][1] = {{{{0}}}};\n")
    rows = np.asarray(inputs, dtype=np.dtype(dtype)).reshape(len(inputs), -1)
    body = ",\n".join("{" + ",".join(str(int(v)) for v in row) + "}" for row in rows)
    return (f"#include <cstdint>\nconstexpr int kEmulationInputCount = {len(rows)};\n"
            f"alignas(16) const {ctype} kEmulationInputs[{len(rows)}][{rows.shape[1]}] = {{\n{body}\n}};\n")


def build(bundle_dir, core, tree, work, inputs=None):
    """Compile and link ``bundle_dir`` for ``core`` in the folder ``work``; return (elf path, warnings).
    ``inputs``: extra int8 inputs the program runs after the self-test (``emulate``'s ``outputs``)."""
    manifest = _bundle_manifest(bundle_dir)
    name = manifest["name"]
    camel = csource.camel(name)
    tools = tflm.require_tools(("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-size"))
    rounding = bundle_rounding(manifest)
    library = tflm.library(tree, core, manifest.get("resolver_methods"), rounding=rounding)
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    (work / "startup.c").write_text(_template("startup.c"))
    (work / "emulation_main.cc").write_text(_template("emulation_main.cc.tmpl")
                                            .replace("@@{camel}", camel).replace("@@{name}", name)
                                            .replace("@@{runs}", str(DEFAULT_RUNS)))
    (work / "link.ld").write_text(cores.linker_script(core))
    (work / "emulation_inputs.h").write_text(_inputs_header(inputs, manifest.get("input", {}).get("dtype", "int8")))
    arch = [*core.gcc_flags, "-mthumb", "-mlittle-endian", "-funsigned-char"]
    common = [*arch, "-O2", "-g", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra"]
    defines = ["-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_MCU_DEBUG_LOG", "-DCMSIS_NN", "-DNDEBUG", *core.defines,
               *(f"-D{d}" for d in tflm.rounding_defines(rounding))]  # TFLM's inline headers: as the library
    # TFLM's headers as system headers: their own -Wextra warnings are not the bundle's
    includes = [f"-I{work.resolve()}", f"-I{Path(bundle_dir).resolve()}",
                *(f"-isystem{d}" for d in tflm.include_dirs(tree))]
    cxx = [tools["arm-none-eabi-g++"], *common, *defines, *includes, "-std=c++17", "-fno-rtti", "-fno-exceptions",
           "-fno-unwind-tables"]
    folder = Path(bundle_dir).resolve()
    hooks = manifest.get("hooks") or ("image_provider", "expression_responder")  # bundles before "hooks": faces
    bundle_sources = [folder / f"{name}_model_data.cc", folder / "main_functions.cc",
                      *(folder / f"{hook}.cc" for hook in hooks)]
    sources = [*bundle_sources, work / "emulation_main.cc"]
    objects = []
    LOGGER.info(f"compiling the bundle for {core.name}")
    for source in sources:
        target = work / (source.stem + ".o")
        _run([*cxx, "-c", source, "-o", target], work, log, f"compiling {source.name} for {core.name}")
        objects.append(target)
    _run([tools["arm-none-eabi-gcc"], *common, "-c", work / "startup.c", "-o", work / "startup.o"], work, log,
         f"compiling the start-up code for {core.name}")
    objects.append(work / "startup.o")
    elf = work / f"{name}.elf"

    def link(archive):
        _run([tools["arm-none-eabi-g++"], *arch, "-T", work / "link.ld", "-nostartfiles", "--specs=rdimon.specs",
              "-Wl,--gc-sections", f"-Wl,-Map={work / (name + '.map')}", *objects, archive, "-lm", "-o", elf],
             work, log, f"linking for {core.name}")
    fallback = []
    try:
        link(library)
    except UserError:
        if not manifest.get("resolver_methods"):
            raise
        # the library holds only the ops' kernels (tflm.library); should that selection have missed a file, the
        # full library still links, at the cost of building it once
        fallback.append(f"the TFLM library built for the model's ops did not link (log: {log}); "
                        "linked the one with every kernel instead")
        LOGGER.warning(fallback[0])
        link(tflm.library(tree, core, rounding=rounding))
    bundle_files = {str(s) for s in bundle_sources}
    warnings = fallback + [line.strip() for line in log.read_text(errors="replace").splitlines()
                           if "warning:" in line and any(line.startswith(f) for f in bundle_files)]
    return elf, warnings


def sections(elf):
    """Section name -> bytes, read from the ELF with arm-none-eabi-size -A."""
    size = tflm.require_tools(("arm-none-eabi-size",))["arm-none-eabi-size"]
    result = subprocess.run([size, "-A", str(elf)], capture_output=True, text=True, check=True)
    table = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            table[parts[0]] = int(parts[1])
    return table


def run_elf(elf, core, log, timeout=DEFAULT_TIMEOUT):
    """Run ``elf`` on ``core``'s QEMU machine; return (exit status, the harness's ``@emu`` lines)."""
    qemu = tflm.require_tools(("qemu-system-arm",))["qemu-system-arm"]
    command = [qemu, "-M", core.machine, "-nographic", "-monitor", "none", "-serial", "none",
               "-icount", f"shift={ICOUNT_SHIFT},align=off,sleep=off",
               "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]
    with open(log, "a") as handle:
        handle.write("$ " + " ".join(command) + "\n")
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as expired:
        _append(log, expired.stdout, expired.stderr)
        raise UserError(f"the {core.name} emulator ({core.machine}) did not finish within {timeout} s "
                        f"(hung or too slow); log: {log}") from None
    _append(log, result.stdout, result.stderr)
    output = f"{result.stdout}\n{result.stderr}"  # semihosting writes may land on either
    lines = [line[len(MARKER):].strip() for line in output.splitlines() if line.startswith(MARKER)]
    if any(line.startswith("fault") for line in lines):
        raise UserError(f"the bundle crashed on the emulated {core.name} ({lines[-1]}); log: {log}")
    if "done" not in lines:
        detail = "setup() failed (arena too small or an op missing)" if "setup_failed" in lines else \
            f"it stopped early (exit {result.returncode})"
        raise UserError(f"the bundle did not complete on the emulated {core.name}: {detail}; log: {log}")
    return result.returncode, lines


def _append(log, *texts):
    with open(log, "a") as handle:
        for text in texts:
            if text:
                handle.write(text if isinstance(text, str) else text.decode("utf-8", "replace"))


def parse(lines):
    """The harness's lines → a dict of raw figures (ticks converted to instructions)."""
    facts = {"invoke_ticks": [], "ops": []}
    for line in lines:
        key, *values = line.split()
        if key == "calibration":
            facts["instructions_per_tick"] = int(values[0]) / max(int(values[1]), 1)
        elif key == "arena_used":
            facts["arena_used"] = int(values[0])
        elif key == "selftest":
            facts["status"], facts["max_diff"] = int(values[0]), int(values[1])
        elif key == "output":
            facts["output"] = [int(v) for v in values]
        elif key == "invoke":
            facts["invoke_ticks"].append(int(values[0]))
        elif key == "op":
            facts["ops"].append((int(values[0]), values[1], int(values[2])))
        elif key == "result":
            facts.setdefault("results", []).append([int(v) for v in values[1:]])
        elif key == "stack":
            facts["stack"] = int(values[0])
    return facts


def emulate(bundle_dir, core, tree, work=None, timeout=DEFAULT_TIMEOUT, keep=False, inputs=None):
    """Build ``bundle_dir`` for ``core`` (a name or ``cores.Core``), run it under QEMU, return an ``Emulation``.

    Raises ``UserError`` (one line, the log's path in it, the work folder kept) when a tool or the tree is
    missing, the build fails, or the emulator crashes, hangs or stops early. A golden mismatch is not an error
    here: it is reported (``golden_ok`` False) for the caller to act on. ``inputs`` (int8, N × input size) are
    also run; their raw outputs are ``Emulation.outputs`` (for parity with other kernel libraries).
    """
    core = cores.get_core(core) if isinstance(core, str) else core
    manifest = _bundle_manifest(bundle_dir)
    tflm.require_tools(("qemu-system-arm",))
    folder = Path(work) if work else Path(tempfile.mkdtemp(prefix=f"lanmsff-emulate-{core.name}-"))
    try:
        elf, warnings = build(bundle_dir, core, tree, folder, inputs=inputs)
        LOGGER.info(f"running the bundle on QEMU {core.machine} ({core.name}, -icount)")
        # each extra input is a whole inference more (seconds each under emulation at full width)
        budget = timeout + 10 * (0 if inputs is None else len(inputs))
        status, lines = run_elf(elf, core, folder / "build.log", timeout=budget)
        table = sections(elf)
    except UserError:
        keep = True  # the log named in the message must still be there
        raise
    finally:
        if not keep and not work:
            shutil.rmtree(folder, ignore_errors=True)
    facts = parse(lines)
    per_tick = facts.get("instructions_per_tick", 0)
    if not 0.5 <= per_tick <= 1e4:
        raise UserError(f"the SysTick calibration on the emulated {core.name} is implausible ({per_tick:g} "
                        f"instructions per tick): was QEMU run with -icount?")
    runs = [int(round(t * per_tick)) for t in facts["invoke_ticks"]]
    ops = [{"index": i, "op": op, "instructions": int(round(t * per_tick))} for i, op, t in facts["ops"]]
    totals, counts = defaultdict(int), defaultdict(int)
    for op in ops:
        totals[op["op"]] += op["instructions"]
        counts[op["op"]] += 1
    whole = max(sum(totals.values()), 1)
    by_type = {op: {"instructions": n, "share": n / whole, "count": counts[op]}
               for op, n in sorted(totals.items(), key=lambda item: -item[1])}
    flash = sum(table.get(s, 0) for s in (".isr_vector", ".text", ".ARM.exidx", ".ARM.extab", ".preinit_array",
                                          ".init_array", ".fini_array", ".data"))
    golden = [int(v) for v in manifest["golden"]["output"]]
    instructions = int(statistics.median(runs))
    macs = int(manifest["model"]["macs"])
    return Emulation(
        core=core.name, machine=core.machine, tflm_arch=core.tflm_arch, kernels="CMSIS-NN",
        golden_ok=facts.get("output") == golden and facts.get("max_diff") == 0,
        self_test_passed=status == 0 and facts.get("status") == 0, max_diff_lsb=facts.get("max_diff", -1),
        output=facts.get("output", []), golden_output=golden, instructions=instructions, instructions_runs=runs,
        instructions_per_mac=instructions / macs if macs else 0.0, macs=macs, ops=ops, by_op_type=by_type,
        arena_used_bytes=facts.get("arena_used", 0), arena_bytes=int(manifest["arena"]["size"]),
        flash_bytes=flash, ram_bytes=table.get(".data", 0) + table.get(".bss", 0),
        model_bytes=int(manifest["model"]["bytes"]), stack_bytes=facts.get("stack", 0),
        sections={k: v for k, v in table.items() if not k.startswith(".debug")}, warnings=warnings,
        outputs=facts.get("results", []), rounding=bundle_rounding(manifest))

