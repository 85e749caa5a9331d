"""TFLite Micro built from a TFLM tree for this computer, as a native runner: raw inputs in, raw outputs out.

The ``tflite-micro`` wheel (``runtimes.micro``) is one fixed build: TFLM's stock double rounding. A firmware can be
built otherwise (``tflm.ROUNDINGS``), and to know on the host what such a firmware answers, ``runner(tree, methods,
rounding)`` builds ``templates/host/tflm_runner.cc`` against ``tflm.host_library`` (reference kernels, the model's
ops only) with the same switches, once, cached in ``$LANMSFF_TFLM_CACHE/host`` per (library, ops, rounding).
``HostMicro`` keeps one runner process per model and feeds it one input at a time through pipes.
"""
import hashlib
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from lanmsff_edge.errors import UserError
from lanmsff_edge.firmware_export import tflm
from lanmsff_edge.log import get_logger

LOGGER = get_logger(__name__)

RUNNER = "tflm_runner"
HOST_ARENA = 256 * 1024 * 1024  # reserved, not touched: TFLM only writes the bytes it plans into


def _source():
    return resources.files(__package__).joinpath("templates", "host", f"{RUNNER}.cc").read_text(encoding="utf-8")


def ops_header(methods):
    """``tflm_runner_ops.h``: the op count and the ``Add…()`` calls the model needs."""
    calls = "\n".join(f"  if (resolver.{method}() != kTfLiteOk) return kTfLiteError;" for method in methods)
    return (f"constexpr int kRunnerOpCount = {len(methods)};\n"
            f"template <typename Resolver>\nTfLiteStatus AddRunnerOps(Resolver& resolver) {{\n{calls}\n"
            f"  return kTfLiteOk;\n}}\n")


_BUILT = {}  # (tree, ops, rounding) -> runner path: finding a cached library runs make once per process, not per model


def runner(tree, methods, rounding=tflm.DEFAULT_ROUNDING):
    """The path of the native runner for a model whose resolver needs ``methods``, built now if not cached."""
    tflm.check_rounding(rounding)
    key = (tree.fingerprint, tuple(methods), rounding)
    if key in _BUILT and _BUILT[key].is_file():
        return _BUILT[key]
    _BUILT[key] = _runner(tree, methods, rounding)
    return _BUILT[key]


def _runner(tree, methods, rounding):
    library = tflm.host_library(tree, methods, rounding=rounding)
    header, source = ops_header(methods), _source()
    key = hashlib.sha256("\0".join([str(library), header, source, rounding]).encode()).hexdigest()[:16]
    folder = tflm.cache_root() / "host" / f"runner-{rounding}-{key}"
    binary = folder / RUNNER
    if binary.is_file():
        return binary
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".runner-", dir=folder.parent))
    try:
        (staging / f"{RUNNER}.cc").write_text(source)
        (staging / "tflm_runner_ops.h").write_text(header)
        defines = ["-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON", "-DNDEBUG",
                   *(f"-D{d}" for d in tflm.rounding_defines(rounding))]
        includes = [f"-I{staging}", *(f"-isystem{d}" for d in tflm.include_dirs(tree))]
        command = ["g++", "-std=c++17", "-O2", "-fno-rtti", "-fno-exceptions", *defines, *includes,
                   str(staging / f"{RUNNER}.cc"), str(library), "-lm", "-o", str(staging / RUNNER)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            log = folder.parent / f"{folder.name}.log"
            log.write_text(" ".join(command) + "\n" + result.stdout + result.stderr)
            raise UserError(f"building the host TFLite Micro runner failed (g++ exit {result.returncode}); "
                            f"log: {log}")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return binary


class HostMicro:
    """One model in a running native TFLM runner: ``invoke(inputs)`` → the raw outputs (a list of arrays).

    ``data``: the flatbuffer; ``tree``: a ``tflm.Tree``; ``rounding``: as ``tflm.ROUNDINGS``; ``methods``: the
    resolver's ``Add…()`` calls when not the model's own (a superset: one runner serves every op of a model run
    alone). Raises ``UserError`` when an op is missing or the model does not allocate."""

    def __init__(self, data, tree, rounding=tflm.DEFAULT_ROUNDING, methods=None):
        from lanmsff_edge.runtimes import micro
        from lanmsff_edge.tflite_graph import read_tflite

        graph = read_tflite(data)
        self.inputs, self.outputs, self.rounding = graph.inputs, graph.outputs, rounding
        binary = runner(tree, methods or micro.resolver_methods(graph), rounding)
        self._folder = tempfile.TemporaryDirectory(prefix="lanmsff-tflm-runner-")
        model = Path(self._folder.name) / "model.tflite"
        model.write_bytes(bytes(data))
        self._stderr = open(Path(self._folder.name) / "stderr.txt", "w+")
        self._process = subprocess.Popen([str(binary), str(model), str(HOST_ARENA)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._stderr)
        line = self._process.stdout.readline().decode(errors="replace").split()
        if line[:1] != ["ready"]:
            raise UserError(f"TFLite Micro ({rounding} rounding, host runner) cannot prepare the model: "
                            f"{self._error()}")
        self.arena_used_bytes = int(line[1])

    def _error(self):
        self._process.kill()
        self._process.wait()
        self._stderr.seek(0)
        lines = [line.strip() for line in self._stderr.read().splitlines() if line.strip()]
        return "; ".join(lines[-3:]) or f"exit status {self._process.returncode}"

    def invoke(self, inputs):
        """Run one inference; ``inputs``: one array (or one per model input) in the input dtype and shape."""
        inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        payload = b"".join(np.ascontiguousarray(x, dtype=t.dtype).tobytes() for x, t in zip(inputs, self.inputs))
        sizes = [int(np.prod(t.shape)) * np.dtype(t.dtype).itemsize for t in self.outputs]
        try:
            self._process.stdin.write(payload)
            self._process.stdin.flush()
            raw = self._process.stdout.read(sum(sizes))
        except BrokenPipeError:
            raw = b""
        if len(raw) != sum(sizes):
            raise UserError(f"TFLite Micro ({self.rounding} rounding, host runner) failed to run the model: "
                            f"{self._error()}")
        outputs, offset = [], 0
        for size, tensor in zip(sizes, self.outputs):
            outputs.append(np.frombuffer(raw[offset:offset + size], dtype=tensor.dtype).reshape(tensor.shape))
            offset += size
        return outputs

    def close(self):
        if self._process.poll() is None:
            self._process.stdin.close()
            self._process.wait()
        self._stderr.close()
        self._folder.cleanup()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to clean up with
            pass
