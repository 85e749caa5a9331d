"""TEMPORARY stand-ins for modules other engineers are writing (runtimes/litert.py, quantize/): deleted once
those land. Same names and behaviour as agreed: ``TFLiteModel`` and ``convert_keras``."""
import numpy as np


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite_runtime"
    except ImportError:
        from lanmsff_edge.keras import tf

        return tf.lite.Interpreter, "tf.lite"


class TFLiteModel:
    def __init__(self, path_or_bytes, num_threads=None):
        interpreter_class, self.backend = _interpreter_class()
        if isinstance(path_or_bytes, (bytes, bytearray)):
            self.interpreter = interpreter_class(model_content=bytes(path_or_bytes), num_threads=num_threads)
        else:
            self.interpreter = interpreter_class(model_path=str(path_or_bytes), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.input_details = self.interpreter.get_input_details()
        self.output_details = self.interpreter.get_output_details()

    def quantize_input(self, x):
        detail = self.input_details[0]
        dtype = detail["dtype"]
        if np.issubdtype(dtype, np.floating):
            return np.asarray(x, dtype=dtype)
        scale, zero = detail["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(np.asarray(x) / scale) + zero, info.min, info.max).astype(dtype)

    def dequantize_output(self, y):
        detail = self.output_details[0]
        if np.issubdtype(detail["dtype"], np.floating):
            return y.astype(np.float32)
        scale, zero = detail["quantization"]
        return (y.astype(np.float32) - zero) * scale

    def invoke_raw(self, x):
        self.interpreter.set_tensor(self.input_details[0]["index"], x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_details[0]["index"])

    def predict(self, float_images):
        float_images = np.asarray(float_images, dtype=np.float32)
        outputs = [self.dequantize_output(self.invoke_raw(self.quantize_input(image[None])))[0]
                   for image in float_images]
        return np.stack(outputs) if outputs else np.zeros((0, self.output_details[0]["shape"][-1]), np.float32)


def convert_keras(model, precision, calibration=None):
    """float32 or full-int8 (int8 I/O) TFLite bytes of a Keras model at batch 1."""
    from lanmsff_edge.keras import tf

    shape = [1] + list(model.input_shape[1:])
    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec(shape, tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    if precision == "int8":
        samples = np.asarray(calibration, dtype=np.float32)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([sample[None]] for sample in samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def quantize(values, details):
    dtype = np.dtype(details["dtype"])
    if not np.issubdtype(dtype, np.integer):
        return np.asarray(values, dtype=dtype)
    scale, zero_point = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(values, np.float32) / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(values, details):
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.integer):
        return values.astype(np.float32)
    scale, zero_point = details["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)
