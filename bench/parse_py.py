#!/usr/bin/env python3
"""Python's side of the parsing benchmark: tomllib, Streamlit's st.secrets and hush.secrets
(the hush-secrets wheel, when installed) loading the same generated files as `hush-bench parse`,
timed the same way (timeit autorange, best and median of --repeat), interleaved per size.
Measures are those of ../shared/bench/streamlit-secrets.py, whose make_toml is used.

Run in a venv with streamlit:  python parse_py.py --keys 10,1000,10000 --dir /tmp/p --repeat 15
Prints one `RESULT {json}` line per measure.
"""

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
import timeit
import tomllib


def load_make_toml(shared: str | None):
    if shared and os.path.exists(shared):
        spec = importlib.util.spec_from_file_location("streamlit_secrets_bench", shared)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.make_toml

    def make_toml(n: int) -> str:  # the same text, if ../shared is not there
        lines = ["# generated secrets for benchmarking"]
        for i in range(n):
            lines.append(f'key_{i:05d} = "v{i:05d}-abcdefghijklmnopqrstuvwxyz0"')
        return "\n".join(lines) + "\n"

    return make_toml


def bench(stmt, repeat: int):
    t = timeit.Timer(stmt)
    number, _ = t.autorange()
    number = max(1, number)
    times = [x / number for x in t.repeat(repeat=repeat, number=number)]
    return min(times), statistics.median(times), number


def emit(impl: str, what: str, n: int, size: int, best: float, med: float, number: int, repeat: int):
    print("RESULT " + json.dumps({
        "bench": "parse", "impl": impl, "what": what, "keys": n, "bytes": size,
        "best_ms": best * 1e3, "median_ms": med * 1e3, "number": number, "repeat": repeat,
    }), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", default="10,1000,10000")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--shared")
    args = ap.parse_args()
    make_toml = load_make_toml(args.shared)

    import streamlit
    from streamlit import config
    from streamlit.runtime.secrets import Secrets

    try:
        import hush
    except ImportError:
        hush = None
        print("# hush-secrets is not installed: no hush.secrets rows", file=sys.stderr)

    print(f"# python {sys.version.split()[0]}, streamlit {streamlit.__version__}", file=sys.stderr)
    os.makedirs(args.dir, exist_ok=True)
    for n in (int(k) for k in args.keys.split(",")):
        path = os.path.join(args.dir, f"secrets_{n}.toml")
        text = make_toml(n)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        size = len(text.encode())
        config.set_option("secrets.files", [path])

        # one real first load, watcher install included: what `st.secrets` costs once per process
        s = Secrets()
        t0 = time.perf_counter()
        s["key_00000"]
        first = time.perf_counter() - t0
        emit("streamlit", "first_load", n, size, first, first, 1, 1)

        emit("tomllib", "parse", n, size, *bench(lambda: tomllib.loads(text), args.repeat), args.repeat)

        def read_parse():
            with open(path, "rb") as f:
                return tomllib.load(f)

        emit("tomllib", "load", n, size, *bench(read_parse, args.repeat), args.repeat)

        # Secrets() load + first access; the per-instance poll watcher is patched out (as in the
        # shared script), otherwise every instance adds a polling thread.
        orig = Secrets._maybe_install_file_watchers
        Secrets._maybe_install_file_watchers = lambda self: None
        try:
            emit("streamlit", "load", n, size,
                 *bench(lambda: Secrets()["key_00000"], args.repeat), args.repeat)
        finally:
            Secrets._maybe_install_file_watchers = orig

        data = tomllib.loads(text)

        def export_env():
            for k, v in data.items():
                os.environ[k] = str(v)

        emit("streamlit", "env_export", n, size, *bench(export_env, args.repeat), args.repeat)

        if hush is not None:
            # What st.secrets' `load` row does, with hush.Secrets: read, parse, first lookup
            # (its Python object built). Values become Python objects as they are read; the
            # to_dict row builds all of them.
            emit("hush-py", "load", n, size,
                 *bench(lambda: hush.Secrets.from_path(path)["key_00000"], args.repeat), args.repeat)
            emit("hush-py", "to_dict", n, size,
                 *bench(lambda: hush.Secrets.from_path(path).to_dict(), args.repeat), args.repeat)
            assert hush.Secrets.from_path(path).to_dict() == tomllib.loads(text)
    os._exit(0)  # the watcher threads of the real first loads are daemons


if __name__ == "__main__":
    main()
