"""Running a prompt on a Latentloom (or ComfyUI) server over its HTTP API: POST /prompt, then poll /history."""
from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from .failures import WorkflowFailed, invalid_from_json
from .results import WorkflowResult

log = logging.getLogger(__name__)

POLL_FIRST_S, POLL_MAX_S = 0.1, 1.0


def _call(url: str, body: Any = None, timeout: float = 30) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        payload = error.read()
        try:
            reply = json.loads(payload)
        except ValueError:
            reply = None
        if error.code == 400 and isinstance(reply, dict) and "node_errors" in reply:
            raise invalid_from_json(reply) from None
        message = reply.get("error", {}).get("message") if isinstance(reply, dict) else None
        raise RuntimeError(f"{request.method} {url} answered {error.code}: "
                           f"{message or payload[:200].decode(errors='replace')}") from None
    except urllib.error.URLError as error:
        raise ConnectionError(f"cannot reach the server at {url}: {error.reason}; is it running?") from None


def _finished(prompt_id: str, entry: dict[str, Any]) -> WorkflowResult:
    status = entry.get("status") or {}
    if status.get("status_str") == "error":
        events = dict((m[0], m[1]) for m in status.get("messages", []) if isinstance(m, list) and len(m) == 2)
        error = events.get("execution_error")
        raise WorkflowFailed(prompt_id, "error" if error else "interrupted", error)
    return WorkflowResult(prompt_id, entry.get("outputs") or {})


def submit_prompt(url: str, prompt: dict[str, Any], *, client_id: str | None = None, wait: bool = True,
                  timeout: float = 600.0) -> WorkflowResult | str:
    """Queue `prompt` at the server `url`; WorkflowInvalid when it refuses the graph. With `wait`, the result once
    the run ends (WorkflowFailed when a node failed, TimeoutError after `timeout` s); else the prompt id."""
    base = url.rstrip("/")
    reply = _call(f"{base}/prompt", {"prompt": prompt, "client_id": client_id or uuid.uuid4().hex})
    prompt_id = reply["prompt_id"]
    if reply.get("node_errors"):
        log.warning("the server queued prompt %s without the outputs that failed validation: %s", prompt_id,
                    invalid_from_json(reply))
    if not wait:
        return prompt_id
    deadline, pause = time.monotonic() + timeout, POLL_FIRST_S
    while True:
        entry = _call(f"{base}/history/{prompt_id}").get(prompt_id)
        if entry is not None:  # the history holds finished prompts only
            return _finished(prompt_id, entry)
        if time.monotonic() > deadline:
            raise TimeoutError(f"prompt {prompt_id} did not finish on {base} within {timeout} s; it may still be "
                               f"queued or running (GET {base}/history/{prompt_id})")
        time.sleep(pause)
        pause = min(pause * 2, POLL_MAX_S)
