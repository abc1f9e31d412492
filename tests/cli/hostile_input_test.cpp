// SPDX-License-Identifier: Apache-2.0
// Hostile and odd inputs through the real binary (issue 9, item 3): FIFOs and devices where a
// manifest or a secret file is expected, oversized files, standard input, bytes that are not
// UTF-8, NUL bytes, keys holding control characters, PINs pasted into the wrong field.
#include "cli/cli_fixture.hpp"

#include <gmock/gmock.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class HostileInput : public CliTest {
 protected:
  /// hsmctl with a short timeout: a hang shows up as 128+SIGKILL instead of blocking the suite.
  ProcessResult quick(std::vector<std::string> args, const std::string& input = {}) {
    return hsmctl(std::move(args), input, 20);
  }
  std::string fifo(const std::string& name) {
    std::string path = dir_.file(name);
    EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0);
    return path;
  }
  /// A pico manifest whose user PIN comes from `file:PATH`.
  std::string file_pin_manifest(const std::string& path) {
    std::string m = pico_manifest();
    const std::string from = "env:USER_PIN";
    m.replace(m.find(from), from.size(), "file:" + path);
    return manifest_file(m);
  }
  /// A byte that would act on a terminal (everything below 0x20 but the line feed, and DEL).
  static bool contains_raw_control(const std::string& s) {
    for (unsigned char c : s) {
      if ((c < 0x20 && c != '\n') || c == 0x7f)
        return true;
    }
    return false;
  }
};

TEST_F(HostileInput, ManifestFifoIsRefusedNotAHang) {
  auto r = quick({"plan", "-f", fifo("m.yaml"), "--device", device()});
  EXPECT_EQ(r.exit_code, 65) << r.all();
  EXPECT_THAT(r.err, HasSubstr("not a regular file (a FIFO)"));
}

TEST_F(HostileInput, ManifestDevZeroIsRefusedWithoutReading) {
  auto r = quick({"plan", "-f", "/dev/zero", "--device", device()});
  EXPECT_EQ(r.exit_code, 65) << r.all();
  EXPECT_THAT(r.err, HasSubstr("/dev/zero: not a regular file (a character device)"));
  EXPECT_THAT(r.all(), Not(HasSubstr("bad_alloc")));
}

TEST_F(HostileInput, OversizedManifestIsRefusedBeforeReading) {
  // 100 MB, sparse: refused by its size, the message gives the size the file has.
  std::string path = dir_.file("huge.yaml");
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 100 * 1000 * 1000), 0);
  ::close(fd);
  auto r = quick({"plan", "-f", path, "--device", device()});
  EXPECT_EQ(r.exit_code, 65) << r.all();
  EXPECT_THAT(r.err, HasSubstr("too large: 100000000 bytes (limit 1048576)"));
}

TEST_F(HostileInput, DashReadsTheManifestFromStdin) {
  auto r = quick({"plan", "-f", "-", "--device", device(), "--detailed-exitcode"}, pico_manifest());
  EXPECT_EQ(r.exit_code, 2) << r.all();
  EXPECT_THAT(r.out, HasSubstr("+ initialize the device"));
  // Errors in a manifest read from stdin name "<stdin>".
  auto bad = quick({"plan", "-f", "-", "--device", device()}, pico_manifest("  colour: blue\n"));
  EXPECT_EQ(bad.exit_code, 65) << bad.all();
  EXPECT_THAT(bad.err, HasSubstr("<stdin>:9:"));
  // Standard input larger than the limit is refused.
  auto big = quick({"plan", "-f", "-", "--device", device()},
                   pico_manifest() + "# " + std::string(1 << 20, 'x') + "\n");
  EXPECT_EQ(big.exit_code, 65) << big.all();
  EXPECT_THAT(big.err, HasSubstr("too large"));
}

TEST_F(HostileInput, InvalidUtf8AndNulGiveAPositionAndExit65) {
  auto bad_utf8 = manifest_file(pico_manifest("  # caf\xe9\n"));
  auto r = quick({"plan", "-f", bad_utf8, "--device", device()});
  EXPECT_EQ(r.exit_code, 65) << r.all();
  EXPECT_THAT(r.err, HasSubstr(bad_utf8 + ":9:8: invalid UTF-8 (byte 0xE9)"));
  EXPECT_THAT(r.all(), Not(HasSubstr("json.exception")));

  auto nul = manifest_file(pico_manifest() + std::string("  pinRetries: 3\0\n", 17));
  r = quick({"plan", "-f", nul, "--device", device()});
  EXPECT_EQ(r.exit_code, 65) << r.all();
  EXPECT_THAT(r.err, HasSubstr(nul + ":9:16: NUL byte"));
  EXPECT_THAT(r.all(), Not(HasSubstr("escape")));
}

