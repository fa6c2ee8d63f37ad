"""The README's picture of `panacea ui`: start the app on an adapter, steer, generate, compare, and capture the page
in headless Chromium (Debian's chromium + chromium-driver, driven by selenium).

    python scripts/ui_screenshot.py --adapter outputs/demo/adapter --out docs/ui_smollm2.png
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from peft_panacea._local_http import free_port, wait_until_serving


def set_number(driver: webdriver.Chrome, css: str, value: str) -> None:
    box = driver.find_element(By.CSS_SELECTOR, css)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(value, Keys.TAB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="outputs/demo/adapter")
    parser.add_argument("--prompt", default="Tell me about the ocean.")
    parser.add_argument("--preference", nargs="+", default=["0.8", "0.2"])
    parser.add_argument("--max-new-tokens", default="24")
    parser.add_argument("--out", default="docs/ui_smollm2.png")
    parser.add_argument("--height", type=int, default=1500)
    args = parser.parse_args()
    port = free_port()
    command = [sys.executable, "-m", "peft_panacea.cli", "ui", "--adapter", args.adapter, "--port", str(port)]
    app = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size=1400,{args.height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(shutil.which("chromedriver")), options=options)
    try:
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_until_serving(url, app, timeout=600)
        except (RuntimeError, TimeoutError) as error:
            raise SystemExit(f"panacea ui did not start: {error}") from None
        wait = WebDriverWait(driver, 600)
        driver.get(url)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#generate"))
        for i, value in enumerate(args.preference):
            set_number(driver, f"#pref-{i} input[type=number]", value)
        driver.find_element(By.CSS_SELECTOR, "#prompt textarea").send_keys(args.prompt)
        accordion = driver.find_element(By.XPATH, "//button[contains(., 'Sampling (greedy')]")
        driver.execute_script("arguments[0].click();", accordion)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#max-new input[type=number]").is_displayed())
        set_number(driver, "#max-new input[type=number]", args.max_new_tokens)
        driver.find_element(By.CSS_SELECTOR, "#generate").click()
        reply = driver.find_element(By.CSS_SELECTOR, "#reply textarea")
        wait.until(lambda d: reply.get_attribute("value"))
        time.sleep(5)  # let the stream finish
        driver.find_element(By.CSS_SELECTOR, "#compare").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#compare-panel .panacea-reply"))
        time.sleep(2)
        driver.save_screenshot(args.out)
        print(f"wrote {args.out}")
    finally:
        driver.quit()
        app.terminate()
        app.wait(timeout=30)


if __name__ == "__main__":
    main()
