"""Recognising a pasted API key: what is deleted from a chat, and what is tried as a key."""

from __future__ import annotations

import pytest

from services.account import (
    API_KEY_MIN_LENGTH,
    contains_api_key,
    could_be_api_key,
    extract_api_key,
    looks_like_api_key,
)

KEY = "pk_live_Q3vZr8XkT1bN0pLmA7sYdW4e"  # the sandbox's shape: prefix + token_urlsafe
OTHER_KEY = "sk-Proj.7f3KqA9zLm2XcV8bN1tR"


@pytest.mark.parametrize(
    "text",
    [
        KEY,
        OTHER_KEY,
        f"  {KEY}\n",
        "Ab1" + "x" * (API_KEY_MIN_LENGTH - 3),  # the shortest
        "Z" * 128,
        "abcdefghijklmnopqrstuvwxyz0",  # lowercase, but a digit: not a word
    ],
)
def test_key_shaped_text_looks_like_a_key(text: str) -> None:
    assert looks_like_api_key(text)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "hello",
        "Ab1" + "x" * (API_KEY_MIN_LENGTH - 4),  # one character short
        "Z" * 129,
        "supercalifragilisticexpialidocious",  # a long word someone typed
        f"_{KEY}",  # must start with a letter or digit
        f"-{KEY}",
        f"{KEY[:12]} {KEY[12:]}",  # two words
        f"{KEY}!",
        "pk_live_ÄÖÜäöüßÄÖÜäöüßÄÖÜäöüß",  # not ASCII
        "0x" + "ab12" * 10,  # an EVM address
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # a tx hash
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",  # a bech32 bitcoin address
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",  # a legacy bitcoin address
        "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8",  # a TRON address
    ],
)
def test_other_text_does_not_look_like_a_key(text: str | None) -> None:
    assert not looks_like_api_key(text)


@pytest.mark.parametrize(
    "text",
    [
        KEY,
        f"my key is {KEY} thanks",
        f"first line\n{KEY}\nlast line",
        f"two: {KEY} {OTHER_KEY}",
    ],
)
def test_a_key_anywhere_in_a_message_is_found(text: str) -> None:
    assert contains_api_key(text)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "hello there, how do I buy proxies?",
        "send USDT to TJRabPrwbZy45sbavfcjinPJC18kjpRTv8 please",
        "supercalifragilisticexpialidocious is a long word",
        f"{KEY[:12]} {KEY[12:]}",  # a key split in two is two short words
    ],
)
def test_a_message_without_a_key_has_none(text: str | None) -> None:
    assert not contains_api_key(text)


def test_extract_takes_the_key_out_of_a_sentence_whether_asked_or_not() -> None:
    for asked in (False, True):
        assert extract_api_key(f"here it is: {KEY} thanks", asked=asked) == KEY
        assert extract_api_key(f"{OTHER_KEY} and {KEY}", asked=asked) == OTHER_KEY
        assert extract_api_key(f"\n {KEY} \n", asked=asked) == KEY


@pytest.mark.parametrize("token", ["shortkey1", "abcdefgh", "x" * 256, "lower-case-only-word"])
def test_when_asked_any_single_token_is_tried(token: str) -> None:
    assert extract_api_key(f"  {token}\n", asked=True) == token
    assert extract_api_key(token, asked=False) is None  # unasked, it is not key-shaped


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "short",
        "seven77",  # under 8 characters
        "x" * 257,
        "two words",
        "tab\there",
        "bell\x07character",
    ],
)
def test_when_asked_odd_tokens_are_not_tried(text: str | None) -> None:
    assert extract_api_key(text, asked=True) is None


def test_unasked_plain_text_gives_no_key() -> None:
    assert extract_api_key("hello there", asked=False) is None
    assert extract_api_key(None, asked=False) is None


# -- while the bot waits for a key: delete only what could be one -------------------------


@pytest.mark.parametrize(
    "text",
    [
        KEY,
        OTHER_KEY,
        f"  {KEY}\n",
        f"here it is: {KEY}",  # a key in a sentence
        "shortkey1",  # a shape we did not foresee: the API decides
        "abcdefgh",
        "Zm9vYmFy+/Zm9vYmFy==",  # base64
        "lower-case-only-word",
        "x" * 300,  # too long to try, but it still must not stay in the chat
    ],
)
def test_anything_that_could_be_a_key_is_treated_as_one(text: str) -> None:
    assert could_be_api_key(text)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "hello, how do I buy proxies?",
        "where do I find the key",
        "hi",
        "hello",
        "seven77",  # shorter than any key tried
        "привет",
        "ключ?",
        "help!",
        "what?!?!?!",
        "👍👍👍👍👍👍👍👍",
        "tab\there12345",
    ],
)
def test_what_clearly_is_no_key_is_not(text: str | None) -> None:
    assert not could_be_api_key(text)
