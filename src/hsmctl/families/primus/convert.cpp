// SPDX-License-Identifier: Apache-2.0
// Schema-valid PrimusCluster / PrimusPartition documents -> model::primus objects (moved from
// manifest/primus_build.cpp, issue 14 WP-E3b). Cross-object rules: model::primus::validate(),
// run by the loader's finish() over everything loaded.
#include "hsmctl/families/primus/family.hpp"
#include "hsmctl/model/primus.hpp"
#include "hsmctl/model/secret_ref.hpp"

#include <optional>
#include <string>
#include <utility>

namespace hsmctl::families::primus {
namespace {

using manifest::Diagnostics;
using manifest::DocNode;
using manifest::DocView;
using model::primus::Deployment;
using model::primus::FileMode;
using model::primus::Member;
using model::primus::PrimusCluster;
using model::primus::PrimusPartition;
using model::primus::RefreshPolicy;
using model::primus::SecretState;
using model::primus::ServiceProxy;

class PrimusBuilder {
 public:
  PrimusBuilder(const DocView& doc, Diagnostics& diagnostics)
      : doc_(doc), diagnostics_(diagnostics) {}

  template <class T>
  void locate(T& obj) {
    obj.where = doc_.position_of("/metadata/name");
    obj.positions = doc_.positions();
  }

  std::optional<model::SecretRef> ref(const DocNode& node) {
    auto r = model::parse_secret_reference(node.string());
    if (!r)
      error(node.pointer(), "not a secret reference (env:, file:, store:, prompt)");
    return r;
  }

  FileMode file_mode(const DocNode& spec, const char* key) {
    FileMode m;
    if (!spec.contains(key))
      return m;
    const DocNode f = spec[key];
    m.owner = f.string_or("owner", m.owner);
    m.group = f.string_or("group", m.group);
    if (f.contains("mode")) {
      const std::string text = f["mode"].string();
      m.mode = static_cast<unsigned>(std::stoul(text, nullptr, 8));
      if ((m.mode & 07) != 0) {
        error(f["mode"].pointer(), "provider files must give others no access");
      }
    }
    return m;
  }

  std::optional<PrimusCluster> cluster() {
    const DocNode root = doc_.root();
    PrimusCluster c;
    locate(c);
    c.name = root["metadata"]["name"].string();
    for (const auto& [k, v] : root["metadata"]["labels"].members())
      c.labels[k] = v.string();
    const DocNode spec = root["spec"];
    c.deployment = spec.string_or("deployment", "OnPrem") == "CloudHSM" ? Deployment::kCloudHsm
                                                                        : Deployment::kOnPrem;
    int i = 0;
    for (const DocNode& m : spec["members"].elements()) {
      Member member;
      member.name = m.string_or("name", "hsm" + std::to_string(i));
      member.host = m["host"].string();
      member.port = m.integer_or("port", 2310);
      member.priority = m.integer_or("priority", 0);
      c.members.push_back(member);
      ++i;
    }
    if (spec.contains("serviceProxy")) {
      const DocNode sp = spec["serviceProxy"];
      ServiceProxy proxy;
      proxy.user = sp["user"].string();
      auto r = ref(sp["password"]["secret"]);
      if (r)
        proxy.password = *r;
      proxy.present = sp.string_or("state", "Configured") != "Absent";
      c.service_proxy = proxy;
    }
    if (spec.contains("client")) {
      const DocNode cl = spec["client"];
      c.config_path = cl.string_or("configPath", c.config_path);
      c.secrets_path = cl.string_or("secretsPath", c.secrets_path);
      c.config_mode = file_mode(cl, "fileMode");
      c.secrets_mode = file_mode(cl, "secretsFileMode");
      c.create_secrets_file = cl.boolean_or("createSecretsFile", c.create_secrets_file);
      if (cl.contains("global")) {
        const DocNode g = cl["global"];
        c.wait_delay_ms = g.integer_or("waitDelayMs", c.wait_delay_ms);
        c.wait_max_tries = g.integer_or("waitMaxTries", c.wait_max_tries);
        c.connect_on_init = g.boolean_or("connectOnInit", c.connect_on_init);
      }
      if (cl.contains("log")) {
        const DocNode log = cl["log"];
        c.log.file = log.string_or("file", c.log.file);
        c.log.write_log_file = log.boolean_or("writeLogFile", c.log.write_log_file);
        c.log.write_syslog = log.boolean_or("writeSyslog", c.log.write_syslog);
        c.log.trace_level = log.integer_or("traceLevel", c.log.trace_level);
      }
    }
    if (failed_)
      return std::nullopt;
    return c;
  }

