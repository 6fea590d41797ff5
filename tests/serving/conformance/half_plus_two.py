"""A half_plus_two SavedModel built the way TF Serving's own test model is built.

Follows tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two.py: a TF1
graph with variables a=0.5, b=2, c=3; serialized tf.Examples parsed for `x` (required, one
float) and `x2` (one float, default 0); y = a*x + b, y2 = a*x + c, y3 = a*x2 + c. Signatures:
regress_x_to_y, regress_x_to_y2, regress_x2_to_y3, classify_x_to_y (scores only) and
serving_default (predict, x -> y). One difference: `x` is fed through placeholder_with_default
with an unknown shape, because TF Serving's C++ session takes a feed of any shape for `x` while a
TF2-loaded signature checks it against the static (?, 1).
"""

from __future__ import annotations

from pathlib import Path

MODEL_NAME = "saved_model_half_plus_two_2_versions"
VERSIONS = (123, 124)  # TF Serving's test model: 00000123/ and 00000124/


def build(export_dir: str | Path, b: float = 2.0) -> Path:
    """Writes the SavedModel to export_dir (`b` lets a second version answer differently)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    export_dir = Path(export_dir)
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        a = v1.Variable(0.5, name="a")
        b_var = v1.Variable(b, name="b")
        c = v1.Variable(3.0, name="c")
        serialized = v1.placeholder(tf.string, shape=[None], name="tf_example")
        parsed = v1.parse_example(serialized, {
            "x": v1.FixedLenFeature([1], tf.float32),
            "x2": v1.FixedLenFeature([1], tf.float32, default_value=[0.0]),
        })
        x = v1.placeholder_with_default(parsed["x"], shape=None, name="x")
        y = tf.identity(a * x + b_var, name="y")
        y2 = tf.identity(a * x + c, name="y2")
        x2 = tf.identity(parsed["x2"], name="x2")
        y3 = tf.identity(v1.Variable(0.5, name="a2") * x2 + v1.Variable(3.0, name="c2"),
                         name="y3")
        info = v1.saved_model.utils.build_tensor_info
        constants = v1.saved_model.signature_constants

        def signature(inputs, outputs, method):
            return v1.saved_model.signature_def_utils.build_signature_def(
                {k: info(t) for k, t in inputs.items()},
                {k: info(t) for k, t in outputs.items()}, method)

        regress = constants.REGRESS_METHOD_NAME
        signatures = {
            "regress_x_to_y": signature({"inputs": serialized}, {"outputs": y}, regress),
            "regress_x_to_y2": signature({"inputs": serialized}, {"outputs": y2}, regress),
            "regress_x2_to_y3": signature({"inputs": x2}, {"outputs": y3}, regress),
            "classify_x_to_y": signature({"inputs": serialized}, {"scores": y},
                                         constants.CLASSIFY_METHOD_NAME),
            "serving_default": signature({"x": x}, {"y": y}, constants.PREDICT_METHOD_NAME),
        }
        session.run(v1.global_variables_initializer())
        builder = v1.saved_model.builder.SavedModelBuilder(str(export_dir))
        builder.add_meta_graph_and_variables(session, [v1.saved_model.tag_constants.SERVING],
                                             signature_def_map=signatures)
        builder.save()
    return export_dir


def build_two_versions(base: str | Path) -> Path:
    """TF Serving's saved_model_half_plus_two_2_versions layout: 00000123/ and 00000124/."""
    base = Path(base)
    for version in VERSIONS:
        build(base / f"{version:08d}")
    return base
