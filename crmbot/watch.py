"""Health watcher run beside the servers by ``crmbot up``: says when everything is ready.

Exits non-zero when a server does not come up in time, which makes ``crmbot up`` stop the
others (one process ending ends them all). After start-up it keeps checking and reports
changes, so the one log stream also shows when a part stops answering. ``--after-ready`` runs a
command once everything is ready (``make run`` plays the demo conversations this way); its
failure is reported and the platform keeps running.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time

from crmbot.runtime import is_healthy as healthy

POLL_SECONDS = 1.0
WATCH_SECONDS = 15.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="append", default=[], metavar="NAME=URL",
                        help="a health URL to poll (repeatable)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--ready-message", default="platform ready")
    parser.add_argument("--after-ready", default=None, metavar="COMMAND",
                        help="a command to run once, after the ready message")
    args = parser.parse_args(argv)
    malformed = [item for item in args.check if "=" not in item or not item.split("=", 1)[1]]
    if malformed:
        parser.error(f"--check takes NAME=URL, got {malformed[0]!r}")
    checks = dict(item.split("=", 1) for item in args.check)

    deadline = time.monotonic() + args.timeout
    pending = dict(checks)
    while pending:
        for name, url in list(pending.items()):
            if healthy(url):
                print(f"{name} is healthy ({url})", flush=True)
                del pending[name]
        if not pending:
            break
        if time.monotonic() > deadline:
            print(f"not healthy after {args.timeout:.0f} s: {', '.join(pending)}; stopping",
                  file=sys.stderr, flush=True)
            return 1
        time.sleep(POLL_SECONDS)
    print(args.ready_message, flush=True)
    if args.after_ready:
        code = subprocess.call(shlex.split(args.after_ready))
        if code != 0:
            print(f"{args.after_ready!r} failed (exit code {code}); the platform keeps running",
                  file=sys.stderr, flush=True)

    state = {name: True for name in checks}
    while True:
        time.sleep(WATCH_SECONDS)
        for name, url in checks.items():
            ok = healthy(url)
            if ok != state[name]:
                print(f"{name} is {'healthy again' if ok else 'NOT answering'} ({url})", flush=True)
                state[name] = ok


if __name__ == "__main__":
    raise SystemExit(main())
