#!/usr/bin/env python3
"""Trigger latency: POST a webhook, wait for the step's first process to
write its start time (ns since the epoch) into OUT_DIR/<name>, repeat.
Prints p50/p99 in ms. Serial: one trigger at a time, the previous run over.

usage: latency.py URL SECRET REPO_URL COMMITS_FILE OUT_DIR N TOKEN WORK_REPO BARE_REPO \
                  FETCH_REPO_URL FETCH_BARE_REPO MIRROR TOOL_URL|- TOOL_OUT_DIR

Each trigger is measured three ways, back to back: Slipway (a push, then the
webhook naming the commit, until its step starts); the fetch floor (a push to
a second repository, then `git fetch` of that one new commit into a mirror,
which a correct deploy of a new settings commit cannot skip: the webhook names
the commit, its content is on the git server); and Debian's `webhook` tool
running a script (the floor for "HTTP in, process out"). Prints p50/p99 of
each and of Slipway's own part, trigger by trigger: Slipway minus both floors.
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


def slipway_once(i, url, secret, repo, commits, out, token, work, bare):
    """Push commit i, POST the hook naming it; returns (ms to the step's start, ms to the run's claim)."""
    api = url.replace("/hooks/generic", "")
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
    return (started - t0) / 1e6, run["started_ms"] - t0 / 1e6


def fetch_once(i, repo, commits, work, bare, mirror):
    """Push commit i, then `git fetch` it into a mirror; returns ms."""
    subprocess.run(["git", "-C", work, "push", "-q", "-f", bare, commits[i] + ":refs/heads/main"], check=True)
    t0 = time.time_ns()
    subprocess.run(["git", "--git-dir=" + mirror, "-c", "maintenance.auto=false", "fetch", "--quiet", "--prune",
                    "--no-write-fetch-head", repo, "+refs/heads/*:refs/heads/*"], check=True)
    return (time.time_ns() - t0) / 1e6


def tool_once(i, url, out):
    """POST to Debian's `webhook` running a script; returns ms to the script's start."""
    body = json.dumps({"id": "w%d" % i}).encode()
    t0 = time.time_ns()
    status, data = post(url, body, {"Content-Type": "application/json"})
    if status != 200:
        raise SystemExit("webhook answered %d: %s" % (status, data))
    started = wait_file(os.path.join(out, "w%d" % i))
    time.sleep(0.01)
    return (started - t0) / 1e6


def line(name, values):
    return "%s p50 %.1f p99 %.1f" % (name, pct(values, 50), pct(values, 99))


def main():
    # Paired: trigger i is measured with Slipway, then with each floor, back
    # to back, so that all three see the same moment of a noisy machine; the
    # engine's own part is taken per trigger (Slipway minus both floors).
    (url, secret, repo, commits_file, out, n, token, work, bare, fetch_repo, fetch_bare, mirror, tool_url,
     tool_out) = sys.argv[1:15]
    n = int(n)
    commits = open(commits_file).read().split()
    subprocess.run(["git", "init", "-q", "--bare", mirror], check=True)
    lat, queue, fetch, tool, own = [], [], [], [], []
    for i in range(n):
        total, claimed = slipway_once(i, url, secret, repo, commits, out, token, work, bare)
        f = fetch_once(i, fetch_repo, commits, work, fetch_bare, mirror)
        t = tool_once(i, tool_url, tool_out) if tool_url != "-" else 0.0
        lat.append(total)
        queue.append(claimed)
        fetch.append(f)
        tool.append(t)
        own.append(total - f - t)
    print(line("slipway", lat) + " queue_p50 %.1f queue_p99 %.1f" % (pct(queue, 50), pct(queue, 99)))
    print(line("fetch", fetch))
    print(line("tool", tool) if tool_url != "-" else "tool (not installed)")
    print(line("own", own))


main()
