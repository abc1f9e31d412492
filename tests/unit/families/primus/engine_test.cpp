// SPDX-License-Identifier: Apache-2.0
// Plan/apply of Primus partitions against ppin-double (tests/tools/ppin_double.cpp).
#include "primus_fixture.hpp"

#include <filesystem>

namespace hsmctl::families::primus::testing {
namespace {

using plan::ActionClass;

class PrimusEngine : public PrimusFixture {};

TEST_F(PrimusEngine, OnPremFirstApplyFetchesThenSecondRunHasNoChanges) {
  auto c = cluster();
  auto p = partition(c.name);
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared) << prepared.error().to_string();
  const auto& plan = (*prepared)[0].plan.plan;
  ASSERT_EQ(plan.actions.size(), 2u);
  EXPECT_EQ(plan.actions[0].kind, kind::kWriteConfig);
  EXPECT_EQ(plan.actions[0].action_class, ActionClass::kCreate);
  EXPECT_EQ(plan.actions[1].kind, kind::kFetchSecret);
  // Planning never fetches nor logs in.
  EXPECT_EQ(count_invocations_with("-a"), 0);
  EXPECT_EQ(count_invocations_with("-t"), 0);

  auto r = apply_once({c}, {p});
  ASSERT_TRUE(r) << r.error().to_string() << "\n" << output_;
  EXPECT_EQ(r->steps_done, 2);
  EXPECT_EQ(count_invocations_with("-a"), 1);
  EXPECT_NE(read_text(c.config_path).find("user_name = \"PAYMENTS01\""), std::string::npos);
  EXPECT_NE(read_text(c.secrets_path).find("PAYMENTS01"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(c.secrets_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  auto again = prepare_all({c}, {p});
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_FALSE((*again)[0].plan.plan.has_changes())
      << plan::render_text({(*again)[0].plan.plan}, false);
  EXPECT_TRUE((*again)[0].plan.plan.actions.empty());
  // Committed credentials, no pending leftovers.
  EXPECT_TRUE(keeper_.pending_.empty());
  EXPECT_EQ(keeper_.current_.count(partition_key(c.name, "PAYMENTS01", "pkcs11-password").id()),
            1u);
}

TEST_F(PrimusEngine, CloudHsmSetsProxyPasswordBeforeFetchAndConverges) {
  auto c = cluster(true);
  auto p = partition(c.name);
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared) << prepared.error().to_string();
  const auto& plan = (*prepared)[0].plan.plan;
  ASSERT_EQ(plan.actions.size(), 3u) << plan::render_text({plan}, false);
  EXPECT_EQ(plan.actions[0].kind, kind::kWriteConfig);
  EXPECT_EQ(plan.actions[1].kind, kind::kSetProxyPassword);
  EXPECT_EQ(plan.actions[2].kind, kind::kFetchSecret);
  EXPECT_NE(read_text(etc_ + "/../../hsm-state.json").size(), 0u);

  auto r = apply_once({c}, {p});
  ASSERT_TRUE(r) << r.error().to_string() << "\n" << output_;
  EXPECT_EQ(r->steps_done, 3);
  EXPECT_NE(read_text(c.config_path).find("proxy_user = \"eqabxrfnqqos\""), std::string::npos);

  auto again = prepare_all({c}, {p});
  ASSERT_TRUE(again);
  EXPECT_FALSE((*again)[0].plan.plan.has_changes())
      << plan::render_text({(*again)[0].plan.plan}, false);
  // Medium-term CloudHSM default: 168 h validity.
  EXPECT_EQ(validity_hours(p, c), 168);
}

TEST_F(PrimusEngine, FetchWithoutProxyPasswordIsBlocked) {
  auto c = cluster(true);
  unsetenv("HSMCTL_TEST_PROXY_PW");
  auto prepared = prepare_all({c}, {partition(c.name)});
  ASSERT_TRUE(prepared);
  const auto& plan = (*prepared)[0].plan.plan;
  EXPECT_FALSE(has_kind(plan, kind::kFetchSecret));
  EXPECT_EQ(plan.count(ActionClass::kBlocked), 2) << plan::render_text({plan}, false);
  setenv("HSMCTL_TEST_PROXY_PW", kProxyPw, 1);
}

TEST_F(PrimusEngine, WrongSetupPasswordIsTriedAtMostOnceAcrossApplies) {
  set_state([](nlohmann::json& s) { s["users"]["PAYMENTS01"]["setupPassword"] = kOtherSetup; });
  auto c = cluster();
  auto p = partition(c.name);
  auto first = apply_once({c}, {p});
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().code, Errc::kAuth);
  EXPECT_NE(first.error().message.find("0x80005017"), std::string::npos);
  EXPECT_EQ(count_invocations_with("-a"), 1);
  // Nothing half-done on the host.
  EXPECT_FALSE(std::filesystem::exists(c.secrets_path));
  EXPECT_TRUE(keeper_.pending_.empty());

  for (int i = 0; i < 3; ++i) {
    auto prepared = prepare_all({c}, {p});
    ASSERT_TRUE(prepared);
    const auto& plan = (*prepared)[0].plan.plan;
    EXPECT_FALSE(has_kind(plan, kind::kFetchSecret));
    ASSERT_TRUE(plan.has_blocked());
    EXPECT_NE(plan.actions.back().reason.find("new setup password"), std::string::npos);
    auto r = execute((*prepared)[0], {}, keeper_, nullptr);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->steps_blocked, 1);
  }
  EXPECT_EQ(count_invocations_with("-a"), 1);
  EXPECT_EQ(load_state()["counters"]["api"]["failures"].size(), 1u);

