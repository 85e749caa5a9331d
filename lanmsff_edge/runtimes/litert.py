"""LiteRT (TensorFlow Lite) on the host CPU: load a ``.tflite`` model and classify float images with it.

The interpreter comes from the first package that imports: ``ai_edge_litert`` (maintained LiteRT), then
``tflite_runtime`` (what older boards have), then ``tf.lite``; ``LiteRTRuntime.backend`` says which one ran.
XNNPACK is on, as LiteRT's default; when XNNPACK refuses a model (it rejects some valid int8 graphs, e.g. a
convolution whose output range collapsed to zero in calibration) the model runs on the builtin kernels instead,
and ``kernels`` / ``delegate_error`` say so. XNNPACK and the optimized builtin kernels round differently from
the reference kernels (a few output steps on an int8 LANMSFF); ``kernels="reference"`` computes exactly what
TFLite Micro computes. ``predict`` takes float model inputs (N×64×64×1 in [0, 1]) whatever the
model's I/O type: int8/uint8 inputs are quantized with the input tensor's scale and zero point, int outputs
dequantized, so float, fp16, dynamic-range and full-integer models answer in the same units.
"""
import importlib
import warnings
from pathlib import Path

import numpy as np

from lanmsff_edge.errors import UserError
from lanmsff_edge.runtimes import quantization

BACKENDS = ("ai_edge_litert", "tflite_runtime", "tensorflow")
KERNELS = ("auto", "builtin", "reference")


def interpreter_class(backend=None):
    """``(Interpreter class, backend name)``: the first importable of ``BACKENDS`` or the one named."""
    for name in BACKENDS if backend is None else (backend,):
        try:
            if name == "ai_edge_litert":
                from ai_edge_litert.interpreter import Interpreter
            elif name == "tflite_runtime":
                from tflite_runtime.interpreter import Interpreter
            elif name == "tensorflow":
                from lanmsff_edge.keras import tf

                Interpreter = tf.lite.Interpreter
            else:
                raise UserError(f"unknown LiteRT backend {name!r}: choose one of {', '.join(BACKENDS)}")
        except ImportError:
            continue
        return Interpreter, name
    wanted = backend or " / ".join(BACKENDS)
    raise UserError(f"no TFLite interpreter available ({wanted} not installed): pip install ai-edge-litert")


def load_delegate(library, backend=None):
    """A LiteRT delegate from the shared library ``library`` (``libedgetpu.so.1``), loaded by the same package as
    ``interpreter_class`` picks (a delegate only works with its own package's interpreter); its errors pass up."""
    Interpreter, _ = interpreter_class(backend)
    module = importlib.import_module(Interpreter.__module__)
    loader = getattr(module, "load_delegate", None)
    if loader is None:  # tf.lite keeps it under experimental
        from lanmsff_edge.keras import tf

        loader = tf.lite.experimental.load_delegate
    return loader(library)


def quantize(values, details):
    """Float → the integer type of a tensor, with its scale / zero point (``quantization.RULE``: round half up,
    as the firmware does; saturate); float tensors just take the values in their dtype."""
    dtype = np.dtype(details["dtype"])
    if not np.issubdtype(dtype, np.integer):
        return np.asarray(values, dtype=dtype)
    scale, zero_point = details["quantization"]
    if not scale:
        raise ValueError(f"tensor {details['name']!r} is {dtype.name} without quantization parameters")
    return quantization.quantize(values, scale, zero_point, dtype)


