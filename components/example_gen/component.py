"""NamesExampleGen: TFX's FileBasedExampleGen with the text-names executor."""

from __future__ import annotations

import os

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components.example_gen import executor
from pipeline import configs


def names_example_gen(data_path: str, custom_config: dict | None = None) -> FileBasedExampleGen:
    """ExampleGen over one names file (or a glob), split train:eval by hashing the name."""
    input_base, pattern = os.path.split(str(data_path))
    output_config = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=configs.TRAIN_BUCKETS),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=configs.EVAL_BUCKETS),
            ],
            partition_feature_name=configs.NAME_FEATURE,
        )
    )
    return FileBasedExampleGen(
        input_base=input_base,
        input_config=example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split", pattern=pattern)]
        ),
        output_config=output_config,
        custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor),
        custom_config=custom_config,
    )
