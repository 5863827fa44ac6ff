"""Checks of a composed run config before anything runs (no corpus is prepared yet): the
task is set, its encoder comes from its own group ``conf/encoder/<task>/``, and the
encoder, model and data options pass the task's schemas (:mod:`tasks.harness.config_schema`).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from tasks.harness.checkpoint import module_class
from tasks.harness.config_schema import resolved, validate
from tasks.harness.datamodule import TaskDataModule
from tasks.harness.errors import ConfigError, exit_on_error

F = TypeVar("F", bound=Callable[..., Any])


def require_task(cfg: DictConfig) -> None:
    """A clear error when no task is selected instead of a missing-key traceback."""
    if OmegaConf.select(cfg, "task.module", default=None) in (None, "???"):
        raise ConfigError("no task selected: pass task=<name> (one of conf/task/*.yaml)")


def group_choice(cfg: DictConfig, group: str) -> str | None:
    """The option of config ``group`` the run was composed with (``speech/blstm``), from the
    running Hydra app or a config composed with ``return_hydra_config=True``."""
    if HydraConfig.initialized():
        return HydraConfig.get().runtime.choices.get(group)
    return OmegaConf.select(cfg, f"hydra.runtime.choices.{group}", default=None)


def task_encoders(task: str) -> list[str]:
    """The options of ``conf/encoder/<task>/`` (``speech/blstm``, ...), sorted."""
    if not GlobalHydra.instance().is_initialized():
        return []
    names = GlobalHydra.instance().config_loader().get_group_options(f"encoder/{task}")
    return sorted(f"{task}/{name}" for name in names)


def check_encoder_choice(task: str, choice: str | None) -> None:
    """Refuse an encoder from another task's group (``task=speech encoder=captioning/resnet18``)."""
    if choice is None or choice.startswith(f"{task}/"):
        return
    raise ConfigError(
        f"task={task} cannot use encoder={choice}: it accepts encoder="
        + " | ".join(task_encoders(task) or [f"{task}/<name>"])
    )


def validate_data(data: Any) -> type[TaskDataModule]:
    """Check a ``data`` config against the schema of the datamodule its ``_target_`` names;
    returns that class."""
    data = resolved(data)
    target = data.get("_target_") if isinstance(data, dict) else None
    try:
        cls = hydra.utils.get_class(str(target))
    except Exception as error:
        raise ConfigError(f"data._target_: cannot import {target!r} ({error})") from None
    if not issubclass(cls, TaskDataModule):
        raise ConfigError(
            f"data._target_ {target!r} must build a tasks.harness.datamodule.TaskDataModule"
        )
    validate(cls.config_schema, data, "data")
    return cls


def validate_run_config(cfg: DictConfig) -> None:
    """Check a composed run config: task, encoder group, encoder/model/data options.

    Raises:
        ConfigError: one line naming the task, group or key at fault.
    """
    require_task(cfg)
    cls = module_class(cfg.task.module)
    check_encoder_choice(cfg.task.name, group_choice(cfg, "encoder"))
    encoder = resolved(cfg.encoder)
    validate(cls.encoder_schema(encoder), encoder, "encoder")
    cls.validate_model(cfg.model)
    validate_data(cfg.data)


def refuse_ungrouped_encoder(overrides: list[str], conf_dir: Path, config_name: str) -> None:
    """Refuse ``encoder=<name>`` naming no task group (``encoder=resnet18``, the spelling
    from before encoders were grouped per task), naming the run's task and its encoders,
    instead of Hydra's "could not find" error. Call before Hydra composes ``overrides``.

    Raises:
        ConfigError: for an ``encoder=`` override that is not a file under ``conf/encoder/``.
    """
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+~") != "encoder" or "/" in value or "," in value or not value:
            continue
        if (conf_dir / "encoder" / f"{value}.yaml").is_file() or value == "null":
            continue
        others = [o for o in overrides if o != override and not o.startswith("-")]
        with initialize_config_dir(str(conf_dir), version_base="1.3"):
            task = compose(config_name, overrides=others).task.name
        accepted = sorted(p.stem for p in (conf_dir / "encoder" / task).glob("*.yaml"))
        raise ConfigError(
            f"task={task} cannot use encoder={value}: encoders are grouped per task, "
            "it accepts encoder=" + " | ".join(f"{task}/{name}" for name in accepted)
        )


def refusing_ungrouped_encoder(conf_dir: Path, config_name: str) -> Callable[[F], F]:
    """Decorate a ``@hydra.main`` entry point so that :func:`refuse_ungrouped_encoder`
    checks its command line (``sys.argv``) before Hydra composes it."""

    def decorate(main: F) -> F:
        @functools.wraps(main)
        def checked(*args: Any, **kwargs: Any) -> Any:
            exit_on_error(refuse_ungrouped_encoder)(sys.argv[1:], conf_dir, config_name)
            return main(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate
