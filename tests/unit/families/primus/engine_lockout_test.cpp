// SPDX-License-Identifier: Apache-2.0
// Issue 10: lockout records that do not depend on luck, proxy rotation, removal scrubbing
// backups, --store none, concurrent applies, one-time setup passwords, the proxy/0x80005017
// ambiguity. Against ppin-double (tests/tools/ppin_double.cpp).
#include "primus_fixture.hpp"

#include <filesystem>

namespace hsmctl::families::primus::testing {
namespace {

using plan::ActionClass;

class PrimusLockout : public PrimusFixture {
 protected:
  const plan::DevicePlan& plan_of(const Result<std::vector<PreparedCluster>>& p) {
    return (*p)[0].plan.plan;
  }
  std::string reasons(const plan::DevicePlan& p) {
    std::string out;
    for (const auto& a : p.actions)
      out += a.summary + ": " + a.reason + "\n";
    return out;
  }
};

// Item 3: a failure without a documented code, or a crash right after the login attempt,
// still blocks the value: it is recorded before the attempt and stays "unknown".
TEST_F(PrimusLockout, FailureWithoutCodeIsNotRetried) {
  set_state([](nlohmann::json& s) {
    s["users"]["PAYMENTS01"]["setupPassword"] = kOtherSetup;
    s["loginFailureText"] = "noCode";
  });
  auto c = cluster();
  auto p = partition(c.name);
  for (int i = 0; i < 3; ++i) {
    auto r = apply_once({c}, {p});
    if (i == 0) {
      ASSERT_FALSE(r);
      EXPECT_NE(r.error().message.find("unknown"), std::string::npos) << r.error().message;
    }
  }
  EXPECT_EQ(count_invocations_with("-a"), 1);
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared);
  EXPECT_FALSE(has_kind(plan_of(prepared), kind::kFetchSecret));
  EXPECT_NE(reasons(plan_of(prepared)).find("--retry-rejected"), std::string::npos)
      << reasons(plan_of(prepared));
  auto o = options();
  o.retry_rejected = true;
  auto retried = prepare({c}, {p}, keeper_, o);
  ASSERT_TRUE(retried);
  EXPECT_TRUE(has_kind(plan_of(retried), kind::kFetchSecret));
}

TEST_F(PrimusLockout, CrashAfterLoginIsNotRetried) {
  set_state([](nlohmann::json& s) {
    s["users"]["PAYMENTS01"]["setupPassword"] = kOtherSetup;
    s["faults"]["crashAfterLogin"] = true;
  });
  auto c = cluster();
  auto p = partition(c.name);
  for (int i = 0; i < 3; ++i)
    (void)apply_once({c}, {p});
  EXPECT_EQ(count_invocations_with("-a"), 1);
  EXPECT_EQ(load_state()["counters"]["api"]["failures"].size(), 1u);
}

TEST_F(PrimusLockout, SuccessClearsThePhaseOneRecord) {
  auto c = cluster();
  auto p = partition(c.name);
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  const auto id = partition_key(c.name, "PAYMENTS01", "setup-password-rejected").id();
  EXPECT_TRUE(keeper_.current_[id].empty()) << keeper_.current_[id];
}

TEST_F(PrimusLockout, NetworkFailureBeforeLoginDoesNotBlockTheValue) {
  set_state([](nlohmann::json& s) { s["hosts"] = {{"10.0.0.10", "down"}, {"10.0.0.11", "down"}}; });
  auto c = cluster();
  auto p = partition(c.name);
  ASSERT_FALSE(apply_once({c}, {p}));
  set_state([](nlohmann::json& s) { s["hosts"] = nlohmann::json::object(); });
  auto r = apply_once({c}, {p});
  ASSERT_TRUE(r) << output_;
}

// ppin's code is taken from what ppin reported, never from an error's text: a failure before
// anything was sent, whose message names a path with "0x80005017" in it, is not a rejected
// setup password.
TEST_F(PrimusLockout, ACodeInsideAPathIsNotTakenAsPpinsCode) {
  auto c = cluster();
  const std::string dir = root_ + "/etc-0x80005017/primus";
  std::filesystem::create_directories(dir);
  c.config_path = dir + "/primus.cfg";
  c.secrets_path = dir + "/.secrets.cfg";
  // The staged copy of primus.cfg cannot be written: a directory is in its place.
  std::filesystem::create_directories(dir + "/.primus.cfg.hsmctl-stage");
  auto p = partition(c.name);
  auto r = apply_once({c}, {p});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("0x80005017/"), std::string::npos)  // premise
      << r.error().message;
  EXPECT_EQ(count_invocations_with("-a"), 0);  // nothing was sent
  EXPECT_EQ(r.error().message.find("stopped without retrying"), std::string::npos)
      << r.error().message;
  const auto id = partition_key(c.name, "PAYMENTS01", "setup-password-rejected").id();
  EXPECT_EQ(keeper_.current_[id].find("0x80005017"), std::string::npos) << keeper_.current_[id];
  EXPECT_NE(keeper_.current_[id].find("unknown"), std::string::npos) << keeper_.current_[id];
}

