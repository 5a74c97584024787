"""Pytest fixtures that run the 1001Proxy sandbox on a free local port.

Import them into a test module (or conftest) to use them:

    from tests.sandbox_fixture import sandbox, sandbox_account  # noqa: F401
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest_asyncio

from sandbox.server import SandboxServer


@dataclass(frozen=True)
class SandboxAccount:
    id: str
    api_key: str
    email: str


@pytest_asyncio.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    """A started SandboxServer with real time; `sandbox.state` is its SandboxState."""
    server = SandboxServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def sandbox_account(sandbox: SandboxServer) -> SandboxAccount:
    """A fresh, verified account with a balance of 100.00 USD."""
    email = f"user-{secrets.token_hex(4)}@example.com"
    account = sandbox.state.create_account(email=email, balance=Decimal("100.00"))
    return SandboxAccount(id=account.id, api_key=account.api_key, email=account.email)