  std::optional<PrimusPartition> partition() {
    const DocNode root = doc_.root();
    PrimusPartition p;
    locate(p);
    p.name = root["metadata"]["name"].string();
    const DocNode spec = root["spec"];
    p.cluster = spec["cluster"].string();
    p.user_name = spec["userName"].string();
    p.slot_id = spec["slotId"].integer();
    p.client_id = spec.string_or("clientId", "hsmctl");
    if (spec.contains("permanentSecret")) {
      const DocNode ps = spec["permanentSecret"];
      p.permanent_secret = ps.string_or("state", "Present") == "Absent" ? SecretState::kAbsent
                                                                        : SecretState::kPresent;
      p.refresh = ps.string_or("refresh", "Never") == "OnNewSetupPassword"
                      ? RefreshPolicy::kOnNewSetupPassword
                      : RefreshPolicy::kNever;
    }
    if (spec.contains("setupPassword")) {
      p.setup_password = ref(spec["setupPassword"]["secret"]);
      if (spec["setupPassword"].contains("validityHours")) {
        p.setup_password_validity_hours = spec["setupPassword"]["validityHours"].integer();
      }
    }
    if (spec.contains("pkcs11Password")) {
      p.pkcs11_password = ref(spec["pkcs11Password"]["secret"]);
    }
    if (spec.contains("expect")) {
      const DocNode e = spec["expect"];
      if (e.contains("tokenLabel"))
        p.expect_token_label = e["tokenLabel"].string();
      if (e.contains("serial"))
        p.expect_serial = e["serial"].string();
    }
    if (failed_)
      return std::nullopt;
    return p;
  }

 private:
  void error(const std::string& pointer, std::string message) {
    diagnostics_.error(doc_.error_at(pointer, std::move(message)));
    failed_ = true;
  }

  const DocView& doc_;
  Diagnostics& diagnostics_;
  bool failed_ = false;
};

class PrimusLoader final : public family::Loader {
 public:
  void accept(const DocView& doc, Diagnostics& diagnostics) override {
    PrimusBuilder b(doc, diagnostics);
    if (doc.kind() == "PrimusCluster") {
      if (auto c = b.cluster())
        clusters_.push_back(std::move(*c));
    } else {
      if (auto p = b.partition())
        partitions_.push_back(std::move(*p));
    }
  }

  /// model::primus::validate() over every cluster and partition of the load (its errors follow
  /// all files' errors), then one unit per cluster with the partitions that name it.
  std::vector<std::unique_ptr<family::Unit>> finish(Diagnostics& diagnostics) override {
    for (auto& e : model::primus::validate(clusters_, partitions_))
      diagnostics.error(std::move(e));
    std::vector<std::unique_ptr<family::Unit>> units;
    for (auto& c : clusters_) {
      std::vector<PrimusPartition> mine;
      for (const auto& p : partitions_) {
        if (p.cluster == c.name)
          mine.push_back(p);
      }
      units.push_back(unit(std::move(c), std::move(mine)));
    }
    clusters_.clear();
    partitions_.clear();
    return units;
  }

 private:
  std::vector<PrimusCluster> clusters_;
  std::vector<PrimusPartition> partitions_;
};

}  // namespace

std::unique_ptr<family::Loader> loader() {
  return std::make_unique<PrimusLoader>();
}

}  // namespace hsmctl::families::primus
