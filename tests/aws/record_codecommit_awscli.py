#!/usr/bin/env python3
"""Records what the AWS CLI's `aws codecommit credential-helper get` prints
for fixed credentials, hosts, paths and (with faketime) clocks, into
codecommit_awscli.json, which src/aws/codecommit_test.cc compares Slipway's
helper with. Run by hand when the cases change:

  python3 tests/aws/record_codecommit_awscli.py [/usr/bin/aws] > tests/aws/codecommit_awscli.json

Also importable: run_awscli(case, aws) runs one case live.
"""
import json
import subprocess
import sys

CASES = [
    {"name": "long-term key", "time": "2024-06-11 12:34:56", "access_key": "AKIAIOSFODNN7EXAMPLE",
     "secret_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "token": "",
     "host": "git-codecommit.eu-west-1.amazonaws.com", "path": "v1/repos/settings"},
    {"name": "session token", "time": "2025-01-01 00:00:00", "access_key": "ASIAXAMPLESESSION001",
     "secret_key": "session/secret+key", "token": "FwoGZXIvYXdzEBcaD//token+with/slash=",
     "host": "git-codecommit.us-east-1.amazonaws.com", "path": "v1/repos/my-repo.with_chars-1"},
    {"name": "fips host", "time": "2023-12-31 23:59:59", "access_key": "AKIAFIPS000000000001",
     "secret_key": "fips-secret", "token": "",
     "host": "git-codecommit-fips.us-gov-west-1.amazonaws.com", "path": "v1/repos/gov"},
    {"name": "vpc endpoint host", "time": "2024-02-29 06:07:08", "access_key": "AKIAVPCE000000000001",
     "secret_key": "vpce-secret", "token": "t",
     "host": "vpce-0123456789abcdef-abcdefgh.git-codecommit.eu-central-1.vpce.amazonaws.com",
     "path": "v1/repos/internal"},
    {"name": "host with a port", "time": "2024-06-11 12:34:56", "access_key": "AKIAPORT000000000001",
     "secret_key": "port-secret", "token": "",
     "host": "git-codecommit.ap-southeast-2.amazonaws.com:443", "path": "v1/repos/settings"},
    {"name": "path with a leading slash", "time": "2030-07-04 17:00:00", "access_key": "AKIASLASH00000000001",
     "secret_key": "slash-secret", "token": "",
     "host": "git-codecommit.sa-east-1.amazonaws.com", "path": "/v1/repos/x"},
]


def run_awscli(case, aws):
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "TZ": "UTC",
           "AWS_ACCESS_KEY_ID": case["access_key"], "AWS_SECRET_ACCESS_KEY": case["secret_key"],
           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    if case["token"]:
        env["AWS_SESSION_TOKEN"] = case["token"]
    stdin = "protocol=https\nhost=%s\npath=%s\n\n" % (case["host"], case["path"])
    # A frozen clock (no '@'): the CLI takes a few seconds to start.
    out = subprocess.run(["faketime", "-f", case["time"], aws, "codecommit", "credential-helper", "get"],
                         input=stdin, capture_output=True, text=True, env=env, check=True)
    return out.stdout


def main():
    aws = sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/aws"
    version = subprocess.run([aws, "--version"], capture_output=True, text=True).stdout.strip()
    cases = []
    for case in CASES:
        c = dict(case)
        c["expected"] = run_awscli(case, aws)
        cases.append(c)
    json.dump({"source": version, "cases": cases}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
