// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/sim/sim_state.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace hsmctl::device::sim {
namespace {

using nlohmann::json;

std::string hex(const Bytes& b) {
  return to_hex(b);
}

// Parse helpers throw std::runtime_error; persistent_from_json catches everything so no
// exception leaves this file.
Bytes unhex(const json& j, std::size_t expected = 0) {
  auto parsed = from_hex(j.get<std::string>());
  if (!parsed) {
    throw std::runtime_error("bad hex value");
  }
  if (expected != 0 && parsed->size() != expected) {
    throw std::runtime_error("bad length");
  }
  return *parsed;
}

int byte_value(const json& j) {
  int v = j.get<int>();
  if (v < 0 || v > 255) {
    throw std::runtime_error("value out of range");
  }
  return v;
}

json pin_to_json(const SimPin& p) {
  return json{{"length", p.length},
              {"salt", hex(p.salt)},
              {"verifier", hex(p.verifier)},
              {"retries", p.retries},
              {"max_retries", p.max_retries}};
}

SimPin pin_from_json(const json& j) {
  SimPin p;
  p.length = byte_value(j.at("length"));
  p.salt = unhex(j.at("salt"));
  p.verifier = unhex(j.at("verifier"));
  p.retries = byte_value(j.at("retries"));
  p.max_retries = byte_value(j.at("max_retries"));
  if (p.length > 0 && p.verifier.size() != 32) {
    throw std::runtime_error("bad verifier");
  }
  return p;
}

json mkek_to_json(const std::optional<WrappedMkek>& m) {
  if (!m) {
    return nullptr;
  }
  return json{{"wrapped", hex(m->wrapped)}, {"check", hex(m->check)}};
}

std::optional<WrappedMkek> mkek_from_json(const json& j) {
  if (j.is_null()) {
    return std::nullopt;
  }
  return WrappedMkek{unhex(j.at("wrapped"), 32), unhex(j.at("check"), 4)};
}

}  // namespace

SimState SimState::fresh(const Bytes& serial, SimFlavour flavour) {
  SimState s;
  s.persistent.flavour = flavour;
  s.persistent.serial = serial;
  s.persistent.serial.resize(8, 0);
  return s;
}

std::string SimState::to_json() const {
  const SimPersistent& p = persistent;
  json j;
  j["format"] = "hsmctl-sim-pico-hsm";
  j["version"] = kStateFormatVersion;
  j["firmware"] = std::to_string(kFirmwareMajor) + "." + std::to_string(kFirmwareMinor);
  j["serial"] = hex(p.serial);
  j["options"] = p.options ? json(static_cast<int>(*p.options)) : json(nullptr);
  j["user_pin"] = pin_to_json(p.user);
  j["so_pin"] = pin_to_json(p.so);
  j["mkek_user"] = mkek_to_json(p.mkek_user);
  j["mkek_so"] = mkek_to_json(p.mkek_so);
  json kd = json::array();
  for (const auto& [total, imported] : p.key_domains) {
    kd.push_back({total, imported});
  }
  j["key_domains"] = kd;
  json dk = json::object();
  for (const auto& [domain, d] : p.dkeks) {
    dk[std::to_string(domain)] = {{"value", hex(d.value)}, {"wrapped", d.wrapped}};
  }
  j["dkeks"] = dk;
  if (p.pka) {
    j["pka"] = {(*p.pka)[0], (*p.pka)[1], (*p.pka)[2], (*p.pka)[3]};
  } else {
    j["pka"] = nullptr;
  }
  json slots = json::array();
  for (const auto& s : p.puk_slots) {
    slots.push_back(hex(s));
  }
  j["puk_slots"] = slots;
  json keys = json::object();
  for (const auto& [id, k] : p.keys) {
    keys[std::to_string(id)] = {{"private", hex(k.private_scalar)},
                                {"public", hex(k.public_point)},
                                {"domain", k.domain},
                                {"curve", k.secp256k1 ? "secp256k1" : "prime256v1"}};
  }
  j["keys"] = keys;
  json files = json::object();
  for (const auto& [fid, data] : p.files) {
    files[to_hex(Bytes{static_cast<std::uint8_t>(fid >> 8), static_cast<std::uint8_t>(fid)})] =
        hex(data);
  }
  j["files"] = files;
  j["device_key_generation"] = p.device_key_generation;
  j["device_chr"] = p.device_chr;
  j["device_cert_pki"] = p.device_cert_pki;
  j["button_presses"] = p.button_presses;
  j["defects"] = {{"initialize_6400_first_attempt", p.defects.initialize_6400_first_attempt},
                  {"emulation_zero_serial", p.defects.emulation_zero_serial}};
  json lose = json::array();
  for (std::uint8_t ins : p.faults.lose_write_after_answer) {
    lose.push_back(to_hex(Bytes{ins}));
  }
  j["faults"] = {{"lose_write_after_answer", lose}};
  // Written only for a SmartCard-HSM: a Pico file stays byte for byte what it was.
  if (p.flavour == SimFlavour::kSmartCardHsm) {
    j["flavour"] = "smartcard-hsm";
    j["so_verify_attempts"] = p.so_verify_attempts;
    j["transport_pin_left"] = p.transport_pin_left;
  }
  return j.dump(2) + "\n";
}