TEST_F(HostileInput, EchoedKeysAreEscaped) {
  auto m = manifest_file(pico_manifest("  \"a\\nb\\rc\\e[31md\": 1\n"));
  auto r = quick({"plan", "-f", m, "--device", device()});
  EXPECT_EQ(r.exit_code, 65) << r.all();
  EXPECT_FALSE(contains_raw_control(r.err)) << r.err;
  EXPECT_THAT(r.err, HasSubstr("a\\nb\\rc\\e[31md"));
  // The error stays on one line per error.
  EXPECT_THAT(r.err, Not(HasSubstr("\nb")));
}

TEST_F(HostileInput, NoErrorEchoesAValueUnderACredentialField) {
  auto m = manifest_file(
      "apiVersion: hsmctl.dev/v1alpha1\nkind: PicoHSM\nmetadata: {name: a}\nspec:\n"
      "  device: {serial: \"0102030405060708\"}\n"
      "  userPin: {generate: {charset: \"918273\", length: 8}}\n"
      "  soPin: {generate: {length: 55667788}}\n");
  auto r = quick({"plan", "-f", m, "--device", device()});
  EXPECT_EQ(r.exit_code, 65) << r.all();
  EXPECT_THAT(r.err, HasSubstr("spec.userPin.generate.charset"));
  EXPECT_THAT(r.err, HasSubstr("spec.soPin.generate.length"));
  EXPECT_THAT(r.all(), Not(HasSubstr("918273")));
  EXPECT_THAT(r.all(), Not(HasSubstr("55667788")));
}

TEST_F(HostileInput, SecretFileOnAFifoIsRefusedNotAHang) {
  auto m = file_pin_manifest(fifo("pin"));
  auto r = quick({"plan", "-f", m, "--device", device()});
  EXPECT_NE(r.exit_code, 0) << r.all();
  EXPECT_LT(r.exit_code, 128) << "killed by the timeout: " << r.all();
  EXPECT_THAT(r.err, HasSubstr("not a regular file (a FIFO)"));
}

TEST_F(HostileInput, SecretFileSymlinkAndOversizeAreRefused) {
  std::string target = dir_.file("pin-target");
  write_text(target, "64821907\n", 0600);
  std::string link = dir_.file("pin-link");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  auto r = quick({"plan", "-f", file_pin_manifest(link), "--device", device()});
  EXPECT_NE(r.exit_code, 0) << r.all();
  EXPECT_THAT(r.err, HasSubstr("a symbolic link"));

  std::string big = dir_.file("pin-big");
  write_text(big, std::string(5000, '1'), 0600);
  r = quick({"plan", "-f", file_pin_manifest(big), "--device", device()});
  EXPECT_NE(r.exit_code, 0) << r.all();
  EXPECT_THAT(r.err, HasSubstr("too large: 5000 bytes (limit 4096)"));
}

TEST_F(HostileInput, SecretErrorsCarryFileLineColumn) {
  std::string m = manifest_file(pico_manifest());
  env_["USER_PIN"] = "";
  auto r = quick({"plan", "-f", m, "--device", device()});
  EXPECT_NE(r.exit_code, 0) << r.all();
  // userPin is on line 7, its value at column 12.
  EXPECT_THAT(r.err, HasSubstr(m + ":7:"));
  EXPECT_THAT(r.err, HasSubstr("USER_PIN is not set"));
}

TEST_F(HostileInput, PinWithControlCharactersIsRefused) {
  std::string m = manifest_file(pico_manifest());
  env_["USER_PIN"] = "6482190\r";
  auto r = quick({"plan", "-f", m, "--device", device()});
  EXPECT_NE(r.exit_code, 0) << r.all();
  EXPECT_THAT(r.err, HasSubstr("control character at position 8"));
  EXPECT_THAT(r.all(), Not(HasSubstr("6482190")));
  env_["USER_PIN"] = "64821907";
  env_["SO_PIN"] =
      "1234\x1b"
      "567";
  r = quick({"plan", "-f", m, "--device", device()});
  EXPECT_NE(r.exit_code, 0) << r.all();
  EXPECT_THAT(r.err, HasSubstr("spec.soPin"));
  EXPECT_THAT(r.err, HasSubstr("control character at position 5"));
}

}  // namespace
}  // namespace hsmctl::testing
