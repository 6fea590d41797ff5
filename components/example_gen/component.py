"""NamesExampleGen: TFX's FileBasedExampleGen with the text-names executor."""

from __future__ import annotations

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components.example_gen import executor, spans
from data import encoding
from pipeline import configs


def names_example_gen(input_base, pattern=None, custom_config: dict | None = None
                      ) -> FileBasedExampleGen:
    """ExampleGen over a names file, a glob or a span pattern, split train:eval on the name.

    pattern None: input_base is the whole data path (spans.split_data_path splits it). Kubeflow
    passes runtime parameters; the executor then reads the plain pattern as the input config.
    """
    if pattern is None:
        input_base, pattern = spans.split_data_path(str(input_base))
    output_config = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=configs.TRAIN_BUCKETS),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=configs.EVAL_BUCKETS),
            ],
            partition_feature_name=encoding.NAME_FEATURE,
        )
    )
    return FileBasedExampleGen(
        input_base=input_base,
        input_config=spans.one_split_config(pattern) if isinstance(pattern, str) else pattern,
        output_config=output_config,
        custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor),
        custom_config=custom_config,
    )
