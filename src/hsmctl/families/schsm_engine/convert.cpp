// SPDX-License-Identifier: Apache-2.0
// Documents of a SmartCard-HSM-protocol kind (PicoHSM, SmartCardHSM) -> model::PicoHsmManifest:
// the checks JSON Schema cannot express (cross-field rules, device hazards), and across the
// kind's documents unique names and unique device selectors. Each kind's schema decides which
// fields exist (SmartCardHSM has no options, acknowledge or transportPin: true), so one reader
// serves every kind; what differs by device comes from the family's Capabilities.
#include "hsmctl/device/schsm/pka_request.hpp"
#include "hsmctl/families/schsm_engine/unit.hpp"
#include "hsmctl/model/limits.hpp"
#include "hsmctl/secrets/attestation.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <cctype>
#include <filesystem>
#include <map>
#include <optional>
#include <utility>

namespace hsmctl::families::schsm_engine {
namespace {

using manifest::Diagnostics;
using manifest::DocNode;
using manifest::DocView;

class Builder {
 public:
  Builder(const DocView& doc, Diagnostics& diagnostics, const Capabilities& caps)
      : doc_(doc), diagnostics_(diagnostics), caps_(caps) {}

  std::optional<model::PicoHsmManifest> run() {
    const DocNode root = doc_.root();
    model::PicoHsmManifest m;
    m.origin = doc_.position_of("");
    m.positions = doc_.positions();

    const DocNode meta = root["metadata"];
    m.metadata.name = meta["name"].string();
    for (const auto& [k, v] : meta["labels"].members())
      m.metadata.labels[k] = v.string();

    const DocNode spec = root["spec"];
    model::PicoHsmSpec& s = m.spec;

    const DocNode device = spec["device"];
    if (device.contains("serial")) {
      s.device.serial = device["serial"].string();
      for (char& c : s.device.serial)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    } else {
      s.device.reader = device["reader"].string();
    }
    if (device.contains("attestation"))
      s.device.attestation = attestation(device["attestation"]);

    s.pin_retries = spec.integer_or("pinRetries", model::kDefaultPinRetries);
    if (spec.contains("resetRetryCounter")) {
      const DocNode rrc = spec["resetRetryCounter"];
      s.reset_retry_counter.enabled = rrc.boolean_or("enabled", true);
      s.reset_retry_counter.only_resets_counter = rrc.boolean_or("onlyResetsCounter", false);
    }
    s.transport_pin = spec.boolean_or("transportPin", false);
    if (spec.contains("dkekShares"))
      s.dkek_shares = spec["dkekShares"].integer();
    if (spec.contains("dkek"))
      s.dkek = dkek_import(spec["dkek"], "spec.dkek", s.dkek_shares);
    int domain = 0;
    for (const DocNode& d : spec["keyDomains"].elements()) {
      model::KeyDomain kd;
      if (d.contains("dkekShares"))
        kd.dkek_shares = d["dkekShares"].integer();
      if (d.contains("dkek")) {
        kd.dkek = dkek_import(d["dkek"], "spec.keyDomains[" + std::to_string(domain) + "].dkek",
                              kd.dkek_shares);
      }
      s.key_domains.push_back(std::move(kd));
      ++domain;
    }
    if (spec.contains("publicKeyAuth")) {
      const DocNode p = spec["publicKeyAuth"];
      model::PublicKeyAuth pka;
      if (p["keys"].is_list()) {
        pka.key_files = pka_key_files(p["keys"]);
        pka.keys = p.integer_or("total", static_cast<int>(p["keys"].elements().size()));
        if (static_cast<int>(p["keys"].elements().size()) > pka.keys) {
          error(p["keys"].pointer(),
                std::to_string(p["keys"].elements().size()) + " public-key file(s) for total: " +
                    std::to_string(pka.keys) + "; the device has only that many slots");
        }
      } else {
        pka.keys = p["keys"].integer();
        if (p.contains("total")) {
          error(p["total"].pointer(),
                "total goes with keys as a list of files; with a number, keys is the total");
        }
      }
      pka.required = p["required"].integer();
      pka.replaceable = p.boolean_or("replaceable", false);
      pka.combined_with_pin = p.boolean_or("combinedWithPin", false);
      s.public_key_auth = pka;
    }
    if (spec.contains("options")) {
      s.options.press_to_confirm = spec["options"].boolean_or("pressToConfirm", false);
      s.options.key_usage_counter = spec["options"].boolean_or("keyUsageCounter", false);
      if (spec["options"].contains("secureLock"))
        s.options.secure_lock = spec["options"]["secureLock"].boolean();
    }
    if (spec.contains("acknowledge")) {
      s.acknowledge.transport_pin_lockout =
          spec["acknowledge"].boolean_or("transportPinNeverClears", false);
    }

    s.user_pin = pin_source(spec["userPin"], /*so=*/false);
    s.so_pin = pin_source(spec["soPin"], /*so=*/true);

    check(s);

    if (failed_)
      return std::nullopt;
    return m;
  }

