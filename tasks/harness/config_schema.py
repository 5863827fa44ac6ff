"""Structured configs: a task's options checked against dataclass schemas.

The values of every option live in the YAML files under ``conf/`` and nowhere else: schema
fields carry types but no defaults (``MISSING``), so a key that the YAML lacks is an error
instead of a silent fallback. :func:`validate` merges a config onto its schema
(``OmegaConf.merge(OmegaConf.structured(schema), config)``) and turns OmegaConf's errors
into one-line :class:`~tasks.harness.errors.ConfigError` messages naming the key::

    model.decoding.beam_szie: unknown key; valid keys: beam_size, token_prune, ...
    model.decoding.beam_size: Value 'abc' of type 'str' could not be converted to Integer
    model.decoding.lm_add_k: missing value
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from types import NoneType, UnionType
from typing import Any, get_args, get_type_hints

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from tasks.harness.errors import ConfigError


def _joined(where: str, key: str) -> str:
    return f"{where}.{key}" if where and key else where or key


def _schema_at(schema: type, path: str) -> type:
    """The dataclass of the field at ``path`` (``"decoding"``) below ``schema``; an
    optional section (``Decoding | None``) gives its dataclass."""
    for key in filter(None, path.split(".")):
        schema = get_type_hints(schema)[key]
        if isinstance(schema, UnionType):
            (schema,) = (arg for arg in get_args(schema) if arg is not NoneType)
    return schema


def validate(schema: type, config: Any, where: str) -> DictConfig:
    """``config`` (a mapping, resolved) merged onto the dataclass ``schema``, typed.

    Args:
        schema: a dataclass whose fields have no defaults.
        config: the options; every field of ``schema`` must be set, no other key may be.
        where: the config path of ``config`` (``"model"``, ``"data"``...) for messages.

    Raises:
        ConfigError: one line naming the unknown, mistyped or missing key.
    """
    if not isinstance(config, Mapping | DictConfig):
        raise ConfigError(f"{where}: expected a mapping of options, got {config!r}")
    base = OmegaConf.structured(schema)
    try:
        merged = OmegaConf.merge(base, config)
    except ConfigKeyError as error:
        parent, _, _ = str(error.full_key).rpartition(".")
        valid = ", ".join(f.name for f in fields(_schema_at(schema, parent)))
        raise ConfigError(
            f"{_joined(where, str(error.full_key))}: unknown key; valid keys: {valid}"
        ) from None
    except (ValidationError, OmegaConfBaseException) as error:
        message = str(error.msg).splitlines()[0] if error.msg else type(error).__name__
        raise ConfigError(f"{_joined(where, str(error.full_key))}: {message}") from None
    missing = sorted(OmegaConf.missing_keys(merged))
    if missing:
        raise ConfigError(
            f"{_joined(where, missing[0])}: missing value"
            + (
                f" (also {', '.join(_joined(where, m) for m in missing[1:])})"
                if missing[1:]
                else ""
            )
        )
    return merged


def resolved(config: Any) -> Any:
    """A config section as plain containers with its interpolations resolved."""
    if isinstance(config, DictConfig):
        return OmegaConf.to_container(config, resolve=True)
    return config
