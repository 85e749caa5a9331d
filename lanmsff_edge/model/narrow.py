"""A narrower LANMSFF from a wider trained one: structured channel selection (filter pruning).

``narrow_weights(wide, narrow)`` fills ``narrow`` (the same architecture at a smaller ``width``) with a subset of
``wide``'s channels: every layer keeps its most important output channels, ranked by the L1 norm of the filter
times the BatchNormalization scale |γ/σ| that follows it (Li et al. 2017, "Pruning filters for efficient
ConvNets"; Liu et al. 2017, "network slimming"), and each consumer keeps the matching input rows. Fine-tuning
then recovers most of the wide model's accuracy in a few epochs instead of a from-scratch training.

Three reshaping ops tie channels together, and the selection keeps them tied:
- PWFS (blocks 1-3) combines channels t, t+C/3, t+2C/3: those outputs are chosen as triplets, the same t in
  each third, so the narrow PWFS combines channels the wide one combined.
- The channel shuffle + split of blocks 2 and 4 send each input channel to the left or right half (the plain or
  the dilated path): a kept channel goes to the half it went to in the wide model. Where the narrow shape leaves
  too few channels of a pattern, the remainder take the best others, and the rows they lack start at zero.
- MassAtt's channel attention multiplies its block's features element-wise: its last layer keeps their channels.

Channels are kept in order of importance, not of index, so the function is one permutation away from itself at
equal width: narrowing a model to its own width gives the same predictions (the tests check exactly that).
"""
import numpy as np

from lanmsff_edge.errors import UserError

BLOCK_KINDS = (("block1", "a"), ("block2", "b"), ("block3", "a"), ("block4", "b"))
_EPSILON = 1e-3  # Keras BatchNormalization's default


def block_widths_of(model):
    """The four block widths of a LANMSFF model, read from its layers."""
    layers = {layer.name for layer in model.layers}
    widths = []
    for name, kind in BLOCK_KINDS:
        layer = f"{name}_c3_conv" if kind == "a" else f"{name}_c1x1_conv"
        if layer not in layers:
            raise UserError(f"{model.name} is not a LANMSFF model (no layer {layer!r})")
        widths.append(int(model.get_layer(layer).get_weights()[0].shape[-1]))
    return tuple(widths)


def narrow_weights(wide, narrow):
    """Copy ``wide``'s most important channels into ``narrow`` (a LANMSFF of the same options, every block as
    wide or narrower). The classifier head is copied only when the class counts agree. Returns the selection:
    {space: wide channel indices}, for reports and tests."""
    wide_widths, narrow_widths = block_widths_of(wide), block_widths_of(narrow)
    if any(n > w for n, w in zip(narrow_widths, wide_widths)):
        raise UserError(f"cannot narrow {wide.name} (blocks {wide_widths}) to {narrow.name} (blocks "
                        f"{narrow_widths}): the target is wider")
    copier = _Copier(wide, narrow)
    return copier.run()


