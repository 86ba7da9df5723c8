"""Training on several devices or machines, with TensorFlow's own `tf.distribute`.

protkit adds nothing home-made here: it picks a strategy, builds and compiles the model inside
its scope, shards the input by data, and lets only the chief write the run folder.

| strategy      | what it does                                                              |
|---------------|---------------------------------------------------------------------------|
| "default"     | one device (the CPU or the first GPU), no distribution                    |
| "mirrored"    | `tf.distribute.MirroredStrategy`: every GPU of this machine (CPU if none)  |
| "multiworker" | `tf.distribute.MultiWorkerMirroredStrategy` over the hosts in `TF_CONFIG`  |
| "auto"        | "multiworker" if `TF_CONFIG` names more than one task, else "mirrored" if  |
|               | this machine has several GPUs, else "default"                             |

The batch size is **global**: with 2 workers of 1 GPU each and ``batch_size=64``, every replica
computes 32 items per step and the gradients are summed across replicas (synchronous training,
so all replicas end every step with the same weights). Scale the learning rate yourself if you
scale the batch.

``TF_CONFIG`` is a JSON string, one per process, for example on the second of two hosts::

    {"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 1}}

The chief is the task of type "chief", or worker 0 when the cluster has no "chief" entry. Every
worker runs the same command; only the chief writes RUN_DIR. Each other worker keeps its own
epoch backup (for resuming after a failure) under the system temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile

STRATEGIES = ("auto", "default", "mirrored", "multiworker")
_MADE = {}  # one strategy of each kind per process (collective ops can be configured only once)


def tf_config():
    """The parsed ``TF_CONFIG`` environment variable, or None when it is unset or empty."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {text[:200]!r}") from None
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise ValueError(f'TF_CONFIG needs "cluster" and "task" entries. Received: {text[:200]!r}')
    return config


def _cluster_tasks(config):
    return sum(len(addresses) for name, addresses in config["cluster"].items() if name in ("chief", "worker"))


def get_strategy(strategy="auto"):
    """A `tf.distribute.Strategy` from a name in `STRATEGIES` (a strategy object passes through).

    For "multiworker", call this at the start of a program, before any other TensorFlow work:
    TensorFlow configures its collective operations once per process.

    On another Keras backend (JAX) there is no tf.distribute: "auto" and "default" give None
    (one device, no strategy) and the others raise `protkit.backend.BackendError`.

    Raises:
        ValueError: for an unknown name, or "multiworker" without ``TF_CONFIG``.
    """
    import tensorflow as tf

    from protkit import backend

    if isinstance(strategy, tf.distribute.Strategy):
        backend.require_tensorflow("a tf.distribute strategy")
        return strategy
    name = "auto" if strategy is None else strategy
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES} or a tf.distribute.Strategy. "
                         f"Received: strategy={strategy!r}")
    if backend.name() != "tensorflow":
        if name in ("auto", "default"):
            return None
        backend.require_tensorflow(f"strategy={name!r} (tf.distribute)")
    if name == "auto":
        config = tf_config()
        if config is not None and _cluster_tasks(config) > 1:
            name = "multiworker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name not in _MADE:
        if name == "mirrored":
            _MADE[name] = tf.distribute.MirroredStrategy()
        else:
            if tf_config() is None:
                raise ValueError("strategy='multiworker' needs the TF_CONFIG environment variable (the cluster's "
                                 "hosts and this process's task); see protkit.distribute")
            try:
                _MADE[name] = tf.distribute.MultiWorkerMirroredStrategy()
            except RuntimeError as error:
                raise RuntimeError(f"could not start the multi-worker strategy ({error}). Create it before any other "
                                   f"TensorFlow work: call protkit.distribute.get_strategy('multiworker') at the "
                                   f"start of the program") from None
    return _MADE[name]


