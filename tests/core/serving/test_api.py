"""The HTTP API: answers equal the CLI's, clear JSON refusals, tokens beyond loopback, batching, uvicorn,
worker processes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from fashion_core.cli import main
from fashion_core.errors import ModelError
from fashion_core.imaging import MAX_IMAGE_BYTES
from fashion_core.serving import create_app
from fashion_core.serving.api import is_loopback
from fashion_core.serving.batcher import Batcher
from tests.conftest import serve_pages
from tests.core.modeling._tiny_data import TinyRun, train_tiny_run

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRun]:
    made = train_tiny_run(tmp_path_factory.mktemp("api"), n=24)
    yield made
    made.store.close()


@pytest.fixture(scope="module")
def client(trained: TinyRun) -> Iterator[TestClient]:
    with TestClient(create_app(trained.store, trained.run_id)) as c:
        yield c


def photo(trained: TinyRun, i: int = 0) -> Path:
    return trained.data / "img" / f"{i:03d}.jpg"


def upload(path: Path, name: str | None = None) -> dict:
    return {"photo": (name or str(path), path.read_bytes(), "image/jpeg")}


def refusal(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status and error["code"] == code and error["message"]
    return error["message"]


@pytest.mark.slow
def test_answers_equal_the_clis(trained: TinyRun, client: TestClient, capsys: pytest.CaptureFixture) -> None:
    paths = [photo(trained, i) for i in range(3)]
    code = main(["--home", str(trained.workspace.root), "predict", "--run", trained.run_id, *map(str, paths),
                 "--json", "--details"])
    cli = json.loads(capsys.readouterr().out)
    assert code == 0
    for path in paths:
        response = client.post("/v1/predict", files=upload(path))
        assert response.status_code == 200, response.text
        assert response.headers["x-run"] == trained.run_id and response.headers["x-engine"] == "tflite"
        assert response.json() == {str(path): cli[str(path)]}


@pytest.mark.slow
def test_a_calibrated_runs_details_equal_the_clis(trained: TinyRun, capsys: pytest.CaptureFixture) -> None:
    from fashion_core.analysis import calibrate_run

    calibrate_run(trained.store, trained.run_id)  # familiarity and applies join the answers
    paths = [photo(trained, i) for i in range(4)]
    code = main(["--home", str(trained.workspace.root), "predict", "--run", trained.run_id, *map(str, paths),
                 "--json", "--details"])
    cli = json.loads(capsys.readouterr().out)
    assert code == 0 and all(cli[str(p)]["familiarity"] is not None for p in paths)
    with TestClient(create_app(trained.store, trained.run_id)) as c, ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda p: c.post("/v1/predict", files=upload(p)).json(), paths))
    assert answers == [{str(p): cli[str(p)]} for p in paths]


@pytest.mark.slow
def test_runs_health_and_docs(trained: TinyRun, client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "run": trained.run_id, "engine": "tflite"}
    runs = client.get("/v1/runs").json()
    assert runs["default"] == trained.run_id
    [entry] = runs["runs"]
    assert entry["id"] == trained.run_id and entry["serving_model"] and entry["has_model"]
    spec = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/runs", "/healthz"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


@pytest.mark.slow
def test_bad_requests_get_clear_json_errors(trained: TinyRun, client: TestClient, tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    assert "not a JPEG, PNG or WebP image" in refusal(client.post("/v1/predict", files=upload(text, "notes.jpg")),
                                                      415, "not_an_image")
    big = b"\xff\xd8" + b"0" * (MAX_IMAGE_BYTES + 200_000)
    assert "too large" in refusal(client.post("/v1/predict", files={"photo": ("big.jpg", big, "image/jpeg")}),
                                  413, "too_large")
    just_over = b"\xff\xd8" + b"0" * MAX_IMAGE_BYTES  # within the body slack: refused by the photo check
    assert "file too large" in refusal(client.post("/v1/predict", files={"photo": ("j.jpg", just_over, "image/jpeg")}),
                                       413, "too_large")
    refusal(client.post("/v1/predict", json={"url": "ftp://example.com/a.jpg"}), 400, "bad_url")
    assert "loopback" in refusal(client.post("/v1/predict", json={"url": "http://127.0.0.1:9/a.jpg"}), 400, "bad_url")
    refusal(client.post("/v1/predict", data={"run": "nope"}, files=upload(photo(trained))), 404, "unknown_run")
    refusal(client.post("/v1/predict", json={}), 400, "no_photo")
    refusal(client.post("/v1/predict", content=b"{", headers={"content-type": "application/json"}), 400, "bad_json")
    refusal(client.post("/v1/predict", content=b"x", headers={"content-type": "text/plain"}), 415, "unsupported_body")
    refusal(client.get("/v1/nothing"), 404, "not_found")


@pytest.mark.slow
def test_a_url_is_fetched_under_the_downloaders_rules(trained: TinyRun) -> None:
    data = photo(trained).read_bytes()
    with serve_pages({"/p.jpg": (200, data)}) as site:
        app = create_app(trained.store, trained.run_id)
        with TestClient(app) as c:  # a loopback site is refused (no private addresses through the API)
            refusal(c.post("/v1/predict", data={"url": f"{site}/p.jpg"}), 400, "bad_url")


@pytest.mark.slow
def test_tokens_are_required_beyond_loopback(trained: TinyRun) -> None:
    with pytest.raises(ModelError, match="Refusing to serve on 0.0.0.0 without API tokens"):
        create_app(trained.store, trained.run_id, host="0.0.0.0")
    app = create_app(trained.store, trained.run_id, host="0.0.0.0", token_check=lambda t: "ann" if t == "s3cret" else None)
    with TestClient(app) as c:
        refusal(c.post("/v1/predict", files=upload(photo(trained))), 401, "missing_token")
        refusal(c.get("/v1/runs"), 401, "missing_token")
        refusal(c.post("/v1/predict", files=upload(photo(trained)), headers={"Authorization": "Bearer guess"}),
                403, "wrong_token")
        ok = c.post("/v1/predict", files=upload(photo(trained)), headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and c.get("/healthz").status_code == 200
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")


def test_cli_refuses_to_serve_beyond_loopback(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "fashion_core", "--home", str(tmp_path / "ws"), "serve",
                           "--host", "0.0.0.0"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Refusing to listen on 0.0.0.0" in done.stderr and "Traceback" not in done.stderr
    assert "users add" in done.stderr  # says how to turn accounts on


def test_requests_arriving_together_share_one_forward_pass() -> None:
    release = threading.Event()
    seen: list[int] = []

    def predict(batch: np.ndarray) -> list[float]:
        release.wait(5)  # the first batch holds the model while the others queue
        seen.append(len(batch))
        return [float(row.sum()) for row in batch]

    batcher = Batcher(predict, max_batch=8)
    try:
        first = batcher.submit(np.ones((2, 2, 3)))
        time.sleep(0.2)
        rest = [batcher.submit(np.full((2, 2, 3), i, np.float64)) for i in range(2, 7)]
        release.set()
        assert first.result(5) == 12.0
        assert [f.result(5) for f in rest] == [12.0 * i for i in range(2, 7)]
        assert seen == [1, 5]
    finally:
        batcher.close()

    def broken(batch: np.ndarray) -> list:
        raise ModelError("model failed")

    failing = Batcher(broken)
    with pytest.raises(ModelError, match="model failed"):
        failing.submit(np.ones((2, 2, 3))).result(5)
    failing.close()


def test_the_second_stage_runs_beside_the_next_forward_pass_on_whole_batches() -> None:
    second_started, second_release = threading.Event(), threading.Event()
    forwards: list[int] = []
    seconds: list[int] = []

    def forward(batch: np.ndarray) -> list[float]:
        forwards.append(len(batch))
        return [float(row.sum()) for row in batch]

    def then(batch: np.ndarray, first: list[float]) -> list[str]:
        second_started.set()
        second_release.wait(5)  # the first batch's details hold the second stage...
        seconds.append(len(batch))
        if first[0] < 0:
            raise ModelError("details failed")
        return [f"{value:.0f} of {len(batch)}" for value in first]

    batcher = Batcher(forward, then=then, max_batch=8)
    try:
        first = batcher.submit(np.ones((2, 2, 3)))
        assert second_started.wait(5)
        rest = [batcher.submit(np.full((2, 2, 3), i, np.float64)) for i in range(2, 5)]
        deadline = time.time() + 5
        while len(forwards) < 2 and time.time() < deadline:  # ...while the next forward pass goes on
            time.sleep(0.01)
        assert forwards == [1, 3] and seconds == []
        second_release.set()
        assert first.result(5) == "12 of 1"
        assert [f.result(5) for f in rest] == ["24 of 3", "36 of 3", "48 of 3"]
        assert seconds == [1, 3]
        with pytest.raises(ModelError, match="details failed"):  # its errors reach the callers too
            batcher.submit(np.full((2, 2, 3), -1.0)).result(5)
    finally:
        batcher.close()


@pytest.mark.slow
def test_real_uvicorn_answers_concurrent_clients(trained: TinyRun) -> None:
    import uvicorn

    app = create_app(trained.store, trained.run_id)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 30
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        paths = [photo(trained, i) for i in range(8)]
        single = {str(p): httpx.post(f"{base}/v1/predict", files=upload(p), timeout=30).json() for p in paths[:2]}

        def ask(path: Path) -> dict:
            response = httpx.post(f"{base}/v1/predict", files=upload(path), timeout=30)
            assert response.status_code == 200, response.text
            return response.json()

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(ask, paths * 2))
        assert [list(a) for a in answers] == [[str(p)] for p in paths * 2]
        for path in paths[:2]:
            assert answers[paths.index(path)] == single[str(path)]
        assert httpx.post(f"{base}/v1/predict", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.mark.slow
def test_serve_with_two_workers_answers_from_two_processes(trained: TinyRun) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "fashion_core", "--home", str(trained.workspace.root), "serve",
                               "--run", trained.run_id, "--port", str(port), "--workers", "2"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.time() < deadline, server.stderr.read() if server.stderr else ""
            time.sleep(0.2)
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        workers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(workers) == 2  # uvicorn's two worker processes under `serve` (beside multiprocessing's tracker)
        paths = [photo(trained, i) for i in range(6)]
        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(pool.map(lambda p: httpx.post(f"{base}/v1/predict", files=upload(p), timeout=60), paths))
        with TestClient(create_app(trained.store, trained.run_id)) as here:  # the run as it is now (maybe calibrated)
            for path, answer in zip(paths, answers):
                assert answer.status_code == 200 and answer.json() == here.post("/v1/predict", files=upload(path)).json()
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert server.returncode == 0 and "Traceback" not in (server.stderr.read() if server.stderr else "")


def test_serve_refuses_a_bad_worker_count(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "fashion_core", "--home", str(tmp_path / "ws"), "serve",
                           "--workers", "0"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--workers" in done.stderr and "1 to 16" in done.stderr
    assert "Traceback" not in done.stderr


def test_importing_the_api_loads_no_tensorflow() -> None:
    code = ("import sys, fashion_core.serving.api, fashion_core.cli.serve, fashion_core.serving.predictor,"
            " fashion_core.serving.workers;"
            " print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr
