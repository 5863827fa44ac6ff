"""Bring checkpoints written by earlier layouts of the suite up to the current one.

A checkpoint stores its run config, and evaluation rebuilds the datamodule from that config's
``data._target_``. When a class moves to another module, :data:`MOVED_MODULES` maps its old
module path to the new one, so ``eval``/``predict``/``export`` of an older checkpoint import
the class from where it lives now. The weights' layout is unchanged by these moves.

Option keys that were renamed (:data:`RENAMED_KEYS`) are renamed in the saved model config,
artifacts and run config, and options that the code of the time read with a built-in
fallback, before every option had to be in the config, get that value
(:data:`FORMER_FALLBACKS`), so that the saved configs pass the current schemas.
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


SPEECH = "tasks.speech.module.SpeechModule"
LANGID = "tasks.langid.module.LangIDModule"
CAPTIONING = "tasks.captioning.module.CaptioningModule"

# (module class, section, old key, new key); sections: "encoder", "artifacts", "data.splits"
RENAMED_KEYS: list[tuple[str, str, str, str]] = [
    (LANGID, "encoder", "specaugment", "spec_augment"),
    (LANGID, "encoder", "variants", "lstm_options"),
    (LANGID, "data.splits", "val", "validation"),
    (SPEECH, "artifacts", "vocab", "vocabulary"),
]

# (module class, section, values) the code used when the config did not set them
FORMER_FALLBACKS: list[tuple[str, str, dict[str, Any]]] = [
    (SPEECH, "model.predict", {"streaming": False, "chunk_seconds": 0.32, "min_seconds": 0.05}),
    (
        SPEECH,
        "data.dataset",
        {
            "path": None,
            "name": None,
            "data_files": None,
            "data_dir": None,
            "revision": None,
            "splits": {"train": "train", "validation": "validation", "test": "test"},
            "audio_column": "audio",
            "text_column": "transcription",
            "id_column": None,
        },
    ),
    (LANGID, "encoder.spec_augment", {"time_warp": 0}),
    (LANGID, "model.predict", {"und_threshold": 0.0, "languages": None}),
    (LANGID, "model", {"logit_adjustment": 0.0}),
    (CAPTIONING, "model.predict", {"attention_maps": False, "attention_dir": "attention_maps"}),
    (CAPTIONING, "data", {"cache_images": False}),
]


# (module class, modality, values) for the encoders of one input modality, and the data
# config of the datamodule class that reads that modality.
FORMER_MODALITY_FALLBACKS: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = [
    (
        LANGID,
        "text",
        "LangIDTextDataModule",
        {
            "ngram_buckets": 0,
            "ngram_dim": 64,
            "ngram_orders": [1, 2, 3, 4],
            "ngram_dropout": 0.0,
            "ngram_word_buckets": 0,
        },
        {"held_out_source": None, "augmentation": None},
    ),
]


def _renamed(section: Any, old: str, new: str) -> None:
    if isinstance(section, dict) and old in section and new not in section:
        section[new] = section.pop(old)


def _filled(section: Any, values: dict[str, Any]) -> None:
    if isinstance(section, dict):
        for key, value in values.items():
            section.setdefault(key, value)


def _section(root: Any, path: str, create: bool = False) -> Any:
    """``root[a][b]`` for ``path == "a.b"`` (None where ``root`` has no such section); with
    ``create``, a missing last key of an existing parent becomes ``{}``."""
    *parents, last = path.split(".")
    node = root
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict) or (last not in node and not create):
        return None
    return node.setdefault(last, {})


def upgrade_options(module: str, run_config: dict[str, Any], hparams: dict[str, Any]) -> None:
    """Rename and fill the option keys of a ``module`` checkpoint in place: its saved
    ``run_config`` (``encoder``, ``model``, ``data``) and ``hparams`` (``model``,
    ``artifacts``)."""
    encoders = [
        _section(run_config, "encoder"),
        _section(run_config, "model.encoder"),
        _section(hparams, "model.encoder"),
    ]
    for owner, where, old, new in RENAMED_KEYS:
        if owner != module:
            continue
        if where == "encoder":
            for encoder in encoders:
                _renamed(encoder, old, new)
        elif where == "artifacts":
            _renamed(hparams.get("artifacts"), old, new)
        else:
            _renamed(_section(run_config, where), old, new)
    for owner, where, values in FORMER_FALLBACKS:
        if owner != module:
            continue
        if where.startswith("encoder."):
            for encoder in encoders:
                if isinstance(encoder, dict) and where.split(".")[1] in encoder:
                    _filled(encoder[where.split(".")[1]], values)
        else:
            _filled(_section(run_config, where, create=True), values)
            if where.split(".")[0] == "model":
                _filled(_section(hparams, where, create=True), values)
    for owner, modality, datamodule, encoder_values, data_values in FORMER_MODALITY_FALLBACKS:
        if owner != module:
            continue
        for encoder in encoders:
            if isinstance(encoder, dict) and encoder.get("modality") == modality:
                _filled(encoder, encoder_values)
        data = run_config.get("data")
        if isinstance(data, dict) and str(data.get("_target_", "")).endswith(datamodule):
            _filled(data, data_values)


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
    """The checkpoint with its run config (``checkpoint[key]["config"]``), model config and
    artifacts (``checkpoint["hyper_parameters"]``) upgraded in place."""
    saved = checkpoint.get(key)
    if isinstance(saved, dict) and "config" in saved:
        saved["config"] = upgrade_targets(saved["config"])
        upgrade_options(
            saved.get("module", ""), saved["config"], checkpoint.get("hyper_parameters", {})
        )
    return checkpoint
