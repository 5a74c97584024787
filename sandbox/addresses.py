"""Believable deposit addresses, one format per chain family.

The addresses only have the right shape (prefix, alphabet, length); they carry no valid
checksum and are not derived from any key. They are deterministic per account and currency
so a restarted test sees the same address for the same inputs.
"""

from __future__ import annotations

import hashlib
import random

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_HEX = "0123456789abcdef"
_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_RIPPLE = "rpshnaf39wBUDNEGHJKLM4PQRST7VWXYZ2bcdeCg65jkm8oFqi1tuvAxyz"


def deposit_address(account_id: str, currency_code: str, style: str) -> str:
    """Return the address of `currency_code` for `account_id` in the given chain style."""
    digest = hashlib.sha256(f"{account_id}:{currency_code}".encode()).digest()
    rng = random.Random(digest)

    def pick(alphabet: str, length: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(length))

    match style:
        case "evm":
            return "0x" + pick(_HEX, 40)
        case "tron":
            return "T" + pick(_BASE58, 33)
        case "solana":
            return pick(_BASE58[1:], 1) + pick(_BASE58, 43)
        case "ton":
            return "UQ" + pick(_BASE64URL, 46)
        case "bitcoin":
            return "bc1q" + pick(_BECH32, 38)
        case "litecoin":
            return "ltc1q" + pick(_BECH32, 38)
        case "dogecoin":
            return "D" + pick("ABCDEFGHJKLMNPQRSTU", 1) + pick(_BASE58, 32)
        case "bitcoincash":
            return "bitcoincash:q" + pick(_BECH32, 41)
        case "monero":
            return "4" + pick("123456789AB", 1) + pick(_BASE58, 93)
        case "ripple":
            return "r" + pick(_RIPPLE, 33)
    raise ValueError(f"unknown address style {style!r}")