Result<SimPersistent> SimState::persistent_from_json(const std::string& text,
                                                     const std::string& origin) {
  try {
    json j = json::parse(text);
    if (!j.is_object() || j.value("format", "") != "hsmctl-sim-pico-hsm") {
      return make_error(Errc::kUnavailable,
                        "simulator state " + origin + " is not an hsmctl simulator file");
    }
    if (!j.contains("version") || !j["version"].is_number_integer() ||
        j["version"].get<int>() != kStateFormatVersion) {
      return make_error(Errc::kUnavailable, "simulator state " + origin +
                                                " has an unsupported format version (expected " +
                                                std::to_string(kStateFormatVersion) + ")");
    }
    SimPersistent p;
    // Optional: absent in every file written before the SmartCard-HSM flavour existed.
    const std::string flavour = j.value("flavour", std::string("pico-hsm"));
    if (flavour == "smartcard-hsm") {
      p.flavour = SimFlavour::kSmartCardHsm;
    } else if (flavour != "pico-hsm") {
      throw std::runtime_error("unknown flavour (expected pico-hsm or smartcard-hsm)");
    }
    p.serial = unhex(j.at("serial"), 8);
    if (!j.at("options").is_null()) {
      int o = j.at("options").get<int>();
      if (o < 0 || o > 0xFFFF) {
        throw std::runtime_error("options out of range");
      }
      p.options = static_cast<std::uint16_t>(o);
    }
    p.user = pin_from_json(j.at("user_pin"));
    p.so = pin_from_json(j.at("so_pin"));
    p.mkek_user = mkek_from_json(j.at("mkek_user"));
    p.mkek_so = mkek_from_json(j.at("mkek_so"));
    for (const auto& e : j.at("key_domains")) {
      p.key_domains.emplace_back(static_cast<std::uint8_t>(byte_value(e.at(0))),
                                 static_cast<std::uint8_t>(byte_value(e.at(1))));
    }
    if (p.key_domains.size() > 16) {
      throw std::runtime_error("too many key domains");
    }
    for (const auto& [k, v] : j.at("dkeks").items()) {
      int domain = std::stoi(k);
      if (domain < 0 || domain > 15) {
        throw std::runtime_error("bad domain");
      }
      Bytes value = unhex(v.at("value"));
      if (!value.empty() && value.size() != 32) {
        throw std::runtime_error("bad DKEK length");
      }
      p.dkeks[domain] = SimDkek{value, v.at("wrapped").get<bool>()};
    }
    if (!j.at("pka").is_null()) {
      std::array<std::uint8_t, 4> pka{};
      for (std::size_t i = 0; i < 4; ++i) {
        pka[i] = static_cast<std::uint8_t>(byte_value(j.at("pka").at(i)));
      }
      if (pka[0] > 8) {
        throw std::runtime_error("too many PKA keys");
      }
      p.pka = pka;
    }
    for (const auto& s : j.at("puk_slots")) {
      p.puk_slots.push_back(unhex(s));
    }
    if (p.puk_slots.size() > 8) {
      throw std::runtime_error("too many PKA slots");
    }
    for (const auto& [k, v] : j.at("keys").items()) {
      int id = std::stoi(k);
      if (id < 0 || id > 255) {
        throw std::runtime_error("bad key id");
      }
      const std::string curve = v.value("curve", std::string("prime256v1"));
      if (curve != "prime256v1" && curve != "secp256k1") {
        throw std::runtime_error("bad key curve");
      }
      p.keys[id] = SimKey{unhex(v.at("private"), 32), unhex(v.at("public"), 65),
                          byte_value(v.at("domain")), curve == "secp256k1"};
    }
    for (const auto& [k, v] : j.at("files").items()) {
      auto fid = from_hex(k);
      if (!fid || fid->size() != 2) {
        throw std::runtime_error("bad file id");
      }
      p.files[static_cast<std::uint16_t>(((*fid)[0] << 8) | (*fid)[1])] = unhex(v);
    }
    p.device_key_generation = j.at("device_key_generation").get<int>();
    p.device_chr = j.at("device_chr").get<std::string>();
    p.device_cert_pki = j.at("device_cert_pki").get<bool>();
    p.button_presses = j.at("button_presses").get<int>();
    p.defects.initialize_6400_first_attempt =
        j.at("defects").at("initialize_6400_first_attempt").get<bool>();
    // Optional: files written before these switches existed.
    p.defects.emulation_zero_serial = j.at("defects").value("emulation_zero_serial", false);
    p.so_verify_attempts = j.value("so_verify_attempts", 0);
    if (p.so_verify_attempts < 0) {
      throw std::runtime_error("so_verify_attempts out of range");
    }
    p.transport_pin_left = j.value("transport_pin_left", false);
    if (j.contains("faults")) {
      for (const auto& ins : j.at("faults").value("lose_write_after_answer", json::array())) {
        p.faults.lose_write_after_answer.push_back(static_cast<std::uint8_t>(unhex(ins, 1).at(0)));
      }
    }
    return p;
  } catch (const std::exception& e) {
    // nlohmann's messages name fields and positions, never values.
    return make_error(Errc::kUnavailable,
                      "simulator state " + origin + " is corrupt: " + std::string(e.what()));
  }
}

}  // namespace hsmctl::device::sim
