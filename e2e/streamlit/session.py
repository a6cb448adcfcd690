"""A minimal Streamlit browser stand-in: opens a session on /_stcore/stream, asks for one script
run, and then stays connected (reading and discarding what the server sends) so that
`server.runOnSave` re-runs the script in this session whenever the secrets file changes.

Usage: python session.py ws://127.0.0.1:PORT/_stcore/stream
"""

import asyncio
import sys

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg


async def main(url: str) -> None:
    # The first subprotocol entry is the one selected; the rest carry tokens (none here).
    async with websockets.connect(url, subprotocols=["streamlit"], max_size=None) as ws:
        rerun = BackMsg()
        rerun.rerun_script.query_string = ""
        rerun.rerun_script.page_script_hash = ""
        await ws.send(rerun.SerializeToString())
        async for data in ws:
            msg = ForwardMsg()
            msg.ParseFromString(data)
            if msg.WhichOneof("type") == "script_finished":
                print("session: script run finished", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1]))
    except (KeyboardInterrupt, websockets.ConnectionClosed):
        pass
