"""A loopback TCP relay: ``python -m mlops_provider.demo.tcpproxy LISTEN_PORT TARGET_PORT``.

The distributed mode on one machine reaches its S3 server through this relay, so that S3 can be made unreachable
for a while (stop the relay: connections are refused and open ones drop) and reachable again (start it) while
the server keeps its objects. Nothing else: no buffering beyond the socket's, no rewriting.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _serve(listen_port: int, target_port: int, host: str) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(host, target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))

    server = await asyncio.start_server(handle, host, listen_port, reuse_address=True)
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or not all(a.isdigit() for a in args):
        print("usage: python -m mlops_provider.demo.tcpproxy LISTEN_PORT TARGET_PORT", file=sys.stderr)
        return 2
    asyncio.run(_serve(int(args[0]), int(args[1]), "127.0.0.1"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
