"""Drives the Streamlit end-to-end test through hush's HTTP API (standard library only).

  drive.py setup   SERVER PASSWORD STATE   -> signs in, creates the app "demo" with the seed's
                                              secrets and an app token; prints the app token
  drive.py launch  SERVER STATE APP FOLDER PORT COMMAND...
                                           -> creates APP with the seed's secrets and launch
                                              settings (FOLDER inside the server's apps
                                              directory, COMMAND, PORT), waits until
                                              GET /apps/APP/launch says running and Streamlit
                                              answers on PORT; prints the launched pid
  drive.py measure SERVER STATE OUT SAVES TIMES [--app APP] [--launched] [--label LABEL]
                                           -> waits for the app's first run, then saves a new
                                              db_username SAVES times and measures each
                                              save -> re-run with the new value; with
                                              --launched, APP is server-launched (checked
                                              through /launch, its output through the logs)
                                              and the times are appended to TIMES, each line
                                              starting with LABEL
"""

import json
import os
import random
import shlex
import statistics
import sys
import time
import urllib.error
import urllib.request

APP = "demo"
DEADLINE = 60.0
CONCEALED = "<concealed by hush>"

# The secrets from Streamlit Community Cloud's "Secrets management" page.
SEED = """\
# Everything in this section will be available as an environment variable
db_username = "{username}"
db_password = "12345qwerty"

# You can also add other sections if you like.
# The contents of sections as shown below will not become environment
# variables, but they'll be easily accessible from within Streamlit anyway.
[my_cool_secrets]
things_i_like = ["Streamlit", "Python"]

[db_credentials]
username = "my_username"
password = "my_password"
"""


def personal_token(state_path):
    with open(state_path) as f:
        return json.load(f)["personal"]


def api(server, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{server}/api/v1{path}", data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        sys.exit(f"drive: {method} {path} failed: HTTP {e.code} {e.read().decode(errors='replace')}")
    return json.loads(raw) if raw else None


def setup(server, password, state_path):
    personal = api(server, "POST", "/auth/token",
                   body={"name": "olivia", "password": password, "token_name": "e2e"})["token"]
    api(server, "POST", "/apps", personal, {"name": APP, "toml": SEED.format(username="Jane")})
    app_token = api(server, "POST", "/tokens", personal,
                    {"kind": "app", "app": APP, "name": "e2e-streamlit"})["token"]
    fd = os.open(state_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"personal": personal}, f)
    print(app_token)


def launch(server, state_path, app, folder, port, command):
    personal = personal_token(state_path)
    api(server, "POST", "/apps", personal,
        {"name": app, "toml": SEED.format(username="Jane"),
         "launch": {"folder": folder, "command": shlex.join(command), "port": int(port)}})

    def running():
        status = api(server, "GET", f"/apps/{app}/launch", personal)
        if status["status"] in ("crashed", "failed") or status["restarts"]:
            lines = "\n".join(line["text"] for line in status["logs"][-30:])
            fail(f"the launched app is {status['status']} after {status['restarts']} restarts "
                 f"({status.get('message') or status.get('exit_code')}):\n{lines}")
        return status if status["status"] == "running" and status["pid"] else None

    status = wait_for(f"GET /apps/{app}/launch to say running", running)

    def healthy():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                        timeout=2) as resp:
                return resp.status == 200
        except OSError:
            running()  # fails at once if the app died meanwhile
            return False

    wait_for(f"the launched Streamlit to answer on port {port}", healthy)
    print(status["pid"])


