"""WebSub publish pings: tell the hub which feeds changed so subscribers get them at once.

The W3C recommendation leaves the publish request to each hub; the de facto form, which
Google's and Superfeedr's hubs and websub.rocks accept, is a form POST of
``hub.mode=publish`` with the topic URL. Hubs differ on the parameter name (``hub.url``
in PubSubHubbub 0.3, ``hub.topic`` in newer hubs), so each ping carries both, one topic
per request, so no hub can count a topic twice.

A ping never fails a build: the feeds are already written, and subscribers will poll
them anyway. Failures come back in the result for the caller to report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from .config import Config

USER_AGENT = "syndicate (WebSub publisher)"


@dataclass(frozen=True)
class PingResult:
    """What the hub said: the topics it accepted, and one message per topic it did not."""

    hub: str
    accepted: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        if self.ok:
            return f"hub {self.hub} notified of {len(self.accepted)} changed feed(s)"
        first_topic, first_error = self.failed[0]
        more = f" (and {len(self.failed) - 1} more)" if len(self.failed) > 1 else ""
        return f"hub {self.hub}: ping failed for {first_topic}: {first_error}{more}"


def ping_hub(
    hub: str,
    topics: Sequence[str],
    *,
    timeout: float,
    transport: httpx.BaseTransport | None = None,
) -> PingResult:
    """POST a publish ping to ``hub`` for each of ``topics`` (deduplicated, sorted).

    Any 2xx answer counts as accepted. After a connection-level failure (hub down, DNS,
    timeout) the remaining topics are not tried: they would only each wait out the
    timeout again. Never raises for network or HTTP errors.
    """
    ordered = sorted(set(topics))
    accepted: list[str] = []
    failed: list[tuple[str, str]] = []
    if not ordered:
        return PingResult(hub)
    with httpx.Client(
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        transport=transport,
    ) as client:
        for position, topic in enumerate(ordered):
            try:
                response = client.post(hub, data={"hub.mode": "publish", "hub.url": topic, "hub.topic": topic})
            except httpx.TimeoutException:
                message = f"no answer within {timeout:g}s"
            except httpx.HTTPError as exc:
                message = _describe(exc)
            else:
                if 200 <= response.status_code < 300:
                    accepted.append(topic)
                else:
                    reason = response.reason_phrase or ""
                    failed.append((topic, f"HTTP {response.status_code} {reason}".rstrip()))
                continue
            failed.extend((t, message) for t in ordered[position:])
            break
    return PingResult(hub, tuple(accepted), tuple(failed))


def _describe(exc: httpx.HTTPError) -> str:
    cause = exc.__cause__ or exc.__context__
    text = str(exc) or type(exc).__name__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return text.splitlines()[0]


def subscription_topics(feeds_url: str, changed_urls: Sequence[str]) -> list[str]:
    """The changed feeds worth a ping: subscription feeds, not RFC 5005 archive documents."""
    # Archive pages are reached by walking links from the subscription feed, never subscribed to.
    archive_prefix = feeds_url + "archive/"
    return sorted({url for url in changed_urls if not url.startswith(archive_prefix)})


def notify_hub(config: Config, changed_urls: Sequence[str]) -> PingResult | None:
    """Ping ``feeds.hub`` about the changed subscription feeds; None when no hub or nothing changed."""
    topics = subscription_topics(config.feeds_url, changed_urls)
    if not config.feeds.hub or not topics:
        return None
    return ping_hub(config.feeds.hub, topics, timeout=config.feeds.hub_timeout)
