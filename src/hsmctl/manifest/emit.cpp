// SPDX-License-Identifier: Apache-2.0
// `hsmctl get`: observed state -> a PicoHSM manifest, written with yaml-cpp's emitter (quoting
// and escaping are the library's). Loaded back and planned against the same device, the output
// gives no changes: what the device cannot reveal is emitted so that it never forces a
// re-initialization, with a comment saying how it was chosen.
#include "hsmctl/manifest/load.hpp"
#include "hsmctl/model/options.hpp"
#include "hsmctl/model/pico_hsm.hpp"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <string>

namespace hsmctl::manifest {
namespace {

constexpr const char* kSchemaUrl = "https://hsmctl.dev/schemas/picohsm.v1alpha1.schema.json";

// metadata.name must match ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ (max 63).
std::string sanitize_name(const std::string& name, const std::string& serial) {
  std::string out;
  for (unsigned char c : name) {
    if (std::isalnum(c)) {
      out += static_cast<char>(std::tolower(c));
    } else if (c == '-' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += '-';
    }
  }
  if (out.size() > 63)
    out.resize(63);
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.front())))
    out.erase(0, 1);
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.back())))
    out.pop_back();
  if (out.empty()) {
    out = "pico-hsm";
    for (unsigned char c : serial)
      out += static_cast<char>(std::tolower(c));
    if (!serial.empty())
      out.insert(8, "-");
  }
  return out;
}

void flow_map(YAML::Emitter& y, const char* key, const std::string& value) {
  y << YAML::Flow << YAML::BeginMap << YAML::Key << key << YAML::Value << YAML::DoubleQuoted
    << value << YAML::EndMap;
}

/// pinRetries and the comment that says where it came from. Never more than the device could
/// hold: a plan re-initializes only when the device's maximum is known to differ.
std::pair<int, std::string> pin_retries(const model::ObservedPico& o, const EmitContext& ctx) {
  using State = model::PinStatus::State;
  if (!o.initialized)
    return {model::PicoHsmSpec{}.pin_retries, "default"};
  if (o.pin_retries_max)
    return {*o.pin_retries_max, "read after a verified PIN"};
  if (ctx.recorded_pin_retries) {
    return {*ctx.recorded_pin_retries, "recorded by hsmctl when it last verified or set the PIN"};
  }
  if (o.user_pin.state == State::kTriesLeft && o.user_pin.tries_left > 0) {
    return {o.user_pin.tries_left,
            "at least this (tries left now); the maximum needs a verified PIN, so a plan does "
            "not compare it"};
  }
  return {model::PicoHsmSpec{}.pin_retries,
          "unknown (PIN blocked or in transport state); a plan does not compare it"};
}

}  // namespace

