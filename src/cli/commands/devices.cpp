// SPDX-License-Identifier: Apache-2.0
#include "cli/commands/devices.hpp"

#include "cli/commands/commands.hpp"
#include "cli/output.hpp"

#include "hsmctl/device/pcsc/pcsc_transport.hpp"
#include "hsmctl/device/schsm/protocol.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/secrets/attestation.hpp"
#include "hsmctl/util/cvc.hpp"

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <exception>
#include <iostream>
#include <optional>
#include <sstream>

namespace hsmctl::cli {
namespace {

namespace po = boost::program_options;

struct Row {
  std::string reader;
  bool card_present = false;
  std::string atr;
  bool hsm = false;  // answered the SmartCard-HSM SELECT
  bool pico = false;
  std::string serial;
  std::string firmware;
  std::optional<bool> initialized;
  std::optional<std::uint16_t> options;
  std::string error;
  std::optional<ShownCertificate> certificate;  // set when EF 2F02 was read
};

/// Probes one card. Everything happens inside one PC/SC transaction so no other program
/// interleaves APDUs; only read-only commands are sent.
void probe(Row& row) {
  auto transport = device::pcsc::connect_reader(row.reader);
  if (!transport) {
    row.error = transport.error().message;
    return;
  }
  device::Transport& t = **transport;
  if (auto locked = t.begin_exclusive(); !locked) {
    row.error = locked.error().message;
    return;
  }
  device::schsm::SmartCardHsm hsm(t);
  auto selected = hsm.select();
  if (!selected) {
    // The row names the reader already; drop the protocol layer's "pcsc:<reader>: " prefix.
    std::string why = selected.error().message;
    const std::string prefix = t.describe() + ": ";
    if (why.rfind(prefix, 0) == 0) {
      why.erase(0, prefix.size());
    }
    row.error = fmt::format("not a SmartCard-HSM ({})", why);
    t.end_exclusive();
    return;
  }
  row.hsm = true;
  row.pico = selected->device_type == 0xFF;
  row.firmware = fmt::format("{}.{}", selected->firmware_major, selected->firmware_minor);
  row.options = selected->options;
  if (auto serial = hsm.chip_serial(); serial) {
    row.serial = *serial;
  } else {
    row.error = fmt::format("cannot read the chip serial: {}", serial.error().message);
  }
  if (auto so = hsm.pin_status(device::schsm::PinRef::kSo); so) {
    row.initialized = so->state != model::PinStatus::State::kNotInitialized;
  } else if (row.error.empty()) {
    row.error = fmt::format("cannot read the SO-PIN status: {}", so.error().message);
  }
  // An inventory shows which device key is behind the serial (docs/ceremonies.md "Device
  // attestation"): one READ BINARY, no credential.
  row.certificate = show_device_certificate(hsm.read_ef(device::schsm::kEfDeviceCertificate));
  t.end_exclusive();
}

std::string yes_no(bool b) {
  return b ? "yes" : "no";
}

void print_table(const std::vector<Row>& rows) {
  const std::vector<std::string> header = {"READER",   "CARD",        "SERIAL",
                                           "FIRMWARE", "INITIALIZED", "NOTE"};
  std::vector<std::vector<std::string>> cells;
  for (const Row& r : rows) {
    std::string note = r.error;
    if (note.empty() && r.hsm && !r.pico) {
      note = "SmartCard-HSM, not a Pico HSM";
    }
    cells.push_back({r.reader, yes_no(r.card_present), r.serial.empty() ? "-" : r.serial,
                     r.firmware.empty() ? "-" : r.firmware,
                     r.initialized ? yes_no(*r.initialized) : "-", note});
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& line : cells) {
      width[c] = std::max(width[c], line[c].size());
    }
  }
  auto print_line = [&](const std::vector<std::string>& line) {
    std::string out;
    for (std::size_t c = 0; c < line.size(); ++c) {
      if (c + 1 == line.size()) {
        out += line[c];  // no padding after the last column
      } else {
        out += fmt::format("{:<{}}  ", line[c], width[c]);
      }
    }
    while (!out.empty() && out.back() == ' ') {
      out.pop_back();
    }
    std::cout << out << "\n";
  };
  print_line(header);
  for (const auto& line : cells) {
    print_line(line);
  }
  // Below the table: a fingerprint (64 hex digits) would make every line too wide.
  bool heading = false;
  for (const Row& r : rows) {
    if (!r.certificate)
      continue;
    if (!heading) {
      std::cout << "\nDevice certificates (EF 2F02):\n";
      heading = true;
    }
    std::cout << "  " << r.reader << (r.serial.empty() ? "" : " (" + r.serial + ")") << ": "
              << certificate_line(*r.certificate) << "\n";
  }
}

void print_json(const std::vector<Row>& rows) {
  nlohmann::json readers = nlohmann::json::array();
  for (const Row& r : rows) {
    nlohmann::json j;
    j["reader"] = r.reader;
    j["card_present"] = r.card_present;
    j["atr"] = r.atr.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.atr);
    j["smartcard_hsm"] = r.hsm;
    j["pico"] = r.pico;
    j["serial"] = r.serial.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.serial);
    j["firmware"] = r.firmware.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.firmware);
    j["initialized"] = r.initialized ? nlohmann::json(*r.initialized) : nlohmann::json(nullptr);
    j["options"] =
        r.options ? nlohmann::json(fmt::format("{:04X}", *r.options)) : nlohmann::json(nullptr);
    j["error"] = r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error);
    j["device_certificate"] = nullptr;
    j["device_certificate_note"] = nullptr;
    if (r.certificate && r.certificate->info) {
      const auto& c = *r.certificate->info;
      j["device_certificate"] = {{"subject", c.subject},
                                 {"issuer", c.issuer},
                                 {"valid_from", c.valid_from},
                                 {"valid_until", c.valid_until},
                                 {"fingerprint", c.fingerprint}};
    } else if (r.certificate) {
      j["device_certificate_note"] = r.certificate->note;
    }
    readers.push_back(std::move(j));
  }
  std::cout << nlohmann::json{{"readers", readers}}.dump(2) << "\n";
}

}  // namespace

