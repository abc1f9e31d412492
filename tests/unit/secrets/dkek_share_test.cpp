// SPDX-License-Identifier: Apache-2.0
// The DKEK share-file codec (secrets/dkek_share.hpp): sc-hsm-tool's .pbe format, the KCV, and
// the exclusive creation of share files. Real derivations (10,000,000 MD5 iterations) cost
// seconds: only RealCountDecryptsTheScHsmToolFixture uses the real count.

#include "hsmctl/secrets/dkek_share.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace hsmctl::secrets {
namespace {

constexpr int kFastCount = 3;  // tests only: a real file uses kScHsmToolIterations
const Secret kPassword(std::string_view("correct horse battery staple"));

Secret share_of(std::uint8_t fill) {
  std::array<std::uint8_t, kDkekShareSize> b{};
  for (std::size_t i = 0; i < b.size(); ++i)
    b[i] = static_cast<std::uint8_t>(fill + i * 7);
  return Secret(ByteView(b.data(), b.size()));
}

// Independent of the codec: SHA-256 of the XOR of the shares, first 8 bytes, upper-case hex.
std::string expected_kcv(const std::vector<const Secret*>& shares) {
  std::array<std::uint8_t, kDkekShareSize> x{};
  for (const Secret* s : shares)
    for (std::size_t i = 0; i < x.size(); ++i)
      x[i] ^= s->bytes()[i];
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(x.data(), x.size(), md.data(), &len, EVP_sha256(), nullptr), 1);
  return to_hex(ByteView(md.data(), 8));
}

Bytes read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// No error message may carry a byte string of a secret (as text or as hex).
void expect_clean(const Error& e, const std::vector<const Secret*>& secrets) {
  const std::string text = e.to_string();
  for (const Secret* s : secrets) {
    const std::string raw(s->view());
    EXPECT_EQ(text.find(raw), std::string::npos) << text;
    const std::string hex = to_hex(s->bytes());
    EXPECT_EQ(text.find(hex), std::string::npos) << text;
    EXPECT_EQ(text.find(hex.substr(0, 16)), std::string::npos) << text;
  }
}

TEST(DkekShare, RoundTripWithASmallCount) {
  const Secret share = share_of(0x11);
  auto file = encrypt_dkek_share(share, kPassword, kFastCount);
  ASSERT_TRUE(file) << file.error().message;
  ASSERT_EQ(file->size(), kDkekShareFileSize);
  EXPECT_EQ(std::string(file->begin(), file->begin() + 8), "Salted__");
  auto back = decrypt_dkek_share(*file, kPassword, kFastCount);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->equals(share));
}

TEST(DkekShare, EachFileHasAFreshSalt) {
  const Secret share = share_of(0x22);
  auto a = encrypt_dkek_share(share, kPassword, kFastCount);
  auto b = encrypt_dkek_share(share, kPassword, kFastCount);
  ASSERT_TRUE(a && b);
  EXPECT_NE(Bytes(a->begin() + 8, a->begin() + 16), Bytes(b->begin() + 8, b->begin() + 16));
  EXPECT_NE(*a, *b);
}

TEST(DkekShare, TheIterationCountMatters) {
  const Secret share = share_of(0x33);
  auto file = encrypt_dkek_share(share, kPassword, kFastCount);
  ASSERT_TRUE(file);
  auto other = decrypt_dkek_share(*file, kPassword, kFastCount + 1);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Errc::kSecret);
}

TEST(DkekShare, WrongPasswordIsASecretErrorWithoutSecrets) {
  const Secret share = share_of(0x44);
  const Secret wrong(std::string_view("correct horse battery stapler"));
  auto file = encrypt_dkek_share(share, kPassword, kFastCount);
  ASSERT_TRUE(file);
  // Many salts: a wrong key sometimes still ends in valid padding of another length.
  for (int i = 0; i < 300; ++i) {
    auto again = encrypt_dkek_share(share, kPassword, 1);
    ASSERT_TRUE(again);
    auto r = decrypt_dkek_share(*again, wrong, 1);
    ASSERT_FALSE(r) << "attempt " << i;
    EXPECT_EQ(r.error().code, Errc::kSecret);
    EXPECT_EQ(r.error().message, "cannot decrypt the DKEK share: wrong password or damaged file");
  }
  auto r = decrypt_dkek_share(*file, wrong, kFastCount);
  ASSERT_FALSE(r);
  expect_clean(r.error(), {&share, &kPassword, &wrong});
}

