"""docker-compose.yml, the Dockerfile and .env.example agree with SPEC.md, the settings and the CLI.

No Docker engine runs here, so these read the files: names, images, health checks, start order, the
environment keys and the commands every container runs.
"""

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from paygate.cli import _parser
from paygate.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SPEC_KEYS = {
    "DATABASE_URL",
    "REDIS_URL",
    "PORT",
    "TEST_MODE",
    "TEST_PAYMENT_SUCCESS",
    "TEST_PROCESSING_DELAY",
    "WEBHOOK_RETRY_INTERVALS_TEST",
    "UPI_SUCCESS_RATE",
    "CARD_SUCCESS_RATE",
    "PROCESSING_DELAY_MIN",
    "PROCESSING_DELAY_MAX",
    "TEST_MERCHANT_EMAIL",
    "TEST_API_KEY",
    "TEST_API_SECRET",
}
CONTAINERS = {
    "postgres": "pg_gateway",
    "redis": "redis_gateway",
    "api": "gateway_api",
    "worker": "gateway_worker",
    "dashboard": "gateway_dashboard",
    "checkout": "gateway_checkout",
}
PYTHON_SERVICES = ("api", "worker", "dispatcher", "projector")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return dict(compose["services"])


def env_example_keys() -> set[str]:
    """Keys of .env.example, set or shown commented out (``# KEY=value``)."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def setting_keys() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def command_of(service: dict[str, Any]) -> list[str]:
    cmd = service["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def subcommands() -> set[str]:
    parser = _parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sub.choices is not None
    return set(sub.choices)


def health_test(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


class TestEnvExample:
    def test_lists_every_key_of_the_spec(self) -> None:
        assert env_example_keys() >= SPEC_KEYS

    def test_lists_every_setting(self) -> None:
        missing = setting_keys() - env_example_keys()
        assert not missing, f"add these settings to .env.example, with a comment: {sorted(missing)}"

    def test_lists_nothing_the_settings_do_not_read(self) -> None:
        unknown = env_example_keys() - setting_keys()
        assert not unknown, f".env.example lists keys paygate/settings.py does not read: {sorted(unknown)}"

    def test_leaves_the_servers_unset_so_a_copy_keeps_the_zero_config_run(self) -> None:
        text = (ROOT / ".env.example").read_text()
        assert not re.search(r"^(DATABASE_URL|REDIS_URL)=", text, flags=re.MULTILINE)


class TestComposeServices:
    def test_has_every_service_of_the_spec_with_its_container_name(self, services: dict[str, Any]) -> None:
        for name, container in CONTAINERS.items():
            assert name in services, name
            assert services[name]["container_name"] == container

    def test_container_names_are_unique(self, services: dict[str, Any]) -> None:
        names = [s["container_name"] for s in services.values() if "container_name" in s]
        assert len(names) == len(set(names))

    def test_postgres_is_the_spec_image_database_and_user(self, services: dict[str, Any]) -> None:
        pg = services["postgres"]
        assert pg["image"] == "postgres:15-alpine"
        assert pg["environment"] == {
            "POSTGRES_DB": "payment_gateway",
            "POSTGRES_USER": "gateway_user",
            "POSTGRES_PASSWORD": "gateway_pass",
        }
        assert "pg_isready" in health_test(pg)

    def test_redis_is_the_spec_image_with_a_ping_check(self, services: dict[str, Any]) -> None:
        assert services["redis"]["image"] == "redis:7-alpine"
        assert "redis-cli ping" in health_test(services["redis"])

    def test_api_publishes_8000_and_checks_its_health_endpoint(self, services: dict[str, Any]) -> None:
        api = services["api"]
        assert "8000:8000" in api["ports"]
        assert "/health" in health_test(api)

    def test_ui_services_publish_their_spec_ports(self, services: dict[str, Any]) -> None:
        assert "3000:3000" in services["dashboard"]["ports"]
        assert "3001:3001" in services["checkout"]["ports"]
        assert services["dashboard"]["build"]["context"].rstrip("/").endswith("dashboard_ui")
        assert services["checkout"]["build"]["context"].rstrip("/").endswith("checkout_ui")

    def test_worker_waits_for_postgres_redis_and_api_to_be_healthy(self, services: dict[str, Any]) -> None:
        needs = services["worker"]["depends_on"]
        for dep in ("postgres", "redis", "api"):
            assert needs[dep]["condition"] == "service_healthy", dep

    def test_every_dependency_exists_and_waits_on_a_health_check_it_has(self, services: dict[str, Any]) -> None:
        for name, svc in services.items():
            for dep, cond in dict(svc.get("depends_on", {})).items():
                assert dep in services, f"{name} depends on unknown {dep}"
                if cond["condition"] == "service_healthy":
                    assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has no health check"


class TestGatewayContainers:
    @pytest.mark.parametrize("name", PYTHON_SERVICES)
    def test_runs_a_real_paygate_subcommand(self, services: dict[str, Any], name: str) -> None:
        cmd = command_of(services[name])
        assert cmd[:3] == ["python", "-m", "paygate"]
        assert cmd[3] in subcommands()
        _parser().parse_args(cmd[3:])  # arguments too: exits (fails the test) on a wrong option

    @pytest.mark.parametrize("name", PYTHON_SERVICES)
    def test_environment_holds_only_real_settings(self, services: dict[str, Any], name: str) -> None:
        env = dict(services[name]["environment"])
        assert set(env) <= setting_keys() & env_example_keys()
        assert {"DATABASE_URL", "REDIS_URL"} <= set(env)

    @pytest.mark.parametrize("name", PYTHON_SERVICES)
    def test_talks_to_the_compose_servers(self, services: dict[str, Any], name: str) -> None:
        env = dict(services[name]["environment"])
        assert env["DATABASE_URL"] == "postgresql://gateway_user:gateway_pass@postgres:5432/payment_gateway"
        assert env["REDIS_URL"].startswith("redis://redis:6379")

    def test_the_receiver_listens_on_3002_with_the_test_merchants_secret(self, services: dict[str, Any]) -> None:
        svc = services["receiver"]
        args = _parser().parse_args(command_of(svc)[3:])
        assert (args.command, args.port, args.secret) == ("receiver", 3002, "whsec_test_abc123")
        assert "3002:3002" in svc["ports"]

    def test_worker_serves_every_queue(self, services: dict[str, Any]) -> None:
        args = _parser().parse_args(command_of(services["worker"])[3:])
        assert set(args.queues) == {"payments", "refunds", "webhooks"}

    @pytest.mark.parametrize("name", PYTHON_SERVICES)
    def test_builds_from_the_repository_dockerfile(self, services: dict[str, Any], name: str) -> None:
        build = services[name]["build"]
        assert build["context"] == "."
        assert (ROOT / build.get("dockerfile", "Dockerfile")).is_file()


class TestDockerfile:
    def test_copies_every_package_and_the_schema(self) -> None:
        text = (ROOT / "Dockerfile").read_text()
        packages = re.search(r"packages = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), flags=re.DOTALL)
        assert packages is not None
        for pkg in {p.strip().strip('"').split(".")[0] for p in packages.group(1).split(",") if p.strip()}:
            assert re.search(rf"^COPY {pkg}\b", text, flags=re.MULTILINE), pkg
        assert re.search(r"^COPY schema\.sql\b", text, flags=re.MULTILINE)

    def test_default_command_is_a_real_subcommand(self) -> None:
        cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
        assert cmd is not None
        argv = yaml.safe_load(cmd.group(1))
        assert argv[:3] == ["python", "-m", "paygate"] and argv[3] in subcommands()