// Item 5: a rotated service-proxy password is set again.
TEST_F(PrimusLockout, RotatedProxyPasswordIsApplied) {
  auto c = cluster(true);
  auto p = partition(c.name);
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  set_state([](nlohmann::json& s) { s["proxies"]["eqabxrfnqqos"]["password"] = "New-Proxy-Pw-1"; });
  setenv("HSMCTL_TEST_PROXY_PW", "New-Proxy-Pw-1", 1);
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared);
  const auto& plan = plan_of(prepared);
  ASSERT_EQ(plan.actions.size(), 1u) << reasons(plan);
  EXPECT_EQ(plan.actions[0].kind, kind::kSetProxyPassword);
  EXPECT_EQ(plan.actions[0].action_class, ActionClass::kUpdate);
  auto ex = execute((*prepared)[0], {}, keeper_, nullptr);
  ASSERT_TRUE(ex) << ex.error().to_string();
  EXPECT_EQ(count_invocations_with("-p"), 2);
  auto again = prepare_all({c}, {p});
  ASSERT_TRUE(again);
  EXPECT_TRUE(plan_of(again).actions.empty()) << reasons(plan_of(again));
  setenv("HSMCTL_TEST_PROXY_PW", kProxyPw, 1);
}

// Item 6: after a removal no backup holds the removed secret.
TEST_F(PrimusLockout, RemovalAlsoRemovesTheBackup) {
  auto c = cluster();
  auto p = partition(c.name);
  auto q = partition(c.name);
  q.name = "other";
  q.user_name = "OTHER02";
  q.slot_id = 2;
  set_state([](nlohmann::json& s) {
    s["users"]["OTHER02"] = {
        {"setupPassword", kSetup}, {"lifespanHours", 72}, {"secret", "0ther5ecret0ther5ecret"}};
  });
  ASSERT_TRUE(apply_once({c}, {p, q})) << output_;
  const std::string secret = load_state()["users"]["PAYMENTS01"]["secret"];
  ASSERT_NE(read_text(c.secrets_path + ".bak").find(secret), std::string::npos);  // premise
  p.permanent_secret = SecretState::kAbsent;
  ApplyOptions allow;
  allow.allow_destructive = true;
  ASSERT_TRUE(apply_once({c}, {p, q}, allow)) << output_;
  for (const auto& e : std::filesystem::directory_iterator(etc_)) {
    EXPECT_EQ(read_text(e.path()).find(secret), std::string::npos) << e.path();
  }
  EXPECT_NE(read_text(c.secrets_path).find("OTHER02"), std::string::npos);
}

// Item 8: without a durable store no credential is sent and nothing claims "recorded".
TEST_F(PrimusLockout, NoStoreRefusesCredentialSteps) {
  keeper_.durable_ = false;
  auto c = cluster(true);
  auto p = partition(c.name);
  auto r = apply_once({c}, {p});
  ASSERT_TRUE(r) << output_;
  EXPECT_EQ(r->steps_blocked, 2);
  EXPECT_EQ(count_invocations_with("-a"), 0);
  EXPECT_EQ(count_invocations_with("-p"), 0);
  EXPECT_NE(output_.find("--store none"), std::string::npos) << output_;
  EXPECT_EQ(output_.find("recorded"), std::string::npos) << output_;
}

