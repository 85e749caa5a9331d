"""``run_bench``: open the models, load the data, convert Keras models, run the device module, compare rows."""
import importlib
import os

from lanmsff_edge.bench import devices
from lanmsff_edge.bench.host import host_info, load_average
from lanmsff_edge.bench.record import BenchReport, attach_ratios
from lanmsff_edge.bench.settings import ANDROID_DELEGATES, DEVICES, BenchSettings
from lanmsff_edge.errors import UserError
from lanmsff_edge.log import get_logger

LOGGER = get_logger(__name__)


def bundled_models(dataset=None, directory=None):
    """Paths of the pretrained float and int8 models shipped in ``lanmsff_edge/pretrained``: those trained on
    ``dataset`` when it is one of them, else the first installed; a UserError when none is installed."""
    from lanmsff_edge.artifacts import presets

    installed = presets.available(directory)
    if not installed:
        raise UserError("no bundled pretrained models yet; pass --model")
    names = [name for name, _ in installed]
    chosen = dataset if dataset in names else names[0]
    return [presets.model_path(name, fmt, directory) for name, fmt in installed if name == chosen]


def expand_bundled(models):
    """``--model`` values as paths: ``ferplus`` → its float and int8 files, ``ferplus:int8`` → that file, anything
    else unchanged."""
    from lanmsff_edge.artifacts import presets

    paths = []
    for model in models:
        if presets.is_pair_name(model):
            paths += [presets.require(str(model), fmt) for fmt in presets.FORMATS]
        else:
            paths.append(presets.resolve(model) or model)
    return paths


def is_tflite(model):
    """A ``.tflite`` path or an opened TFLite ``BenchModel``: LiteRT runs it, TensorFlow is not needed."""
    from lanmsff_edge.bench.models import TFLITE_SUFFIXES, BenchModel

    if isinstance(model, BenchModel):
        return not model.is_keras
    return str(model).lower().endswith(TFLITE_SUFFIXES)


def light_install_paths(paths, models, notes):
    """Without the ``[train]`` extra (no TensorFlow) a bundled model benches as its int8 file alone, with a note; a
    .keras file the user names still needs TensorFlow (``extras.TensorFlowMissing`` when it loads)."""
    from lanmsff_edge import extras
    from lanmsff_edge.artifacts import presets

    if all(map(is_tflite, paths)) or extras.training_installed():
        return paths
    pairs = [m for m in models if presets.is_pair_name(m)] if models else [name for name, _ in presets.available()]
    floats = {presets.model_path(str(name).partition(":")[0], "float") for name in pairs}
    kept = [path for path in paths if path not in floats]
    if kept and len(kept) < len(paths):
        notes.append(f"TensorFlow is not installed: bundled float .keras models left out ({extras.INSTALL} "
                     "benches them too)")
        return kept
    return paths


def preflight(device, settings):
    """Fail before loading anything when the target is missing (no GPU, no Edge TPU runtime, no
    adb/device/binary)."""
    if device == "coral" and not settings.mapping_only:
        from lanmsff_edge.bench.coral import require_edgetpu

        settings.extra["edgetpu_delegate"] = require_edgetpu()
    elif device == "gpu":
        from lanmsff_edge.bench.gpu import require_gpu

        require_gpu()
    elif device == "android":
        from lanmsff_edge.bench.android import preflight as android_preflight

        settings.extra["adb"] = android_preflight(settings)


def load_data(dataset, data, split, limit, fold=None):
    if dataset is None:
        if data is not None or fold is not None:
            raise UserError(f"{'--data' if data is not None else '--fold'} needs --dataset (which data set to "
                            f"measure accuracy on)")
        return None
    from lanmsff_edge.data import load_dataset

    return load_dataset(dataset, data, split, fold=fold, limit=limit)


