"""tf.distribute strategies for ``--strategy default|mirrored|multiworker``.

``mirrored``: one machine, all its GPUs — or, without GPUs, all logical CPU devices (how the tests run it).
``multiworker``: ``MultiWorkerMirroredStrategy``; the cluster comes from ``TF_CONFIG`` on each machine. Without
``TF_CONFIG`` it runs as a single worker. Only the chief writes the run folder; the other workers take part in
every read of the model's variables (under this strategy a read can be a collective that all workers must join)
and write what must be written to a temporary folder, removed at once.
The batch size is global (split across replicas), so the recipe's batch 32 means the same thing everywhere.
"""
import json
import os
from dataclasses import dataclass

from lanmsff_edge.errors import UserError

STRATEGIES = ("default", "mirrored", "multiworker")


@dataclass
class Distribution:
    strategy: object
    name: str
    is_chief: bool = True
    note: str | None = None

    @property
    def replicas(self):
        return int(self.strategy.num_replicas_in_sync)


def _is_chief(tf_config):
    task = tf_config.get("task", {})
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    has_chief = "chief" in tf_config.get("cluster", {})
    return kind == "chief" or (not has_chief and kind == "worker" and index == 0)


def chief_process(name):
    """Whether this process writes the run folder, known before TensorFlow starts: False only for a non-chief
    worker of a ``multiworker`` cluster in ``TF_CONFIG``."""
    raw = os.environ.get("TF_CONFIG") if name == "multiworker" else None
    if not raw:
        return True
    try:
        return _is_chief(json.loads(raw))
    except ValueError:
        return True  # make_distribution reports the bad JSON


def make_distribution(name="default"):
    """Create the strategy before any model or variable exists (multi-worker needs a fresh runtime)."""
    from lanmsff_edge.keras import tf

    if name == "default":
        return Distribution(tf.distribute.get_strategy(), name)
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        kind = "GPU"
        if not devices:
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
            kind = "CPU"
        strategy = tf.distribute.MirroredStrategy(devices=devices)
        return Distribution(strategy, name, note=f"mirrored over {len(devices)} {kind} device(s)")
    if name == "multiworker":
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
            return Distribution(strategy, name, note="TF_CONFIG is not set: multiworker runs as a single worker "
                                                     "(set TF_CONFIG on every machine to train across them)")
        try:
            tf_config = json.loads(raw)
        except ValueError:
            raise UserError("TF_CONFIG is not valid JSON") from None
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:
            raise UserError(f"cannot start the multi-worker runtime: {str(error).splitlines()[0]}") from None
        workers = (len(tf_config.get("cluster", {}).get("worker", []))
                   + len(tf_config.get("cluster", {}).get("chief", [])))
        return Distribution(strategy, name, is_chief=_is_chief(tf_config),
                            note=f"multiworker: {workers} workers from TF_CONFIG")
    raise UserError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}")


def shard_by_data(dataset):
    """In-memory datasets have no files to shard: tell multi-worker input to split by elements."""
    from lanmsff_edge.keras import tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
