"""``--device android``: TFLite's ``benchmark_model`` on a phone over ``adb``, for CPU threads, the GPU
delegate and NNAPI; its report (init time, latency, memory, delegated nodes) becomes the rows.

Commands go through ``settings.command_runner`` (``(args, timeout) → (exit code, text)``), so tests inject a
fake phone. The Keras row stays on the host (Keras does not run on Android) for size and parameters; the
float reference of the speed-up column is then the float32 TFLite model on the phone's CPU.
"""
import re
import shutil
import tempfile
from pathlib import Path

from lanmsff_edge.bench.devices import ANDROID_DELEGATES
from lanmsff_edge.bench.rows import new_row, threads_text
from lanmsff_edge.bench.timing import Latency
from lanmsff_edge.errors import UserError
from lanmsff_edge.log import get_logger

LOGGER = get_logger(__name__)

REMOTE_DIR = "/data/local/tmp/lanmsff_bench"
REMOTE_BINARY = f"{REMOTE_DIR}/benchmark_model"
RUN_TIMEOUT_S = 600
DELEGATE_FLAGS = {name: list(delegate.flags) for name, delegate in ANDROID_DELEGATES.items()}
DELEGATE_NAMES = {name: delegate.label for name, delegate in ANDROID_DELEGATES.items()}

_NUMBER = r"([-+0-9.eE]+)"
_TIMINGS = re.compile(rf"Inference timings in us: Init: {_NUMBER}, First inference: {_NUMBER}, "
                      rf"Warmup \(avg\): {_NUMBER}, Inference \(avg\): {_NUMBER}")
_COUNT = re.compile(r"count=(\d+)((?:\s+\w+=[-+0-9.eE]+)*)")
_MEMORY = [
    (re.compile(rf"Memory footprint delta from the start of the tool \(MB\): init={_NUMBER} overall={_NUMBER}"),
     ("init_memory_mb", "peak_memory_mb")),
    (re.compile(rf"Peak memory footprint \(MB\): init={_NUMBER} overall={_NUMBER}"),
     ("init_memory_mb", "peak_memory_mb")),
    (re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: {_NUMBER}"),
     ("peak_memory_monitored_mb",)),
]
_SESSION = re.compile(rf"Initialized session in {_NUMBER}\s*ms")
_REPLACED = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \(([^)]*)\)")


def parse_benchmark_output(text):
    """Figures of a ``benchmark_model`` run (its documented log format); times in ms, memory in MB.

    The last ``count=`` line with statistics is the measured run (an earlier one is the warm-up).
    """
    result = {"init_ms": None, "first_inference_ms": None, "warmup_avg_ms": None, "inference_avg_ms": None,
              "runs": None, "avg_ms": None, "std_ms": None, "min_ms": None, "max_ms": None, "median_ms": None,
              "init_memory_mb": None, "peak_memory_mb": None, "peak_memory_monitored_mb": None,
              "session_init_ms": None, "delegated_nodes": None, "total_nodes": None, "delegate": None,
              "fully_delegated": None, "errors": []}
    match = _TIMINGS.search(text)
    if match:
        init, first, warmup, average = (float(x) / 1000 for x in match.groups())
        result.update(init_ms=init, first_inference_ms=first, warmup_avg_ms=warmup, inference_avg_ms=average)
    statistics = []
    for match in _COUNT.finditer(text):
        fields = dict(pair.split("=") for pair in match.group(2).split())
        statistics.append((int(match.group(1)), {key: float(value) for key, value in fields.items()}))
    measured = [s for s in statistics if "avg" in s[1]]
    if measured:
        count, fields = measured[-1]
        result.update(runs=count, avg_ms=fields["avg"] / 1000, std_ms=fields.get("std", 0.0) / 1000,
                      min_ms=fields.get("min", fields["avg"]) / 1000, max_ms=fields.get("max", fields["avg"]) / 1000,
                      median_ms=fields["median"] / 1000 if "median" in fields else None)
    for pattern, keys in _MEMORY:
        match = pattern.search(text)
        if match:
            result.update({key: float(value) for key, value in zip(keys, match.groups())})
    match = _SESSION.search(text)
    if match:
        result["session_init_ms"] = float(match.group(1))
    delegations = [{"nodes": int(n), "total": int(t), "delegate": name} for n, t, name in _REPLACED.findall(text)]
    result["delegations"] = delegations
    # the requested delegate (GPU / NNAPI) when there is one; XNNPACK then only takes what it left
    primary = next((d for d in delegations if "xnnpack" not in d["delegate"].lower()),
                   delegations[0] if delegations else None)
    if primary is not None:
        result.update(delegated_nodes=primary["nodes"], total_nodes=primary["total"], delegate=primary["delegate"],
                      fully_delegated=primary["nodes"] == primary["total"])
    if "will be completely executed by the delegate" in text:
        result["fully_delegated"] = True
    result["errors"] = [line.strip() for line in text.splitlines()
                        if re.match(r"\s*(ERROR|E tflite|Failed|Benchmarking failed)", line)]
    return result


