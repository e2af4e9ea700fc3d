"""deploy/helm/values.yaml uses only keys of Dagster's Helm chart, with values of the right kind,
and says what deploy/dagster.yaml says about the run queue and PostgreSQL. There is no cluster
here: this is the check that can be made without one."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]

# A part of the chart's values schema, copied by hand from the pydantic models it is generated
# from (dagster-io/dagster, helm/dagster/schema/schema/charts/: dagster/values.py,
# dagster/subschema/{daemon,run_launcher,postgresql,global_}.py,
# dagster_user_deployments/subschema/user_deployments.py; read 2026-12-01). Every key listed is
# the chart's; a key of the chart missing here fails the test: check it there, then add it. KUBE
# marks a value the chart passes through as a Kubernetes object (resources, volumes, env sources).
KUBE = object()
PULL_POLICY = {"Always", "IfNotPresent", "Never"}
IMAGE = {"repository": str, "tag": (str, int), "pullPolicy": PULL_POLICY}
TAG_LIMIT = {"key": str, "value": (str, dict), "limit": int}
POD = {
    name: KUBE
    for name in (
        "env",
        "envConfigMaps",
        "envSecrets",
        "annotations",
        "nodeSelector",
        "affinity",
        "tolerations",
        "podSecurityContext",
        "securityContext",
        "resources",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "labels",
        "volumeMounts",
        "volumes",
    )
}
USER_DEPLOYMENT = {
    **POD,
    "name": str,
    "image": IMAGE,
    "dagsterApiGrpcArgs": [str],
    "codeServerArgs": [str],
    "includeConfigInLaunchedRuns": {"enabled": bool},
    "port": int,
    "schedulerName": str,
}
K8S_RUN_LAUNCHER = {
    "image": IMAGE,
    "imagePullPolicy": PULL_POLICY,
    "jobNamespace": str,
    "loadInclusterConfig": bool,
    "kubeconfigFile": str,
    "envConfigMaps": KUBE,
    "envSecrets": KUBE,
    "envVars": [str],
    "volumeMounts": KUBE,
    "volumes": KUBE,
    "labels": KUBE,
    "failPodOnRunFailure": bool,
    "resources": KUBE,
    "schedulerName": str,
    "securityContext": KUBE,
    "runK8sConfig": {
        k: KUBE
        for k in (
            "containerConfig",
            "podSpecConfig",
            "podTemplateSpecMetadata",
            "jobSpecConfig",
            "jobMetadata",
        )
    },
}
QUEUED_RUN_COORDINATOR = {
    "maxConcurrentRuns": int,
    "tagConcurrencyLimits": [TAG_LIMIT],
    "dequeueIntervalSeconds": int,
    "dequeueNumWorkers": int,
    "dequeueUseThreads": bool,
    "blockOpConcurrencyLimitedRuns": {"enabled": bool, "opConcurrencySlotBuffer": int},
}
DAEMON = {
    **POD,
    "enabled": bool,
    "image": IMAGE,
    "runCoordinator": {
        "enabled": bool,
        "type": {"QueuedRunCoordinator", "CustomRunCoordinator"},
        "config": {"queuedRunCoordinator": QUEUED_RUN_COORDINATOR, "customRunCoordinator": KUBE},
    },
    "heartbeatTolerance": int,
    "deploymentLabels": KUBE,
    "checkDbReadyInitContainer": bool,
    "runMonitoring": KUBE,
    "runRetries": {"enabled": bool, "maxRetries": int, "retryOnAssetOrOpFailure": bool},
    "sensors": {"useThreads": bool, "numWorkers": int, "numSubmitWorkers": int},
    "schedules": {"useThreads": bool, "numWorkers": int, "numSubmitWorkers": int},
    "backfills": {"useThreads": bool, "numWorkers": int, "numSubmitWorkers": int},
    "schedulerName": str,
    "logFormat": str,
}
WEBSERVER = {
    **POD,
    "replicaCount": int,
    "image": IMAGE,
    "nameOverride": str,
    "pathPrefix": str,
    "service": KUBE,
    "workspace": KUBE,
    "deploymentLabels": KUBE,
    "enableReadOnly": bool,
    "dbStatementTimeout": int,
    "dbPoolRecycle": int,
    "logLevel": str,
    "schedulerName": str,
}
CHART = {
    "global": {
        "postgresqlSecretName": str,
        "dagsterHome": str,
        "serviceAccountName": str,
        "celeryConfigSecretName": str,
    },
    "postgresql": {
        "image": KUBE,
        "enabled": bool,
        "postgresqlHost": str,
        "postgresqlUsername": str,
        "postgresqlPassword": str,
        "postgresqlDatabase": str,
        "postgresqlParams": dict,
        "postgresqlScheme": str,
        "service": {"port": int},
    },
    "generatePostgresqlPasswordSecret": bool,
    "dagster-user-deployments": {
        "enabled": bool,
        "enableSubchart": bool,
        "imagePullSecrets": KUBE,
        "deployments": [USER_DEPLOYMENT],
    },
    "runLauncher": {
        "type": {"CeleryK8sRunLauncher", "K8sRunLauncher", "CustomRunLauncher"},
        "config": {
            "k8sRunLauncher": K8S_RUN_LAUNCHER,
            "celeryK8sRunLauncher": KUBE,
            "customRunLauncher": KUBE,
        },
    },
    "dagsterDaemon": DAEMON,
    "dagsterWebserver": WEBSERVER,
    "telemetry": {"enabled": bool},
}


def problems(values, schema, path: str = "") -> list[str]:
    """Where `values` leaves `schema`: keys it does not have, values of the wrong kind."""
    if schema is KUBE:
        return []
    if isinstance(schema, dict):
        if not isinstance(values, dict):
            return [f"{path}: a mapping was expected"]
        found = [
            f"{path}.{k}".lstrip(".") + ": not a key of the chart"
            for k in values
            if k not in schema
        ]
        for key, value in values.items():
            if key in schema:
                found += problems(value, schema[key], f"{path}.{key}".lstrip("."))
        return found
    if isinstance(schema, list):
        if not isinstance(values, list):
            return [f"{path}: a list was expected"]
        return [p for i, v in enumerate(values) for p in problems(v, schema[0], f"{path}[{i}]")]
    if isinstance(schema, set):
        return [] if values in schema else [f"{path}: {values!r} is not one of {sorted(schema)}"]
    kinds = schema if isinstance(schema, tuple) else (schema,)
    if isinstance(values, bool) and bool not in kinds:
        return [f"{path}: {values!r} is not a {schema}"]
    return [] if isinstance(values, kinds) else [f"{path}: {values!r} is not a {schema}"]


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((ROOT / "deploy/helm/values.yaml").read_text())


@pytest.fixture(scope="module")
def instance() -> dict:
    return yaml.safe_load((ROOT / "deploy/dagster.yaml").read_text())


def test_values_use_only_keys_of_the_chart(values):
    assert problems(values, CHART) == []


def test_the_check_finds_a_wrong_key_or_value():
    wrong = {
        "runLauncher": {"type": "K8sLauncher", "config": {"k8sRunLauncher": {"envSecret": []}}},
        "dagsterDaemon": {
            "runCoordinator": {
                "config": {
                    "queuedRunCoordinator": {
                        "maxConcurrentRuns": "8",
                        "tagConcurrencyLimits": [{"key": "a", "limits": 1}],
                    }
                }
            }
        },
    }
    assert problems(wrong, CHART) == [
        "runLauncher.type: 'K8sLauncher' is not one of "
        "['CeleryK8sRunLauncher', 'CustomRunLauncher', 'K8sRunLauncher']",
        "runLauncher.config.k8sRunLauncher.envSecret: not a key of the chart",
        "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.maxConcurrentRuns: '8' is not a "
        "<class 'int'>",
        "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.tagConcurrencyLimits[0].limits: "
        "not a key of the chart",
    ]


def test_kubernetes_runs_through_the_same_queue_as_one_machine(values, instance):
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator"
    queue = coordinator["config"]["queuedRunCoordinator"]
    assert (
        queue["tagConcurrencyLimits"] == instance["concurrency"]["runs"]["tag_concurrency_limits"]
    )
    assert queue["blockOpConcurrencyLimitedRuns"]["enabled"] is False
    blocking = instance["run_coordinator"]["config"]["block_op_concurrency_limited_runs"]
    assert blocking["enabled"] is False
    retries = values["dagsterDaemon"]["runRetries"]
    assert (retries["enabled"], retries["maxRetries"]) == (
        True,
        instance["run_retries"]["max_retries"],
    )
    scheme = instance["storage"]["postgres"]["postgres_db"]["scheme"]
    assert values["postgresql"]["postgresqlScheme"] == scheme == "postgresql+psycopg2"
    # The code location the chart serves is the one workspace.yaml loads.
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    module = workspace["load_from"][0]["python_module"]["module_name"]
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", module]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True


def test_secrets_come_from_a_secret_never_from_the_file(values):
    text = (ROOT / "deploy/helm/values.yaml").read_text()
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert (
        deployment["envSecrets"] == values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    )
    assert set(deployment["env"]) == {"REPORTING_HOME", "REPORTING_CONFIG"}
    assert "postgresqlPassword" not in values["postgresql"]
    assert "phx_" not in text and "password:" not in text.lower()
