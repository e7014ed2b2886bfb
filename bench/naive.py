"""The obvious Tornado implementation of the PiCloud protocol: the baseline.

One ``json.dumps`` and one ``write_message`` per subscriber per message,
Tornado's own frame reads, no queue limits. It speaks enough of the protocol
for the benchmark (``/subscribe`` and ``/publish`` websockets, ``POST
/publish``, the API key check, a retained value per event for the connection
scenario) and passes ``data`` through unchanged.

    python bench/naive.py --port 0 --api-key KEY
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import signal
from datetime import datetime, timezone
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.routing import PathMatches, Rule
from tornado.web import Application, HTTPError, RequestHandler
from tornado.websocket import WebSocketHandler


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Hub:
    def __init__(self) -> None:
        self.subscribers: dict[str, set[WebSocketHandler]] = {}
        self.retained: dict[str, dict[str, Any]] = {}

    def publish(self, event: str, data: Any, retain: bool = False) -> None:
        created_at = now()
        if retain:
            self.retained[event] = {"action": "publish", "event": event, "data": data, "created_at": created_at,
                                    "retained": True}
        for sub in list(self.subscribers.get(event, ())):
            message = {"action": "publish", "event": event, "data": data, "created_at": created_at}
            sub.write_message(json.dumps(message))

    def subscribe(self, sub: WebSocketHandler, event: str) -> None:
        self.subscribers.setdefault(event, set()).add(sub)
        if event in self.retained:
            sub.write_message(json.dumps(self.retained[event]))

    def forget(self, sub: WebSocketHandler) -> None:
        for subs in self.subscribers.values():
            subs.discard(sub)


def parse_publication(body: str | bytes) -> tuple[str, Any, bool]:
    try:
        doc = json.loads(body)
    except ValueError:
        raise HTTPError(400, "invalid json") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("event"), str) or not doc["event"]:
        raise HTTPError(400, "missing 'event'")
    return doc["event"], doc.get("data"), doc.get("retain") is True


class Access:
    request: Any
    settings: dict

    def prepare(self) -> None:
        key = self.request.headers.get("X-API-Key") or self.get_query_argument("apiKey", "")  # type: ignore[attr-defined]
        if not hmac.compare_digest(key.encode(), self.settings["api_key"].encode()):
            raise HTTPError(401)
        name = self.get_query_argument("clientName", "") or self.request.headers.get("X-API-Client-Name")  # type: ignore[attr-defined]
        if not name:
            raise HTTPError(400)


class SubscribeSocket(Access, WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True

    def on_message(self, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
        except ValueError:
            return
        hub: Hub = self.settings["hub"]
        action = frame.get("action")
        if action == "subscribe":
            hub.subscribe(self, frame["event"])
        elif action == "unsubscribe":
            hub.subscribers.get(frame["event"], set()).discard(self)
        elif action == "unsubscribe:all":
            hub.forget(self)

    def on_close(self) -> None:
        self.settings["hub"].forget(self)


class PublishSocket(Access, WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True

    def on_message(self, message: str | bytes) -> None:
        try:
            event, data, retain = parse_publication(message)
        except HTTPError:
            return
        self.settings["hub"].publish(event, data, retain)


class PublishHTTP(Access, RequestHandler):
    def post(self) -> None:
        event, data, retain = parse_publication(self.request.body)
        self.settings["hub"].publish(event, data, retain)
        self.set_status(201)


class WebSocketUpgrade(PathMatches):
    def match(self, request: Any) -> dict | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return None
        return super().match(request)


def make_app(api_key: str) -> Application:
    return Application(
        [
            Rule(WebSocketUpgrade("/subscribe"), SubscribeSocket),
            Rule(WebSocketUpgrade("/publish"), PublishSocket),
            (r"/publish", PublishHTTP),
        ],
        hub=Hub(), api_key=api_key,
    )


async def serve(port: int, api_key: str) -> None:
    sockets = bind_sockets(port, "127.0.0.1")
    server = HTTPServer(make_app(api_key))
    server.add_sockets(sockets)
    print(f"naive listening on ws://127.0.0.1:{sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.api_key))


if __name__ == "__main__":
    main()
