#!/usr/bin/env python3
"""A headless browser stand-in: opens one Streamlit session over the websocket and asks for a
first run, then keeps reading (so re-runs have a session to run for) until --seconds pass.

Usage: st_session.py --port 8501 --seconds 120
"""

import argparse
import time

from streamlit.proto.BackMsg_pb2 import BackMsg
from websockets.sync.client import connect


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    args = ap.parse_args()
    url = f"ws://127.0.0.1:{args.port}/_stcore/stream"
    deadline = time.monotonic() + args.seconds
    while True:  # Streamlit may still be starting
        try:
            ws = connect(url, subprotocols=["streamlit"], max_size=None, open_timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    with ws:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_script_hash = ""
        ws.send(msg.SerializeToString())
        while time.monotonic() < deadline:
            try:
                ws.recv(timeout=1)
            except TimeoutError:
                pass


if __name__ == "__main__":
    main()
