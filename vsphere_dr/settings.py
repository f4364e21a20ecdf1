"""settings.ini: parsing with configparser, validation with pydantic.

Every value is checked when the file is read; a wrong one is reported with its section, key,
value and the reason. A value that may be a secret is never shown: that of a key named like one
is masked, that of an unknown key is left out (a misspelt password is still the password), and a
line that does not parse is named by its number, not quoted. Passwords are held as ``SecretStr``,
which ``repr`` does not show either.

The environment overrides the file (settings_env.py: ``VSPHERE_DR_<SECTION>_<KEY>``, Ansible's
``VMWARE_*``, govc's ``GOVC_*``); a value from it is named by its variable in every message.
"""

from __future__ import annotations

import configparser
import difflib
import os
import re
from collections.abc import Collection, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vsphere_dr.errors import SettingsError
from vsphere_dr.health_config import HealthModelConfig, HealthModelError
from vsphere_dr.settings_env import Origins, apply_environment, state_directory

MASK = "***"
# A key whose name contains one of these is named like a secret: its value is never shown.
SECRET_WORDS = ("password", "secret", "token", "key")
# Keys whose relative paths are taken relative to the settings file, not the working directory.
PATH_KEYS = {("vcenter", "password_file"), ("admin_vcenter", "password_file"), ("journal", "path"), ("logging", "file"),
             ("inventory", "spare_host_password_file"), ("health", "model_path"), ("metrics", "textfile")}
# `[protection.NAME]` sections: one protection group each, read into Settings.protection_groups.
GROUP_PREFIX = "protection."


def is_secret_key(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_WORDS)


def _split_list(value: Any) -> Any:
    """Turn ``a, b`` or one item per line into a list of stripped, non-empty items."""
    if isinstance(value, str):
        return [item.strip() for item in re.split(r"[,\n]", value) if item.strip()]
    return value


def _split_pairs(value: Any) -> Any:
    """Turn ``key = value`` items (comma or newline separated) into a dict, keeping order."""
    if not isinstance(value, str):
        return value
    pairs: dict[str, str] = {}
    for item in _split_list(value):
        key, sep, val = item.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise ValueError(f"expected 'name = value' items, got {item!r}")
        pairs[key.strip()] = val.strip()
    return pairs


def thumbprint_digits(value: str) -> str | None:
    """The lower-case hex digits of a SHA-1, SHA-256 or SHA-512 certificate fingerprint written with or
    without ':' between the pairs; None if ``value`` is not one."""
    digits = value.strip().replace(":", "").lower()
    if len(digits) not in (40, 64, 128) or not re.fullmatch(r"[0-9a-f]+", digits):
        return None
    return digits


def _empty_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


NameList = Annotated[list[str], BeforeValidator(_split_list)]
NameMap = Annotated[dict[str, str], BeforeValidator(_split_pairs)]
Seconds = Annotated[float, Field(gt=0)]
OptionalStr = Annotated[str | None, BeforeValidator(_empty_is_none)]
OptionalPath = Annotated[Path | None, BeforeValidator(_empty_is_none)]


