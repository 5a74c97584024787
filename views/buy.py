"""Texts of the purchase wizard: steps, quote, receipt and purchase failures."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.utils.i18n import gettext as _

from proxy_api import Country, InsufficientFunds, Reference
from services.purchase import (
    COUNTRY,
    COUPON,
    FLOWS,
    MAX_COUPON_LENGTH,
    MAX_QUANTITY,
    MIN_QUANTITY,
    OPERATOR,
    PERIOD,
    PROTOCOL,
    QUANTITY,
    QUOTE,
    ROTATION,
    SERVICE,
    TARIF,
    TYPE,
    Notice,
    QuoteView,
    Receipt,
    Selection,
    WizardStep,
)
from views.catalogue import type_label, type_title
from views.format import day, h, usd
from views.names import (
    country_label,
    gigabytes,
    period_label,
    protocol_label,
    rotation_label,
    service_label,
)

# A phone shows ten country buttons (five rows of two) without scrolling far.
COUNTRIES_PER_PAGE = 10


@dataclass(frozen=True, slots=True)
class CountryPage:
    countries: tuple[Country, ...]
    page: int
    pages: int


def country_page(step: WizardStep) -> CountryPage:
    """The part of the (searched) country list one screen shows: the page the user turned
    to, or the one holding the chosen country."""
    found = step.countries
    pages = max(1, -(-len(found) // COUNTRIES_PER_PAGE))
    page = step.wizard.page
    if page is None:
        ids = [c.id for c in found]
        chosen = step.wizard.sel.country_id
        page = ids.index(chosen) // COUNTRIES_PER_PAGE if chosen in ids else 0
    page = min(page, pages - 1)
    start = page * COUNTRIES_PER_PAGE
    return CountryPage(found[start : start + COUNTRIES_PER_PAGE], page, pages)



def notice_text(notice: Notice, detail: str = "") -> str:
    if notice is Notice.STALE:
        return _("⌛ That button is out of date. Here is where you are now.")
    if notice is Notice.BAD_QUANTITY:
        return _("❗ Please send a whole number from {low} to {high}.").format(
            low=MIN_QUANTITY, high=MAX_QUANTITY
        )
    if notice is Notice.NO_MATCH:
        return _("🔎 No country matches “{query}”. Try another spelling or pick below.").format(
            query=h(detail)
        )
    if notice is Notice.USE_BUTTONS:
        return _("👆 Please use the buttons below.")
    if notice is Notice.BAD_COUPON:
        return _(
            "❗ A coupon code is one word of letters and digits, up to {limit} characters."
        ).format(limit=MAX_COUPON_LENGTH)
    if notice is Notice.COUPON_REJECTED:
        return _("❌ The coupon was not accepted: {reason}. The quote below is without it.").format(
            reason=h(detail)
        )
    if notice is Notice.COUPON_APPLIED:
        return _("🎟 Coupon applied.")
    if notice is Notice.REQUOTED:
        return _("⌛ That quote was too old, so I priced it again. Check it and confirm.")
    return ""


def _chosen_lines(sel: Selection, reference: Reference | None, upto: str) -> list[str]:
    """What was picked on the steps before ``upto``."""
    lines: list[str] = []
    if sel.type:
        lines.append(_("Type: {value}").format(value=type_title(sel.type)))
    if reference is None or upto == TYPE:
        return lines
    for step in FLOWS.get(sel.type or "", ()):
        if step == upto:
            break
        value = _chosen_value(sel, reference, step)
        if value is not None:
            lines.append(value)
    return lines


def _chosen_value(sel: Selection, reference: Reference, step: str) -> str | None:
    if step == COUNTRY and sel.country_id is not None:
        country = reference.country(sel.country_id)
        if country:
            name = h(country_label(country.name, country.code))
            return _("Country: {value}").format(value=name)
    if step == SERVICE and sel.service:
        return _("Service: {value}").format(value=h(service_label(sel.service)))
    if step == OPERATOR and sel.operator_id is not None:
        operator = reference.operator(sel.operator_id)
        if operator:
            return _("Operator: {value}").format(value=h(operator.name))
    if step == ROTATION and sel.rotation_id is not None:
        rotation = reference.rotation(sel.rotation_id)
        if rotation:
            return _("Rotation: {value}").format(value=h(rotation_label(rotation.name)))
    if step == PERIOD and sel.period_id is not None:
        period = reference.period(sel.period_id)
        if period:
            return _("Period: {value}").format(value=h(period_label(period.days, period.name)))
    if step == QUANTITY and sel.quantity is not None:
        return _("Quantity: {value}").format(value=sel.quantity)
    return None


def _prompt(screen: WizardStep) -> str:
    step = screen.wizard.step
    if step == TYPE:
        text = _(
            "Which proxies do you need?\n\n"
            "<b>Datacenter</b> — fast and cheap, for scraping and automation.\n"
            "<b>ISP</b> — residential IPs at datacenter speed.\n"
            "<b>Mobile</b> — real 4G/5G carrier IPs.\n"
            "<b>Residential</b> — a traffic package of rotating home IPs.\n"
            "<b>Mixed</b> — a pool of many subnets."
        )
        if screen.prices:
            # Only prices the API gave within the last minutes: the lowest of those per type.
            lines = [_("💲 Lowest prices you were quoted in the last minutes, per proxy:")]
            lines += [
                _("{type}: from {value}").format(type=type_label(t), value=usd(price))
                for t, price in screen.prices.items()
            ]
            text += "\n\n" + "\n".join(lines)
        return text
    if step == COUNTRY:
        text = _("🌍 Choose a country, or type a few letters of its name to search.")
        if screen.wizard.search:
            text += "\n" + _("Search: “{query}”").format(query=h(screen.wizard.search))
        return text
    if step == SERVICE:
        return _(
            "📡 Shared or dedicated?\n"
            "<b>Shared</b> — the modem's IP is shared with a few other users.\n"
            "<b>Dedicated</b> — the modem is yours alone."
        )
    if step == OPERATOR:
        return _("📶 Choose the mobile operator:")
    if step == ROTATION:
        return _("🔄 How often should the IP change?")
    if step == PERIOD:
        text = _("📅 For how long?")
        if screen.prices:
            text += "\n" + _("Prices are per proxy.")
        return text
    if step == QUANTITY:
        text = _("🔢 How many proxies? Tap a number or type any from {low} to {high}.").format(
            low=MIN_QUANTITY, high=MAX_QUANTITY
        )
        if screen.unit_price is not None:
            text += "\n" + _("Price per proxy: {value}").format(value=usd(screen.unit_price))
        return text
    if step == PROTOCOL:
        return _("🔌 Which protocol?")
    if step == TARIF:
        return "\n".join([_("📦 Choose a traffic package:"), *_package_lines(screen)])
    return ""


def _package_lines(screen: WizardStep) -> list[str]:
    """Each package's price per GB (the reference's price); its total is on its button."""
    if screen.reference is None:
        return []
    return [
        _("{package}: {value} per GB").format(package=h(tarif.name), value=usd(tarif.price))
        for tarif in screen.reference.tarifs
        if tarif.price is not None
    ]


def screen_text(screen: WizardStep, requester: bool = False) -> str:
    """The message of one wizard step, with a notice on top when there is one.

    ``requester``: a group member who is not an admin; their quote asks for approval.
    """
    parts: list[str] = []
    if screen.notice is not None:
        parts.append(notice_text(screen.notice, screen.detail))
    step = screen.wizard.step
    if step in (QUOTE, COUPON) and screen.quote is not None:
        parts.append(quote_text(screen.quote))
        if step == COUPON:
            parts.append(_("🎟 Send me the coupon code as a message."))
        elif requester:
            parts.append(_("👥 In this group the admins decide purchases: tap "
                           "“Request approval” and they will see this order in the group."))
        return "\n\n".join(parts)
    header = [_("🛒 <b>Buy proxies</b>")]
    header += _chosen_lines(screen.wizard.sel, screen.reference, step)
    parts.append("\n".join(header))
    parts.append(_prompt(screen))
    return "\n\n".join(parts)


def quote_text(quote: QuoteView) -> str:
    lines = [_("🧾 <b>Your order</b>"), *order_summary(quote)]
    if quote.tarif:
        traffic = quote.traffic if quote.traffic is not None else quote.quantity
        if traffic is not None:
            lines.append(_("Traffic: {value}").format(value=gigabytes(traffic)))
        if quote.unit_price is not None:
            lines.append(_("Price per GB: {value}").format(value=usd(quote.unit_price)))
    elif quote.unit_price is not None:
        lines.append(_("Unit price: {value}").format(value=usd(quote.unit_price)))
    if quote.coupon and quote.discount is not None:
        lines.append(_("Coupon <code>{code}</code>: −{value}").format(
            code=h(quote.coupon), value=usd(quote.discount)
        ))
    elif quote.coupon:
        lines.append(_("Coupon: <code>{code}</code>").format(code=h(quote.coupon)))
    lines.append(_("<b>Total: {value}</b>").format(value=usd(quote.total)))
    if quote.balance is not None:
        lines.append("")
        lines.append(_("Balance: {value}").format(value=usd(quote.balance)))
        after = quote.balance_after
        if quote.affordable and after is not None:
            lines.append(_("After purchase: {value}").format(value=usd(after)))
        else:
            lines.append(
                _("⚠️ Not enough balance: top up at least {value} to buy this.").format(
                    value=usd(quote.total - quote.balance)
                )
            )
    return "\n".join(lines)


def typing_prompt(step: str, who: str) -> str | None:
    """In a group, the short message whose reply box takes what a step lets its owner type
    (a ForceReply: with privacy mode on, the bot only reads replies to its messages).
    ``who`` is the owner's mention (HTML). None for steps that take no typing."""
    if step == QUANTITY:
        return _("🔢 {who}, reply to this message with how many proxies you need "
                 "({low}–{high}).").format(who=who, low=MIN_QUANTITY, high=MAX_QUANTITY)
    if step == COUNTRY:
        return _("🔎 {who}, reply to this message with a few letters of a country "
                 "to search for it.").format(who=who)
    if step == COUPON:
        return _("🎟 {who}, reply to this message with your coupon code.").format(who=who)
    return None


