// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/manifest/semantic.hpp"

#include "hsmctl/model/limits.hpp"

#include <cctype>
#include <utility>

namespace hsmctl::manifest {
namespace {

using nlohmann::json;

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

class Builder {
 public:
  Builder(const YamlDocument& doc, const std::string& file) : doc_(doc), file_(file) {}

  DocumentOutcome run() {
    const json& root = doc_.value;
    model::PicoHsmManifest m;
    m.origin = pos_of("");
    for (const auto& [pointer, pos] : doc_.values) {
      m.positions[dotted_path(pointer, root)] = SourcePos{file_, pos.line, pos.column};
    }

    const json& meta = root["metadata"];
    m.metadata.name = meta["name"].get<std::string>();
    if (meta.contains("labels")) {
      for (const auto& [k, v] : meta["labels"].items())
        m.metadata.labels[k] = v.get<std::string>();
    }

    const json& spec = root["spec"];
    model::PicoHsmSpec& s = m.spec;

    const json& device = spec["device"];
    if (device.contains("serial")) {
      s.device.serial = device["serial"].get<std::string>();
      for (char& c : s.device.serial)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    } else {
      s.device.reader = device["reader"].get<std::string>();
    }

    s.pin_retries = spec.value("pinRetries", model::kDefaultPinRetries);
    if (spec.contains("resetRetryCounter")) {
      const json& rrc = spec["resetRetryCounter"];
      s.reset_retry_counter.enabled = rrc.value("enabled", true);
      s.reset_retry_counter.only_resets_counter = rrc.value("onlyResetsCounter", false);
    }
    s.transport_pin = spec.value("transportPin", false);
    if (spec.contains("dkekShares"))
      s.dkek_shares = spec["dkekShares"].get<int>();
    if (spec.contains("keyDomains")) {
      for (const json& d : spec["keyDomains"]) {
        model::KeyDomain kd;
        if (d.contains("dkekShares"))
          kd.dkek_shares = d["dkekShares"].get<int>();
        s.key_domains.push_back(kd);
      }
    }
    if (spec.contains("publicKeyAuth")) {
      const json& p = spec["publicKeyAuth"];
      model::PublicKeyAuth pka;
      pka.keys = p["keys"].get<int>();
      pka.required = p["required"].get<int>();
      pka.replaceable = p.value("replaceable", false);
      pka.combined_with_pin = p.value("combinedWithPin", false);
      s.public_key_auth = pka;
    }
    if (spec.contains("options")) {
      s.options.press_to_confirm = spec["options"].value("pressToConfirm", false);
      s.options.key_usage_counter = spec["options"].value("keyUsageCounter", false);
    }
    if (spec.contains("acknowledge")) {
      s.acknowledge.transport_pin_lockout =
          spec["acknowledge"].value("transportPinNeverClears", false);
    }

    s.user_pin = pin_source(spec["userPin"], "/spec/userPin", /*so=*/false);
    s.so_pin = pin_source(spec["soPin"], "/spec/soPin", /*so=*/true);

    check(s);

    DocumentOutcome out;
    out.errors = std::move(errors_);
    out.warnings = std::move(warnings_);
    if (out.errors.empty())
      out.manifest = std::move(m);
    return out;
  }

 private:
  std::optional<model::SecretRef> pin_source(const json& src, const std::string& ptr, bool so) {
    if (src.contains("secret")) {
      auto ref = parse_secret_reference(src["secret"].get<std::string>());
      if (!ref) {
        // The schema pattern already rejects these; kept so the model never holds a literal.
        error(ptr + "/secret", "not a secret reference");
        return std::nullopt;
      }
      return ref;
    }
    const json& g = src["generate"];
    model::SecretRef ref;
    ref.kind = model::SecretRef::Kind::kGenerate;
    using Charset = model::GenerateSpec::Charset;
    std::string charset = g.value("charset", so ? "hex" : "digits");
    ref.generate.charset = charset == "hex"            ? Charset::kHex
                           : charset == "alphanumeric" ? Charset::kAlphanumeric
                                                       : Charset::kDigits;
    int default_length = so ? (ref.generate.charset == Charset::kHex ? 16 : 8) : 8;
    ref.generate.length = g.value("length", default_length);
    const std::string len_ptr = g.contains("length") ? ptr + "/generate/length" : ptr + "/generate";
    if (so) {
      bool hex16 = ref.generate.charset == Charset::kHex && ref.generate.length == 16;
      if (!hex16 && ref.generate.length != 8) {
        error(len_ptr,
              "a generated SO PIN must be exactly 8 bytes: 16 characters with charset hex, or 8 "
              "characters, got length " +
                  std::to_string(ref.generate.length));
      }
    } else if (ref.generate.length < model::kMinUserPinLength ||
               ref.generate.length > model::kMaxUserPinLength) {
      error(len_ptr, "a generated user PIN must be " + std::to_string(model::kMinUserPinLength) +
                         " to " + std::to_string(model::kMaxUserPinLength) +
                         " characters long, got length " + std::to_string(ref.generate.length));
    }
    return ref;
  }

