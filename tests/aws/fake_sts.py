#!/usr/bin/env python3
"""A local STS for tests: Python 3 stdlib http.server, with botocore used only
to VERIFY each request's SigV4 signature (never Slipway's own signer).
Answers like AWS, in XML. Prints "PORT <n>" once it listens on 127.0.0.1.

  fake_sts.py --config CONFIG.json

CONFIG.json:
  {"users": [{"access_key_id": "AKIA...", "secret_access_key": "...",
              "arn": "arn:aws:iam::111111111111:user/engine",
              "expired": false}],             # expired: answers ExpiredToken
   "roles": [{"arn": "arn:aws:iam::222222222222:role/deploy",
              "deny": false,                   # true: AccessDenied for everyone
              "trusted": ["arn:...user/engine"],  # absent: any known principal
              "external_id": "xyz",            # absent: none required
              "web_identity_tokens": ["tok"]}],   # tokens AssumeRoleWithWebIdentity accepts
   "parameters": {"/prod/token": "value"},    # SSM GetParameters (JSON protocol)
   "secrets": {"prod/db": "{\"pw\": \"x\"}"},   # Secrets Manager GetSecretValue, by name or ARN
   "secret_readers": ["arn:..."],             # absent: any known principal may read parameters and secrets
   "max_skew_seconds": 900,
   "fail_first": 0}                            # answer 500 to the first N requests

Credentials issued by AssumeRole* are remembered, so they can sign later
requests (role chaining, GetCallerIdentity). GET /_log returns the list of
requests handled: action, parameters (no secrets but the web token), caller
access key, outcome code. GET /_key/AKID returns a known key's secret, token
and ARN (for the fake CodeCommit git server).
"""
import argparse
import datetime
import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

NS = "https://sts.amazonaws.com/doc/2011-06-15/"
CONFIG = {}
LOCK = threading.Lock()
LOG = []
KEYS = {}  # access key id -> {"secret", "token", "arn", "expires" (datetime or None), "expired"}
COUNTER = [0]


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


class StsError(Exception):
    def __init__(self, status, code, message, type_="Sender"):
        super().__init__(message)
        self.status, self.code, self.message, self.type = status, code, message, type_


def error_xml(e):
    return ('<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n'
            '    <Message>%s</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n</ErrorResponse>\n'
            % (NS, e.type, e.code, xml_escape(e.message), uuid.uuid4()))


def ok_xml(action, result):
    return ('<%sResponse xmlns="%s">\n  <%sResult>\n%s  </%sResult>\n  <ResponseMetadata>\n'
            '    <RequestId>%s</RequestId>\n  </ResponseMetadata>\n</%sResponse>\n'
            % (action, NS, action, result, action, uuid.uuid4(), action))


