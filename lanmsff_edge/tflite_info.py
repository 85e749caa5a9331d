"""``info`` for a ``.tflite`` file: what an integrator needs before wiring the model into an app or firmware.

Read from the flatbuffer alone (no interpreter): size, parameters, MACs, precision, the input and output tensors
with their quantization (the device must quantize its input with exactly these), the class labels and where they
came from, the ops, and whether TFLite Micro has a kernel for each op and how the ops map onto the Edge TPU
(published rules). The arena size needs an interpreter: ``bench --device mcu`` measures it.
"""
import textwrap
from pathlib import Path

from lanmsff_edge.errors import UserError


def describe(path, labels_option=None):
    """A JSON-ready dict describing the ``.tflite`` file at ``path``. Labels come only from ``labels_option``
    (``--labels``), the model's card, sidecar or metadata: ``info`` names no classes it was not told."""
    from lanmsff_edge.artifacts.labels import resolve_labels
    from lanmsff_edge.runtimes.base import is_face_model
    from lanmsff_edge.runtimes.edgetpu_rules import check as edgetpu_check
    from lanmsff_edge.runtimes.edgetpu_rules import summary as edgetpu_summary
    from lanmsff_edge.runtimes.micro import unsupported_ops
    from lanmsff_edge.tflite_graph import read_tflite, tflite_params, tflite_precision

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file")
    from lanmsff_edge import userfiles

    data = userfiles.read_bytes(path, "model", what="model")
    graph = read_tflite(data, source=str(path))
    outputs = graph.outputs
    if len(outputs) == 1 and len(outputs[0].shape) == 2:
        labels, label_source = resolve_labels(path, int(outputs[0].shape[1]), model_bytes=data, option=labels_option,
                                              guess=False)
    elif labels_option:
        raise UserError(f"--labels: {path} does not give one (1, classes) output to name")
    else:
        labels, label_source = None, "not a single (1, classes) output"
    missing = unsupported_ops(graph)
    edgetpu = edgetpu_check(data, str(path))
    return {
        "file": str(path),
        "size_bytes": graph.size_bytes,
        "params": tflite_params(graph),
        "macs": graph.macs,
        "macs_not_counted": graph.uncounted_ops,
        "face_classifier": is_face_model([t.shape for t in graph.inputs], [t.shape for t in outputs]),
        "precision": tflite_precision(graph),
        "fully_integer": graph.fully_integer,
        "integer_io": graph.integer_io,
        "inputs": [tensor.as_dict() for tensor in graph.inputs],
        "outputs": [tensor.as_dict() for tensor in outputs],
        "labels": None if labels is None else list(labels),
        "labels_source": label_source,
        "op_counts": graph.op_counts,
        "tflite_micro": {"supported": not missing, "missing_ops": missing},
        "edge_tpu": {"ops_on_tpu": edgetpu["ops_on_tpu"], "ops_total": edgetpu["ops_total"],
                     "macs_fraction_on_tpu": edgetpu["macs_fraction_on_tpu"], "summary": edgetpu_summary(edgetpu)},
    }


def _tensor_line(tensor):
    shape = "×".join(str(d) for d in tensor["shape"])
    text = f"{tensor['name'] or '#' + str(tensor['index'])}  {shape}  {tensor['dtype']}"
    if tensor["scale"] is not None:
        text += f"  scale {tensor['scale']:.8g}  zero point {tensor['zero_point']}"
    return text


def _uncounted(report):
    missing = report.get("macs_not_counted") or {}
    if not missing:
        return ""
    return "; not counted: " + ", ".join(f"{name} ×{count}" for name, count in sorted(missing.items()))


def _signed(number):
    return f"- {-number}" if number < 0 else f"+ {number}"


def describe_lines(report):
    """The human-readable form of ``describe``'s dict."""
    micro = report["tflite_micro"]
    edge = report["edge_tpu"]
    lines = [
        f"file        {report['file']} ({report['size_bytes'] / 1024:,.1f} KB)",
        f"precision   {report['precision']}" + ("" if report["integer_io"] else " (float input/output)"),
        f"parameters  {report['params']:,}",
        f"MACs        {report['macs']:,} ({report['macs'] / 1e6:.1f} M per inference)" + _uncounted(report),
    ]
    for tensor in report["inputs"]:
        lines.append(f"input       {_tensor_line(tensor)}")
        if tensor["scale"] is not None:
            what = ("x = the gray face min-max normalised to [0, 1]" if report["face_classifier"]
                    else "x = the real-valued input the model was trained on")
            lines.append(f"            feed q = round(x / {tensor['scale']:.8g}) {_signed(tensor['zero_point'])}, "
                         f"clamped to {tensor['dtype']}; {what}")
    for tensor in report["outputs"]:
        lines.append(f"output      {_tensor_line(tensor)}")
        if tensor["scale"] is not None:
            lines.append(f"            read p = (q {_signed(-tensor['zero_point'])}) × {tensor['scale']:.8g}")
    if report["labels"] is not None:
        lines.append(f"labels      {', '.join(report['labels'])} ({report['labels_source']})")
    elif report["labels_source"].startswith("none"):
        lines.append(f"labels      {report['labels_source']}")
    ops = ", ".join(f"{name} ×{count}" for name, count in sorted(report["op_counts"].items(),
                                                                 key=lambda item: (-item[1], item[0])))
    lines += textwrap.wrap(f"{sum(report['op_counts'].values())}: {ops}", width=108,
                           initial_indent="ops         ", subsequent_indent=" " * 12)
    lines.append("TFLM        every op has a kernel (arena: bench --device mcu)" if micro["supported"]
                 else f"TFLM        no kernel for: {', '.join(micro['missing_ops'])}")
    detail = edge["summary"].removeprefix("Edge TPU: ").removeprefix("Edge TPU ")
    lines.append(f"Edge TPU    {edge['ops_on_tpu']}/{edge['ops_total']} ops map; {detail}")
    return lines

