"""Config validation against workflow/schemas/config.schema.yaml, with defaults filled in.

Used by rules/common.smk (so `snakemake` fails at parse time on a bad config) and by tests.
Errors are one line naming the key, e.g. `config: rollout.turns: 0 is less than the minimum of 1`.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import jsonschema
import yaml

from selfcorrect.errors import SelfCorrectError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


def _with_defaults(validator_class):
    """A validator that fills `default`s into the instance as it validates (jsonschema FAQ)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" not in sub:
                    continue
                if name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
                else:
                    _merge_missing(instance[name], sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _merge_missing(value, default):
    """Fill keys a partial object leaves out from its own default object, e.g.
    `resources: {train: {runtime: 600}}` keeps train's `gpu: 1` rather than the generic 0."""
    if isinstance(value, dict) and isinstance(default, dict):
        for key, sub in default.items():
            if key not in value:
                value[key] = copy.deepcopy(sub)
            else:
                _merge_missing(value[key], sub)


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def validate_config(config: dict, source: str = "config") -> dict:
    """Return a validated copy of `config` with every default filled in."""
    _check_finite(config, source)
    schema = load_schema()
    cls = _with_defaults(jsonschema.validators.validator_for(schema))
    resolved = copy.deepcopy(config)
    errors = sorted(cls(schema).iter_errors(resolved), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.absolute_path) or "<top level>"
        raise SelfCorrectError(f"{source}: {key}: {err.message}")
    return resolved


def _check_finite(value, source: str, key: str = "") -> None:
    """NaN and ±infinity are YAML floats (`.nan`, `.inf`) that JSON Schema's `number` accepts;
    no setting means them, so every number must be finite."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SelfCorrectError(f"{source}: {key or '<top level>'}: {value} is not a finite number")
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for name, sub in items:
        _check_finite(sub, source, f"{key}.{name}" if key else str(name))


def task_config(name: str, cfg: dict | None = None) -> dict:
    """One task's settings with the schema's defaults filled in."""
    return validate_config({"tasks": {name: cfg or {}}}, source=f"tasks.{name}")["tasks"][name]


def load_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise SelfCorrectError(f"{path}: config file not found")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SelfCorrectError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return validate_config(config, source=str(path))
