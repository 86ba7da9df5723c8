"""tf.distribute strategies: names, TF_CONFIG, the chief, and a real two-process multi-worker run."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from protkit import distribute


def test_strategy_names_and_errors(monkeypatch):
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    default = distribute.get_strategy("default")
    assert default is tf.distribute.get_strategy()
    assert distribute.get_strategy("auto") is default  # no TF_CONFIG, no GPUs here
    assert distribute.get_strategy(default) is default  # a strategy object passes through
    assert distribute.is_chief(default) and distribute.task_of(default) == ("chief", 0)
    assert distribute.describe(default)["replicas"] == 1
    with pytest.raises(ValueError, match="strategy must be one of"):
        distribute.get_strategy("horovod")
    with pytest.raises(ValueError, match="needs the TF_CONFIG"):
        distribute.get_strategy("multiworker")


def test_tf_config_is_parsed_with_clear_errors(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        distribute.tf_config()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {}}))
    with pytest.raises(ValueError, match='needs "cluster" and "task"'):
        distribute.tf_config()
    config = {"cluster": {"worker": ["a:1", "b:2"], "chief": ["c:3"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert distribute.tf_config() == config
    assert distribute._cluster_tasks(config) == 3
    monkeypatch.setenv("TF_CONFIG", "  ")
    assert distribute.tf_config() is None


def test_train_under_the_mirrored_strategy_records_it(tmp_path):
    from protkit.data import Dataset
    from protkit.data.synthetic import make_cells
    from protkit.inference import load_run
    from protkit.training import train

    images, labels = make_cells(48, image_size=32, seed=2)
    result = train(Dataset.from_arrays(images, labels=labels), model="cnn", image_size=32, epochs=1, batch_size=16,
                   verbose=0, strategy="mirrored", out=tmp_path / "run")
    assert result.config["strategy"]["name"] == "MirroredStrategy"
    assert result.config["strategy"]["replicas"] >= 1 and result.config["strategy"]["task"] == "chief:0"
    run = load_run(tmp_path / "run")
    assert run.model.predict(np.zeros((2, 32, 32, 4), np.float32), verbose=0).shape == (2, result.model.output_shape[-1])


# Two replicas on one machine: two logical CPU devices (set before TensorFlow starts).
_TWO_REPLICAS = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from protkit.data import Dataset
    from protkit.data.synthetic import make_cells
    from protkit.training import train

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    images, labels = make_cells(64, image_size=32, seed=2)
    result = train(Dataset.from_arrays(images, labels=labels), model="cnn", image_size=32, epochs=2, batch_size=16,
                   verbose=0, strategy=strategy)
    norms = [layer.synchronized for layer in result.model._flatten_layers()
             if type(layer).__name__ == "BatchNormalization"]
    json.dump({"strategy": result.config["strategy"], "synchronized": norms,
               "loss": [float(v) for v in result.history["loss"]]}, open(sys.argv[1], "w"))
""")


def test_mirrored_over_two_replicas_synchronizes_batch_norm(tmp_path):
    out = tmp_path / "two.json"
    done = subprocess.run([sys.executable, "-c", _TWO_REPLICAS, str(out)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["strategy"]["replicas"] == 2
    assert report["synchronized"] and all(report["synchronized"])
    assert all(np.isfinite(report["loss"]))


_WORKER = textwrap.dedent("""
    import sys
    from protkit.distribute import get_strategy
    strategy = get_strategy("auto")  # TF_CONFIG lists two workers: multi-worker
    import numpy as np
    from protkit.data import Dataset
    from protkit.data.synthetic import make_cells
    from protkit.training import train

    images, labels = make_cells(96, image_size=32, seed=1)
    result = train(Dataset.from_arrays(images, labels=labels), model="cnn", image_size=32, epochs=2,
                   batch_size=16, seed=3, verbose=0, strategy=strategy, out=sys.argv[2])
    np.savez(sys.argv[1], *[np.asarray(w) for w in result.model.weights],
             chief=result.run_dir is not None, replicas=result.config["strategy"]["replicas"],
             val=result.metrics["validation"]["macro_f1"])
""")


def _free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_two_workers_on_localhost_end_with_identical_weights(tmp_path):
    try:
        ports = _free_ports(2)
    except OSError as error:  # pragma: no cover - platform without local sockets
        pytest.skip(f"cannot open local ports: {error}")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    run = tmp_path / "run"
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        processes.append(subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(tmp_path / f"worker{index}.npz"), str(run)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=300)[0])
    finally:
        for process in processes:
            process.kill()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    first, second = (np.load(tmp_path / f"worker{index}.npz") for index in range(2))
    weights = [name for name in first.files if name.startswith("arr_")]
    assert len(weights) > 10
    for name in weights:  # trainable weights and batch-norm moving averages alike
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    assert int(first["replicas"]) == 2
    assert bool(first["chief"]) and not bool(second["chief"])  # worker 0 is the chief
    assert float(first["val"]) == float(second["val"])  # validation predictions are gathered from both
    # Only the chief wrote the run folder, and it is complete.
    assert json.loads((run / "config.json").read_text())["status"] == "complete"
    assert (run / "model.keras").exists() and not (run / "backup").exists()


def test_cli_train_takes_a_strategy(tmp_path, rng, capsys):
    from conftest import write_png

    from protkit.cli import main

    root = tmp_path / "classes"
    for name in ("alpha", "beta"):
        for i in range(10):
            write_png(root / name / f"cell{i}.png", rng.integers(0, 255, (16, 16), dtype=np.uint8))
    with pytest.raises(SystemExit):
        main(["train", str(root), "--strategy", "horovod", "--out", str(tmp_path / "no")])
    assert "invalid choice: 'horovod'" in capsys.readouterr().err
    assert main(["train", str(root), "--model", "cnn", "--epochs", "1", "--image-size", "16", "--strategy",
                 "mirrored", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert "run written to" in capsys.readouterr().out
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["strategy"]["name"] == "MirroredStrategy" and config["status"] == "complete"
