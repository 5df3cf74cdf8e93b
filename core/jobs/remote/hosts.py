"""SSH host profiles: `~/.config/synapse/hosts.yaml` (XDG_CONFIG_HOME respected) and an
optional project-local `synapse.hosts.yaml`, which may add profiles but never replace one:
a cloned repository is not trusted to redirect a launch, pick key material or a pin.

    hosts:
      h200:
        host: 203.0.113.7          # RunPod: the pod's public IP ("SSH over exposed TCP")
        port: 22022
        user: root
        identity_file: ~/.ssh/id_ed25519   # or leave it out to use the SSH agent
        work_dir: /workspace/synapse       # under /workspace: it survives a pod restart
        gpu: H200                          # what `remote check` expects to find

A host key is pinned per profile under `host_key_alias` (the profile name by default) in
the profile's known_hosts file, because RunPod recycles addresses and makes new keys on
every stop/start: an address says nothing about which machine answers. Relative
`known_hosts` and `identity_file` paths are relative to the user's config dir, never to
the current directory.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.config.yaml_lines import load_yaml
from core.errors import ConfigError, InputError

PROJECT_HOSTS_FILE = "synapse.hosts.yaml"
# Settings only the user's own hosts.yaml may hold: with them a project file could pick the
# key we authenticate with or the pin we check against, and pass `check` without `trust`.
USER_ONLY_SETTINGS = ("identity_file", "known_hosts", "host_key_alias")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "synapse"


def user_hosts_file() -> Path:
    return config_dir() / "hosts.yaml"


def default_known_hosts() -> Path:
    return config_dir() / "known_hosts"


class HostProfile(BaseModel):
    """One host Synapse may run on, and how to reach it safely."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    host: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    user: str = Field(min_length=1)
    identity_file: str | None = None  # None: keys from the SSH agent
    known_hosts: str | None = None  # default: ~/.config/synapse/known_hosts
    host_key_alias: str | None = None  # default: the profile name
    work_dir: str = "/workspace/synapse"
    python: str = "python3"  # the interpreter whose packages (the image's CUDA torch) the venv reuses
    setup: str | None = None  # run once before the venv is made, e.g. "apt-get install -y python3-venv"
    gpu: str | None = None  # expected GPU name, e.g. H200
    connect_timeout: float = Field(default=15.0, gt=0)
    keepalive_interval: float = Field(default=15.0, gt=0)
    keepalive_count_max: int = Field(default=3, ge=1)
    source: str | None = None  # the file it came from

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("a host name is 1-64 letters, digits, '_', '.' or '-'")
        return v

    @field_validator("work_dir")
    @classmethod
    def _work_dir(cls, v: str) -> str:
        if not v.startswith("/") or ".." in v.split("/"):
            raise ValueError("work_dir must be an absolute path without '..'")
        return posixpath.normpath(v)

    @field_validator("host", "user")
    @classmethod
    def _plain(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.:@%\[\]-]+$", v) or v.startswith("-"):
            raise ValueError("must be a plain host or user name (letters, digits, '.', '-', '_')")
        return v

    @property
    def alias(self) -> str:
        return self.host_key_alias or self.name

    @property
    def known_hosts_path(self) -> Path:
        return _user_path(self.known_hosts) if self.known_hosts else default_known_hosts()

    @property
    def identity_path(self) -> Path | None:
        return _user_path(self.identity_file) if self.identity_file else None

    @property
    def scope(self) -> str | None:
        """ "user" (the user's hosts.yaml) or "project" (a synapse.hosts.yaml); None if made in code."""
        if self.source is None:
            return None
        return "user" if Path(self.source) == user_hosts_file() else "project"

    def describe(self) -> dict:
        return {
            "name": self.name,
            "target": f"{self.user}@{self.host}:{self.port}",
            "work_dir": self.work_dir,
            "auth": str(self.identity_path) if self.identity_path else "ssh-agent",
            "host_key_alias": self.alias,
            "known_hosts": str(self.known_hosts_path),
            "pinned": pinned_key(self) is not None,
            "gpu": self.gpu,
            "source": self.source,
            "scope": self.scope,
        }


def _user_path(value: str) -> Path:
    """A path setting: `~` expanded, relative ones under the user's config dir (not the cwd)."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else config_dir() / path


def _lines(text: str) -> dict[str, int]:
    """{host name: 1-based line} of each profile under `hosts:`, for error messages."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    out: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == "hosts" and isinstance(v, yaml.MappingNode):
                for hk, _ in v.value:
                    out[str(hk.value)] = hk.start_mark.line + 1
    return out


