"""Drives the Streamlit end-to-end test through hush's HTTP API (standard library only).

  drive.py setup   SERVER PASSWORD STATE   -> signs in, creates the app "demo" with the seed's
                                              secrets and an app token; prints the app token
  drive.py measure SERVER STATE OUT SAVES TIMES
                                           -> waits for the app's first run, then saves a new
                                              db_username SAVES times and measures each
                                              save -> re-run with the new value
"""

import json
import os
import random
import statistics
import sys
import time
import urllib.error
import urllib.request

APP = "demo"
DEADLINE = 60.0

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


def measure(server, state_path, out, saves, times_path):
    with open(state_path) as f:
        personal = json.load(f)["personal"]

    first = wait_for("the app's first run", lambda: records(out))[0]
    print(f"first run: pid {first['pid']}, db_username {first['db_username']!r}")
    if first["db_username"] != "Jane" or not first["env_matches"]:
        fail(f"first run saw {first['db_username']!r} / env {first['env_db_username']!r}")
    if first["things_i_like"] != ["Streamlit", "Python"] or not first["verbose_equals_compact"]:
        fail("nested secrets or **st.secrets.db_credentials did not come through")
    pid = first["pid"]

    times_ms = []
    file_times_ms = []
    version = None
    for i in range(1, saves + 1):
        username = f"user-{i:02d}"
        # Streamlit polls the secrets file every 0.2 s. Saving right after the previous run
        # would lock each save to the same point of that cycle; a random pause spreads them
        # over it, so the times show the real spread.
        time.sleep(random.uniform(0, 0.25))
        latest = api(server, "GET", f"/apps/{APP}/secrets", personal)["version"]
        seen = len(records(out))
        t0 = time.time()
        saved = api(server, "PUT", f"/apps/{APP}/secrets", personal,
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
        instances = api(server, "GET", f"/apps/{APP}/instances", personal)["instances"]
        return [x for x in instances
                if x["applied_version"] == version and x["pid"] == pid and x["status"] == "running"]

    wait_for(f"hush run to report version {version} for pid {pid}", reported, 10)
    print(f"hush run reports version {version} applied, pid {pid}")

    def stats(label, values):
        return (f"{label}, {len(values)} saves: min {min(values):.1f} ms, "
                f"median {statistics.median(values):.1f} ms, max {max(values):.1f} ms")

    summary = stats("save -> re-run with the new value", times_ms)
    detail = stats("save -> secrets file replaced by hush run", file_times_ms)
    print(summary)
    print(detail)
    with open(times_path, "w", encoding="utf-8") as f:
        f.write(summary + "\n")
        f.write(detail + "\n")
        f.write("re-run (ms): " + ", ".join(f"{t:.1f}" for t in times_ms) + "\n")
        f.write("file (ms): " + ", ".join(f"{t:.1f}" for t in file_times_ms) + "\n")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "setup" and len(sys.argv) == 5:
        setup(*sys.argv[2:5])
    elif cmd == "measure" and len(sys.argv) == 7:
        measure(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
    else:
        sys.exit(__doc__)
