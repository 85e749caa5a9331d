"""What a ``--model`` value names: a model file, a preset (``ferplus``, ``ferplus:int8``) or a training run folder
(its model.keras, or an unfinished run's best weights so far), and the config of the run it came from."""
import json
from pathlib import Path

from lanmsff_edge.artifacts import presets
from lanmsff_edge.errors import UserError
from lanmsff_edge.log import get_logger
from lanmsff_edge.text import read_text

LOGGER = get_logger(__name__)


def resolve_model_path(path, bundled_format="float"):
    """A model file, a preset name (``ferplus`` → its ``bundled_format`` file; ``ferplus:int8``), or a run
    folder (→ its model.keras; an unfinished run's best weights so far → best.keras, with a note on stderr).
    Missing → ``UserError``."""
    bundled = presets.resolve(path, bundled_format)
    if bundled is not None:
        return bundled
    path = Path(path)
    if path.is_dir():
        from lanmsff_edge.artifacts import run_folder

        candidate = path / run_folder.MODEL_NAME
        if candidate.exists():
            LOGGER.debug(f"{path}: training run folder, using {candidate}")
            return candidate
        if not run_folder.is_unfinished(path):
            raise UserError(f"{path} is a folder without model.keras or checkpoint.npz (not a training run?)")
        candidate, best_epoch, epochs = run_folder.best_so_far(path)
        LOGGER.warning(f"note: {path} is an unfinished training run: using its best weights so far (epoch {best_epoch} "
                    f"of {epochs}), {candidate}")
        return candidate
    if not path.exists():
        raise UserError(f"model file not found: {path}")
    return path


def run_config(model_path):
    """The config.json of the training run a model file belongs to (a preset's: from its card), or {}."""
    bundled = presets.bundled_config(model_path)
    if bundled is not None:
        return bundled
    config = Path(model_path).parent / "config.json"
    if not config.exists():
        return {}
    try:
        saved = json.loads(read_text(config))
    except (OSError, ValueError, UserError):  # not a readable run config: the model is used without one
        return {}
    from lanmsff_edge.artifacts.run_folder import config_problem

    problem = config_problem(saved)
    if problem:  # readable, but not a run's config: used without it, and said so
        LOGGER.warning("%s is not a run's config.json (%s); the model is used without it", config, problem)
        return {}
    return saved


def run_data_defaults(config, dataset, data=None, fold=None):
    """(data, fold) for ``dataset``: the ones given, else the training run's when ``config`` trained on it."""
    if config.get("dataset") != dataset:
        return data, fold
    return (data if data is not None else config.get("data"), fold if fold is not None else config.get("fold"))
