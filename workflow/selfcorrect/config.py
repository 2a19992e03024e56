"""Config validation against workflow/schemas/config.schema.yaml, with defaults filled in.

One module of over 300 lines on purpose: one validator (the schema, command-line strings,
defaults, the checks across keys) that the rules and every stage's --cfg share.

Used by rules/common.smk (so `snakemake` fails at parse time on a bad config), by the stage
commands (`selfcorrect <stage> --cfg`, see `validate_stage_cfg`) and by tests. Errors are one
line naming the key, e.g. `config: rollout.turns: 0 is less than the minimum of 1`.

Values given on the command line (`--config 'score={stage1_steps: 10}'`) reach the workflow as
strings: Snakemake parses nested `--config` values with YAML's BaseLoader. A string where the
schema wants a number or a boolean is converted when the converted value is valid there.
"""

from __future__ import annotations

import copy
import difflib
import math
from pathlib import Path

import jsonschema
import yaml

from selfcorrect.errors import SelfCorrectError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


def _scalar_candidates(text: str) -> list:
    """What a command-line string may have meant: YAML's reading (10, 0.5, true, null), then
    int and float (YAML 1.1 reads `1e-5` as a string)."""
    out = []
    try:
        out.append(yaml.safe_load(text))
    except yaml.YAMLError:
        pass
    for conv in (int, float):
        try:
            out.append(conv(text))
        except ValueError:
            pass
    return [v for v in out if not isinstance(v, str)]


def _coerce(validator, schema, value):
    """`value`, or, when a string is not of the type `schema` wants, its first typed reading
    that is (its bounds are then checked as any value's)."""
    sub = validator.evolve(schema=schema)

    def of_type(v) -> bool:
        return not any(e.validator == "type" and not e.relative_path for e in sub.iter_errors(v))

    if not isinstance(value, str) or of_type(value):
        return value
    return next((c for c in _scalar_candidates(value) if of_type(c)), value)


def _extended(validator_class):
    """A validator that converts command-line strings and fills `default`s into the instance
    as it validates (jsonschema's FAQ recipe for defaults)."""
    validate_properties = validator_class.VALIDATORS["properties"]
    validate_items = validator_class.VALIDATORS["items"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if name in instance:
                    instance[name] = _coerce(validator, sub, instance[name])
                if "default" not in sub:
                    continue
                if name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
                else:
                    _merge_missing(instance[name], sub["default"])
        yield from validate_properties(validator, props, instance, schema)

    def items(validator, sub, instance, schema):
        if isinstance(instance, list) and isinstance(sub, dict):
            instance[:] = [_coerce(validator, sub, v) for v in instance]
        yield from validate_items(validator, sub, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties, "items": items})


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


def _known_keys(schema: dict, root: dict) -> list[str]:
    """The property names a schema node accepts, through `$ref` and `allOf`."""
    keys = list(schema.get("properties", {}))
    if "$ref" in schema:
        node = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        keys += _known_keys(node, root)
    for sub in schema.get("allOf", []):
        keys += _known_keys(sub, root)
    return list(dict.fromkeys(keys))


def suggest(name: str, known) -> str:
    """` (did you mean 'x'?)` for the nearest known name, else the list of known names."""
    known = sorted(known)
    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known: {', '.join(known)})"


def _message(err, root: dict) -> tuple[str, str]:
    """(key path, message) of a jsonschema error, unknown keys named with a suggestion."""
    while err.context:  # oneOf/anyOf: the error of the branch of the value's own type
        err = jsonschema.exceptions.best_match(
            [e for e in err.context if e.validator != "type"] or err.context
        )
    path = [str(p) for p in err.absolute_path]
    if err.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(
        err.instance, dict
    ):
        known = _known_keys(err.schema, root)
        unknown = [k for k in err.instance if k not in known]
        if unknown:
            return ".".join([*path, unknown[0]]), "unknown key" + suggest(unknown[0], known)
    return ".".join(path) or "<top level>", err.message


