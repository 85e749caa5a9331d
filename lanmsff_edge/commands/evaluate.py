"""`lanmsff-edge evaluate`: the paper's metrics for one model, or the mean over several (k-fold CV)."""
import click

from lanmsff_edge.commands.params import InputPath, ModelPath, OutputPath, model_help
from lanmsff_edge.data.classes import DATASETS, SPLITS
from lanmsff_edge.evaluation.tta import TTA_MODES

EVALUATION_SPLITS = tuple(s for s in SPLITS if s != "train")  # a model is not evaluated on what it learned


@click.command(help="Accuracy, per-class accuracy, normalised confusion matrix (rows = actual, %), parameters, "
                    "information density and pose variance of a model on a data set split. Several --model give "
                    "each result and their mean, e.g. the five KDEF folds: "
                    "--model runs/kdef_fold1 ... --model runs/kdef_fold5 (each run evaluates on its own fold).")
@click.option("--model", "models", required=True, multiple=True, type=ModelPath(),
              help=model_help("A .keras or .tflite file or a training run folder", "Repeat for a k-fold mean."))
@click.option("--dataset", type=click.Choice(DATASETS), help="Data set [default: the run's].")
@click.option("--data", type=InputPath(), help="The data set's folder or archive [default: the run's].")
@click.option("--split", default="val", show_default=True, type=click.Choice(EVALUATION_SPLITS))
@click.option("--pose-list", "pose_lists", multiple=True, type=InputPath(dir_okay=False),
              help="A RAN pose list (Pose-FERPlus >30°, >45°); repeat for each. Adds per-pose accuracy and Var.")
@click.option("--fold", type=click.IntRange(1, 5), help="KDEF fold [default: the run's fold].")
@click.option("--limit", type=click.IntRange(1, None), help="Evaluate only the first N images.")
@click.option("--unseen", is_flag=True,
              help="Also the accuracy on the images that are not pixel copies of training images (FER-2013 repeats "
                   "faces across splits: 7 % of FERPlus validation).")
@click.option("--baseline", type=ModelPath(), metavar="MODEL",
              help="Also evaluate this model on the same images and compare: points gained, images gained / lost, "
                   "top-1 agreement and the exact McNemar p (is the difference real or chance?).")
@click.option("--tta", type=click.Choice(TTA_MODES),
              help="Also the accuracy with test-time augmentation, beside the single-crop figure: flip (2 views: the "
                   "face and its mirror) or crops (10: corners, centre and their mirrors). Each view is one more "
                   "inference; a microcontroller runs one.")
@click.option("--json", "json_path", type=OutputPath(dir_okay=False), help="Write the metrics as JSON.")
@click.option("--confusion", "confusion_path", type=OutputPath(dir_okay=False),
              help="Write the confusion matrix as a PNG.")
def command(models, dataset, data, split, pose_lists, fold, limit, unseen, baseline, tta, json_path,
            confusion_path):
    from lanmsff_edge.evaluation import evaluate, evaluate_many, format_mean, format_report

    options = dict(data=data, split=split, pose_lists=pose_lists, fold=fold, limit=limit, json_path=json_path,
                   confusion_path=confusion_path, unseen_vs="train" if unseen else None, baseline=baseline,
                   tta=tta)
    if len(models) == 1:
        click.echo(format_report(evaluate(models[0], dataset, **options)))
        return
    summary = evaluate_many(models, dataset, **options)
    for metrics in summary["runs"]:
        click.echo(format_report(metrics))
        click.echo("")
    click.echo(format_mean(summary["mean"]))
