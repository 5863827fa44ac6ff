"""Fine-tuning: initialise from another checkpoint (``init_from``) and freeze submodules."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from tasks.harness.checkpoint import find_checkpoint, load_checkpoint
from tasks.harness.errors import ConfigError
from tasks.harness.module import CHECKPOINT_KEY, TaskModule
from tasks.harness.table import format_table

log = logging.getLogger(__name__)


@dataclass
class InitSpec:
    """``init_from``: a checkpoint plus glob patterns over parameter names.

    A tensor is loaded when it matches any ``include`` pattern and no ``exclude`` pattern.
    """

    path: str
    include: Sequence[str] = ("*",)
    exclude: Sequence[str] = ()

    @classmethod
    def parse(cls, value: str | Mapping[str, Any]) -> InitSpec:
        if isinstance(value, str):
            return cls(path=value)
        unknown = set(value) - {"path", "include", "exclude"}
        if unknown or "path" not in value:
            raise ConfigError(
                f"init_from must be a checkpoint path or {{path, include, exclude}}, got keys {sorted(value)}"
            )
        return cls(
            path=value["path"],
            include=list(value.get("include") or ["*"]),
            exclude=list(value.get("exclude") or []),
        )

    def selects(self, name: str) -> bool:
        def hit(patterns: Sequence[str]) -> bool:
            return any(fnmatch.fnmatchcase(name, p) for p in patterns)

        return hit(self.include) and not hit(self.exclude)


def remap_rows(target: Tensor, source: Tensor, new: list[str], old: list[str]) -> int:
    """Copy ``source`` rows into ``target`` where the token of the row exists in both
    vocabularies: ``target[i] = source[old.index(new[i])]``. Returns the number of rows copied.

    Rows of new tokens keep their fresh initialisation.
    """
    old_index = {token: j for j, token in enumerate(old)}
    pairs = [(i, old_index[t]) for i, t in enumerate(new) if t in old_index]
    if pairs:
        rows, source_rows = zip(*pairs, strict=True)
        target[list(rows)] = source[list(source_rows)].to(target.dtype)
    return len(pairs)


def init_from(
    module: TaskModule, spec_value: str | Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """Load weights of ``spec_value`` into ``module``; returns and logs the report rows
    ``(tensor, status, detail)`` with status ``matched``, ``remapped``, ``resized``,
    ``missing``, ``skipped`` (pattern) or ``unused`` (in the checkpoint only).

    Output layers listed by ``module.output_vocabularies()`` whose token list differs from
    the checkpoint's keep the rows of tokens present in both (``remapped``).
    """
    spec = InitSpec.parse(spec_value)
    checkpoint = load_checkpoint(find_checkpoint(spec.path))
    source = checkpoint["state_dict"]
    old_vocabs: dict[str, list[str]] = checkpoint[CHECKPOINT_KEY].get("output_vocabularies", {})
    new_vocabs = module.output_vocabularies()
    target = module.state_dict()
    rows: list[tuple[str, str, str]] = []
    loaded: dict[str, Tensor] = {}
    for name, tensor in target.items():
        if not spec.selects(name):
            rows.append((name, "skipped", "excluded by include/exclude"))
            continue
        if name not in source:
            rows.append((name, "missing", "not in checkpoint, kept initialisation"))
            continue
        prefix = next((p for p in new_vocabs if name.startswith(p)), None)
        old_vocab = old_vocabs.get(prefix) if prefix is not None else None
        if prefix is not None and old_vocab is not None and old_vocab != new_vocabs[prefix]:
            value = tensor.clone()
            kept = remap_rows(value, source[name], new_vocabs[prefix], old_vocab)
            loaded[name] = value
            rows.append((name, "remapped", f"{kept}/{len(new_vocabs[prefix])} rows kept"))
        elif source[name].shape != tensor.shape:
            rows.append(
                (
                    name,
                    "resized",
                    f"{tuple(source[name].shape)} -> {tuple(tensor.shape)}, re-initialised",
                )
            )
        else:
            loaded[name] = source[name]
            rows.append((name, "matched", ""))
    rows += [(name, "unused", "only in checkpoint") for name in source if name not in target]
    with torch.no_grad():
        module.load_state_dict({**target, **loaded})
    log.info("init_from %s:\n%s", spec.path, format_table(["tensor", "status", "detail"], rows))
    return rows


def freeze(module: nn.Module, names: Sequence[str]) -> list[str]:
    """Freeze the submodules ``names`` (attribute paths such as ``encoder`` or
    ``encoder.layers.0``): ``requires_grad=False`` and eval mode (so batch-norm statistics and
    dropout stay fixed; :class:`tasks.harness.callbacks.FrozenModulesEval` keeps them in eval
    mode during training)."""
    for name in names:
        try:
            submodule = module.get_submodule(name)
        except AttributeError as error:
            children = [n for n, _ in module.named_children()]
            raise ConfigError(
                f"freeze: {name!r} is not a submodule; top-level ones: {children}"
            ) from error
        submodule.requires_grad_(False)
        submodule.eval()
    if names:
        log.info("frozen: %s", ", ".join(names))
    return list(names)
