"""The API's server processes: the settings they share and the app each one builds.

One process answers with one Python interpreter: its event loop (HTTP, multipart, JSON) and the
batcher's second step share one GIL, so on two cores the forward pass waits for Python. ``serve
--workers N`` starts N processes (uvicorn's workers, one listening socket); each builds its own
app from the settings passed through the environment (``app_from_environment``), with its own
model (about 200 MB each).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fashion_core.errors import ModelError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from fashion_core.serving.api import TokenCheck
    from fashion_core.store import LabelStore

SETTINGS_ENV = "FASHION_SERVE_SETTINGS"


@dataclass(frozen=True)
class ServeSettings:
    """What every server process needs to build the same app."""

    db_path: str  # the workspace's label store
    run_id: str
    host: str = "127.0.0.1"
    engine: str = "auto"  # or "int8"


def token_check(store: LabelStore) -> TokenCheck | None:
    """With accounts on, every request needs one of their API tokens (`users token add`); without, None."""
    from fashion_core.accounts import accounts_on, check_token

    if not accounts_on(store):
        return None

    def check(token: str) -> str | None:
        who = check_token(store, token)
        return None if who is None else who.name

    return check


def build_app(store: LabelStore, settings: ServeSettings) -> FastAPI:
    """The app of one server process (the default run's model loaded now)."""
    from threadpoolctl import threadpool_limits

    from fashion_core.serving.api import create_app

    # Familiarity's small matrix products run between forward passes on a busy machine: a second
    # BLAS thread only spins (measured: the server's CPU per request halved with one thread).
    threadpool_limits(limits=1, user_api="blas")
    return create_app(store, settings.run_id, host=settings.host, token_check=token_check(store),
                      engine=settings.engine)


def settings_environment(settings: ServeSettings) -> dict[str, str]:
    """The environment entry that passes ``settings`` to worker processes."""
    return {SETTINGS_ENV: json.dumps(asdict(settings))}


def app_from_environment() -> FastAPI:
    """uvicorn's app factory in each worker process (``serve --workers N``)."""
    from fashion_core.store import LabelStore

    try:
        settings = ServeSettings(**json.loads(os.environ[SETTINGS_ENV]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"A server worker needs ${SETTINGS_ENV} (set by `serve`); start it with"
                         " `python -m fashion_core serve`.") from exc
    return build_app(LabelStore.open(Path(settings.db_path)), settings)