class _Copier:
    def __init__(self, wide, narrow):
        self.wide = {layer.name: layer.get_weights() for layer in wide.layers if layer.get_weights()}
        self.narrow = narrow
        names = {layer.name for layer in narrow.layers}
        self.pwfs = "fusion_pwfs1" in names
        self.massatt = "block2_massatt_fc1" in names
        self.selection = {}

    # -- helpers ------------------------------------------------------------------------------------------------
    def _out_count(self, layer):
        return int(self.narrow.get_layer(layer).get_weights()[0].shape[-1])

    def _importance(self, layer, bn=None):
        """Per output channel of ``layer``: the L1 norm of its filter × |γ/σ| of the BatchNormalization ``bn``
        after it (when there is one)."""
        kernel = self.wide[layer][0]
        score = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
        bn = self.wide.get(bn)
        if bn is not None:
            gamma, _, _, variance = bn
            score = score * np.abs(gamma) / np.sqrt(variance + _EPSILON)
        return score

    def _set(self, layer, weights):
        self.narrow.get_layer(layer).set_weights([np.ascontiguousarray(w) for w in weights])

    def _conv(self, layer, rows, columns, bn=None):
        """Conv2D ``layer`` (kernel, bias) from the wide one: input ``rows`` (wide indices, -1 = no counterpart:
        zero), output ``columns``; then the BatchNormalization ``bn`` after it, if any."""
        kernel, bias = self.wide[layer]
        self._set(layer, [_take_rows(kernel, rows, axis=2)[..., columns], bias[columns]])
        if bn is not None:
            self._set(bn, [weights[columns] for weights in self.wide[bn]])

    def _free(self, layer, bn=None):
        """The most important output channels of ``layer`` (as many as the narrow one has), best first; for a
        layer nothing downstream constrains."""
        count = self._out_count(layer)
        return np.argsort(-self._importance(layer, bn), kind="stable")[:count]

    # -- blocks -------------------------------------------------------------------------------------------------
    def _block_a(self, name, rows, out):
        c1 = self._free(f"{name}_c1_conv", f"{name}_c1_bn")
        self._conv(f"{name}_c1_conv", rows, c1, f"{name}_c1_bn")
        c2 = self._free(f"{name}_c2_pw", f"{name}_c2_bn")
        (depthwise,) = self.wide[f"{name}_c2_dw"]
        self._set(f"{name}_c2_dw", [depthwise[:, :, c1, :]])
        self._conv(f"{name}_c2_pw", c1, c2, f"{name}_c2_bn")
        self._conv(f"{name}_c3_conv", c2, out, f"{name}_c3_bn")

    def _block_b(self, name, rows, wide_in, out):
        """``rows``: the block input's wide channel indices, in narrow order; ``wide_in``: its wide width."""
        narrow_in, half = len(rows), wide_in // 2
        left, right = [], []
        for position in range(narrow_in):  # the narrow shuffle's output, position by position
            wide_position = _shuffled_position(rows[_channel_at(position, narrow_in)], wide_in)
            if position < narrow_in // 2:
                left.append(wide_position if wide_position < half else -1)
            else:
                right.append(wide_position - half if wide_position >= half else -1)
        features = None  # each stage's concatenation, in wide indices
        for stage, inputs in (("s1", (left, right)), ("s2", None), ("s3", None)):
            conv = "pw" if stage == "s2" else "conv"  # stage 2 is separable: depthwise, then pointwise
            selections = []
            for path, dilated in ((f"{name}_{stage}a", False), (f"{name}_{stage}b", True)):
                path_rows = inputs[dilated] if inputs else features
                selection = self._free(f"{path}_{conv}", f"{path}_bn")
                if stage == "s2":
                    (depthwise,) = self.wide[f"{path}_dw"]
                    self._set(f"{path}_dw", [depthwise[:, :, path_rows, :]])
                self._conv(f"{path}_{conv}", path_rows, selection, f"{path}_bn")
                selections.append(selection)
            path_width = self.wide[f"{name}_{stage}a_{conv}"][0].shape[-1]
            features = np.concatenate([selections[0], path_width + selections[1]])
        if self.massatt:
            attention = f"{name}_massatt"
            hidden = self._free(f"{attention}_fc1")
            self._conv(f"{attention}_fc1", features, hidden)
            self._conv(f"{attention}_fc2", hidden, features)
            for layer in ("down1", "down2", "up1", "up2"):  # the spatial path: no channel of the features
                self._set(f"{attention}_{layer}", self.wide[f"{attention}_{layer}"])
        self._conv(f"{name}_c1x1_conv", features, out, f"{name}_c1x1_bn")

    def _block_output(self, name, kind, consumer_shuffles):
        """The kept output channels of block ``name`` (wide indices, narrow order), chosen as PWFS triplets (blocks
        1-3 with PWFS) that keep the half they take in the next block's shuffle."""
        prefix = f"{name}_c3" if kind == "a" else f"{name}_c1x1"
        score = self._importance(f"{prefix}_conv", f"{prefix}_bn")
        wide_count, narrow_count = len(score), self._out_count(f"{prefix}_conv")
        groups = 3 if self.pwfs and name != "block4" else 1
        wide_group, narrow_group = wide_count // groups, narrow_count // groups

        def pattern(index, group_size, count):
            if not consumer_shuffles:
                return ()
            return tuple(_shuffled_position(g * group_size + index, count) < count // 2 for g in range(groups))

        wide_patterns = [pattern(t, wide_group, wide_count) for t in range(wide_group)]
        group_score = score.reshape(groups, wide_group).sum(axis=0)
        ranked = [int(t) for t in np.argsort(-group_score, kind="stable")]
        chosen = [None] * narrow_group
        taken = set()
        narrow_patterns = [pattern(j, narrow_group, narrow_count) for j in range(narrow_group)]
        for j, wanted in enumerate(narrow_patterns):
            match = next((t for t in ranked if t not in taken and wide_patterns[t] == wanted), None)
            if match is not None:
                chosen[j] = match
                taken.add(match)
        for j in range(narrow_group):  # too few of a pattern: the best of the rest (their rows start at zero)
            if chosen[j] is None:
                chosen[j] = next(t for t in ranked if t not in taken)
                taken.add(chosen[j])
        return np.asarray([g * wide_group + t for g in range(groups) for t in chosen])

    # -- the whole model ----------------------------------------------------------------------------------------
    def run(self):
        rows = np.asarray([0])  # the grey image
        outputs = []
        for index, (name, kind) in enumerate(BLOCK_KINDS):
            consumer_shuffles = index + 1 < len(BLOCK_KINDS) and BLOCK_KINDS[index + 1][1] == "b"
            out = self._block_output(name, kind, consumer_shuffles)
            if kind == "a":
                self._block_a(name, rows, out)
            else:
                wide_in = self.wide[f"{name}_s1a_conv"][0].shape[2] * 2
                self._block_b(name, rows, wide_in, out)
            self.selection[name] = out
            outputs.append(out)
            rows = out
        self._head(outputs)
        return self.selection

    def _head(self, outputs):
        """The fused features are PWFS(b1..b3) and b4, each pooled: the head keeps the rows of the kept ones."""
        offset, rows = 0, []
        for index, out in enumerate(outputs):
            wide_count = self.wide[_output_layer(index)][0].shape[-1]
            if self.pwfs and index < 3:
                rows.append(offset + out[: len(out) // 3])  # the first third's indices are the triplets' t
                offset += wide_count // 3
            else:
                rows.append(offset + out)
                offset += wide_count
        kernel, bias = self.wide["head_softmax"]
        narrow_kernel = self.narrow.get_layer("head_softmax").get_weights()[0]
        if narrow_kernel.shape[1] != kernel.shape[1]:
            return  # another class count: the head starts fresh
        self._set("head_softmax", [kernel[np.concatenate(rows)], bias])


def _output_layer(index):
    name, kind = BLOCK_KINDS[index]
    return f"{name}_c3_conv" if kind == "a" else f"{name}_c1x1_conv"


def _shuffled_position(channel, count):
    """Where ChannelShuffle(2) puts input ``channel`` of ``count``: channel g·C/2 + i goes to 2i + g."""
    half = count // 2
    return 2 * (channel % half) + channel // half


def _channel_at(position, count):
    """The input channel ChannelShuffle(2) puts at ``position`` (the inverse of ``_shuffled_position``)."""
    return (position % 2) * (count // 2) + position // 2


def _take_rows(kernel, rows, axis):
    """``kernel`` indexed by ``rows`` along ``axis``; a row -1 (no wide counterpart) is zero."""
    rows = np.asarray(rows)
    taken = np.take(kernel, np.where(rows < 0, 0, rows), axis=axis)
    if (rows < 0).any():
        index = [slice(None)] * kernel.ndim
        index[axis] = rows < 0
        taken[tuple(index)] = 0
    return taken
