"""Cross-reference checks of the ``channels:`` and ``webhooks:`` sections (R41, issue 9).

Each check yields a :class:`ConfigIssue` with the field's path (``channels.messaging.sms.workstream``)
and one sentence; :mod:`unirouter.config.validate` runs them after its own, so a configuration with
a wrong channel is refused as a whole like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from unirouter.config import model
from unirouter.errors import ConfigIssue

__all__ = ["CHECKS", "event_types"]

Loc = tuple[str | int, ...]
Check = Callable[[model.Config], Iterator[ConfigIssue]]
Issue = Callable[[Loc, str], ConfigIssue]


def event_types() -> frozenset[str]:
    """The event types a webhook may subscribe to (SPEC §6.1.1); ``*`` stands for all."""
    # Imported here: the engine imports the configuration models, not the other way round.
    from unirouter.engine.events import EventType

    return frozenset(e.value for e in EventType)


def _workstream(
    config: model.Config, name: str, kind: model.Kind, loc: Loc, issue: Issue
) -> Iterator[ConfigIssue]:
    """The channel's workstream exists and has the kind the channel makes."""
    found = config.workstreams.get(name)
    if found is None:
        known = ", ".join(sorted(config.workstreams)) or "none defined"
        yield issue(loc, f"unknown workstream {name!r} (workstreams: {known})")
    elif found.kind is not kind:
        yield issue(
            loc, f"workstream {name!r} is {found.kind.value}; this channel needs {kind.value}"
        )


def _http_url(url: str, loc: Loc, issue: Issue) -> Iterator[ConfigIssue]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        yield issue(loc, f"must be an http:// or https:// URL, not {url!r}")


def check_email(config: model.Config, issue: Issue) -> Iterator[ConfigIssue]:
    """Email makes record items; it needs a way in and, for replies, a way out."""
    email = config.channels.email
    if email is None:
        return
    loc: Loc = ("channels", "email")
    yield from _workstream(config, email.workstream, model.Kind.RECORD, (*loc, "workstream"), issue)
    if email.smtp is None and email.imap is None:
        yield issue(loc, "email needs an intake: smtp (a listener), imap (a mailbox), or both")
    if "@" not in email.address:
        yield issue((*loc, "address"), f"must be an email address, not {email.address!r}")


def check_messaging(config: model.Config, issue: Issue) -> Iterator[ConfigIssue]:
    """Messaging endpoints open conversations; Twilio replies need the account."""
    for name, endpoint in config.channels.messaging.items():
        loc: Loc = ("channels", "messaging", name)
        kind = model.Kind.MESSAGING
        yield from _workstream(config, endpoint.workstream, kind, (*loc, "workstream"), issue)
        if endpoint.public_url is not None:
            yield from _http_url(endpoint.public_url, (*loc, "public_url"), issue)
        provider = endpoint.provider
        if provider is None:
            continue
        yield from _http_url(provider.base_url, (*loc, "provider", "base_url"), issue)
        twilio = endpoint.format.value == "twilio"
        if twilio and (provider.account is None or provider.token is None):
            yield issue((*loc, "provider"), "a twilio provider needs account and token")


def check_portal(config: model.Config, issue: Issue) -> Iterator[ConfigIssue]:
    """Portal cases are record items."""
    portal = config.channels.portal
    if portal is not None:
        loc: Loc = ("channels", "portal", "workstream")
        yield from _workstream(config, portal.workstream, model.Kind.RECORD, loc, issue)


def check_widget(config: model.Config, issue: Issue) -> Iterator[ConfigIssue]:
    """The chat widget opens conversations; its origins are web origins."""
    widget = config.channels.widget
    if widget is None:
        return
    loc: Loc = ("channels", "widget")
    kind = model.Kind.MESSAGING
    yield from _workstream(config, widget.workstream, kind, (*loc, "workstream"), issue)
    for i, origin in enumerate(widget.origins):
        yield from _http_url(origin, (*loc, "origins", i), issue)


def check_webhooks(config: model.Config, issue: Issue) -> Iterator[ConfigIssue]:
    """Webhook names are unique, URLs are HTTP, event types exist."""
    seen: set[str] = set()
    known = event_types()
    for i, hook in enumerate(config.webhooks):
        if hook.name in seen:
            yield issue(("webhooks", i, "name"), f"webhook {hook.name!r} is defined twice")
        seen.add(hook.name)
        yield from _http_url(hook.url, ("webhooks", i, "url"), issue)
        for j, event in enumerate(hook.events):
            if event != "*" and event not in known:
                yield issue(("webhooks", i, "events", j), f"unknown event type {event!r}")


#: Every check, in the order their issues are reported.
CHECKS: tuple[Callable[[model.Config, Issue], Iterator[ConfigIssue]], ...] = (
    check_email,
    check_messaging,
    check_portal,
    check_widget,
    check_webhooks,
)
