"""An alert webhook receiver speaking Discord's "Execute Webhook" API, for uptime monitors.

    POST /api/webhooks/{webhook.id}/{webhook.token}   {"content": "...", "embeds": [...]}
    204                                    (with ?wait=true: 200 and the message object)
    400 {"message": "Cannot send an empty message", "code": 50006}   (no content, no embeds)
    400 {"message": "Invalid Form Body", "code": 50035, ...}          (content over 2000)
    401 {"message": "Invalid Webhook Token", "code": 50027}           (another token)
    404 {"message": "Unknown Webhook", "code": 10015}                 (another ID)

Every accepted message is kept, in order, for a test to read (`messages()`). The token is in
the URL, as with Discord: treat `url` as a secret (register it with the run).
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from stackproof.fakes.httpfake import Answer, FakeServer, Request, Routes

MAX_CONTENT = 2000
MAX_EMBEDS = 10


@dataclass(frozen=True, slots=True)
class WebhookMessage:
    id: str
    content: str
    embeds: tuple[dict[str, Any], ...]
    username: str | None
    received: float  # time.monotonic() at arrival

    @property
    def text(self) -> str:
        """Content and embed titles/descriptions: what a person reading the alert sees."""
        parts = [self.content]
        for embed in self.embeds:
            parts += [str(embed.get("title", "")), str(embed.get("description", ""))]
        return "\n".join(part for part in parts if part)


class WebhookReceiver:
    """One webhook (ID and token) and the messages executed on it."""

    def __init__(self) -> None:
        self.webhook_id = str(1_200_000_000_000_000_000 + secrets.randbelow(10**17))
        self.token = secrets.token_urlsafe(48)
        self._messages: list[WebhookMessage] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = FakeServer(self._routes(), name="webhook")

    def _routes(self) -> Routes:
        routes = Routes()
        routes.add("POST", "/api/webhooks/{webhook_id}/{token}", self._execute)
        return routes

    @property
    def url(self) -> str:
        return f"{self._server.url}/api/webhooks/{self.webhook_id}/{self.token}"

    def messages(self) -> list[WebhookMessage]:
        with self._lock:
            return list(self._messages)

    def _execute(self, request: Request) -> Answer:
        if request.params["webhook_id"] != self.webhook_id:
            return Answer.json(404, {"message": "Unknown Webhook", "code": 10015})
        if request.params["token"] != self.token:
            return Answer.json(401, {"message": "Invalid Webhook Token", "code": 50027})
        message = self._message(request.body)
        if isinstance(message, Answer):
            return message
        with self._lock:
            self._messages.append(message)
        if (request.query.get("wait") or ["false"])[0].lower() != "true":
            return Answer(204)
        return Answer.json(
            200,
            {
                "id": message.id,
                "type": 0,
                "content": message.content,
                "embeds": list(message.embeds),
                "webhook_id": self.webhook_id,
            },
        )

    def _message(self, raw: bytes) -> WebhookMessage | Answer:
        """The message a body asks for, or Discord's refusal of it."""
        invalid = Answer.json(400, {"message": "Invalid Form Body", "code": 50035})
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            bad_json = {"message": "The request body contains invalid JSON.", "code": 50109}
            return Answer.json(400, bad_json)
        if not isinstance(body, dict):
            return invalid
        content, embeds = body.get("content") or "", body.get("embeds") or []
        if not isinstance(content, str) or not isinstance(embeds, list):
            return invalid
        if not content and not embeds:
            return Answer.json(400, {"message": "Cannot send an empty message", "code": 50006})
        if len(content) > MAX_CONTENT or len(embeds) > MAX_EMBEDS:
            return invalid
        username = body.get("username")
        return WebhookMessage(
            id=str(next(self._ids)),
            content=content,
            embeds=tuple(e for e in embeds if isinstance(e, dict)),
            username=username if isinstance(username, str) else None,
            received=time.monotonic(),
        )

    def start(self) -> WebhookReceiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
