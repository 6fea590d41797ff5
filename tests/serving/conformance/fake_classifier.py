"""A SavedModel that answers as classifier_test.cc's FakeSession and MockSession do.

Input "inputs": serialized tf.Examples. classes = each example's "class" bytes feature, scores =
its "score" float feature (dense, same length for every example). Signatures, as the test's:
serving_default (classes + scores), output_plus_one (scores + 1), invalid_regression_signature
(a regress method name), ImproperlySizedScoresSignature (rank-3 scores), classes_only,
scores_only; and the MockSession outputs: run_fails ("Run totally failed"), classes_batch_1,
classes_float, scores_batch_1, scores_string, three_scores.
"""

from __future__ import annotations

from pathlib import Path

CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"


def build(export_dir: str | Path) -> Path:
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        serialized = v1.placeholder(tf.string, shape=[None], name="input")
        parsed = v1.parse_example(serialized, {"class": v1.VarLenFeature(tf.string),
                                               "score": v1.VarLenFeature(tf.float32)})
        classes = tf.sparse.to_dense(parsed["class"], default_value="")
        scores = tf.sparse.to_dense(parsed["score"])
        batch = tf.shape(scores)[0]
        improper = tf.zeros(tf.stack([batch, tf.shape(scores)[1], 10]))
        with tf.control_dependencies([v1.Assert(tf.constant(False), ["Run totally failed"])]):
            failing = tf.identity(scores)
        info = v1.saved_model.utils.build_tensor_info

        def signature(outputs: dict, method: str = CLASSIFY):
            return v1.saved_model.signature_def_utils.build_signature_def(
                {"inputs": info(serialized)}, {k: info(t) for k, t in outputs.items()}, method)

        signatures = {
            "serving_default": signature({"classes": classes, "scores": scores}),
            "output_plus_one": signature({"classes": classes, "scores": scores + 1}),
            "invalid_regression_signature": signature({"scores": scores + 1}, REGRESS),
            "ImproperlySizedScoresSignature": signature({"classes": classes, "scores": improper}),
            "classes_only": signature({"classes": classes}),
            "scores_only": signature({"scores": scores}),
            "run_fails": signature({"classes": classes, "scores": failing}),
            "classes_batch_1": signature({"classes": classes[:1], "scores": scores}),
            "classes_float": signature({"classes": scores, "scores": scores}),
            "scores_batch_1": signature({"classes": classes, "scores": scores[:1]}),
            "scores_string": signature({"classes": classes, "scores": classes}),
            "three_scores": signature({"classes": classes,
                                       "scores": tf.concat([scores, scores[:, :1]], 1)}),
        }
        builder = v1.saved_model.builder.SavedModelBuilder(str(export_dir))
        builder.add_meta_graph_and_variables(session, [v1.saved_model.tag_constants.SERVING],
                                             signature_def_map=signatures)
        builder.save()
    return Path(export_dir)


def build_regressor(export_dir: str | Path) -> Path:
    """What regressor_test.cc's FakeSession and MockSession do: each example's "output" float
    feature, as [batch] (serving_default) or [batch, 1] plus one (output_plus_one); a classify
    signature (invalid_classification_signature), rank-3 outputs
    (ImproperlySizedOutputSignature), a failing run, two outputs for one example, strings."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        serialized = v1.placeholder(tf.string, shape=[None], name="input")
        output = v1.parse_example(serialized, {"output": v1.FixedLenFeature([1], tf.float32)})
        column = output["output"]  # [batch, 1]
        with tf.control_dependencies([v1.Assert(tf.constant(False), ["Run totally failed"])]):
            failing = tf.identity(column)
        info = v1.saved_model.utils.build_tensor_info

        def signature(name: str, tensor, method: str = REGRESS):
            return v1.saved_model.signature_def_utils.build_signature_def(
                {"inputs": info(serialized)}, {name: info(tensor)}, method)

        signatures = {
            "serving_default": signature("outputs", tf.reshape(column, [-1])),
            "output_plus_one": signature("outputs", column + 1),
            "invalid_classification_signature": signature("classes", column, CLASSIFY),
            "ImproperlySizedOutputSignature": signature(
                "outputs", tf.zeros(tf.stack([tf.shape(column)[0], 1, 10]))),
            "run_fails": signature("outputs", failing),
            "two_outputs": signature("outputs", tf.zeros([2])),
            "string_output": signature("outputs", tf.fill(tf.shape(column)[:1], "x")),
        }
        builder = v1.saved_model.builder.SavedModelBuilder(str(export_dir))
        builder.add_meta_graph_and_variables(session, [v1.saved_model.tag_constants.SERVING],
                                             signature_def_map=signatures)
        builder.save()
    return Path(export_dir)
