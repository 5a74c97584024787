"""The top-up screens end to end: the grouped currency menu, one photo with the address,
screens replacing one another without a trail, addresses read before generated, and a QR
code that really is the address."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO
from typing import Any

import pytest
import segno

from tests.e2e import TIMEOUT, tap

LIST = "GET /deposits/addresses"
CREATE = "POST /deposits/addresses"

TOP = "Which currency will you send"
COINS = "Which coin will you send"
NETWORKS = "On which network"
HOW = "How deposits work"
CANCELLED = "Cancelled"

STABLE_NETWORKS = {
    "USDT": [
        "TRON (TRC-20)", "Ethereum (ERC-20)", "BNB Chain (BEP-20)", "Solana", "Polygon", "TON",
    ],
    "USDC": ["Ethereum (ERC-20)", "BNB Chain (BEP-20)", "Solana", "Base"],
    "DAI": ["Ethereum (ERC-20)", "Polygon"],
}
OTHER_COINS = [
    "BTC", "ETH", "LTC", "DOGE", "BCH", "XMR", "XRP", "TRX", "BNB", "SOL", "POL", "TON", "SHIB",
]

# The screen each tap on the way to an address leads to.
LEADS_TO = {
    "USDT": NETWORKS, "USDC": NETWORKS, "DAI": NETWORKS, "ETH": NETWORKS,
    "Other coins": COINS, "How deposits work": HOW,
}

SERVER_ERROR: dict[str, Any] = {"error_code": 500}
DROPPED: dict[str, Any] = {"disconnect": True}


# -- helpers -----------------------------------------------------------------------------


def requests(harness, endpoint: str) -> int:
    return harness.sandbox.state.request_counts.get(endpoint, 0)


def buttons(message) -> list[str]:
    return [b.text for b in message.flat_buttons]


def is_photo(message) -> bool:
    return message.photo is not None


def code_entities(message) -> list[str]:
    """The texts of the <code> parts of a message or caption, as the user can copy them."""
    raw = message.text.encode("utf-16-le")
    return [
        raw[e["offset"] * 2 : (e["offset"] + e["length"]) * 2].decode("utf-16-le")
        for e in message.entities
        if e["type"] == "code"
    ]


async def top_up(chat):
    await chat.send("/deposit")
    return await chat.wait_for_message(TOP, timeout=TIMEOUT)


async def address_photo(chat, menu, *path: str):
    """From the first screen, tap ``path`` (asset, then network if any): the address photo."""
    message = menu
    for step in path[:-1]:
        message = await tap(chat, message, step, expect=LEADS_TO[step])
    handle = await chat.click(message, path[-1])
    shown = await chat.wait_for_message(is_photo, timeout=TIMEOUT)
    await handle.wait_answer(timeout=TIMEOUT)
    return shown


async def leave_photo(chat, photo, button: str, *, expect: str):
    """Tap a button of the address photo that leads to a text screen: the screen is sent,
    then the photo deleted."""
    shown = await tap(chat, photo, button, expect=expect)
    await chat.wait_for_deletion(photo, timeout=TIMEOUT)
    return shown


@pytest.fixture
def watched(harness, monkeypatch) -> list[int]:
    """The chats the app's DepositWatch was asked to watch (the call goes through)."""
    chats: list[int] = []
    deposit_watch = harness.app.dispatcher["deposit_watch"]
    real = deposit_watch.watch

    async def watch(chat_id: int) -> None:
        chats.append(chat_id)
        await real(chat_id)

    # The same object the handlers get: aiogram copied the workflow data at start.
    monkeypatch.setattr(deposit_watch, "watch", watch)
    return chats


# -- a PNG reader (stdlib only) and the QR modules of an image ---------------------------


