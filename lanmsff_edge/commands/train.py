"""`lanmsff-edge train`: the paper's recipe, resumable, on one device or several."""

import click

from lanmsff_edge.commands.params import SEED, WIDTH, FiniteFloatRange, InputPath, ModelPath
from lanmsff_edge.data.classes import DATASETS
from lanmsff_edge.model.options import MASSATT_FORMS
from lanmsff_edge.training.config import COSINE_FLOOR, COSINE_WARMUP_EPOCHS, SCHEDULES, TARGETS
from lanmsff_edge.training.distribute import STRATEGIES
from lanmsff_edge.training.precision import PRECISIONS
from lanmsff_edge.training.settings import AUGMENT_CHOICES


@click.command(help="Train LANMSFF with the paper's recipe (Adam 1e-3, cross-entropy, LR ×0.1 after 8 epochs "
                    "without val-loss progress, early stopping after 14, best weights kept). Writes OUT/model.keras, "
                    "config.json, history.csv, history.png (curves, updated every epoch), metrics.json, confusion.png; "
                    "a checkpoint after every epoch lets "
                    "--resume continue a killed run.")
@click.option("--dataset", type=click.Choice(DATASETS), help="Data set (on --resume: taken from the run).")
@click.option("--data", type=InputPath(), help="The data set's folder or archive as distributed "
                                                           "(not needed for synthetic).")
@click.option("--epochs", type=click.IntRange(1, None),
              help="Most epochs (early stopping may end sooner). [default: 100; synthetic 3]")
@click.option("--batch-size", type=click.IntRange(1, None), help="Global batch size. [default: 32]")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder. [default: runs/DATASET[_foldK]]")
@click.option("--resume", is_flag=True, help="Continue the run in --out at its next epoch.")
@click.option("--seed", type=SEED, help="Seed for weights, shuffling, augmentation. [default: 0]")
@click.option("--width", type=WIDTH, help="Width multiplier. [default: 1]")
@click.option("--no-massatt", is_flag=True, help="Without MassAtt (ablation).")
@click.option("--no-pwfs", is_flag=True, help="Without PWFS (ablation).")
@click.option("--massatt-form", type=click.Choice(MASSATT_FORMS),
              help="MassAtt as in the authors' code (sigmoid per path) or the paper's equation (3). [default: code]")
@click.option("--fold", type=click.IntRange(1, 5), help="KDEF cross-validation fold (the validation subjects).")
@click.option("--strategy", type=click.Choice(STRATEGIES),
              help="tf.distribute strategy: mirrored = all GPUs (or logical CPUs) of this machine, multiworker = "
                   "the machines in TF_CONFIG. [default: default]")
@click.option("--augment", type=click.Choice(AUGMENT_CHOICES),
              help="online: random crop/rotation/flip per epoch; paper: the ×4 offline expansion. [default: online]")
@click.option("--limit", type=click.IntRange(1, None), help="Use only the first N images of each split.")
@click.option("--bn-recalibration/--no-bn-recalibration", default=None,
              help="Re-estimate BN statistics with dropout off before each validation (fixes the dropout→BN "
                   "variance shift; no weight changes). [default: on]")
@click.option("--targets", type=click.Choice(TARGETS),
              help="majority: one-hot majority label; votes (FERPlus): the 10 annotators' vote distribution as soft "
                   "targets (Barsoum et al. 2016). Validation accuracy is on majority labels either way. "
                   "[default: majority]")
@click.option("--init", "init", type=ModelPath(), metavar="MODEL",
              help="Start from this model's weights instead of random ones: a preset (e.g. ferplus), a .keras file "
                   "or a run folder. Its width and ablation options become the defaults; a smaller --width keeps its "
                   "most important channels (filter pruning); with another class count the classifier head starts "
                   "fresh. Fine-tune with a lower --learning-rate, e.g. 1e-4.")
@click.option("--teacher", type=ModelPath(), metavar="MODEL",
              help="Distil this trained model (a preset, e.g. ferplus, a model file or a run folder; same classes): "
                   "its predictions on the training images, made once, are mixed into the targets.")
@click.option("--teacher-weight", type=FiniteFloatRange(0, 1),
              help="The teacher's share of the targets (the rest: --targets). [default: 0.5]")
@click.option("--learning-rate", type=FiniteFloatRange(0, None, min_open=True),
              help="Adam's initial learning rate (×0.1 on each plateau). [default: 1e-3]")
@click.option("--dropout", type=FiniteFloatRange(0, 1, max_open=True),
              help="Dropout rate at the end of each block (not taken from --init); the narrow widths underfit at "
                   "the paper's rate. [default: 0.4]")
@click.option("--label-smoothing", type=FiniteFloatRange(0, 1, max_open=True),
              help="Label smoothing of the cross-entropy (FER-2013's labels are noisy). [default: 0]")
@click.option("--schedule", type=click.Choice(SCHEDULES),
              help="plateau: the paper's ×0.1 after 8 epochs without val-loss progress; cosine: "
                   f"{COSINE_WARMUP_EPOCHS} warm-up epochs, then a cosine to {COSINE_FLOOR:g}× the initial rate at "
                   "--epochs (early stopping still watches val_loss). [default: plateau]")
@click.option("--precision", type=click.Choice(PRECISIONS),
              help="Compute precision: mixed_bfloat16 is faster only where the hardware has bfloat16 (a GPU, "
                   "AVX512_BF16/AMX CPUs) and several times slower elsewhere (benchmarks/train_throughput.py). "
                   "[default: mixed_bfloat16 on such hardware, else float32]")
@click.option("--threads", type=click.IntRange(1, None), help="CPU threads for TensorFlow. [default: all]")
def command(dataset, data, epochs, batch_size, out, resume, seed, width, no_massatt, no_pwfs, massatt_form, fold,
            strategy, augment, limit, bn_recalibration, targets, init, teacher, teacher_weight, learning_rate, dropout,
            label_smoothing, schedule, precision, threads):
    from lanmsff_edge.log import enabled, get_logger
    from lanmsff_edge.training import train

    try:
        train(dataset=dataset, data=data, out=out, epochs=epochs, batch_size=batch_size, resume=resume, seed=seed,
              width=width, massatt=False if no_massatt else None, pwfs=False if no_pwfs else None,
              massatt_form=massatt_form, fold=fold, strategy=strategy, augment=augment, limit=limit,
              bn_recalibration=bn_recalibration, targets=targets, init=init, teacher=teacher,
              teacher_weight=teacher_weight, learning_rate=learning_rate, dropout=dropout,
              label_smoothing=label_smoothing, schedule=schedule, precision=precision, threads=threads,
              verbose=1 if enabled() else 0)  # progress lines on stderr; -q: none
    except KeyboardInterrupt:
        get_logger(__name__).info("continue it: the same command with --resume"
                                  + ("" if out else " --out <that folder>"))
        raise
