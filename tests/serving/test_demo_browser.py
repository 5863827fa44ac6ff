"""The web demo in a real headless Chromium: load each task's page, submit one input, read the
result from the DOM, and keep a screenshot per task."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from PIL import Image

from tasks.audio.io import write_audio
from tasks.harness.checkpoint import load_module
from tasks.harness.demo import build_app, demo_input

uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("starlette")
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (make test installs them)",
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=900,1000",
    # a fake microphone (a beep) for the MediaRecorder path, granted without a prompt
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


@contextmanager
def demo_server(checkpoint: Path) -> Iterator[str]:
    """The demo of ``checkpoint`` on a free port of 127.0.0.1, in a thread; yields its URL."""
    app = build_app(load_module(checkpoint), f"lstmkit demo: {checkpoint.parents[1].name}")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    )
    yield driver
    driver.quit()


def result_of(browser, kind: str):
    """The result box once the page has shown a result of ``kind`` (or an error). The bound is
    generous: the first LSTM call of a fresh machine builds lstmkit's C++ kernels."""
    WebDriverWait(browser, 180).until(
        lambda d: d.find_element(By.ID, "result").get_attribute("data-kind") in (kind, "error")
    )
    result = browser.find_element(By.ID, "result")
    assert result.get_attribute("data-kind") == kind, result.text
    return result


def sample_inputs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    wave = 0.1 * torch.randn(12000, generator=torch.Generator().manual_seed(4))
    write_audio(folder / "hello.wav", wave, 16000)
    image = Image.new("RGB", (64, 64), "white")
    image.paste((200, 30, 30), (8, 8, 40, 40))
    image.save(folder / "shapes.png")
    return {"audio": folder / "hello.wav", "image": folder / "shapes.png"}


@pytest.mark.parametrize("name", ["speech", "langid_text", "langid_spoken", "captioning"])
def test_demo_page_answers_in_the_browser(tiny_checkpoint, browser, tmp_path, name) -> None:
    checkpoint = tiny_checkpoint(name)
    inputs = sample_inputs(tmp_path / "inputs")
    kind = demo_input(load_module(checkpoint))
    with demo_server(checkpoint) as url:
        browser.get(url)
        assert "lstmkit demo" in browser.title
        if kind == "text":
            browser.find_element(By.ID, "text").send_keys("the cat sat on the mat")
            browser.find_element(By.ID, "send-text").click()
        else:
            browser.find_element(By.ID, "file").send_keys(str(inputs[kind]))
        result = result_of(browser, kind)
        if name == "speech":
            transcript = result.find_element(By.CSS_SELECTOR, ".transcript").text
            words = [
                row.text.split()[0] for row in result.find_elements(By.CSS_SELECTOR, "tbody tr")
            ]
            assert words == transcript.split() or (transcript, words) == (
                "(no speech recognised)",
                [],
            )
        elif name.startswith("langid"):
            language = result.find_element(By.CSS_SELECTOR, ".language").text
            rows = result.find_elements(By.CSS_SELECTOR, "tbody tr")
            assert language in {"de", "en", "fr"} and rows[0].text.startswith(language)
            assert len(rows) == 3
        else:
            assert result.find_element(By.CSS_SELECTOR, ".caption").text
            attention = result.find_element(By.CSS_SELECTOR, "img.attention_map")
            assert attention.get_attribute("src").startswith("data:image/png;base64,")
            assert browser.execute_script("return arguments[0].naturalWidth", attention) > 100
        # every task draws its LSTM gates under the input
        gates = result.find_element(By.CSS_SELECTOR, "img.gate_figure")
        assert gates.get_attribute("src").startswith("data:image/png;base64,")
        assert browser.execute_script("return arguments[0].naturalWidth", gates) > 100
        if name == "speech":
            # an unusable upload: the error names it, and the page keeps working
            broken = tmp_path / "inputs" / "broken.wav"
            broken.write_bytes(b"RIFF not really audio")
            browser.find_element(By.ID, "file").send_keys(str(broken))
            error = result_of(browser, "error").find_element(By.CSS_SELECTOR, ".error").text
            assert "broken.wav" in error and "not a readable audio file" in error
            # the microphone path: MediaRecorder -> decoded -> WAV upload -> transcript
            browser.execute_script("document.getElementById('result').dataset.kind = ''")
            browser.find_element(By.ID, "record").click()
            WebDriverWait(browser, 10).until(
                expected_conditions.element_to_be_clickable((By.ID, "stop"))
            )
            # a recording long enough to transcribe (predict rejects clips under 0.05 s)
            WebDriverWait(browser, 10).until(
                lambda d: d.execute_script("return recorder.state === 'recording'")
            )
            browser.execute_script("return new Promise((done) => setTimeout(done, 600))")
            browser.find_element(By.ID, "stop").click()
            result = result_of(browser, "audio")
            assert "recording.wav" in browser.find_element(By.ID, "status").text
        browser.save_screenshot(str(tmp_path / f"demo_{name}.png"))
    assert (tmp_path / f"demo_{name}.png").stat().st_size > 10_000
