"""A ``.keras`` input becomes three rows: the Keras model, its float32 TFLite and its full-int8 TFLite (PTQ),
converted by ``lanmsff_edge.quantize.convert_keras`` (batch 1, the same graph rewrites as ``quantize``).

Calibration uses a class-balanced sample of the data set's train split when a data set is given (the evaluated
split stays unseen), else synthetic faces, and each int8 row says which: speed and size figures do not depend
on it, int8 accuracy does.
"""
from pathlib import Path

from lanmsff_edge.bench.models import tflite_model
from lanmsff_edge.errors import UserError

CALIBRATION_IMAGES = 200
CALIBRATION_POOL = 2000  # the balanced sample is drawn from the first images of train (no full decode)


def calibration_faces(dataset=None, data=None, eval_images=None, fold=None):
    """(uint8 faces, description) for int8 calibration."""
    from lanmsff_edge.data import load_dataset

    if dataset is not None:
        from lanmsff_edge.calibration import load_sample

        try:
            sample, _ = load_sample(dataset, data, "train", size=CALIBRATION_IMAGES, fold=fold,
                                    limit=CALIBRATION_POOL)
            return sample.images, f"{len(sample)} class-balanced images of {dataset} train"
        except UserError as error:
            if eval_images is None:
                raise
            images = eval_images[:CALIBRATION_IMAGES]
            return images, (f"{len(images)} images of the evaluated split ({dataset} train unavailable: {error}; "
                            f"int8 accuracy is optimistic)")
    faces = load_dataset("synthetic", split="train", size=CALIBRATION_IMAGES, seed=1)
    return faces.images, (f"{len(faces)} synthetic faces (no --dataset): latency and size are valid, "
                          f"int8 accuracy needs real calibration data")


def to_tflite(model, precision, calibration=None):
    """A Keras model → TFLite bytes at batch 1: ``"float32"``, or ``"int8"`` (full-integer PTQ, int8 I/O,
    calibrated on ``calibration``, float model inputs)."""
    from lanmsff_edge.quantize import convert_keras

    return convert_keras(model, precision, calibration)


def convert_keras_model(keras_model, calibration, calibration_note, precisions=("float32", "int8")):
    """tflite ``BenchModel``s (float32, int8 by default) made from a Keras one."""
    stem = Path(keras_model.path).stem
    converted = []
    for precision in precisions:
        samples = keras_model.inputs(calibration) if precision == "int8" else None
        try:
            data = to_tflite(keras_model.keras_model, precision, samples)
        except UserError as error:
            raise UserError(f"{keras_model.path}: {error}") from None
        except Exception as error:  # the converter raises many types; one line for the user
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise UserError(f"{keras_model.path}: TFLite {precision} conversion failed: {first}") from None
        model = tflite_model(data, f"{keras_model.path} → {precision}", f"{stem}_{precision}.tflite",
                             keras_model.input_range, origin="converted")
        model.notes.append(f"converted from {Path(keras_model.path).name} by the bench"
                           + (f"; calibrated on {calibration_note}" if precision == "int8" else ""))
        converted.append(model)
    return converted


def expand_models(models, dataset=None, data=None, eval_images=None, precisions=("float32", "int8"), fold=None):
    """Every Keras model followed by its converted TFLite models (``precisions``); TFLite inputs unchanged."""

    expanded, calibration = [], None
    for model in models:
        expanded.append(model)
        if model.is_keras:
            if calibration is None:
                calibration = calibration_faces(dataset, data, eval_images, fold) if "int8" in precisions else ([], "")
            expanded.extend(convert_keras_model(model, *calibration, precisions))
    return expanded
