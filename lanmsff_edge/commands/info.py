"""`lanmsff-edge info`: what a model costs, per block."""
import click

from lanmsff_edge.commands.params import WIDTH, ModelPath, OutputPath, model_help


@click.command(help="Parameters, multiply-accumulates and a per-block table of LANMSFF or of a saved model; for a "
                    ".tflite file its tensors, quantization, labels, ops and TFLite Micro / Edge TPU support.")
@click.option("--model", "model_path", type=ModelPath(),
              help=model_help("A .keras or .tflite file or a training run folder",
                              "[default: build one from --classes and --width]"))
@click.option("--classes", default=8, show_default=True, type=click.IntRange(2, None), help="Classes of a built model.")
@click.option("--width", default=1.0, show_default=True, type=WIDTH,
              help="Width multiplier of a built model.")
@click.option("--no-massatt", is_flag=True, help="Build without MassAtt (ablation).")
@click.option("--no-pwfs", is_flag=True, help="Build without PWFS (ablation).")
@click.option("--labels", help="Class names of a .tflite file's output (comma-separated, or a .txt / .json file) "
                                "when neither its metadata nor a file beside it names them.")
@click.option("--json", "json_path", type=OutputPath(dir_okay=False), help="Also write the summary as JSON.")
def command(model_path, classes, width, no_massatt, no_pwfs, labels, json_path):
    import json

    from lanmsff_edge.artifacts.reference import resolve_model_path
    from lanmsff_edge.atomic import write_text

    path = resolve_model_path(model_path) if model_path else None
    if path is not None and path.suffix == ".tflite":  # read from the flatbuffer: TensorFlow is not needed
        from lanmsff_edge.tflite_info import describe, describe_lines

        report = describe(path, labels_option=labels)
        click.echo("\n".join(describe_lines(report)))
        if json_path:
            write_text(json_path, json.dumps(report, indent=2) + "\n")
        return
    if labels:
        raise click.UsageError("--labels names the outputs of a .tflite file; a Keras model's come from its run")
    from lanmsff_edge.extras import TensorFlowMissing

    try:
        from lanmsff_edge.model import build_model, load_model, model_summary
    except TensorFlowMissing as error:  # a Keras model; a .tflite one is read without TensorFlow
        from lanmsff_edge.artifacts import presets

        int8 = [name for name in presets.bundled_names() if name.endswith(":int8")][:1]
        raise TensorFlowMissing(f"{error}; info of a .tflite file{f' (--model {int8[0]})' if int8 else ''} needs "
                                "none") from None

    if path is not None:
        from lanmsff_edge.artifacts import presets

        bundled = f" (bundled {model_path})" if presets.is_bundled_name(model_path) else ""
        click.echo(f"file        {path}{bundled}")  # which file a bundled name or a run folder stands for
        model = load_model(path)
    else:
        click.echo(f"file        none: built with --width {width:g}, --classes {classes} (untrained)")
        model = build_model(classes, width=width, massatt=not no_massatt, pwfs=not no_pwfs)
    summary = model_summary(model)
    click.echo(f"model       {summary['name']}")
    click.echo(f"input       {summary['input_shape']}")
    click.echo(f"classes     {summary['num_classes']}")
    click.echo(f"parameters  {summary['params']:,} ({summary['trainable_params']:,} trainable)")
    click.echo(f"MACs        {summary['macs']:,} ({summary['macs'] / 1e6:.1f} M per image)")
    click.echo("")
    click.echo(f"{'block':<8} {'params':>10} {'MACs':>14} {'share':>7}  output")
    for block in summary["blocks"]:
        share = block["macs"] / summary["macs"] if summary["macs"] else 0.0
        shape = "×".join(str(d) for d in block["output_shape"][1:])
        click.echo(f"{block['block']:<8} {block['params']:>10,} {block['macs']:>14,} {share:>7.1%}  {shape}")
    if json_path:
        write_text(json_path, json.dumps(summary, indent=2) + "\n")
