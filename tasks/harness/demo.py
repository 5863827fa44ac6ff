"""``scripts/demo.py``: one web page that runs a checkpoint's predict on what a user gives it.

The page (``demo_page.html``, inline CSS and JavaScript, no network assets) asks for what the
checkpoint's task reads (:func:`demo_input`):

- ``audio`` (speech, spoken language ID): an uploaded file, or a recording made in the
  browser (MediaRecorder; the page decodes it and uploads 16-bit WAV) -> the transcript with
  word timings, or the language with its scores;
- ``text`` (written language ID): typed text -> the language with its scores;
- ``image`` (captioning): an uploaded image -> the caption and its attention map (PNG).

``POST /predict`` takes the text (form field ``text``) or the file (``file``) and answers the
task's predict record as JSON (an error record for unusable input), with the figures predict
wrote (the attention map) and, where the task draws them, the LSTM gate figure
(``gate_figure``, as ``predict ... gates=true`` draws it) inlined as PNG data URLs under
``figures``. Needs the ``demo`` extra (``pip install -e '.[demo]'``).
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import tempfile
import threading
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from tasks.harness.checkpoint import find_checkpoint, load_module
from tasks.harness.errors import ConfigError, InputError
from tasks.harness.gate_plots import save_gate_figure
from tasks.harness.module import TaskModule
from tasks.harness.plain import to_plain
from tasks.harness.predict import predict_chunk

PAGE = Path(__file__).with_name("demo_page.html")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def demo_input(module: TaskModule) -> str:
    """``text``, ``image`` or ``audio``: what the page asks for, from the task's predict input."""
    if module.input_kind == "text":
        return "text"
    if any(suffix in module.input_extensions for suffix in IMAGE_SUFFIXES):
        return "image"
    return "audio"


class DemoPredictor:
    """Runs ``module``'s predict on one uploaded item at a time (a lock keeps requests
    from running the model concurrently); attention maps and gate figures go to a private
    folder. ``gates``: ``(layer, units)`` of the gate figure, or None for none."""

    def __init__(
        self, module: TaskModule, options: dict[str, Any], gates: tuple[int, int] | None
    ) -> None:
        self.module = module
        self.folder = Path(tempfile.mkdtemp(prefix="lstmkit-demo-"))
        figures = {"attention_maps": True, "attention_dir": str(self.folder)}
        known = module.predict_options({})
        self.options = {**{k: v for k, v in figures.items() if k in known}, **options}
        module.predict_options(self.options)  # unknown or mistyped options fail at start
        self.gates = gates if gates is not None and draws_gates(module) else None
        self.lock = threading.Lock()
        self.count = 0
        self.figures = itertools.count()

    def predict_text(self, text: str) -> dict[str, Any]:
        return self._predict(text, text)

    def predict_file(self, name: str, data: bytes) -> dict[str, Any]:
        """Write the upload to a file (predict reads paths) named after the upload, in a
        folder of its own, so that figure titles show the user's file name."""
        with self.lock:
            self.count += 1
            upload = self.folder / f"upload{self.count}"
        upload.mkdir()
        base = Path(name).name  # no folders: the name comes from the browser
        path = upload / (base if base not in ("", "..") else "upload")
        path.write_bytes(data)
        try:
            record = self._predict(str(path), name)
        finally:
            path.unlink(missing_ok=True)
            upload.rmdir()
        return record

    def _predict(self, item: str, shown: str) -> dict[str, Any]:
        with self.lock, torch.inference_mode():
            (record,) = predict_chunk(self.module, [item], self.options)
            if self.gates is not None and "error" not in record:
                figure = self.folder / f"gates{next(self.figures)}.png"
                view = self.module.gate_view(record)
                record["gate_figure"] = str(save_gate_figure(view, *self.gates, figure))
        record["input"] = shown
        if record.get("error"):
            record["error"] = record["error"].replace(item, shown)
        record["figures"] = inline_figures(record)
        return record


def draws_gates(module: TaskModule) -> bool:
    """Whether the task implements :meth:`TaskModule.gate_view`."""
    return type(module).gate_view is not TaskModule.gate_view


def inline_figures(record: dict[str, Any]) -> dict[str, str]:
    """Move every field of ``record`` that names a PNG file written by predict (the captioning
    ``attention_map``, or any other figure a task adds) into ``{field: PNG data URL}``, and
    delete the file: the page shows them and nothing is left behind."""
    figures = {}
    for field, value in list(record.items()):
        if isinstance(value, str) and value.endswith(".png") and Path(value).is_file():
            png = Path(record.pop(field))
            figures[field] = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
            png.unlink()
    return figures


def render_page(module: TaskModule, title: str) -> str:
    """The page with the task's settings filled in."""
    settings = json.dumps({"input": demo_input(module)})
    return (
        PAGE.read_text(encoding="utf-8")
        .replace("/*SETTINGS*/null", settings)
        .replace("<!--TITLE-->", html.escape(title))
    )


def build_app(
    module: TaskModule,
    title: str,
    options: dict[str, Any] | None = None,
    gates: tuple[int, int] | None = (-1, 16),
) -> Any:
    """The Starlette app: ``GET /`` (the page), ``POST /predict`` (one item -> JSON).
    ``gates``: ``(layer, units)`` of the gate figure (see :class:`DemoPredictor`)."""
    try:
        from starlette.applications import Starlette
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request
        from starlette.responses import HTMLResponse, JSONResponse
        from starlette.routing import Route
    except ImportError as error:
        raise ConfigError(
            f"the demo needs the demo extra: pip install -e '.[demo]' ({error})"
        ) from error
    predictor = DemoPredictor(module, options or {}, gates)
    page = render_page(module, title)

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    async def predict(request: Request) -> JSONResponse:
        form = await request.form()
        upload = form.get("file")
        if hasattr(upload, "read"):
            data = await upload.read()  # type: ignore[union-attr]
            name = upload.filename or "upload"  # type: ignore[union-attr]
            record = await run_in_threadpool(predictor.predict_file, name, data)
        elif isinstance(form.get("text"), str):
            record = await run_in_threadpool(predictor.predict_text, str(form["text"]))
        else:
            return JSONResponse({"error": "send a form field 'text' or 'file'"}, status_code=400)
        return JSONResponse(record, status_code=422 if "error" in record else 200)

    return Starlette(
        routes=[Route("/", index), Route("/predict", predict, methods=["POST"])],
    )


def serve(cfg: DictConfig) -> None:
    """Load ``cfg.ckpt`` and serve its page on ``cfg.host:cfg.port`` until interrupted."""
    if cfg.ckpt is None:
        raise InputError("pass ckpt=<checkpoint file, run directory or 'last'>")
    checkpoint = find_checkpoint(cfg.ckpt, cfg.paths.runs_dir)
    module = load_module(checkpoint).to(cfg.device)
    task = module.run_config.get("task", {}).get("name", type(module).__name__)
    app = build_app(
        module,
        f"lstmkit {task}: {checkpoint.parent.parent.name}",
        to_plain(cfg.options, "options"),
        (int(cfg.gates_layer), int(cfg.gates_units)) if cfg.gates else None,
    )
    import uvicorn

    print(f"lstmkit demo of {checkpoint} on http://{cfg.host}:{cfg.port}/")
    uvicorn.run(app, host=cfg.host, port=int(cfg.port), log_level="warning")
