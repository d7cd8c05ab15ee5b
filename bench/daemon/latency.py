#!/usr/bin/env python3
"""Trigger latency: POST a webhook, wait for the step's first process to
write its start time (ns since the epoch) into OUT_DIR/<name>, repeat.
Prints p50/p99 in ms. Serial: one trigger at a time, the previous run over.

usage: latency.py slipway URL SECRET REPO_URL COMMITS_FILE OUT_DIR N TOKEN WORK_REPO BARE_REPO
       latency.py webhook URL OUT_DIR N
       latency.py fetch REPO_URL COMMITS_FILE N WORK_REPO BARE_REPO MIRROR

The fetch mode is the second floor: a push then `git fetch` of that one new
commit into a mirror, which a correct deploy of a new settings commit cannot
skip (the webhook names the commit; its content is on the git server).
"""
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse


def post(url, body, headers):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("POST", u.path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def get_json(url, token):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("GET", u.path + ("?" + u.query if u.query else ""), headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    data = r.read()
    c.close()
    return json.loads(data)


def wait_file(path, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path) as f:
                text = f.read().strip()
            if text:
                return int(text)
        except FileNotFoundError:
            pass
        time.sleep(0.0005)
    raise SystemExit("timed out waiting for " + path)


def pct(values, p):
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def main():
    mode = sys.argv[1]
    lat, queue = [], []
    if mode == "slipway":
        url, secret, repo, commits_file, out, n, token, work, bare = sys.argv[2:11]
        n = int(n)
        commits = open(commits_file).read().split()
        api = url.replace("/hooks/generic", "")
        for i in range(n):
            # Publish commit i first (a push), then deliver the hook naming it.
            subprocess.run(["git", "-C", work, "push", "-q", "-f", bare, commits[i] + ":refs/heads/main"], check=True)
            body = json.dumps({"repository": repo, "branch": "main", "commit": commits[i]}).encode()
            sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            t0 = time.time_ns()
            status, data = post(url, body, {"Content-Type": "application/json", "X-Slipway-Signature": sig,
                                            "X-Slipway-Delivery": "bench-%d" % i})
            if status != 202:
                raise SystemExit("webhook answered %d: %s" % (status, data))
            run_id = i + 1
            started = wait_file(os.path.join(out, str(run_id)))
            lat.append((started - t0) / 1e6)
            # Wait for the run to be recorded as over before the next trigger.
            while True:
                run = get_json("%s/api/v1/runs/%d" % (api, run_id), token)
                if run["status"] not in ("queued", "running"):
                    break
                time.sleep(0.005)
            if run["status"] != "succeeded":
                raise SystemExit("run %d %s: %s" % (run_id, run["status"], run["error"]))
            if run["settings_commit"] != commits[i]:
                raise SystemExit("run %d deployed %s, not the announced %s" % (run_id, run["settings_commit"], commits[i]))
            queue.append(run["started_ms"] - t0 / 1e6)
    elif mode == "fetch":
        repo, commits_file, n, work, bare, mirror = sys.argv[2:8]
        n = int(n)
        commits = open(commits_file).read().split()
        subprocess.run(["git", "init", "-q", "--bare", mirror], check=True)
        for i in range(n):
            subprocess.run(["git", "-C", work, "push", "-q", "-f", bare, commits[i] + ":refs/heads/main"], check=True)
            t0 = time.time_ns()
            subprocess.run(["git", "--git-dir=" + mirror, "-c", "maintenance.auto=false", "fetch", "--quiet", "--prune",
                            "--no-write-fetch-head", repo, "+refs/heads/*:refs/heads/*"], check=True)
            lat.append((time.time_ns() - t0) / 1e6)
    else:
        url, out, n = sys.argv[2:5]
        n = int(n)
        for i in range(n):
            body = json.dumps({"id": "w%d" % i}).encode()
            t0 = time.time_ns()
            status, data = post(url, body, {"Content-Type": "application/json"})
            if status != 200:
                raise SystemExit("webhook answered %d: %s" % (status, data))
            started = wait_file(os.path.join(out, "w%d" % i))
            lat.append((started - t0) / 1e6)
            time.sleep(0.01)
    print("p50 %.1f p99 %.1f" % (pct(lat, 50), pct(lat, 99)), end="")
    if queue:
        print(" queue_p50 %.1f queue_p99 %.1f" % (pct(queue, 50), pct(queue, 99)), end="")
    print()


main()