ShownCertificate show_device_certificate(const Result<std::optional<Bytes>>& ef_2f02) {
  if (!ef_2f02)
    return {std::nullopt, "unreadable (" + ef_2f02.error().message + ")"};
  if (!*ef_2f02 || (*ef_2f02)->empty()) {
    // A never-initialized Pico HSM answers an empty file.
    return {std::nullopt,
            "none (no certificate in EF 2F02: a Pico HSM creates its device key and certificate "
            "at its first initialization)"};
  }
  auto elements = cvc::parse_elements(**ef_2f02);
  if (!elements)
    return {std::nullopt, "unreadable (EF 2F02: " + elements.error().message + ")"};
  auto info = secrets::describe_device_certificate(*elements);
  if (!info)
    return {std::nullopt, "none (EF 2F02 holds no CV certificate)"};
  return {std::move(info), ""};
}

std::string certificate_line(const ShownCertificate& shown) {
  if (!shown.info)
    return shown.note;
  const auto& c = *shown.info;
  return fmt::format("{} issued by {}, valid {}..{}, key fingerprint {}", c.subject, c.issuer,
                     c.valid_from.empty() ? "?" : c.valid_from,
                     c.valid_until.empty() ? "?" : c.valid_until, c.fingerprint);
}

int devices_main(const std::vector<std::string>& args, const GlobalOptions& global) {
  (void)global;
  std::string output = "table";
  po::options_description opts("Usage: hsmctl devices [-o table|json]\nOptions");
  opts.add_options()("help,h", "print this help")(
      "output,o", po::value(&output)->default_value("table"), "output format: table or json");
  po::positional_options_description none;
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(args).options(opts).positional(none).run(), vm);
    po::notify(vm);
    if (vm.count("help") != 0) {
      std::cout << opts << "\n";
      return kExitOk;
    }
  } catch (const std::exception& e) {
    const Error error{Errc::kUsage, fmt::format("devices: {}", e.what()), std::nullopt, {}};
    print_error(error);
    return exit_code_for(error);
  }
  if (output != "table" && output != "json") {
    const Error error{Errc::kUsage,
                      fmt::format("devices: --output must be table or json, got '{}'", output),
                      std::nullopt,
                      {}};
    print_error(error);
    return exit_code_for(error);
  }

  auto readers = device::pcsc::list_readers();
  if (!readers) {
    print_error(readers.error());
    return exit_code_for(readers.error());
  }
  std::vector<Row> rows;
  for (const auto& info : *readers) {
    Row row;
    row.reader = info.name;
    row.card_present = info.card_present;
    row.atr = to_hex(info.atr);
    if (info.card_present) {
      probe(row);
    }
    rows.push_back(std::move(row));
  }
  if (output == "json") {
    print_json(rows);
  } else {
    print_table(rows);
  }
  return kExitOk;
}

}  // namespace hsmctl::cli