def parse_authorization(value):
    if not value.startswith("AWS4-HMAC-SHA256 "):
        raise StsError(400, "IncompleteSignature", "Unsupported authorization type")
    fields = {}
    for part in value[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    try:
        akid, date, region, service, terminator = fields["Credential"].split("/")
        return akid, date, region, service, fields["SignedHeaders"].split(";"), fields["Signature"]
    except (KeyError, ValueError):
        raise StsError(400, "IncompleteSignature", "Authorization header requires 'Credential', "
                       "'SignedHeaders' and 'Signature'")


def verify_signature(handler, body, expected_service="sts"):
    """Checks the SigV4 signature with botocore; returns the caller's key record."""
    auth = handler.headers.get("Authorization")
    if not auth:
        raise StsError(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
    akid, date, region, service, signed_headers, signature = parse_authorization(auth)
    if service != expected_service:
        raise StsError(403, "SignatureDoesNotMatch",
                       "Credential should be scoped to correct service: '%s'." % expected_service)
    amz_date = handler.headers.get("X-Amz-Date", "")
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise StsError(403, "IncompleteSignature", "X-Amz-Date is missing or malformed")
    skew = abs((now() - when).total_seconds())
    if skew > CONFIG.get("max_skew_seconds", 900):
        raise StsError(403, "SignatureDoesNotMatch", "Signature expired: %s is now earlier than allowed" % amz_date)
    if date != amz_date[:8]:
        raise StsError(403, "SignatureDoesNotMatch", "Credential date does not match X-Amz-Date")
    with LOCK:
        key = KEYS.get(akid)
    if key is None:
        raise StsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
    # Rebuild the request with exactly the headers the client signed, and let
    # botocore compute what the signature must be.
    request = AWSRequest(method=handler.command, url="http://%s%s" % (handler.headers.get("Host"), handler.path),
                         data=body)
    for name in signed_headers:
        values = handler.headers.get_all(name) or []
        if not values:
            raise StsError(403, "SignatureDoesNotMatch", "signed header '%s' is missing" % name)
        for v in values:
            request.headers[name] = v
    request.context["timestamp"] = amz_date
    signer = botocore.auth.SigV4Auth(Credentials(akid, key["secret"], key["token"]), expected_service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if expected != signature:
        raise StsError(403, "SignatureDoesNotMatch",
                       "The request signature we calculated does not match the signature you provided. "
                       "Check your AWS Secret Access Key and signing method. Consult the service documentation "
                       "for details.")
    if key["token"]:
        if handler.headers.get("X-Amz-Security-Token") != key["token"] or "x-amz-security-token" not in signed_headers:
            raise StsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
    if key.get("expired") or (key.get("expires") and key["expires"] < now()):
        raise StsError(400, "ExpiredToken", "The security token included in the request is expired")
    return key


def find_role(arn):
    for role in CONFIG.get("roles", []):
        if role["arn"] == arn:
            return role
    return None


def check_params(params):
    name = params.get("RoleSessionName", "")
    import re
    if not re.fullmatch(r"[\w+=,.@-]{2,64}", name):
        raise StsError(400, "ValidationError",
                       "1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: "
                       "Member must satisfy regular expression pattern: [\\w+=,.@-]*" % name)
    duration = int(params.get("DurationSeconds", "3600"))
    if duration < 900 or duration > 43200:
        raise StsError(400, "ValidationError",
                       "1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: "
                       "Member must have value greater than or equal to 900" % duration)
    return name, duration


def issue(role_arn, session_name, duration):
    with LOCK:
        COUNTER[0] += 1
        n = COUNTER[0]
    akid = "ASIAFAKESTS%09d" % n
    account = role_arn.split(":")[4]
    role_name = role_arn.split("/")[-1]
    record = {
        "secret": "fake-sts-secret-%d-%s" % (n, uuid.uuid4().hex),
        "token": "FakeStsSessionToken%d//%s+=" % (n, uuid.uuid4().hex),
        "arn": "arn:aws:sts::%s:assumed-role/%s/%s" % (account, role_name, session_name),
        "expires": now() + datetime.timedelta(seconds=duration),
    }
    with LOCK:
        KEYS[akid] = record
    return ("    <Credentials>\n      <AccessKeyId>%s</AccessKeyId>\n      <SecretAccessKey>%s</SecretAccessKey>\n"
            "      <SessionToken>%s</SessionToken>\n      <Expiration>%s</Expiration>\n    </Credentials>\n"
            "    <AssumedRoleUser>\n      <Arn>%s</Arn>\n      <AssumedRoleId>AROAFAKE:%s</AssumedRoleId>\n"
            "    </AssumedRoleUser>\n"
            % (akid, xml_escape(record["secret"]), xml_escape(record["token"]),
               record["expires"].strftime("%Y-%m-%dT%H:%M:%SZ"), record["arn"], session_name))


def assume_role(params, caller):
    role_arn = params.get("RoleArn", "")
    name, duration = check_params(params)
    role = find_role(role_arn)
    denied = ("User: %s is not authorized to perform: sts:AssumeRole on resource: %s" % (caller["arn"], role_arn))
    if role is None or role.get("deny"):
        raise StsError(403, "AccessDenied", denied)
    if "trusted" in role and caller["arn"] not in role["trusted"]:
        raise StsError(403, "AccessDenied", denied)
    if role.get("external_id") and params.get("ExternalId") != role["external_id"]:
        raise StsError(403, "AccessDenied", denied)
    return issue(role_arn, name, duration)


def assume_role_with_web_identity(params):
    role_arn = params.get("RoleArn", "")
    name, duration = check_params(params)
    role = find_role(role_arn)
    token = params.get("WebIdentityToken", "")
    if role is None or role.get("deny"):
        raise StsError(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    if token not in role.get("web_identity_tokens", []):
        raise StsError(400, "InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider")
    return issue(role_arn, name, duration)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, text, content_type="text/xml"):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if urlsplit(self.path).path == "/_log":
            with LOCK:
                return self.reply(200, json.dumps(LOG), "application/json")
        if urlsplit(self.path).path.startswith("/_key/"):
            # For tests/aws/fake_codecommit_git.py: the keys it issued, to check a password with.
            with LOCK:
                key = KEYS.get(urlsplit(self.path).path[len("/_key/"):])
            if key is None:
                return self.reply(404, "{}", "application/json")
            return self.reply(200, json.dumps({"secret": key["secret"], "token": key["token"], "arn": key["arn"]}),
                              "application/json")
        self.reply(404, error_xml(StsError(404, "UnknownOperation", "use POST")))

    def json_call(self, target, body):
        """SSM and Secrets Manager: JSON protocol, X-Amz-Target, SigV4 checked by botocore."""
        service = "ssm" if target.startswith("AmazonSSM.") else "secretsmanager"
        action = target.split(".", 1)[1]
        entry = {"action": action, "service": service}
        try:
            try:
                request = json.loads(body.decode("utf-8") or "{}")
            except ValueError:
                raise StsError(400, "SerializationException", "body is not JSON")
            caller = verify_signature(self, body, service)
            entry["caller"] = caller["arn"]
            readers = CONFIG.get("secret_readers")
            if readers is not None and caller["arn"] not in readers:
                raise StsError(400, "AccessDeniedException", "User: %s is not authorized to perform: %s:%s"
                               % (caller["arn"], service, action))
            if target == "AmazonSSM.GetParameters":
                if request.get("WithDecryption") is not True:
                    raise StsError(400, "ValidationException", "test server wants WithDecryption: true")
                params = CONFIG.get("parameters", {})
                names = request.get("Names", [])
                entry["params"] = {"Names": names}
                found = [{"Name": n, "Type": "SecureString", "Value": params[n], "Version": 1} for n in names
                         if n in params]
                result = {"Parameters": found, "InvalidParameters": [n for n in names if n not in params]}
            elif target == "secretsmanager.GetSecretValue":
                sid = request.get("SecretId", "")
                entry["params"] = {k: v for k, v in request.items()}
                secrets = CONFIG.get("secrets", {})
                name = sid.split(":")[6].rsplit("-", 1)[0] if sid.startswith("arn:") else sid
                if name not in secrets:
                    raise StsError(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
                result = {"ARN": "arn:aws:secretsmanager:us-east-1:111111111111:secret:%s-AbCdEf" % name,
                          "Name": name, "SecretString": secrets[name], "VersionId": str(uuid.uuid4()),
                          "VersionStages": [request.get("VersionStage", "AWSCURRENT")]}
            else:
                raise StsError(400, "UnknownOperationException", "unknown operation %s" % target)
            entry["outcome"] = "ok"
            status, text = 200, json.dumps(result)
        except StsError as e:
            entry["outcome"] = e.code
            status, text = e.status, json.dumps({"__type": e.code, "message": e.message})
        with LOCK:
            LOG.append(entry)
        self.reply(status, text, "application/x-amz-json-1.1")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target")
        if target:
            return self.json_call(target, body)
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        action = params.get("Action", "")
        entry = {"action": action, "params": {k: v for k, v in params.items() if k not in ("Action", "Version")}}
        with LOCK:
            fail = COUNTER_FAIL[0] < CONFIG.get("fail_first", 0)
            COUNTER_FAIL[0] += 1
        try:
            if fail:
                raise StsError(500, "InternalFailure", "injected failure", "Receiver")
            if action == "AssumeRoleWithWebIdentity":
                result = assume_role_with_web_identity(params)
            else:
                caller = verify_signature(self, body)
                entry["caller"] = caller["arn"]
                if action == "AssumeRole":
                    result = assume_role(params, caller)
                elif action == "GetCallerIdentity":
                    account = caller["arn"].split(":")[4]
                    result = ("    <Arn>%s</Arn>\n    <UserId>AIDAFAKE</UserId>\n    <Account>%s</Account>\n"
                              % (caller["arn"], account))
                else:
                    raise StsError(400, "InvalidAction", "Could not find operation %s for version 2011-06-15" % action)
            entry["outcome"] = "ok"
            status, text = 200, ok_xml(action, result)
        except StsError as e:
            entry["outcome"] = e.code
            status, text = e.status, error_xml(e)
        with LOCK:
            LOG.append(entry)  # before answering, so the log is complete when the client reads it
        self.reply(status, text)


COUNTER_FAIL = [0]


def main():
    global CONFIG
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    args = p.parse_args()
    with open(args.config, encoding="utf-8") as f:
        CONFIG = json.load(f)
    for user in CONFIG.get("users", []):
        KEYS[user["access_key_id"]] = {"secret": user["secret_access_key"], "token": user.get("session_token"),
                                       "arn": user["arn"], "expires": None, "expired": user.get("expired", False)}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sys.stdout.write("PORT %d\n" % server.server_address[1])
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
