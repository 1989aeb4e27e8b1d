"""Serving export folders and the browser runtime on 127.0.0.1: the library behind `kr-electra-kd demo`, the browser
tests and `benchmarks.edge`.

The browser runtime is transformers.js (`@huggingface/transformers`, pinned in web/package.json and its lockfile,
installed with `npm ci --ignore-scripts` in web/) over onnxruntime-web's plain SIMD-threaded WebAssembly build: of the
builds npm ships it is the smallest that runs these models (14.3 MB, 3.7 MB gzipped, against 26.9 MB / 6.6 MB for the
`asyncify` build transformers.js picks by default, which only WebGPU needs), so the page maps transformers.js's
`onnxruntime-web/webgpu` import to `ort.wasm.min.mjs` with an import map and points `wasmPaths` at the local files.
Nothing is fetched from a CDN. Every response carries the COOP/COEP headers that make the page cross-origin isolated,
which multi-threaded WebAssembly needs.

    server = serve({"lf3-nsmc": Path("lf3-nsmc-onnx")})   # http://127.0.0.1:<port>/?model=lf3-nsmc
"""

from __future__ import annotations

import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from training.onnx_export import QUANTIZED_FILE, WEB_HEADS, check_export_folder

PAGE_DIR = Path(__file__).resolve().parent / "web"
# web/node_modules of a source checkout (`npm ci --ignore-scripts` in web/ writes it).
NODE_MODULES = Path(__file__).resolve().parents[1] / "web" / "node_modules"
# The files the page loads, served under /runtime/, and where npm puts them.
RUNTIME_FILES = {
    "transformers.web.min.js": "@huggingface/transformers/dist/transformers.web.min.js",
    "ort.wasm.min.mjs": "onnxruntime-web/dist/ort.wasm.min.mjs",
    "ort-wasm-simd-threaded.mjs": "onnxruntime-web/dist/ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm": "onnxruntime-web/dist/ort-wasm-simd-threaded.wasm",
}
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
SETUP_HINT = "run `npm ci --ignore-scripts` in web/ (scripts/setup_browser.sh)"
# A model folder's own browser figures (`python -m benchmarks.edge --nsmc-model FOLDER` writes it); its card states them.
BROWSER_RECORD = "browser.json"


def runtime_versions(node_modules: Path = NODE_MODULES) -> dict[str, str]:
    """The installed transformers.js and onnxruntime-web versions."""
    versions = {}
    for name in ("@huggingface/transformers", "onnxruntime-web"):
        package = node_modules / name / "package.json"
        versions[name] = json.loads(package.read_text())["version"] if package.is_file() else "missing"
    return versions


def missing_runtime_files(node_modules: Path = NODE_MODULES) -> list[str]:
    return [name for name, path in RUNTIME_FILES.items() if not (node_modules / path).is_file()]


def model_info(folder: Path) -> dict:
    """What the page needs to know of an export folder: its task (None: no transformers.js pipeline), labels, dtypes."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    architecture = config["exported_from"]["architectures"][0]
    dtypes = ["fp32"] + (["q8"] if (folder / "onnx" / QUANTIZED_FILE).is_file() else [])
    return {"task": WEB_HEADS[architecture][1], "architecture": architecture, "dtypes": dtypes}


class Handler(SimpleHTTPRequestHandler):
    """/ and /page/* the demo page, /runtime/* the runtime files, /models/<name>/* the export folders,
    /info.json what is served. Anything else is a 404."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript", ".js": "text/javascript"}
    extensions_map[".wasm"] = "application/wasm"

    def __init__(self, *args, models: dict[str, Path], node_modules: Path, **kwargs):
        self.models, self.node_modules = models, node_modules
        super().__init__(*args, directory=str(PAGE_DIR), **kwargs)

    def translate_path(self, path: str) -> str:
        parts = [part for part in unquote(urlsplit(path).path).split("/") if part]
        if any(part in ("..", ".") for part in parts):
            return "/nonexistent"
        if not parts:
            return str(PAGE_DIR / "index.html")
        if parts[0] == "page" and len(parts) == 2:
            return str(PAGE_DIR / parts[1])
        if parts[0] == "runtime" and len(parts) == 2 and parts[1] in RUNTIME_FILES:
            return str(self.node_modules / RUNTIME_FILES[parts[1]])
        if parts[0] == "models" and len(parts) > 2 and parts[1] in self.models:
            return str(self.models[parts[1]].joinpath(*parts[2:]))
        return "/nonexistent"

    def do_GET(self):
        if urlsplit(self.path).path == "/info.json":
            info = {"runtime": list(RUNTIME_FILES), "models": {n: model_info(f) for n, f in self.models.items()}}
            body = json.dumps(info).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def list_directory(self, path):
        self.send_error(404)

    def end_headers(self):
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format, *args):  # quiet: the tests and the benchmark serve many files
        pass


class Server:
    """A running server (in a daemon thread); `url`, and `close()` to stop it."""

    def __init__(self, models: dict[str, Path], node_modules: Path = NODE_MODULES, port: int = 0):
        handler = partial(Handler, models={k: Path(v) for k, v in models.items()}, node_modules=Path(node_modules))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(models: dict[str, Path], node_modules: Path = NODE_MODULES, port: int = 0) -> Server:
    return Server(models, node_modules, port)


def serve_demo(folder: Path, node_modules: Path = NODE_MODULES, port: int = 0) -> tuple[Server, str]:
    """Serve one export folder with the demo page (`kr-electra-kd demo`); the server and the folder's pipeline task.
    A folder that is not an export, a head without a transformers.js pipeline or a missing runtime: ValueError."""
    check_export_folder(folder)
    info = model_info(folder)
    if info["task"] is None:
        raise ValueError(f"{info['architecture']} has no transformers.js pipeline; nothing to demo.")
    missing = missing_runtime_files(node_modules)
    if missing:
        raise ValueError(f"web runtime not found in {node_modules} (missing {missing[0]}): {SETUP_HINT}")
    return serve({folder.name: folder}, node_modules, port), info["task"]


def browser_card_text(model_dir: Path) -> str:
    """The model card's lines on this model in the browser, from its browser.json ("" when it was never measured)."""
    path = Path(model_dir) / BROWSER_RECORD
    if not path.is_file():
        return ""
    r = json.loads(path.read_text(encoding="utf-8"))
    return (
        f"\n- In the browser (Chromium {r['browser']['version']}, transformers.js {r['runtime']['@huggingface/transformers']}"
        f", onnxruntime-web WASM, the {r['dtype']} export): {r['model_bytes'] / 1e6:.1f} MB model file, "
        f"{r['first_visit_gzip_bytes'] / 1e6:.1f} MB gzipped on a first visit with the runtime, "
        f"{r['browser_ms_per_review']:.1f} ms per review at batch 32 ({r['machine']['note']}); label agreement with "
        f"PyTorch fp32 {r['label_agreement']:.2f}% on {r['reviews']} NSMC test reviews (accuracy "
        f"{r['browser_q8_accuracy']:.2f}% against {r['pytorch_fp32_accuracy']:.2f}%)."
    )
