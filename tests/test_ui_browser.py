"""`panacea ui` in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven by selenium.

The app is started exactly as a user would after `make demo` (`panacea ui`, no adapter argument, from a folder that
holds outputs/demo/adapter and front.json) on a tiny model; the page must show what ``model.generate`` gives.
"""

import json
import shutil
import subprocess
import sys

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from peft_panacea._local_http import free_port, wait_until_serving

from .models import panacea_model, perturb_adapter

webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (test extra)")
pytest.importorskip("gradio", reason="panacea ui needs gradio (demo extra)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (BROWSER and DRIVER), reason="no chromium/chromedriver on PATH: apt-get install chromium chromium-driver"
)

PROMPT = "w5 w6 w7"
MAX_NEW_TOKENS = 64  # the page's default


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory, tiny_model_dir):
    """outputs/demo as `make demo` leaves it: the adapter (its base model path recorded) and front.json."""
    root = tmp_path_factory.mktemp("ui_browser")
    model = panacea_model(preference_names=["a", "b"])
    perturb_adapter(model, seed=1, scale=1.0)  # these weights give 5 different greedy replies over the grid
    adapter = root / "outputs" / "demo" / "adapter"
    model.save_pretrained(adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(
        json.dumps({**config, "base_model_name_or_path": str(tiny_model_dir)})
    )
    grid = [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]
    front = {"preferences": grid, "objectives": [[0.1, 0.9], [0.5, 0.6], [0.9, 0.2]], "objective_names": ["a", "b"]}
    (root / "outputs" / "demo" / "front.json").write_text(json.dumps(front))
    return root


@pytest.fixture(scope="module")
def server(demo_folder):
    """`panacea ui --port N` started in the background; the test waits for it after its own set-up (overlapped)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "peft_panacea.cli", "ui", "--port", str(port)],
        cwd=demo_folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process, f"http://127.0.0.1:{port}/"
    process.terminate()
    process.wait(timeout=30)


def wait_for_app(process: subprocess.Popen, url: str) -> None:
    try:  # imports and model load: seconds, but minutes on a heavily shared machine
        wait_until_serving(url, process, timeout=600)
    except (RuntimeError, TimeoutError) as error:
        process.kill()
        pytest.fail(f"panacea ui did not start ({error}):\n{process.stdout.read()[-3000:]}")


@pytest.fixture(scope="module")
def browser(server):  # after the server's start, so that both boot at once
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(DRIVER), options=options)
    yield driver
    driver.quit()


def expected(tiny_model_dir, adapter, preferences: list[list[float]]) -> list[str]:
    """Greedy replies from ``model.generate`` at each preference, one call each, decoded without special tokens."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter).eval()
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, tokenize=False
    )
    batch = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    replies = []
    for preference in preferences:
        out = model.generate(
            **batch,
            preference=torch.tensor(preference),
            max_new_tokens=MAX_NEW_TOKENS,
            do_sample=False,
            pad_token_id=0,
        )
        replies.append(tokenizer.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True))
    return replies


def set_slider(driver, elem_id: str, value: str) -> None:
    box = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(value, Keys.TAB)


def test_page_steers_streams_compares_and_marks_the_front(server, browser, demo_folder, tiny_model_dir):
    adapter = demo_folder / "outputs" / "demo" / "adapter"
    grid = [[0.0, 1.0], [0.25, 0.75], [0.5, 0.5], [0.75, 0.25], [1.0, 0.0]]
    single, *at_grid = expected(tiny_model_dir, adapter, [[0.25, 0.75], *grid])
    process, url = server
    wait_for_app(process, url)
    wait = WebDriverWait(browser, 300)  # generous for a shared machine; a pass takes seconds
    browser.get(url)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#generate"))
    assert browser.find_elements(By.CSS_SELECTOR, "#front img, #front svg, #front canvas")  # the demo's front

    set_slider(browser, "pref-0", "0.2")
    set_slider(browser, "pref-1", "0.6")
    used = browser.find_element(By.CSS_SELECTOR, "#preference")
    wait.until(lambda d: "a 0.25, b 0.75" in used.text)  # 0.2 and 0.6 divided by their sum
    browser.find_element(By.CSS_SELECTOR, "#prompt textarea").send_keys(PROMPT)
    browser.find_element(By.CSS_SELECTOR, "#generate").click()
    reply = browser.find_element(By.CSS_SELECTOR, "#reply textarea")
    wait.until(lambda d: reply.get_attribute("value") == single)

    browser.find_element(By.CSS_SELECTOR, "#compare").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#compare-panel .panacea-reply")) == len(grid))
    cards = browser.find_elements(By.CSS_SELECTOR, "#compare-panel .panacea-reply")
    texts = [card.find_element(By.CSS_SELECTOR, ".reply-text").get_attribute("textContent") for card in cards]
    labels = [card.find_element(By.CSS_SELECTOR, ".reply-preference").text for card in cards]
    assert labels == [f"a {p[0]:.2f}, b {p[1]:.2f}" for p in grid]
    assert texts == at_grid and len(set(texts)) == len(grid)
