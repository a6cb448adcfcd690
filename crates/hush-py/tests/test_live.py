"""Live updates: hush.secrets reflects a change on the next read and hush.on_change gets the
changed key names (never values), for local files, under `hush run`, and in direct mode
against a real `hush serve`. Also the plain-interpreter case: `hush run -- python script.py`
with hush.secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from conftest import HUSH, TIMEOUT, clean_env, run_py, write

# Waits for one change, then prints what it saw as JSON. "ready" tells the test to save.
WORKER = """
import json, sys, threading, hush

seen = []
changed = threading.Event()

@hush.on_change
def on_change(keys):
    seen.append(keys)
    changed.set()

print(json.dumps({"before": hush.secrets.to_dict()}), flush=True)
print("ready", flush=True)
if not changed.wait(60):
    sys.exit("no change seen within 60 s")
print(json.dumps({"changed": seen[0], "after": hush.secrets.to_dict(),
                  "token": hush.secrets.get("token")}), flush=True)
"""


def start_worker(cmd_prefix, cwd, home, env):
    script = write(cwd / "worker.py", textwrap.dedent(WORKER))
    return subprocess.Popen([*cmd_prefix, sys.executable, str(script)], cwd=cwd,
                            env=clean_env(home, **env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_ready(proc):
    before = json.loads(proc.stdout.readline() or "{}")
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise AssertionError(f"worker did not start: {line!r}\n{proc.stderr.read()}")
    return before.get("before")


def finish(proc):
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1]), err


V1 = 'token = "hunter2-v1"\ngone = 1\n[db]\nhost = "h1"\nport = 5432\n'
V2 = 'token = "hunter2-v2"\nadded = true\n[db]\nhost = "h2"\nport = 5432\n'
EXPECTED_CHANGES = ["added", "db.host", "gone", "token"]


def assert_changed(result, err):
    assert result["changed"] == EXPECTED_CHANGES
    assert result["token"] == "hunter2-v2"
    assert result["after"] == {"token": "hunter2-v2", "added": True, "db": {"host": "h2", "port": 5432}}
    assert "hunter2" not in json.dumps(result["changed"]) and "hunter2" not in err


def test_local_file_edits_reach_the_next_read(cwd, home):
    path = write(cwd / ".streamlit/secrets.toml", V1)
    proc = start_worker([], cwd, home, {})
    assert wait_ready(proc)["token"] == "hunter2-v1"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(V2)
    os.replace(tmp, path)
    assert_changed(*finish(proc))


def test_an_invalid_edit_keeps_the_last_good_secrets(cwd, home):
    path = write(cwd / ".streamlit/secrets.toml", V1)
    r = run_py("""
        import logging, os, sys, threading, hush
        changed, reported = threading.Event(), threading.Event()
        class Seen(logging.StreamHandler):
            def emit(self, record):
                super().emit(record)
                reported.set()
        logging.getLogger("hush").addHandler(Seen(sys.stderr))
        hush.on_change(lambda keys: changed.set())
        assert hush.secrets.token == "hunter2-v1"
        with open(".streamlit/secrets.toml", "w") as f:
            f.write('token = "hunter2-bad"\\nbroken = \\n')
        # The watcher reports it (through logging) and keeps the last good values; a later
        # valid edit is picked up.
        assert reported.wait(30)
        assert hush.secrets.token == "hunter2-v1", hush.secrets.token
        with open(".streamlit/secrets.toml.tmp", "w") as f:
            f.write('token = "hunter2-v3"\\n')
        os.replace(".streamlit/secrets.toml.tmp", ".streamlit/secrets.toml")
        assert changed.wait(30)
        print(hush.secrets.token)
        """, cwd=cwd, home=home)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "hunter2-v3"
    assert "Error parsing secrets file at" in r.stderr and "keeps the last secrets" in r.stderr
    assert "hunter2" not in r.stderr
    assert path.exists()


def test_plain_interpreter_under_hush_run(server, cwd, home):
    token = server.create_app("plain", 'db_username = "Jane"\n[db]\nhost = "db.internal"\n')
    script = write(cwd / "script.py", textwrap.dedent("""
        import os, hush
        print(hush.secrets["db_username"], hush.secrets.db.host, os.environ["db_username"])
        """))
    env = clean_env(home, HUSH_SERVER=server.url, HUSH_TOKEN=token)
    p = subprocess.run([HUSH, "run", "--app", "plain", "--", sys.executable, str(script)],
                       cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["Jane", "db.internal", "Jane"]


def test_changes_reach_a_worker_under_hush_run(server, cwd, home):
    token = server.create_app("runlive", V1)
    proc = start_worker([HUSH, "run", "--app", "runlive", "--on-change", "none", "--"], cwd, home,
                        {"HUSH_SERVER": server.url, "HUSH_TOKEN": token})
    assert wait_ready(proc)["token"] == "hunter2-v1"
    server.save("runlive", V2)
    assert_changed(*finish(proc))


def test_direct_mode_follows_the_server(server, cwd, home):
    token = server.create_app("direct", V1)
    # Local files are not read when the server is configured.
    write(cwd / ".streamlit/secrets.toml", 'token = "local"\n')
    proc = start_worker([], cwd, home, {"HUSH_SERVER": server.url, "HUSH_APP": "direct", "HUSH_TOKEN": token})
    assert wait_ready(proc)["token"] == "hunter2-v1"
    server.save("direct", V2)
    assert_changed(*finish(proc))


def test_direct_mode_refusals_name_no_token(server, cwd, home):
    server.create_app("other", 'a = 1\n')
    token = server.create_app("mine", 'a = 1\n')
    code = """
        import hush
        try:
            hush.secrets["a"]
        except hush.SecretsServerError as e:
            print(type(e).__name__, "|", e)
        """
    for app, tok in (("mine", "hush_app_not-a-real-token"), ("other", token), ("missing", token)):
        r = run_py(code, cwd=cwd, home=home,
                   env={"HUSH_SERVER": server.url, "HUSH_APP": app, "HUSH_TOKEN": tok})
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("SecretsServerError | Error reading secrets from the hush server: "), r.stdout
        assert tok not in r.stdout and tok not in r.stderr
    r = run_py(code, cwd=cwd, home=home,
               env={"HUSH_SERVER": "http://127.0.0.1:9", "HUSH_APP": "mine", "HUSH_TOKEN": token})
    assert "SecretsServerError | " in r.stdout and token not in r.stdout + r.stderr


def test_a_revoked_token_keeps_the_last_secrets(server, cwd, home):
    server.call("POST", "/apps", {"name": "revoked", "toml": V1})
    created = server.call("POST", "/tokens", {"kind": "app", "app": "revoked", "name": "pytest"})
    script = write(cwd / "revoked.py", textwrap.dedent("""
        import logging, sys, threading, hush
        reported = threading.Event()
        class Seen(logging.StreamHandler):
            def emit(self, record):
                super().emit(record)
                reported.set()
        logging.getLogger("hush").addHandler(Seen(sys.stderr))
        print(hush.secrets.token, flush=True)
        sys.stdin.readline()  # the token is revoked now
        assert reported.wait(30), "the lost server was not reported"
        print(hush.secrets.token, flush=True)
        """))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=cwd, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=clean_env(home, HUSH_SERVER=server.url, HUSH_APP="revoked",
                                          HUSH_TOKEN=created["token"]))
    assert proc.stdout.readline().strip() == "hunter2-v1"
    server.call("DELETE", f"/tokens/{created['id']}")
    out, err = proc.communicate("go\n", timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert out.strip() == "hunter2-v1"
    assert "hush.secrets keeps the last secrets" in err and created["token"] not in err
