"""LANMSFF (Ezati et al.): four blocks (A, B, A, B), MassAtt, PWFS, multi-scale fusion → softmax.

The model is a function of a small config (keras-io style): ``build_model(num_classes, width, massatt, pwfs)``
builds the published network and its ablations / width family from the same code. Layer names start with
``block1_`` … ``block4_`` and ``fusion_`` / ``head_`` so tools can group them per block.
"""
from lanmsff_edge.keras import keras
from lanmsff_edge.model.layers import PWFS, ChannelMean, ChannelShuffle, ChannelSplit
from lanmsff_edge.model.options import MASSATT_FORMS

INPUT_SIZE = 64
BASE_WIDTHS = (66, 72, 78, 84)
MASSATT_RATIO = 4
DROPOUT = 0.4

L = keras.layers


def block_widths(width=1.0):
    """Channel widths of the four blocks, scaled by ``width`` and rounded to multiples of 6.

    6 keeps every width divisible by 3 (PWFS) and its half even (the two-path block splits in two).
    """
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return tuple(max(6, int(round(base * width / 6.0)) * 6) for base in BASE_WIDTHS)


def _conv_bn(x, filters, name, kernel=3, dilation=1, relu=True):
    x = L.Conv2D(filters, kernel, padding="same", dilation_rate=dilation, name=f"{name}_conv")(x)
    x = L.BatchNormalization(name=f"{name}_bn")(x)
    return L.ReLU(name=f"{name}_relu")(x) if relu else x


def _separable_bn(x, filters, name, dilation=1):
    """SeparableConv3×3 as its two halves (depthwise without bias, pointwise with bias): the same weights as
    Keras' SeparableConv2D, in the form the QAT registry and TFLite Micro handle directly."""
    x = L.DepthwiseConv2D(3, padding="same", dilation_rate=dilation, use_bias=False, name=f"{name}_dw")(x)
    x = L.Conv2D(filters, 1, name=f"{name}_pw")(x)
    x = L.BatchNormalization(name=f"{name}_bn")(x)
    return L.ReLU(name=f"{name}_relu")(x)


def _pool_relu_dropout(x, name, dropout):
    x = L.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = L.ReLU(name=f"{name}_out_relu")(x)
    return L.Dropout(dropout, name=f"{name}_dropout")(x)


def block_a(x, filters, name, dropout=DROPOUT):
    """Conv3×3 → BN → ReLU → SepConv3×3 → BN → ReLU → Conv3×3 → BN → MaxPool → ReLU → Dropout."""
    x = _conv_bn(x, filters, f"{name}_c1")
    x = _separable_bn(x, filters, f"{name}_c2")
    x = _conv_bn(x, filters, f"{name}_c3", relu=False)
    return _pool_relu_dropout(x, name, dropout)


def two_path_group(x, filters, name):
    """Channel shuffle, split in halves, then three stages of plain ‖ dilation-2 convolutions (F/2 each)."""
    half = filters // 2
    x = ChannelShuffle(2, name=f"{name}_shuffle")(x)
    left, right = ChannelSplit(2, name=f"{name}_split")(x)
    x = L.Concatenate(name=f"{name}_s1_concat")(
        [_conv_bn(left, half, f"{name}_s1a"), _conv_bn(right, half, f"{name}_s1b", dilation=2)]
    )
    x = L.Concatenate(name=f"{name}_s2_concat")(
        [_separable_bn(x, half, f"{name}_s2a"), _separable_bn(x, half, f"{name}_s2b", dilation=2)]
    )
    return L.Concatenate(name=f"{name}_s3_concat")(
        [_conv_bn(x, half, f"{name}_s3a"), _conv_bn(x, half, f"{name}_s3b", dilation=2)]
    )