TEST(DkekShare, DamagedCiphertextIsRefused) {
  auto file = encrypt_dkek_share(share_of(0x55), kPassword, kFastCount);
  ASSERT_TRUE(file);
  (*file)[63] ^= 0x01;
  auto r = decrypt_dkek_share(*file, kPassword, kFastCount);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kSecret);
}

TEST(DkekShare, WrongSizeAndHeaderAreNamed) {
  auto file = encrypt_dkek_share(share_of(0x66), kPassword, kFastCount);
  ASSERT_TRUE(file);
  Bytes shorter(file->begin(), file->end() - 1);
  auto r = decrypt_dkek_share(shorter, kPassword, kFastCount);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kSecret);
  EXPECT_EQ(r.error().message, "not a DKEK share file (63 bytes, expected 64)");
  Bytes longer = *file;
  longer.push_back(0);
  r = decrypt_dkek_share(longer, kPassword, kFastCount);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "not a DKEK share file (65 bytes, expected 64)");
  Bytes bad_magic = *file;
  bad_magic[0] = 's';
  r = decrypt_dkek_share(bad_magic, kPassword, kFastCount);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kSecret);
  EXPECT_NE(r.error().message.find("no \"Salted__\" header"), std::string::npos)
      << r.error().message;
}

TEST(DkekShare, EmptyPasswordIsRefusedOnCreate) {
  auto r = encrypt_dkek_share(share_of(0x01), Secret(), kFastCount);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kSecret);
}

TEST(DkekShare, KcvOfKnownShares) {
  const Secret a = share_of(0x10);
  const Secret b = share_of(0x80);
  const Secret c = share_of(0xF3);
  auto one = dkek_kcv(std::vector<Secret>{a});
  ASSERT_TRUE(one);
  EXPECT_EQ(kcv_hex(*one), expected_kcv({&a}));
  auto three = dkek_kcv(std::vector<Secret>{a, b, c});
  ASSERT_TRUE(three);
  EXPECT_EQ(kcv_hex(*three), expected_kcv({&a, &b, &c}));
  EXPECT_NE(kcv_hex(*one), kcv_hex(*three));
  // Fixed value: SHA-256 of 32 zero bytes starts 66687AADF862BD77 (the XOR of a share with
  // itself), so order and pairing of the XOR are right.
  auto zero = dkek_kcv(std::vector<Secret>{a, a});
  ASSERT_TRUE(zero);
  EXPECT_EQ(kcv_hex(*zero), "66687AADF862BD77");
  auto bad = dkek_kcv(std::vector<Secret>{a, Secret(std::string_view("short"))});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInternal);
}

TEST(DkekShare, KcvHexIsSixteenUpperCaseDigits) {
  const Kcv k = {0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18};
  EXPECT_EQ(kcv_hex(k), "A1B2C3D4E5F60718");
}

TEST(DkekShare, CreateWritesAPrivateFileAndNeverOverwrites) {
  testing::TempDir dir;
  const std::string path = dir.file("custodian-1.pbe");
  auto kcv = create_dkek_share_file(path, kPassword, kFastCount);
  ASSERT_TRUE(kcv) << kcv.error().message;
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_size, static_cast<off_t>(kDkekShareFileSize));

  auto share = read_dkek_share_file(path, kPassword, kFastCount);
  ASSERT_TRUE(share) << share.error().message;
  EXPECT_EQ(kcv_hex(*kcv), expected_kcv({&*share}));

  const Bytes before = read_all(path);
  auto again = create_dkek_share_file(path, kPassword, kFastCount);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kIo);
  EXPECT_NE(again.error().message.find(path), std::string::npos) << again.error().message;
  EXPECT_EQ(read_all(path), before);
  expect_clean(again.error(), {&*share, &kPassword});

  // Not through a symbolic link either, dangling or not.
  const std::string link = dir.file("link.pbe");
  ASSERT_EQ(::symlink(dir.file("missing.pbe").c_str(), link.c_str()), 0);
  auto via_link = create_dkek_share_file(link, kPassword, kFastCount);
  ASSERT_FALSE(via_link);
  EXPECT_EQ(via_link.error().code, Errc::kIo);
  EXPECT_NE(::access(dir.file("missing.pbe").c_str(), F_OK), 0);
}

