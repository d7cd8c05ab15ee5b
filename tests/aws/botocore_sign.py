#!/usr/bin/env python3
"""Signs request descriptions with botocore, the reference for Slipway's own
SigV4 signer (src/aws/sigv4.cc). Used by src/aws/sigv4_test.cc.

Input: a file of JSON lines (or stdin), one request each:
  {"method", "url" (no query), "query": [[k, v], ...] (decoded),
   "headers": [[name, value], ...], "body_b64", "time" (epoch seconds),
   "region", "service", "access_key", "secret_key", "token" ("" for none),
   "mode": "header" | "presign", "expires", "s3", "unsigned_payload",
   "content_sha256"}
Output: one JSON line per request:
  {"canonical_request", "string_to_sign", "signature",
   "authorization" (header mode), "url" (presign mode)}
"""
import base64
import datetime
import hashlib
import json
import sys

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

_now = [datetime.datetime(2015, 8, 30, 12, 36, 0)]


class _FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return _now[0]


# Pin botocore's clock: newer botocore asks get_current_datetime(), older
# calls datetime.datetime.utcnow() inside botocore.auth.
if hasattr(botocore.auth, "get_current_datetime"):
    botocore.auth.get_current_datetime = lambda *args, **kwargs: _now[0]
else:
    class _DatetimeModule:
        datetime = _FixedDatetime

    botocore.auth.datetime = _DatetimeModule


# Headers left unsigned: botocore 1.3x (Debian bookworm) leaves out only
# expect, user-agent and x-amzn-trace-id; later versions also every hop-by-hop
# header, which a proxy may rewrite. Slipway follows the later list; give an
# older botocore the same so the two are compared on the algorithm.
for _name in ["connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id"]:
    if _name not in botocore.auth.SIGNED_HEADERS_BLACKLIST:
        botocore.auth.SIGNED_HEADERS_BLACKLIST.append(_name)


def capturing(cls):
    class Capturing(cls):
        def canonical_request(self, request):
            self.captured_cr = super().canonical_request(request)
            return self.captured_cr

        def string_to_sign(self, request, canonical_request):
            self.captured_sts = super().string_to_sign(request, canonical_request)
            return self.captured_sts

    return Capturing


def sign(desc):
    _now[0] = datetime.datetime.utcfromtimestamp(desc["time"])
    creds = Credentials(desc["access_key"], desc["secret_key"], desc["token"] or None)
    body = base64.b64decode(desc["body_b64"])
    request = AWSRequest(method=desc["method"], url=desc["url"], data=body)
    for name, value in desc["headers"]:
        request.headers[name] = value  # appends: repeated names are kept
    s3 = desc["s3"]
    if desc["mode"] == "presign":
        cls = botocore.auth.S3SigV4QueryAuth if s3 else botocore.auth.SigV4QueryAuth
        signer = capturing(cls)(creds, desc["service"], desc["region"], expires=desc["expires"])
        request.params = {k: v for k, v in desc["query"]}
        signer.add_auth(request)
        return {
            "canonical_request": signer.captured_cr,
            "string_to_sign": signer.captured_sts,
            "signature": request.url.rsplit("X-Amz-Signature=", 1)[1],
            "url": request.url,
        }
    cls = botocore.auth.S3SigV4Auth if s3 else botocore.auth.SigV4Auth
    signer = capturing(cls)(creds, desc["service"], desc["region"])
    request.params = [(k, v) for k, v in desc["query"]]
    if desc["unsigned_payload"]:
        if s3:
            request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
        else:
            request.context["payload_signing_enabled"] = False
    elif desc["content_sha256"] and not s3:
        # Plain SigV4Auth has no switch for the header; give it the value our
        # signer sends, which botocore then takes as the payload hash.
        request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    signer.add_auth(request)
    auth = request.headers["Authorization"]
    return {
        "canonical_request": signer.captured_cr,
        "string_to_sign": signer.captured_sts,
        "signature": auth.rsplit("Signature=", 1)[1],
        "authorization": auth,
    }


def main():
    source = open(sys.argv[1], encoding="utf-8") if len(sys.argv) > 1 else sys.stdin
    out = sys.stdout
    for line in source:
        if line.strip():
            out.write(json.dumps(sign(json.loads(line))) + "\n")


if __name__ == "__main__":
    main()