 private:
  /// `device.attestation`: the trust file (relative to the manifest's directory) is read and
  /// parsed now, so a bad one is an error at its position; the fingerprint is kept lower-case.
  model::DeviceAttestation attestation(const DocNode& node) {
    model::DeviceAttestation a;
    if (node.contains("fingerprint")) {
      a.fingerprint = node["fingerprint"].string();
      for (char& c : a.fingerprint)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (node.contains("trust")) {
      std::filesystem::path path = node["trust"].string();
      if (path.is_relative())
        path = std::filesystem::absolute(std::filesystem::path(doc_.file()).parent_path() / path);
      a.trust_file = path.lexically_normal().string();
      auto trust = secrets::read_trust_file(a.trust_file);
      if (trust)
        a.trust = std::move(*trust);
      else
        error(node["trust"].pointer(), trust.error().message);
    }
    return a;
  }

  /// `dkek:` of domain 0 or of a key domain: the share files (relative to the manifest's
  /// directory), as many as the domain's dkekShares, each file once.
  std::optional<model::DkekImport> dkek_import(const DocNode& node, const std::string& field,
                                               std::optional<int> shares) {
    model::DkekImport out;
    const std::string& ptr = node.pointer();
    const std::vector<DocNode> files = node["shares"].elements();
    if (!shares || *shares == 0) {
      error(ptr, "share files need the domain's dkekShares (the number of shares, at least 1)");
      return std::nullopt;
    }
    if (static_cast<int>(files.size()) != *shares) {
      error(ptr + "/shares", std::to_string(files.size()) + " share file(s) for dkekShares: " +
                                 std::to_string(*shares) + "; list one file per share");
      return std::nullopt;
    }
    const std::filesystem::path base = std::filesystem::path(doc_.file()).parent_path();
    std::map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < files.size(); ++i) {
      const DocNode& f = files[i];
      model::DkekShareFile share;
      share.field = field + ".shares[" + std::to_string(i) + "]";
      std::filesystem::path path = f["file"].string();
      if (path.is_relative())
        path = std::filesystem::absolute(base / path);
      share.file = path.lexically_normal().string();
      auto [it, fresh] = seen.emplace(share.file, i);
      if (!fresh) {
        // XOR: a share imported twice cancels itself out of the DKEK.
        error(f["file"].pointer(), "the same share file as shares[" + std::to_string(it->second) +
                                       "]: a share imported twice cancels out of the DKEK");
        return std::nullopt;
      }
      // Exactly one of a password and a split one (the schema allows both fields).
      if (f.contains("password") == f.contains("passwordShares")) {
        error(f.pointer(), f.contains("password")
                               ? "give password or passwordShares, not both"
                               : "a share file needs its password (password or passwordShares)");
        return std::nullopt;
      }
      if (f.contains("passwordShares")) {
        const DocNode split = f["passwordShares"];
        share.password_threshold = split["threshold"].integer();
        const std::vector<DocNode> parts = split["parts"].elements();
        if (static_cast<int>(parts.size()) < share.password_threshold) {
          error(split["parts"].pointer(),
                std::to_string(parts.size()) + " password share(s) for threshold " +
                    std::to_string(share.password_threshold) +
                    "; list at least the threshold's number of custodians' parts");
          return std::nullopt;
        }
        for (const DocNode& part : parts) {
          auto ref = model::parse_secret_reference(part["secret"].string());
          if (!ref || ref->kind == model::SecretRef::Kind::kGenerate) {
            error(part.pointer() + "/secret", "not a secret reference");
            return std::nullopt;
          }
          share.password_parts.push_back(*ref);
        }
      } else {
        auto ref = model::parse_secret_reference(f["password"]["secret"].string());
        if (!ref) {
          error(f["password"].pointer() + "/secret", "not a secret reference");
          return std::nullopt;
        }
        share.password = *ref;
      }
      out.shares.push_back(std::move(share));
    }
    out.expected_kcv = node.string_or("expectedKcv", "");
    for (char& c : out.expected_kcv)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
  }

  /// `publicKeyAuth.keys` as a list: each file read (relative to the manifest's directory) and
  /// parsed now, so a bad file is an error at its entry; the same key (CHR) twice is an error.
  std::vector<model::PkaKeyFile> pka_key_files(const DocNode& node) {
    std::vector<model::PkaKeyFile> out;
    const std::filesystem::path base = std::filesystem::path(doc_.file()).parent_path();
    std::map<Bytes, std::size_t> seen;
    const std::vector<DocNode> files = node.elements();
    for (std::size_t i = 0; i < files.size(); ++i) {
      const DocNode f = files[i]["file"];
      model::PkaKeyFile key;
      key.field = "spec.publicKeyAuth.keys[" + std::to_string(i) + "]";
      std::filesystem::path path = f.string();
      if (path.is_relative())
        path = std::filesystem::absolute(base / path);
      key.file = path.lexically_normal().string();
      auto content = read_regular_file(key.file, device::schsm::kMaxPkaFileBytes);
      if (!content) {
        error(f.pointer(), "cannot read the public-key file: " + content.error().message);
        continue;
      }
      auto request = device::schsm::parse_pka_file(content->content);
      if (!request) {
        error(f.pointer(), key.file + ": " + request.error().message);
        continue;
      }
      key.chr = request->chr;
      key.chr_text = request->chr_text;
      key.request = std::move(request->request);
      auto [it, fresh] = seen.emplace(key.chr, i);
      if (!fresh) {
        error(f.pointer(), "the same key (" + key.chr_text + ") as keys[" +
                               std::to_string(it->second) + "]: each key registers once");
        continue;
      }
      out.push_back(std::move(key));
    }
    return out;
  }

