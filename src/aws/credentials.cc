#include "aws/credentials.h"

namespace slipway::aws {

std::vector<std::string> SecretStrings(const Credentials& credentials) {
  std::vector<std::string> out;
  if (!credentials.secret_access_key.empty()) out.push_back(credentials.secret_access_key);
  if (!credentials.session_token.empty()) out.push_back(credentials.session_token);
  return out;
}

}  // namespace slipway::aws