class Section(BaseModel):
    """A settings.ini section: unknown keys are typos and are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def resolve_secret(plain: SecretStr | None, env: str | None, file: Path | None, what: str,
                   environ: Mapping[str, str] | None = None) -> SecretStr:
    """Return the secret from whichever of the three sources is set (exactly one must be);
    ``env`` is looked up in ``environ`` (os.environ by default)."""
    environ = os.environ if environ is None else environ
    given = [name for name, v in (("password", plain), ("password_env", env), ("password_file", file)) if v]
    if len(given) != 1:
        raise ValueError(f"set exactly one of password, password_env, password_file for {what} "
                         f"(found {', '.join(given) or 'none'})")
    if plain is not None:
        return plain
    if env:
        if env not in environ:
            raise ValueError(f"password_env names the environment variable {env}, which is not set")
        return SecretStr(environ[env])
    assert file is not None
    return _read_secret_file(file)


def _read_secret_file(file: Path) -> SecretStr:
    try:
        return SecretStr(file.read_text(encoding="utf-8").strip())
    except OSError as exc:
        problem = f"cannot be read: {exc.strerror}"
    except UnicodeDecodeError:
        problem = "is not UTF-8 text"
    # Raised outside the except clauses so as not to chain a UnicodeDecodeError: it holds the file's bytes.
    raise ValueError(f"password_file {file} {problem}")


class VCenterSettings(Section):
    host: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9.:\[\]_-]+$")]
    port: Annotated[int, Field(ge=1, le=65535)] = 443
    user: Annotated[str, Field(min_length=1)]
    password: SecretStr | None = None
    password_env: OptionalStr = None
    password_file: OptionalPath = None
    verify_tls: bool = True
    thumbprint: OptionalStr = None
    insecure_http: bool = False
    connect_timeout_seconds: Seconds = 10.0
    connect_attempts: Annotated[int, Field(ge=1, le=20)] = 3
    retry_backoff_seconds: Annotated[float, Field(ge=0, le=300)] = 2.0
    task_timeout_seconds: Seconds = 600.0

    _secret: SecretStr = PrivateAttr()

    @field_validator("password", mode="before")
    @classmethod
    def _blank_password_is_unset(cls, value: Any) -> Any:
        return _empty_is_none(value)

    @field_validator("thumbprint")
    @classmethod
    def _thumbprint_is_sha(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = thumbprint_digits(value)
        if digits is None:
            raise ValueError("must be the SHA-1, SHA-256 or SHA-512 fingerprint of vCenter's "
                             "certificate, hex digits optionally separated by ':'")
        return digits

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> VCenterSettings:
        if self.insecure_http and self.thumbprint:
            raise ValueError("insecure_http and thumbprint exclude each other: a thumbprint pins TLS")
        self._secret = resolve_secret(self.password, self.password_env, self.password_file, "vCenter",
                                      (info.context or {}).get("environ"))
        return self

    @property
    def secret(self) -> SecretStr:
        """The password, from whichever source the settings name."""
        return self._secret


class MonitoringSettings(Section):
    """Detection's timing: docs/recovery.md ("The shipped timings") gives the reasoning for each default."""

    interval_seconds: Annotated[float, Field(ge=1)] = 10.0
    # The short cadence of sweeps while something is suspect (a VM failing, a host down), until
    # the evidence is complete or gone.
    confirm_interval_seconds: Annotated[float, Field(ge=0.5)] = 5.0
    probe: Literal["tcp", "icmp"] = "tcp"
    probe_port: Annotated[int, Field(ge=1, le=65535)] = 22
    probe_timeout_seconds: Seconds = 1.0
    probe_concurrency: Annotated[int, Field(ge=1, le=4096)] = 1024
    failures_before_action: Annotated[int, Field(ge=1, le=100)] = 3
    isolation_timeout_seconds: Annotated[float, Field(ge=0)] = 10.0

    @model_validator(mode="after")
    def _timeouts_fit_intervals(self) -> MonitoringSettings:
        if self.probe_timeout_seconds >= self.interval_seconds:
            raise ValueError("probe_timeout_seconds must be shorter than interval_seconds")
        if self.confirm_interval_seconds > self.interval_seconds:
            raise ValueError("confirm_interval_seconds must not be longer than interval_seconds")
        return self


def _crontab(value: str | None) -> str | None:
    """A five-field crontab expression (minute hour day month weekday), checked by APScheduler."""
    if value is None:
        return None
    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"not a crontab expression (minute hour day month weekday): {exc}") from None
    return value


Crontab = Annotated[OptionalStr, AfterValidator(_crontab)]


class SnapshotSettings(Section):
    interval_seconds: Annotated[float, Field(ge=60)] = 3600.0
    vhost_interval_seconds: Annotated[float, Field(ge=60)] = 14400.0
    # A crontab expression (UTC) replaces the interval when set.
    cron: Crontab = None
    vhost_cron: Crontab = None
    keep: Annotated[int, Field(ge=1, le=32)] = 2
    prefix: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")] = "vsphere-dr"
    memory: bool = False
    quiesce: bool = False


