"""Names of the data sets, their splits and their classes (label index = position in the tuple)."""

FERPLUS_CLASSES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
# FER-2013's own label order (the `emotion` column of fer2013.csv); KDEF uses the same 7 classes and order.
FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

CLASS_NAMES = {
    "ferplus": FERPLUS_CLASSES,
    "fer2013": FER2013_CLASSES,
    "kdef": FER2013_CLASSES,
    "synthetic": FERPLUS_CLASSES,
}
DATASETS = ("ferplus", "fer2013", "kdef", "synthetic")
SPLITS = ("train", "val", "test")