std::string emit_pico_manifest(const model::ObservedPico& o, const std::string& name,
                               const EmitContext& ctx) {
  using namespace model;
  YAML::Emitter y;
  y.SetIndent(2);
  y << YAML::Comment(std::string("yaml-language-server: $schema=") + kSchemaUrl) << YAML::Newline;
  y << YAML::Comment(
      "Observed by hsmctl get from " + (o.transport.empty() ? "(unknown)" : o.transport) +
      (o.firmware_major || o.firmware_minor ? ", firmware " + std::to_string(o.firmware_major) +
                                                  "." + std::to_string(o.firmware_minor)
                                            : std::string()));
  y << YAML::Newline;
  // Comments only: a comment never changes what the manifest asks, so the output still plans to
  // no changes (an attestation pinned here would turn get into trust on first use).
  if (const auto& c = ctx.device_certificate) {
    y << YAML::Comment("Device certificate (EF 2F02): " + c->subject + " issued by " + c->issuer +
                       ", valid " + (c->valid_from.empty() ? "?" : c->valid_from) + ".." +
                       (c->valid_until.empty() ? "?" : c->valid_until))
      << YAML::Newline;
    y << YAML::Comment("Device key fingerprint: " + c->fingerprint) << YAML::Newline;
    y << YAML::Comment(
             "To pin this device, check the fingerprint out of band, then add to spec.device")
      << YAML::Newline;
    y << YAML::Comment("(docs/manifest.md \"Device attestation\"): attestation: {fingerprint: \"" +
                       c->fingerprint + "\"}")
      << YAML::Newline;
  } else if (!ctx.device_certificate_note.empty()) {
    y << YAML::Comment("Device certificate (EF 2F02): " + ctx.device_certificate_note)
      << YAML::Newline;
  }
  if (!o.initialized) {
    y << YAML::Comment("The device is not initialized; the values below are the defaults.")
      << YAML::Newline;
  }
  y << YAML::BeginMap;
  y << YAML::Key << "apiVersion" << YAML::Value << "hsmctl.dev/v1alpha1";
  y << YAML::Key << "kind" << YAML::Value << "PicoHSM";
  y << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "name" << YAML::Value << sanitize_name(name, o.serial);
  if (!ctx.labels.empty()) {
    y << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : ctx.labels) {
      y << YAML::Key << k << YAML::Value << YAML::DoubleQuoted << v;
    }
    y << YAML::EndMap;
  }
  y << YAML::EndMap;

  y << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "device" << YAML::Value;
  if (!o.serial.empty()) {
    flow_map(y, "serial", o.serial);
  } else {
    std::string reader = o.transport;
    if (reader.rfind("pcsc:", 0) == 0)
      reader = reader.substr(5);
    if (reader.empty())
      reader = "CHANGE_ME";
    flow_map(y, "reader", reader);
    y << YAML::Comment("the chip serial could not be read; selected by reader name");
  }
  const bool placeholder_user = ctx.user_pin_ref.rfind("store:", 0) != 0;
  const bool placeholder_so = ctx.so_pin_ref.rfind("store:", 0) != 0;
  y << YAML::Key << "userPin" << YAML::Value;
  flow_map(y, "secret", ctx.user_pin_ref);
  if (placeholder_user) {
    y << YAML::Comment(
        "PINs cannot be read from a device: env:NAME, file:/path, store:NAME, prompt");
  }
  y << YAML::Key << "soPin" << YAML::Value;
  flow_map(y, "secret", ctx.so_pin_ref);
  if (placeholder_so)
    y << YAML::Comment("16 hex digits or 8 characters");

  const auto [retries, why] = pin_retries(o, ctx);
  y << YAML::Key << "pinRetries" << YAML::Value << retries << YAML::Comment(why);

  // A device never initialized reads options 0000; what INITIALIZE will write is the manifest's
  // defaults, so those are what an operator should see.
  const PicoHsmSpec defaults;
  const std::uint16_t opt =
      o.initialized
          ? o.options
          : static_cast<std::uint16_t>(defaults.init_options() | defaults.dynamic_options());
  y << YAML::Key << "resetRetryCounter" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "enabled" << YAML::Value << ((opt & kOptResetRetryCounter) != 0);
  y << YAML::Key << "onlyResetsCounter" << YAML::Value << ((opt & kOptRrcResetOnly) != 0);
  y << YAML::EndMap;
  y << YAML::Key << "transportPin" << YAML::Value << ((opt & kOptTransportPin) != 0);

  // Key-domain table (pico-hsm.md 5.1): without tag 97 there is exactly one entry for domain 0,
  // set up; its total is the tag-92 share count (0 = no DKEK). A random DKEK (tag 92 = 00) reads
  // back as 1 of 1 and is indistinguishable from one imported share.
  const auto& kd = o.key_domains;
  const bool plain_dkek = kd.size() == 1 && kd[0].set_up;
  if (plain_dkek) {
    if (kd[0].total_shares > 0) {
      y << YAML::Key << "dkekShares" << YAML::Value << kd[0].total_shares;
    }
  } else if (!kd.empty()) {
    y << YAML::Key << "keyDomains" << YAML::Value << YAML::BeginSeq;
    for (const KeyDomainStatus& d : kd) {
      y << YAML::Flow << YAML::BeginMap;
      if (d.set_up)
        y << YAML::Key << "dkekShares" << YAML::Value << d.total_shares;
      y << YAML::EndMap;
      if (!d.set_up)
        y << YAML::Comment("not set up");
    }
    y << YAML::EndSeq;
  }

  if (o.pka) {
    y << YAML::Key << "publicKeyAuth" << YAML::Value << YAML::BeginMap;
    y << YAML::Key << "keys" << YAML::Value << o.pka->total;
    y << YAML::Key << "required" << YAML::Value << o.pka->required;
    y << YAML::Key << "replaceable" << YAML::Value << ((opt & kOptReplacePka) != 0);
    y << YAML::Key << "combinedWithPin" << YAML::Value << ((opt & kOptCombinedAuth) != 0);
    y << YAML::EndMap;
  }
  y << YAML::Key << "options" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "pressToConfirm" << YAML::Value << ((opt & kOptPressToConfirm) != 0);
  y << YAML::Key << "keyUsageCounter" << YAML::Value << ((opt & kOptKeyUsageCounter) != 0);
  y << YAML::EndMap;
  if (opt & kOptTransportPin) {
    y << YAML::Key << "acknowledge" << YAML::Value << YAML::BeginMap;
    y << YAML::Key << "transportPinNeverClears" << YAML::Value << true
      << YAML::Comment("the device is in transport PIN state, which never clears on a Pico HSM");
    y << YAML::EndMap;
  }
  y << YAML::EndMap << YAML::EndMap;
  return std::string(y.c_str()) + "\n";
}

}  // namespace hsmctl::manifest
