"""Bring checkpoints written by earlier layouts of the suite up to the current one.

A checkpoint stores its run config, and evaluation rebuilds the datamodule from that config's
``data._target_``. When a class moves to another module, :data:`MOVED_MODULES` maps its old
module path to the new one, so ``eval``/``predict``/``export`` of an older checkpoint import
the class from where it lives now. The weights' layout is unchanged by these moves.
"""

from __future__ import annotations

from typing import Any

# old module path -> current module path (the suite's layout before tasks/<task>/{data,model,
# decoding,predict}/ existed).
MOVED_MODULES: dict[str, str] = {
    "tasks.speech.datamodule": "tasks.speech.data.datamodule",
    "tasks.speech.sources": "tasks.speech.data.sources",
    "tasks.langid.text_datamodule": "tasks.langid.data.text_datamodule",
    "tasks.langid.spoken_datamodule": "tasks.langid.data.spoken_datamodule",
    "tasks.captioning.datamodule": "tasks.captioning.data.datamodule",
    "tasks.captioning.sources": "tasks.captioning.data.sources",
}


def upgrade_targets(config: Any) -> Any:
    """``config`` (plain dicts/lists) with every ``_target_`` of a moved module rewritten."""
    if isinstance(config, dict):
        upgraded = {key: upgrade_targets(value) for key, value in config.items()}
        target = upgraded.get("_target_")
        if isinstance(target, str):
            module, _, name = target.rpartition(".")
            upgraded["_target_"] = f"{MOVED_MODULES.get(module, module)}.{name}"
        return upgraded
    if isinstance(config, list):
        return [upgrade_targets(value) for value in config]
    return config


def upgrade_checkpoint(checkpoint: dict[str, Any], key: str) -> dict[str, Any]:
    """The checkpoint with its run config (``checkpoint[key]["config"]``) upgraded in place."""
    saved = checkpoint.get(key)
    if isinstance(saved, dict) and "config" in saved:
        saved["config"] = upgrade_targets(saved["config"])
    return checkpoint