def massatt(x, name, ratio=MASSATT_RATIO, form="code"):
    """MassAtt attention map for ``x`` (H×W×C → H×W×C, values in (0, 1)).

    channel path: GAP → Dense(C/r, ReLU) → Dense(C) (the Dense layers as 1×1 convolutions on the 1×1×C map:
    identical weights, no reshape); spatial path: channel mean → Conv3×3/2 (2) → Conv3×3/2 (4) →
    ConvT3×3/2 (4) → ConvT3×3/2 (1). ``form="code"`` (the authors' code, default): a sigmoid on each path, then
    A_c ⊗ A_s. ``form="equation"`` (paper eq. 3): σ(A_c ⊗ A_s) on the raw maps.
    """
    if form not in MASSATT_FORMS:
        raise ValueError(f"MassAtt form must be one of {MASSATT_FORMS}, got {form!r}")
    channels = x.shape[-1]
    path_activation = "sigmoid" if form == "code" else None
    a_c = L.GlobalAveragePooling2D(keepdims=True, name=f"{name}_gap")(x)
    a_c = L.Conv2D(max(1, channels // ratio), 1, activation="relu", name=f"{name}_fc1")(a_c)
    a_c = L.Conv2D(channels, 1, activation=path_activation, name=f"{name}_fc2")(a_c)
    a_s = ChannelMean(name=f"{name}_chmean")(x)
    a_s = L.Conv2D(2, 3, strides=2, padding="same", activation="relu", name=f"{name}_down1")(a_s)
    a_s = L.Conv2D(4, 3, strides=2, padding="same", activation="relu", name=f"{name}_down2")(a_s)
    a_s = L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu", name=f"{name}_up1")(a_s)
    a_s = L.Conv2DTranspose(1, 3, strides=2, padding="same", activation=path_activation, name=f"{name}_up2")(a_s)
    attention = L.Multiply(name=f"{name}_map")([a_c, a_s])
    if form == "equation":
        attention = L.Activation("sigmoid", name=f"{name}_sigmoid")(attention)
    return attention


def block_b(x, filters, name, use_massatt=True, massatt_form="code", dropout=DROPOUT):
    """Two-path group block → MassAtt ⊗ input → Conv1×1 → BN → MaxPool → ReLU → Dropout."""
    x = two_path_group(x, filters, name)
    if use_massatt:
        x = L.Multiply(name=f"{name}_attend")([x, massatt(x, f"{name}_massatt", form=massatt_form)])
    x = _conv_bn(x, filters, f"{name}_c1x1", kernel=1, relu=False)
    return _pool_relu_dropout(x, name, dropout)


def build_model(num_classes=8, width=1.0, massatt=True, pwfs=True, massatt_form="code", name=None, dropout=None):
    """Build LANMSFF for 64×64×1 inputs in [0, 1].

    ``massatt=False`` / ``pwfs=False`` give the paper's ablations (Table XII): without PWFS the block 1–3 maps go
    straight to GAP. ``width`` scales the block widths (see ``block_widths``). ``dropout``: the rate at the end of
    each block (None: the paper's ``DROPOUT``; narrow widths underfit at 0.4). Returns an uncompiled
    ``tf_keras.Model``; 358,563 parameters for 8 classes at width 1 (358,406 for 7).
    """
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    dropout = DROPOUT if dropout is None else float(dropout)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    widths = block_widths(width)
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="image")
    b1 = block_a(inputs, widths[0], "block1", dropout)
    b2 = block_b(b1, widths[1], "block2", massatt, massatt_form, dropout)
    b3 = block_a(b2, widths[2], "block3", dropout)
    b4 = block_b(b3, widths[3], "block4", massatt, massatt_form, dropout)
    pooled = []
    for index, features in enumerate((b1, b2, b3), start=1):
        if pwfs:
            features = PWFS(name=f"fusion_pwfs{index}")(features)
        pooled.append(L.GlobalAveragePooling2D(name=f"fusion_gap{index}")(features))
    pooled.append(L.GlobalAveragePooling2D(name="fusion_gap4")(b4))
    fused = L.Concatenate(name="fusion_concat")(pooled)
    mixed = keras.mixed_precision.global_policy().compute_dtype != "float32"  # training/precision.py
    outputs = L.Dense(int(num_classes), activation="softmax", name="head_softmax",
                      dtype="float32" if mixed else None)(fused)
    if name is None:
        name = "lanmsff" + ("" if width == 1.0 else f"_w{width:g}") + ("" if massatt else "_nomassatt") + (
            "" if pwfs else "_nopwfs")
    return keras.Model(inputs, outputs, name=name)


def build_from_options(num_classes, options):
    """``build_model`` for a training run's options (its ``config.json``; a run from before ``dropout`` existed
    gets the paper's rate)."""
    return build_model(num_classes, width=options["width"], massatt=options["massatt"], pwfs=options["pwfs"],
                       massatt_form=options["massatt_form"], dropout=options.get("dropout"))
