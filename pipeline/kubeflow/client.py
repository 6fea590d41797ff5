"""Submit and schedule the compiled package on a Kubeflow Pipelines v2 host (kfp.Client)."""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_EXPERIMENT = "namegen"
TOKEN_ENV = "KFP_TOKEN"


class KubeflowClientError(RuntimeError):
    """The KFP host cannot be reached, refuses us, or the request is wrong."""


def cron_fields(cron: str) -> str:
    """KFP schedules take 6-field cron (seconds first); say so instead of a server error."""
    if len(cron.split()) != 6:
        raise KubeflowClientError(
            f"--cron {cron!r} has {len(cron.split())} fields; KFP uses 6 with seconds first, "
            "e.g. '0 0 3 * * *' for 03:00 every day")
    return cron


def run_parameters(package: str, pairs: list[str] | None) -> dict:
    """--param NAME=VALUE pairs, checked and typed against the package's parameters."""
    from pipeline.kubeflow import local as kubeflow_local

    try:
        return kubeflow_local.typed_parameters(kubeflow_local.load_spec(package),
                                               kubeflow_local.parse_params(pairs))
    except kubeflow_local.LocalRunError as error:
        raise KubeflowClientError(str(error)) from None


AUTH_HINT = (f"authentication is missing or not allowed; pass --token or set ${TOKEN_ENV} "
             "(a service-account or OIDC id token)")
UNREACHABLE_HINT = ("check the URL, e.g. `kubectl port-forward -n kubeflow svc/ml-pipeline-ui "
                    "8080:80` and --host http://localhost:8080")


def preflight(host: str, token: str | None, timeout: float = 10.0) -> None:
    """One health request, so that a wrong host or missing auth fails at once and clearly.

    (kfp.Client retries its own health check for 25 s and then reports a TimeoutError.)
    """
    import requests

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{host.rstrip('/')}/apis/v2beta1/healthz"
    try:
        answer = requests.get(url, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.RequestException as error:
        raise KubeflowClientError(f"cannot reach Kubeflow Pipelines at {host} "
                                  f"({type(error).__name__}); {UNREACHABLE_HINT}") from None
    if answer.status_code in (401, 403) or answer.is_redirect:  # Dex/OIDC login redirect
        raise KubeflowClientError(f"{host} refused the request ({answer.status_code}): "
                                  f"{AUTH_HINT}")
    if answer.status_code != 200:
        raise KubeflowClientError(f"{url} answered {answer.status_code}: is this the KFP API?")
    try:
        answer.json()
    except ValueError:
        raise KubeflowClientError(f"{url} did not answer JSON (a login page?): "
                                  f"{AUTH_HINT}") from None


def connect(host: str, token: str | None = None, namespace: str | None = None):
    """A kfp.Client for the host after a health check; the token defaults to $KFP_TOKEN."""
    import kfp

    token = token or os.environ.get(TOKEN_ENV) or None
    preflight(host, token)
    return kfp.Client(host=host, existing_token=token, namespace=namespace or "kubeflow")


def explain(error: Exception, host: str) -> KubeflowClientError:
    """One line for what went wrong talking to the host."""
    import kfp_server_api
    import urllib3

    if isinstance(error, kfp_server_api.ApiException):
        if error.status in (401, 403) or (error.status and 300 <= error.status < 400):
            return KubeflowClientError(
                f"{host} refused the request ({error.status} {error.reason}): {AUTH_HINT}")
        return KubeflowClientError(f"{host} answered {error.status} {error.reason}: "
                                   f"{(error.body or '').strip()[:300]}")
    if isinstance(error, (urllib3.exceptions.HTTPError, ConnectionError, OSError)):
        return KubeflowClientError(f"cannot reach Kubeflow Pipelines at {host} "
                                   f"({type(error).__name__}); {UNREACHABLE_HINT}")
    if isinstance(error, ValueError):  # an HTML login page where JSON was expected
        return KubeflowClientError(f"{host} did not answer as the KFP API ({error}); behind a "
                                   "login page authentication is missing: pass --token")
    return KubeflowClientError(f"{type(error).__name__}: {error}")


def _call(host: str, action):
    import kfp_server_api
    import urllib3

    try:
        return action()
    except (kfp_server_api.ApiException, urllib3.exceptions.HTTPError, ConnectionError,
            OSError, ValueError) as error:
        raise explain(error, host) from error


def submit(package: str, host: str, experiment: str = DEFAULT_EXPERIMENT,
           params: dict | None = None, run_name: str | None = None, token: str | None = None,
           namespace: str | None = None) -> tuple[str, str]:
    """Start one run of the package; returns the run id and its URL."""
    def action():
        client = connect(host, token, namespace)
        return client.create_run_from_pipeline_package(
            package, arguments=params or {}, run_name=run_name, experiment_name=experiment,
            namespace=namespace)

    result = _call(host, action)
    return result.run_id, f"{host.rstrip('/')}/#/runs/details/{result.run_id}"


def schedule(package: str, host: str, cron: str, experiment: str = DEFAULT_EXPERIMENT,
             params: dict | None = None, max_concurrency: int = 1, name: str = "namegen-nightly",
             token: str | None = None, namespace: str | None = None) -> tuple[str, str]:
    """Upload the package (a new version if the pipeline exists) and schedule it on cron."""
    cron = cron_fields(cron)

    def action():
        client = connect(host, token, namespace)
        experiment_id = client.create_experiment(experiment, namespace=namespace).experiment_id
        pipeline_id = client.get_pipeline_id(name)
        if pipeline_id is None:
            pipeline = client.upload_pipeline(package, pipeline_name=name)
            pipeline_id = pipeline.pipeline_id
            version_id = client.list_pipeline_versions(pipeline_id).pipeline_versions[0] \
                .pipeline_version_id
        else:
            version = client.upload_pipeline_version(
                package, pipeline_version_name=f"{name}-{os.path.getmtime(package):.0f}",
                pipeline_id=pipeline_id)
            version_id = version.pipeline_version_id
        return client.create_recurring_run(
            experiment_id=experiment_id, job_name=name, cron_expression=cron,
            max_concurrency=max_concurrency, no_catchup=True, params=params or {},
            pipeline_id=pipeline_id, version_id=version_id)

    job = _call(host, action)
    return job.recurring_run_id, f"{host.rstrip('/')}/#/recurringrun/details/{job.recurring_run_id}"


# --- CLI ------------------------------------------------------------------------------------
def cmd_submit(args: argparse.Namespace) -> int:
    params = run_parameters(args.package, args.param)
    run_id, url = submit(args.package, args.host, args.experiment, params, args.run_name,
                         args.token, args.namespace)
    print(f"run {run_id}\n{url}")
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    if args.max_concurrency < 1:
        raise KubeflowClientError("--max-concurrency must be at least 1")
    params = run_parameters(args.package, args.param)
    job_id, url = schedule(args.package, args.host, args.cron, args.experiment, params,
                           args.max_concurrency, args.name, args.token, args.namespace)
    print(f"recurring run {job_id} ({args.cron})\n{url}")
    return 0


if __name__ == "__main__":
    sys.exit("use `namegen kubeflow submit|schedule`")