def _validate(instance: dict, schema: dict, source: str) -> dict:
    _check_finite(instance, source)
    cls = _extended(jsonschema.validators.validator_for(schema))
    resolved = copy.deepcopy(instance)
    errors = sorted(cls(schema).iter_errors(resolved), key=lambda e: list(e.absolute_path))
    if errors:
        key, message = _message(errors[0], schema)
        raise SelfCorrectError(f"{source}: {key}: {message}")
    _check_finite(resolved, source)  # strings from --config ("nan") are numbers only now
    return resolved


def _seed_paths(node, path=()) -> set[tuple]:
    """Where a config sets a `seed` key itself (task sections left out: their seed draws the
    problems, which stay the same whatever the run's seed)."""
    if not isinstance(node, dict) or path[:1] == ("tasks",):
        return set()
    found = {path + ("seed",)} if path and "seed" in node else set()
    for key, sub in node.items():
        found |= _seed_paths(sub, path + (key,))
    return found


def _apply_run_seed(resolved: dict, explicit: set[tuple]) -> None:
    """Every stage seed the config does not set itself becomes the top-level `seed`: one key
    varies pre-training, RL and sampling together (a resolved config sets every seed, so
    validating it again changes nothing)."""
    for path in _seed_paths(resolved) - explicit:
        node = resolved
        for key in path[:-1]:
            node = node[key]
        node["seed"] = resolved["seed"]


def validate_config(config: dict, source: str = "config") -> dict:
    """Return a validated copy of `config` with every default filled in, its task and
    benchmark names checked against the task registry."""
    resolved = _validate(config, load_schema(), source)
    _apply_run_seed(resolved, _seed_paths(config))
    check_tasks(resolved, source)
    check_score_groups(resolved, source)
    return resolved


def check_tasks(config: dict, source: str = "config") -> None:
    """`task`, `benchmarks` and the keys of `tasks` name registered tasks."""
    from selfcorrect.tasks import task_names

    known = task_names()
    named = [("task", config["task"])]
    named += [(f"benchmarks.{i}", b) for i, b in enumerate(config["benchmarks"])]
    named += [(f"tasks.{t}", t) for t in config["tasks"]]
    for key, name in named:
        if name not in known:
            raise SelfCorrectError(f"{source}: {key}: unknown task {name!r}" + suggest(name, known))


def check_models(
    models: list[str], known: list[str], source: str = "config", key: str = "models"
) -> None:
    """Every name in `models` is one the workflow can build (rules/common.smk knows them), or,
    for a list that picks from `models` (`key` names it), one of `known`."""
    for i, name in enumerate(models):
        if name not in known:
            reason = "no method builds" if key == "models" else "not in `models`:"
            raise SelfCorrectError(f"{source}: {key}.{i}: {reason} {name!r}" + suggest(name, known))


# score keys the workflow resolves into each run's `steps` and `lr` (rules/score.smk:
# run_config); `selfcorrect score --cfg` takes neither.
WORKFLOW_SCORE_KEYS = ("stage1_steps", "stage2_steps", "stage2_lr")


