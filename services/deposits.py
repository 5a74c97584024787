"""Crypto top-ups: a deposit address per currency, with a QR code to scan."""

from __future__ import annotations

import io
from dataclasses import dataclass

import segno

from proxy_api import DEPOSIT_CURRENCIES, DepositAddress
from services.account import AccountService
from services.errors import StaleAction


@dataclass(frozen=True, slots=True)
class DepositTarget:
    address: DepositAddress
    qr_png: bytes


class DepositService:
    def __init__(self, accounts: AccountService) -> None:
        self._accounts = accounts

    async def address(self, chat_id: int, currency_index: int) -> DepositTarget:
        if not 0 <= currency_index < len(DEPOSIT_CURRENCIES):
            raise StaleAction
        api = await self._accounts.api_for(chat_id)
        address = await api.create_deposit_address(DEPOSIT_CURRENCIES[currency_index])
        return DepositTarget(address=address, qr_png=qr_png(address.address or ""))


def qr_png(data: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(data, error="m").save(buffer, kind="png", scale=8, border=2)
    return buffer.getvalue()