def records(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def wait_for(what, check, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            sys.exit(f"drive: timed out after {deadline:.0f}s waiting for {what}")
        time.sleep(0.005)


def fail(message):
    sys.exit(f"drive: FAILED: {message}")


def measure(server, state_path, out, saves, times_path, app=APP, launched=False, label=""):
    personal = personal_token(state_path)
    runner = "the server" if launched else "hush run"

    first = wait_for("the app's first run", lambda: records(out))[0]
    print(f"first run: pid {first['pid']}, db_username {first['db_username']!r}")
    if first["db_username"] != "Jane" or not first["env_matches"]:
        fail(f"first run saw {first['db_username']!r} / env {first['env_db_username']!r}")
    if first["things_i_like"] != ["Streamlit", "Python"] or not first["verbose_equals_compact"]:
        fail("nested secrets or **st.secrets.db_credentials did not come through")
    pid = first["pid"]
    if launched:
        status = api(server, "GET", f"/apps/{app}/launch", personal)
        if status["pid"] != pid:
            fail(f"the app runs as pid {pid}, /launch says pid {status['pid']}")

    times_ms = []
    file_times_ms = []
    version = None
    for i in range(1, saves + 1):
        username = f"user-{i:02d}"
        # Streamlit polls the secrets file every 0.2 s. Saving right after the previous run
        # would lock each save to the same point of that cycle; a random pause spreads them
        # over it, so the times show the real spread.
        time.sleep(random.uniform(0, 0.25))
        latest = api(server, "GET", f"/apps/{app}/secrets", personal)["version"]
        seen = len(records(out))
        t0 = time.time()
        saved = api(server, "PUT", f"/apps/{app}/secrets", personal,
                     {"toml": SEED.format(username=username), "base_version": latest,
                      "message": f"e2e save {i}"})
        version = saved["version"]

        def new_run():
            for rec in records(out)[seen:]:
                if rec["db_username"] == username:
                    return rec
            return None

        rec = wait_for(f"a run showing db_username {username!r}", new_run)
        ms = (rec["time"] - t0) * 1000
        times_ms.append(ms)
        # When hush replaced the secrets file (the rest is Streamlit's poll and the re-run).
        file_ms = (os.stat(rec["secrets_file"]).st_mtime - t0) * 1000
        file_times_ms.append(file_ms)
        if rec["env_db_username"] != username or not rec["env_matches"]:
            fail(f"os.environ has {rec['env_db_username']!r}, st.secrets has {username!r}")
        if rec["pid"] != pid:
            fail(f"Streamlit was restarted: pid {pid} -> {rec['pid']}")
        print(f"save {i:2d} (version {version}): secrets file replaced after {file_ms:6.1f} ms, "
              f"new value in the app after {ms:6.1f} ms, same pid {pid}")

    def reported():
        instances = api(server, "GET", f"/apps/{app}/instances", personal)["instances"]
        return [x for x in instances
                if x["applied_version"] == version and x["pid"] == pid and x["status"] == "running"
                and (not launched or x["instance_id"].startswith("server:"))]

    wait_for(f"{runner} to report version {version} for pid {pid}", reported, 10)
    print(f"{runner} reports version {version} applied, pid {pid}")

    if launched:
        def launch_applied():
            status = api(server, "GET", f"/apps/{app}/launch", personal)
            return status if status["applied_version"] == version else None

        status = wait_for(f"/launch to show version {version} applied", launch_applied, 10)
        if status["status"] != "running" or status["pid"] != pid or status["restarts"] != 0:
            fail(f"/launch shows {status['status']}, pid {status['pid']}, "
                 f"{status['restarts']} restarts; expected running, pid {pid}, 0 restarts")
        print(f"/launch: running, pid {pid}, version {version} applied, 0 restarts")
        check_logs(status["logs"], saves)

    def stats(label, values):
        return (f"{label}, {len(values)} saves: min {min(values):.1f} ms, "
                f"median {statistics.median(values):.1f} ms, max {max(values):.1f} ms")

    summary = stats("save -> re-run with the new value", times_ms)
    detail = stats(f"save -> secrets file replaced by {runner}", file_times_ms)
    print(label + summary)
    print(label + detail)
    with open(times_path, "a" if launched else "w", encoding="utf-8") as f:
        f.write(label + summary + "\n")
        f.write(label + detail + "\n")
        f.write(label + "re-run (ms): " + ", ".join(f"{t:.1f}" for t in times_ms) + "\n")
        f.write(label + "file (ms): " + ", ".join(f"{t:.1f}" for t in file_times_ms) + "\n")


def check_logs(logs, saves):
    """The app prints its secrets on every run: the kept output must show them masked."""
    values = ["Jane", "12345qwerty", "Streamlit", "Python", "my_username", "my_password"]
    values += [f"user-{i:02d}" for i in range(1, saves + 1)]
    for line in logs:
        for value in values:
            if value in line["text"]:
                fail(f"the launch logs show the secret value {value!r}: {line['text']!r}")
    runs = [line["text"] for line in logs if line["text"].startswith("e2e run:")]
    if len(runs) < saves + 1:
        fail(f"expected at least {saves + 1} 'e2e run:' lines in the launch logs, found "
             f"{len(runs)} (of {len(logs)} lines)")
    if not all(CONCEALED in text for text in runs):
        fail(f"an 'e2e run:' line is not masked: {runs!r}")
    print(f"launch logs: {len(logs)} lines, the app printed its secrets on {len(runs)} runs, "
          f"all masked, e.g. {runs[-1]!r}")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "setup" and len(sys.argv) == 5:
        setup(*sys.argv[2:5])
    elif cmd == "launch" and len(sys.argv) >= 8:
        launch(*sys.argv[2:7], sys.argv[7:])
    elif cmd == "measure" and len(sys.argv) >= 7:
        opts = {}
        rest = sys.argv[7:]
        while rest:
            flag = rest.pop(0)
            if flag == "--launched":
                opts["launched"] = True
            elif flag in ("--app", "--label") and rest:
                opts[flag[2:]] = rest.pop(0)
            else:
                sys.exit(__doc__)
        measure(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6], **opts)
    else:
        sys.exit(__doc__)
