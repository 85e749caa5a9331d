"""``--device cpu``: Keras rows through TensorFlow, TFLite rows through LiteRT (XNNPACK), ``--threads`` each."""
from lanmsff_edge.bench.rows import keras_row, litert_row


def run(models, settings):
    """(rows, notes, tables) for the host CPU."""
    rows = [keras_row(m, settings) if m.is_keras else litert_row(m, settings) for m in models]
    return rows, [], {}
