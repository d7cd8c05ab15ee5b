#!/usr/bin/env python3
"""A local stand-in for the credential endpoints of EC2 and ECS, and an echo
endpoint for HTTP client tests. Python 3 stdlib only. Prints "PORT <n>" on
its first line of output once it listens on 127.0.0.1.

  /latest/api/token                     PUT, IMDSv2 session token (needs the
                                        X-aws-ec2-metadata-token-ttl-seconds header)
  /latest/meta-data/iam/security-credentials/[ROLE]
                                        GET with X-aws-ec2-metadata-token: the
                                        role name, then its credentials
  /creds                                GET: container credentials; checks the
                                        Authorization header when --auth-token is set
  /echo/...                             any method: JSON of what was received
  /slow?ms=N                            answers after N milliseconds
  /_log                                 GET: JSON list of the requests seen so far

Credentials handed out are numbered (ASIA<SOURCE>0001, 0002, ...) so a test
can tell a refresh from a cached answer; each expires --expires-in seconds
after it is issued.
"""
import argparse
import datetime
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ARGS = None
LOCK = threading.Lock()
LOG = []
TOKENS = set()
COUNTER = [0]


def credentials(source):
    with LOCK:
        COUNTER[0] += 1
        n = COUNTER[0]
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=ARGS.expires_in)
    return {
        "Code": "Success",
        "Type": "AWS-HMAC",
        "AccessKeyId": "ASIA%s%04d" % (source, n),
        "SecretAccessKey": "secret-%s-%d" % (source.lower(), n),
        "Token": "token-%s-%d" % (source.lower(), n),
        "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "LastUpdated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, content_type="text/plain"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        with LOCK:
            LOG.append({"method": self.command, "path": self.path,
                        "headers": [[k, v] for k, v in self.headers.items()]})
        path = parts.path
        if path == "/_log":
            with LOCK:
                return self.reply(200, json.dumps(LOG), "application/json")
        if path.startswith("/echo") or self.path.startswith("http://"):
            return self.reply(200, json.dumps({
                "method": self.command, "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body": body.decode("latin-1"),
            }), "application/json")
        if path == "/slow":
            time.sleep(int(parse_qs(parts.query).get("ms", ["1000"])[0]) / 1000.0)
            return self.reply(200, "slow")
        if path == "/latest/api/token":
            if self.command != "PUT":
                return self.reply(405, "")
            if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self.reply(400, "")
            token = "imds-" + uuid.uuid4().hex
            with LOCK:
                TOKENS.add(token)
            return self.reply(200, token)
        prefix = "/latest/meta-data/iam/security-credentials/"
        if path.startswith(prefix):
            with LOCK:
                ok = self.headers.get("X-aws-ec2-metadata-token") in TOKENS
            if not ok:
                return self.reply(401, "")
            role = path[len(prefix):]
            if not role:
                return self.reply(200, ARGS.role)
            if role != ARGS.role:
                return self.reply(404, "")
            return self.reply(200, json.dumps(credentials("IMDS")), "application/json")
        if path == "/creds":
            if ARGS.auth_token and self.headers.get("Authorization") != ARGS.auth_token:
                return self.reply(403, json.dumps({"message": "bad authorization token"}), "application/json")
            c = credentials("ECS")
            c.pop("Code")
            c.pop("Type")
            c.pop("LastUpdated")
            return self.reply(200, json.dumps(c), "application/json")
        return self.reply(404, "not found")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--role", default="slipway-instance-role")
    p.add_argument("--auth-token", default="")
    p.add_argument("--expires-in", type=int, default=3600)
    ARGS = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sys.stdout.write("PORT %d\n" % server.server_address[1])
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
