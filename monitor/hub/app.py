"""The hub's ASGI application (Starlette): the ingest endpoint, a health check, and room for more routes
(the Ministry's board of issue 16 mounts its pages here, in the same ``hub serve`` process).

The endpoint does the cheap checks on the event loop (token, declared size) before reading the body, reads
the body with a hard limit, and runs the database work in Starlette's thread pool (the ingest uses the
synchronous psycopg engine). Refusals are JSON with the status code :mod:`monitor.hub.protocol` names.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.hub.ingest import Ingest
from monitor.hub.protocol import INGEST_PATH, Refusal

log = logging.getLogger("monitor.hub.app")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = Refusal(413, "too_large", "the request is larger than the hub accepts", limit_bytes=limit)
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_large
        except ValueError:
            raise Refusal(422, "malformed", "bad Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(ingest: Ingest, *, routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The ASGI app of ``hub serve``: ``POST /api/v1/ingest``, ``GET /healthz`` and ``routes``."""

    async def ingest_endpoint(request: Request) -> Response:
        office_id = "-"
        try:
            office = ingest.authenticate(request.headers.get("authorization"))
            office_id = office.id
            body = await _read_body(request, ingest.limits.max_request_bytes)
            req = ingest.parse(body, request.headers.get("content-encoding"))
            reply = await run_in_threadpool(ingest.handle, office, req)
        except Refusal as refusal:
            level = logging.INFO if refusal.status in (409, 503) else logging.WARNING
            log.log(level, "ingest refused (office %s, %s): %s %s", office_id,
                    request.client.host if request.client else "?", refusal.status, refusal.body["detail"])
            return JSONResponse(refusal.body, status_code=refusal.status, headers=refusal.headers)
        log.debug("ingest office %s: acknowledged %d (%d applied, %d duplicates)", office_id,
                  reply.acknowledged_seq, reply.applied, reply.duplicates)
        return JSONResponse(reply.model_dump(mode="json"))

    async def health(_request: Request) -> Response:
        def probe() -> None:
            with ingest.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        try:
            await run_in_threadpool(probe)
        except Exception as exc:
            return JSONResponse({"ok": False, "database": str(exc).splitlines()[0][:200]}, status_code=503)
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route(INGEST_PATH, ingest_endpoint, methods=["POST"]),
                             Route("/healthz", health, methods=["GET"]), *routes])
