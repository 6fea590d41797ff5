"""TF Serving's monitoring: its metric names, served in Prometheus text as its exporter writes it.

Follows util/prometheus_exporter.cc and the metric definitions of servables/tensorflow/util.cc
and core/loader_harness.cc.

`--monitoring_config_file` with `prometheus_config { enable: true path: "..." }` turns on the
REST route (default path /monitoring/prometheus/metrics). Names and text follow
util/prometheus_exporter.cc: "/tensorflow/serving/request_count" is written
":tensorflow:serving:request_count", one `# TYPE` line per metric, histograms as cumulative
`_bucket{...,le="..."}` lines, then `_sum` and `_count`. No TensorFlow here.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from serving import compat

DEFAULT_PATH = "/monitoring/prometheus/metrics"
# The model_name label of requests naming a model the server does not know (namegen's own):
# one fixed label, so clients cannot grow the page.
UNKNOWN_MODEL = "__unknown__"


def metric_name(name: str) -> str:
    """'/tensorflow/serving/x' -> ':tensorflow:serving:x' ('0/a-b' -> '_0:a:b')."""
    text = re.sub(r"[^a-zA-Z0-9_:]", ":", name)
    return "_" + text if text[:1].isdigit() else text


def label_name(name: str) -> str:
    text = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    return "_" + text if text[:1].isdigit() else text


def label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def exponential_buckets(scale: float, growth: float, count: int) -> list[float]:
    """monitoring::Buckets::Exponential: scale * growth**i, i < count."""
    return [scale * growth**i for i in range(count)]


class _Metric:
    kind = "untyped"

    def __init__(self, registry: Registry, name: str, description: str, *labels: str):
        self.name, self.description, self.labels = name, description, labels
        self._cells: dict[tuple[str, ...], object] = {}
        self._lock = threading.Lock()
        registry.add(self)

    def _labels(self, values: tuple[str, ...], extra: str = "") -> str:
        parts = [f'{label_name(k)}="{label_value(str(v))}"' for k, v in zip(self.labels, values)]
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}" if parts else ""


class Counter(_Metric):
    kind = "counter"

    def increment(self, *values: str, by: float = 1) -> None:
        with self._lock:
            self._cells[values] = self._cells.get(values, 0) + by

    def lines(self) -> list[str]:
        with self._lock:
            cells = dict(self._cells)
        return [f"{metric_name(self.name)}{self._labels(k)} {number(v)}" for k, v in cells.items()]


class Gauge(Counter):
    kind = "gauge"

    def set(self, *values: str, value: float) -> None:
        with self._lock:
            self._cells[values] = value


class Sampler(_Metric):
    """A histogram with fixed bucket bounds (monitoring::Sampler)."""

    kind = "histogram"

    def __init__(self, registry: Registry, name: str, description: str, bounds: list[float],
                 *labels: str):
        super().__init__(registry, name, description, *labels)
        self.bounds = list(bounds)

    def add(self, *values: str, sample: float) -> None:
        with self._lock:
            counts, total = self._cells.get(values, ([0] * (len(self.bounds) + 1), 0.0))
            index = next((i for i, bound in enumerate(self.bounds) if sample < bound),
                         len(self.bounds))
            counts = list(counts)
            counts[index] += 1
            self._cells[values] = (counts, total + sample)

    def lines(self) -> list[str]:
        name = metric_name(self.name)
        with self._lock:
            cells = dict(self._cells)
        out = []
        for values, (counts, total) in cells.items():
            running = 0
            for bound, count in zip([*self.bounds, None], counts):
                running += count
                le = '"+Inf"' if bound is None else f'"{bound:g}"'
                out.append(f"{name}_bucket{self._labels(values, 'le=' + le)} {running}")
            out.append(f"{name}_sum{self._labels(values)} {number(total)}")
            out.append(f"{name}_count{self._labels(values)} {running}")
        return out


class Registry:
    """Every metric of one server, in the order they were made."""

    def __init__(self):
        self._metrics: list[_Metric] = []

    def add(self, metric: _Metric) -> None:
        self._metrics.append(metric)

    def page(self) -> str:
        """The Prometheus text page: metrics with at least one cell, each with its TYPE."""
        out = []
        for metric in self._metrics:
            lines = metric.lines()
            if lines:
                out.append(f"# TYPE {metric_name(metric.name)} {metric.kind}")
                out.extend(lines)
        return "\n".join(out) + "\n" if out else ""


class ServingMetrics:
    """The metrics `namegen serve` keeps, under TF Serving's names and labels."""

    def __init__(self):
        self.registry = Registry()
        self.request_count = Counter(self.registry, "/tensorflow/serving/request_count",
                                     "The total number of requests.", "model_name", "status")
        self.request_latency = Sampler(
            self.registry, "/tensorflow/serving/request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            exponential_buckets(10, 1.8, 33), "model_name", "API", "entrypoint")
        self.load_attempt_count = Counter(
            self.registry, "/tensorflow/cc/saved_model/load_attempt_count",
            "The number of times a SavedModel was successfully loaded.", "model_path", "status")
        self.inflight = Gauge(self.registry, "/namegen/serving/inflight_requests",
                              "Requests being served now, the scrape included (namegen's own).")
        self.load_latency = Counter(
            self.registry, "/tensorflow/cc/saved_model/load_latency",
            "Latency in microseconds for SavedModels that were successfully loaded.",
            "model_path")

    def record_request(self, model_name: str, api: str, entrypoint: str, status: str,
                       seconds: float) -> None:
        self.request_count.increment(model_name, status)
        self.request_latency.add(model_name, api, entrypoint, sample=seconds * 1e6)

    def record_load(self, model_path: str, ok: bool, seconds: float) -> None:
        self.load_attempt_count.increment(model_path, "success" if ok else "fail")
        if ok:
            self.load_latency.increment(model_path, by=round(seconds * 1e6))


def prometheus_path(config_file: str | Path | None) -> str | None:
    """The scrape path a MonitoringConfig enables (text proto), or None when off."""
    if not config_file:
        return None
    from google.protobuf import text_format

    config = text_format.Parse(Path(config_file).read_text(encoding="utf-8"),
                               _monitoring_config_class()())
    if not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or DEFAULT_PATH


def _monitoring_config_class():
    """tensorflow_serving/config/monitoring_config.proto's MonitoringConfig (the pip package
    does not ship it): prometheus_config { enable path }."""
    from google.protobuf import descriptor_pb2, descriptor_pool

    pool = descriptor_pool.DescriptorPool()
    proto = descriptor_pb2.FileDescriptorProto(name="monitoring_config.proto",
                                               package="tensorflow.serving", syntax="proto3")
    field = descriptor_pb2.FieldDescriptorProto
    prometheus = proto.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=field.TYPE_BOOL, label=field.LABEL_OPTIONAL)
    prometheus.field.add(name="path", number=2, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    monitoring = proto.message_type.add(name="MonitoringConfig")
    monitoring.field.add(name="prometheus_config", number=1, type=field.TYPE_MESSAGE,
                         label=field.LABEL_OPTIONAL,
                         type_name=".tensorflow.serving.PrometheusConfig")
    pool.Add(proto)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
    return compat.message_class(descriptor)
