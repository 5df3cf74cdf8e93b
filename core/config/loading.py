"""Loading a config: a file (or a shipped config by name) or YAML text, then overrides, then validation."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Sequence

from core.config.overrides import _apply
from core.config.schema import Config
from core.config.validation import _validate
from core.config.yaml_lines import Origins, _parse_yaml
from core.errors import ConfigError

# The package lives in core/config/, the shipped configs in <repo>/configs/.
SHIPPED_CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def config_from_text(
    text: str, *, source: str = "<config>", overrides: Sequence[str] = (), data: str | None = None
) -> Config:
    """Validate YAML text (e.g. from the TUI's editor) as `load_config` validates a file."""
    raw, origins = _parse_yaml(text, source)
    return _resolve(raw, origins, overrides, data)


def _resolve(raw: dict, origins: Origins, overrides: Sequence[str], data: str | None) -> Config:
    if isinstance(overrides, str):
        overrides = [overrides]
    raw = _apply(raw, list(overrides), origins)
    if data is not None:
        if not isinstance(raw.get("data"), dict):
            raw["data"] = {}
        raw["data"]["path"] = str(data)
        origins[("data", "path")] = (f"--data {data}", None)
    return _validate(raw, origins)


def _find_file(path: str | Path) -> Path:
    p = Path(path)
    if p.is_file():
        return p
    if not p.exists() and p.parent == Path(".") and not p.suffix:
        shipped = SHIPPED_CONFIG_DIR / f"{p.name}.yaml"
        if shipped.is_file():
            return shipped  # `-c gru` means the shipped configs/gru.yaml
    if p.is_dir():
        raise ConfigError("is a directory, not a config file", path=p)
    names = sorted(shipped_configs())
    raise ConfigError("no such config file" + (f" (shipped configs: {', '.join(names)})" if names else ""), path=p)


def load_config(path: str | Path | None = None, overrides: Sequence[str] = (), data: str | None = None) -> Config:
    """Load, override and validate a config. Raises ConfigError naming file/line/override and key.

    path None -> every default, model kind from overrides (`-o model.kind=gru`) or "uniform".
    A bare name that is not a file ("gru") means the shipped configs/<name>.yaml.
    `data` is short for `-o data.path=FILE` (applied after the overrides).
    """
    if path is None:
        return _resolve({}, {}, overrides, data)
    p = _find_file(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", path=p) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=p) from None
    return config_from_text(text, source=str(p), overrides=overrides, data=data)


def shipped_configs() -> dict[str, Path]:
    """Name -> path of the configs shipped in configs/ (empty when not installed from source)."""
    if not SHIPPED_CONFIG_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(SHIPPED_CONFIG_DIR.glob("*.yaml"))}
