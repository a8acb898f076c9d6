"""JAX: one traced gradient of a small classifier's loss, on the default device.

The hidden activations (returned as auxiliary values), the loss and each leaf of the gradient
pytree are recorded in order, so the matrix names where two runs part.

Claims: the trace repeats bit for bit.
"""

import jax
import jax.numpy as jnp

from tracing import trace_jax

keys = jax.random.split(jax.random.key(0), 4)
params = {
    "dense_1": {"w": jax.random.normal(keys[0], (16, 32)) * 0.25, "b": jnp.zeros(32)},
    "logits": {"w": jax.random.normal(keys[1], (32, 10)) * 0.18, "b": jnp.zeros(10)},
}
features = jax.random.normal(keys[2], (128, 16))
classes = jax.random.randint(keys[3], (128,), 0, 10)


def loss_fn(params, features, classes):
    hidden = jax.nn.relu(features @ params["dense_1"]["w"] + params["dense_1"]["b"])
    logits = hidden @ params["logits"]["w"] + params["logits"]["b"]
    loss = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), classes[:, None], axis=1))
    return loss, {"dense_1 output": hidden, "logits": logits}


trace_jax(loss_fn, params, features, classes, has_aux=True)
