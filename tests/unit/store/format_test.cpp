// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/store/format.hpp"

#include "store_test_support.hpp"

#include "hsmctl/store/crypto.hpp"
#include "hsmctl/store/encrypted_store.hpp"
#include "hsmctl/store/payload.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace hsmctl::store {
namespace {

using namespace hsmctl::store::testing;

class StoreFormat : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = EncryptedStore::create(path_, passphrase(kPassphrase), KeyMode::kPassphrase,
                                        weak_options());
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(store->set({"", "small"}, Secret(std::string_view(kPinA))));
    ASSERT_TRUE(store->fold_log());  // the update into the file itself
    auto bytes = read_file(path_);
    ASSERT_TRUE(bytes);
    file_ = *bytes;
    ASSERT_GT(file_.size(), kHeaderSize + kTagSize);
  }

  FormatResult<StoreData> decrypt(const Bytes& bytes, const char* pass = kPassphrase) {
    FixedKeySource keys(KeyMode::kPassphrase, Secret(std::string_view(pass)));
    return decrypt_store_bytes(bytes, keys);
  }

  // Rewrites the header checksum so that a deliberate header change passes the integrity check
  // and reaches the field validation.
  static void fix_checksum(Bytes& bytes) {
    Bytes digest = crypto::sha256(ByteView(bytes.data(), 101));
    std::copy(digest.begin(), digest.end(), bytes.begin() + 101);
  }

  TempDir dir_;
  std::string path_ = dir_.file("store.hsmctl");
  Bytes file_;
};

TEST_F(StoreFormat, IntactFileDecrypts) {
  auto data = decrypt(file_);
  ASSERT_TRUE(data) << data.error().message;
  ASSERT_EQ(data->entries.size(), 1u);
  EXPECT_EQ(data->entries[0].name, "small");
  EXPECT_EQ(data->entries[0].current->view(), kPinA);
  EXPECT_EQ(data->generation, 2u);  // create + set
}

TEST_F(StoreFormat, HeaderLayoutMatchesTheDocumentation) {
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file_.data()), 7), "HSMCTLS");
  EXPECT_EQ(file_[7], 0);
  EXPECT_EQ(file_[8], 0);
  EXPECT_EQ(file_[9], 1);    // version 1
  EXPECT_EQ(file_[10], 1);   // scrypt
  EXPECT_EQ(file_[11], 1);   // AES-256-GCM
  EXPECT_EQ(file_[12], 10);  // log2 N as requested by the test options
  EXPECT_EQ(file_[16], 8);   // r = 8 (big-endian u32 at 13)
  EXPECT_EQ(file_[20], 1);   // p = 1 (big-endian u32 at 17)
  const std::uint32_t ct_len = (std::uint32_t{file_[81]} << 24) | (std::uint32_t{file_[82]} << 16) |
                               (std::uint32_t{file_[83]} << 8) | file_[84];
  EXPECT_EQ(file_.size(), kHeaderSize + ct_len + kTagSize);
  auto header = parse_header(file_);
  ASSERT_TRUE(header);
  EXPECT_EQ(header->ciphertext_length, ct_len);
}

TEST_F(StoreFormat, EverySaveUsesAFreshNonceAndIv) {
  auto store = EncryptedStore::open(path_, passphrase(kPassphrase), weak_options());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set({"", "other"}, Secret(std::string_view(kPinB))));
  ASSERT_TRUE(store->fold_log());  // a save of the file
  auto second = read_file(path_);
  ASSERT_TRUE(second);
  EXPECT_TRUE(std::equal(file_.begin() + 21, file_.begin() + 37, second->begin() + 21))
      << "salt changes only with the passphrase";
  EXPECT_FALSE(std::equal(file_.begin() + 37, file_.begin() + 69, second->begin() + 37));
  EXPECT_FALSE(std::equal(file_.begin() + 69, file_.begin() + 81, second->begin() + 69));
}

FailureKind expected_kind_for_flip(std::size_t offset, const Bytes& flipped) {
  if (offset < 8)
    return FailureKind::kCorrupt;  // bad magic
  if (offset < 10) {
    const int version = (flipped[8] << 8) | flipped[9];
    return version == 0 ? FailureKind::kCorrupt : FailureKind::kUnsupported;
  }
  return FailureKind::kCorrupt;  // header checksum, or the GCM tag for payload bytes
}

