#include "server/api_server.h"

#include <gtest/gtest.h>

#include <set>

#include "server/auth.h"

namespace slipway {
namespace {

TEST(ParseListenAddressTest, Forms) {
  std::string host;
  int port = 0;
  ASSERT_TRUE(ParseListenAddress("127.0.0.1:8080", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8080);
  ASSERT_TRUE(ParseListenAddress(":9000", &host, &port).ok());
  EXPECT_EQ(host, "0.0.0.0");
  EXPECT_EQ(port, 9000);
  ASSERT_TRUE(ParseListenAddress("[::1]:443", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 443);
  for (const char* bad : {"8080", "host:", "host:99999", "host:80a", ""}) {
    Status s = ParseListenAddress(bad, &host, &port);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("HOST:PORT"), std::string::npos);
  }
}

TEST(AuthTest, TokensAreRandomAndHashedWithSha256) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    Result<std::string> token = NewToken();
    ASSERT_TRUE(token.ok());
    EXPECT_EQ(token->size(), 4u + 43u);
    EXPECT_EQ(token->rfind("slw_", 0), 0u);
    EXPECT_EQ(token->find_first_not_of("slw_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-", 4),
              std::string::npos);
    seen.insert(*token);
  }
  EXPECT_EQ(seen.size(), 100u);
  // FIPS 180-2 test vector.
  EXPECT_EQ(HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace slipway
