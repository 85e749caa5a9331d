"""What a resumed fit may not change, and the augmentation choices: shared by training and QAT, TF-free."""
from lanmsff_edge.data.pipeline import AUGMENT_MODES as AUGMENT_CHOICES  # one table
from lanmsff_edge.errors import UserError


def check_augment(augment):
    if augment not in AUGMENT_CHOICES:
        raise UserError(f"unknown augmentation {augment!r}: choose one of {', '.join(AUGMENT_CHOICES)}")
    return augment


def changed_settings(saved, current, keys):
    """``[(key, saved value, current value)]`` for each of ``keys`` whose values differ (1 and 1.0 do not)."""
    return [(key, saved.get(key), current.get(key)) for key in keys
            if saved.get(key) != current.get(key) and not _same_number(saved.get(key), current.get(key))]


def _same_number(a, b):
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and float(a) == float(b)
