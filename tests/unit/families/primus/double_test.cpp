// SPDX-License-Identifier: Apache-2.0
// The ppin double itself behaves like the documented tool (so the engine tests mean something),
// and the ppin client reads it through the pseudo-terminal.
#include "primus_fixture.hpp"

#include <filesystem>

namespace hsmctl::families::primus::testing {
namespace {

class PrimusDouble : public PrimusFixture {
 protected:
  void SetUp() override {
    PrimusFixture::SetUp();
    std::vector<const PrimusPartition*> parts;
    PrimusPartition p = partition("onprem");
    PrimusPartition q = partition("onprem");
    q.user_name = "OTHER02";
    q.slot_id = 2;
    parts = {&p, &q};
    std::ofstream(etc_ + "/primus.cfg") << render_config(cluster(), parts);
    paths_ = {etc_ + "/primus.cfg", etc_ + "/.secrets.cfg"};
  }
  Result<RunOutput> raw(const std::vector<std::string>& args) { return ppin_.run(args, {}); }
  Ppin ppin_{HSMCTL_PPIN_DOUBLE, 30};
  PpinPaths paths_;
};

TEST_F(PrimusDouble, CombinedFlagsWithPositionalSecretsAndOneAddConfiguresEverySlot) {
  auto r = raw({"-c", paths_.config, "-s", paths_.secrets, "-ae", "PAYMENTS01", kSetup, kPin});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->error_code, std::nullopt) << r->output;
  EXPECT_NE(r->output.find("********************\nPrimus Permanent PIN\n"), std::string::npos);
  auto l = ppin_.list(paths_);
  ASSERT_TRUE(l) << l.error().to_string();
  ASSERT_EQ(l->slots.size(), 4u);  // 2 members x 2 slots
  EXPECT_TRUE(l->slots[0].configured);
  EXPECT_TRUE(l->slots[2].configured);
  EXPECT_FALSE(l->slots[1].configured);
  // A second add of the same user is refused.
  auto again = ppin_.add(paths_, "PAYMENTS01", Secret(std::string_view(kSetup)),
                         Secret(std::string_view(kPin)));
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("0x80005002"), std::string::npos);
}

TEST_F(PrimusDouble, DocumentedErrors) {
  auto l = ppin_.list(paths_);
  ASSERT_FALSE(l);
  EXPECT_NE(l.error().message.find("0x80005004"), std::string::npos);
  auto unknown =
      ppin_.add(paths_, "NOBODY", Secret(std::string_view(kSetup)), Secret(std::string_view(kPin)));
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("0x80005012"), std::string::npos);
  auto missing_user = ppin_.add(paths_, "OTHER02", Secret(std::string_view(kSetup)),
                                Secret(std::string_view(kPin)));
  ASSERT_FALSE(missing_user);
  EXPECT_NE(missing_user.error().message.find("0x8000000D"), std::string::npos);
  std::ofstream(paths_.secrets) << "version = \"1.0\";\n";
  ASSERT_EQ(::chmod(paths_.secrets.c_str(), 0440), 0);
  auto ro = ppin_.add(paths_, "PAYMENTS01", Secret(std::string_view(kSetup)),
                      Secret(std::string_view(kPin)));
  ASSERT_FALSE(ro);
  EXPECT_EQ(ro.error().code, Errc::kIo);
  EXPECT_NE(ro.error().message.find("0x80005007"), std::string::npos);
}

TEST_F(PrimusDouble, ErrorsAreFoundEvenWhenTheExitCodeIsZero) {
  set_state([](nlohmann::json& s) { s["exitCodes"] = "always0"; });
  auto r = ppin_.add(paths_, "PAYMENTS01", Secret(std::string_view(kOtherSetup)),
                     Secret(std::string_view(kPin)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kAuth);
}

TEST_F(PrimusDouble, LockoutAfterThresholdEvenForTheRightPassword) {
  set_state([](nlohmann::json& s) {
    s["lockout"] = {{"threshold", 3}, {"window", 300}, {"duration", 300}};
  });
  for (int i = 0; i < 3; ++i) {
    auto r = ppin_.add(paths_, "PAYMENTS01", Secret(std::string_view(kOtherSetup)),
                       Secret(std::string_view(kPin)));
    ASSERT_FALSE(r);
  }
  auto locked = ppin_.add(paths_, "PAYMENTS01", Secret(std::string_view(kSetup)),
                          Secret(std::string_view(kPin)));
  ASSERT_FALSE(locked);
  EXPECT_NE(locked.error().message.find("0x80005017"), std::string::npos);
  set_now(kT0 + 301);
  auto ok = ppin_.add(paths_, "PAYMENTS01", Secret(std::string_view(kSetup)),
                      Secret(std::string_view(kPin)));
  EXPECT_TRUE(ok) << ok.error().to_string();
}

TEST_F(PrimusDouble, SetupPasswordExpiresFromFirstUseOrIssuance) {
  ASSERT_TRUE(ppin_.add(paths_, "PAYMENTS01", Secret(std::string_view(kSetup)),
                        Secret(std::string_view(kPin))));
  EXPECT_EQ(load_state()["users"]["PAYMENTS01"]["firstUsedAt"].get<long long>(), kT0);
  ASSERT_TRUE(ppin_.remove(paths_, "PAYMENTS01"));
  set_now(kT0 + 71 * 3600);
  ASSERT_TRUE(ppin_.add(paths_, "PAYMENTS01", Secret(std::string_view(kSetup)),
                        Secret(std::string_view(kPin))));
  ASSERT_TRUE(ppin_.remove(paths_, "PAYMENTS01"));
  set_now(kT0 + 73 * 3600);
  auto late = ppin_.add(paths_, "PAYMENTS01", Secret(std::string_view(kSetup)),
                        Secret(std::string_view(kPin)));
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().message.find("0x80005018"), std::string::npos);

  set_state([](nlohmann::json& s) {
    s["users"]["OTHER02"] = {{"setupPassword", kSetup},
                             {"issuedAt", kT0 - 8 * 24 * 3600},
                             {"lifespanHours", 168},
                             {"clockFrom", "Issuance"}};
  });
  auto never_used =
      ppin_.add(paths_, "OTHER02", Secret(std::string_view(kSetup)), Secret(std::string_view("")));
  ASSERT_FALSE(never_used);
  EXPECT_NE(never_used.error().message.find("0x80005018"), std::string::npos);
}

TEST_F(PrimusDouble, FailedUpdateRemovesTheEntry) {
  ASSERT_TRUE(ppin_.add(paths_, "PAYMENTS01", Secret(std::string_view(kSetup)),
                        Secret(std::string_view(kPin))));
  auto r = ppin_.update(paths_, "PAYMENTS01", Secret(std::string_view(kOtherSetup)),
                        Secret(std::string_view(kPin)));
  ASSERT_FALSE(r);
  auto l = ppin_.list(paths_);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->user_configured("PAYMENTS01"), false);
}

TEST_F(PrimusDouble, PromptsFromStdinWhenAsked) {
  set_state([](nlohmann::json& s) { s["promptSource"] = "stdin"; });
  auto r = ppin_.add(paths_, "PAYMENTS01", Secret(std::string_view(kSetup)),
                     Secret(std::string_view(kPin)));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->output.find(kSetup), std::string::npos);
  EXPECT_EQ(r->output.find(kPin), std::string::npos);
}

}  // namespace
}  // namespace hsmctl::families::primus::testing
