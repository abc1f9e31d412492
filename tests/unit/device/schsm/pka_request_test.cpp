// SPDX-License-Identifier: Apache-2.0
// Public-key files for public key authentication (issue 11): the layout sc-hsm-tool
// --export-for-pub-key-auth writes (tests/fixtures/pka/, made by OpenSC 0.23 against the
// virtual card), a bare authenticated request, and malformed files refused with a reason.

#include "hsmctl/device/schsm/pka_request.hpp"

#include "pka_files.hpp"

#include "hsmctl/device/schsm/tlv.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace hsmctl::device::schsm {
namespace {

using ::testing::HasSubstr;

TEST(PkaRequest, TheScHsmToolFixtureGivesItsRequestAndChr) {
  const std::string path = std::string(HSMCTL_SOURCE_DIR) + "/tests/fixtures/pka/custodian-1.pka";
  auto file = read_regular_file(path, kMaxPkaFileBytes);
  ASSERT_TRUE(file) << file.error().to_string();
  auto r = parse_pka_file(file->content);
  ASSERT_TRUE(r) << r.error().to_string();
  // What sc-hsm-tool wrote: the key's request first (EF CE01 of the exporting card).
  auto seq = parse_tlv(file->content);
  ASSERT_TRUE(seq);
  auto first = parse_tlv(seq->value);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->tag, 0x67u);
  EXPECT_EQ(r->request, Bytes(first->value.begin(), first->value.end()));
  EXPECT_EQ(r->chr_text, "ESPICOHSMTR00001");
  EXPECT_FALSE(r->outer_car.empty());
}

TEST(PkaRequest, TheExportLayoutAndABareRequestGiveTheSameKey) {
  auto whole = parse_pka_file(testing::pka_file("CUSTODIAN-A"));
  ASSERT_TRUE(whole) << whole.error().to_string();
  EXPECT_EQ(whole->chr_text, "CUSTODIAN-A");
  EXPECT_EQ(whole->outer_car, "ESPICOHSMTR00001");
  const Bytes bare_tlv = testing::pka_request_tlv("CUSTODIAN-A");
  auto bare = parse_pka_file(bare_tlv);
  ASSERT_TRUE(bare) << bare.error().to_string();
  EXPECT_EQ(bare->request, whole->request);
  // The request is the content of the 67: what INS 54 registers.
  auto t = parse_tlv(bare_tlv);
  ASSERT_TRUE(t);
  EXPECT_EQ(bare->request, Bytes(t->value.begin(), t->value.end()));
}

TEST(PkaRequest, AnUnprintableChrIsShownInHex) {
  auto r = parse_pka_file(testing::pka_request_tlv(std::string("\x01\xFF", 2)));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->chr_text, "01FF");
}

TEST(PkaRequest, MalformedFilesAreRefusedWithAReason) {
  const Bytes good = testing::pka_file("K");
  struct Case {
    const char* name;
    Bytes bytes;
    const char* reason;
  };
  Bytes truncated(good.begin(), good.end() - 1);
  Bytes trailing = good;
  trailing.push_back(0x00);
  Bytes other_tag = good;
  other_tag[0] = 0x31;
  Bytes pem = Bytes{'-', '-', '-', '-', '-'};
  // A request without its outer CAR and signature: a plain certificate.
  Bytes cert_only;
  append_tlv(cert_only, 0x67, Bytes{0x7F, 0x21, 0x00});
  // No CHR in the body.
  Bytes no_chr_body;
  append_tlv(no_chr_body, 0x5F29, Bytes{0x00});
  append_tlv(no_chr_body, 0x7F49, Bytes{0x86, 0x01, 0x04});
  Bytes no_chr_cert;
  append_tlv(no_chr_cert, 0x7F4E, no_chr_body);
  append_tlv(no_chr_cert, 0x5F37, Bytes{0x01});
  Bytes no_chr_req;
  append_tlv(no_chr_req, 0x7F21, no_chr_cert);
  append_tlv(no_chr_req, 0x42, Bytes{'C'});
  append_tlv(no_chr_req, 0x5F37, Bytes{0x01});
  Bytes no_chr;
  append_tlv(no_chr, 0x67, no_chr_req);
  const Case cases[] = {
      {"empty", Bytes{}, "empty"},
      {"truncated", truncated, "truncated or malformed"},
      {"trailing", trailing, "bytes after"},
      {"another tag", other_tag, "tag 67"},
      {"text", pem, "truncated or malformed"},
      {"no outer CAR", cert_only, "outer CAR"},
      {"no CHR", no_chr, "holder reference"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = parse_pka_file(c.bytes);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kManifest);
    EXPECT_THAT(r.error().message, HasSubstr(c.reason));
    EXPECT_THAT(r.error().message, HasSubstr("sc-hsm-tool --export-for-pub-key-auth"));
  }
}

}  // namespace
}  // namespace hsmctl::device::schsm
