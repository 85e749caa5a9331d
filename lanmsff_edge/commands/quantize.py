"""`lanmsff-edge quantize`: model.keras → verified int8 (or fp16 / dynamic / float) TFLite and a cost report."""
import click

from lanmsff_edge.commands.params import SEED, FiniteFloatRange, InputPath, ModelPath, OutputPath, model_help
from lanmsff_edge.data.classes import DATASETS, SPLITS
from lanmsff_edge.quantize import methods
from lanmsff_edge.quantize.methods import IO_TYPES
from lanmsff_edge.training.settings import AUGMENT_CHOICES

METHODS = methods.CHOICES


def _tflite_suffix(ctx, param, value):
    if value is not None and not str(value).endswith(".tflite"):
        raise click.BadParameter(f"{value}: the output file must end in .tflite")
    return value


def _companions(out, params):
    """What quantize writes beside OUT: the variants, the reports, the calibration record, the QAT checkpoint."""
    from lanmsff_edge.quantize.qat_checkpoint import checkpoint_path

    chosen = methods.NAMES if params.get("method") == methods.ALL else (params.get("method") or methods.DEFAULT,)
    variants = [out.with_name(f"{out.stem}_{method}{out.suffix}") for method in chosen if len(chosen) > 1
                and method != "qat"]
    return [*variants, out.with_suffix(".json"), out.with_suffix(".md"), out.with_name(f"{out.stem}.calibration.json"),
            checkpoint_path(out)]


@click.command(help=f"""Convert a trained LANMSFF to TFLite and report what each variant costs.

\b
{methods.help_lines()}

Writes OUT (.tflite) and OUT.json (accuracy on --split, top-1 agreement and probability error vs the Keras
model, size, I/O types and quantization, TFLite Micro check). int8 models are batch 1 with static shapes and
must load and run in TFLite Micro, or the command fails naming the ops at fault. The calibration sample is
cached in $LANMSFF_CACHE/calibration (or calibration_cache/ beside OUT); its activation ranges go to
<stem>.calibration.json. QAT saves its state after every epoch; an interrupted run continues with --resume.""")
@click.option("--model", "model_path", required=True, type=ModelPath(formats=("float",)),
              help=model_help("A .keras model from `lanmsff-edge train` or its run folder", formats=("float",)))
@click.option("--dataset", type=click.Choice(DATASETS), help="Data set of the model (default: the training run's).")
@click.option("--data", type=InputPath(),
              help="The data set's folder or archive (not needed for synthetic).")
@click.option("--method", default=methods.DEFAULT, show_default=True, type=click.Choice(METHODS),
              help="Quantization method.")
@click.option("--epochs", default=3, show_default=True, type=click.IntRange(0, None),
              help="QAT fine-tuning epochs on the train split.")
@click.option("--learning-rate", default=5e-5, show_default=True, type=FiniteFloatRange(0, None, min_open=True),
              help="QAT fine-tuning learning rate (Adam).")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1, None), help="QAT batch size.")
@click.option("--calibration-size", default=500, show_default=True, type=click.IntRange(1, None),
              help="Images in the representative sample: PTQ calibration and the QAT starting ranges "
                   "(class- and pose-balanced, from train).")
@click.option("--io", "io", default="int8", show_default=True, type=click.Choice(IO_TYPES),
              help="Input/output type of the int8 models (float: QUANTIZE/DEQUANTIZE at the ends).")
@click.option("--split", default="val", show_default=True, type=click.Choice(SPLITS),
              help="Split the accuracy is measured on.")
@click.option("--fold", type=click.IntRange(1, 5), help="KDEF cross-validation fold.")
@click.option("--limit", type=click.IntRange(1, None), help="Use only the first N images of each split (quick runs).")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Calibration sample and fine-tuning seed.")
@click.option("--augment", type=click.Choice(AUGMENT_CHOICES),
              help="QAT fine-tuning augmentation [default: the training run's, else online].")
@click.option("--out", required=True, type=OutputPath(dir_okay=False, companions=_companions), callback=_tflite_suffix,
              help="Output .tflite file.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted QAT fine-tuning at its next epoch (from <stem>.qat_checkpoint.npz, "
                   "written beside OUT after every epoch; same options as the interrupted run).")
def command(model_path, dataset, data, method, epochs, learning_rate, batch_size, calibration_size, io, split, fold,
            limit, seed, augment, out, resume):
    from lanmsff_edge.log import get_logger
    from lanmsff_edge.quantize.pipeline import quantize

    try:
        result = quantize(model_path, dataset=dataset, data=data, method=method, out=out, epochs=epochs,
                          learning_rate=learning_rate, batch_size=batch_size, calibration_size=calibration_size,
                          io=io, split=split, fold=fold, limit=limit, seed=seed, augment=augment, resume=resume)
    except KeyboardInterrupt:
        if method in ("qat", "all"):
            get_logger(__name__).info("continue it: the same command with --resume")
        raise
    click.echo("")
    click.echo(result["table"], nl=False)
    click.echo("")
    for row in result["variants"]:
        click.echo(f"wrote {row['file']}")
    for path in result["reports"]:
        click.echo(f"wrote {path}")
