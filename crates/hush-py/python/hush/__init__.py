"""hush for Python: your app's secrets with ``st.secrets`` semantics, anywhere.

    import hush

    hush.secrets["db_username"]          # or hush.secrets.db_username
    hush.secrets.db_credentials.password # tables are nested read-only mappings
    connect(**hush.secrets.db_credentials)

``hush.secrets`` reads, in this order:

1. the file ``hush run`` hands over (``HUSH_SECRETS_FILE``), so
   ``hush run --app web -- python script.py`` works with a plain interpreter;
2. a hush server, when ``HUSH_SERVER``, ``HUSH_APP`` and ``HUSH_TOKEN`` (an app token) are
   all set: no ``hush run`` needed (notebooks, long-running workers);
3. Streamlit's files: ``~/.streamlit/secrets.toml``, ``./.streamlit/secrets.toml`` and the
   main script's ``.streamlit/secrets.toml``, or the list in ``[secrets] files`` of
   ``.streamlit/config.toml`` or ``STREAMLIT_SECRETS_FILES`` (files and secret directories).

It loads on first use and then follows changes (file content, or the server's watch
stream): every read sees the newest secrets, and ``hush.on_change(fn)`` calls ``fn`` with the
names of the keys that changed (never their values). Unlike ``st.secrets``, it never
changes ``os.environ`` (``hush run`` sets the environment of the program it starts).
"""

import atexit as _atexit
from collections.abc import Callable as _Callable
from collections.abc import Mapping as _Mapping
from typing import TypeVar as _TypeVar

from . import _hush
from ._errors import (
    SecretAttributeError,
    SecretKeyError,
    SecretsError,
    SecretsNotFoundError,
    SecretsParseError,
    SecretsReadOnlyError,
    SecretsServerError,
    SecretsSourceError,
)
from ._hush import Secrets

__all__ = [
    "SecretAttributeError",
    "SecretKeyError",
    "Secrets",
    "SecretsError",
    "SecretsNotFoundError",
    "SecretsParseError",
    "SecretsReadOnlyError",
    "SecretsServerError",
    "SecretsSourceError",
    "on_change",
    "secrets",
]

_Mapping.register(Secrets)

secrets: Secrets = _hush.live()
"""The process's secrets, always the newest. See the module documentation."""

_F = _TypeVar("_F", bound=_Callable[[list[str]], object])


def on_change(callback: _F) -> _F:
    """Call ``callback(changed)`` whenever ``hush.secrets`` changes, with the sorted dotted
    names of the keys added, removed or changed (``["api_key", "db.password"]``), never
    their values. It runs on hush's watcher thread; an exception in it is reported and
    ignored. Loads the secrets first if they are not loaded yet (raising if they cannot
    be). Returns ``callback``, so it also works as a decorator.
    """
    _hush.on_change(callback)
    return callback


# Stop following changes before the interpreter shuts down, so no watcher thread calls
# into Python after it can no longer be called.
_atexit.register(_hush.shutdown)
