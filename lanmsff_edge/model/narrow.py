"""A narrower LANMSFF from a wider trained one: structured channel selection (filter pruning).

``narrow_weights(wide, narrow)`` fills ``narrow`` (the same architecture at a smaller ``width``) with a subset of
``wide``'s channels: every layer keeps its most important output channels, ranked by the L1 norm of the filter
times the BatchNormalization scale |γ/σ| that follows it (Li et al. 2017, "Pruning filters for efficient
ConvNets"; Liu et al. 2017, "network slimming"), and each consumer keeps the matching input rows. Fine-tuning
then starts from the wide model's best features instead of random ones.

Three reshaping ops tie channels together, and the selection keeps them tied:
- PWFS (blocks 1-3) combines channels t, t+C/3, t+2C/3: those outputs are chosen as triplets, the same t in
  each third, so the narrow PWFS combines channels the wide one combined.
- The channel shuffle + split of blocks 2 and 4 send each input channel to the left or right half (the plain or
  the dilated path): a kept channel goes to the half it went to in the wide model (at every width
  ``block_widths`` makes there are enough of each kind).
- MassAtt's channel attention multiplies its block's features element-wise: its last layer keeps their channels;
  its spatial path reads the channel mean, so its first kernel is scaled by C_narrow / C_wide.

So the narrow model computes exactly what the wide one computes once its dropped channels are silenced, and
channels are kept in order of importance, not of index: narrowing a model to its own width is a permutation of
it with the same predictions. The tests check both.
"""
import numpy as np

from lanmsff_edge.errors import UserError

BLOCK_KINDS = (("block1", "a"), ("block2", "b"), ("block3", "a"), ("block4", "b"))


def output_layer(block, kind):
    """The convolution whose channels are the block's output."""
    return f"{block}_c3_conv" if kind == "a" else f"{block}_c1x1_conv"


def block_widths_of(model):
    """The four block widths of a LANMSFF model, read from its layers."""
    layers = {layer.name for layer in model.layers}
    widths = []
    for block, kind in BLOCK_KINDS:
        layer = output_layer(block, kind)
        if layer not in layers:
            raise UserError(f"{model.name} is not a LANMSFF model (no layer {layer!r})")
        widths.append(int(model.get_layer(layer).get_weights()[0].shape[-1]))
    return tuple(widths)


def narrow_weights(wide, narrow):
    """Copy ``wide``'s most important channels into ``narrow``, a LANMSFF with the same options and every block
    as wide or narrower. The classifier head is copied only when the class counts agree. Returns the selection:
    {layer name: the wide output channels it kept, in the narrow order}."""
    wide_widths, narrow_widths = block_widths_of(wide), block_widths_of(narrow)
    if any(n > w for n, w in zip(narrow_widths, wide_widths)):
        raise UserError(f"cannot narrow {wide.name} (blocks {wide_widths}) to {narrow.name} (blocks "
                        f"{narrow_widths}): the target is wider")
    differing = {layer.name for layer in wide.layers} ^ {layer.name for layer in narrow.layers}
    if differing:
        raise UserError(f"cannot narrow {wide.name} to {narrow.name}: another architecture (layers only in one: "
                        f"{', '.join(sorted(differing)[:3])}); build it with the same --no-massatt / --no-pwfs / "
                        "--massatt-form")
    return _Copier(wide, narrow).run()