  // The operator override sends the recorded value once more (and it fails again, once).
  auto o = options();
  o.retry_rejected = true;
  auto retried = prepare({c}, {p}, keeper_, o);
  ASSERT_TRUE(retried);
  ASSERT_TRUE(has_kind((*retried)[0].plan.plan, kind::kFetchSecret));
  EXPECT_FALSE(execute((*retried)[0], {}, keeper_, nullptr));
  EXPECT_EQ(count_invocations_with("-a"), 2);
  ASSERT_TRUE(prepare_all({c}, {p}));
  EXPECT_EQ(count_invocations_with("-a"), 2);

  // A new setup password (a different value) is tried.
  set_state([](nlohmann::json& s) { s["users"]["PAYMENTS01"]["setupPassword"] = kSetup; });
  setenv("HSMCTL_TEST_SETUP_PW", kOtherSetup, 1);
  set_state([](nlohmann::json& s) { s["users"]["PAYMENTS01"]["setupPassword"] = kOtherSetup; });
  auto fixed = apply_once({c}, {p});
  setenv("HSMCTL_TEST_SETUP_PW", kSetup, 1);
  ASSERT_TRUE(fixed) << fixed.error().to_string();
  EXPECT_EQ(count_invocations_with("-a"), 3);
}

TEST_F(PrimusEngine, WrongPkcs11PasswordStopsAndIsNotRetried) {
  set_state([](nlohmann::json& s) { s["users"]["PAYMENTS01"]["pkcs11Pin"] = "another-pin"; });
  auto c = cluster();
  auto p = partition(c.name);
  auto first = apply_once({c}, {p});
  ASSERT_FALSE(first);
  EXPECT_NE(first.error().message.find("0x8000000B"), std::string::npos);
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared);
  const auto& plan = (*prepared)[0].plan.plan;
  EXPECT_FALSE(has_kind(plan, kind::kFetchSecret));
  EXPECT_NE(plan.actions.back().reason.find("PKCS#11 password"), std::string::npos);
  {
    auto ex = execute((*prepared)[0], {}, keeper_, nullptr);
    ASSERT_TRUE(ex) << ex.error().to_string();
  }
  EXPECT_EQ(count_invocations_with("-a"), 1);
}

TEST_F(PrimusEngine, MalformedSetupPasswordIsNeverSent) {
  setenv("HSMCTL_TEST_SETUP_PW", "not-a-setup-password", 1);
  auto c = cluster();
  auto prepared = prepare_all({c}, {partition(c.name)});
  setenv("HSMCTL_TEST_SETUP_PW", kSetup, 1);
  ASSERT_TRUE(prepared);
  const auto& plan = (*prepared)[0].plan.plan;
  EXPECT_FALSE(has_kind(plan, kind::kFetchSecret));
  EXPECT_NE(plan.actions.back().reason.find("XXXXX-XXXXX"), std::string::npos);
  {
    auto ex = execute((*prepared)[0], {}, keeper_, nullptr);
    ASSERT_TRUE(ex) << ex.error().to_string();
  }
  EXPECT_EQ(count_invocations_with("-a"), 0);
}

