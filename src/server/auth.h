// API tokens (doc/api.md "Tokens"): random bearer tokens, shown once when
// created and stored only as their SHA-256. Roles: viewer reads, operator
// also acts (trigger, cancel, rollback, pause, resume), admin also manages
// tokens and reloads the config.
#pragma once

#include <string>
#include <string_view>

#include "store/store.h"
#include "util/status.h"

namespace slipway {

// "slw_" followed by 43 characters of base64url: 256 random bits from the
// OS's CSPRNG. Internal error when the CSPRNG fails.
Result<std::string> NewToken();
// Lower-case hex SHA-256 of the token, the form the store keeps.
std::string HashToken(std::string_view token);

struct CreatedToken {
  TokenRecord record;
  std::string token;  // the secret itself: shown once, never stored
};
// Creates and stores a token. `name` may be empty ("token N" is then shown).
Result<CreatedToken> CreateToken(Store& store, TokenRole role, const std::string& name);

// Who made a request, as recorded in runs' `actor` field: the token's name,
// or "token N" for an unnamed one.
std::string ActorOf(const TokenRecord& token);

}  // namespace slipway
