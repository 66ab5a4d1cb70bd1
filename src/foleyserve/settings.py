"""Settings: one typed object, read once at the entry point and passed down.

Every field can be set by an environment variable `FOLEYSERVE_<FIELD>` (upper case), e.g.
`FOLEYSERVE_MAX_VIDEO_DURATION_S=120`. Nothing in the package reads the environment elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from foleyserve.api.client_ip import parse_networks
from foleyserve.media.probe import MediaLimits

ENV_PREFIX = "FOLEYSERVE_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    engine: Literal["procedural", "hunyuan", "null"] = "procedural"
    """Which `FoleyEngine` runs: `procedural` is the CPU reference engine; `hunyuan` is
    HunyuanVideo-Foley (weights in `hunyuan_model_dir`); `null` makes silence instantly (for
    measuring the queue alone)."""

    text_embedder: Literal["minilm", "keywords"] = "minilm"
    """How the procedural engine reads prompts: the bundled MiniLM model, or keywords only."""

    hunyuan_model_dir: Path | None = None
    """The HunyuanVideo-Foley files, as released (docs/engines.md lists them)."""
    hunyuan_variant: Literal["xxl", "xl"] | None = None
    """Which DiT to load; None: the one the model directory has (XXL first)."""
    hunyuan_siglip2_dir: Path | None = None
    """SigLIP2 snapshot; None: `<hunyuan_model_dir>/siglip2-base-patch16-512`."""
    hunyuan_clap_dir: Path | None = None
    """CLAP snapshot with its tokenizer; None: `<hunyuan_model_dir>/larger_clap_general`."""
    hunyuan_device: str = "auto"
    """`cuda:K`, `cpu`, or `auto` (the first GPU when there is one)."""
    hunyuan_dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    """The DiT's precision; `auto`: bfloat16 on a GPU, float32 on the CPU."""
    hunyuan_compile: bool = False
    """`torch.compile` the DiT's blocks (minutes at start-up on a GPU; faster steps)."""
    hunyuan_max_batch_size: int = Field(16, ge=1, le=256)
    """Requests per `generate` call at most (the memory budget may allow fewer)."""
    hunyuan_random_weights: bool = False
    """BENCHMARK MODE: full-size networks with seeded random weights instead of the model files.
    The audio is noise, and the engine is named `hunyuan-RANDOM-WEIGHTS` everywhere."""
    hunyuan_random_seed: int = Field(0, ge=0)
    """The seed of benchmark mode's weights."""

    max_video_duration_s: float = Field(600.0, gt=0)
    max_file_bytes: int = Field(2 * 1024**3, gt=0)
    max_video_width: int = Field(7680, gt=0)
    max_video_height: int = Field(4320, gt=0)
    max_prompt_chars: int = Field(500, gt=0)

    loudness_target_lufs: float = Field(-23.0, ge=-70, le=0)
    """EBU R128 integrated loudness of every output."""
    true_peak_dbtp: float = Field(-1.0, ge=-20, le=0)
    """True-peak ceiling of every output."""
    audio_bitrate_kbps: int = Field(128, ge=32, le=512)
    """Bitrate of lossy audio outputs (mp3, m4a, opus) and of the track muxed into videos."""

    data_dir: Path = Path(".foleyserve")
    """Where the embedded server keeps its database and files."""
    store: str | None = None
    """Job store: `sqlite:///path.db` or `redis://host:6379/0`. Default: SQLite in data_dir."""
    storage: str | None = None
    """Object store: a directory, or `s3://bucket/prefix?endpoint=...`. Default: data_dir."""
    keys: str | None = None
    """API key store: `sqlite:///path.db` or `redis://...`. Default: the job store's URL."""
    api_keys_required: bool | None = None
    """Whether API requests need `Authorization: Bearer <key>`. None: required unless the server
    is bound to a loopback address and no key exists (then requests run as tenant `local`)."""
    rate_limit_per_s: float = Field(2.0, gt=0)
    """Submission cost units a second, sustained, per API key and per client address (a 10 s
    job at 50 steps costs 1; `foleyserve.api.admission`)."""
    rate_limit_burst: float = Field(4.0, gt=0)
    """Submission cost units at once, per API key and per client address."""
    tenant_max_queued_jobs: int = Field(100, ge=0)
    """Default quota: jobs a tenant may have queued at once (`keys create --max-queued`)."""
    tenant_gpu_seconds_per_hour: float = Field(3600.0, ge=0)
    """Default quota: estimated GPU-seconds a tenant may use per hour
    (`keys create --gpu-seconds-per-hour`)."""
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    """Proxies whose `X-Forwarded-For` is believed (addresses or CIDR networks, comma-separated
    in the environment, e.g. `10.0.0.0/8,127.0.0.1`). The client address of a request from one
    of them is the right-most untrusted hop of that header; empty: always the TCP peer."""
    fetch_allow_http: bool = False
    """Let `video_url` use plain http (https only when False)."""
    fetch_allow_private: bool = False
    """Let `video_url` and `webhook_url` reach private addresses (on-premises, tests); never
    cloud metadata."""
    fetch_allowed_ports: frozenset[int] = frozenset({80, 443})
    """Ports `video_url` and `webhook_url` may use (JSON list in the environment, e.g.
    `[443, 8443]`)."""
    webhook_max_attempts: int = Field(12, ge=1)
    """Deliveries of a job's final event before it is given up (a `running` event gets one)."""
    webhook_backoff_s: float = Field(10.0, gt=0)
    """Wait before the second delivery; it doubles for each later one, up to an hour."""
    webhook_timeout_s: float = Field(10.0, gt=0)
    """How long one delivery waits to connect, and for each read and write."""

    batch_policy: Literal["none", "fixed", "dynamic"] = "dynamic"
    max_batch_size: int = Field(16, ge=1, le=1024)
    """Never more jobs per batch (the engine's own limit applies too)."""
    fixed_batch_size: int = Field(2, ge=1)
    """Policy `fixed`: wait for this many compatible jobs."""
    max_batch_wait_ms: float = Field(50.0, ge=0)
    """How long the first queued job waits for others to share its batch."""
    aging_s: float = Field(120.0, gt=0)
    """A queued job moves up one priority class per this many seconds waited."""
    memory_budget_bytes: int | None = Field(None, gt=0)
    """Device memory a batch may use; None: the engine's own figure (no limit on the CPU)."""
    lease_s: float = Field(30.0, gt=0)
    """A worker that does not renew its lease for this long loses its jobs to others."""
    max_attempts: int = Field(3, ge=1)
    """Starts per job before it fails for good (dead letter)."""
    max_queued_jobs: int = Field(10_000, ge=1)
    """Submissions beyond this many queued jobs are refused (QueueFull)."""
    job_retention_s: float = Field(7 * 24 * 3600.0, gt=0)
    """Finished jobs and their files are forgotten after this long."""
    shutdown_grace_s: float = Field(60.0, ge=0)
    """On SIGTERM a worker finishes its batch for this long, then releases its jobs."""
    worker_metrics_port: int | None = Field(None, ge=1, le=65535)
    """`foleyserve worker` serves its own Prometheus metrics (batch sizes, stage latencies, its
    caches) on this port; None: not at all. `serve` shows them on its `/metrics`."""
    worker_metrics_host: str = "127.0.0.1"
    """The address of the worker's metrics server."""
    poll_interval_s: float = Field(0.2, gt=0)
    """How often an idle worker looks at the queue."""
    result_cache_bytes: int = Field(10 * 1024**3, ge=0)
    """Bytes of results the result cache remembers (a file itself lives as long as its job)."""
    feature_cache_bytes: int = Field(2 * 1024**3, ge=0)
    """Each of the video- and text-feature caches."""

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        """A comma-separated string (the environment's form) or a sequence -> the networks in
        canonical form; `ValueError` names an entry that is not an address or network."""
        entries = value.split(",") if isinstance(value, str) else value
        if isinstance(entries, list | tuple):
            return tuple(str(net) for net in parse_networks(str(e) for e in entries))
        return value

    @model_validator(mode="after")
    def _refuse_unknown_variables(self) -> Settings:
        """pydantic-settings reads only its fields' variables, so a misspelt one
        (`FOLEYSERVE_MAX_FILE_BYTE`) would be ignored in silence and its default used: refuse it."""
        known = {f"{ENV_PREFIX}{name.upper()}" for name in type(self).model_fields}
        unknown = sorted(
            name
            for name in os.environ
            if name.upper().startswith(ENV_PREFIX) and name.upper() not in known
        )
        if unknown:
            raise ValueError(
                f"unknown environment variable {', '.join(unknown)}: "
                "docs/configuration.md lists the settings"
            )
        return self

    def store_url(self) -> str:
        return self.store or f"sqlite:///{self.data_dir / 'jobs.db'}"

    def keys_url(self) -> str:
        return self.keys or self.store_url()

    def storage_url(self) -> str:
        return self.storage or str(self.data_dir / "objects")

    def media_limits(self) -> MediaLimits:
        return MediaLimits(
            max_duration_s=self.max_video_duration_s,
            max_file_bytes=self.max_file_bytes,
            max_width=self.max_video_width,
            max_height=self.max_video_height,
        )
