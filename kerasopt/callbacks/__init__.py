"""Callbacks with `get_config`, usable in plain `model.fit` and in recipes."""

from kerasopt.callbacks.batch_size_finder import BatchSizeFinder as BatchSizeFinder
from kerasopt.callbacks.batch_size_finder import find_batch_size as find_batch_size
from kerasopt.callbacks.best_weights import BestWeights as BestWeights
from kerasopt.callbacks.divergence_recovery import DivergenceRecovery as DivergenceRecovery
from kerasopt.callbacks.early_stopping import EarlyStopping as EarlyStopping
from kerasopt.callbacks.gradient_monitor import GradientMonitor as GradientMonitor
from kerasopt.callbacks.learning_rate_logger import LearningRateLogger as LearningRateLogger
from kerasopt.callbacks.lr_finder import LRFinder as LRFinder
from kerasopt.callbacks.lr_finder import find_learning_rate as find_learning_rate
from kerasopt.callbacks.monitor import MonitorCallback as MonitorCallback
from kerasopt.callbacks.overfitting_monitor import OverfittingMonitor as OverfittingMonitor
from kerasopt.callbacks.progress_bar import ProgressBar as ProgressBar
from kerasopt.callbacks.tensorboard import TensorBoard as TensorBoard
from kerasopt.callbacks.time_stopping import TimeStopping as TimeStopping

__all__ = [
    "BatchSizeFinder", "BestWeights", "DivergenceRecovery", "EarlyStopping", "GradientMonitor", "LRFinder",
    "LearningRateLogger", "MonitorCallback", "OverfittingMonitor", "ProgressBar", "TensorBoard",
    "TimeStopping", "find_batch_size", "find_learning_rate",
]