class InventorySettings(Section):
    interval_seconds: Annotated[float, Field(ge=1)] = 300.0
    settings_check_seconds: Annotated[float, Field(ge=1)] = 5.0
    spare_hosts: NameList = []
    spare_host_user: Annotated[str, Field(min_length=1)] = "root"
    spare_host_password_env: OptionalStr = None
    spare_host_password_file: OptionalPath = None
    # host name = the SHA-1 (or SHA-256) thumbprint of its certificate, which vCenter is to trust.
    spare_host_thumbprints: NameMap = {}
    vhost_backing: NameMap = {}

    @field_validator("spare_host_thumbprints")
    @classmethod
    def _thumbprints_are_sha(cls, value: dict[str, str]) -> dict[str, str]:
        digits = {name: thumbprint_digits(tp) for name, tp in value.items()}
        bad = [name for name, d in digits.items() if d is None]
        if bad:
            raise ValueError(f"{', '.join(bad)}: not a certificate thumbprint (the SHA-1, SHA-256 or SHA-512 "
                             "fingerprint of the host's certificate, hex digits optionally separated by ':')")
        return {name: d for name, d in digits.items() if d is not None}

    @model_validator(mode="after")
    def _spare_hosts_have_credentials(self) -> InventorySettings:
        has_secret = bool(self.spare_host_password_env or self.spare_host_password_file)
        if self.spare_hosts and not has_secret:
            raise ValueError("spare_hosts are listed but neither spare_host_password_env nor "
                             "spare_host_password_file says how to log in to them")
        untrusted = [name for name in self.spare_hosts if name not in self.spare_host_thumbprints]
        if untrusted:
            raise ValueError(f"spare host{'s' if len(untrusted) > 1 else ''} {', '.join(untrusted)} "
                             "without a certificate thumbprint in spare_host_thumbprints: vCenter would be "
                             "asked to trust whatever certificate the host presents")
        unknown = [name for name in self.spare_host_thumbprints if name not in self.spare_hosts]
        if unknown:
            raise ValueError(f"spare_host_thumbprints names {', '.join(unknown)}, not in spare_hosts")
        return self

    def spare_host_thumbprint(self, name: str) -> str:
        """The thumbprint vCenter is to expect of spare host ``name``, as vSphere writes it
        (``AB:CD:...``, the form of HostConnectSpec.sslThumbprint)."""
        digits = self.spare_host_thumbprints[name]
        return ":".join(digits[i:i + 2] for i in range(0, len(digits), 2)).upper()

    def spare_host_secret(self) -> SecretStr:
        """The root password of the spare hosts, read when a spare host is about to be added."""
        return resolve_secret(None, self.spare_host_password_env, self.spare_host_password_file,
                              "the spare hosts")


Priority = Literal["high", "medium", "low"]


class RecoverySettings(Section):
    enabled: bool = True
    max_restarts: Annotated[int, Field(ge=1, le=100)] = 3
    restart_window_seconds: Seconds = 3600.0
    host_boot_timeout_seconds: Seconds = 600.0
    # How long a recovered VM has to answer its probe before the recovery counts as failed.
    confirm_timeout_seconds: Seconds = 300.0
    restart_priority: Annotated[dict[str, Priority], BeforeValidator(_split_pairs)] = {}
    # A failed host in a cluster whose vSphere HA restarts VMs: observe (HA acts, we report) or act.
    with_vsphere_ha: Literal["observe", "act"] = "observe"
    # A failed host's VM registered elsewhere: started from its disks as they are, or reverted first.
    registered_vm: Literal["as_is", "revert"] = "as_is"
    # Actions run at once: overall, and per host (vCenter runs 8 provisioning operations per host
    # at a time and queues the rest: docs/recovery.md, "Parallel recovery").
    max_parallel: Annotated[int, Field(ge=1, le=64)] = 32
    max_parallel_per_host: Annotated[int, Field(ge=1, le=64)] = 8


class ReplicationSettings(Section):
    """The paper's replication mode: a powered-off replica of every protected VM, cloned from its
    newest vsphere-dr snapshot onto a host and datastore of the secondary site."""

    enabled: bool = False
    interval_seconds: Annotated[float, Field(ge=60)] = 14400.0
    cron: Crontab = None  # replaces interval_seconds when set
    keep: Annotated[int, Field(ge=1, le=16)] = 2
    hosts: NameList = []  # target host names
    cluster: OptionalStr = None  # or every host of this cluster
    datastores: NameList = []  # target datastore names
    suffix: Annotated[str, Field(min_length=2, max_length=40, pattern=r"^-[A-Za-z0-9._-]+$")] = "-replica"

    @model_validator(mode="after")
    def _target_named(self) -> ReplicationSettings:
        if self.enabled and not (self.hosts or self.cluster):
            raise ValueError("enabled replication needs target hosts or a cluster (hosts = ..., or cluster = ...)")
        if self.enabled and not self.datastores:
            raise ValueError("enabled replication needs target datastores (datastores = ...)")
        return self


