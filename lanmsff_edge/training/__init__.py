"""Training LANMSFF with the paper's recipe: resumable runs, tf.distribute strategies, per-epoch checkpoints."""
from lanmsff_edge.training.config import DEFAULT_EPOCHS
from lanmsff_edge.training.run import train

__all__ = ["train", "DEFAULT_EPOCHS"]