def _stage_schemas(root: dict) -> dict[str, dict]:
    """What each `selfcorrect <stage> --cfg` takes, assembled from the config schema's own
    sections (so a key added there is accepted here): the same types, bounds and defaults as
    the workflow's config. `task_cfg` is checked against the named task where the stage is told
    the task (prepare, base-model); elsewhere it is the problems file's task, so only its type
    is checked here."""
    props = root["properties"]
    r = props["rollout"]["properties"]
    backend = r["backend"]
    engine = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "backend": backend,
            "batch_size": r["batch_size"],
            "turns": r["turns"],
            "window": r["eval_window"],
            "limit": {"type": "integer", "minimum": 1, "description": "First N problems."},
        },
    }
    score = copy.deepcopy(props["score"])
    for key in WORKFLOW_SCORE_KEYS:
        score["properties"].pop(key)
    score["properties"]["steps"] = {"type": "integer", "minimum": 1}
    score["properties"]["backend"] = backend
    score["required"] = ["steps"]
    improve = copy.deepcopy(props["rise"]["properties"]["improve"])
    improve["properties"]["backend"] = backend
    task_cfg = {"type": "object", "default": {}}

    def obj(properties: dict, required=()) -> dict:
        return {
            "$defs": root["$defs"],
            "type": "object",
            "additionalProperties": False,
            "properties": properties,
            "required": list(required),
        }

    return {
        "base-model": obj(
            {
                "base_model": props["base_model"],
                "task": props["task"],
                "task_cfg": task_cfg,
                "batch_size": r["batch_size"],
            },
            ["task"],
        ),
        "rollout": obj(
            {
                "task_cfg": task_cfg,
                "rollout": {**engine, "default": {}},
                "sampling": {"$ref": "#/$defs/sampling", "default": {}},
            }
        ),
        "score": obj({"task_cfg": task_cfg, "score": score}, ["score"]),
        "rise-improve": {**improve, "$defs": root["$defs"]},
        "rise-train": {**props["rise"]["properties"]["train"], "$defs": root["$defs"]},
        "sft": {**props["baselines"]["properties"]["train"], "$defs": root["$defs"]},
        "distributed": {**props["distributed"], "$defs": root["$defs"]},
    }


def validate_stage_cfg(stage: str, cfg: dict, source: str = "--cfg") -> dict:
    """A stage's `--cfg` checked as the workflow's config is, defaults filled in. `prepare`
    takes a task's config (`task_config`); stages without a config return it unchanged."""
    schemas = _stage_schemas(load_schema())
    if stage not in schemas:
        return cfg
    resolved = _validate(cfg, schemas[stage], source)
    if stage == "base-model":
        resolved["task_cfg"] = task_config(resolved["task"], resolved["task_cfg"], source)
    return resolved


# Models that run Stage II's loss with offline starts (rules/common.smk: SCORE_RUNS)
STAGE2_MODELS = {"score", "score_no_stage1", "score_no_shaping"}


def check_score_groups(config: dict, source: str = "config") -> None:
    """SCoRe's leave-one-out baseline needs two or more samples in every group of a problem's
    attempts (docs/methods.md, "Advantages"): K on-policy samples, and the base rollouts'
    samples of a problem for Stage II's offline starts. A group of one has no baseline and
    every advantage in it is 0, so such a config is refused rather than run silently.
    `config` is resolved (every default filled in)."""
    score, models = config["score"], set(config["models"])
    if score["samples"] < 2 and models & (STAGE2_MODELS | {"score_stage1", "score_single_turn"}):
        raise SelfCorrectError(
            f"{source}: score.samples: {score['samples']} leaves no other sample for the "
            f"leave-one-out baseline (every advantage would be 0); use 2 or more"
        )
    base = config["rollout"]["train"]["samples"]
    if models & STAGE2_MODELS and score["offline_starts"] > 0 and min(base, score["samples"]) < 2:
        raise SelfCorrectError(
            f"{source}: score.offline_starts: {score['offline_starts']} needs 2 or more base "
            f"samples per problem to form a leave-one-out group of offline starts, but "
            f"rollout.train.samples is {base}; raise it or set score.offline_starts: 0"
        )


def _check_finite(value, source: str, key: str = "") -> None:
    """NaN and ±infinity are YAML floats (`.nan`, `.inf`) that JSON Schema's `number` accepts;
    no setting means them, so every number must be finite."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SelfCorrectError(f"{source}: {key or '<top level>'}: {value} is not a finite number")
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for name, sub in items:
        _check_finite(sub, source, f"{key}.{name}" if key else str(name))


def task_config(name: str, cfg: dict | None = None, source: str = "task config") -> dict:
    """One task's settings with the schema's defaults filled in."""
    return validate_config({"tasks": {name: cfg or {}}}, source=source)["tasks"][name]


def load_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise SelfCorrectError(f"{path}: config file not found")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SelfCorrectError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise SelfCorrectError(f"{path}: a config file is a mapping of keys to values")
    return validate_config(config, source=str(path))
