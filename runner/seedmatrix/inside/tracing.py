"""Record what a model computes in one training step, in the order it computes it.

    from tracing import trace_keras, trace_torch, trace_jax

- `trace_keras(model, x, y, loss_fn)`: each layer's output, the loss, each trainable variable's
  gradient. Returns (loss, gradients) for the caller to apply.
- `trace_torch(model, x, y, loss_fn)`: each leaf module's output (forward hooks), the loss, each
  parameter's gradient (`backward()` is called). Returns the loss.
- `trace_jax(loss_fn, params, *args, has_aux=False)`: with `has_aux`, `loss_fn` returns
  (loss, intermediates) and each intermediate is recorded first; then the loss and each leaf of
  the gradient pytree. Returns (loss, gradients). JAX hands a dict of intermediates back with its
  keys sorted, so name them to sort in the order they are computed ("1 dense", "2 logits"), or
  return a list (recorded as "[0]", "[1]", …).

Every value goes through `show()`, so it is recorded exactly; the printed line gives only its
dtype and shape. Labels carry the position and the layer's name ("[03] dense_1 · output",
"[04] loss", "[05] dense_1/kernel · gradient"), so the matrix names the layer where two runs
first part. Several traces in one script take a `prefix` ("step 2 ") to keep labels distinct.
The framework is imported only by the helper that needs it; nothing else beyond the standard
library and the recorder.
"""

from recording import show


class _Positions:
    def __init__(self, prefix):
        self.prefix, self.count = prefix, 0

    def show(self, name, what, value):
        self.count += 1
        label = f"{self.prefix}[{self.count:02d}] {name}" + (f" · {what}" if what else "")
        show(label, value, printed=_summary(value))


def _summary(value):
    dtype = getattr(value, "dtype", type(value).__name__)
    shape = getattr(value, "shape", None)
    return f"{dtype} {list(shape)}" if shape is not None else str(dtype)


def trace_keras(model, x, y, loss_fn, *, training=True, prefix=""):
    import tensorflow as tf

    positions = _Positions(prefix)
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    sequential = isinstance(model, tf.keras.Sequential)
    if not sequential and not getattr(model, "inputs", None):
        raise TypeError(
            "trace_keras traces Sequential and functional models; a subclassed model has no graph"
        )
    with tf.GradientTape() as tape:
        if sequential:
            outputs, hidden = [], x
            for layer in layers:
                hidden = layer(hidden, training=training)
                outputs.append(hidden)
        else:  # a functional model: one model that returns every layer's output, sharing the weights
            probe = tf.keras.Model(inputs=model.inputs, outputs=[layer.output for layer in layers])
            outputs = list(probe(x, training=training))
        loss = loss_fn(y, outputs[-1])
        if model.losses:  # regularisation, as a training step adds it
            loss = loss + tf.add_n(model.losses)
    for layer, output in zip(layers, outputs):
        positions.show(layer.name, "output", output)
    positions.show("loss", "", loss)
    variables = model.trainable_variables
    gradients = tape.gradient(loss, variables)
    for variable, gradient in zip(variables, gradients):
        name = getattr(variable, "path", None) or variable.name.removesuffix(":0")
        positions.show(name, "gradient", gradient)
    return loss, gradients


def trace_torch(model, x, y, loss_fn, *, prefix=""):
    positions = _Positions(prefix)
    outputs = []

    def keep(name):
        # A copy: a later in-place op (ReLU(inplace=True), `out += identity`) would change the tensor.
        def hook(module, inputs, output):
            kept = output.detach().clone() if hasattr(output, "detach") else output
            outputs.append((f"{name} ({type(module).__name__})", kept))

        return hook

    leaves = [(name, module) for name, module in model.named_modules() if not any(module.children())]
    hooks = [module.register_forward_hook(keep(name or "model")) for name, module in leaves]
    try:
        prediction = model(x)
    finally:
        for hook in hooks:
            hook.remove()
    for name, output in outputs:
        positions.show(name, "output", output)
    loss = loss_fn(prediction, y)
    positions.show("loss", "", loss.detach())
    model.zero_grad()
    loss.backward()
    for name, parameter in model.named_parameters():
        if parameter.grad is not None:
            positions.show(name, "gradient", parameter.grad)
    return loss


def trace_jax(loss_fn, params, *args, has_aux=False, prefix=""):
    import jax

    positions = _Positions(prefix)
    found, gradients = jax.value_and_grad(loss_fn, has_aux=has_aux)(params, *args)
    loss, intermediates = found if has_aux else (found, {})
    named = intermediates.items() if isinstance(intermediates, dict) else enumerate(intermediates)
    for name, value in named:
        positions.show(str(name) if isinstance(intermediates, dict) else f"[{name}]", "intermediate", value)
    positions.show("loss", "", loss)
    for path, leaf in jax.tree_util.tree_flatten_with_path(gradients)[0]:
        positions.show(jax.tree_util.keystr(path) or "params", "gradient", leaf)
    return loss, gradients
