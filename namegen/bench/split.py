"""A name list through the pipeline's own ExampleGen and Transform: its split and vocabulary.

The quality bench and the sampling controls train and score on exactly what the pipeline would.
"""

from __future__ import annotations

import glob
import hashlib
import os

from pipeline import configs


class Prepared:
    """One name list after the pipeline's ExampleGen and Transform."""

    def __init__(self, root: str):
        import tensorflow_transform as tft

        from components.example_gen.executor import read_split
        from components.trainer import data

        def newest(pattern: str) -> str:
            return max(glob.glob(os.path.join(root, pattern)),
                       key=lambda p: int(os.path.basename(p)))

        examples = newest("FileBasedExampleGen/examples/*")
        transformed = newest("Transform/transformed_examples/*")
        self.tft_output = tft.TFTransformOutput(newest("Transform/transform_graph/*"))
        self.train_names = read_split(examples, "train")
        self.eval_names = read_split(examples, "eval")
        self.train_ids = data.load_split([f"{transformed}/Split-train/*"], self.tft_output)
        self.eval_ids = data.load_split([f"{transformed}/Split-eval/*"], self.tft_output)


def prepare(names: list[str], work_dir: str) -> Prepared:
    """Run ExampleGen + Transform on the list once (cached by content) and load the result."""
    from tfx import v1 as tfx

    from components.example_gen.component import names_example_gen

    digest = hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()[:12]
    root = os.path.join(work_dir, f"data-{digest}")
    data_dir = os.path.join(root, "input")
    os.makedirs(data_dir, exist_ok=True)
    data_path = os.path.join(data_dir, "names.txt")
    if not os.path.exists(data_path):
        with open(data_path + ".tmp", "w", encoding="utf-8") as f:
            f.write("\n".join(names) + "\n")
        os.replace(data_path + ".tmp", data_path)
    pipeline_root = os.path.join(root, "pipeline")
    if not glob.glob(os.path.join(pipeline_root, "Transform/transform_graph/*")):
        example_gen = names_example_gen(data_path)
        schema = tfx.components.ImportSchemaGen(
            schema_file=str(configs.PROJECT_ROOT / "pipeline" / "schema" / "schema.pbtxt"))
        transform = tfx.components.Transform(
            examples=example_gen.outputs["examples"], schema=schema.outputs["schema"],
            preprocessing_fn="components.transform.preprocessing.preprocessing_fn")
        tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
            pipeline_name="namegen-bench", pipeline_root=pipeline_root,
            components=[example_gen, schema, transform], enable_cache=True,
            metadata_connection_config=tfx.orchestration.metadata
            .sqlite_metadata_connection_config(configs.metadata_path(pipeline_root)),
            beam_pipeline_args=configs.BEAM_ARGS_TEST))
    return Prepared(pipeline_root)
