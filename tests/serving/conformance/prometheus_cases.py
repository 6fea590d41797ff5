"""tensorflow_serving/util/prometheus_exporter_test.cc, as data.

Run against serving/model_servers/metrics.py.

Each case: (test, metric kind, name, labels, cells, expected page). Cells are
(label values, value) for counters and gauges and (label values, samples) for histograms;
histogram buckets are monitoring::Buckets::Exponential(1, 2, 10), as in the test.
"""

from __future__ import annotations

P = "prometheus_exporter_test.cc:PrometheusExporterTest."

CASES = [
    (P + "Counter", "counter", "/test/path/total", ("name",), [(("abc",), 2)],
     '# TYPE :test:path:total counter\n:test:path:total{name="abc"} 2\n'),
    (P + "Gauge", "gauge", "/test/path/gague", ("x", "y"), [(("abc", "def"), 5)],
     '# TYPE :test:path:gague gauge\n:test:path:gague{x="abc",y="def"} 5\n'),
    (P + "Histogram", "histogram", "/test/path/histogram", ("status",),
     [(("good",), [2, 20, 200])],
     "# TYPE :test:path:histogram histogram\n"
     + "".join(f':test:path:histogram_bucket{{status="good",le="{le}"}} {count}\n'
               for le, count in [("1", 0), ("2", 0), ("4", 1), ("8", 1), ("16", 1), ("32", 2),
                                 ("64", 2), ("128", 2), ("256", 3), ("512", 3), ("+Inf", 3)])
     + ':test:path:histogram_sum{status="good"} 222\n'
     + ':test:path:histogram_count{status="good"} 3\n'),
    (P + "SanitizeLabelValue", "counter", "/test/path/total", ("name",),
     [(('"abc\\"',), 2)],
     '# TYPE :test:path:total counter\n:test:path:total{name="\\"abc\\\\\\""} 2\n'),
    (P + "SanitizeLabelName", "counter", "/test/path/total", ("my-name+1",), [(("abc",), 2)],
     '# TYPE :test:path:total counter\n:test:path:total{my_name_1="abc"} 2\n'),
    (P + "SanitizeMetricName", "counter", "0/path-total_count", ("name",), [(("abc",), 2)],
     '# TYPE _0:path:total_count counter\n_0:path:total_count{name="abc"} 2\n'),
]