  std::optional<model::SecretRef> pin_source(const DocNode& src, bool so) {
    const std::string& ptr = src.pointer();
    if (src.contains("secret")) {
      auto ref = model::parse_secret_reference(src["secret"].string());
      if (!ref) {
        // The schema pattern already rejects these; kept so the model never holds a literal.
        error(ptr + "/secret", "not a secret reference");
        return std::nullopt;
      }
      return ref;
    }
    const DocNode g = src["generate"];
    model::SecretRef ref;
    ref.kind = model::SecretRef::Kind::kGenerate;
    using Charset = model::GenerateSpec::Charset;
    std::string charset = g.string_or("charset", so ? "hex" : "digits");
    ref.generate.charset = charset == "hex"            ? Charset::kHex
                           : charset == "alphanumeric" ? Charset::kAlphanumeric
                                                       : Charset::kDigits;
    int default_length = so ? (ref.generate.charset == Charset::kHex ? 16 : 8) : 8;
    ref.generate.length = g.integer_or("length", default_length);
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
      } else if (!caps_.rrc_reset_only_blocks_set) {
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

  void error(const std::string& pointer, std::string message) {
    diagnostics_.error(doc_.error_at(pointer, std::move(message)));
    failed_ = true;
  }
  void warning(const std::string& pointer, std::string message) {
    diagnostics_.warning(doc_.error_at(pointer, std::move(message)));
  }

  const DocView& doc_;
  Diagnostics& diagnostics_;
  const Capabilities& caps_;
  bool failed_ = false;
};

/// A converted document and the file it came from (cross-document errors go there).
struct Accepted {
  model::PicoHsmManifest manifest;
  Diagnostics::FileId file;
};

class SchsmLoader final : public family::Loader {
 public:
  explicit SchsmLoader(const Capabilities& caps) : caps_(caps) {}

  void accept(const DocView& doc, Diagnostics& diagnostics) override {
    auto m = Builder(doc, diagnostics, caps_).run();
    if (m)
      accepted_.push_back({std::move(*m), diagnostics.current_file()});
  }

  /// Unique names and unique device selectors across all documents; a document that repeats
  /// one is reported where it is and gives no unit.
  std::vector<std::unique_ptr<family::Unit>> finish(Diagnostics& diagnostics) override {
    std::map<std::string, SourcePos> names;
    std::map<std::string, SourcePos> serials;
    std::map<std::string, SourcePos> readers;
    // "line 4, column 9" within the same file, "other.yaml:4:9" across files.
    auto where = [](const SourcePos& p, const SourcePos& here) {
      std::string lc = std::to_string(p.line) + ":" + std::to_string(p.column);
      if (p.file == here.file) {
        return "line " + std::to_string(p.line) + ", column " + std::to_string(p.column);
      }
      return p.file + ":" + lc;
    };
    std::vector<std::unique_ptr<family::Unit>> units;
    for (Accepted& a : accepted_) {
      model::PicoHsmManifest& m = a.manifest;
      bool ok = true;
      SourcePos name_pos = m.position_of("metadata.name");
      auto [nit, name_new] = names.emplace(m.metadata.name, name_pos);
      if (!name_new) {
        diagnostics.error(a.file,
                          Error{Errc::kManifest,
                                "duplicate name '" + m.metadata.name + "' (first defined at " +
                                    where(nit->second, name_pos) + ")",
                                name_pos, "metadata.name"});
        ok = false;
      }
      const auto& dev = m.spec.device;
      auto& table = dev.serial.empty() ? readers : serials;
      const std::string& key = dev.serial.empty() ? dev.reader : dev.serial;
      const std::string path = dev.serial.empty() ? "spec.device.reader" : "spec.device.serial";
      SourcePos dev_pos = m.position_of(path);
      auto [dit, dev_new] = table.emplace(key, dev_pos);
      if (!dev_new) {
        diagnostics.error(a.file, Error{Errc::kManifest,
                                        std::string(dev.serial.empty() ? "reader '" : "serial ") +
                                            key + (dev.serial.empty() ? "'" : "") +
                                            " is already selected by another manifest (at " +
                                            where(dit->second, dev_pos) + ")",
                                        dev_pos, path});
        ok = false;
      }
      if (ok)
        units.push_back(make_unit(std::move(m), caps_));
    }
    accepted_.clear();
    return units;
  }

 private:
  Capabilities caps_;
  std::vector<Accepted> accepted_;
};

}  // namespace

std::unique_ptr<family::Loader> make_loader(const Capabilities& caps) {
  return std::make_unique<SchsmLoader>(caps);
}

}  // namespace hsmctl::families::schsm_engine