def dequantize(values, details):
    """Integer tensor values → float32 with the tensor's scale / zero point (float tensors pass through)."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.integer):
        return values.astype(np.float32)
    scale, zero_point = details["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


def _first_line(error, report=()):
    lines = [line.strip() for line in [*str(error).splitlines(), *report] if line.strip()]
    return lines[0] if lines else type(error).__name__


def _start(Interpreter, content, num_threads, kernels, preserve_all_tensors=False, delegates=()):
    from lanmsff_edge.runtimes.micro import captured_native_stderr

    options = {}
    if kernels != "auto":
        resolver = importlib.import_module(Interpreter.__module__).OpResolverType
        options["experimental_op_resolver_type"] = (resolver.BUILTIN_REF if kernels == "reference" else
                                                    resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    if preserve_all_tensors:
        options["experimental_preserve_all_tensors"] = True
    if delegates:
        options["experimental_delegates"] = list(delegates)
    with captured_native_stderr() as report, warnings.catch_warnings():
        # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."; "preserve_all_tensors … for debugging": asked for
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
        try:
            interpreter = Interpreter(model_content=content, num_threads=num_threads, **options)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            failure = error
        else:
            return interpreter
    raise type(failure)(_first_line(failure, [line for line in report if "INFO:" not in line]))


def open_interpreter(content, num_threads=None, backend=None, kernels="auto", preserve_all_tensors=False,
                     source="<bytes>", delegates=()):
    """A LiteRT interpreter for flatbuffer ``content``, tensors allocated, any number of inputs and outputs:
    ``(interpreter, backend name, kernels used, delegate error)``.

    ``kernels`` as for ``LiteRTRuntime`` ("auto" falls back to "builtin" when XNNPACK refuses the model, and the
    delegate error says why); ``preserve_all_tensors``: keep every intermediate tensor readable after ``invoke``
    (``get_tensor``), at the cost of an arena that never reuses memory; ``delegates``: LiteRT delegates to run the
    model on (``load_delegate``; the Edge TPU's), tried as given with no fallback.
    """
    if kernels not in KERNELS:
        raise UserError(f"unknown kernels {kernels!r}: choose one of {', '.join(KERNELS)}")
    Interpreter, backend = interpreter_class(backend)
    if delegates:
        try:
            return _start(Interpreter, content, num_threads, "auto", preserve_all_tensors, delegates), backend, \
                "delegate", None
        except (ValueError, RuntimeError) as error:
            raise UserError(f"cannot load {source} in LiteRT with its delegate: {_first_line(error)}") from None
    used, delegate_error = kernels, None
    if kernels == "auto":
        try:
            return _start(Interpreter, content, num_threads, "auto", preserve_all_tensors), backend, "auto", None
        except (ValueError, RuntimeError) as error:
            if "xnnpack" not in str(error).lower() and "delegate" not in str(error).lower():
                raise UserError(f"cannot load {source} in LiteRT: {_first_line(error)}") from None
            used, delegate_error = "builtin", _first_line(error)
    try:
        interpreter = _start(Interpreter, content, num_threads, used, preserve_all_tensors)
    except (ValueError, RuntimeError) as error:
        raise UserError(f"cannot load {source} in LiteRT: {_first_line(error)}") from None
    return interpreter, backend, used, delegate_error


class LiteRTRuntime:
    """One ``.tflite`` model in a LiteRT interpreter (single input, single output): a ``runtimes.Runtime``.

    ``model``: a path or the flatbuffer bytes; ``num_threads``: interpreter threads (None: the runtime's default);
    ``kernels``: "auto" (XNNPACK, LiteRT's default, falling back to the builtin kernels when XNNPACK refuses the
    model), "builtin" (the optimized builtin kernels, no delegate) or "reference" (the reference kernels, the
    same integer arithmetic as TFLite Micro's: bit-exact with a microcontroller, slow); ``backend``: force one of
    ``BACKENDS``; ``preserve_all_tensors``: every intermediate stays readable after a run (``tensor``);
    ``delegates``: run on these LiteRT delegates (the Edge TPU's: ``runtimes.edgetpu``).
    """

    params = None  # a flatbuffer's parameter count is the graph's (``tflite_graph.tflite_params``), not the runtime's

    def __init__(self, model, num_threads=None, backend=None, kernels="auto", preserve_all_tensors=False,
                 delegates=()):
        if isinstance(model, (bytes, bytearray, memoryview)):
            content, self.source = bytes(model), "<bytes>"
        else:
            path = Path(model)
            if not path.is_file():
                raise UserError(f"model file not found: {path}")
            from lanmsff_edge import userfiles

            content, self.source = userfiles.read_bytes(path, "model", what="model"), str(path)
        from lanmsff_edge import native

        with native.phase(f"loading {self.source} into LiteRT"):
            self.interpreter, self.backend, self.kernels, self.delegate_error = open_interpreter(
                content, num_threads, backend, kernels, preserve_all_tensors, self.source, delegates)
        self.size_bytes = len(content)
        self.input_details = self.interpreter.get_input_details()
        self.output_details = self.interpreter.get_output_details()
        if len(self.input_details) != 1 or len(self.output_details) != 1:
            raise UserError(f"{self.source}: expected one input and one output, found "
                            f"{len(self.input_details)} and {len(self.output_details)}")
        self._input, self._output = self.input_details[0], self.output_details[0]

    @property
    def xnnpack(self):
        """True when the XNNPACK delegate runs the model."""
        return self.kernels == "auto"

    @property
    def input_dtype(self):
        return np.dtype(self._input["dtype"])

    @property
    def output_dtype(self):
        return np.dtype(self._output["dtype"])

    @property
    def input_shape(self):
        return tuple(int(d) for d in self._input["shape"])

    @property
    def num_classes(self):
        return int(self._output["shape"][-1])

    @property
    def batch_size(self):
        """The static batch of the input (1 for the exported LANMSFF), None when it is dynamic."""
        signature = self._input.get("shape_signature", self._input["shape"])
        return None if int(signature[0]) < 0 else int(signature[0])

    def invoke_raw(self, x):
        """Run the model on one input already in the input tensor's dtype and shape; the raw output (a copy)."""
        x = np.asarray(x)
        if x.dtype != self.input_dtype:
            raise ValueError(f"{self.source} expects {self.input_dtype.name} input, got {x.dtype.name}")
        if tuple(x.shape) != self.input_shape:
            self.interpreter.resize_tensor_input(self._input["index"], list(x.shape))
            self.interpreter.allocate_tensors()
            self._input = self.interpreter.get_input_details()[0]
            self._output = self.interpreter.get_output_details()[0]
        self.interpreter.set_tensor(self._input["index"], x)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_tensor(self._output["index"]), copy=True)

    def tensor(self, index):
        """A copy of tensor ``index`` after the last run (intermediates need ``preserve_all_tensors``)."""
        return np.array(self.interpreter.get_tensor(index), copy=True)

    def quantize_input(self, x):
        """Float model inputs → what the input tensor holds (quantized for an integer input)."""
        return quantize(x, self._input)

    def dequantize_output(self, y):
        """Raw output values → float32 (dequantized for an integer output)."""
        return dequantize(y, self._output)

    def predict(self, x, batch_size=None):
        """Float inputs (N×64×64×1 in [0, 1]) → float32 N×C outputs (probabilities for LANMSFF).

        Batch-1 models (the static export) run image by image; models with a dynamic batch run ``batch_size``
        images per call (default 64).
        """
        from lanmsff_edge import native

        with native.phase(f"running {self.source} on LiteRT ({self.kernels} kernels)"):
            return self._predict(x, batch_size)

    def _predict(self, x, batch_size=None):
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == len(self.input_shape) - 1:
            x = x[None]
        step = self.batch_size or int(batch_size or 64)
        outputs = [self.dequantize_output(self.invoke_raw(self.quantize_input(x[start:start + step])))
                   for start in range(0, len(x), step)]
        if not outputs:
            return np.zeros((0, self.num_classes), np.float32)
        return np.concatenate(outputs).reshape(len(x), -1)
