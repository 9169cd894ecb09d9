"""A real browser on the cockpit: ``stagehouse ui`` in a subprocess on a free port, and Debian's
chromium driven headless by Selenium through Debian's chromedriver (no browser download)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import missing_server
from tests.json_server import _free_port

CHROMIUM = os.environ.get("STAGEHOUSE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("STAGEHOUSE_CHROMEDRIVER", "/usr/bin/chromedriver")
STAGEHOUSE = str(Path(sys.executable).parent / "stagehouse")


def start_cockpit(project, log_file: Path) -> tuple[subprocess.Popen, str]:
    """``stagehouse ui`` on the project's store, once it answers its health check."""
    port = _free_port()
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [STAGEHOUSE, "ui", "--port", str(port), "--instance", project.instance],
            cwd=project.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    pytest.fail(f"stagehouse ui did not start: {log_file.read_text()[-3000:]}")


@pytest.fixture
def browser(tmp_path):
    """Headless chromium through chromedriver, 1400×1300; skips (fails under CI=true) naming what is missing."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        missing_server(f"no browser: {', '.join(missing)} missing (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1300",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(
        service=Service(CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log")), options=options
    )
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait_for(driver, text: str, seconds: float = 30, source: bool = False) -> None:
    """Wait until the page shows ``text`` (in its visible text; with ``source``, anywhere in its HTML,
    where the grid's cells are)."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shown = driver.page_source if source else driver.find_element(By.TAG_NAME, "body").text
        if text in shown:
            return
        time.sleep(0.2)
    raise AssertionError(
        f"the page did not show {text!r} in {seconds} s: {driver.find_element(By.TAG_NAME, 'body').text[-2000:]}"
    )


def click_button(driver, label: str) -> None:
    """Click the enabled button labelled ``label``, once Streamlit has drawn it (a rerun may
    replace a button between finding and clicking it: then it is looked up again)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            found = [
                b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == label and b.is_enabled()
            ]
            if found:
                found[0].click()
                return
        except StaleElementReferenceException:
            pass  # redrawn while we looked: look again
        time.sleep(0.2)
    raise AssertionError(
        f"no button {label!r}: {[b.text for b in driver.find_elements(By.TAG_NAME, 'button') if b.text]}"
    )


def choose(driver, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    deadline = time.monotonic() + 30  # a page just asked for may still show the one before it
    while True:
        boxes = [
            b
            for b in driver.find_elements(By.CSS_SELECTOR, "[data-testid='stSelectbox']")
            if b.text.splitlines()[:1] == [label]
        ]
        if boxes or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert boxes, f"no selectbox {label!r}"
    field = boxes[0].find_element(By.TAG_NAME, "input")
    field.click()
    field.send_keys(option)
    time.sleep(0.3)
    field.send_keys(Keys.ENTER)


def edit_first_cell(driver, column_fraction: float, value: str) -> None:
    """Type ``value`` into the first row's cell of the editable grid at ``column_fraction`` of its width."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    canvas = max(
        driver.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrame'] canvas, canvas"),
        key=lambda c: c.rect["height"],
    )
    box = canvas.rect
    header, row = 36, 35
    x = int(box["width"] * (column_fraction - 0.5))
    ActionChains(driver).move_to_element_with_offset(
        canvas, x, int(header + row / 2 - box["height"] / 2)
    ).double_click().perform()
    time.sleep(0.5)
    editor = driver.switch_to.active_element
    assert editor.tag_name == "textarea", f"the cell editor did not open ({editor.tag_name})"
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys(value)
    time.sleep(0.3)
    editor.send_keys(Keys.ENTER)


def settle(seconds: float = 1.0) -> None:
    """Let Streamlit replace the elements of the previous run before a screenshot."""
    time.sleep(seconds)
