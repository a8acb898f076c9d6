"""The trace helpers, run as a repeat runs them, on each framework these tests can install.

JAX runs here (the test dependencies install it); Keras runs in a TensorFlow image (the own-project
example's, which the installed-wheel test builds too); PyTorch's helper runs in the host-backend
test, under the virtual environment with PyTorch that test makes (test_host.py: torch_trace).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import docker
import pytest
import yaml
from test_recording import run_script

from seedmatrix.results import Build, Record, RunStatus

from test_faults import latest, seedmatrix

ROOT = Path(__file__).resolve().parent.parent


def labels(record: Record) -> list[str]:
    return [value.label for value in record.values]


@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="JAX is not installed in this interpreter"
)
def test_trace_jax_records_intermediates_the_loss_and_every_gradient_leaf_in_order(tmp_path: Path) -> None:
    record = run_script(
        tmp_path,
        """
        import jax, jax.numpy as jnp, numpy as np
        from recording import show
        from tracing import trace_jax

        params = {"b": jnp.arange(3.0), "a": {"w": jnp.ones((2, 3))}}
        x = jnp.array([[1.0, 2.0], [3.0, -4.0]])

        def loss_fn(params, x):
            hidden = x @ params["a"]["w"] + params["b"]
            return jnp.sum(hidden**2), {"hidden": hidden}

        loss, grads = trace_jax(loss_fn, params, x, has_aux=True, prefix="step 1 ")
        direct = jax.grad(lambda p, x: loss_fn(p, x)[0])(params, x)
        show("check: gradients equal jax.grad", all(
            np.array_equal(np.asarray(a), np.asarray(b))
            for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(direct))
        ))
        """,
    )
    assert record.status is RunStatus.OK, record.stderr_tail
    assert labels(record) == [
        "step 1 [01] hidden · intermediate",
        "step 1 [02] loss",
        "step 1 [03] ['a']['w'] · gradient",
        "step 1 [04] ['b'] · gradient",
        "check: gradients equal jax.grad",
    ]
    found = {value.label: value for value in record.values}
    assert found["step 1 [01] hidden · intermediate"].shape == (2, 3)
    assert found["step 1 [03] ['a']['w'] · gradient"].dtype == "float32"
    assert found["check: gradients equal jax.grad"].values == (True,)
    # The printed line names dtype and shape; the record keeps every bit.
    assert "step 1 [01] hidden · intermediate: float32 [2, 3]" in record.output.splitlines()


KERAS_TRACE = """\
import numpy as np
import tensorflow as tf
from recording import show
from tracing import trace_keras

tf.keras.utils.set_random_seed(0)
x = np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4)
y = np.array([0, 1, 2, 0, 1, 2])
loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

sequential = tf.keras.Sequential(
    [tf.keras.Input(shape=(4,)), tf.keras.layers.Dense(5, activation="relu", name="hidden"),
     tf.keras.layers.Dense(3, name="out")]
)
inputs = tf.keras.Input(shape=(4,))
body = tf.keras.layers.Dense(5, name="body")(inputs)
functional = tf.keras.Model(inputs, tf.keras.layers.Dense(3, name="head")(body))
for prefix, model in (("seq ", sequential), ("fun ", functional)):
    loss, gradients = trace_keras(model, x, y, loss_fn, prefix=prefix)
    with tf.GradientTape() as tape:
        direct_loss = loss_fn(y, model(x, training=True))
    direct = tape.gradient(direct_loss, model.trainable_variables)
    show(prefix + "check: loss and gradients equal a plain tape's",
         bool(loss.numpy() == direct_loss.numpy())
         and all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(gradients, direct)))
"""


@pytest.mark.docker
@pytest.mark.slow
def test_trace_keras_records_layer_outputs_the_loss_and_every_gradient_of_both_model_kinds(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    example = yaml.safe_load((ROOT / "examples" / "own-project" / "matrix.yaml").read_text(encoding="utf-8"))
    # The example's TensorFlow 2.18 environment as it is (same tag: built once for both tests).
    environment = {**example["environments"][0], "install": str(ROOT / "examples" / "own-project")}
    (tmp_path / "trace.py").write_text(KERAS_TRACE, encoding="utf-8")
    tmp_path.chmod(0o755)  # the working directory is mounted read-only for the container's user
    (tmp_path / "matrix.yaml").write_text(
        json.dumps(
            {
                "repeats": 1,
                "timeout_seconds": 600,
                "environments": [environment],
                "cases": [{"name": "trace", "script": "trace.py"}],
            }
        ),
        encoding="utf-8",
    )
    results = tmp_path / "results"
    finished = seedmatrix("matrix", "--config", str(tmp_path / "matrix.yaml"), "--results", str(results))
    assert finished.returncode == 0, finished.stderr[-3000:]
    [record] = latest(results)["records"]
    assert record["status"] == "ok", record["stderr_tail"]
    shown = [value["label"] for value in record["values"]]
    assert shown[:6] == [
        "seq [01] hidden · output",
        "seq [02] out · output",
        "seq [03] loss",
        "seq [04] sequential/hidden/kernel · gradient",
        "seq [05] sequential/hidden/bias · gradient",
        "seq [06] sequential/out/kernel · gradient",
    ]
    assert [label for label in shown if label.startswith("fun [0")][:3] == [
        "fun [01] body · output",
        "fun [02] head · output",
        "fun [03] loss",
    ]
    checks = {value["label"]: value["values"] for value in record["values"] if "check:" in value["label"]}
    assert checks == {
        "seq check: loss and gradients equal a plain tape's": [True],
        "fun check: loss and gradients equal a plain tape's": [True],
    }