TEST(DkekShare, SeveralFilesAreReadTogetherEachResultInItsPlace) {
  testing::TempDir dir;
  const Secret other(std::string_view("another custodian's password"));
  std::vector<std::string> paths = {dir.file("a.pbe"), dir.file("b.pbe"), dir.file("c.pbe")};
  std::vector<Secret> passwords = {kPassword, other, kPassword};
  for (std::size_t i = 0; i < paths.size(); ++i)
    ASSERT_TRUE(create_dkek_share_file(paths[i], passwords[i], kFastCount));
  auto all = read_dkek_share_files(paths, passwords, kFastCount);
  ASSERT_EQ(all.size(), 3u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_TRUE(all[i]) << all[i].error().message;
    auto alone = read_dkek_share_file(paths[i], passwords[i], kFastCount);
    ASSERT_TRUE(alone);
    EXPECT_TRUE(all[i]->equals(*alone)) << i;
  }
  // A wrong password fails only its own file, named.
  passwords[1] = kPassword;
  all = read_dkek_share_files(paths, passwords, kFastCount);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_TRUE(all[0]);
  ASSERT_FALSE(all[1]);
  EXPECT_EQ(all[1].error().code, Errc::kSecret);
  EXPECT_NE(all[1].error().message.find("wrong password"), std::string::npos);
  EXPECT_TRUE(all[2]);
}

TEST(DkekShare, CreateUnderAStrictUmaskIsStill0600) {
  testing::TempDir dir;
  const mode_t old = ::umask(0277);
  auto kcv = create_dkek_share_file(dir.file("s.pbe"), kPassword, kFastCount);
  ::umask(old);
  ASSERT_TRUE(kcv);
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("s.pbe").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(DkekShare, ReadErrorsNameThePathAndNoSecret) {
  testing::TempDir dir;
  const std::string path = dir.file("s.pbe");
  ASSERT_TRUE(create_dkek_share_file(path, kPassword, kFastCount));
  const Secret wrong(std::string_view("not the password"));
  auto r = read_dkek_share_file(path, wrong, kFastCount);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kSecret);
  EXPECT_NE(r.error().to_string().find(path), std::string::npos) << r.error().to_string();
  auto share = read_dkek_share_file(path, kPassword, kFastCount);
  ASSERT_TRUE(share);
  expect_clean(r.error(), {&*share, &kPassword, &wrong});

  std::ofstream(dir.file("short.pbe"), std::ios::binary) << "Salted__";
  r = read_dkek_share_file(dir.file("short.pbe"), kPassword, kFastCount);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kSecret);
  EXPECT_EQ(r.error().to_string(),
            dir.file("short.pbe") + ": not a DKEK share file (8 bytes, expected 64)");

  r = read_dkek_share_file(dir.file("absent.pbe"), kPassword, kFastCount);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().to_string().find(dir.file("absent.pbe")), std::string::npos);
}

// tests/fixtures/dkek/README.md: made by sc-hsm-tool (OpenSC 0.23) against hsmctl-vcard; the KCV
// is what the device reported after importing it as its only share. The real count: seconds.
TEST(DkekShare, RealCountDecryptsTheScHsmToolFixture) {
  const std::string path = std::string(HSMCTL_SOURCE_DIR) + "/tests/fixtures/dkek/sc-hsm-tool.pbe";
  const Secret password(std::string_view("hsmctl-test-dkek-share"));
  auto share = read_dkek_share_file(path, password);
  ASSERT_TRUE(share) << share.error().to_string();
  auto kcv = dkek_kcv(std::span<const Secret>(&*share, 1));
  ASSERT_TRUE(kcv);
  EXPECT_EQ(kcv_hex(*kcv), "1FE64F3B227636A1");
  EXPECT_EQ(kcv_hex(*kcv), expected_kcv({&*share}));
}

}  // namespace
}  // namespace hsmctl::secrets
