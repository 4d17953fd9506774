"""Typed settings read from the environment (and `.env`); the only place that reads `os.environ`."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Fixed identity of the seeded test merchant (SPEC.md).
TEST_MERCHANT_ID = "550e8400-e29b-41d4-a716-446655440000"
TEST_WEBHOOK_SECRET = "whsec_test_abc123"  # noqa: S105 -- the spec's published test value


class Settings(BaseSettings):
    """Every setting of SPEC.md plus a few operational ones; names match the environment keys."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str | None = None
    redis_url: str | None = None
    port: int = 8000
    data_dir: Path = Path(".data")
    paygate_env: Literal["development", "production"] = "development"

    test_mode: bool = False
    test_payment_success: bool = True
    test_processing_delay: int = Field(default=1000, ge=0, description="ms")
    webhook_retry_intervals_test: bool = False
    upi_success_rate: float = Field(default=0.90, ge=0, le=1)
    card_success_rate: float = Field(default=0.95, ge=0, le=1)
    processing_delay_min: int = Field(default=5000, ge=0, description="ms")
    processing_delay_max: int = Field(default=10000, ge=0, description="ms")
    refund_delay_min: int = Field(default=3000, ge=0, description="ms")
    refund_delay_max: int = Field(default=5000, ge=0, description="ms")

    test_merchant_email: str = "test@example.com"
    test_api_key: str = "key_test_abc123"
    test_api_secret: str = "secret_test_xyz789"  # noqa: S105 -- the spec's published test value

    #: Server key for API-secret look-up hashes and for wrapping merchant data keys; in development a random one
    #: is kept in DATA_DIR/signing.key when unset, production requires it. Changing it orphans every secret.
    signing_key: str | None = Field(default=None, repr=False)
    #: Ed25519 private key (32-byte seed, hex) that signs audit digests (`paygate audit digest`); unset: one is
    #: generated once into DATA_DIR/audit-signing.key. Publish its public key (printed in every digest).
    audit_signing_key: str | None = Field(default=None, repr=False)
    #: Seconds a rotated API key pair keeps working after `POST /api/v1/keys/rotate`.
    api_key_grace_s: int = Field(default=86400, ge=0)
    #: Failed authentications allowed per minute per API key and per client address before 429.
    auth_failures_per_minute: int = Field(default=20, ge=1)

    #: How long past its latest possible decision time a pending payment waits before the sweeper re-drives it.
    sweep_grace_ms: int = Field(default=30000, ge=0)
    #: Seconds an idle-in-transaction session may hold back every commit-order reader.
    idle_in_transaction_timeout_s: int = Field(default=60, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    #: Processes serving the API (paygate.serving). One by default: measured on two cores (bench/HISTORY.md), two
    #: take GET past its goal but not the POSTs, whose tails and the end-to-end p99 grow.
    api_workers: int = Field(default=1, ge=1)
    #: Concurrent lone appends of the API go together in one statement (commands.grouping); off: each alone.
    group_commit: bool = True
    worker_threads: int = Field(default=8, ge=1)
    #: How long (ms) an idle worker sleeps at most between polls of an empty queue: bounds pick-up latency.
    worker_idle_ms: int = Field(default=100, ge=10)

    #: Webhook POSTs in flight per worker process, and per endpoint host (one slow host never takes them all).
    #: More connections per host cost more CPU than they gain: httpcore scans its pool on every request.
    webhook_concurrency: int = Field(default=256, ge=1)
    webhook_host_concurrency: int = Field(default=16, ge=1)
    #: Deliveries a worker holds in memory before it stops taking more; beyond the per-host share a delivery goes
    #: back on the queue for a second (``workers.webhooks.DEFER_MS``), so one slow endpoint cannot fill the worker.
    webhook_backlog: int = Field(default=10000, ge=1)
    webhook_host_backlog: int = Field(default=2000, ge=1)
    #: Seconds after which an attempt that was due but never recorded (lost message, killed worker) is re-driven.
    webhook_redrive_s: float = Field(default=15.0, gt=0)
    #: Webhooks to loopback, private, link-local and reserved addresses (unset: allowed only in test mode).
    webhook_allow_private_networks: bool | None = None

    # ---- the merchant dashboard (issue 9)
    #: Port of ``paygate dashboard`` (the built UI, with /api proxied to the API); 0: ``paygate run`` starts none.
    dashboard_port: int = Field(default=3000, ge=0, le=65535)
    #: Where the dashboard server sends /api requests (unset: http://127.0.0.1:PORT).
    dashboard_api_url: str | None = None
    #: Seconds a dashboard session lasts after sign-in.
    dashboard_session_ttl_s: int = Field(default=43200, ge=1)

    # ---- request limits and the order cap (security, issue 7)
    #: Largest order amount in paise (₹10 crore by default; commands/order.py says why), at most 2**53 - 1.
    max_order_amount: int = Field(default=10_000_000_000, ge=100, le=2**53 - 1)
    #: Largest request body in bytes (413 beyond it), refused before it is read into memory.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    # ---- the checkout (page + SDK) and the demo shop (issue 8)
    #: Port of the checkout server (`/checkout`, `/checkout.js`); 0 keeps `paygate run` from starting it.
    checkout_port: int = Field(default=3001, ge=0, le=65535)
    #: Where the checkout server reaches the API (unset: http://127.0.0.1:PORT); it passes the page's calls on.
    checkout_api_url: str | None = None
    #: The checkout server as a payer's browser reaches it: where the demo shop loads checkout.js from.
    checkout_public_url: str = "http://localhost:3001"
    #: Port of the demo shop (`paygate demo-shop`), a merchant's site on another origin.
    demo_shop_port: int = Field(default=3005, ge=1, le=65535)
    #: The merchant the demo shop sells for (unset: the seeded test merchant's TEST_API_KEY / TEST_API_SECRET).
    demo_shop_api_key: str | None = None
    demo_shop_api_secret: str | None = Field(default=None, repr=False)

    # reliability: supervision, outages, shutdown and metrics
    #: ``paygate run`` gives up (stops everything) on a part that dies more often than this within the window.
    supervisor_max_restarts: int = Field(default=5, ge=0)
    supervisor_window_s: float = Field(default=60.0, gt=0)
    #: How long a request waits for a pooled connection while the database is known to be down (then 503).
    db_down_wait_s: float = Field(default=1.5, gt=0)
    #: Seconds SIGTERM lets requests in flight finish before the API exits anyway.
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    #: Port of a worker, dispatcher or projector process's /metrics (0: none; ``paygate run`` gives each part
    #: METRICS_PORT + its index). The API serves /metrics on PORT.
    metrics_port: int = Field(default=0, ge=0)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: object) -> object:
        """LOG_LEVEL=info means INFO (logging itself knows only the capitals)."""
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _delays_are_ordered(self) -> "Settings":
        if self.processing_delay_min > self.processing_delay_max:
            raise ValueError("PROCESSING_DELAY_MIN must not exceed PROCESSING_DELAY_MAX")
        if self.refund_delay_min > self.refund_delay_max:
            raise ValueError("REFUND_DELAY_MIN must not exceed REFUND_DELAY_MAX")
        return self

    @property
    def allow_private_networks(self) -> bool:
        """Whether webhooks may reach inward addresses: WEBHOOK_ALLOW_PRIVATE_NETWORKS, by default TEST_MODE."""
        return self.test_mode if self.webhook_allow_private_networks is None else self.webhook_allow_private_networks

    @property
    def api_url_for_checkout(self) -> str:
        return (self.checkout_api_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def production(self) -> bool:
        return self.paygate_env == "production"

    @property
    def max_payment_delay_ms(self) -> int:
        return self.test_processing_delay if self.test_mode else self.processing_delay_max

    @property
    def max_refund_delay_ms(self) -> int:
        return self.test_processing_delay if self.test_mode else self.refund_delay_max


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
