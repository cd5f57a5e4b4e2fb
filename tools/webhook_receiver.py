"""A local webhook receiver for trying the service: verifies and prints.

    .venv/bin/python tools/webhook_receiver.py --secret whsec_... [--port 9000]

Register http://127.0.0.1:9000/ as an endpoint in the admin (loopback is
allowed while DEBUG is on) and paste the secret it shows once. Each request
is verified with the ``standardwebhooks`` library, as a receiver should, and
answered 204 (400 when the signature does not verify). ``--fail N`` answers
the first N requests with 500, to watch the retries.
"""

import argparse
import builtins
import json
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secret", required=True, help="the endpoint's whsec_ secret")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument(
        "--fail", type=int, default=0, help="answer 500 this often first"
    )
    args = parser.parse_args()
    webhook = Webhook(args.secret)
    print = partial(builtins.print, flush=True)  # shown at once, even in a pipe
    failures = {"left": args.fail}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if failures["left"] > 0:
                failures["left"] -= 1
                print(f"-> 500 on purpose for {self.headers.get('webhook-id')}")
                self._answer(500)
                return
            try:
                payload = webhook.verify(body, dict(self.headers.items()))
            except WebhookVerificationError as error:
                print(f"-> 400, not verified: {error}")
                self._answer(400)
                return
            print(f"{payload['type']}  {self.headers['webhook-id']}")
            print(json.dumps(payload["data"], indent=2))
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    print(f"Listening on http://127.0.0.1:{args.port}/ (Ctrl-C stops)")
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