def typing_placeholder(step: str) -> str:
    """The grey hint in the reply box (at most 64 characters)."""
    if step == QUANTITY:
        return _("Number of proxies")
    if step == COUNTRY:
        return _("Country")
    return _("Coupon code")


def placing_text() -> str:
    return _(
        "⏳ Placing your order…\n\n"
        "If this takes long, tap “Check status”: you will never be charged twice."
    )


def order_summary(order: QuoteView | Receipt) -> list[str]:
    """What was ordered — type, package, country, service, operator, rotation, period,
    protocol, quantity — in the same words on every screen about an order: the quote, the
    receipt, a member's request in a group (views/requests.py)."""
    lines = [_("Type: {value}").format(value=type_title(order.type))]
    if order.tarif:
        lines.append(_("Package: {value}").format(value=h(order.tarif)))
    if order.country:
        name = h(country_label(order.country, order.country_code))
        lines.append(_("Country: {value}").format(value=name))
    if order.service:
        lines.append(_("Service: {value}").format(value=h(service_label(order.service))))
    if order.operator:
        lines.append(_("Operator: {value}").format(value=h(order.operator)))
    if order.rotation:
        lines.append(_("Rotation: {value}").format(value=h(rotation_label(order.rotation))))
    if order.period:
        period = period_label(order.period_days, order.period)
        lines.append(_("Period: {value}").format(value=h(period)))
    if order.protocol:
        lines.append(_("Protocol: {value}").format(value=h(protocol_label(order.protocol))))
    if order.quantity is not None and not order.tarif:
        lines.append(_("Quantity: {value}").format(value=order.quantity))
    return lines


