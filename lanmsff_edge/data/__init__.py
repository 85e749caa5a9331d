"""Data sets in the layouts their users download, the paper's preprocessing and augmentation, tf.data pipelines.

    images = load_dataset("ferplus", "ferplus.tar.gz", "train")      # LabeledImages, uint8 N×64×64
    batches = make_tf_dataset(images, 32, augment="online", shuffle=True)

TensorFlow is imported inside ``make_tf_dataset`` / ``paper_augment``, so loading data alone does not start it.
"""
from lanmsff_edge.data.augment import paper_augment
from lanmsff_edge.data.classes import CLASS_NAMES, DATASETS, SPLITS
from lanmsff_edge.data.common import IMAGE_SIZE, LabeledImages, to_model_input
from lanmsff_edge.data.loading import load_dataset
from lanmsff_edge.data.pipeline import AUGMENT_MODES, make_tf_dataset

__all__ = ["CLASS_NAMES", "DATASETS", "SPLITS", "IMAGE_SIZE", "AUGMENT_MODES", "LabeledImages", "to_model_input",
           "load_dataset", "make_tf_dataset", "paper_augment"]
