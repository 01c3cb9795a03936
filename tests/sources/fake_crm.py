"""A fake CRM on 127.0.0.1 shaped like Pipedrive's v1 API, for the REST source tests.

- `GET /v1/persons`, `GET /v1/deals`: `{"success": true, "data": [...], "additional_data":
  {"pagination": {"start", "limit", "more_items_in_collection", "next_start"}, "next_cursor"}}`,
  offset paging with `start` and `limit` (v1) or cursor paging with `cursor` and `limit` (v2),
  items ordered by (update_time, id);
- `updated_since=YYYY-MM-DDTHH:MM:SSZ`: items changed at or after it, deleted ones included
  with `"deleted": true` (a change feed); without it, the current items only;
- `Authorization: Bearer <token>` or `?api_token=<token>` required (401 otherwise);
- faults, each armed by the test and fired once: a page answering 500, a page answering 429
  with `Retry-After: 1`, a change made just before a page is served. Every request is logged (path, query, status) for assertions.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "test-crm-token-not-secret"


def stamp(value: dt.datetime) -> str:
    """Pipedrive's update_time form: 'YYYY-MM-DD HH:MM:SS' in UTC."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Crm:
    """The CRM's data: collection -> id -> item (a `deleted` item stays in the change feed)."""

    items: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    clock: dt.datetime = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
    # (collection, start) -> status to answer once (500, 429)
    faults: dict[tuple[str, int], int] = field(default_factory=dict)
    log: list[tuple[str, dict[str, str], int]] = field(default_factory=list)
    # (collection, start) -> a change made just before that page is served, once (an edit
    # by a CRM user while a run pages through the listing)
    hooks: dict[tuple[str, int], Callable[[], None]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tick(self, seconds: int = 60) -> dt.datetime:
        self.clock += dt.timedelta(seconds=seconds)
        return self.clock

    def put(self, collection: str, item: dict[str, Any]) -> None:
        with self.lock:
            item = {**item, "update_time": stamp(self.tick()), "deleted": False}
            self.items.setdefault(collection, {})[item["id"]] = item

    def update(self, collection: str, item_id: int, **changes: Any) -> None:
        with self.lock:
            current = self.items[collection][item_id]
            current.update(changes, update_time=stamp(self.tick()))

    def delete(self, collection: str, item_id: int) -> None:
        """A deletion the change feed reports (`deleted: true`)."""
        self.update(collection, item_id, deleted=True)

    def purge(self, collection: str, item_id: int) -> None:
        """Gone without a trace: only a full listing can tell."""
        with self.lock:
            del self.items[collection][item_id]

    def current(self, collection: str) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(i) for i in self.items.get(collection, {}).values()
                    if not i["deleted"]]

    def page(self, collection: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        # Offset paging (v1: start) or cursor paging (v2: an opaque cursor), both answered.
        cursor = query.get("cursor")
        start = _decode(cursor) if cursor else int(query.get("start", 0))
        limit = min(int(query.get("limit", 100)), 500)
        hook = self.hooks.pop((collection, start), None)
        if hook is not None:
            hook()
        with self.lock:
            fault = self.faults.pop((collection, start), None)
            if fault == 429:
                return 429, {"Retry-After": "1"}, {"success": False, "error": "Rate limit exceeded"}
            if fault is not None:
                return fault, {}, {"success": False, "error": "Internal server error"}
            since = query.get("updated_since")
            rows = sorted(self.items.get(collection, {}).values(),
                          key=lambda i: (i["update_time"], i["id"]))
            if since:
                bound = stamp(dt.datetime.fromisoformat(since.replace("Z", "+00:00")))
                rows = [i for i in rows if i["update_time"] >= bound]
            else:
                rows = [i for i in rows if not i["deleted"]]
            chunk = [copy.deepcopy(i) for i in rows[start : start + limit]]
        more = start + limit < len(rows)
        body = {
            "success": True,
            "data": chunk or None,  # Pipedrive answers null, not [], past the end
            "additional_data": {
                "pagination": {
                    "start": start, "limit": limit, "more_items_in_collection": more,
                    **({"next_start": start + limit} if more else {}),
                },
                "next_cursor": _encode(start + limit) if more else None,
            },
        }
        return 200, {}, body


def _encode(start: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{start}".encode()).decode()


def _decode(cursor: str) -> int:
    return int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("offset:"))


def _handler(crm: Crm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            collection = url.path.removeprefix("/v1/")
            # Pipedrive accepts its token as a bearer header or as the api_token parameter.
            if (self.headers.get("Authorization") != f"Bearer {TOKEN}"
                    and query.get("api_token") != TOKEN):
                status, headers, body = 401, {}, {"success": False, "error": "unauthorized"}
            elif url.path not in ("/v1/persons", "/v1/deals"):
                status, headers, body = 404, {}, {"success": False, "error": "not found"}
            else:
                status, headers, body = crm.page(collection, query)
            with crm.lock:
                crm.log.append((url.path, query, status))
            payload = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test keeps its own log

    return Handler


@contextmanager
def serve(crm: Crm) -> Iterator[str]:
    """Serve the CRM on an ephemeral port; yields the base URL (`http://127.0.0.1:PORT/v1/`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(crm))
    thread = threading.Thread(target=server.serve_forever, name="fake-crm", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