TEST_F(StoreFormat, FlippedByteAtEveryOffsetIsRejectedWithTheRightKind) {
  for (std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0x80}, std::uint8_t{0xFF}}) {
    for (std::size_t i = 0; i < file_.size(); ++i) {
      Bytes flipped = file_;
      flipped[i] ^= mask;
      auto result = decrypt(flipped);
      ASSERT_FALSE(result) << "offset " << i << " mask " << int(mask) << " was accepted";
      EXPECT_EQ(result.error().kind, expected_kind_for_flip(i, flipped))
          << "offset " << i << " mask " << int(mask) << ": " << result.error().message;
    }
  }
}

TEST_F(StoreFormat, TruncationIsReportedAsTruncated) {
  const std::size_t n = file_.size();
  for (std::size_t len :
       {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{9},
        std::size_t{10}, std::size_t{50}, std::size_t{100}, kHeaderSize - 1, kHeaderSize,
        kHeaderSize + 1, n - kTagSize - 1, n - kTagSize, n - 1}) {
    Bytes cut(file_.begin(), file_.begin() + static_cast<std::ptrdiff_t>(len));
    auto result = decrypt(cut);
    ASSERT_FALSE(result) << "length " << len;
    EXPECT_EQ(result.error().kind, FailureKind::kTruncated)
        << "length " << len << ": " << result.error().message;
  }
}

TEST_F(StoreFormat, TrailingBytesAreCorrupt) {
  Bytes longer = file_;
  longer.push_back(0);
  auto result = decrypt(longer);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, FailureKind::kCorrupt);
}

TEST_F(StoreFormat, FutureFormatVersionIsUnsupported) {
  Bytes future = file_;
  future[9] = 2;
  fix_checksum(future);
  auto result = decrypt(future);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, FailureKind::kUnsupported);
  EXPECT_NE(result.error().message.find("newer hsmctl"), std::string::npos);
}

TEST_F(StoreFormat, UnknownIdsAreUnsupported) {
  for (std::size_t offset : {std::size_t{10}, std::size_t{11}}) {
    for (std::uint8_t value : {std::uint8_t{0}, std::uint8_t{2}, std::uint8_t{9}}) {
      Bytes changed = file_;
      changed[offset] = value;
      fix_checksum(changed);
      auto result = decrypt(changed);
      ASSERT_FALSE(result);
      EXPECT_EQ(result.error().kind, FailureKind::kUnsupported)
          << "offset " << offset << " value " << int(value) << ": " << result.error().message;
    }
  }
}

TEST_F(StoreFormat, WorkFactorAboveTheCapIsRefusedBeforeDeriving) {
  Bytes changed = file_;
  changed[12] = static_cast<std::uint8_t>(kMaxLog2N + 1);
  fix_checksum(changed);
  auto result = decrypt(changed);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, FailureKind::kUnsupported);
  Bytes big_r = file_;
  big_r[13] = 1;  // r = 2^24 + 8
  fix_checksum(big_r);
  auto r_result = decrypt(big_r);
  ASSERT_FALSE(r_result);
  EXPECT_EQ(r_result.error().kind, FailureKind::kUnsupported);
}

// Every field within its own range, but together over the documented caps: 2^20 * 128 * 16
// = 2 GiB of memory, or 2^20 * 8 * 4 work. Refused from the header, before any derivation.
TEST_F(StoreFormat, MemoryAndWorkCapsAreEnforcedBeforeDeriving) {
  auto with = [&](int log2_n, std::uint8_t r, std::uint8_t p) {
    Bytes changed = file_;
    changed[12] = static_cast<std::uint8_t>(log2_n);
    changed[16] = r;
    changed[20] = p;
    fix_checksum(changed);
    return parse_header(changed);
  };
  auto two_gib = with(20, 16, 1);
  ASSERT_FALSE(two_gib);
  EXPECT_EQ(two_gib.error().kind, FailureKind::kUnsupported);
  auto hostile = with(20, 16, 4);
  ASSERT_FALSE(hostile);
  EXPECT_EQ(hostile.error().kind, FailureKind::kUnsupported);
  auto four_times = with(20, 8, 4);
  ASSERT_FALSE(four_times);
  EXPECT_EQ(four_times.error().kind, FailureKind::kUnsupported);
  EXPECT_TRUE(with(20, 8, 1));   // exactly 1 GiB: the documented cap
  EXPECT_TRUE(with(17, 16, 4));  // 256 MiB, 2^23 work
  EXPECT_TRUE(with(17, 8, 1));   // the default
  EXPECT_FALSE(scrypt_within_caps(19, 16, 2));
  EXPECT_TRUE(scrypt_within_caps(19, 16, 1));
}