TEST_F(PrimusEngine, ExpiredSetupPasswordWarnsThenBlocksWithOperatorHint) {
  auto c = cluster();
  auto p = partition(c.name);
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  // The secrets file is lost; four days later the same setup password is all there is.
  std::filesystem::remove(c.secrets_path);
  set_now(kT0 + 4 * 24 * 3600);
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared);
  const auto& plan = (*prepared)[0].plan.plan;
  ASSERT_TRUE(has_kind(plan, kind::kFetchSecret));
  bool warned = false;
  for (const auto& n : plan.notes)
    warned = warned || n.find("likely expired") != std::string::npos;
  EXPECT_TRUE(warned) << plan::render_text({plan}, false);

  auto r = execute((*prepared)[0], {}, keeper_, nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("0x80005018"), std::string::npos);

  auto next = prepare_all({c}, {p});
  ASSERT_TRUE(next);
  const auto& blocked = (*next)[0].plan.plan;
  EXPECT_FALSE(has_kind(blocked, kind::kFetchSecret));
  EXPECT_NE(blocked.actions.back().reason.find("expired"), std::string::npos);
  EXPECT_NE(blocked.actions.back().reason.find("hsm_user_new_setup_pass"), std::string::npos);
}

TEST_F(PrimusEngine, FailedUpdateLeavesTheLiveEntryIntact) {
  auto c = cluster();
  auto p = partition(c.name);
  p.refresh = RefreshPolicy::kOnNewSetupPassword;
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  const std::string before = read_text(c.secrets_path);

  // The operator puts a new setup password in place, but the HSM does not accept it.
  setenv("HSMCTL_TEST_SETUP_PW", kOtherSetup, 1);
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared);
  ASSERT_TRUE(has_kind((*prepared)[0].plan.plan, kind::kRefreshSecret))
      << plan::render_text({(*prepared)[0].plan.plan}, false);
  auto r = execute((*prepared)[0], {}, keeper_, nullptr);
  setenv("HSMCTL_TEST_SETUP_PW", kSetup, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(count_invocations_with("-u"), 1);
  EXPECT_EQ(read_text(c.secrets_path), before);
  // Still Configured, no staging files left behind.
  auto again = prepare_all({c}, {p});
  ASSERT_TRUE(again);
  EXPECT_FALSE(has_kind((*again)[0].plan.plan, kind::kFetchSecret));
  for (const auto& e : std::filesystem::directory_iterator(etc_)) {
    EXPECT_EQ(e.path().filename().string().find("hsmctl-stage"), std::string::npos) << e.path();
  }
}

