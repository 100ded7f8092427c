"""Views and URLs of the Django test app."""

from __future__ import annotations

from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def echo(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        request.body + b"|" + request.GET.get("q", "").encode(), content_type="text/plain"
    )


def stream(request: HttpRequest) -> StreamingHttpResponse:
    async def gen() -> AsyncIterator[bytes]:
        # An async iterator: Django warns about sync ones under ASGI.
        for i in range(3):
            yield b"part%d;" % i

    return StreamingHttpResponse(gen(), content_type="text/plain")


def stream_sync(request: HttpRequest) -> StreamingHttpResponse:
    # A sync iterator, for the WSGI handler (tests/integration/test_wsgi.py).
    return StreamingHttpResponse((b"part%d;" % i for i in range(3)), content_type="text/plain")


urlpatterns = [path("echo", echo), path("stream", stream), path("stream-sync", stream_sync)]
