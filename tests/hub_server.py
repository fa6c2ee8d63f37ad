"""A Hub-compatible stand-in for the tests: the routes ``huggingface_hub`` calls to create a repo, upload files
(preupload, LFS batch, LFS upload and verify, NDJSON commit) and download them (resolve, revision info, tree).

No Hub server can be installed from the package registries, so the round-trip tests point ``HF_ENDPOINT`` at this
one. It keeps repos in memory with one commit per upload, serves LFS files from a second origin the way the Hub
redirects to its CDN, and answers errors with the ``X-Error-Code`` headers the client turns into its exceptions.
Only model repos, and only the behaviour those tests need.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf", ".model")
LFS_THRESHOLD = 10 * 1024 * 1024
GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in LFS_SUFFIXES).encode()
ZERO_COMMIT = "0" * 40
REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"


class HubError(Exception):
    """An error answer: HTTP status, the Hub's ``X-Error-Code`` (if any) and a message."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class Blob:
    data: bytes
    lfs: bool

    @property
    def git_oid(self) -> str:
        return hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def lfs_pointer(self) -> bytes:
        """The git LFS pointer file that stands for an LFS blob in the git tree."""
        return (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n".encode()
        )


@dataclass
class Repo:
    commits: dict[str, dict[str, Blob]] = field(default_factory=dict)
    main: str = ZERO_COMMIT

    def snapshot(self, revision: str) -> tuple[str, dict[str, Blob]]:
        sha = self.main if revision == "main" else revision
        if sha not in self.commits:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return sha, self.commits[sha]


@dataclass
class Store:
    repos: dict[str, Repo] = field(default_factory=dict)
    lfs_objects: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def repo(self, repo_id: str) -> Repo:
        if repo_id not in self.repos:
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return self.repos[repo_id]

    def commit(self, repo_id: str, files: dict[str, Blob], message: str) -> str:
        repo = self.repo(repo_id)
        listing = sorted((path, blob.git_oid) for path, blob in files.items())
        sha = hashlib.sha1(json.dumps([repo.main, message, listing]).encode()).hexdigest()
        repo.commits[sha] = files
        repo.main = sha
        return sha


def _is_lfs(path: str, size: int, sample: bytes) -> bool:
    return path.endswith(LFS_SUFFIXES) or size >= LFS_THRESHOLD or b"\0" in sample


