// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/secrets/dkek_share.hpp"

#include "hsmctl/util/atomic_file.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>

namespace hsmctl::secrets {
namespace {

constexpr std::size_t kMagicSize = 8;
constexpr std::size_t kSaltSize = 8;
constexpr std::size_t kCiphertextSize = kDkekShareFileSize - kMagicSize - kSaltSize;  // 48
constexpr std::array<std::uint8_t, kMagicSize> kMagic = {'S', 'a', 'l', 't', 'e', 'd', '_', '_'};
// A share file bigger than this is not one; read no more of it.
constexpr std::size_t kMaxShareFileRead = 4096;

static_assert(kCiphertextSize == kDkekShareSize + 16, "one block of PKCS#7 padding");

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// Key (32) and IV (16) as sc-hsm-tool derives them; wiped by the destructor.
struct KeyIv {
  std::array<std::uint8_t, 32> key{};
  std::array<std::uint8_t, 16> iv{};
  KeyIv() = default;
  KeyIv(const KeyIv&) = delete;
  KeyIv& operator=(const KeyIv&) = delete;
  ~KeyIv() {
    OPENSSL_cleanse(key.data(), key.size());
    OPENSSL_cleanse(iv.data(), iv.size());
  }
};

Result<void> derive(ByteView salt, const Secret& password, int iterations, KeyIv& out) {
  if (iterations <= 0)
    return make_error(Errc::kInternal, "DKEK share: iteration count must be positive");
  static_assert(sizeof(out.key) == 32 && sizeof(out.iv) == 16);
  // EVP_BytesToKey(AES-256-CBC, MD5, salt, password, count): what sc-hsm-tool uses (pico-hsm.md
  // 5.5); the function returns the key length, 0 on failure.
  const int n =
      EVP_BytesToKey(EVP_aes_256_cbc(), EVP_md5(), salt.data(), password.bytes().data(),
                     static_cast<int>(password.size()), iterations, out.key.data(), out.iv.data());
  if (n != static_cast<int>(out.key.size()))
    return make_error(Errc::kInternal, "DKEK share: key derivation failed");
  return {};
}

tl::unexpected<Error> named(const std::string& path, Error e) {
  e.where = SourcePos{path, 0, 0};
  return tl::unexpected<Error>(std::move(e));
}

std::string errno_text(int err) {
  return std::strerror(err);
}

}  // namespace

std::string kcv_hex(const Kcv& kcv) {
  return to_hex(ByteView(kcv.data(), kcv.size()));
}

Result<Kcv> dkek_kcv(std::span<const Secret> shares) {
  std::array<std::uint8_t, kDkekShareSize> dkek{};
  for (const Secret& share : shares) {
    if (share.size() != kDkekShareSize) {
      OPENSSL_cleanse(dkek.data(), dkek.size());
      return make_error(Errc::kInternal, "a DKEK share must be " + std::to_string(kDkekShareSize) +
                                             " bytes, not " + std::to_string(share.size()));
    }
    const ByteView b = share.bytes();
    for (std::size_t i = 0; i < dkek.size(); ++i)
      dkek[i] ^= b[i];
  }
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  const int ok =
      EVP_Digest(dkek.data(), dkek.size(), digest.data(), &digest_len, EVP_sha256(), nullptr);
  OPENSSL_cleanse(dkek.data(), dkek.size());
  if (ok != 1 || digest_len < 8) {
    OPENSSL_cleanse(digest.data(), digest.size());
    return make_error(Errc::kInternal, "SHA-256 failed");
  }
  Kcv kcv{};
  std::memcpy(kcv.data(), digest.data(), kcv.size());
  // The rest of the hash is not secret in itself, but nothing of it is needed either.
  OPENSSL_cleanse(digest.data(), digest.size());
  return kcv;
}

Result<Secret> decrypt_dkek_share(ByteView file_bytes, const Secret& password, int iterations) {
  if (file_bytes.size() != kDkekShareFileSize) {
    return make_error(Errc::kSecret, "not a DKEK share file (" + std::to_string(file_bytes.size()) +
                                         " bytes, expected " + std::to_string(kDkekShareFileSize) +
                                         ")");
  }
  if (std::memcmp(file_bytes.data(), kMagic.data(), kMagic.size()) != 0) {
    return make_error(Errc::kSecret,
                      "not a DKEK share file (no \"Salted__\" header, expected the format of "
                      "sc-hsm-tool --create-dkek-share)");
  }
  const ByteView salt = file_bytes.subspan(kMagicSize, kSaltSize);
  const ByteView ciphertext = file_bytes.subspan(kMagicSize + kSaltSize, kCiphertextSize);
  KeyIv kiv;
  HSMCTL_TRY(derive(salt, password, iterations, kiv));

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx)
    return make_error(Errc::kInternal, "DKEK share: cannot allocate a cipher context");
  // Room for the ciphertext plus one block, as EVP_DecryptUpdate may need.
  std::array<std::uint8_t, kCiphertextSize + 16> plain{};
  int len = 0;
  int final_len = 0;
  bool ok = EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, kiv.key.data(),
                               kiv.iv.data()) == 1 &&
            EVP_DecryptUpdate(ctx.get(), plain.data(), &len, ciphertext.data(),
                              static_cast<int>(ciphertext.size())) == 1;
  if (!ok) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return make_error(Errc::kInternal, "DKEK share: AES-256-CBC decryption failed");
  }
  // A wrong password shows only here, as bad padding. A wrong password can still end in valid
  // padding of another length (e.g. one 01 byte, 1 in 256): the length check catches that.
  ok = EVP_DecryptFinal_ex(ctx.get(), plain.data() + len, &final_len) == 1 &&
       static_cast<std::size_t>(len) + static_cast<std::size_t>(final_len) == kDkekShareSize;
  if (!ok) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return make_error(Errc::kSecret,
                      "cannot decrypt the DKEK share: wrong password or damaged file");
  }
  Secret share(ByteView(plain.data(), kDkekShareSize));
  OPENSSL_cleanse(plain.data(), plain.size());
  return share;
}