  void check(const model::PicoHsmSpec& s) {
    if (s.public_key_auth && s.public_key_auth->required > s.public_key_auth->keys) {
      error("/spec/publicKeyAuth/required",
            "required (" + std::to_string(s.public_key_auth->required) +
                ") must not exceed keys (" + std::to_string(s.public_key_auth->keys) +
                "); authentication could never succeed");
    }
    if (s.dkek_shares && !s.key_domains.empty()) {
      error("/spec/dkekShares",
            "dkekShares cannot be combined with keyDomains; set the shares per domain with "
            "keyDomains[].dkekShares");
    }
    if (s.transport_pin && !s.acknowledge.transport_pin_lockout) {
      error("/spec/transportPin",
            "transportPin: true locks a Pico HSM out: VERIFY answers 6984 forever because only "
            "a re-initialization clears the flag; set acknowledge.transportPinNeverClears: true "
            "to accept this");
    }
    if (s.reset_retry_counter.only_resets_counter) {
      if (!s.reset_retry_counter.enabled) {
        error("/spec/resetRetryCounter/onlyResetsCounter",
              "onlyResetsCounter needs resetRetryCounter.enabled: true");
      } else {
        warning("/spec/resetRetryCounter/onlyResetsCounter",
                "on a Pico HSM onlyResetsCounter does not stop an SO PIN holder from setting a "
                "new user PIN; it only additionally allows counter-only unblocking");
      }
    }
    if (s.options.press_to_confirm) {
      warning("/spec/options/pressToConfirm",
              "pressToConfirm makes every key use and vendor command wait for the BOOTSEL "
              "button; unattended apply will block");
    }
    // The [SC-HSM] rule of sc-hsm-tool: short PINs allow fewer retries. Only generated PINs
    // have a known length here; referenced PINs are checked when they are resolved.
    if (s.user_pin && s.user_pin->kind == model::SecretRef::Kind::kGenerate) {
      int len = s.user_pin->generate.length;
      const int cap = model::max_pin_retries_for_length(len);
      if (s.pin_retries > cap) {
        error("/spec/pinRetries", "pinRetries " + std::to_string(s.pin_retries) +
                                      " is too many for a " + std::to_string(len) +
                                      "-character user PIN (at most " + std::to_string(cap) + ")");
      }
    }
  }

  SourcePos pos_of(const std::string& pointer) const {
    Pos p = doc_.position_of(pointer);
    return SourcePos{file_, p.line, p.column};
  }

  Error make(const std::string& pointer, std::string message) const {
    return Error{Errc::kManifest, std::move(message), pos_of(pointer),
                 dotted_path(pointer, doc_.value)};
  }
  void error(const std::string& pointer, std::string message) {
    errors_.push_back(make(pointer, std::move(message)));
  }
  void warning(const std::string& pointer, std::string message) {
    warnings_.push_back(make(pointer, std::move(message)));
  }

  const YamlDocument& doc_;
  const std::string& file_;
  std::vector<Error> errors_;
  std::vector<Error> warnings_;
};

}  // namespace

std::optional<model::SecretRef> parse_secret_reference(const std::string& text) {
  using Kind = model::SecretRef::Kind;
  model::SecretRef ref;
  auto valid_name = [](const std::string& n, bool env) {
    if (n.empty())
      return false;
    for (std::size_t i = 0; i < n.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(n[i]);
      // Store entry names include hsmctl's own ("pico:<serial>/user-pin", which get emits).
      bool ok =
          std::isalnum(c) || c == '_' || (!env && (c == '.' || c == '-' || c == ':' || c == '/'));
      if (env && i == 0 && std::isdigit(c))
        ok = false;
      if (!env && i == 0 && !std::isalnum(c))
        ok = false;
      if (!ok)
        return false;
    }
    return true;
  };
  if (text == "prompt") {
    ref.kind = Kind::kPrompt;
    return ref;
  }
  if (starts_with(text, "env:")) {
    ref.kind = Kind::kEnv;
    ref.target = text.substr(4);
    if (!valid_name(ref.target, true))
      return std::nullopt;
    return ref;
  }
  if (starts_with(text, "file:")) {
    ref.kind = Kind::kFile;
    ref.target = text.substr(5);
    if (ref.target.size() < 2 || ref.target[0] != '/')
      return std::nullopt;
    return ref;
  }
  if (starts_with(text, "store:")) {
    ref.kind = Kind::kStore;
    ref.target = text.substr(6);
    if (!valid_name(ref.target, false))
      return std::nullopt;
    return ref;
  }
  return std::nullopt;
}

DocumentOutcome build_pico_manifest(const YamlDocument& doc, const std::string& file_name) {
  return Builder(doc, file_name).run();
}

}  // namespace hsmctl::manifest
