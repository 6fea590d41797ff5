# The namegen pipeline image for Kubeflow Pipelines v2 (docs/KUBEFLOW.md; docs/NIGHTLY.md).
# Every task runs `python -m pipeline.kubeflow.entrypoint <TFX executor args>`, which works
# around tensorflow/tfx#7768 and then runs TFX's kubeflow_v2_run_executor.
# Build and push: make image IMAGE=<registry>/namegen:<tag>
FROM tensorflow/tfx:1.16.0

WORKDIR /app
# The exact versions the tests ran with; --no-deps so pip cannot re-resolve (Beam, dill).
COPY requirements.lock ./
RUN pip install --no-cache-dir --no-deps -r requirements.lock

COPY pyproject.toml ./
COPY namegen namegen
COPY pipeline pipeline
COPY components components
COPY serving serving
COPY data/__init__.py data/encoding.py data/resolve.py data/manifest.json data/
RUN pip install --no-cache-dir --no-deps --no-build-isolation .

# Module code on the path from the working directory too: the compiled spec refers to
# pipeline/schema relative to it.
ENV PYTHONPATH=/app \
    TF_CPP_MIN_LOG_LEVEL=2 \
    GRPC_ENABLE_FORK_SUPPORT=false
ENTRYPOINT ["python", "-m", "pipeline.kubeflow.entrypoint"]