class HubServer:
    """The stand-in: ``with HubServer() as hub:`` serves on a free port; ``hub.endpoint`` is what ``HF_ENDPOINT``
    takes; ``hub.files(repo_id)`` gives the committed files; ``hub.calls`` lists each ``(method, route)`` served and
    ``hub.unhandled`` each request no route matched, so a test can see the client took the paths it expects."""

    def __init__(self) -> None:
        self.store = Store()
        self.calls: list[tuple[str, str]] = []
        self.unhandled: list[str] = []
        self.hub = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("hub"))
        # LFS content lives on another origin, as on the Hub (its CDN and storage): the client must follow the
        # resolve redirect there without the Hub's auth header.
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("cdn"))
        self.endpoint = f"http://127.0.0.1:{self.hub.server_address[1]}"
        self.cdn_url = f"http://127.0.0.1:{self.cdn.server_address[1]}"

    def __enter__(self) -> HubServer:
        for server in (self.hub, self.cdn):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self.hub, self.cdn):
            server.shutdown()
            server.server_close()

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        with self.store.lock:
            _, files = self.store.repo(repo_id).snapshot(revision)
            return {path: blob.data for path, blob in files.items()}

    def _handler(self, origin: str) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(_Handler):
            hub = server
            routes = _CDN_ROUTES if origin == "cdn" else _HUB_ROUTES

        return Handler


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # ------------------------------------------------------------------------------------------ plumbing
    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        for route_method, pattern, action in self.routes:
            match = pattern.fullmatch(url.path)
            if match and route_method in (method, "GET" if method == "HEAD" else None):
                self.hub.calls.append((method, action.__name__))
                try:
                    with self.hub.store.lock:
                        action(self, **{key: unquote(value or "") for key, value in match.groupdict().items()})
                except HubError as error:
                    headers = {"X-Error-Code": error.code} if error.code else {}
                    self._json(error.status, {"error": str(error)}, {**headers, "X-Error-Message": str(error)})
                return
        self.hub.unhandled.append(f"{method} {self.path}")
        self._json(501, {"error": f"the stand-in Hub has no route for {method} {url.path}"})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        headers = {"Content-Length": str(len(body)), **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _json_body(self) -> Any:
        return json.loads(self.body or b"{}")

    def _require_token(self) -> None:
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            raise HubError(401, "Invalid credentials in Authorization header")

    # -------------------------------------------------------------------------------------------- upload
    def create_repo(self) -> None:
        self._require_token()
        payload = self._json_body()
        repo_id = f"{payload['organization']}/{payload['name']}"
        url = {"url": f"{self.hub.endpoint}/{repo_id}", "name": repo_id}
        if repo_id in self.hub.store.repos:
            return self._json(409, {"error": "You already created this model repo", **url})
        self.hub.store.repos[repo_id] = Repo()
        self.hub.store.commit(repo_id, {".gitattributes": Blob(GITATTRIBUTES, lfs=False)}, "initial commit")
        self._json(200, url)

    def validate_yaml(self) -> None:
        content = self._json_body()["content"]
        match = re.match(r"---\n(.*?)\n---\n", content, re.DOTALL)
        try:
            metadata = yaml.safe_load(match.group(1)) if match else {}
        except yaml.YAMLError as error:
            return self._json(400, {"errors": [{"message": str(error)}], "warnings": []})
        if metadata is not None and not isinstance(metadata, dict):
            return self._json(400, {"errors": [{"message": "metadata must be a mapping"}], "warnings": []})
        self._json(200, {"errors": [], "warnings": []})

    def preupload(self, repo: str, rev: str) -> None:
        self._require_token()
        _, files = self.hub.store.repo(repo).snapshot(rev)
        answers = []
        for entry in self._json_body()["files"]:
            lfs = _is_lfs(entry["path"], entry["size"], base64.b64decode(entry["sample"]))
            existing = files.get(entry["path"])
            oid = None if existing is None else existing.sha256 if existing.lfs else existing.git_oid
            answers.append(
                {"path": entry["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        self._json(200, {"files": answers})

    def lfs_batch(self, repo: str) -> None:
        self._require_token()
        self.hub.store.repo(repo)
        payload = self._json_body()
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", ["basic"]):
            raise HubError(400, "the stand-in Hub only takes basic LFS uploads")
        objects = []
        for obj in payload["objects"]:
            answer = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.hub.store.lfs_objects:
                answer["actions"] = {
                    "upload": {"href": f"{self.hub.cdn_url}/lfs/{obj['oid']}"},
                    "verify": {"href": f"{self.hub.endpoint}/{repo}.git/info/lfs/objects/verify"},
                }
            objects.append(answer)
        self._json(200, {"transfer": "basic", "objects": objects}, {"Content-Type": "application/vnd.git-lfs+json"})

    def lfs_put(self, oid: str) -> None:
        if hashlib.sha256(self.body).hexdigest() != oid:
            raise HubError(400, "uploaded content does not match its sha256")
        self.hub.store.lfs_objects[oid] = self.body
        self._send(200, b"", {})

    def lfs_verify(self, repo: str) -> None:
        self._require_token()
        payload = self._json_body()
        stored = self.hub.store.lfs_objects.get(payload["oid"])
        if stored is None or len(stored) != payload["size"]:
            raise HubError(404, f"LFS object {payload['oid']} was not uploaded")
        self._json(200, {"success": True})

    def commit(self, repo: str, rev: str) -> None:
        self._require_token()
        if self.headers.get("Content-Type") != "application/x-ndjson":
            raise HubError(400, "commit payload must be NDJSON")
        _, files = self.hub.store.repo(repo).snapshot(rev)
        files = dict(files)
        message = ""
        for line in self.body.splitlines():
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                message = value["summary"]
            elif key == "file":
                files[value["path"]] = Blob(base64.b64decode(value["content"]), lfs=False)
            elif key == "lfsFile":
                data = self.hub.store.lfs_objects.get(value["oid"])
                if data is None:
                    raise HubError(422, f"LFS file {value['path']} was never uploaded")
                files[value["path"]] = Blob(data, lfs=True)
            elif key == "deletedFile":
                files.pop(value["path"])
            elif key == "deletedFolder":
                files = {path: blob for path, blob in files.items() if not path.startswith(value["path"] + "/")}
            else:
                raise HubError(400, f"unknown commit operation {key!r}")
        sha = self.hub.store.commit(repo, files, message)
        self._json(200, {"commitUrl": f"{self.hub.endpoint}/{repo}/commit/{sha}", "commitOid": sha})

    def agent_harnesses(self) -> None:  # huggingface_hub's best-effort telemetry registry: empty here
        self._json(200, {"standardEnvVars": [], "harnesses": {}})

    # ------------------------------------------------------------------------------------------ download
    def resolve(self, repo: str, rev: str, path: str) -> None:
        sha, files = self.hub.store.repo(repo).snapshot(rev)
        blob = files.get(path)
        if blob is None:
            raise HubError(404, f"{path} does not exist at {rev}", "EntryNotFound")
        if blob.lfs:  # the Hub answers LFS files with a redirect to its CDN and the blob's metadata
            headers = {
                "Location": f"{self.hub.cdn_url}/lfs/{blob.sha256}",
                "X-Repo-Commit": sha,
                "X-Linked-Etag": f'"{blob.sha256}"',
                "X-Linked-Size": str(len(blob.data)),
            }
            return self._send(302, b"", headers)
        headers = {"ETag": f'"{blob.git_oid}"', "X-Repo-Commit": sha, "Content-Type": "application/octet-stream"}
        self._send(200, blob.data, headers)

    def lfs_get(self, oid: str) -> None:
        data = self.hub.store.lfs_objects.get(oid)
        if data is None:
            raise HubError(404, f"no LFS object {oid}")
        self._send(200, data, {"ETag": f'"{oid}"', "Content-Type": "application/octet-stream"})

    def model_info(self, repo: str, rev: str = "main") -> None:
        sha, files = self.hub.store.repo(repo).snapshot(rev or "main")
        siblings = [{"rfilename": path} for path in sorted(files)]
        self._json(200, {"id": repo, "modelId": repo, "sha": sha, "private": False, "siblings": siblings})

    def tree(self, repo: str, rev: str, path: str = "") -> None:
        _, files = self.hub.store.repo(repo).snapshot(rev)
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        recursive = self.query.get("recursive", "false").lower() in ("1", "true")
        entries: dict[str, dict[str, Any]] = {}
        for name, blob in sorted(files.items()):
            if not name.startswith(prefix):
                continue
            parts = name[len(prefix) :].split("/")
            if len(parts) > 1:
                folders = range(1, len(parts)) if recursive else [1]
                for depth in folders:
                    folder = prefix + "/".join(parts[:depth])
                    entries[folder] = {"type": "directory", "oid": ZERO_COMMIT, "size": 0, "path": folder}
                if not recursive:
                    continue
            entry = {"type": "file", "oid": blob.git_oid, "size": len(blob.data), "path": name}
            if blob.lfs:
                entry["lfs"] = {"oid": blob.sha256, "size": len(blob.data), "pointerSize": len(blob.lfs_pointer)}
            entries[name] = entry
        if prefix and not entries:
            raise HubError(404, f"{path} does not exist at {rev}", "EntryNotFound")
        self._json(200, list(entries.values()))


_HUB_ROUTES = [
    ("POST", re.compile(r"/api/repos/create"), _Handler.create_repo),
    ("POST", re.compile(r"/api/validate-yaml"), _Handler.validate_yaml),
    ("GET", re.compile(r"/api/agent-harnesses"), _Handler.agent_harnesses),
    ("POST", re.compile(rf"/api/models/{REPO}/preupload/(?P<rev>[^/]+)"), _Handler.preupload),
    ("POST", re.compile(rf"/api/models/{REPO}/commit/(?P<rev>[^/]+)"), _Handler.commit),
    ("POST", re.compile(rf"/{REPO}\.git/info/lfs/objects/batch"), _Handler.lfs_batch),
    ("POST", re.compile(rf"/{REPO}\.git/info/lfs/objects/verify"), _Handler.lfs_verify),
    ("GET", re.compile(rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)"), _Handler.resolve),
    ("GET", re.compile(rf"/api/models/{REPO}(?:/revision/(?P<rev>[^/]+))?"), _Handler.model_info),
    ("GET", re.compile(rf"/api/models/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?"), _Handler.tree),
]
_CDN_ROUTES = [
    ("PUT", re.compile(r"/lfs/(?P<oid>[0-9a-f]{64})"), _Handler.lfs_put),
    ("GET", re.compile(r"/lfs/(?P<oid>[0-9a-f]{64})"), _Handler.lfs_get),
]