def read_hosts_file(path: Path, *, project: bool = False) -> dict[str, HostProfile]:
    """The profiles of one hosts file ({} when it does not exist); InputError naming file and line.
    A `project` file may not hold USER_ONLY_SETTINGS."""
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    try:
        raw = load_yaml(text, str(path))  # safe_load refusing alias bombs and deep nesting
    except ConfigError as exc:
        raise InputError(
            f"not valid YAML: {exc.problem.removeprefix('YAML syntax error: ')}", path=path, line=exc.line
        ) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not isinstance(raw.get("hosts"), dict) or set(raw) - {"hosts"}:
        raise InputError("expected a mapping with one key, `hosts:`, of profiles by name", path=path, line=1)
    lines = _lines(text)
    out = {}
    for name, body in raw["hosts"].items():
        if not isinstance(body, dict):
            raise InputError(f"host {name!r}: expected a mapping of settings", path=path, line=lines.get(str(name)))
        banned = [k for k in USER_ONLY_SETTINGS if k in body] if project else []
        if banned:
            raise InputError(
                f"host {name!r}: {banned[0]}: a project hosts file cannot choose key material, a known_hosts file "
                f"or a pin alias; move the profile to {user_hosts_file()}, or leave {banned[0]} out (the SSH agent "
                f"authenticates, and `synapse remote trust {name}` pins its key in {default_known_hosts()})",
                path=path,
                line=lines.get(str(name)),
            )
        try:
            out[str(name)] = HostProfile(name=str(name), source=str(path), **body)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                known = ", ".join(f for f in HostProfile.model_fields if f not in ("name", "source"))
                msg = f"unknown setting (settings: {known})"
            raise InputError(f"host {name!r}: {where}: {msg}", path=path, line=lines.get(str(name))) from None
    return out


def hosts_files(project_dir: Path | None = None) -> list[Path]:
    return [user_hosts_file(), (project_dir or Path.cwd()) / PROJECT_HOSTS_FILE]


def load_hosts(project_dir: Path | None = None) -> dict[str, HostProfile]:
    """Every profile: the user's, plus the project file's new ones. A project profile with a
    user profile's name (or pin alias) is refused, never silently preferred."""
    user_file, project_file = hosts_files(project_dir)
    out = read_hosts_file(user_file)
    aliases = {p.alias: p.name for p in out.values()}
    if project_file.resolve() == user_file.resolve():
        return out
    for name, profile in read_hosts_file(project_file, project=True).items():
        clash = name if name in out else aliases.get(profile.alias)
        if clash is not None:
            line = _lines(project_file.read_text(encoding="utf-8")).get(name)
            raise InputError(
                f"host profile {name!r} would replace (or borrow the pinned key of) the profile "
                f"{clash!r} of {user_file}: a project file may add profiles, never replace one; "
                f"rename it in {project_file}",
                path=project_file,
                line=line,
            )
        out[name] = profile
    return out


def get_host(name: str, project_dir: Path | None = None) -> HostProfile:
    hosts = load_hosts(project_dir)
    if name not in hosts:
        files = " or ".join(str(p) for p in hosts_files(project_dir))
        have = ", ".join(sorted(hosts)) or "none yet"
        raise InputError(
            f"no host profile {name!r} (profiles: {have}); add it to {files} (see README, 'Remote GPU runs')"
        )
    return hosts[name]


def pinned_key(profile: HostProfile) -> str | None:
    """The pinned `alias keytype base64` line of this profile, or None."""
    path = profile.known_hosts_path
    if not path.is_file():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 3 and profile.alias in parts[0].split(","):
            return line
    return None


def pin_key(profile: HostProfile, public_key_line: str) -> Path:
    """Pin `public_key_line` ("keytype base64") for this profile's alias, replacing any old pin."""
    from core.fsutil import atomic_write_text

    path = profile.known_hosts_path
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = []
    if path.is_file():
        kept = [
            ln
            for ln in path.read_text(encoding="utf-8").splitlines()
            if not (ln.split() and profile.alias in ln.split()[0].split(","))
        ]
    atomic_write_text(path, "\n".join([*kept, f"{profile.alias} {public_key_line.strip()}"]) + "\n")
    os.chmod(path, 0o600)
    return path
