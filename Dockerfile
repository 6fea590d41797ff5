# The namegen pipeline image for Kubeflow Pipelines v2 (docs/KUBEFLOW.md; docs/NIGHTLY.md).
# Every task runs `python -m pipeline.kubeflow.entrypoint <TFX executor args>`, which works
# around tensorflow/tfx#7768 and then runs TFX's kubeflow_v2_run_executor.
# Build and push: make image IMAGE=<registry>/namegen:<tag>
# The current stack (docs/SETUP.md): Debian 13 (glibc 2.41, which TFDV 1.21's manylinux_2_39
# wheels need) and Python 3.13, with requirements-current.lock. g++ builds the lock's one C++
# sdist (pyfarmhash) and is removed again.
FROM python:3.13-slim-trixie

WORKDIR /app
# The exact versions the tests ran with, hash-checked; --no-deps so pip cannot re-resolve.
COPY requirements-current.lock ./
RUN apt-get update && apt-get install -y --no-install-recommends g++ \
    && pip install --no-cache-dir --no-deps --require-hashes -r requirements-current.lock \
    && apt-get purge -y g++ && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*

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
