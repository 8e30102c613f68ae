"""The HTTP API: ``POST /v1/predict``, ``GET /v1/runs``, ``GET /healthz`` and OpenAPI docs (``/docs``).

FastAPI on uvicorn (``python -m fashion_core serve``). A photo comes as a multipart upload
(field ``photo``) or as a URL (form or JSON field ``url``, fetched under the downloader's safety
rules); it gets the Predict page's checks and limits, and the answer is the JSON of
``predict --json --details``: ``{NAME: {"categories", "familiarity", "applies"}}``. Photos that
arrive together share one forward pass (``serving.batcher``). Every refusal is JSON
``{"error": {"status", "code", "message"}}`` with its own HTTP status. Beyond loopback every
request but ``/healthz`` needs an API token (``Authorization: Bearer TOKEN``), checked by the
``token_check`` given (accounts' tokens).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from fashion_core.accounts.serve import is_loopback
from fashion_core.errors import DownloadError, ImageError, JobError, ModelError, UnsafeURLError
from fashion_core.imaging.decode import ImageLimits, UnknownFormatError, megabytes, photo_pixels
from fashion_core.runs.choose import finished_runs, validation_score
from fashion_core.runs.files import RunDir, get_run, has_model
from fashion_core.serving.batcher import Batcher
from fashion_core.serving.photos import fetch_image_bytes
from fashion_core.serving.predictor import Predictor
from fashion_core.store import LabelStore

TokenCheck = Callable[[str], str | None]  # token -> who it belongs to, or None if it is not valid
BODY_SLACK = 64 * 1024  # multipart headers and fields around the photo itself
EXTRA_RUNS = 2  # runs other than the default kept loaded (least recently used dropped)


class ApiError(Exception):
    """A refused request: its HTTP status, a stable code and a message for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class _Loaded:
    predictor: Predictor
    batcher: Batcher


class _Models:
    """The default run's model, loaded at start, and up to ``EXTRA_RUNS`` others loaded when asked."""

    def __init__(self, store: LabelStore, default_run: str, engine: str, limits: ImageLimits) -> None:
        self.store, self.default, self.engine, self.limits = store, default_run, engine, limits
        self._lock = threading.Lock()
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()
        self.get(default_run)  # a bad default run fails now, before the server listens

    def get(self, run_id: str) -> _Loaded:
        with self._lock:
            if run_id in self._loaded:
                self._loaded.move_to_end(run_id)
                return self._loaded[run_id]
            predictor = Predictor.from_run(self.store, run_id, limits=self.limits, engine=self.engine)

            def details(batch: Any, done: Any) -> list:
                # ranking, familiarity and applies for the whole batch, beside the next forward pass
                rows = predictor.with_saved_thresholds().rows_of(done)
                answers = [answer for answer, _ in rows]
                features = None if not rows or rows[0][1] is None else np.stack([f for _, f in rows])
                return predictor.details(batch, answers, features)

            loaded = _Loaded(predictor, Batcher(predictor.forward_pass, then=details))
            self._loaded[run_id] = loaded
            extra = [r for r in self._loaded if r != self.default]
            while len(extra) > EXTRA_RUNS:
                self._loaded.pop(extra.pop(0)).batcher.close()
            return loaded

    def close(self) -> None:
        with self._lock:
            for loaded in self._loaded.values():
                loaded.batcher.close()
            self._loaded.clear()


def create_app(
    store: LabelStore,
    run_id: str,
    *,
    host: str = "127.0.0.1",
    token_check: TokenCheck | None = None,
    engine: str = "auto",
    limits: ImageLimits = ImageLimits(),
) -> FastAPI:
    """The API serving ``run_id`` (and the store's other runs when a request names one).

    Args:
        store: The workspace's label store.
        run_id: The run answering requests that name none (loaded now).
        host: Where it will listen: beyond loopback, ``token_check`` is required.
        token_check: Checks an API token, returning who it belongs to (None: refused). Given,
            every request but ``/healthz`` needs ``Authorization: Bearer TOKEN``.
        engine: ``auto`` (the serving model) or ``int8`` (its INT8 twin), see ``Predictor.from_run``.
        limits: The photo checks (the Predict page's by default).

    Raises:
        ModelError: A non-loopback host without a token check, or a run that cannot serve.
        JobError: Unknown run.
    """
    if token_check is None and not is_loopback(host):
        raise ModelError(f"Refusing to serve on {host} without API tokens: beyond this machine every request"
                         " must carry a token. Serve on 127.0.0.1, or give a token check.")
    models = _Models(store, run_id, engine, limits)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        models.close()

    app = FastAPI(title="Fashion Attribute Studio API", version="1", lifespan=lifespan,
                  description="Predict every clothing attribute of a photo with a trained run's model.")
    app.state.models = models
    _add_error_handlers(app)
    app.add_middleware(_BodyLimit, limit=limits.max_bytes + BODY_SLACK)

    def authorize(request: Request) -> None:
        if token_check is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "missing_token", "This API needs a token: send `Authorization: Bearer TOKEN`.")
        if token_check(token.strip()) is None:
            raise ApiError(403, "wrong_token", "The API token is not valid (unknown, revoked or expired).")

    @app.get("/healthz", summary="Liveness: the server answers and its default run is loaded")
    def healthz() -> dict[str, Any]:
        loaded = models.get(models.default)
        return {"status": "ok", "run": models.default, "engine": loaded.predictor.engine}

    @app.get("/v1/runs", summary="Runs with a model this server can answer with")
    def runs(request: Request) -> dict[str, Any]:
        authorize(request)
        return {"default": models.default, "runs": [_run_entry(r) for r in finished_runs(store)]}

    @app.post("/v1/predict", summary="Predict every category of one photo (upload or URL)",
              openapi_extra={"requestBody": _REQUEST_BODY})
    async def predict(request: Request) -> JSONResponse:
        authorize(request)
        fields = await _fields(request)
        run = str(fields.get("run") or models.default)
        # the default run is loaded at start (no store query, no thread hop); another may load now
        loaded = models.get(run) if run == models.default else await run_in_threadpool(_load, models, run)
        data, name = await _photo(fields, limits)
        try:
            pixels = await run_in_threadpool(photo_pixels, data, loaded.predictor.image_size, limits=limits, name=name)
        except UnknownFormatError as exc:
            raise ApiError(415, "not_an_image", str(exc)) from None
        except ImageError as exc:
            raise ApiError(422, "bad_image", str(exc)) from None
        answer = await asyncio.wrap_future(loaded.batcher.submit(pixels))
        return JSONResponse({name: answer.details_dict()},
                            headers={"X-Run": run, "X-Engine": loaded.predictor.engine})

    return app