class DrillSettings(Section):
    """Test failovers (`vsphere-dr drill`): where a copy's network adapters go, how it is checked.

    The copy goes where replicas go ([replication] hosts or cluster, and datastores)."""

    network: OptionalStr = None  # a port group for the copies' adapters; none: every adapter disconnected
    probe: OptionalStr = None  # tcp:PORT against the copy's address on the drill network
    prefix: Annotated[str, Field(min_length=2, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")] = "vsphere-dr-drill"
    timeout_seconds: Seconds = 600.0  # from power-on to the heartbeat (and probe) answering

    @field_validator("probe")
    @classmethod
    def _tcp_port(cls, value: str | None) -> str | None:
        found = re.fullmatch(r"tcp:(\d{1,5})", value or "")
        if value is not None and (found is None or not 1 <= int(found[1]) <= 65535):
            raise ValueError("expected tcp:PORT with a port from 1 to 65535")
        return value

    @model_validator(mode="after")
    def _probe_needs_network(self) -> DrillSettings:
        if self.probe and not self.network:
            raise ValueError("probe needs network = <a drill port group>: a copy whose adapters are "
                             "disconnected cannot answer a probe")
        return self

    @property
    def probe_port(self) -> int | None:
        return int(self.probe.split(":")[1]) if self.probe else None


DEFAULT_JOURNAL_NAME = "vsphere-dr.sqlite"


class JournalSettings(Section):
    # load_settings puts it in $STATE_DIRECTORY, else in var/ beside the settings file.
    path: Path = Path("var") / DEFAULT_JOURNAL_NAME


# [health] key -> the HealthModelConfig field it sets (docs/health-model.md explains each).
HEALTH_MODEL_KEYS = {"warmup_samples": "min_history", "history_samples": "max_history",
                     "median_window": "median_window", "surprise_allowance": "allowance",
                     "ill_evidence": "threshold", "refractory_samples": "refractory"}


class HealthSettings(Section):
    """The out-of-band health check: counters sampled, models learned per VM, what an ill VM gets.

    The model's knobs are checked by HealthModelConfig itself, so that the settings refuse exactly
    what the model would; its messages are given in the keys of this section.
    """

    enabled: bool = True
    interval_seconds: Annotated[float, Field(ge=20)] = 300.0  # vCenter's real-time samples are 20 s apart
    warmup_samples: int = 288
    history_samples: int = 2016
    median_window: int = 12
    surprise_allowance: float = 2.5
    ill_evidence: float = 8.0
    refractory_samples: int = 96
    retrain_interval_seconds: Annotated[float, Field(ge=60)] = 86400.0
    # The models file's writes: a crash loses the evidence and rank updates since the last save
    # (the ring files keep every row), so an hour costs little; 0 saves every round.
    save_interval_seconds: Annotated[float, Field(ge=0)] = 3600.0
    model_path: OptionalPath = None
    response: Literal["incident", "reset", "recover"] = "incident"

    _model: HealthModelConfig = PrivateAttr()

    @model_validator(mode="after")
    def _model_accepts(self) -> HealthSettings:
        knobs = {field: getattr(self, key) for key, field in HEALTH_MODEL_KEYS.items()}
        try:
            self._model = HealthModelConfig(**knobs, retrain_every=timedelta(seconds=self.retrain_interval_seconds))
        except HealthModelError as exc:
            message = str(exc).removeprefix("health model: ")
            for key, field in HEALTH_MODEL_KEYS.items():
                message = re.sub(rf"\b{field}\b", key, message)
            raise ValueError(message) from None
        # A ring file can be ahead of the models file by its capacity at most (see health_history.py).
        if self.save_interval_seconds > self.history_samples * self.interval_seconds:
            raise ValueError(f"save_interval_seconds must be at most history_samples x interval_seconds "
                             f"({self.history_samples * self.interval_seconds:g}): a ring file holds that many rows")
        return self

    @property
    def model(self) -> HealthModelConfig:
        """The health model's configuration these settings give."""
        return self._model

    def model_file(self, journal: JournalSettings) -> Path:
        """Where the learned models are kept: model_path, else health-models.pkl next to the journal."""
        return self.model_path or journal.path.with_name("health-models.pkl")


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["plain", "json"] = "plain"
    file: OptionalPath = None

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class SchedulerSettings(Section):
    # Modules that neither `run` nor `once` runs until they are taken off this list.
    paused: NameList = []

    @field_validator("paused")
    @classmethod
    def _known_modules(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """Only modules the caller says can be paused (``load_settings(pausable=...)``)."""
        pausable = (info.context or {}).get("pausable")
        unknown = [name for name in value if pausable is not None and name not in pausable]
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a module that can be paused "
                             f"(these can: {', '.join(pausable)})")
        return value


class MetricsSettings(Section):
    """Prometheus metrics: `run` serves them over HTTP, `once` writes a node_exporter textfile."""

    # host:port for `run`'s /metrics; empty: no HTTP server. Loopback unless you mean otherwise.
    listen: OptionalStr = "127.0.0.1:9910"
    textfile: OptionalPath = None  # e.g. /var/lib/node_exporter/textfile/vsphere-dr.prom; empty: none

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9910 (empty: no HTTP server)")
        return value

    def listen_address(self) -> tuple[str, int] | None:
        """(host, port) for the HTTP server, or None when it is off; ``[::1]`` loses its brackets."""
        if self.listen is None:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class Selection(Section):
    """Which VMs a criterion set takes: by name pattern, folder, cluster and custom attribute.

    Within a key any item may match; across keys every key given must (``vms = web-*`` with
    ``clusters = prod`` takes the web VMs of cluster prod). Patterns are shell globs
    (``*``, ``?``, ``[ab]``), matched case-sensitively as vCenter names are.
    """

    vms: NameList = []  # VM name patterns
    folders: NameList = []  # VM folder paths as govc writes them (/DC0/vm/prod); a VM below one is in it
    clusters: NameList = []  # cluster name patterns (the cluster of the VM's host)
    attributes: NameMap = {}  # custom attribute name = value pattern; every pair must match
    tags: NameMap = {}  # vCenter tag category = tag name pattern; every pair must match

    @field_validator("folders")
    @classmethod
    def _absolute(cls, value: list[str]) -> list[str]:
        relative = [item for item in value if not item.startswith("/")]
        if relative:
            raise ValueError(f"{', '.join(relative)}: a folder is an inventory path from the root, "
                             "as govc writes it: /DATACENTER/vm/FOLDER")
        return [item.rstrip("/") or "/" for item in value]


class ProtectionGroup(Selection):
    """A `[protection.NAME]` section: the VMs it takes, and what they get."""

    exclude: NameList = []  # VM name patterns this group does not take
    rpo_target_seconds: Annotated[float | None, BeforeValidator(_empty_is_none), Field(gt=0)] = None
    snapshot_interval_seconds: Annotated[float | None, BeforeValidator(_empty_is_none), Field(ge=60)] = None
    replica_interval_seconds: Annotated[float | None, BeforeValidator(_empty_is_none), Field(ge=60)] = None
    restart_priority: Annotated[Priority | None, BeforeValidator(_empty_is_none)] = None


class ProtectionSettings(Section):
    """`[protection]`: what no group may take, and the default RPO target."""

    exclude: NameList = []  # VM name patterns never protected
    exclude_folders: NameList = []
    exclude_clusters: NameList = []
    exclude_attributes: NameMap = {}
    exclude_tags: NameMap = {}
    rpo_target_seconds: Seconds = 7200.0

    @property
    def excluded(self) -> Selection:
        """The exclusions as one selection per kind (any one matching excludes)."""
        return Selection(vms=self.exclude, folders=self.exclude_folders, clusters=self.exclude_clusters,
                         attributes=self.exclude_attributes, tags=self.exclude_tags)


class Settings(Section):
    vcenter: VCenterSettings
    # The vCenter that manages the VMs behind nested vHosts, when it is not [vcenter] itself.
    admin_vcenter: VCenterSettings | None = None
    monitoring: MonitoringSettings = MonitoringSettings()
    snapshots: SnapshotSettings = SnapshotSettings()
    inventory: InventorySettings = InventorySettings()
    recovery: RecoverySettings = RecoverySettings()
    replication: ReplicationSettings = ReplicationSettings()
    drill: DrillSettings = DrillSettings()
    journal: JournalSettings = JournalSettings()
    logging: LoggingSettings = LoggingSettings()
    health: HealthSettings = HealthSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    metrics: MetricsSettings = MetricsSettings()
    protection: ProtectionSettings = ProtectionSettings()
    # The [protection.NAME] sections, in file order (a VM is in the first group that takes it).
    protection_groups: dict[str, ProtectionGroup] = {}

    @field_validator("protection_groups")
    @classmethod
    def _group_names(cls, value: dict[str, ProtectionGroup]) -> dict[str, ProtectionGroup]:
        bad = [name for name in value if not re.fullmatch(r"[A-Za-z0-9_-]+", name)]
        if bad:
            raise ValueError(f"[protection.{bad[0]}]: a group's name is letters, digits, '_' and '-'")
        return value

    @model_validator(mode="after")
    def _group_intervals_need_intervals(self) -> Settings:
        """A group's own interval is honoured by running the round as often as the most frequent
        interval; a crontab expression cannot be combined with that."""
        for key, section, cron in (("snapshot_interval_seconds", "snapshots", self.snapshots.cron),
                                   ("replica_interval_seconds", "replication", self.replication.cron)):
            named = [name for name, group in self.protection_groups.items() if getattr(group, key)]
            if cron and named:
                raise ValueError(f"[protection.{named[0]}] {key} needs [{section}] interval_seconds, not cron "
                                 "(the round runs as often as the most frequent interval)")
        return self


# The plain [sections] of settings.ini, which VSPHERE_DR_<SECTION>_<KEY> can set; protection_groups holds
# the [protection.NAME] ones.
SECTIONS = tuple(name for name in Settings.model_fields if name != "protection_groups")


def load_settings(path: Path, pausable: Collection[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings.ini with the environment's overrides; raise SettingsError naming
    every problem found (and, for a value from the environment, the variable it came from).

    ``pausable`` names the modules that ``[scheduler] paused`` may list (the entry point knows
    them; the core does not). Without it any name is accepted. ``environ``: os.environ by default.
    """
    environ = os.environ if environ is None else environ
    flat, origins = apply_environment(_read_ini(path), environ, SECTIONS)
    base = path.resolve().parent
    flat = {name: {key: _anchor(name, key, value, base) for key, value in values.items()}
            for name, values in flat.items()}
    _default_journal(flat, state_directory(environ) or base / "var")
    raw = _nest_groups(flat)
    try:
        return Settings.model_validate(raw, context={"pausable": pausable, "environ": environ})
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
    # Raised outside the except clause: the ValidationError quotes every input, the values of
    # unknown keys too, and would stay attached to the SettingsError as its __context__.
    problems = [_describe(error, raw, origins) for error in errors]
    raise SettingsError(f"{path}: invalid settings:\n  " + "\n  ".join(problems))


def _default_journal(raw: dict[str, dict[str, str]], directory: Path) -> None:
    """The journal (and the health models beside it) in systemd's $STATE_DIRECTORY when it is set,
    else in var/ beside the settings file, unless [journal] path says otherwise."""
    journal = raw.setdefault("journal", {})
    if not journal.get("path", "").strip():
        journal["path"] = str(directory / DEFAULT_JOURNAL_NAME)


def _nest_groups(raw: dict[str, Any]) -> dict[str, Any]:
    """Move the ``[protection.NAME]`` sections under ``protection_groups``, keeping their order."""
    groups = {name[len(GROUP_PREFIX):]: keys for name, keys in raw.items() if name.startswith(GROUP_PREFIX)}
    nested: dict[str, Any] = {name: keys for name, keys in raw.items() if not name.startswith(GROUP_PREFIX)}
    if groups:
        nested["protection_groups"] = groups
    return nested


def _read_ini(path: Path) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    problem = _parse(parser, path)
    if problem is not None:
        raise SettingsError(f"{path}: {problem}")
    return {name: dict(parser[name].items()) for name in parser.sections()}


def _parse(parser: configparser.ConfigParser, path: Path) -> str | None:
    """Read the file into ``parser``; return what is wrong with it, or None.

    Returned rather than raised so that the parser's error, which quotes the offending line, is
    not chained to the SettingsError.
    """
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        return f"cannot read settings file: {exc.strerror}"
    except UnicodeDecodeError:
        return "not a valid ini file: not UTF-8 text"
    except configparser.Error as exc:
        return f"not a valid ini file: {_ini_problem(exc)}"
    return None


def _ini_problem(exc: configparser.Error) -> str:
    """What is wrong and on which line, never the line itself: it may be ``password S3cret``."""
    if isinstance(exc, (configparser.DuplicateSectionError, configparser.DuplicateOptionError)):
        return exc.message  # names the section and key, not the value
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno}: a key before the first [section] header"
    numbers = [str(lineno) for lineno, _ in getattr(exc, "errors", [])]
    if not numbers:
        return type(exc).__name__
    where = f"line{'s' if len(numbers) > 1 else ''} {', '.join(numbers)}"
    return f"{where}: neither a [section] header nor a 'key = value'"


def _anchor(section: str, key: str, value: str, base: Path) -> str:
    """Make a relative path setting relative to the settings file's directory."""
    if (section, key) in PATH_KEYS and value.strip() and not Path(value.strip()).is_absolute():
        return str(base / value.strip())
    return value


def _describe(error: Any, raw: dict[str, Any], origins: Origins) -> str:
    loc = _section_loc([str(part) for part in error["loc"]])
    source = origins.get((loc[0], loc[1])) if len(loc) >= 2 else None
    where = f" (from the environment: {source})" if source else ""
    if error["type"] == "extra_forbidden":
        return _unknown(loc) + where
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "missing section" if len(loc) == 1 else "required key is missing"
    if len(loc) < 2:
        return f"[{loc[0]}] {message}" if loc else message
    section, key = loc[0], loc[1]
    value = _raw_section(raw, section).get(key)
    if value is None:
        return f"[{section}] {key}{where}: {message}"
    shown = MASK if is_secret_key(key) or (source and is_secret_key(source)) else repr(value)
    return f"[{section}] {key} = {shown}{where}: {message}"


def _section_loc(loc: list[str]) -> list[str]:
    """A group's location as its section: (protection_groups, web, key) -> ([protection.web], key)."""
    if loc[:1] == ["protection_groups"]:  # alone: a rule about the groups, its message names the section
        return [GROUP_PREFIX + loc[1], *loc[2:]] if len(loc) >= 2 else []
    return loc


def _raw_section(raw: dict[str, Any], section: str) -> dict[str, str]:
    if section.startswith(GROUP_PREFIX):
        return raw.get("protection_groups", {}).get(section[len(GROUP_PREFIX):], {})
    return raw.get(section, {})


def _unknown(loc: list[str]) -> str:
    """An unknown section or key, with the closest known name; never its value."""
    if len(loc) == 1:
        return f"[{_shown_name(loc[0])}] unknown section (misspelt?{_closest(loc[0], list(Settings.model_fields))})"
    section, key = loc[0], loc[1]
    return f"[{section}] {_shown_name(key)}: unknown key (misspelt?{_closest(key, _keys_of(section))})"


def _shown_name(name: str) -> str:
    """The name up to its first space: the line ``password S3c=ret`` is read as the key ``password s3c``."""
    words = name.split(maxsplit=1)
    return f"{words[0]} ..." if len(words) > 1 else name


def _closest(name: str, known: list[str]) -> str:
    match = difflib.get_close_matches(name, known, n=1)
    return f" closest known: {match[0]}" if match else ""


def _keys_of(section: str) -> list[str]:
    """The keys a section takes ([admin_vcenter] is an optional VCenterSettings)."""
    if section.startswith(GROUP_PREFIX):
        return list(ProtectionGroup.model_fields)
    field = Settings.model_fields.get(section)
    kinds = (field.annotation, *get_args(field.annotation)) if field else ()
    models = [kind for kind in kinds if isinstance(kind, type) and issubclass(kind, Section)]
    return list(models[0].model_fields) if models else []