def is_multi_worker(strategy):
    """True when ``strategy`` spans several processes."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
        strategy.extended._in_multi_worker_mode()


def task_of(strategy):
    """(task type, task index) of this process; ("chief", 0) outside a multi-worker cluster."""
    if not is_multi_worker(strategy):
        return "chief", 0
    resolver = strategy.cluster_resolver
    return resolver.task_type, int(resolver.task_id)


def is_chief(strategy):
    """True for the one process that writes outputs."""
    if not is_multi_worker(strategy):
        return True
    task_type, task_id = task_of(strategy)
    has_chief = "chief" in strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)


def describe(strategy):
    """A JSON-friendly summary: the strategy's class, replicas in sync, workers and this task."""
    task_type, task_id = task_of(strategy)
    workers = _cluster_tasks(tf_config()) if is_multi_worker(strategy) else 1
    name = type(strategy).__name__
    name = "default (one device)" if name.startswith("_Default") else name
    return {"name": name, "replicas": int(strategy.num_replicas_in_sync), "workers": int(workers),
            "task": f"{task_type}:{task_id}"}


def shard_by_data(dataset, strategy):
    """``dataset`` with `AutoShardPolicy.DATA` when ``strategy`` spans workers (else unchanged).

    protkit's pipelines read files through Python, so sharding by file cannot apply: every worker
    runs the whole (seeded, identically ordered) pipeline and keeps its own share of each batch.
    """
    if not is_multi_worker(strategy):
        return dataset
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def worker_backup_dir(run_dir, strategy):
    """Where a non-chief worker keeps its epoch backup for ``run_dir`` (outside RUN_DIR)."""
    task_type, task_id = task_of(strategy)
    key = hashlib.sha1(str(pathlib.Path(run_dir).resolve()).encode()).hexdigest()[:12]
    return pathlib.Path(tempfile.gettempdir()) / f"protkit-backup-{key}-{task_type}{task_id}"


def build_for(model, strategy, x_spec, y_spec):
    """Prepare a compiled ``model`` for ``strategy``: synchronized batch norm, multi-worker fixes.

    With several replicas, every `BatchNormalization` layer computes its statistics over the
    global batch (``synchronized=True``), so training matches one device with the same batch.

    Keras 3.15 pulls a batch from the distributed dataset before `fit`, `evaluate` and `predict`
    and averages it across replicas to build the model's state; that fails on the (images,
    targets) pair of a multi-worker run (keras-team/keras#20585) and on any batch that splits
    unevenly over replicas. protkit builds every variable here, in the strategy's scope, from
    shapes alone, so that step is not needed. Under a multi-worker strategy Keras's reduction
    of the per-step logs also fails on scalars: they are returned as 1-vectors, and become the
    mean over workers. Nothing changes with one replica. These workarounds touch Keras
    internals (``_symbolic_build``, ``_maybe_symbolic_build``); the two-worker test in protkit's
    suite fails if a Keras release changes them.

    Args:
        model: a compiled Keras model, created in ``strategy.scope()``.
        strategy: the `tf.distribute.Strategy`.
        x_spec, y_spec: ``(shape, dtype)`` of one batch of inputs and of targets.
    """
    import keras

    if strategy.num_replicas_in_sync == 1:
        return model
    # Batch statistics over the global batch, as on one device; moving averages then stay
    # identical on every replica (tf.distribute leaves them per replica otherwise).
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
    with strategy.scope():
        batch = tuple(keras.KerasTensor(shape, dtype) for shape, dtype in (x_spec, y_spec))
        model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = _already_built
    if not is_multi_worker(strategy):
        return model
    # Keras averages each step's logs over replicas along axis 0, which scalars do not have:
    # return them as 1-vectors, so the average (over workers) can be taken.
    train_step, test_step = model.train_step, model.test_step
    model.train_step = lambda data: _as_vectors(train_step(data))
    model.test_step = lambda data: _as_vectors(test_step(data))
    return model


def _already_built(iterator=None, data_batch=None):
    return None


def _as_vectors(logs):
    import tensorflow as tf

    return {name: tf.reshape(value, [1]) for name, value in logs.items()}


def scope(strategy):
    """``strategy.scope()``, or a no-op context for None."""
    import contextlib

    return contextlib.nullcontext() if strategy is None else strategy.scope()
