"""Data sources and tf.data pipelines: offline (mnist1d, digits, synthetic, files) and online."""

from kerasopt.data.build import build_data as build_data
from kerasopt.data.bundle import DataBundle as DataBundle
from kerasopt.data.data_problem import DataProblem as DataProblem
from kerasopt.data.errors import DataError as DataError
from kerasopt.data.output_spec import OutputSpec as OutputSpec
from kerasopt.data.output_spec import output_spec as output_spec
from kerasopt.data.output_spec import task_for_loss as task_for_loss
from kerasopt.data.precheck import check_data as check_data
from kerasopt.data.stream_pipeline import stream_order as stream_order
from kerasopt.data.task_inference import TaskInference as TaskInference
from kerasopt.data.task_inference import infer_task as infer_task

__all__ = ["DataBundle", "DataError", "DataProblem", "OutputSpec", "TaskInference", "build_data",
           "check_data", "infer_task", "output_spec", "stream_order", "task_for_loss"]