def _load(models: _Models, run: str) -> _Loaded:
    try:
        get_run(models.store, run)
    except JobError as exc:
        raise ApiError(404, "unknown_run", str(exc)) from None
    try:
        return models.get(run)
    except ModelError as exc:
        raise ApiError(409, "run_cannot_serve", str(exc)) from None


async def _fields(request: Request) -> dict[str, Any]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            form = await request.form(max_files=1, max_fields=8)
        except _TooLarge:
            raise
        except Exception as exc:  # noqa: BLE001 - the form parser raises several types for bad bodies
            raise ApiError(400, "bad_form", f"Cannot read the form: {exc}") from None
        return dict(form.items())
    if kind == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "bad_json", "The body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "bad_json", 'Expected a JSON object such as {"url": "https://..."}.')
        return body
    raise ApiError(415, "unsupported_body", "Send multipart/form-data with a `photo` file, or JSON"
                   ' {"url": "https://..."}; got ' + (kind or "no content type") + ".")


async def _photo(fields: dict[str, Any], limits: ImageLimits) -> tuple[bytes, str]:
    photo, url = fields.get("photo"), fields.get("url")
    if isinstance(photo, UploadFile):
        data = await photo.read()
        name = photo.filename or "photo"
    elif isinstance(url, str) and url.strip():
        name = url.strip()
        try:
            data = await run_in_threadpool(fetch_image_bytes, name, max_bytes=limits.max_bytes)
        except UnsafeURLError as exc:
            raise ApiError(400, "bad_url", str(exc)) from None
        except ImageError as exc:
            raise ApiError(413, "too_large", str(exc)) from None
        except DownloadError as exc:
            raise ApiError(502, "fetch_failed", str(exc)) from None
    else:
        raise ApiError(400, "no_photo", "Send a photo: a multipart file field `photo`, or a field `url`.")
    if len(data) > limits.max_bytes:
        raise ApiError(413, "too_large", f"{name}: file too large: {megabytes(len(data))} >"
                                         f" {megabytes(limits.max_bytes)}")
    return data, name


def _run_entry(run: Any) -> dict[str, Any]:
    files = run.files_sha256 or {}
    config = run.config or {}
    return {"id": run.id, "dataset": run.dataset, "status": run.status, "backbone": config.get("backbone"),
            "image_size": config.get("image_size"), "val_accuracy": validation_score(run),
            "has_model": has_model(run), "serving_model": RunDir.SERVING in files,
            "int8_model": RunDir.SERVING_INT8 in files}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "code": code, "message": message}}, status_code=status)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(_TooLarge)
    async def too_large(request: Request, exc: _TooLarge) -> JSONResponse:
        return _error(413, "too_large", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_request", "; ".join(str(e.get("msg")) for e in exc.errors()))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, "internal", f"The server failed to answer ({type(exc).__name__}); see its log.")


class _TooLarge(Exception):
    pass


class _BodyLimit:
    """Refuse bodies over ``limit`` bytes: by Content-Length at once, else while they stream in."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"Request body too large: more than {megabytes(self.limit)} (photos up to" \
                  f" {megabytes(self.limit - BODY_SLACK)})."
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            status, code = (413, "too_large") if length.isdigit() else (400, "bad_length")
            await _error(status, code, message if length.isdigit() else "Bad Content-Length.")(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            event = await receive()
            if event.get("type") == "http.request":
                seen += len(event.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge(message)
            return event

        await self.app(scope, limited, send)


_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "photo": {"type": "string", "format": "binary", "description": "JPEG, PNG or WebP, up to 10 MB"},
            "url": {"type": "string", "description": "or a photo URL (public addresses only)"},
            "run": {"type": "string", "description": "run id (default: the server's run)"}}}},
        "application/json": {"schema": {"type": "object", "properties": {
            "url": {"type": "string"}, "run": {"type": "string"}}, "required": ["url"]}},
    },
}