def run_bench(models=(), device="cpu", threads=1, runs=None, warmup=None, dataset=None, data=None, split="val",
              limit=None, fold=None, convert=True, input_range="0,1", benchmark_binary=None, android_serial=None,
              android_delegates=ANDROID_DELEGATES, command_runner=None, mapping_only=False,
              emulate=(), tflm=None, patches=(), rounding="single"):
    """Benchmark ``models`` (paths or opened ``BenchModel``s; none → the bundled pretrained models) on ``device``;
    returns a ``BenchReport``.

    Each ``.keras`` model is also converted to float32 and int8 TFLite (``convert=False`` skips that). With a
    data set, each row gets accuracy and information density on ``split`` (first ``limit`` images; KDEF: of
    cross-validation ``fold``). ``mapping_only`` (coral): the Edge TPU op mapping without a Coral attached;
    otherwise a missing Edge TPU runtime is an error, like a missing GPU or phone. ``emulate``: cores to run
    each int8 model on under QEMU, built from the TFLM tree ``tflm`` with ``rounding`` (``tflm.ROUNDINGS``).
    """
    from lanmsff_edge.bench import measure
    from lanmsff_edge.bench.convert import expand_models
    from lanmsff_edge.bench.models import open_models, parse_input_range

    if device not in DEVICES:
        raise UserError(f"--device {device!r}: choose one of {', '.join(DEVICES)}")
    if threads < 1:
        raise UserError(f"--threads must be at least 1, got {threads}")
    if runs is not None and runs < 1:
        raise UserError(f"--runs must be at least 1, got {runs}")
    if warmup is not None and warmup < 0:
        raise UserError(f"--warmup must be 0 or more, got {warmup}")
    unknown = [d for d in android_delegates if d not in ANDROID_DELEGATES]
    if unknown:
        raise UserError(f"unknown Android delegate(s) {', '.join(unknown)}: choose from {', '.join(ANDROID_DELEGATES)}")
    if mapping_only and device != "coral":
        raise UserError(f"--mapping-only applies to --device coral, not {device}")
    if (emulate or patches) and device != "mcu":
        raise UserError(f"--emulate and --patches apply to --device mcu, not {device}")
    value_range = parse_input_range(input_range)
    settings = BenchSettings(device=device, threads=threads, runs=runs, warmup=warmup,
                             benchmark_binary=benchmark_binary, android_serial=android_serial,
                             android_delegates=tuple(android_delegates), command_runner=command_runner,
                             mapping_only=bool(mapping_only))
    settings.extra.update(emulate=tuple(emulate), patch_counts=tuple(patches), rounding=rounding)
    if emulate:  # tree and tools are checked before anything is loaded
        from lanmsff_edge.firmware_export import tflm as tflm_tree

        tflm_tree.check_rounding(rounding)
        tflm_tree.require_tools()
        settings.extra["tflm_tree"] = tflm_tree.find_tree(tflm)
    preflight(device, settings)
    load_at_start = load_average()  # before this process adds its own load
    from lanmsff_edge.bench.report import busy_host

    warning = busy_host({"load_at_start": load_at_start, "logical_cores": os.cpu_count()}, threads)
    if warning and not mapping_only:
        LOGGER.warning(warning)
    notes = []
    paths = expand_bundled(models) if models else bundled_models(dataset)
    paths = light_install_paths(paths, models, notes)
    if not all(map(is_tflite, paths)):  # Keras rows: TensorFlow's thread pools are set before it runs an op
        settings.keras_threads, note = measure.configure_tf_threads(threads)
        if note:
            notes.append(note)
    # a bundled model brings its own (QAT) int8 file: only the float32 TFLite is worth adding beside it
    from lanmsff_edge.artifacts import presets

    pairs_only = all(presets.is_pair_name(m) for m in models) and any(str(p).endswith(".tflite") for p in paths)
    precisions = ("float32",) if pairs_only else ("float32", "int8")
    LOGGER.info(f"bench --device {device}: opening {len(paths)} model(s)")
    opened = open_models(paths, value_range)
    if dataset is not None:
        LOGGER.info(f"loading {dataset} {split}" + (f" (first {limit} images)" if limit else ""))
    settings.data = load_data(dataset, data, split, limit, fold)
    settings.fold = fold
    for model in opened:
        measure.check_classes(model, settings.data)
    if convert:
        opened = expand_models(opened, dataset, data, None if settings.data is None else settings.data.images,
                               precisions, fold)

    module = importlib.import_module(devices.DEVICES[device].module)
    rows, device_notes, tables = module.run(opened, settings)
    notes.extend(device_notes)
    reference = attach_ratios(rows, None if settings.data is None else settings.data.labels)
    if reference is None:
        notes.append("no float model given: speed-up and size ratio are not shown")
    elif reference.latency is None or not reference.compare_speed:
        notes.append(f"the float reference ({reference.model}) was not timed on this target: sizes are compared, "
                     f"speed is not")
    host = host_info({"threads": threads, "load_at_start": load_at_start})
    return BenchReport(device=device, host=host, settings=settings.to_dict(), results=rows, notes=notes,
                       tables=tables)
