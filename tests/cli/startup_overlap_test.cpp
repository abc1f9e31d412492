// SPDX-License-Identifier: Apache-2.0
// Issue 8 item 7 (wall time of a no-change plan): `plan` and `apply` initialise OpenSSL on a
// second thread while the manifests are read (store::CryptoWarmUp). What must not change: the
// system's OpenSSL configuration still applies to the store (a FIPS configuration in
// /etc/ssl/openssl.cnf must), a manifest error still leaves the store unread, and a store that
// does not unlock is reported as before, with the same exit code, before any device is opened.

#include "cli/cli_fixture.hpp"

#include <gmock/gmock.h>

namespace hsmctl::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class StartUpOverlap : public CliTest {
 protected:
  void SetUp() override {
    manifest_ = manifest_file(pico_manifest());
    auto apply = hsmctl({"apply", "-f", manifest_, "--device", device(), "--auto-approve"});
    ASSERT_EQ(apply.exit_code, 0) << apply.all();
    auto plan = hsmctl({"plan", "-f", manifest_, "--device", device(), "--detailed-exitcode"});
    ASSERT_EQ(plan.exit_code, 0) << plan.all();
  }
  std::string manifest_;
};

// A configuration whose default properties no loaded provider offers (as a FIPS configuration
// without its provider): every algorithm fetch fails. The store must fail to open, which shows
// the configuration was read by whatever initialised OpenSSL first (the warm-up thread).
TEST_F(StartUpOverlap, TheOpenSslConfigurationStillAppliesToTheStore) {
  const std::string conf = dir_.file("openssl.cnf");
  write_text(conf,
             "openssl_conf = openssl_init\n"
             "[openssl_init]\n"
             "alg_section = evp_properties\n"
             "[evp_properties]\n"
             "default_properties = fips=yes\n");
  env_["OPENSSL_CONF"] = conf;
  for (const char* command : {"plan", "apply"}) {
    std::vector<std::string> args = {command, "-f", manifest_, "--device", device()};
    if (std::string(command) == "apply")
      args.push_back("--auto-approve");
    auto r = hsmctl(args);
    EXPECT_EQ(r.exit_code, 1) << command << ": " << r.all();
    EXPECT_THAT(r.err, HasSubstr(dir_.file("store.hsmctl"))) << command;
    EXPECT_THAT(r.all(), Not(HasSubstr("No changes"))) << command;
  }
  env_.erase("OPENSSL_CONF");
  auto again = hsmctl({"plan", "-f", manifest_, "--device", device(), "--detailed-exitcode"});
  EXPECT_EQ(again.exit_code, 0) << again.all();
}

TEST_F(StartUpOverlap, AManifestErrorLeavesTheStoreUnread) {
  // A store that cannot be read at all: any attempt to open it would be reported.
  write_text(dir_.file("store.key"), "not a key");
  const std::string bad = manifest_file(
      "apiVersion: hsmctl.dev/v1alpha1\nkind: PicoHSM\nmetadata: {name: x}\nspec: {bogus: 1}\n");
  auto r = hsmctl({"plan", "-f", bad, "--device", device()});
  EXPECT_EQ(r.exit_code, 65) << r.all();
  EXPECT_THAT(r.err, HasSubstr("nothing was sent to any device"));
  EXPECT_THAT(r.err, Not(HasSubstr("store")));
  EXPECT_THAT(r.err, Not(HasSubstr("key file")));
}

TEST_F(StartUpOverlap, AStoreThatDoesNotUnlockIsReportedAsBeforeAndNoDeviceIsOpened) {
  // Another 32-byte key: the store's key check fails.
  write_text(dir_.file("store.key"), std::string(32, 'k'));
  // The device's state file is gone: had the device been opened, that would be the error.
  const std::string missing = "sim:" + dir_.file("absent/pico.json");
  for (const char* command : {"plan", "apply"}) {
    std::vector<std::string> args = {command, "-f", manifest_, "--device", missing};
    if (std::string(command) == "apply")
      args.push_back("--auto-approve");
    auto r = hsmctl(args);
    EXPECT_EQ(r.exit_code, 1) << command << ": " << r.all();
    EXPECT_EQ(r.err, "hsmctl: error: " + dir_.file("store.hsmctl") +
                         ": wrong key file: it does not unlock this store\n")
        << command;
    EXPECT_EQ(r.out, "") << command;
  }
}

}  // namespace
}  // namespace hsmctl::testing
