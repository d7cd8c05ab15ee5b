#include "verify/verify.h"

#include <gtest/gtest.h>

namespace slipway {
namespace {

TEST(ParseVerifyOutputTest, GoodOpenPgpSignatureNamesTheUidAndPrimaryFingerprint) {
  std::string err =
      "[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG 88B84F2BEA1B2D56 Alice Example <alice@example.com>\n"
      "[GNUPG:] VALIDSIG AAAA 2026-11-26 1795707193 0 4 0 22 8 00 D33E36594ED43CED3E6CC81188B84F2BEA1B2D56\n"
      "[GNUPG:] TRUST_UNDEFINED 0 pgp\n";
  SignatureVerdict v = ParseVerifyOutput(true, "", err);
  EXPECT_TRUE(v.good);
  EXPECT_EQ(v.signer, "Alice Example <alice@example.com> (openpgp D33E36594ED43CED3E6CC81188B84F2BEA1B2D56)");
}

TEST(ParseVerifyOutputTest, GoodSshSignatureNamesThePrincipalAndKey) {
  SignatureVerdict v =
      ParseVerifyOutput(true, "", "Good \"git\" signature for bob@example.com with ED25519 key SHA256:Noc/x+1\n");
  EXPECT_TRUE(v.good);
  EXPECT_EQ(v.signer, "bob@example.com (ssh SHA256:Noc/x+1)");
}

TEST(ParseVerifyOutputTest, RefusalsSayWhy) {
  EXPECT_EQ(ParseVerifyOutput(false, "", "").reason, "it is not signed");
  EXPECT_EQ(ParseVerifyOutput(false, "", "[GNUPG:] ERRSIG 1234 22 8 00 1 9\n[GNUPG:] NO_PUBKEY 1234ABCD\n").reason,
            "it is signed by OpenPGP key 1234ABCD, which is not trusted");
  EXPECT_EQ(ParseVerifyOutput(false, "", "Good \"git\" signature with ED25519 key SHA256:xyz\nNo principal matched.\n")
                .reason,
            "it is signed by SSH key SHA256:xyz, which is not in the allowed signers");
  EXPECT_EQ(ParseVerifyOutput(false, "", "error: v2: cannot verify a non-tag object of type commit.\n").reason,
            "it is not an annotated, signed tag (it names a commit directly)");
  SignatureVerdict bad = ParseVerifyOutput(false, "", "[GNUPG:] BADSIG 88B8 Alice\n");
  EXPECT_FALSE(bad.good);
  EXPECT_EQ(bad.reason.rfind("its OpenPGP signature is bad", 0), 0u);
}

TEST(ParseVerifyOutputTest, AGoodLineWithAFailingExitIsNotGood) {
  // git exits non-zero when any check failed, whatever else it printed.
  EXPECT_FALSE(ParseVerifyOutput(false, "", "[GNUPG:] GOODSIG 1 A\n").good);
  EXPECT_FALSE(ParseVerifyOutput(false, "", "Good \"git\" signature for a with ED25519 key SHA256:x\n").good);
}

}  // namespace
}  // namespace slipway