def _with_quote(head: str, quote: QuoteView | None) -> str:
    """A message about an order, followed by what was ordered and its total."""
    lines = [head]
    if quote is not None:
        lines.append("")
        lines += order_summary(quote)
        lines.append(_("<b>Total: {value}</b>").format(value=usd(quote.total)))
    return "\n".join(lines)


def unresolved_text(quote: QuoteView | None, stale: bool = False) -> str:
    """An earlier order may be placed already; a resend of its key (or, when it is old,
    a search of the orders and transactions) settles it."""
    if stale:
        head = _(
            "⚠️ <b>I still cannot tell whether your earlier order was placed.</b>\n"
            "It is too old to send again safely, and the orders and transactions do not "
            "settle it. Look in /orders and /transactions, or contact 1001Proxy support."
        )
    else:
        head = _(
            "⚠️ <b>Your last order may already be placed.</b>\n"
            "I sent it to 1001Proxy but did not get the answer. Tap “Check status” to "
            "finish it — it is never charged twice — or look in /orders."
        )
    return _with_quote(head, quote)


def not_placed_text(quote: QuoteView | None, interrupted: bool) -> str:
    """An order proven not placed: say so, and offer the same quote again."""
    if interrupted:
        head = _(
            "ℹ️ <b>Your order was not placed.</b> I was restarted before sending it, so "
            "nothing was charged. Tap “Try again” to place it."
        )
    else:
        head = _(
            "ℹ️ <b>Your earlier order was not placed</b>: no order and no charge for it "
            "reached your account, so nothing was charged. Tap “Try again” to buy it now."
        )
    return _with_quote(head, quote)


