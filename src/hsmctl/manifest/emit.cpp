// SPDX-License-Identifier: Apache-2.0
// `hsmctl get`: observed state -> a PicoHSM manifest that loads back without errors. Written by
// hand rather than with yaml-cpp's emitter so the comments sit where an operator needs them.
#include <cctype>
#include <cstdio>
#include <string>

#include "hsmctl/manifest/load.hpp"
#include "hsmctl/model/options.hpp"

namespace hsmctl::manifest {
namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

const char* yaml_bool(bool b) { return b ? "true" : "false"; }

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
  if (out.size() > 63) out.resize(63);
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.front()))) out.erase(0, 1);
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.back()))) out.pop_back();
  if (out.empty()) {
    out = "pico-hsm";
    for (unsigned char c : serial) out += static_cast<char>(std::tolower(c));
    if (!serial.empty()) out.insert(8, "-");
  }
  return out;
}

}  // namespace

std::string emit_pico_manifest(const model::ObservedPico& o, const std::string& name) {
  using namespace model;
  std::string y;
  auto line = [&y](const std::string& s) { y += s + "\n"; };

  line("# Observed by hsmctl get from " + (o.transport.empty() ? "(unknown)" : o.transport) +
       (o.firmware_major || o.firmware_minor
            ? ", firmware " + std::to_string(o.firmware_major) + "." +
                  std::to_string(o.firmware_minor)
            : std::string()));
  if (!o.initialized) line("# The device is not initialized; the values below are defaults.");
  line("apiVersion: hsmctl.dev/v1alpha1");
  line("kind: PicoHSM");
  line("metadata:");
  line("  name: " + quote(sanitize_name(name, o.serial)));
  line("spec:");
  line("  device:");
  if (!o.serial.empty()) {
    line("    serial: " + quote(o.serial));
  } else {
    std::string reader = o.transport;
    if (reader.rfind("pcsc:", 0) == 0) reader = reader.substr(5);
    if (reader.empty()) reader = "CHANGE_ME";
    line("    # The chip serial could not be read; selecting by reader name instead.");
    line("    reader: " + quote(reader));
  }
  line("  # PINs cannot be read from a device: point these at where the PINs are kept");
  line("  # (env:NAME, file:/absolute/path, store:NAME or prompt).");
  line("  userPin: {secret: \"env:CHANGE_ME_USER_PIN\"}");
  line("  soPin: {secret: \"env:CHANGE_ME_SO_PIN\"}");
  if (o.pin_retries_max) {
    line("  pinRetries: " + std::to_string(*o.pin_retries_max));
  } else {
    std::string hint;
    if (o.user_pin.state == PinStatus::State::kTriesLeft && o.user_pin.tries_left >= 0) {
      hint = " (at least " + std::to_string(o.user_pin.tries_left) + ")";
    }
    line("  # pinRetries: unknown: needs a verified PIN" + hint);
  }
  const std::uint16_t opt = o.options;
  line("  resetRetryCounter:");
  line(std::string("    enabled: ") + yaml_bool(opt & kOptResetRetryCounter));
  line(std::string("    onlyResetsCounter: ") + yaml_bool(opt & kOptRrcResetOnly));
  line(std::string("  transportPin: ") + yaml_bool(opt & kOptTransportPin));

  // Key-domain table (pico-hsm.md 5.1): without tag 97 there is exactly one entry for domain 0,
  // set up; its total is the tag-92 share count (0 = no DKEK). A random DKEK (tag 92 = 00) reads
  // back as 1 of 1 and is indistinguishable from one imported share.
  const auto& kd = o.key_domains;
  bool plain_dkek = kd.size() == 1 && kd[0].set_up;
  if (plain_dkek) {
    if (kd[0].total_shares > 0) {
      line("  dkekShares: " + std::to_string(kd[0].total_shares));
    }
  } else if (!kd.empty()) {
    line("  keyDomains:");
    for (const KeyDomainStatus& d : kd) {
      if (d.set_up) {
        line("    - {dkekShares: " + std::to_string(d.total_shares) + "}");
      } else {
        line("    - {}  # not set up");
      }
    }
  }

  if (o.pka) {
    line("  publicKeyAuth:");
    line("    keys: " + std::to_string(o.pka->total));
    line("    required: " + std::to_string(o.pka->required));
    line(std::string("    replaceable: ") + yaml_bool(opt & kOptReplacePka));
    line(std::string("    combinedWithPin: ") + yaml_bool(opt & kOptCombinedAuth));
  }
  line("  options:");
  line(std::string("    pressToConfirm: ") + yaml_bool(opt & kOptPressToConfirm));
  line(std::string("    keyUsageCounter: ") + yaml_bool(opt & kOptKeyUsageCounter));
  if (opt & kOptTransportPin) {
    line("  # The device is in transport PIN state, which never clears on a Pico HSM.");
    line("  acknowledge:");
    line("    transportPinNeverClears: true");
  }
  return y;
}

}  // namespace hsmctl::manifest
