"""Every task x experiment x trainer preset composes, passes the schemas and builds its module
and datamodule; unknown, mistyped and missing options and other tasks' encoders are refused
with one line naming the key, task or encoder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

from tasks.harness.config_schema import validate
from tasks.harness.errors import ConfigError
from tasks.harness.run_config import validate_run_config
from tests.serving.tiny_models import artifacts, build_tiny, composed

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"
EXPERIMENT_TASK = {"speech": "speech", "langid": "langid", "captioning": "captioning"}
TRAINERS = sorted(p.stem for p in (CONF / "trainer").glob("*.yaml"))
RUNS = [(task, None) for task in EXPERIMENT_TASK] + [
    (p.stem.split("_")[0], p.stem) for p in sorted((CONF / "experiment").glob("*.yaml"))
]
TINY_NAME = {"speech": "speech", "langid": "langid_text", "captioning": "captioning"}


@pytest.mark.parametrize("trainer", TRAINERS)
@pytest.mark.parametrize(("task", "experiment"), RUNS)
def test_every_preset_validates_and_builds(task: str, experiment: str | None, trainer: str) -> None:
    overrides = [f"task={task}", f"trainer={trainer}"]
    overrides += [f"experiment={experiment}"] if experiment else []
    cfg = composed(*overrides)
    validate_run_config(cfg)
    spoken = cfg.encoder.get("modality") == "audio"
    name = "langid_spoken" if spoken else TINY_NAME[task]
    module_name, _, class_name = cfg.task.module.rpartition(".")
    cls = getattr(__import__(module_name, fromlist=[class_name]), class_name)
    model = OmegaConf.to_container(cfg.model, resolve=True)
    if task == "captioning":  # the pretrained torchvision weights are not downloaded here
        model["encoder"]["pretrained"] = False
    module = cls(model=model, optim=cfg.optim, artifacts=artifacts(name, cfg))
    assert module.predict_options({})  # every predict option has its value in the config
    # the datamodule object only: no corpus is prepared
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    assert type(datamodule).__name__ == cfg.data._target_.rpartition(".")[2]


SCHEMA_ERRORS = [
    (
        ["task=speech", "+model.decoding.beam_szie=3"],
        r"^model\.decoding\.beam_szie: unknown key; valid keys: beam_size, token_prune, ",
    ),
    (
        ["task=speech", "model.decoding.beam_size=wide"],
        r"^model\.decoding\.beam_size: Value 'wide'",
    ),
    (
        ["task=speech", "+encoder.hiden_size=3"],
        r"^encoder\.hiden_size: unknown key; valid keys: name, ",
    ),
    (["task=speech", "data.batch_size=many"], r"^data\.batch_size: Value 'many'"),
    (["task=speech", "+data.dataset.txt_column=x"], r"^data\.dataset\.txt_column: unknown key"),
    (
        ["task=langid", "+model.predict.topk=2"],
        r"^model\.predict\.topk: unknown key; valid keys: top_k, max_chars, und_threshold, languages$",
    ),
    (["task=langid", "model.label_smoothing=lots"], r"^model\.label_smoothing: Value 'lots'"),
    (["task=langid", "+encoder.variants={}"], r"^encoder\.variants: unknown key"),
    (
        ["task=langid", "+data.splits.val=validation"],
        r"^data\.splits\.val: unknown key; valid keys: train, validation, test$",
    ),
    (  # an optional section (``TextAugmentationConfig | None``) lists its keys too
        ["task=langid", "+data.augmentation.mixed=1"],
        r"^data\.augmentation\.mixed: unknown key; valid keys: joined, max_joined, ",
    ),
    (
        ["task=langid", "experiment=langid_spoken", "+encoder.spec_augment.freq_mask=1"],
        r"^encoder\.spec_augment\.freq_mask: unknown key",
    ),
    (
        ["task=langid", "experiment=langid_spoken", "data.features.n_mels=x"],
        r"^data\.features\.n_mels: Value 'x'",
    ),
    (
        ["task=captioning", "+model.decoding.beam_szie=3"],
        r"^model\.decoding\.beam_szie: unknown key; valid keys: search, beam_size, ",
    ),
    (["task=captioning", "model.decoder.gating=maybe"], r"^model\.decoder\.gating: Value 'maybe'"),
    (["task=captioning", "+encoder.channel=[8]"], r"^encoder\.channel: unknown key"),
    (["task=captioning", "data.image_size=big"], r"^data\.image_size: Value 'big'"),
    (
        ["task=captioning", "~model.predict.attention_dir"],
        r"^model\.predict\.attention_dir: missing value$",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), SCHEMA_ERRORS)
def test_bad_options_are_refused_naming_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        validate_run_config(composed(*overrides))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("speech", {"beam_szie": 2}, r"^options\.beam_szie: unknown key; valid keys: "),
        ("speech", {"streaming": "sometimes"}, r"^options\.streaming: Value 'sometimes'"),
        ("langid_text", {"top_k": "three"}, r"^options\.top_k: Value 'three'"),
        ("captioning", {"attention_map": True}, r"^options\.attention_map: unknown key"),
    ],
)
def test_bad_predict_options_are_refused(name: str, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_tiny(name).predict_options(options)


def test_predict_options_default_to_the_model_config() -> None:
    module = build_tiny("captioning")
    options = module.predict_options({"beam_size": 4})
    decoding = module.hparams["model"]["decoding"]
    assert options.beam_size == 4 and options.max_len == decoding["max_len"]
    assert options.attention_maps is False


def test_schema_fields_have_no_defaults() -> None:
    from tasks.speech.config import SpeechModelConfig

    with pytest.raises(
        ConfigError,
        match=r"^model\.decoding\.beam_size: missing value \(also .*, model\.spec_augment\)$",
    ):
        validate(SpeechModelConfig, {"encoder": {}, "decoding": {}, "predict": {}}, "model")


def train_command(*overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "train.py"), *overrides],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


@pytest.mark.parametrize("encoder", ["captioning/resnet18", "resnet18"])
def test_train_refuses_another_tasks_encoder_before_preparing_data(encoder, tmp_path) -> None:
    result = train_command("task=speech", f"encoder={encoder}", f"paths.root_dir={tmp_path}")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[0]
    assert last == (
        f"error: task=speech cannot use encoder={encoder}: "
        + ("encoders are grouped per task, " if "/" not in encoder else "")
        + "it accepts encoder=speech/blstm | speech/conv_blstm | speech/pblstm | speech/uni_lstm"
    )
    assert not (tmp_path / "data").exists()  # refused before any corpus preparation
