"""GradientMonitor: per-layer gradient health on a probe batch, with optional AutoClip."""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import keras
import numpy as np

from kerasopt._backend import require_tensorflow
from kerasopt.callbacks import _arg_checks as checks
from kerasopt.callbacks._gradient_probe import GradientProbe
from kerasopt.registry import register

# AutoClip retraces the train step to change the clip threshold (see the class
# docstring), so the threshold only moves when the percentile moved by more than this.
_CLIP_RETRACE_RTOL = 0.1


@register("callback")
class GradientMonitor(keras.callbacks.Callback):
    """Watch per-layer gradient norms on a fixed probe batch; flag vanishing/exploding layers.

    Keras callbacks never see a step's gradients, so every `every_n_steps` training
    steps (when the next batch begins, and once at `on_train_begin`; steps are counted
    across epochs and fits) this callback computes the gradients of the
    compiled loss itself, on a fixed probe batch given with `set_probe(x, y)`, with
    `tf.GradientTape` inside a `tf.function`: **GradientMonitor requires the TensorFlow
    backend**. The probe pass runs in training mode (dropout, batch statistics) and
    then assigns every non-trainable and metric variable back, so it changes nothing
    in the model's training. Costs: one forward/backward pass per check, one host sync
    per check, and one extra copy of the trainable weights (for update ratios).

    Per layer (variables grouped by their layer's path) it measures the gradient L2
    norm, the weight L2 norm and the update/weight ratio
    `||w_t - w_{t-k}|| / k / ||w_t||` over the `k` steps since the previous check.
    With `log_dir` set they are written as `tf.summary` scalars `grad_norm/<layer>`,
    `weight_norm/<layer>`, `update_ratio/<layer>` and `grad_norm/global` (plus
    gradient histograms if `histograms`) into `<log_dir>/train`; at each epoch end
    `logs` gain `grad_norm` (global norm), `grad_norm_min_layer` and
    `grad_norm_max_layer` of the latest check. `latest` holds the latest per-layer dict.

    A layer is *vanishing* after `patience` consecutive checks with a gradient norm
    below `vanishing_threshold`, and *exploding* at the first check with a norm above
    `exploding_threshold` or not finite. Flagged layers are added (once, in model
    order) to `vanishing_layers` / `exploding_layers` and a `UserWarning` names them.

    AutoClip (Seetharaman et al., "AutoClip: Adaptive Gradient Clipping for Source
    Separation Networks", 2020, the method section): with `clip_percentile=p`, the
    optimizer's global clip norm is set to the p-th percentile of the history of global
    gradient norms. Here the history holds the probe checks, not every step as in the
    paper, and the probe batch's gradient, not the training batch's.
    Keras 3 optimizers read `clipnorm`/`global_clipnorm` as plain Python floats in
    `BaseOptimizer._clip_gradients` while the train step is traced, so assigning
    `optimizer.global_clipnorm` after the first step changes nothing until the train
    function is rebuilt; the callback therefore sets the attribute and calls
    `model.make_train_function(force=True)` (one retrace; TensorFlow may log a
    retracing warning), only when the percentile moved by more than 10%. The optimizer
    must have no `clipnorm`/`clipvalue` of its own, and keeps the last threshold.

    Args:
        every_n_steps: Training steps between checks. Defaults to `100`.
        log_dir: TensorBoard folder; summaries go to `<log_dir>/train`; None writes
            none. Defaults to `None`.
        histograms: Also write gradient histograms per variable. Defaults to `False`.
        vanishing_threshold: Layer gradient norm below which a check counts as
            vanishing. Defaults to `1e-7`.
        exploding_threshold: Layer gradient norm above which a layer is exploding.
            Defaults to `1e3`.
        patience: Consecutive vanishing checks before a layer is flagged. Defaults to `3`.
        clip_percentile: AutoClip percentile in (0, 100]; None disables AutoClip.
            Defaults to `None`.

    Raises:
        ValueError: If an argument is out of range or the backend is not TensorFlow;
            when `fit` starts (at `set_model`, before any callback's `on_train_begin`)
            if no probe was set; at `on_train_begin` if AutoClip meets an optimizer with
            its own clipping.

    Example:
        ```python
        monitor = GradientMonitor(every_n_steps=50, log_dir="logs")
        monitor.set_probe(x_train[:128], y_train[:128])
        model.fit(x_train, y_train, epochs=3, callbacks=[monitor])
        monitor.vanishing_layers  # e.g. ["dense", "dense_1"]
        ```
    """

    per_step_hooks = True  # counts steps per batch hook (a recipe runner keeps 1 step per execution)

    def __init__(
        self,
        every_n_steps: int = 100,
        log_dir: str | None = None,
        histograms: bool = False,
        vanishing_threshold: float = 1e-7,
        exploding_threshold: float = 1e3,
        patience: int = 3,
        clip_percentile: float | None = None,
    ) -> None:
        super().__init__()
        checks.check_int("every_n_steps", every_n_steps, 1)
        checks.check_optional_str("log_dir", log_dir)
        checks.check_choice("histograms", histograms, (False, True))
        checks.check_float("vanishing_threshold", vanishing_threshold, low=0.0)
        checks.check_float("exploding_threshold", exploding_threshold, low=vanishing_threshold)
        checks.check_int("patience", patience, 1)
        if clip_percentile is not None:
            checks.check_float("clip_percentile", clip_percentile, low=0.0, high=100.0,
                               high_open=False)
        require_tensorflow("kerasopt.callbacks.GradientMonitor")
        self.every_n_steps = every_n_steps
        self.log_dir = log_dir
        self.histograms = histograms
        self.vanishing_threshold = vanishing_threshold
        self.exploding_threshold = exploding_threshold
        self.patience = patience
        self.clip_percentile = clip_percentile
        self._probe: tuple[Any, Any, Any] | None = None
        self._writer: Any = None
        self.load_state_dict({"step": 0, "last_check": None, "vanish_counts": {},
                              "vanishing_layers": [], "exploding_layers": [],
                              "norm_history": [], "clipnorm": None, "latest": {}})

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "every_n_steps": self.every_n_steps,
            "log_dir": self.log_dir,
            "histograms": self.histograms,
            "vanishing_threshold": self.vanishing_threshold,
            "exploding_threshold": self.exploding_threshold,
            "patience": self.patience,
            "clip_percentile": self.clip_percentile,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GradientMonitor:
        """Rebuild a `GradientMonitor` from `get_config()`."""
        return cls(**config)

    def state_dict(self) -> dict[str, Any]:
        """Counters, flags, AutoClip history and the latest check (JSON-serializable)."""
        return {
            "step": self.step,
            "last_check": self._last_check,
            "vanish_counts": dict(self._vanish_counts),
            "vanishing_layers": list(self.vanishing_layers),
            "exploding_layers": list(self.exploding_layers),
            "norm_history": list(self.norm_history),
            "clipnorm": self.clipnorm,
            "latest": {k: dict(v) for k, v in self.latest.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state_dict()` (the first check afterwards has no update ratio)."""
        self.step = int(state["step"])
        self._last_check = state["last_check"]
        self._vanish_counts = {k: int(v) for k, v in state["vanish_counts"].items()}
        self.vanishing_layers = list(state["vanishing_layers"])
        self.exploding_layers = list(state["exploding_layers"])
        self.norm_history = [float(v) for v in state["norm_history"]]
        self.clipnorm = state["clipnorm"]
        self.latest = {k: dict(v) for k, v in state["latest"].items()}
        self._probe_pass: GradientProbe | None = None

    def set_probe(self, x: Any, y: Any = None, sample_weight: Any = None) -> None:
        """Set the fixed batch the gradients are computed on (a recipe runner calls this).

        Args:
            x: Model inputs of one batch (arrays, or a dict/list of arrays).
            y: Targets. Defaults to `None`.
            sample_weight: Per-sample weights. Defaults to `None`.
        """
        self._probe = (x, y, sample_weight)

    # -- hooks ---------------------------------------------------------------------

    def set_model(self, model: keras.Model) -> None:
        """Keras's `set_model`; refuses a monitor without a probe batch (see `on_train_begin`)."""
        self._require_probe()
        super().set_model(model)

    def _require_probe(self) -> None:
        # Checked when `fit` hands the callbacks their model, before any callback's
        # `on_train_begin` has run (a TensorBoard before this one would otherwise have
        # opened its writers and left its summary context entered).
        if self._probe is None:
            raise ValueError(
                "GradientMonitor has no probe batch: Keras callbacks never see the training "
                "batches, so the gradients are computed on a fixed batch you give it. Call "
                "`monitor.set_probe(x, y)` with one (e.g. `monitor.set_probe(x_train[:128], "
                "y_train[:128])`) before `fit()`; a recipe sets the first training batch itself."
            )

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._require_probe()
        optimizer = self.model.optimizer
        if self.clip_percentile is not None and (optimizer.clipnorm or optimizer.clipvalue):
            raise ValueError(
                "GradientMonitor(clip_percentile=...) sets the optimizer's global_clipnorm, "
                "which Keras allows only without `clipnorm`/`clipvalue`. Received an "
                f"optimizer with clipnorm={optimizer.clipnorm!r}, "
                f"clipvalue={optimizer.clipvalue!r}."
            )
        self.on_epoch_begin(0)
        self._probe_pass = GradientProbe(self.model, *self._probe, histograms=self.histograms)
        if self.clipnorm is not None and self.clip_percentile is not None:
            # Resumed from a state dict: put the AutoClip threshold back in the train step.
            optimizer.global_clipnorm = self.clipnorm
            self.model.make_train_function(force=True)
        if self.log_dir is not None and self._writer is None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))
        self._check()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_start_step, self._last_batch = self.step, -1

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # Steps are counted when a batch begins (`batch` steps of the epoch are done):
        # overriding `on_train_batch_end` would turn off Keras's asynchronous batch-end
        # dispatch for all callbacks, which costs ~3% per step on small models.
        self.step, self._last_batch = self._epoch_start_step + batch, batch
        if self.step // self.every_n_steps > (self._last_check or 0) // self.every_n_steps:
            self._check()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        steps = (self.params or {}).get("steps")
        if not steps or self.model.stop_training:
            steps = self._last_batch + 1  # exact unless steps_per_execution > 1
        self.step = self._epoch_start_step + steps
        if logs is not None and self.latest:
            norms = [v["grad_norm"] for v in self.latest.values()]
            logs["grad_norm"] = float(np.sqrt(np.sum(np.square(norms))))
            logs["grad_norm_min_layer"] = float(np.min(norms))
            logs["grad_norm_max_layer"] = float(np.max(norms))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.flush()

    # -- measurement ---------------------------------------------------------------

    def _check(self) -> None:
        grad_sq, weight_sq, delta_sq, grads = self._probe_pass()
        grad_sq, weight_sq, delta_sq = (np.asarray(a, dtype=np.float64)
                                        for a in (grad_sq, weight_sq, delta_sq))
        elapsed = None if self._last_check is None else self.step - self._last_check
        per_layer: dict[str, dict[str, float]] = {}
        for name, g, w, d in zip(self._probe_pass.layers, grad_sq, weight_sq, delta_sq, strict=True):
            entry = per_layer.setdefault(name, {"grad_norm": 0.0, "weight_norm": 0.0, "delta": 0.0})
            entry["grad_norm"] += g
            entry["weight_norm"] += w
            entry["delta"] += d
        for entry in per_layer.values():
            entry["grad_norm"] = math.sqrt(entry["grad_norm"])
            entry["weight_norm"] = math.sqrt(entry["weight_norm"])
            delta = math.sqrt(entry.pop("delta"))
            if elapsed:
                entry["update_ratio"] = delta / elapsed / max(entry["weight_norm"], 1e-12)
        global_norm = math.sqrt(float(np.sum(grad_sq)))
        self.latest = per_layer
        self._last_check = self.step
        self._detect(per_layer)
        if math.isfinite(global_norm):
            self.norm_history.append(global_norm)
        if self.clip_percentile is not None and self.norm_history:
            self._autoclip()
        if self._writer is not None:
            self._write(per_layer, global_norm, grads)

    def _detect(self, per_layer: dict[str, dict[str, float]]) -> None:
        new_vanishing, new_exploding = [], []
        for name, entry in per_layer.items():
            norm = entry["grad_norm"]
            if not math.isfinite(norm) or norm > self.exploding_threshold:
                if name not in self.exploding_layers:
                    new_exploding.append(name)
            count = self._vanish_counts.get(name, 0) + 1 if norm < self.vanishing_threshold else 0
            self._vanish_counts[name] = count
            if count >= self.patience and name not in self.vanishing_layers:
                new_vanishing.append(name)
        self.vanishing_layers += new_vanishing
        self.exploding_layers += new_exploding
        if new_vanishing:
            warnings.warn(
                f"GradientMonitor: vanishing gradients at step {self.step} in layers "
                f"{new_vanishing} (gradient norm < {self.vanishing_threshold} for "
                f"{self.patience} consecutive checks).", UserWarning, stacklevel=2)
        if new_exploding:
            warnings.warn(
                f"GradientMonitor: exploding gradients at step {self.step} in layers "
                f"{new_exploding} (gradient norm > {self.exploding_threshold} or not finite).",
                UserWarning, stacklevel=2)

    def _autoclip(self) -> None:
        clip = float(np.percentile(self.norm_history, self.clip_percentile))
        if clip <= 0.0:
            return
        if self.clipnorm is not None and abs(clip - self.clipnorm) <= _CLIP_RETRACE_RTOL * self.clipnorm:
            return
        self.clipnorm = clip
        self.model.optimizer.global_clipnorm = clip
        self.model.make_train_function(force=True)

    def _write(self, per_layer: dict[str, dict[str, float]], global_norm: float, grads: Any) -> None:
        import tensorflow as tf

        with self._writer.as_default(step=self.step):
            tf.summary.scalar("grad_norm/global", global_norm)
            for name, entry in per_layer.items():
                for key, value in entry.items():
                    tf.summary.scalar(f"{key}/{name}", value)
            if self.clipnorm is not None:
                tf.summary.scalar("autoclip/global_clipnorm", self.clipnorm)
            for tag, grad in zip(self._probe_pass.tags, grads, strict=self.histograms):
                tf.summary.histogram(tag, grad)

