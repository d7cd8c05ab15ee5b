#include "server/auth.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "util/clock.h"
#include "util/strings.h"

namespace slipway {

Result<std::string> NewToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return Internal("RAND_bytes failed: no token was created");
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string token = "slw_";
  // base64url without padding: 256 bits -> 43 characters.
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      token += kAlphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) token += kAlphabet[(acc << (6 - bits)) & 0x3f];
  return token;
}

std::string HashToken(std::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

Result<CreatedToken> CreateToken(Store& store, TokenRole role, const std::string& name) {
  CreatedToken created;
  SLIPWAY_ASSIGN_OR_RETURN(created.token, NewToken());
  created.record.name = name;
  created.record.role = role;
  created.record.hash = HashToken(created.token);
  created.record.created_ms = NowMs();
  SLIPWAY_ASSIGN_OR_RETURN(created.record.id, store.CreateToken(created.record));
  return created;
}

std::string ActorOf(const TokenRecord& token) {
  return token.name.empty() ? "token " + std::to_string(token.id) : token.name;
}

}  // namespace slipway