TEST_F(PrimusEngine, CrashDuringUpdateLeavesTheLiveEntryIntact) {
  auto c = cluster();
  auto p = partition(c.name);
  p.refresh = RefreshPolicy::kOnNewSetupPassword;
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  const std::string before = read_text(c.secrets_path);
  set_state([](nlohmann::json& s) {
    s["faults"]["crashAfterRemove"] = true;
    s["users"]["PAYMENTS01"]["setupPassword"] = kOtherSetup;
  });
  setenv("HSMCTL_TEST_SETUP_PW", kOtherSetup, 1);
  auto r = apply_once({c}, {p});
  setenv("HSMCTL_TEST_SETUP_PW", kSetup, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(read_text(c.secrets_path), before);
  // The outcome is unknown: the values stay pending in the store for the next run to resolve.
  EXPECT_FALSE(keeper_.pending_.empty());
}

TEST_F(PrimusEngine, PartialWriteDuringFetchDoesNotTouchTheLiveFile) {
  auto c = cluster();
  auto p = partition(c.name);
  auto q = partition(c.name);
  q.name = "other";
  q.user_name = "OTHER02";
  q.slot_id = 2;
  q.permanent_secret = SecretState::kAbsent;
  ASSERT_TRUE(apply_once({c}, {p, q})) << output_;
  const std::string before = read_text(c.secrets_path);
  q.permanent_secret = SecretState::kPresent;
  set_state([](nlohmann::json& s) {
    s["users"]["OTHER02"] = {{"setupPassword", kSetup}, {"lifespanHours", 72}};
    s["faults"]["partialWrite"] = true;
  });
  auto r = apply_once({c}, {p, q});
  ASSERT_FALSE(r);
  EXPECT_EQ(read_text(c.secrets_path), before);
}

TEST_F(PrimusEngine, ConfigDriftIsDetectedAndRepaired) {
  auto c = cluster();
  auto p = partition(c.name);
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  std::string cfg = read_text(c.config_path);
  const auto at = cfg.find("10.0.0.11");
  ASSERT_NE(at, std::string::npos);
  cfg.replace(at, 9, "10.9.9.99");
  std::ofstream(c.config_path) << cfg;

  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared);
  const auto& plan = (*prepared)[0].plan.plan;
  ASSERT_EQ(plan.actions.size(), 1u) << plan::render_text({plan}, false);
  EXPECT_EQ(plan.actions[0].kind, kind::kWriteConfig);
  ASSERT_EQ(plan.actions[0].changes.size(), 1u);
  EXPECT_EQ(plan.actions[0].changes[0].path, "primus.cfg: primus.hsms.hsm1.host");
  EXPECT_EQ(plan.actions[0].changes[0].before, "\"10.9.9.99\"");
  {
    auto ex = execute((*prepared)[0], {}, keeper_, nullptr);
    ASSERT_TRUE(ex) << ex.error().to_string();
  }
  EXPECT_NE(read_text(c.config_path + ".bak").find("10.9.9.99"), std::string::npos);

  auto again = prepare_all({c}, {p});
  ASSERT_TRUE(again);
  EXPECT_FALSE((*again)[0].plan.plan.has_changes());
}

TEST_F(PrimusEngine, UnparsableConfigIsRewritten) {
  auto c = cluster();
  auto p = partition(c.name);
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  std::ofstream(c.config_path) << "version = \"1.0\";\nprimus: {\n  hsms: { hsm0: { host = ; };\n";
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared);
  const auto& plan = (*prepared)[0].plan.plan;
  ASSERT_FALSE(plan.actions.empty());
  EXPECT_EQ(plan.actions[0].kind, kind::kWriteConfig);
  EXPECT_NE(plan.actions[0].reason.find(":3:"), std::string::npos) << plan.actions[0].reason;
}

TEST_F(PrimusEngine, FileModeDriftIsFixed) {
  auto c = cluster();
  auto p = partition(c.name);
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  ASSERT_EQ(::chmod(c.secrets_path.c_str(), 0644), 0);
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared);
  const auto& plan = (*prepared)[0].plan.plan;
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(plan.actions[0].kind, kind::kFixFileMode);
  {
    auto ex = execute((*prepared)[0], {}, keeper_, nullptr);
    ASSERT_TRUE(ex) << ex.error().to_string();
  }
  struct stat st {};
  ASSERT_EQ(::stat(c.secrets_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(PrimusEngine, RemovalIsDestructiveAndRefusedWithoutTheFlag) {
  auto c = cluster();
  auto p = partition(c.name);
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  const std::string before = read_text(c.secrets_path);
  p.permanent_secret = SecretState::kAbsent;
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared);
  const auto& plan = (*prepared)[0].plan.plan;
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(plan.actions[0].kind, kind::kRemoveSecret);
  EXPECT_EQ(plan.actions[0].action_class, ActionClass::kDestroy);
  auto refused = execute((*prepared)[0], {}, keeper_, nullptr);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kRefused);
  EXPECT_NE(refused.error().message.find("--allow-destructive"), std::string::npos);
  EXPECT_EQ(count_invocations_with("-r"), 0);
  EXPECT_EQ(read_text(c.secrets_path), before);

  ApplyOptions allow;
  allow.allow_destructive = true;
  {
    auto ex = execute((*prepared)[0], allow, keeper_, nullptr);
    ASSERT_TRUE(ex) << ex.error().to_string();
  }
  EXPECT_EQ(count_invocations_with("-r"), 1);
  auto again = prepare_all({c}, {p});
  ASSERT_TRUE(again);
  EXPECT_TRUE((*again)[0].plan.plan.actions.empty());
}