Result<Secret> read_dkek_share_file(const std::string& path, const Secret& password,
                                    int iterations) {
  auto file = read_regular_file(path, kMaxShareFileRead);
  if (!file)
    return tl::unexpected(file.error());  // already names path
  auto share = decrypt_dkek_share(file->content, password, iterations);
  // The file holds ciphertext only, but wipe it like every other intermediate buffer.
  OPENSSL_cleanse(file->content.data(), file->content.size());
  if (!share)
    return named(path, share.error());
  return share;
}

std::vector<Result<Secret>> read_dkek_share_files(std::span<const std::string> paths,
                                                  std::span<const Secret> passwords,
                                                  int iterations) {
  std::vector<Result<Secret>> out;
  if (paths.size() != passwords.size()) {
    out.emplace_back(make_error(Errc::kInternal, "one password per DKEK share file"));
    return out;
  }
  std::vector<std::optional<Result<Secret>>> slots(paths.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    auto job = [&, i] {
      slots[i].emplace(read_dkek_share_file(paths[i], passwords[i], iterations));
    };
    if (i + 1 == paths.size()) {
      job();  // the last one on this thread
      break;
    }
    try {
      threads.emplace_back(job);
    } catch (const std::system_error&) {
      job();  // no thread: one after the other
    }
  }
  for (auto& t : threads)
    t.join();
  out.reserve(paths.size());
  for (auto& slot : slots)
    out.push_back(std::move(*slot));
  return out;
}

