"""A postbox API on the standard library and pika: it posts messages to a RabbitMQ queue and
a worker thread takes them out again, so a message is delivered once the broker has it.

POST /messages publishes with publisher confirms (201 only when the broker took it, 503
otherwise); GET /messages lists what the worker has delivered; /readyz answers 200 only
while the broker accepts a connection and the queue is there.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pika
import pika.exceptions
from pika.adapters.utils.connection_workflow import AMQPConnectorException

HEALTH_PATHS = {"/healthz", "/readyz"}
QUEUE = "postbox"
RECONNECT_S = 1.0
# What pika raises when the broker is gone, slow or refuses: the connection workflow's own
# errors (a handshake past its deadline) are not AMQPErrors.
BROKER_ERRORS = (pika.exceptions.AMQPError, AMQPConnectorException, OSError)
log = logging.getLogger("postbox")


class Broker:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.parameters = pika.URLParameters(url)
        self.parameters.socket_timeout = timeout_s
        self.parameters.stack_timeout = timeout_s
        self.parameters.blocked_connection_timeout = timeout_s
        self.parameters.connection_attempts = 1
        self.parameters.heartbeat = 10

    def connect(self) -> pika.BlockingConnection:
        """A connection, its handshake done (the broker took the credentials) in time."""
        try:
            return pika.BlockingConnection(self.parameters)
        except BROKER_ERRORS as error:
            raise ConnectionError(f"the broker did not take the connection: {error!r}") from None

    def publish(self, body: bytes) -> None:
        connection = self.connect()
        try:
            channel = connection.channel()
            channel.queue_declare(QUEUE, durable=True)
            channel.confirm_delivery()
            channel.basic_publish(
                "", QUEUE, body, pika.BasicProperties(delivery_mode=2), mandatory=True
            )
        except BROKER_ERRORS as error:
            raise ConnectionError(f"the broker did not confirm: {error!r}") from None
        finally:
            _close(connection)


def _close(connection: pika.BlockingConnection) -> None:
    try:
        connection.close()
    except BROKER_ERRORS:
        return


class Worker(threading.Thread):
    """Takes messages off the queue into `delivered`, reconnecting after the broker goes."""

    def __init__(self, broker: Broker) -> None:
        super().__init__(daemon=True, name="worker")
        self.broker = broker
        self.delivered: list[str] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._consume()
            except ConnectionError as error:
                log.warning("worker: %s; reconnecting", error)
            except BROKER_ERRORS as error:
                log.warning("worker: the broker went (%r); reconnecting", error)
            self.stopping.wait(RECONNECT_S)

    def _consume(self) -> None:
        connection = self.broker.connect()
        try:
            channel = connection.channel()
            channel.queue_declare(QUEUE, durable=True)
            for _method, _properties, body in channel.consume(QUEUE, inactivity_timeout=1.0):
                if self.stopping.is_set():
                    return
                if body is None:
                    continue
                with self.lock:
                    self.delivered.append(body.decode(errors="replace"))
                channel.basic_ack(_method.delivery_tag)
        finally:
            _close(connection)


class Handler(BaseHTTPRequestHandler):
    server_version = "postbox"
    sys_version = ""
    broker: Broker
    worker: Worker

    def log_message(self, format: str, *args: object) -> None:
        """Replaced by one line per request in `_answer`."""

    def _answer(self, status: int, body: dict[str, object]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Request-ID", self.request_id)
        if status == 503:
            self.send_header("Retry-After", "5")
        self.end_headers()
        self.wfile.write(payload)
        level = logging.DEBUG if self.path in HEALTH_PATHS else logging.INFO
        log.log(level, "request_id=%s method=%s path=%s status=%d",
                self.request_id, self.command, self.path, status)  # fmt: skip

    def _begin(self) -> None:
        incoming = self.headers.get("X-Request-ID", "")
        self.request_id = (
            incoming if incoming.isalnum() and 8 <= len(incoming) <= 64 else uuid.uuid4().hex
        )

    def _unavailable(self) -> None:
        self._answer(503, {"error": "temporarily unavailable", "request_id": self.request_id})

    def do_GET(self) -> None:
        self._begin()
        if self.path == "/healthz":
            self._answer(200, {"status": "ok"})
        elif self.path == "/readyz":
            try:
                connection = self.broker.connect()
            except ConnectionError:
                self._answer(503, {"status": "unready", "failing": ["broker"]})
            else:
                self._answer(200, {"status": "ready"})
                _close(connection)  # after the answer: a slow broker slows no probe
        elif self.path == "/messages":
            with self.worker.lock:
                delivered = list(self.worker.delivered)
            self._answer(200, {"delivered": delivered})
        else:
            self._answer(404, {"error": "not found", "request_id": self.request_id})

    def do_POST(self) -> None:
        self._begin()
        if self.path != "/messages":
            self._answer(404, {"error": "not found", "request_id": self.request_id})
            return
        length = int(self.headers.get("Content-Length") or 0)
        text = self.rfile.read(length)[:500]
        try:
            self.broker.publish(text)
        except ConnectionError:
            self._unavailable()
        else:
            self._answer(201, {"queued": True})


def main() -> int:
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.getLogger("pika").setLevel(logging.CRITICAL)  # its errors are told above, once
    url = os.environ.get("BROKER_URL", "")
    if not url:
        log.error("BROKER_URL is not set; refusing to start")
        return 2
    Handler.broker = Broker(url, timeout_s=1.5)
    Handler.worker = Worker(Handler.broker)
    Handler.worker.start()
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