def png_dark(data: bytes) -> list[list[bool]]:
    """Decode a non-interlaced PNG (greyscale, palette, RGB(A), 1-8 bits): dark pixels."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, chunks, idat = 8, {}, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IDAT":
            idat += body
        else:
            chunks[kind] = body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert interlace == 0 and depth in (1, 2, 4, 8), (depth, interlace)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    stride = (width * channels * depth + 7) // 8
    step = max(1, channels * depth // 8)  # bytes per pixel, for the filters
    raw = zlib.decompress(idat)
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + guess) & 0xFF
        rows.append(bytes(line))
        previous = line
    palette = chunks.get(b"PLTE", b"")
    dark = []
    for line in rows:
        if depth < 8:
            per_byte = 8 // depth
            values = [
                (line[x // per_byte] >> (8 - depth * (x % per_byte + 1))) & ((1 << depth) - 1)
                for x in range(width)
            ]
            top = (1 << depth) - 1
        else:
            values = [line[x * channels] for x in range(width)]  # first channel: grey or red
            top = 255
        if color == 3:
            dark.append([palette[3 * v] < 128 for v in values])
        else:
            dark.append([v * 255 // top < 128 for v in values])
    return dark


def qr_modules(dark: list[list[bool]], size: int) -> tuple[list[list[bool]], int]:
    """The ``size``×``size`` modules of the QR code in an image, and its light border in
    modules: the finder patterns fix the symbol's corners, each module is sampled in its
    middle."""
    ys = [y for y, row in enumerate(dark) if any(row)]
    xs = [x for x in range(len(dark[0])) if any(row[x] for row in dark)]
    top, left, extent = ys[0], xs[0], ys[-1] - ys[0] + 1
    assert extent == xs[-1] - xs[0] + 1 and extent % size == 0, (extent, size)
    module = extent // size
    grid = [
        [dark[top + r * module + module // 2][left + c * module + module // 2] for c in range(size)]
        for r in range(size)
    ]
    return grid, min(top, left) // module


def assert_qr_of(png: bytes, address: str) -> None:
    """The image is a QR code of exactly ``address`` (any error level), with a quiet zone."""
    dark = png_dark(png)
    candidates = [segno.make_qr(address, error=level) for level in "lmqh"]
    for qr in candidates:
        expected = [[bool(v) for v in row] for row in qr.matrix]
        try:
            grid, border = qr_modules(dark, len(expected))
        except AssertionError:
            continue
        if grid == expected:
            assert border >= 4, f"the quiet zone is {border} modules, scanners need 4"
            return
    raise AssertionError(f"the photo is not a QR code of {address!r}")


def test_the_png_reader_reads_what_segno_writes() -> None:
    """The reader itself: segno's own PNG of an address decodes to segno's own matrix."""
    for text in ("TXyzAbc123", "bc1q" + "x" * 38, "4" + "A" * 94):
        qr = segno.make_qr(text)
        for scale, border in ((1, 4), (3, 2), (8, 4)):
            buffer = BytesIO()
            qr.save(buffer, kind="png", scale=scale, border=border)
            grid, found_border = qr_modules(png_dark(buffer.getvalue()), len(qr.matrix))
            assert grid == [[bool(v) for v in row] for row in qr.matrix]
            assert found_border == border


# -- the grouped menu ---------------------------------------------------------------------


async def test_the_first_screen_is_short_stablecoins_and_other_coins(harness):
    chat, _ = await harness.linked_chat()
    menu = await top_up(chat)
    assert buttons(menu) == [
        "USDT", "USDC", "DAI", "🪙 Other coins", "ℹ️ How deposits work", "✖️ Cancel",
    ]
    assert len(menu.buttons) <= 4  # rows: a phone keyboard stays short


@pytest.mark.parametrize("asset", ["USDT", "USDC", "DAI"])
async def test_stablecoin_networks_in_plain_words_with_back(harness, asset):
    chat, _ = await harness.linked_chat()
    menu = await top_up(chat)
    networks = await tap(chat, menu, asset, expect=NETWORKS)
    assert networks.message_id == menu.message_id  # edited in place
    assert f"Top up with {asset}" in networks.text
    assert buttons(networks) == [*STABLE_NETWORKS[asset], "⬅️ Back", "✖️ Cancel"]
    back = await tap(chat, networks, "⬅️ Back", expect=TOP)
    assert back.message_id == menu.message_id


async def test_other_coins_and_a_coin_with_two_networks(harness):
    chat, _ = await harness.linked_chat()
    menu = await top_up(chat)
    coins = await tap(chat, menu, "Other coins", expect=COINS)
    assert buttons(coins) == [*OTHER_COINS, "⬅️ Back", "✖️ Cancel"]
    assert len(coins.buttons) <= 6
    eth = await tap(chat, coins, "ETH", expect=NETWORKS)
    assert buttons(eth) == ["Ethereum (ERC-20)", "Base", "⬅️ Back", "✖️ Cancel"]
    coins = await tap(chat, eth, "⬅️ Back", expect=COINS)
    top = await tap(chat, coins, "⬅️ Back", expect=TOP)
    assert {coins.message_id, eth.message_id, top.message_id} == {menu.message_id}


@pytest.mark.parametrize(
    "path",
    [(), ("USDT",), ("Other coins",), ("Other coins", "ETH"), ("How deposits work",)],
    ids=["top", "usdt", "coins", "eth", "how"],
)
async def test_cancel_on_every_level(harness, path):
    chat, _ = await harness.linked_chat()
    message = await top_up(chat)
    for step in path:
        message = await tap(chat, message, step, expect=LEADS_TO[step])
    cancelled = await tap(chat, message, "✖️ Cancel", expect=CANCELLED)
    assert cancelled.message_id == message.message_id
    assert "m:buy" in [b.callback_data for b in cancelled.flat_buttons]  # the main menu


async def test_how_deposits_work_from_the_menu(harness):
    chat, _ = await harness.linked_chat()
    menu = await top_up(chat)
    how = await tap(chat, menu, "How deposits work", expect=HOW)
    assert how.message_id == menu.message_id
    for step in ("deposit address", "Send the crypto", "confirmed on-chain", "/balance"):
        assert step in how.text
    assert buttons(how) == ["⬅️ Back", "✖️ Cancel"]
    back = await tap(chat, how, "⬅️ Back", expect=TOP)
    assert back.message_id == menu.message_id


async def test_the_menus_top_up_button_opens_the_first_screen(harness):
    chat, _ = await harness.linked_chat()
    home = chat.last_bot_message()
    handle = await chat.click(home, data="m:deposit")
    menu = await chat.wait_for_message(TOP, timeout=TIMEOUT)
    await handle.wait_answer(timeout=TIMEOUT)
    # A new message: the screen with the button (a quote short of money) stays usable.
    assert menu.message_id != home.message_id and chat.message(home.message_id) is not None


# -- the address: one photo ---------------------------------------------------------------


async def test_usdt_on_tron_is_one_photo_with_the_address_to_copy(harness):
    chat, account = await harness.linked_chat()
    menu = await top_up(chat)
    before = len(chat.bot_messages())
    photo = await address_photo(chat, menu, "USDT", "TRON (TRC-20)")
    address = account.deposit_addresses["USDT_TRC20"]
    assert photo.message_id == menu.message_id  # the menu became the photo
    assert len(chat.bot_messages()) == before
    assert code_entities(photo) == [address]
    assert "Network: TRON (TRC-20)" in photo.text
    assert (
        "Send only USDT on the TRON network (TRC-20) to this address — "
        "other coins or networks are lost." in photo.text
    )
    assert buttons(photo) == ["⬅️ Back", "💱 Other currency", "🏠 Menu"]
    assert harness.tg.photos(chat.chat_id)[-1].data == photo.photo.data
    assert_qr_of(photo.photo.data, address)


@pytest.mark.parametrize(
    ("path", "code", "network"),
    [
        (("Other coins", "BTC"), "BTC", "Send only BTC on the Bitcoin network to this"),
        (("Other coins", "XMR"), "XMR", "Send only XMR on the Monero network to this"),
        (("Other coins", "ETH", "Base"), "ETH_BASE", "Send only ETH on the Base network to"),
        (("DAI", "Polygon"), "DAI_POLYGON", "Send only DAI on the Polygon network to this"),
    ],
    ids=["btc", "xmr", "eth-base", "dai-polygon"],
)
async def test_every_kind_of_address_decodes_from_its_qr_code(harness, path, code, network):
    chat, account = await harness.linked_chat()
    photo = await address_photo(chat, await top_up(chat), *path)
    address = account.deposit_addresses[code]
    assert code_entities(photo) == [address] and network in photo.text
    assert_qr_of(photo.photo.data, address)


async def test_other_currency_and_back_edit_without_a_trail(harness):
    chat, _ = await harness.linked_chat()
    menu = await top_up(chat)
    count = len(chat.bot_messages())
    photo = await address_photo(chat, menu, "USDT", "TRON (TRC-20)")

    again = await leave_photo(chat, photo, "Other currency", expect=TOP)
    assert again.photo is None and len(chat.bot_messages()) == count

    photo = await address_photo(chat, again, "Other coins", "ETH", "Base")
    assert photo.message_id == again.message_id and len(chat.bot_messages()) == count
    eth = await leave_photo(chat, photo, "⬅️ Back", expect=NETWORKS)
    assert "Top up with ETH" in eth.text and len(chat.bot_messages()) == count

    photo = await address_photo(chat, eth, "Ethereum (ERC-20)")
    coins_back = await leave_photo(chat, photo, "⬅️ Back", expect=NETWORKS)
    coins = await tap(chat, coins_back, "⬅️ Back", expect=COINS)
    photo = await address_photo(chat, coins, "BTC")
    coins = await leave_photo(chat, photo, "⬅️ Back", expect=COINS)
    assert len(chat.bot_messages()) == count
    assert [m.photo for m in chat.bot_messages()] == [None] * count


async def test_menu_from_the_photo_keeps_the_address(harness):
    chat, _ = await harness.linked_chat()
    photo = await address_photo(chat, await top_up(chat), "USDC", "Base")
    home = await tap(chat, photo, "Menu", expect="Balance:")
    # The address stays in the chat to copy from; the menu comes below it.
    assert home.message_id != photo.message_id and chat.message(photo.message_id) is not None


# -- addresses: read first, generated once ------------------------------------------------


async def test_an_existing_address_is_read_and_not_generated(harness):
    chat, account = await harness.linked_chat()
    _, existing = harness.sandbox.state.create_deposit_address(account, {"currency": "USDT_TRC20"})
    menu = await top_up(chat)
    lists, creates = requests(harness, LIST), requests(harness, CREATE)
    photo = await address_photo(chat, menu, "USDT", "TRON (TRC-20)")
    assert code_entities(photo) == [existing]
    assert requests(harness, LIST) == lists + 1
    assert requests(harness, CREATE) == creates == 0


async def test_a_new_address_is_generated_once(harness):
    chat, account = await harness.linked_chat()
    assert "BTC" not in account.deposit_addresses
    photo = await address_photo(chat, await top_up(chat), "Other coins", "BTC")
    first = account.deposit_addresses["BTC"]
    assert code_entities(photo) == [first] and requests(harness, CREATE) == 1

    coins = await leave_photo(chat, photo, "⬅️ Back", expect=COINS)
    again = await address_photo(chat, coins, "BTC")
    assert code_entities(again) == [first]
    assert requests(harness, CREATE) == 1 and requests(harness, LIST) == 2


# -- when the photo fails -----------------------------------------------------------------


@pytest.mark.parametrize("fault", [SERVER_ERROR, DROPPED], ids=["5xx", "dropped"])
async def test_a_failing_photo_still_leaves_the_address_as_text(harness, fault):
    chat, account = await harness.linked_chat()
    menu = await top_up(chat)
    count = len(chat.bot_messages())
    harness.tg.fail_next("editMessageMedia", **fault)
    harness.tg.fail_next("sendPhoto", **fault)
    handle = await chat.click(await tap(chat, menu, "USDT", expect=NETWORKS), "TRON (TRC-20)")
    shown = await chat.wait_for_message("QR code could not be sent", timeout=TIMEOUT)
    await handle.wait_answer(timeout=TIMEOUT)
    assert shown.message_id == menu.message_id and shown.photo is None
    assert code_entities(shown) == [account.deposit_addresses["USDT_TRC20"]]
    assert "on the TRON network (TRC-20)" in shown.text
    assert buttons(shown) == ["⬅️ Back", "💱 Other currency", "🏠 Menu"]
    assert harness.tg.photos(chat.chat_id) == [] and len(chat.bot_messages()) == count
    assert not [m for m in chat.bot_messages() if "went wrong" in m.text]


async def test_a_refused_photo_edit_sends_the_photo_and_deletes_the_menu(harness):
    chat, account = await harness.linked_chat()
    menu = await top_up(chat)
    count = len(chat.bot_messages())
    harness.tg.fail_next(
        "editMessageMedia", error_code=400, description="Bad Request: message can't be edited"
    )
    photo = await address_photo(chat, menu, "USDT", "TRON (TRC-20)")
    assert photo.message_id != menu.message_id
    await chat.wait_for_deletion(menu, timeout=TIMEOUT)
    assert len(chat.bot_messages()) == count
    assert_qr_of(photo.photo.data, account.deposit_addresses["USDT_TRC20"])


# -- the arrival push's contract ----------------------------------------------------------


async def test_showing_an_address_starts_the_deposit_watch(harness, watched):
    chat, _ = await harness.linked_chat()
    menu = await top_up(chat)
    how = await tap(chat, menu, "How deposits work", expect=HOW)
    assert "I message you when it arrives" in how.text and watched == []
    top = await tap(chat, how, "⬅️ Back", expect=TOP)
    photo = await address_photo(chat, top, "Other coins", "LTC")
    assert watched == [chat.chat_id]
    assert "I will message you when it arrives" in photo.text
