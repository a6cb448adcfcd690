"""st.secrets semantics (compat §3.1–§3.9), error texts and classes, typed values against
tomllib, on the installed wheel."""

from __future__ import annotations

import collections.abc
import datetime
import math
import os
import sys
import tomllib
from pathlib import Path

import pytest

import hush
from hush import Secrets

DOC = """\
db_username = "Jane"
db_password = "hunter2-password"
port = 5432
ratio = 0.5
debug = true
tags = ["a", "b"]
started = 1979-05-27T07:32:00Z
local = 1979-05-27T07:32:00.999999
day = 1979-05-27
at = 07:32:00
west = 1979-05-27T00:32:00.5-07:00
nested = [[1, 2], ["x"]]
keys = "a key named like a method"

[db_credentials]
username = "my_username"
password = "my_password"

[db_credentials.pool]
size = 5

[[servers]]
name = "alpha"
ip = "10.0.0.1"

[[servers]]
name = "beta"
"""


@pytest.fixture
def s() -> Secrets:
    return Secrets.from_toml(DOC)


def test_the_wheel_is_what_is_tested():
    # Never the source tree: the package comes from this venv's site-packages, and the
    # compiled module with it.
    assert Path(hush.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()), hush.__file__
    assert os.path.dirname(hush._hush.__file__) == os.path.dirname(hush.__file__)


def test_key_and_attribute_access_are_the_same(s):
    assert s["db_username"] == s.db_username == "Jane"
    assert s["db_credentials"]["username"] == s.db_credentials.username == "my_username"
    assert s.db_credentials.pool.size == s["db_credentials"]["pool"]["size"] == 5
    assert isinstance(s["port"], int) and s.port == 5432


def test_tables_are_read_only_mappings_and_unpack(s):
    creds = s.db_credentials
    assert isinstance(creds, Secrets) and isinstance(creds, collections.abc.Mapping)

    def connect(username, password, pool):
        return username, password, dict(pool)

    assert connect(**s.db_credentials) == ("my_username", "my_password", {"size": 5})
    assert {**s.db_credentials.pool} == {"size": 5}


def test_mapping_protocol_in_file_order(s):
    order = ["db_username", "db_password", "port", "ratio", "debug", "tags", "started", "local",
             "day", "at", "west", "nested", "keys", "db_credentials", "servers"]
    assert list(s) == order
    assert list(s.keys()) == order
    assert [k for k, _ in s.items()] == order
    assert len(s) == len(order) and len(s.values()) == len(order)
    assert "port" in s and "nope" not in s and 5 not in s
    assert s.get("port") == 5432 and s.get("nope") is None and s.get("nope", 7) == 7
    assert list(s.db_credentials) == ["username", "password", "pool"]


def test_equality_with_plain_dicts(s):
    assert s == s.to_dict()
    assert s.db_credentials == {"username": "my_username", "password": "my_password", "pool": {"size": 5}}
    assert s.db_credentials != {"username": "my_username"}
    assert s.db_credentials.pool == Secrets.from_toml("size = 5")
    assert (s == 5) is False
    with pytest.raises(TypeError):
        hash(s)


def test_typed_values_are_what_tomllib_gives(s):
    assert s.to_dict() == tomllib.loads(DOC)
    assert s.debug is True and s.ratio == 0.5 and s.tags == ["a", "b"]
    assert s.started == datetime.datetime(1979, 5, 27, 7, 32, tzinfo=datetime.timezone.utc)
    assert s.local == datetime.datetime(1979, 5, 27, 7, 32, 0, 999999) and s.local.tzinfo is None
    assert s.day == datetime.date(1979, 5, 27) and type(s.day) is datetime.date
    assert s.at == datetime.time(7, 32)
    assert s.west.utcoffset() == datetime.timedelta(hours=-7) and s.west.microsecond == 500000
    # Floats and integers as tomllib reads them, including the odd ones.
    odd = 'i = 0xff\no = 0o17\nb = 0b101\nbig = 9_223_372_036_854_775_807\nf = 1e22\nn = -0.0\ninf = -inf\n'
    assert Secrets.from_toml(odd).to_dict() == tomllib.loads(odd)
    assert math.isnan(Secrets.from_toml("x = nan").x)


def test_tables_in_arrays_are_secrets_too(s):
    # Rule 19 (better than Streamlit, whose [[servers]] come back as plain dicts).
    assert s.servers[0].name == "alpha" and s.servers[1]["name"] == "beta"
    assert isinstance(s.servers[0], Secrets)
    assert s.nested == [[1, 2], ["x"]]


def test_nothing_returned_changes_the_store(s):
    # Rule 20: to_dict() and lists are independent copies.
    d = s.to_dict()
    d["db_credentials"]["username"] = "changed"
    d["tags"].append("c")
    lst = s.tags
    lst.append("z")
    s.servers[0].to_dict()["name"] = "changed"
    assert s.db_credentials.username == "my_username"
    assert s.tags == ["a", "b"] and s.servers[0].name == "alpha"


def test_keys_named_like_methods_need_brackets(s):
    # Rule 21, as in Streamlit: the method wins for attribute access.
    assert callable(s.keys) and s["keys"] == "a key named like a method"


