#!/usr/bin/env python3
"""A local stand-in for CodeCommit's git-over-HTTPS endpoint, for tests:
`git http-backend` (smart HTTP) behind Python's http.server, which lets a
request through only with HTTP Basic credentials that CodeCommit would
accept: user "AKID%SESSION_TOKEN", password "YYYYMMDDTHHMMSSZ<signature>",
where the signature is recomputed here with botocore exactly as the AWS CLI's
`aws codecommit credential-helper` computes it (never with Slipway's signer).
Keys are looked up in the fake STS (GET /_key/AKID). Prints "PORT <n>".

  fake_codecommit_git.py --root DIR --sts http://127.0.0.1:P --region eu-west-1
        [--host git-codecommit.eu-west-1.amazonaws.com] [--allow-arn-prefix arn:...]

Repositories are bare repos DIR/NAME, served at /v1/repos/NAME. GET /_log
returns the requests seen: path, outcome ("ok", "challenge", "denied: why").
"""
import argparse
import base64
import datetime
import json
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ARGS = None
LOCK = threading.Lock()
LOG = []


def expected_password(akid, secret, token, timestamp, repo_path):
    # awscli/customizations/codecommit.py, CodeCommitGetCommand.sign_request
    signer = botocore.auth.SigV4Auth(Credentials(akid, secret, token), "codecommit", ARGS.region)
    request = AWSRequest()
    request.url = "https://%s%s" % (ARGS.host, repo_path)
    request.method = "GIT"
    request.context["timestamp"] = timestamp
    canonical_request = "{0}\n{1}\n\nhost:{2}\n\nhost\n".format(request.method, repo_path, ARGS.host)
    string_to_sign = signer.string_to_sign(request, canonical_request)
    return "{0}Z{1}".format(timestamp, signer.signature(string_to_sign, request))


def check(auth, repo_path):
    if not auth or not auth.startswith("Basic "):
        return "challenge"
    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
    akid, _, token = user.partition("%")
    try:
        with urllib.request.urlopen("%s/_key/%s" % (ARGS.sts, akid)) as r:
            key = json.load(r)
    except Exception:  # noqa: BLE001 - unknown key
        return "denied: unknown key %s" % akid
    if (key.get("token") or "") != token:
        return "denied: wrong session token"
    if ARGS.allow_arn_prefix and not key["arn"].startswith(ARGS.allow_arn_prefix):
        return "denied: %s may not pull" % key["arn"]
    timestamp = password[:15]
    try:
        when = datetime.datetime.strptime(timestamp, "%Y%m%dT%H%M%S").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return "denied: malformed password"
    if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 900:
        return "denied: password too old"
    if password != expected_password(akid, key["secret"], token, timestamp, repo_path):
        return "denied: wrong signature"
    return "ok"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def handle_any(self):
        parts = urlsplit(self.path)
        if parts.path == "/_log":
            with LOCK:
                data = json.dumps(LOG).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        prefix = "/v1/repos/"
        if not parts.path.startswith(prefix):
            self.send_error(404)
            return
        name = parts.path[len(prefix):].split("/", 1)[0]
        outcome = check(self.headers.get("Authorization"), prefix + name)
        with LOCK:
            LOG.append({"path": self.path, "outcome": outcome})
        if outcome != "ok":
            self.send_response(401 if outcome == "challenge" else 403)
            self.send_header("WWW-Authenticate", 'Basic realm="codecommit"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {"GIT_PROJECT_ROOT": ARGS.root, "GIT_HTTP_EXPORT_ALL": "1", "PATH": "/usr/bin:/bin",
               "REQUEST_METHOD": self.command, "PATH_INFO": parts.path[len("/v1/repos"):],
               "QUERY_STRING": parts.query, "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": "codecommit", "REMOTE_ADDR": "127.0.0.1"}
        for header, var in (("Content-Encoding", "HTTP_CONTENT_ENCODING"), ("Git-Protocol", "GIT_PROTOCOL")):
            if self.headers.get(header):
                env[var] = self.headers.get(header)
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = out.partition(b"\n\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = handle_any


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--sts", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--host", default="")
    p.add_argument("--allow-arn-prefix", default="")
    ARGS = p.parse_args()
    if not ARGS.host:
        ARGS.host = "git-codecommit.%s.amazonaws.com" % ARGS.region
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sys.stdout.write("PORT %d\n" % server.server_address[1])
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