// Real-ppin: a second apply planned before the first one ran re-observes under the lock.
TEST_F(PrimusLockout, ConcurrentApplyReobservesUnderTheLock) {
  auto c = cluster();
  auto p = partition(c.name);
  auto a = prepare_all({c}, {p});
  auto b = prepare_all({c}, {p});
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(execute((*a)[0], {}, keeper_, nullptr));
  std::string said;
  auto rb = execute((*b)[0], {}, keeper_, [&](const std::string& s) { said += s + "\n"; });
  ASSERT_TRUE(rb) << rb.error().to_string();
  EXPECT_EQ(count_invocations_with("-a"), 1);
  EXPECT_NE(said.find("skipped"), std::string::npos) << said;
}

// Real-ppin: validityHours 0 (one-time setup password): a used one is never sent again.
TEST_F(PrimusLockout, UsedOneTimeSetupPasswordIsNotSentAgain) {
  set_state([](nlohmann::json& s) { s["users"]["PAYMENTS01"]["lifespanHours"] = 0; });
  auto c = cluster();
  auto p = partition(c.name);
  p.setup_password_validity_hours = 0;
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  // The entry disappears from the host (someone ran ppin -r).
  Ppin ppin(HSMCTL_PPIN_DOUBLE, 20);
  ASSERT_TRUE(ppin.remove({c.config_path, c.secrets_path}, "PAYMENTS01"));
  set_now(kT0 + 60);
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared);
  EXPECT_FALSE(has_kind(plan_of(prepared), kind::kFetchSecret)) << reasons(plan_of(prepared));
  EXPECT_NE(reasons(plan_of(prepared)).find("one-time"), std::string::npos);
  (void)execute((*prepared)[0], {}, keeper_, nullptr);
  EXPECT_EQ(count_invocations_with("-a"), 1);
}

// Real-ppin: 0x80005017 behind a proxy whose password was not verified in the same run may
// be the proxy's refusal; the setup password is not condemned, and a rotated proxy password
// (verified by ppin -p) lets the fetch go ahead.
TEST_F(PrimusLockout, ProxyRefusalLookingLikeWrongSetupPasswordIsAmbiguous) {
  auto c = cluster(true);
  auto p = partition(c.name);
  unsetenv("HSMCTL_TEST_SETUP_PW");
  (void)apply_once({c}, {p});  // sets the proxy password; the fetch is blocked
  setenv("HSMCTL_TEST_SETUP_PW", kSetup, 1);
  ASSERT_EQ(count_invocations_with("-p"), 1);
  // The proxy password changes at Securosys; the host still holds the old one.
  set_state([](nlohmann::json& s) {
    s["proxies"]["eqabxrfnqqos"]["password"] = "New-Proxy-Pw-1";
    s["proxyRefusalCode"] = "0x80005017";
  });
  auto r = apply_once({c}, {p});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("proxy"), std::string::npos) << r.error().message;
  auto blocked = prepare_all({c}, {p});
  ASSERT_TRUE(blocked);
  EXPECT_FALSE(has_kind(plan_of(blocked), kind::kFetchSecret));
  EXPECT_NE(reasons(plan_of(blocked)).find("proxy password"), std::string::npos);
  EXPECT_EQ(reasons(plan_of(blocked)).find("ask the security officer"), std::string::npos)
      << reasons(plan_of(blocked));
  // The operator stores the new proxy password: set (verified) first, then the fetch.
  setenv("HSMCTL_TEST_PROXY_PW", "New-Proxy-Pw-1", 1);
  auto fixed = apply_once({c}, {p});
  setenv("HSMCTL_TEST_PROXY_PW", kProxyPw, 1);
  ASSERT_TRUE(fixed) << output_;
  EXPECT_EQ(count_invocations_with("-a"), 2);
}

}  // namespace
}  // namespace hsmctl::families::primus::testing