def latency_from(parsed):
    """A ``Latency`` from the measured-run statistics (benchmark_model gives no p90/p99)."""
    if parsed["avg_ms"] is None:
        return None
    return Latency(mean=parsed["avg_ms"], p50=parsed["median_ms"], p90=None, p99=None, std=parsed["std_ms"],
                   min=parsed["min_ms"], max=parsed["max_ms"], runs=parsed["runs"])


def parse_devices(text):
    """``adb devices`` → [(serial, state)], e.g. ("R58M123", "device"), ("emulator-5554", "unauthorized")."""
    devices = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("List of devices", "*")):
            continue
        parts = line.split()
        if len(parts) >= 2:
            devices.append((parts[0], parts[1]))
    return devices


class Adb:
    """adb commands for one device, through an injectable runner."""

    def __init__(self, serial, runner, adb="adb"):
        self.serial, self.runner, self.adb = serial, runner, adb

    def command(self, *args):
        return [self.adb, "-s", self.serial, *map(str, args)]

    def run(self, *args, timeout=120, check=True):
        LOGGER.debug("$ " + " ".join(str(a) for a in self.command(*args)))
        code, text = self.runner(self.command(*args), timeout=timeout)
        if check and code != 0:
            lines = [line for line in text.splitlines() if line.strip()]
            raise UserError(f"adb {' '.join(map(str, args[:2]))} failed on {self.serial}: "
                            f"{lines[-1] if lines else f'exit code {code}'}")
        return text

    def shell(self, *args, timeout=120, check=True):
        return self.run("shell", *args, timeout=timeout, check=check)

    def push(self, local, remote):
        return self.run("push", local, remote, timeout=300)


def benchmark_command(remote_model, delegate, threads, runs, warmup):
    """The ``benchmark_model`` command line run on the phone."""
    return [REMOTE_BINARY, f"--graph={remote_model}", f"--num_threads={threads}", f"--num_runs={runs}",
            f"--warmup_runs={warmup}", "--min_secs=0", "--warmup_min_secs=0", *DELEGATE_FLAGS[delegate]]


def _runner(settings):
    if settings.command_runner is not None:
        return settings.command_runner
    from lanmsff_edge.bench.coral import run_command

    return run_command


