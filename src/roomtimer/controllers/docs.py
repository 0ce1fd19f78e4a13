"""The API's own description: GET /api/openapi.json, and GET /api/docs to read it."""

from aiohttp import web

from roomtimer import keys
from roomtimer.controllers.pages import page
from roomtimer.middleware.security import DOCS_CSP
from roomtimer.render import json_response


async def openapi(request: web.Request) -> web.Response:
    """GET /api/openapi.json: the OpenAPI 3.1 document of the HTTP API."""
    return json_response(request.app[keys.openapi])


async def docs(request: web.Request) -> web.Response:
    """GET /api/docs: the document, rendered by Swagger UI served from the package."""
    return page(request, "docs.html", csp=DOCS_CSP)