class _Copier:
    def __init__(self, wide, narrow):
        self.wide = {layer.name: layer.get_weights() for layer in wide.layers if layer.get_weights()}
        self.epsilon = {layer.name: layer.epsilon for layer in wide.layers if hasattr(layer, "moving_variance")}
        self.narrow = narrow
        names = {layer.name for layer in narrow.layers}
        self.pwfs = "fusion_pwfs1" in names
        self.massatt = "block2_massatt_fc1" in names
        self.selection = {}

    def run(self):
        rows = np.asarray([0])  # the grey image's one channel
        outputs = []
        for index, (block, kind) in enumerate(BLOCK_KINDS):
            next_shuffles = index + 1 < len(BLOCK_KINDS) and BLOCK_KINDS[index + 1][1] == "b"
            out = self._block_output(block, kind, next_shuffles)
            if kind == "a":
                self._block_a(block, rows, out)
            else:
                self._block_b(block, rows, out)
            outputs.append(out)
            rows = out
        self._head(outputs)
        return self.selection

    # -- one layer ----------------------------------------------------------------------------------------------
    def _count(self, layer):
        """Output channels of the narrow ``layer``."""
        return int(self.narrow.get_layer(layer).get_weights()[0].shape[-1])

    def _importance(self, layer, bn=None):
        """Per output channel of ``layer``: the L1 norm of its filter × |γ/σ| of the BatchNormalization ``bn``
        after it (when there is one)."""
        kernel = self.wide[layer][0]
        score = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
        if bn is not None:
            gamma, _, _, variance = self.wide[bn]
            score = score * np.abs(gamma) / np.sqrt(variance + self.epsilon[bn])
        return score

    def _best(self, layer, bn=None):
        """The most important output channels of ``layer`` (as many as the narrow one has), best first: for the
        layers nothing downstream ties."""
        return np.argsort(-self._importance(layer, bn), kind="stable")[:self._count(layer)]

    def _set(self, layer, weights):
        self.narrow.get_layer(layer).set_weights([np.ascontiguousarray(w) for w in weights])

    def _conv(self, layer, rows, columns, bn=None):
        """Convolution ``layer`` (kernel, bias) from the wide one: input ``rows``, output ``columns`` (wide
        indices); then the BatchNormalization ``bn`` after it, if any."""
        kernel, bias = self.wide[layer]
        self._set(layer, [kernel[:, :, rows][..., columns], bias[columns]])
        if bn is not None:
            self._set(bn, [weights[columns] for weights in self.wide[bn]])
        self.selection[layer] = np.asarray(columns)

    def _separable(self, prefix, rows, columns):
        """A depthwise + pointwise pair and its BN: the depthwise keeps the input channels, the pointwise maps."""
        (depthwise,) = self.wide[f"{prefix}_dw"]
        self._set(f"{prefix}_dw", [depthwise[:, :, rows, :]])
        self._conv(f"{prefix}_pw", rows, columns, f"{prefix}_bn")

    # -- blocks -------------------------------------------------------------------------------------------------
    def _block_a(self, block, rows, out):
        c1 = self._best(f"{block}_c1_conv", f"{block}_c1_bn")
        self._conv(f"{block}_c1_conv", rows, c1, f"{block}_c1_bn")
        c2 = self._best(f"{block}_c2_pw", f"{block}_c2_bn")
        self._separable(f"{block}_c2", c1, c2)
        self._conv(f"{block}_c3_conv", c2, out, f"{block}_c3_bn")

    def _block_b(self, block, rows, out):
        """``rows``: the block input's wide channels, in narrow order (chosen so each keeps its shuffle half)."""
        wide_in, narrow_in = self.wide[f"{block}_s1a_conv"][0].shape[2] * 2, len(rows)
        shuffled = [_shuffled_position(rows[_channel_at(p, narrow_in)], wide_in) for p in range(narrow_in)]
        left, right = shuffled[:narrow_in // 2], [p - wide_in // 2 for p in shuffled[narrow_in // 2:]]
        features = None  # the wide channels of each stage's concatenation, in narrow order
        for stage in ("s1", "s2", "s3"):
            plain, dilated = f"{block}_{stage}a", f"{block}_{stage}b"
            kept = []
            for path, path_rows in ((plain, left), (dilated, right)) if stage == "s1" else (
                    (plain, features), (dilated, features)):
                if stage == "s2":  # separable convolutions
                    columns = self._best(f"{path}_pw", f"{path}_bn")
                    self._separable(path, path_rows, columns)
                else:
                    columns = self._best(f"{path}_conv", f"{path}_bn")
                    self._conv(f"{path}_conv", path_rows, columns, f"{path}_bn")
                kept.append(columns)
            path_width = self.wide[f"{plain}_{'pw' if stage == 's2' else 'conv'}"][0].shape[-1]
            features = np.concatenate([kept[0], path_width + kept[1]])
        if self.massatt:
            self._massatt(f"{block}_massatt", features)
        self._conv(f"{block}_c1x1_conv", features, out, f"{block}_c1x1_bn")

    def _massatt(self, prefix, features):
        hidden = self._best(f"{prefix}_fc1")
        self._conv(f"{prefix}_fc1", features, hidden)
        self._conv(f"{prefix}_fc2", hidden, features)
        wide_channels = self.wide[f"{prefix}_fc2"][0].shape[-1]
        kernel, bias = self.wide[f"{prefix}_down1"]  # reads the channel mean: over fewer channels now
        self._set(f"{prefix}_down1", [kernel * (len(features) / wide_channels), bias])
        for layer in ("down2", "up1", "up2"):  # the rest of the spatial path has no feature channel
            self._set(f"{prefix}_{layer}", self.wide[f"{prefix}_{layer}"])

    def _block_output(self, block, kind, next_shuffles):
        """The kept output channels of ``block`` (wide indices, narrow order): PWFS triplets for blocks 1-3 (with
        PWFS), each of whose channels keeps the half it takes in the next block's shuffle."""
        layer = output_layer(block, kind)
        score = self._importance(layer, layer.replace("_conv", "_bn"))
        wide_count, narrow_count = len(score), self._count(layer)
        groups = 3 if self.pwfs and block != "block4" else 1
        wide_group, narrow_group = wide_count // groups, narrow_count // groups

        def halves(index, group_size, count):  # which half of the next shuffle each channel of the triplet takes
            if not next_shuffles:
                return ()
            return tuple(_shuffled_position(g * group_size + index, count) < count // 2 for g in range(groups))

        ranked = np.argsort(-score.reshape(groups, wide_group).sum(axis=0), kind="stable")
        candidates = {}  # halves pattern → wide triplets, best first
        for t in ranked:
            candidates.setdefault(halves(t, wide_group, wide_count), []).append(int(t))
        chosen = []
        for j in range(narrow_group):
            pattern = halves(j, narrow_group, narrow_count)
            if not candidates.get(pattern):
                raise UserError(f"cannot narrow {block} from {wide_count} to {narrow_count} channels: too few "
                                "channels keep their shuffle half")
            chosen.append(candidates[pattern].pop(0))
        return np.asarray([g * wide_group + t for g in range(groups) for t in chosen])

    def _head(self, outputs):
        """The fused features are PWFS(b1..b3) and b4, each pooled: the head keeps the rows of the kept ones."""
        offset, rows = 0, []
        for (block, kind), out in zip(BLOCK_KINDS, outputs):
            wide_count = self.wide[output_layer(block, kind)][0].shape[-1]
            fused = 3 if self.pwfs and block != "block4" else 1  # PWFS: one feature per triplet
            rows.append(offset + out[:len(out) // fused])  # the first third's indices are the triplets' t
            offset += wide_count // fused
        kernel, bias = self.wide["head_softmax"]
        if self._count("head_softmax") == kernel.shape[1]:  # else another class count: the head starts fresh
            self._set("head_softmax", [kernel[np.concatenate(rows)], bias])


def _shuffled_position(channel, count):
    """Where ChannelShuffle(2) puts input ``channel`` of ``count``: channel g·C/2 + i goes to 2i + g."""
    half = count // 2
    return 2 * (channel % half) + channel // half


def _channel_at(position, count):
    """The input channel ChannelShuffle(2) puts at ``position`` (the inverse of ``_shuffled_position``)."""
    return (position % 2) * (count // 2) + position // 2
