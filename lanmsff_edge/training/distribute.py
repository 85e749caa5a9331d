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


def check_tf_config(tf_config):
    """``UserError`` unless ``TF_CONFIG`` is what MultiWorkerMirroredStrategy needs: a cluster of named lists of
    "host:port" addresses and a task whose type is one of them and whose index is inside its list."""
    if not isinstance(tf_config, dict):
        raise UserError("TF_CONFIG must be a JSON object with \"cluster\" and \"task\"")
    cluster, task = tf_config.get("cluster", {}), tf_config.get("task", {})
    if not isinstance(cluster, dict) or not all(isinstance(hosts, list) and all(isinstance(h, str) for h in hosts)
                                                for hosts in cluster.values()):
        raise UserError("TF_CONFIG: \"cluster\" must map each task type to a list of \"host:port\" addresses")
    if not isinstance(task, dict):
        raise UserError("TF_CONFIG: \"task\" must be an object with \"type\" and \"index\"")
    kind, index = task.get("type", "worker"), task.get("index", 0)
    if cluster and kind not in cluster:
        raise UserError(f"TF_CONFIG: task type {kind!r} is not in the cluster ({', '.join(cluster) or 'empty'})")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0 or (
            cluster and index >= len(cluster[kind])):
        size = len(cluster.get(kind, [])) if cluster else 0
        raise UserError(f"TF_CONFIG: task index {index!r} is outside the cluster's {size} {kind} address(es) "
                        f"(0 to {size - 1})")


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
        tf_config = json.loads(raw)
    except ValueError:
        return True  # make_distribution reports the bad JSON
    check_tf_config(tf_config)
    return _is_chief(tf_config)


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
        check_tf_config(tf_config)
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