TEST_F(PrimusEngine, ProxyRemovalIsDestructive) {
  auto c = cluster(true);
  auto p = partition(c.name);
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  c.service_proxy->present = false;
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared);
  ASSERT_FALSE(check_guards((*prepared)[0], {}));
  ApplyOptions allow;
  allow.allow_destructive = true;
  {
    auto ex = execute((*prepared)[0], allow, keeper_, nullptr);
    ASSERT_TRUE(ex) << ex.error().to_string();
  }
  EXPECT_EQ(count_invocations_with("-x"), 1);
}

TEST_F(PrimusEngine, UnreachableMembersAreNotRecordedAsBadCredentials) {
  set_state([](nlohmann::json& s) { s["hosts"] = {{"10.0.0.10", "down"}, {"10.0.0.11", "down"}}; });
  auto c = cluster();
  auto p = partition(c.name);
  auto r = apply_once({c}, {p});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  set_state([](nlohmann::json& s) { s["hosts"] = {{"10.0.0.10", "down"}}; });
  auto ok = apply_once({c}, {p});
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(count_invocations_with("-a"), 2);
}

TEST_F(PrimusEngine, ProbeRunsOnlyWhenAsked) {
  auto c = cluster();
  auto p = partition(c.name);
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  ASSERT_TRUE(prepare_all({c}, {p}));
  EXPECT_EQ(count_invocations_with("-t"), 0);
  auto o = options();
  o.probe = true;
  set_state([](nlohmann::json& s) { s["hosts"] = {{"10.0.0.11", "down"}}; });
  auto prepared = prepare({c}, {p}, keeper_, o);
  ASSERT_TRUE(prepared);
  EXPECT_EQ(count_invocations_with("-t"), 1);
  const auto& obs = (*prepared)[0].observed;
  ASSERT_EQ(obs.probes.count("PAYMENTS01"), 1u);
  const auto& lines = obs.probes.at("PAYMENTS01").lines;
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].ok);
  EXPECT_EQ(lines[1].detail, "CKR_TOKEN_NOT_PRESENT");
}

TEST_F(PrimusEngine, SecretsNeverInArgvOutputOrOtherFiles) {
  auto c = cluster(true);
  auto p = partition(c.name);
  ASSERT_TRUE(apply_once({c}, {p})) << output_;
  // Exercise the failure paths as well.
  setenv("HSMCTL_TEST_SETUP_PW", kOtherSetup, 1);
  p.refresh = RefreshPolicy::kOnNewSetupPassword;
  (void)apply_once({c}, {p});
  setenv("HSMCTL_TEST_SETUP_PW", kSetup, 1);

  const std::vector<std::string> values = {kSetup, kOtherSetup, kPin, kProxyPw};
  ASSERT_GE(invocations().size(), 5u);
  for (const auto& argv : invocations()) {
    for (const auto& a : argv) {
      for (const auto& v : values)
        EXPECT_EQ(a.find(v), std::string::npos) << a;
    }
  }
  for (const auto& v : values)
    EXPECT_EQ(output_.find(v), std::string::npos) << v;
  for (const auto& e : std::filesystem::recursive_directory_iterator(etc_)) {
    if (!e.is_regular_file())
      continue;
    const std::string name = e.path().filename().string();
    if (name == ".secrets.cfg" || name == ".secrets.cfg.bak")
      continue;
    const std::string content = read_text(e.path().string());
    for (const auto& v : values)
      EXPECT_EQ(content.find(v), std::string::npos) << e.path();
  }
  // The store keeps fingerprints of rejected values, never the values themselves.
  const auto rejected =
      keeper_.current_[partition_key(c.name, "PAYMENTS01", "setup-password-rejected").id()];
  EXPECT_FALSE(rejected.empty());
  EXPECT_EQ(rejected.find(kOtherSetup), std::string::npos);
}

}  // namespace
}  // namespace hsmctl::families::primus::testing
