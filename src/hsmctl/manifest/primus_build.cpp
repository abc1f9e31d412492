// SPDX-License-Identifier: Apache-2.0
// Schema-valid PrimusCluster / PrimusPartition documents -> primus:: model objects. Cross-object
// rules live in model::primus::validate() (run by the loader over everything loaded).
#include "hsmctl/manifest/semantic.hpp"

namespace hsmctl::manifest {
namespace {

using nlohmann::json;

class PrimusBuilder {
 public:
  PrimusBuilder(const YamlDocument& doc, const std::string& file) : doc_(doc), file_(file) {}

  template <class T>
  void locate(T& obj) {
    const Pos start = doc_.position_of("/metadata/name");
    obj.where = SourcePos{file_, start.line, start.column};
    for (const auto& [pointer, pos] : doc_.values) {
      obj.positions[dotted_path(pointer, doc_.value)] = SourcePos{file_, pos.line, pos.column};
    }
  }

  std::optional<model::SecretRef> ref(const json& node, const std::string& pointer) {
    const std::string text = node.get<std::string>();
    auto r = parse_secret_reference(text);
    if (!r) {
      const Pos p = doc_.position_of(pointer);
      errors.push_back(Error{Errc::kManifest,
                             "not a secret reference (env:, file:, store:, prompt)",
                             SourcePos{file_, p.line, p.column}, dotted_path(pointer, doc_.value)});
    }
    return r;
  }

  model::primus::FileMode file_mode(const json& spec, const char* key, const std::string& pointer) {
    model::primus::FileMode m;
    if (!spec.contains(key))
      return m;
    const json& f = spec[key];
    m.owner = f.value("owner", m.owner);
    m.group = f.value("group", m.group);
    if (f.contains("mode")) {
      const std::string text = f["mode"].get<std::string>();
      m.mode = static_cast<unsigned>(std::stoul(text, nullptr, 8));
      if ((m.mode & 07) != 0) {
        const Pos p = doc_.position_of(pointer + "/mode");
        errors.push_back(Error{Errc::kManifest, "provider files must give others no access",
                               SourcePos{file_, p.line, p.column},
                               dotted_path(pointer + "/mode", doc_.value)});
      }
    }
    return m;
  }

  std::optional<model::primus::PrimusCluster> cluster() {
    const json& root = doc_.value;
    model::primus::PrimusCluster c;
    locate(c);
    c.name = root["metadata"]["name"].get<std::string>();
    if (root["metadata"].contains("labels")) {
      for (const auto& [k, v] : root["metadata"]["labels"].items())
        c.labels[k] = v.get<std::string>();
    }
    const json& spec = root["spec"];
    c.deployment = spec.value("deployment", std::string("OnPrem")) == "CloudHSM"
                       ? model::primus::Deployment::kCloudHsm
                       : model::primus::Deployment::kOnPrem;
    int i = 0;
    for (const json& m : spec["members"]) {
      model::primus::Member member;
      member.name = m.value("name", "hsm" + std::to_string(i));
      member.host = m["host"].get<std::string>();
      member.port = m.value("port", 2310);
      member.priority = m.value("priority", 0);
      c.members.push_back(member);
      ++i;
    }
    if (spec.contains("serviceProxy")) {
      const json& sp = spec["serviceProxy"];
      model::primus::ServiceProxy proxy;
      proxy.user = sp["user"].get<std::string>();
      auto r = ref(sp["password"]["secret"], "/spec/serviceProxy/password/secret");
      if (r)
        proxy.password = *r;
      proxy.present = sp.value("state", std::string("Configured")) != "Absent";
      c.service_proxy = proxy;
    }
    if (spec.contains("client")) {
      const json& cl = spec["client"];
      c.config_path = cl.value("configPath", c.config_path);
      c.secrets_path = cl.value("secretsPath", c.secrets_path);
      c.config_mode = file_mode(cl, "fileMode", "/spec/client/fileMode");
      c.secrets_mode = file_mode(cl, "secretsFileMode", "/spec/client/secretsFileMode");
      c.create_secrets_file = cl.value("createSecretsFile", c.create_secrets_file);
      if (cl.contains("global")) {
        c.wait_delay_ms = cl["global"].value("waitDelayMs", c.wait_delay_ms);
        c.wait_max_tries = cl["global"].value("waitMaxTries", c.wait_max_tries);
        c.connect_on_init = cl["global"].value("connectOnInit", c.connect_on_init);
      }
      if (cl.contains("log")) {
        c.log.file = cl["log"].value("file", c.log.file);
        c.log.write_log_file = cl["log"].value("writeLogFile", c.log.write_log_file);
        c.log.write_syslog = cl["log"].value("writeSyslog", c.log.write_syslog);
        c.log.trace_level = cl["log"].value("traceLevel", c.log.trace_level);
      }
    }
    if (!errors.empty())
      return std::nullopt;
    return c;
  }

  std::optional<model::primus::PrimusPartition> partition() {
    const json& root = doc_.value;
    model::primus::PrimusPartition p;
    locate(p);
    p.name = root["metadata"]["name"].get<std::string>();
    const json& spec = root["spec"];
    p.cluster = spec["cluster"].get<std::string>();
    p.user_name = spec["userName"].get<std::string>();
    p.slot_id = spec["slotId"].get<int>();
    p.client_id = spec.value("clientId", std::string("hsmctl"));
    if (spec.contains("permanentSecret")) {
      const json& ps = spec["permanentSecret"];
      p.permanent_secret = ps.value("state", std::string("Present")) == "Absent"
                               ? model::primus::SecretState::kAbsent
                               : model::primus::SecretState::kPresent;
      p.refresh = ps.value("refresh", std::string("Never")) == "OnNewSetupPassword"
                      ? model::primus::RefreshPolicy::kOnNewSetupPassword
                      : model::primus::RefreshPolicy::kNever;
    }
    if (spec.contains("setupPassword")) {
      p.setup_password = ref(spec["setupPassword"]["secret"], "/spec/setupPassword/secret");
      if (spec["setupPassword"].contains("validityHours")) {
        p.setup_password_validity_hours = spec["setupPassword"]["validityHours"].get<int>();
      }
    }
    if (spec.contains("pkcs11Password")) {
      p.pkcs11_password = ref(spec["pkcs11Password"]["secret"], "/spec/pkcs11Password/secret");
    }
    if (spec.contains("expect")) {
      const json& e = spec["expect"];
      if (e.contains("tokenLabel"))
        p.expect_token_label = e["tokenLabel"].get<std::string>();
      if (e.contains("serial"))
        p.expect_serial = e["serial"].get<std::string>();
    }
    if (!errors.empty())
      return std::nullopt;
    return p;
  }

  std::vector<Error> errors;

 private:
  const YamlDocument& doc_;
  const std::string& file_;
};

}  // namespace

PrimusOutcome build_primus(const YamlDocument& doc, const std::string& file_name) {
  PrimusOutcome out;
  PrimusBuilder b(doc, file_name);
  try {
    if (doc.value["kind"].get<std::string>() == "PrimusCluster") {
      out.cluster = b.cluster();
    } else {
      out.partition = b.partition();
    }
  } catch (const std::exception& e) {
    // Only reachable if the schema and this builder disagree.
    b.errors.push_back(Error{Errc::kInternal,
                             std::string("internal error: ") + e.what(),
                             SourcePos{file_name, doc.start.line, doc.start.column},
                             {}});
  }
  out.errors = std::move(b.errors);
  return out;
}

}  // namespace hsmctl::manifest