Result<Bytes> encrypt_dkek_share(const Secret& share, const Secret& password, int iterations) {
  if (share.size() != kDkekShareSize) {
    return make_error(Errc::kInternal, "a DKEK share must be " + std::to_string(kDkekShareSize) +
                                           " bytes, not " + std::to_string(share.size()));
  }
  if (password.empty())
    return make_error(Errc::kSecret, "the password of a DKEK share file must not be empty");
  Bytes out(kDkekShareFileSize);
  std::memcpy(out.data(), kMagic.data(), kMagic.size());
  std::uint8_t* salt = out.data() + kMagicSize;
  if (RAND_bytes(salt, static_cast<int>(kSaltSize)) != 1)
    return make_error(Errc::kInternal, "the OpenSSL random generator failed");
  KeyIv kiv;
  HSMCTL_TRY(derive(ByteView(salt, kSaltSize), password, iterations, kiv));

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx)
    return make_error(Errc::kInternal, "DKEK share: cannot allocate a cipher context");
  std::uint8_t* cipher = out.data() + kMagicSize + kSaltSize;
  int len = 0;
  int final_len = 0;
  const bool ok =
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, kiv.key.data(), kiv.iv.data()) ==
          1 &&
      EVP_EncryptUpdate(ctx.get(), cipher, &len, share.bytes().data(),
                        static_cast<int>(share.size())) == 1 &&
      static_cast<std::size_t>(len) <= kCiphertextSize - 16 &&
      EVP_EncryptFinal_ex(ctx.get(), cipher + len, &final_len) == 1 &&
      static_cast<std::size_t>(len) + static_cast<std::size_t>(final_len) == kCiphertextSize;
  if (!ok)
    return make_error(Errc::kInternal, "DKEK share: AES-256-CBC encryption failed");
  return out;
}

Result<Kcv> create_dkek_share_file(const std::string& path, const Secret& password,
                                   int iterations) {
  std::array<std::uint8_t, kDkekShareSize> raw{};
  if (RAND_priv_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    OPENSSL_cleanse(raw.data(), raw.size());
    return make_error(Errc::kInternal, "the OpenSSL random generator failed");
  }
  const Secret share{ByteView(raw.data(), raw.size())};
  OPENSSL_cleanse(raw.data(), raw.size());
  // Everything that can fail without touching the disk first: the file appears only complete.
  HSMCTL_TRY_ASSIGN(const Kcv kcv, dkek_kcv(std::span<const Secret>(&share, 1)));
  HSMCTL_TRY_ASSIGN(const Bytes content, encrypt_dkek_share(share, password, iterations));

  // O_EXCL: never overwrite (a share file is the only copy of a share) and never follow a link,
  // dangling or not; O_NOFOLLOW says the same for clarity.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST) {
      return make_error(Errc::kIo,
                        "refusing to create the DKEK share file " + path +
                            ": it exists (hsmctl never overwrites a share file; choose a new name)",
                        SysErrno{err});
    }
    return make_error(Errc::kIo, "cannot create " + path + ": " + errno_text(err), SysErrno{err});
  }
  std::string problem;
  int problem_errno = 0;
  std::size_t done = 0;
  // The umask may only remove bits: make the mode exactly 0600 whatever it is.
  if (::fchmod(fd, 0600) != 0) {
    problem_errno = errno;
    problem = "fchmod: " + errno_text(problem_errno);
  }
  while (problem.empty() && done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      problem_errno = errno;
      problem = "write: " + errno_text(problem_errno);
    } else {
      done += static_cast<std::size_t>(n);
    }
  }
  if (problem.empty() && ::fsync(fd) != 0) {
    problem_errno = errno;
    problem = "fsync: " + errno_text(problem_errno);
  }
  if (::close(fd) != 0 && problem.empty()) {
    problem_errno = errno;
    problem = "close: " + errno_text(problem_errno);
  }
  if (!problem.empty()) {
    ::unlink(path.c_str());  // a partial share file must not look like a share
    return make_error(Errc::kIo, "cannot write " + path + ": " + problem, SysErrno{problem_errno});
  }
  // The new name must survive a crash too.
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string(".")
                          : slash == 0               ? std::string("/")
                                                     : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || ::fsync(dfd) != 0) {
    const int err = errno;
    if (dfd >= 0)
      ::close(dfd);
    return make_error(Errc::kIo,
                      "wrote " + path + " but could not sync its directory: " + errno_text(err),
                      SysErrno{err});
  }
  ::close(dfd);
  return kcv;
}

}  // namespace hsmctl::secrets
