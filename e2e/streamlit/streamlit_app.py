"""The example app from Streamlit Community Cloud's "Secrets management" page, run under
`hush run` or launched by `hush serve --apps-dir`. It also appends what it saw (one JSON line
per script run) to the file named by $E2E_OUT, which is how scripts/e2e-streamlit.sh sees
re-runs without a browser. (Not a HUSH_ name: the server keeps HUSH_* variables from the apps
it launches.) And it prints its secret values to stdout on every run, so the test can check
that hush masks them in the output it keeps.
"""

import json
import os
import time

import streamlit as st

# Everything is accessible via the st.secrets dict:
st.write("DB username:", st.secrets["db_username"])
st.write("DB password:", st.secrets["db_password"])
st.write("My cool secrets:", st.secrets["my_cool_secrets"]["things_i_like"])

# And the root-level secrets are also accessible as environment variables:
st.write(
    "Has environment variables been set:",
    os.environ["db_username"] == st.secrets["db_username"],
)


class MyDb:
    """A stand-in for a database driver: connect(username=..., password=...)."""

    def connect(self, username: str, password: str) -> str:
        return f"{username} (password of {len(password)} characters)"


my_db = MyDb()

# Verbose version
verbose = my_db.connect(
    username=st.secrets.db_credentials.username,
    password=st.secrets.db_credentials.password,
)
# Far more compact version!
compact = my_db.connect(**st.secrets.db_credentials)
st.write("Connected as", compact)

out = os.environ.get("E2E_OUT")
if out:
    print(
        f"e2e run: db_username={st.secrets['db_username']} "
        f"db_password={st.secrets['db_password']} "
        f"db_credentials={st.secrets.db_credentials.username}/{st.secrets.db_credentials.password}",
        flush=True,
    )
    record = {
        "time": time.time(),
        "pid": os.getpid(),
        "db_username": st.secrets["db_username"],
        "env_db_username": os.environ.get("db_username"),
        "env_matches": os.environ["db_username"] == st.secrets["db_username"],
        "things_i_like": list(st.secrets["my_cool_secrets"]["things_i_like"]),
        "connected": compact,
        "verbose_equals_compact": verbose == compact,
        # Set by hush run: the test reads its modification time to split hush's share of the
        # delay from Streamlit's.
        "secrets_file": os.environ.get("HUSH_SECRETS_FILE"),
        # What of hush's own environment reached the app.
        "hush_env": sorted(k for k in os.environ if k.startswith("HUSH_")),
    }
    with open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