def preflight(settings):
    """Check adb, the binary and the device before anything else; returns an ``Adb`` for the chosen device."""
    adb = shutil.which("adb") if settings.command_runner is None else "adb"
    if adb is None:
        raise UserError("adb not found on PATH: install Android platform-tools (Debian/Ubuntu: apt install adb)")
    if not settings.benchmark_binary:
        raise UserError("--device android needs --benchmark-binary PATH: TFLite's benchmark_model built for the "
                        "phone (e.g. android_aarch64_benchmark_model from the TFLite nightly builds)")
    if not Path(settings.benchmark_binary).is_file():
        raise UserError(f"--benchmark-binary {settings.benchmark_binary}: no such file")
    code, text = _runner(settings)([adb, "devices"], timeout=30)
    if code != 0:
        raise UserError(f"'adb devices' failed: {' '.join(text.split())[:200]}")
    devices = parse_devices(text)
    ready = [serial for serial, state in devices if state == "device"]
    if settings.android_serial:
        state = dict(devices).get(settings.android_serial)
        if state is None:
            raise UserError(f"--serial {settings.android_serial}: not attached (adb devices lists "
                            f"{', '.join(s for s, _ in devices) or 'nothing'})")
        if state != "device":
            raise UserError(f"Android device {settings.android_serial} is {state}: accept the USB debugging prompt "
                            f"on the phone")
        return Adb(settings.android_serial, _runner(settings), adb)
    if not ready:
        others = ", ".join(f"{s} ({state})" for s, state in devices)
        raise UserError("no Android device ready for adb" + (f": {others} (accept the USB debugging prompt)"
                                                               if others else ": connect one with USB debugging on"))
    if len(ready) > 1:
        raise UserError(f"several Android devices attached ({', '.join(ready)}): choose one with --serial")
    return Adb(ready[0], _runner(settings), adb)


def device_info(adb):
    props = {}
    for key, prop in (("model", "ro.product.model"), ("abi", "ro.product.cpu.abi"),
                      ("android", "ro.build.version.release"), ("soc", "ro.soc.model")):
        props[key] = adb.shell("getprop", prop, check=False).strip() or None
    props["serial"] = adb.serial
    return props


def android_row(model, adb, remote_model, delegate, settings):
    label = f"benchmark_model on {settings.extra.get('phone', 'Android')}: {DELEGATE_NAMES[delegate]}"
    row = new_row(model, label + (f", {threads_text(settings.threads)}" if delegate == "cpu" else ""))
    LOGGER.info(f"{model.name}: benchmark_model with {DELEGATE_NAMES[delegate]}")
    command = benchmark_command(remote_model, delegate, settings.threads, settings.runs, settings.warmup)
    code, text = adb.runner(adb.command("shell", *command), timeout=RUN_TIMEOUT_S)
    parsed = parse_benchmark_output(text)
    row.extra["android"] = {"delegate": delegate, "command": " ".join(command), "exit_code": code, **parsed}
    row.latency = latency_from(parsed)
    if code != 0 or row.latency is None:
        errors = list(dict.fromkeys(parsed["errors"]))
        problem = "; ".join(errors[:1] + errors[-1:] if len(errors) > 1 else errors) or (
            f"benchmark_model exit code {code}, no timings")
        row.error = problem
        row.latency = None
    elif delegate != "cpu" and parsed["fully_delegated"] is False:
        row.notes.append(f"{DELEGATE_NAMES[delegate]} took {parsed['delegated_nodes']} of {parsed['total_nodes']} "
                         f"nodes; the rest ran on the CPU")
    return row


def run(models, settings):

    adb = settings.extra.get("adb") or preflight(settings)
    info = device_info(adb)
    settings.extra["phone"] = info.get("model") or adb.serial
    notes = [f"Android device {info.get('model')} ({info.get('abi')}, Android {info.get('android')}, serial "
             f"{adb.serial}); latency from benchmark_model (random inputs), so no accuracy on the phone"]
    rows = []
    adb.shell("mkdir", "-p", REMOTE_DIR)
    adb.push(settings.benchmark_binary, REMOTE_BINARY)
    adb.shell("chmod", "755", REMOTE_BINARY)
    try:
        with tempfile.TemporaryDirectory(prefix="lanmsff-android-") as folder:
            for index, model in enumerate(models):
                if model.is_keras:
                    row = new_row(model, "not run (Keras does not run on Android)")
                    row.notes.append("shown for parameters and size; the float reference is the float32 TFLite "
                                     "model on the phone's CPU")
                    rows.append(row)
                    continue
                local = Path(folder) / f"{index}_{Path(model.name).stem}.tflite"
                local.write_bytes(model.data)
                remote = f"{REMOTE_DIR}/{local.name}"
                adb.push(local, remote)
                rows.extend(android_row(model, adb, remote, delegate, settings)
                            for delegate in settings.android_delegates)
    finally:
        adb.shell("rm", "-rf", REMOTE_DIR, check=False)
    return rows, notes, {"android": info}
