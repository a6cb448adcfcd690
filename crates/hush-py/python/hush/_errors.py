"""The exceptions hush.secrets raises. Each also subclasses the built-in exception that code
written for st.secrets already catches (KeyError, AttributeError, TypeError, ...)."""


class SecretsError(Exception):
    """Base class of every hush.secrets error. Messages never contain a secret value."""


class SecretKeyError(SecretsError, KeyError):
    """``secrets["x"]`` of a missing key: ``st.secrets has no key "x". <where hush looked>``."""


class SecretAttributeError(SecretsError, AttributeError):
    """``secrets.x`` of a missing key: ``st.secrets has no attribute "x". <where hush looked>``."""


class SecretsReadOnlyError(SecretsError, TypeError):
    """Any write: ``Secrets does not support item assignment.`` (and attribute assignment,
    item deletion, attribute deletion)."""


class SecretsNotFoundError(SecretsError, FileNotFoundError):
    """No secrets file or directory exists: ``No secrets found. Valid paths for a secrets.toml
    file or secret directories are: <paths>``."""


class SecretsParseError(SecretsError, ValueError):
    """A secrets file (or ``.streamlit/config.toml``) is not valid TOML 1.0:
    ``Error parsing secrets file at <path>: <what> (at line L, column C)``."""


class SecretsSourceError(SecretsError, OSError):
    """A source cannot be used: a ``secrets.files`` path that is neither a ``.toml`` file nor a
    directory, a badly laid out secrets directory, or a file that cannot be read."""


class SecretsServerError(SecretsError):
    """Direct mode: the hush server cannot be reached, or refused the token or the app."""


# Shown as hush.SecretKeyError (where they are imported from), not hush._errors.
for _cls in list(globals().values()):
    if isinstance(_cls, type) and issubclass(_cls, SecretsError):
        _cls.__module__ = "hush"
del _cls