TEST_F(StoreFormat, ConsistentHeaderChangeStillFailsAuthentication) {
  // An attacker who recomputes the checksum after changing the IV still cannot pass the tag.
  Bytes changed = file_;
  changed[70] ^= 0x01;
  fix_checksum(changed);
  auto result = decrypt(changed);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, FailureKind::kCorrupt);
}

TEST_F(StoreFormat, WrongPassphraseIsWrongKey) {
  auto result = decrypt(file_, kOtherPassphrase);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, FailureKind::kWrongKey);
  EXPECT_NE(result.error().message.find("wrong passphrase"), std::string::npos);
}

TEST_F(StoreFormat, FuturePayloadVersionIsUnsupported) {
  auto header = parse_header(file_);
  ASSERT_TRUE(header);
  FixedKeySource keys(KeyMode::kPassphrase, Secret(std::string_view(kPassphrase)));
  auto material = keys.material(KeyMode::kPassphrase, false);
  ASSERT_TRUE(material);
  auto kek = derive_kek(*header, *material);
  ASSERT_TRUE(kek);
  auto sealed = seal_file(*header, *kek, bytes_of(R"({"version":2,"generation":1,"entries":[]})"));
  ASSERT_TRUE(sealed);
  auto result = decrypt(*sealed);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, FailureKind::kUnsupported);
  auto garbage = seal_file(*header, *kek, bytes_of("not json"));
  ASSERT_TRUE(garbage);
  auto bad = decrypt(*garbage);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, FailureKind::kCorrupt);
}

TEST_F(StoreFormat, StoreLevelErrorsAreDistinctAndCarryNoValue) {
  auto write = [&](const Bytes& b) { ASSERT_TRUE(write_file_atomically(path_, b, 0600)); };
  auto open_message = [&](const char* pass) {
    auto s = EncryptedStore::open(path_, passphrase(pass), weak_options());
    EXPECT_FALSE(s);
    if (s)
      return std::string();
    EXPECT_EQ(s.error().code, Errc::kStore);
    return s.error().message;
  };
  std::string wrong = open_message(kOtherPassphrase);
  EXPECT_NE(wrong.find("wrong passphrase"), std::string::npos) << wrong;
  Bytes tampered = file_;
  tampered[file_.size() - 3] ^= 0x10;
  write(tampered);
  std::string corrupt = open_message(kPassphrase);
  EXPECT_NE(corrupt.find("tampered"), std::string::npos) << corrupt;
  write(Bytes(file_.begin(), file_.begin() + 60));
  std::string truncated = open_message(kPassphrase);
  EXPECT_NE(truncated.find("truncated"), std::string::npos) << truncated;
  Bytes future = file_;
  future[8] = 1;
  write(future);
  std::string newer = open_message(kPassphrase);
  EXPECT_NE(newer.find("newer hsmctl"), std::string::npos) << newer;
  for (const auto& m : {wrong, corrupt, truncated, newer}) {
    for (const auto& secret : all_secret_values()) {
      EXPECT_EQ(m.find(secret), std::string::npos);
    }
  }
}

// Reported by an earlier fuzzing attempt (issue 9; inputs in tests/fuzz/regressions/store_decoder):
// a float where the payload has an integer was truncated (1.5 read as version 1) or, out of
// range (1e300), converted with undefined behaviour.
TEST(StorePayload, NumbersMustBeIntegers) {
  for (const char* text : {R"({"version":1.5,"generation":1,"entries":[]})",
                           R"({"version":1e300,"generation":1,"entries":[]})",
                           R"({"version":-1e300,"generation":1,"entries":[]})",
                           R"({"version":4294967297,"generation":1,"entries":[]})",
                           R"({"version":1,"generation":2.5,"entries":[]})",
                           R"({"version":1,"generation":1e300,"entries":[]})",
                           R"({"version":1,"generation":-1,"entries":[]})"}) {
    auto parsed = parse_payload(Secret(std::string_view(text)));
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().kind, FailureKind::kCorrupt) << text;
  }
  auto ok = parse_payload(Secret(std::string_view(R"({"version":1,"generation":7,"entries":[]})")));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->generation, 7u);
}

}  // namespace
}  // namespace hsmctl::store
