// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared fixture of the Primus tests: a temporary /etc/primus, a ppin-double "HSM" state file,
// an in-memory credential store and helpers to read what the double recorded.
#include "support/files.hpp"
#include "support/temp_dir.hpp"

#include "hsmctl/families/primus/engine.hpp"
#include "hsmctl/store/credential_keeper.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#ifndef HSMCTL_PPIN_DOUBLE
#error "HSMCTL_PPIN_DOUBLE (path of ppin-double) must be defined by tests/tools/CMakeLists.txt"
#endif

namespace hsmctl::families::primus::testing {

/// The two-phase contract in memory (what EphemeralKeeper does), plus inspection for tests.
class MemoryKeeper : public store::CredentialKeeper {
 public:
  Result<std::optional<Secret>> current(const store::CredentialKey& key) override {
    auto it = current_.find(key.id());
    if (it == current_.end())
      return std::optional<Secret>();
    return std::optional<Secret>(Secret(std::string_view(it->second)));
  }
  Result<std::optional<Secret>> pending(const store::CredentialKey& key) override {
    auto it = pending_.find(key.id());
    if (it == pending_.end())
      return std::optional<Secret>();
    return std::optional<Secret>(Secret(std::string_view(it->second)));
  }
  Result<void> stage(const store::CredentialKey& key, const Secret& value) override {
    pending_[key.id()] = std::string(value.view());
    return {};
  }
  Result<void> commit(const store::CredentialKey& key) override {
    auto it = pending_.find(key.id());
    if (it == pending_.end())
      return make_error(Errc::kStore, "nothing pending");
    current_[key.id()] = it->second;
    pending_.erase(it);
    return {};
  }
  Result<void> discard(const store::CredentialKey& key) override {
    pending_.erase(key.id());
    return {};
  }
  Result<void> record_current(const store::CredentialKey& key, const Secret& value) override {
    current_[key.id()] = std::string(value.view());
    return {};
  }
  bool durable() const override { return durable_; }
  std::map<std::string, std::string> current_;
  std::map<std::string, std::string> pending_;
  bool durable_ = true;  ///< false: behave like --store none
};

inline std::string user_name() {
  struct passwd* pw = getpwuid(getuid());
  return pw != nullptr ? pw->pw_name : std::to_string(getuid());
}
inline std::string group_name() {
  struct group* gr = getgrgid(getgid());
  return gr != nullptr ? gr->gr_name : std::to_string(getgid());
}

using hsmctl::testing::read_text;

inline constexpr const char* kSetup = "bHocQ-bdLVz-d53Cq-xP2qq-7ZdnG";
inline constexpr const char* kOtherSetup = "Zz9Zz-Yy8Yy-Xx7Xx-Ww6Ww-Vv5Vv";
inline constexpr const char* kPin = "pkcs11-Pin-4711";
inline constexpr const char* kProxyPw = "Proxy-Pw-0815-secret";
inline constexpr long long kT0 = 1800000000;

class PrimusFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = root_dir_.path();
    etc_ = root_ + "/etc/primus";
    std::filesystem::create_directories(etc_);
    state_path_ = root_ + "/hsm-state.json";
    setenv("PPIN_DOUBLE_STATE", state_path_.c_str(), 1);
    // ppin runs with a minimal environment: the double's control variables pass only by name.
    setenv("HSMCTL_PPIN_PASS_ENV", "PPIN_DOUBLE_STATE,PPIN_DOUBLE_NOW", 1);
    set_now(kT0);
    setenv("HSMCTL_TEST_SETUP_PW", kSetup, 1);
    setenv("HSMCTL_TEST_PIN", kPin, 1);
    setenv("HSMCTL_TEST_PROXY_PW", kProxyPw, 1);
    state_ = {
        {"version", "2.2.4"},
        {"users",
         {{"PAYMENTS01",
           {{"setupPassword", kSetup},
            {"issuedAt", kT0 - 3600},
            {"lifespanHours", 72},
            {"clockFrom", "FirstUse"},
            {"secret", "a7176edc3c192207a7176edc3c192207a7176edc3c192207a7176edc3c192207"},
            {"pkcs11Pin", kPin}}}}},
        {"proxies", {{"eqabxrfnqqos", {{"password", kProxyPw}}}}},
    };
    save_state();
  }
  void TearDown() override {
    unsetenv("PPIN_DOUBLE_STATE");
    unsetenv("PPIN_DOUBLE_NOW");
    unsetenv("HSMCTL_PPIN_PASS_ENV");
  }

  void set_now(long long t) {
    now_ = t;
    setenv("PPIN_DOUBLE_NOW", std::to_string(t).c_str(), 1);
  }
  void save_state() { std::ofstream(state_path_) << state_.dump(2); }
  nlohmann::json load_state() { return nlohmann::json::parse(read_text(state_path_)); }
  void set_state(const std::function<void(nlohmann::json&)>& edit) {
    state_ = load_state();
    edit(state_);
    save_state();
  }

  /// Every argv the double was called with.
  std::vector<std::vector<std::string>> invocations() {
    std::vector<std::vector<std::string>> out;
    const nlohmann::json state = load_state();
    if (!state.contains("invocations"))
      return out;
    for (const auto& inv : state["invocations"]) {
      out.push_back(inv["argv"].get<std::vector<std::string>>());
    }
    return out;
  }
  int count_invocations_with(const std::string& flag) {
    int n = 0;
    for (const auto& argv : invocations()) {
      for (const auto& a : argv) {
        if (a == flag) {
          ++n;
          break;
        }
      }
    }
    return n;
  }

  PrimusCluster cluster(bool cloud = false) {
    PrimusCluster c;
    c.name = cloud ? "prod-ch" : "onprem";
    c.deployment = cloud ? Deployment::kCloudHsm : Deployment::kOnPrem;
    c.members = {{"hsm0", cloud ? "ch01-api.cloudshsm.com" : "10.0.0.10", 2310, 0},
                 {"hsm1", cloud ? "ch02-api.cloudshsm.com" : "10.0.0.11", 2310, 1}};
    if (cloud) {
      ServiceProxy sp;
      sp.user = "eqabxrfnqqos";
      sp.password = model::SecretRef{model::SecretRef::Kind::kEnv, "HSMCTL_TEST_PROXY_PW", {}};
      c.service_proxy = sp;
    }
    c.config_path = etc_ + "/primus.cfg";
    c.secrets_path = etc_ + "/.secrets.cfg";
    c.config_mode = FileMode{user_name(), group_name(), 0640};
    c.secrets_mode = FileMode{user_name(), group_name(), 0640};
    return c;
  }

  PrimusPartition partition(const std::string& cluster_name) {
    PrimusPartition p;
    p.name = "payments";
    p.cluster = cluster_name;
    p.user_name = "PAYMENTS01";
    p.slot_id = 1;
    p.client_id = "hsmctl-payments";
    p.setup_password = model::SecretRef{model::SecretRef::Kind::kEnv, "HSMCTL_TEST_SETUP_PW", {}};
    p.pkcs11_password = model::SecretRef{model::SecretRef::Kind::kEnv, "HSMCTL_TEST_PIN", {}};
    return p;
  }

  EngineOptions options() {
    EngineOptions o;
    o.ppin_program = HSMCTL_PPIN_DOUBLE;
    o.now = now_;
    o.timeout_seconds = 30;
    return o;
  }

  Result<std::vector<PreparedCluster>> prepare_all(const std::vector<PrimusCluster>& cs,
                                                   const std::vector<PrimusPartition>& ps) {
    return prepare(cs, ps, keeper_, options());
  }

  /// prepare + execute of one cluster; the progress lines are appended to output_.
  Result<ApplyReport> apply_once(const std::vector<PrimusCluster>& cs,
                                 const std::vector<PrimusPartition>& ps, ApplyOptions ao = {}) {
    auto prepared = prepare_all(cs, ps);
    if (!prepared)
      return tl::unexpected(prepared.error());
    ApplyReport total;
    for (auto& pc : *prepared) {
      std::vector<plan::DevicePlan> plans{pc.plan.plan};
      output_ += plan::render_text(plans, false);
      output_ += plan::render_json(plans);
      auto r = execute(pc, ao, keeper_, [&](const std::string& s) { output_ += s + "\n"; });
      if (!r) {
        output_ += r.error().to_string() + "\n";
        return r;
      }
      total.steps_done += r->steps_done;
      total.steps_blocked += r->steps_blocked;
    }
    return total;
  }

  hsmctl::testing::TempDir root_dir_{"hsmctl-primus-test"};
  std::string root_, etc_, state_path_;
  nlohmann::json state_;
  long long now_ = kT0;
  MemoryKeeper keeper_;
  std::string output_;
};

inline bool has_kind(const plan::DevicePlan& p, std::string_view k) {
  for (const auto& a : p.actions) {
    if (a.kind == k)
      return true;
  }
  return false;
}

}  // namespace hsmctl::families::primus::testing
