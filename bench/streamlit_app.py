"""The app `scripts/bench` runs under `hush run` for propagation (b): every script run appends
`<unix time> <st.secrets["bench_value"]>` to $BENCH_LOG, so the time a new value reaches a
re-run is visible from outside."""

import os
import time

import streamlit as st

value = st.secrets["bench_value"]
with open(os.environ["BENCH_LOG"], "a", encoding="utf-8") as log:
    log.write(f"{time.time():.6f} {value}\n")
st.write("running with version", value[:8])
