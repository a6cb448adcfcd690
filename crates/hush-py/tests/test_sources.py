"""Where hush.secrets reads (compat §1.1–§1.6), in a fresh interpreter each time: Streamlit's
files and order, the file `hush run` hands over first, and what happens with no secrets."""

from __future__ import annotations

import json

from conftest import run_py, write

DUMP = """
import json, hush
print(json.dumps(hush.secrets.to_dict()))
"""


def dump(cwd, home, env=None, script=None):
    r = run_py(DUMP, cwd=cwd, home=home, env=env, script=script)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_global_then_project_shallow_merge_in_first_seen_order(cwd, home):
    write(home / ".streamlit/secrets.toml", 'a = "g"\nonly_global = 1\n[db]\nhost = "g"\nuser = "g"\n')
    write(cwd / ".streamlit/secrets.toml", '[db]\nhost = "p"\n\n')
    got = dump(cwd, home)
    # Rule 2: a later file's top-level key replaces the earlier value whole.
    assert got == {"a": "g", "only_global": 1, "db": {"host": "p"}}
    assert list(got) == ["a", "only_global", "db"]


def test_the_main_scripts_directory_is_read_last(cwd, home):
    write(cwd / ".streamlit/secrets.toml", 'a = "project"\nb = "project"\n')
    app = cwd / "app"
    write(app / ".streamlit/secrets.toml", 'b = "script"\n')
    assert dump(cwd, home, script=app / "main.py") == {"a": "project", "b": "script"}


def test_hush_run_file_is_preferred_over_everything(cwd, home, tmp_path):
    write(home / ".streamlit/secrets.toml", 'a = "global"\n')
    write(cwd / ".streamlit/secrets.toml", 'a = "project"\n')
    listed = write(tmp_path / "listed.toml", 'a = "listed"\n')
    handed = write(tmp_path / "run" / "secrets.toml", 'a = "hush run"\n')
    env = {"HUSH_SECRETS_FILE": str(handed), "STREAMLIT_SECRETS_FILES": str(listed),
           # Direct mode is not used under hush run either.
           "HUSH_SERVER": "http://127.0.0.1:9", "HUSH_APP": "web", "HUSH_TOKEN": "hush_app_x"}
    assert dump(cwd, home, env) == {"a": "hush run"}


def test_file_lists_and_secret_directories(cwd, home, tmp_path):
    write(cwd / ".streamlit/secrets.toml", 'a = "project"\n')
    one = write(tmp_path / "one.toml", 'a = "one"\nb = "one"\n')
    d = tmp_path / "k8s"
    write(d / "db/user", " admin \n")
    write(d / "api/key", "k1")
    write(d / "api/region", "eu")
    env = {"STREAMLIT_SECRETS_FILES": f"{one} {tmp_path / 'missing.toml'} {d}"}
    assert dump(cwd, home, env) == {"a": "one", "b": "one", "db": "admin",
                                    "api": {"key": "k1", "region": "eu"}}
    # [secrets] files in .streamlit/config.toml, relative to the working directory.
    write(cwd / ".streamlit/config.toml", '[secrets]\nfiles = ["one.toml"]\n')
    write(cwd / "one.toml", 'c = "from config"\n')
    assert dump(cwd, home) == {"c": "from config"}


def test_no_secrets_get_and_in_do_not_raise(cwd, home):
    r = run_py("""
        import hush
        print(hush.secrets.get("x", "dflt"), "x" in hush.secrets, hasattr(hush.secrets, "x"))
        try:
            hush.secrets["x"]
        except FileNotFoundError as e:
            print(type(e).__name__, "|", e)
        """, cwd=cwd, home=home)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.strip().splitlines()
    assert first == "dflt False False"
    assert second == (
        "SecretsNotFoundError | No secrets found. Valid paths for a secrets.toml file or secret "
        f"directories are: {home}/.streamlit/secrets.toml, {cwd}/.streamlit/secrets.toml")


def test_a_file_created_later_is_read_on_the_next_access(cwd, home):
    r = run_py("""
        import pathlib, hush
        print("x" in hush.secrets)
        p = pathlib.Path(".streamlit/secrets.toml")
        p.parent.mkdir()
        p.write_text('x = "now"\\n')
        print(hush.secrets.x)
        """, cwd=cwd, home=home)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "now"]


def test_a_parse_error_is_not_hidden_behind_attribute_errors(cwd, home):
    write(cwd / ".streamlit/secrets.toml", 'a = "hunter2"\nb = \n')
    r = run_py("""
        import hush
        for read in (lambda: hush.secrets.a, lambda: hush.secrets["a"], lambda: hush.secrets.get("a")):
            try:
                read()
            except ValueError as e:
                print(type(e).__name__, "|", e)
        """, cwd=cwd, home=home)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert line.startswith(f"SecretsParseError | Error parsing secrets file at {cwd}/.streamlit/secrets.toml: ")
        assert "(at line 2, column" in line and "hunter2" not in line