def already_processing_text() -> str:
    return _("⏳ Already processing this order, one moment…")


def receipt_text(receipt: Receipt) -> str:
    lines = [
        _("✅ <b>Order placed!</b>"),
        "",
        _("Order: <code>{order_id}</code>").format(order_id=h(receipt.order_id)),
        *order_summary(receipt),
    ]
    lines.append(_("Charged: <b>{value}</b>").format(value=usd(receipt.charged)))
    if receipt.balance is not None:
        lines.append(_("New balance: {value}").format(value=usd(receipt.balance)))
    if receipt.expires_at is not None:
        lines.append(_("Active until: {date}").format(date=day(receipt.expires_at)))
    lines.append("")
    if receipt.status == "pending":
        lines.append(
            _("🛠 The provider is still setting it up; the credentials appear in a few minutes.")
        )
    elif receipt.status is None:
        # Its status is not read after the order (the order sync brings it).
        lines.append(_("Get the credentials below; if the provider is still setting them up, "
                       "they appear in a few minutes."))
    else:
        lines.append(_("Your proxies are ready. Get the credentials below."))
    return "\n".join(lines)


def insufficient_text(exc: InsufficientFunds) -> str:
    lines = [_("💸 <b>Not enough balance</b>")]
    if exc.required is not None:
        lines.append(_("This order costs: {value}").format(value=usd(exc.required)))
    if exc.available is not None:
        lines.append(_("Your balance: {value}").format(value=usd(exc.available)))
    if exc.required is not None and exc.available is not None:
        lines.append(
            _("Top up at least <b>{value}</b>, then tap “Try again”.").format(
                value=usd(exc.required - exc.available)
            )
        )
    else:
        lines.append(_("Top up your balance, then tap “Try again”."))
    lines.append(_("Nothing was charged."))
    return "\n".join(lines)


def purchase_failed_text(refunded: bool) -> str:
    if refunded:
        return _(
            "⚠️ <b>The purchase failed at the proxy provider.</b>\n"
            "The amount was refunded to your balance. You can try again."
        )
    return _(
        "⚠️ <b>The purchase failed at the proxy provider.</b>\n"
        "Nothing was charged. You can try again."
    )
