"""`python -m sandbox`: run the 1001Proxy sandbox locally with a funded demo account."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from sandbox.server import SandboxServer
from sandbox.state import Account, SandboxState


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a decimal amount: {text!r}") from None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="Local server speaking the 1001Proxy API."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=int, default=8081, help="port (0 picks a free one)")
    parser.add_argument(
        "--balance", type=_decimal, default=Decimal("100.00"), help="demo balance in USD"
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help="fixed API key for the demo account (default: a new random pk_live_ key), "
        "handy when a bot's .env should survive sandbox restarts",
    )
    return parser.parse_args(argv)


def banner(server: SandboxServer, account: Account) -> str:
    # 0.0.0.0 is where the server listens, not an address a client can dial.
    base = server.base_url.replace("//0.0.0.0:", "//127.0.0.1:")
    admin = server.admin_url.replace("//0.0.0.0:", "//127.0.0.1:")
    return "\n".join(
        [
            "1001Proxy sandbox is running",
            f"  base URL : {base}",
            f"  admin    : {admin}",
            f"  API key  : {account.api_key}",
            f"  balance  : {account.balance} USD ({account.email})",
            "",
            "Try:",
            f'  curl -H "Authorization: Bearer {account.api_key}" {base}/account',
            "",
            "Press Ctrl-C to stop.",
        ]
    )


async def serve(args: argparse.Namespace) -> None:
    state = SandboxState()
    account = state.create_account(
        email="demo@sandbox.local", name="Demo User", balance=args.balance, api_key=args.api_key
    )
    server = SandboxServer(state, host=args.host, port=args.port, access_log=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGTERM (docker stop, a supervisor) should shut down as cleanly as Ctrl-C does.
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    await server.start()
    try:
        print(banner(server, account), flush=True)
        await stop.wait()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # KeyboardInterrupt still arrives where signal handlers cannot be installed (Windows).
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    print("sandbox stopped", flush=True)


if __name__ == "__main__":
    main()