def test_missing_keys_raise_streamlits_text_and_builtin_classes(s, tmp_path):
    with pytest.raises(KeyError) as e:
        s["nope"]
    assert isinstance(e.value, hush.SecretKeyError) and isinstance(e.value, hush.SecretsError)
    msg = e.value.args[0]
    assert msg.startswith('st.secrets has no key "nope". Did you forget to add it'), msg
    # KeyError's own display, as Streamlit shows it.
    assert str(e.value) == repr(msg)

    with pytest.raises(AttributeError) as e:
        s.db_credentials.nope
    assert isinstance(e.value, hush.SecretAttributeError)
    assert str(e.value).startswith('st.secrets has no attribute "nope". Did you forget to add it')
    assert not hasattr(s, "nope") and getattr(s, "nope", "dflt") == "dflt"

    # The hint names where hush looked.
    f = tmp_path / "secrets.toml"
    f.write_text("a = 1\n")
    with pytest.raises(KeyError, match=str(f)):
        Secrets.from_path(f)["b"]


def test_writes_raise_type_errors(s):
    cases = [
        (lambda: s.__setitem__("port", 1), "Secrets does not support item assignment."),
        (lambda: setattr(s, "port", 1), "Secrets does not support attribute assignment."),
        (lambda: s.__delitem__("port"), "Secrets does not support item deletion."),
        (lambda: delattr(s.db_credentials, "username"), "Secrets does not support attribute deletion."),
    ]
    for write, text in cases:
        with pytest.raises(TypeError) as e:
            write()
        assert isinstance(e.value, hush.SecretsReadOnlyError)
        assert str(e.value) == text
    assert s.port == 5432 and s.db_credentials.username == "my_username"


def test_no_value_in_repr_or_errors(s):
    assert "hunter2" not in repr(s) and "db_password" in repr(s)
    with pytest.raises(KeyError) as e:
        s["hunter2-password"[:0] + "missing"]
    assert "hunter2" not in str(e.value)


def test_parse_errors_name_file_line_and_column(tmp_path):
    f = tmp_path / "secrets.toml"
    f.write_text('ok = "hunter2-value"\nbad = = 1\n')
    with pytest.raises(ValueError) as e:
        Secrets.from_path(f)
    assert isinstance(e.value, hush.SecretsParseError)
    text = str(e.value)
    assert text.startswith(f"Error parsing secrets file at {f}: ") and "(at line 2, column " in text, text
    assert "hunter2" not in text
    # TOML 1.1-only syntax is refused, saying so (Streamlit's tomllib could not read it).
    f.write_text('a = { x = 1, }\n')
    with pytest.raises(hush.SecretsParseError, match="TOML 1.1"):
        Secrets.from_path(f)


def test_no_secrets_found(tmp_path):
    missing = [tmp_path / "a.toml", tmp_path / "b.toml"]
    with pytest.raises(FileNotFoundError) as e:
        Secrets.from_paths(missing)
    assert isinstance(e.value, hush.SecretsNotFoundError)
    assert str(e.value) == (
        "No secrets found. Valid paths for a secrets.toml file or secret directories are: "
        f"{missing[0]}, {missing[1]}")
    with pytest.raises(OSError) as e:
        Secrets.from_path(tmp_path / "not-toml-nor-dir")
    assert isinstance(e.value, hush.SecretsSourceError)
    assert str(e.value).endswith("path is not a .toml file or a directory")


def test_crlf_multiline_strings_read_as_tomllib_reads_them(tmp_path):
    text = 'pem = """\r\n-----BEGIN KEY-----\r\nAAAA\r\n-----END KEY-----\r\n"""\r\nx = \'\'\'a\r\nb\'\'\'\r\n'
    f = tmp_path / "secrets.toml"
    f.write_bytes(text.encode())
    s = Secrets.from_path(f)
    with open(f, "rb") as fh:
        assert s.to_dict() == tomllib.load(fh)
    assert s.pem == "-----BEGIN KEY-----\nAAAA\n-----END KEY-----\n"


def test_byte_order_mark_is_accepted():
    # Rule 7a (better): Streamlit fails on it.
    assert Secrets.from_toml("\ufeffa = 1\n").a == 1


def test_stub_matches_the_module():
    """_hush.pyi (what editors read) names exactly what the compiled module has."""
    import ast
    stub = ast.parse(Path(hush._hush.__file__).with_name("_hush.pyi").read_text())
    funcs = {n.name for n in stub.body if isinstance(n, ast.FunctionDef)}
    classes = {n.name: n for n in stub.body if isinstance(n, ast.ClassDef)}
    runtime = {n for n in dir(hush._hush) if not n.startswith("_")}
    assert funcs | set(classes) == runtime
    stub_methods = {n.name for n in classes["Secrets"].body if isinstance(n, ast.FunctionDef)}
    public = {n for n in vars(Secrets) if not n.startswith("_")}
    assert public == {n for n in stub_methods if not n.startswith("_")}
    # Dunders exist too (__getattr__ is the type's attribute hook, exercised above).
    assert [n for n in stub_methods - public if not hasattr(Secrets, n)] == ["__getattr__"]
    assert set(hush.__all__) <= set(dir(hush))
