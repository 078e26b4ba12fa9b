"""LSUV's data-dependent step, for `kernel_initializer: lsuv` on the model or on any layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kerasopt.recipe.run.techniques.technique import Technique

if TYPE_CHECKING:
    from kerasopt.recipe.run.techniques.state import TechniqueState


BATCH = 512
"""LSUV scales each layer on the first this many training samples (a streaming source's too)."""


class LSUVInitialization(Technique):
    """Run :func:`kerasopt.initializers.lsuv.lsuv_initialize` when a layer was built with the LSUV marker.

    The marker initializer (`kernel_initializer: lsuv`, on the model or a layer) draws
    orthonormal kernels; the variance scaling on a batch of training data happens here, once
    the model exists.
    """

    name = "lsuv"

    def model_built(self, state: TechniqueState) -> None:
        from kerasopt import registry
        from kerasopt.initializers.lsuv import LSUV, lsuv_initialize
        from kerasopt.models.layer_walk import all_layers

        markers = [layer.kernel_initializer for layer in all_layers(state.model)
                   if isinstance(getattr(layer, "kernel_initializer", None), LSUV)]
        # The model-level `kernel_initializer: lsuv` builds with "orthogonal"; its options are here.
        spec = state.recipe.model.model_dump().get("kernel_initializer")
        if isinstance(spec, dict) and registry.get("initializer", spec["type"]) is LSUV:
            markers.insert(0, registry.build("initializer", spec))
        if markers:
            from kerasopt.data.stream import draw_pool

            options = markers[0].get_config()
            x = draw_pool(state.data.x_train, BATCH)[:BATCH]  # a stream's first samples
            lsuv_initialize(state.model, x, tol_var=options["tol_var"], max_iter=options["max_iter"])
