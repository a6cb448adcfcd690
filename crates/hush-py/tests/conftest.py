"""Shared by the pytest suite, which runs against the INSTALLED hush-secrets wheel (scripts/test
builds it, installs it into a fresh venv with only pytest beside it, and runs these files).

- ``run_py``: a fresh interpreter per scenario (``hush.secrets`` is one per process and reads
  its environment once), with HOME, the working directory and every HUSH_/STREAMLIT_ variable
  under the test's control.
- ``server``: a real ``hush serve`` started with the wheel's own ``hush`` command on a free
  127.0.0.1 port, its owner created with ``hush admin create-owner``, driven over HTTP.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

HUSH = shutil.which("hush", path=os.path.dirname(sys.executable))
# Generous: only a failure ever waits this long.
TIMEOUT = 60


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without anything that steers hush or Streamlit."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HUSH_", "STREAMLIT_", "PYTEST_"))
    }
    env["HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run_py(code: str, *, cwd: Path, home: Path, env: dict[str, str] | None = None,
           script: Path | None = None, timeout: float = TIMEOUT) -> Ran:
    """Runs ``code`` as a script (``script`` names its file; it is the main script, so its
    directory counts for ``<script dir>/.streamlit``)."""
    script = script or cwd / "main.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(textwrap.dedent(code))
    p = subprocess.run([sys.executable, str(script)], cwd=cwd, env=clean_env(home, **(env or {})),
                       capture_output=True, text=True, timeout=timeout)
    return Ran(p.returncode, p.stdout, p.stderr)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    c = tmp_path / "work"
    c.mkdir()
    return c


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


class Server:
    """``hush serve`` on 127.0.0.1, and the calls the tests make through its HTTP API."""

    def __init__(self, data: Path, home: Path):
        self.home = home
        self.password = "pytest-owner-" + os.urandom(8).hex()
        data.mkdir(parents=True, exist_ok=True)
        env = clean_env(home, HUSH_OWNER_PASSWORD=self.password, HUSH_LOG="warn")
        owner = subprocess.run([HUSH, "admin", "create-owner", "--name", "olivia", "--data-dir", str(data)],
                               env=env, capture_output=True, text=True, timeout=TIMEOUT)
        assert owner.returncode == 0, owner.stderr
        self.proc = subprocess.Popen(
            [HUSH, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "off", "--data-dir", str(data)],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seen = []
        for line in self.proc.stderr:
            seen.append(line)
            m = re.search(r"is serving on (\S+)", line)
            if m:
                self.url = m.group(1)
                break
        else:
            raise AssertionError("hush serve exited before serving:\n" + "".join(seen))
        # Keep reading its log so it never blocks on a full pipe.
        self.log: list[str] = []
        import threading
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True).start()
        self.token = self.call("POST", "/auth/token",
                               {"name": "olivia", "password": self.password, "token_name": "pytest"},
                               token=None)["token"]

    def call(self, method: str, path: str, body: dict | None = None, token: str | None | bool = True):
        token = self.token if token is True else token
        req = urllib.request.Request(self.url + "/api/v1" + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        req.add_header("content-type", "application/json")
        if token:
            req.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path}: HTTP {e.code} {e.read()!r}") from None
        return json.loads(raw) if raw else None

    def create_app(self, name: str, toml: str) -> str:
        """Creates ``name`` with ``toml``; returns a new app token for it."""
        self.call("POST", "/apps", {"name": name, "toml": toml})
        return self.call("POST", "/tokens", {"kind": "app", "app": name, "name": "pytest"})["token"]

    def save(self, app: str, toml: str) -> int:
        base = self.call("GET", f"/apps/{app}/secrets")["version"]
        return self.call("PUT", f"/apps/{app}/secrets", {"toml": toml, "base_version": base})["version"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    assert HUSH, "the wheel's hush command is not installed beside this python"
    base = tmp_path_factory.mktemp("server")
    (base / "home").mkdir()
    s = Server(base / "data", base / "home")
    yield s
    s.stop()
