// `slipway git-credential get`: the built-in git credential helper for
// CodeCommit over HTTPS (doc/aws.md "CodeCommit"). The pipeline runs git with
// `-c credential.helper=` (resetting the user's helpers), `-c
// credential.helper=!'/path/to/slipway' git-credential` and `-c
// credential.useHttpPath=true` for the fetch of a codecommit:: URL only, and
// passes the credentials in the environment of that git call:
//   SLIPWAY_CC_ACCESS_KEY_ID, SLIPWAY_CC_SECRET_ACCESS_KEY,
//   SLIPWAY_CC_SESSION_TOKEN (may be empty), SLIPWAY_CC_REGION
//   SLIPWAY_CC_SIGN_HOST (for tests: sign for this https host, whatever host
//   git asks for, so a local git server can stand in for CodeCommit)
#pragma once

namespace slipway {

// argv[0] is "git-credential", argv[1] the action git appends: "get" reads
// git's request (key=value lines) on stdin and prints username= and
// password= as `aws codecommit credential-helper get` would; "store" and
// "erase" read and ignore it. Returns 0, or 1 with a message on stderr
// (git then reports that authentication failed).
int GitCredentialCommand(int argc, char** argv);

}  // namespace slipway
