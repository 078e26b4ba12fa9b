"""The one check a TensorFlow-only kerasopt component makes before it is used.

kerasopt's components are written with `keras.ops` and run under Keras's TensorFlow and JAX
backends. A few cannot: they need `tf.GradientTape` (a second gradient on the same batch,
Hessian-vector products), or they keep state that Keras's JAX train step does not hand them
(while the optimizer runs it maps only trainable and optimizer variables, and it writes state
back to the variables only when `fit` returns). Each of those calls :func:`require_tensorflow`
with its name in its constructor, so the error comes first, names the component, the backend
and the reason, instead of a traceback from inside a compiled train step.

:data:`TENSORFLOW_ONLY` is the one list of them; the JAX conformance test reads it, and
`tests/test_docs_examples.py` checks that `docs/devices.md` names each.
"""

from __future__ import annotations

_MASK_REASON = (
    "the mask is a kernel constraint that reads a mask variable, and Keras's JAX train step "
    "does not map layer variables while the optimizer applies constraints"
)
_LINE_SEARCH_REASON = (
    "the line search reads its phase from optimizer variables at the end of fit, before "
    "Keras's JAX trainer has written them back"
)

RECIPE_RUNNER = "The recipe runner (kerasopt run, lr-find, sweep)"
"""The runner's key in :data:`TENSORFLOW_ONLY`."""

_CLOSURE_REASON = "the closure re-computes loss and gradients with tf.GradientTape"

TENSORFLOW_ONLY: dict[str, tuple[str, str]] = {
    "kerasopt.optimizers.LBFGS": (_LINE_SEARCH_REASON, ""),
    "kerasopt.optimizers.ConjugateGradient": (_LINE_SEARCH_REASON, ""),
    "kerasopt.optimizers.SAM": (
        "the gradient at the perturbed weights needs the closure train step (tf.GradientTape)",
        ""),
    "kerasopt.optimizers.AdaHessian": (
        "Hessian-vector products need the closure train step (nested tf.GradientTape)", ""),
    "kerasopt.training.enable_closure": (_CLOSURE_REASON, ""),
    "kerasopt.training.Closure": (_CLOSURE_REASON, ""),
    "kerasopt.callbacks.GradientMonitor": (
        "it computes gradients with tf.GradientTape in a tf.function", ""),
    "kerasopt.compression.pruning.PruneLowMagnitude": (_MASK_REASON, ""),
    "kerasopt.compression.clustering.ClusteredLayer": (
        "weight sharing is a kernel constraint that reads the cluster-index variable, and "
        "Keras's JAX train step does not map layer variables while the optimizer applies "
        "constraints", ""),
    "kerasopt.compression.quantization.QuantizeWrapper(preserve_sparsity=True)": (
        _MASK_REASON, "Pass preserve_sparsity=False (to quantize_model or QuantizeWrapper) "
        "to train with fake quantization on this backend."),
    RECIPE_RUNNER: (
        "the recipe runner builds tf.data pipelines, tf.distribute strategies and "
        "TFLite/SavedModel exports; its components work on other backends in plain Keras code",
        ""),
}
"""Every TensorFlow-only component: name -> (why, what to do instead on other backends)."""


class UnsupportedBackendError(ValueError):
    """A TensorFlow-only component was used under another Keras backend."""


def require_tensorflow(component: str) -> None:
    """Raise unless Keras runs on the TensorFlow backend.

    Args:
        component: The component's key in :data:`TENSORFLOW_ONLY`
            (`"kerasopt.optimizers.SAM"`).

    Raises:
        UnsupportedBackendError: A `ValueError` naming the component, the active backend, the reason and the fix, when
            `keras.backend.backend()` is not `"tensorflow"`.

    Example:
        >>> import keras
        >>> if keras.backend.backend() == "tensorflow":
        ...     require_tensorflow("kerasopt.optimizers.SAM")
    """
    import keras  # here, not at the top: importing Keras registers kerasopt's components, which import this module

    reason, alternative = TENSORFLOW_ONLY[component]
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    hint = f" {alternative}" if alternative else ""
    raise UnsupportedBackendError(
        f"{component} supports the TensorFlow backend only: {reason}. Received: Keras "
        f"backend {backend!r}. Run with KERAS_BACKEND=tensorflow.{hint}"
    )
