"""The loaders on the real archives in ../shared/data (skipped where absent): exact counts, read in place."""
import numpy as np
import pytest
from conftest import shared_archive

from lanmsff_edge.data import load_dataset
from lanmsff_edge.errors import UserError

pytestmark = pytest.mark.shared_data

# measured on ../shared/data (FERPlus majority rule; the paper reports 25,371 / 3,225 for its FERPlus copy)
EXPECTED = {
    ("ferplus", "train"): (25045, [8733, 7284, 3136, 3022, 2098, 116, 536, 120]),
    ("ferplus", "val"): (3191, [1180, 862, 411, 348, 289, 25, 60, 16]),
    ("fer2013", "train"): (28709, [3995, 436, 4097, 7215, 4830, 3171, 4965]),
    ("fer2013", "val"): (3589, [467, 56, 496, 895, 653, 415, 607]),
}


@pytest.mark.parametrize("dataset, split", sorted(EXPECTED))
def test_counts_on_the_shared_archives(dataset, split):
    archive = shared_archive(f"{dataset}.tar.gz")
    images = load_dataset(dataset, archive, split)
    total, per_class = EXPECTED[dataset, split]
    assert len(images) == total and images.class_counts().tolist() == per_class
    assert images.skipped == 0
    assert images.images.shape == (total, 64, 64) and images.images.dtype == np.uint8
    assert images.images.std() > 30  # real faces, not blanks


@pytest.mark.parametrize("dataset", ["ferplus", "fer2013"])
def test_held_back_test_split_is_reported(dataset):
    with pytest.raises(UserError, match="the test split is not in this copy"):
        load_dataset(dataset, shared_archive(f"{dataset}.tar.gz"), "test")


def test_data_checks_on_the_shared_ferplus_find_the_copied_faces_and_no_blur():
    """FER-2013 repeats faces across its splits: 231 FERPlus validation images are training images too."""
    from lanmsff_edge.data.audit import audit

    archive = shared_archive("ferplus.tar.gz")
    report = audit([load_dataset("ferplus", archive, "train"), load_dataset("ferplus", archive, "val")])
    assert report["findings"] == ["231 of 3,191 val images (7.2 %) are pixel-identical to train images: val accuracy "
                                  "includes them (evaluate --unseen leaves them out)"]
    assert all(split["sharpness_median"] > 100 for split in report["splits"])
