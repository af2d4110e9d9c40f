"""``python -m shared.healthcheck URL``: a container's health check.

Exit 0 when ``URL`` (a service's ``/readyz``) answers 200. Otherwise print one line saying
why, the service's own reason code when it gave one (``not ready: stt_key_rejected``), and
exit 1: ``docker inspect`` / ``podman inspect`` then show IT the reason, not a traceback.
Standard library only: it runs every few seconds.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 4.5  # inside compose's 5 s: /readyz may ask AssemblyAI (2 s) and Redis


def _reason(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return "no reason given"
    if isinstance(data, dict):
        reason = data.get("reason") or {k: v for k, v in data.items() if k != "status"}
        return str(reason)[:200]
    return "no reason given"


def check(url: str, timeout_s: float = TIMEOUT_S) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s):  # noqa: S310 - our own loopback URL
            return True, "ready"
    except urllib.error.HTTPError as err:
        return False, f"not ready ({err.code}): {_reason(err.read(4000))}"
    except (urllib.error.URLError, OSError) as err:
        return False, f"no answer: {type(err).__name__}: {getattr(err, 'reason', err)}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m shared.healthcheck URL", file=sys.stderr)
        return 2
    ok, line = check(args[0])
    if not ok:
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
