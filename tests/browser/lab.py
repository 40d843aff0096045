"""JupyterLab servers and a headless Chromium for the browser tests.

The browser is Debian's ``/usr/bin/chromium`` driven by ``/usr/bin/chromedriver`` through selenium (no
browser or driver is ever downloaded: both paths are given, and Selenium Manager runs offline). It
starts with a fresh profile, no background networking, and a host resolver that maps every name but
the local host to nothing, so the pages must work offline (nbgrader's pages load MathJax from a CDN).
Each JupyterLab server runs on a free local port with its own token and its own user configuration,
data and runtime folders, so nothing of the machine's Jupyter settings leaks in.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from autograder.release import COURSE_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = COURSE_ROOT / "out" / "screenshots"
"""Where the tests' screenshots go (git-ignored); docs/screenshots/ holds the ones the README shows."""
STUDENT_SETTINGS = COURSE_ROOT / "student" / "etc" / "jupyter"

needs_browser = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (make setup installs them as root)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lab:
    """A running JupyterLab server: ``url(path)`` gives an authenticated address."""

    def __init__(self, port: int, token: str, log: Path) -> None:
        self.port, self.token, self.log = port, token, log

    def url(self, path: str = "lab") -> str:
        joiner = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{joiner}token={self.token}"

    def status(self, path: str) -> int:
        """The HTTP status of GET ``path`` (with the token); 0 when nothing answers."""
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
        try:
            with direct.open(self.url(path), timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except (urllib.error.URLError, OSError):
            return 0


@contextmanager
def jupyterlab(
    root: Path, scratch: Path, student: bool = False, env: dict[str, str] | None = None
) -> Iterator[Lab]:
    """JupyterLab serving ``root`` (and started in it, so a course's nbgrader_config.py there is found).
    ``student``: with the student environment's settings (``student/etc/jupyter``) on the config path."""
    config = scratch / "jupyter-config"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    # no "would you like news?" notification over the notebook
    (config / "labconfig" / "page_config.json").write_text(
        '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}'
    )
    port, token = _free_port(), secrets.token_hex(16)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    environment.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_DATA_DIR=str(scratch / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(scratch / "jupyter-runtime"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        **(env or {}),
    )
    if student:
        environment["JUPYTER_CONFIG_PATH"] = str(STUDENT_SETTINGS)
    log = scratch / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")  # (CI runs as root)
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=root, env=environment, stdout=out, stderr=subprocess.STDOUT)
    lab = Lab(port, token, log)
    try:
        deadline = time.monotonic() + 120
        while lab.status("api/status") != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield lab
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def chromium(scratch: Path) -> Iterator[object]:
    """A headless Chromium (selenium WebDriver) that can reach only 127.0.0.1."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never download anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = scratch / "chromium-profile"
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        f"--user-data-dir={profile}", "--window-size=1400,1000",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: object, name: str) -> Path:
    """Save the browser window as ``out/screenshots/NAME.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    return path
