// SPDX-License-Identifier: Apache-2.0
// hsmctl-vcard: the project's Pico HSM simulator (device::sim::SimCard) served to a real pcscd
// through the vsmartcard vpcd driver in reverse mode, so PC/SC clients (hsmctl, opensc-tool,
// sc-hsm-tool, pkcs11-tool) see a "hsmctl vcard 00 00" reader holding a Pico HSM.
// scripts/pcscd-sandbox starts it together with a private pcscd; see docs/pcsc.md.
// SIGTERM/SIGINT stop it cleanly. Stop pcscd first: with Debian 12's vpcd, a card that goes away
// under a running pcscd makes pcscd abort (docs/pcsc.md, "vpcd pitfalls").

#include "vcard/vpcd_server.hpp"

#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <memory>
#include <random>
#include <string>

namespace po = boost::program_options;
using hsmctl::Bytes;
using hsmctl::ByteView;
using hsmctl::device::sim::SimCard;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 64;

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) {
  g_stop = 1;
}

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "hsmctl-vcard: error: %s\n", message.c_str());
  return code;
}

std::string random_serial() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 8; ++i) {
    out += fmt::format("{:02X}", rd() & 0xFF);
  }
  return out;
}

bool is_hex_serial(const std::string& s) {
  if (s.size() != 16) {
    return false;
  }
  for (char c : s) {
    if (std::strchr("0123456789abcdefABCDEF", c) == nullptr) {
      return false;
    }
  }
  return true;
}

hsmctl::vcard::CardHooks hooks_for(SimCard& card) {
  hsmctl::vcard::CardHooks hooks;
  hooks.atr = SimCard::atr();
  SimCard* raw_card = &card;
  hooks.transmit = [raw_card](ByteView apdu) -> Bytes {
    auto response = raw_card->transmit(apdu);
    if (!response) {
      // A simulator failure (e.g. the state file cannot be written) looks like a card error.
      std::fprintf(stderr, "hsmctl-vcard: card error: %s\n", response.error().to_string().c_str());
      return Bytes{0x6F, 0x00};
    }
    return std::move(*response);
  };
  hooks.power_cycle = [raw_card] { raw_card->power_cycle(); };
  return hooks;
}

}  // namespace

int main(int argc, char** argv) {
  std::string state_path;
  std::string serial;
  std::string port_text;
  std::string ready_file;
  std::string second_serial;
  bool once = false;
  bool verbose = false;

  po::options_description opts(
      "Usage: hsmctl-vcard [options]\n"
      "Serves a simulated Pico HSM to pcscd's vpcd driver (reverse mode) on 127.0.0.1.\n\n"
      "Options");
  opts.add_options()("help,h", "print this help")(
      "state", po::value(&state_path),
      "simulator state file (created fresh if missing); without it the card lives in memory")(
      "serial", po::value(&serial),
      "chip serial (16 hex digits) of a fresh card (with --state: of a new state file, or "
      "checked against an existing one); default: random")(
      "port", po::value(&port_text)->default_value("0x9C40"),
      "slot-0 TCP port (slot 1 is port+1); 0 picks a free pair")(
      "second-serial", po::value(&second_serial),
      "put a second, in-memory Pico HSM with this chip serial into slot 1 (default: a card "
      "that is not an HSM)")("ready-file", po::value(&ready_file),
                             "write the slot-0 port number to this file once listening")(
      "once", po::bool_switch(&once), "exit when the first reader connection ends")(
      "verbose,v", po::bool_switch(&verbose), "log connections and APDU headers to stderr");
  po::positional_options_description no_positionals;
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(opts).positional(no_positionals).run(),
              vm);
    po::notify(vm);
    if (vm.count("help") != 0) {
      std::cout << opts << "\n";
      return kExitOk;
    }
  } catch (const std::exception& e) {
    return fail(kExitUsage, e.what());
  }

  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(port_text, &used, 0);
    if (used != port_text.size() || port > 0xFFFE) {
      throw std::out_of_range("port");
    }
  } catch (const std::exception&) {
    return fail(kExitUsage, fmt::format("--port: expected 0..65534, got '{}'", port_text));
  }
  if (!serial.empty() && !is_hex_serial(serial)) {
    return fail(kExitUsage, "--serial: expected 16 hex digits (8 bytes)");
  }
  if (!second_serial.empty() && !is_hex_serial(second_serial)) {
    return fail(kExitUsage, "--second-serial: expected 16 hex digits (8 bytes)");
  }

  std::unique_ptr<SimCard> card;
  if (state_path.empty()) {
    card = SimCard::create_in_memory(serial.empty() ? random_serial() : serial);
  } else {
    auto opened = SimCard::open_file(state_path, serial);
    if (!opened) {
      return fail(kExitError, opened.error().to_string());
    }
    card = std::move(*opened);
    const Bytes& have = card->state().persistent.serial;
    if (!serial.empty() && have != *hsmctl::from_hex(serial)) {
      return fail(kExitUsage, fmt::format("--serial {} does not match the serial {} in {}", serial,
                                          hsmctl::to_hex(have), state_path));
    }
  }

  hsmctl::vcard::CardHooks hooks = hooks_for(*card);

  // Block the stop signals except while waiting in ppoll, so a signal cannot slip in between
  // the check of g_stop and the wait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  hsmctl::vcard::VpcdServer::Control control;
  sigprocmask(SIG_BLOCK, &stop_signals, &control.unblocked);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT}) {
    sigdelset(&control.unblocked, sig);
    sigaction(sig, &sa, nullptr);
  }
  control.stop = &g_stop;
  control.once = once;
  std::signal(SIGPIPE, SIG_IGN);

  // Slot 1: a second Pico HSM (in memory) when asked for, else a present non-HSM card.
  std::unique_ptr<SimCard> second;
  hsmctl::vcard::CardHooks slot1 = hsmctl::vcard::blank_card();
  if (!second_serial.empty()) {
    second = SimCard::create_in_memory(second_serial);
    slot1 = hooks_for(*second);
  }

  hsmctl::vcard::VpcdServer server(std::move(hooks), std::move(slot1), verbose);
  if (auto listening = server.listen(static_cast<std::uint16_t>(port)); !listening) {
    return fail(kExitError, listening.error().to_string());
  }
  std::fprintf(stderr, "hsmctl-vcard: %s on 127.0.0.1:%u (slot 1: %u)\n", card->describe().c_str(),
               server.port(), server.port() + 1U);
  if (!ready_file.empty()) {
    const std::string text = fmt::format("{}\n", server.port());
    auto written = hsmctl::write_file_atomically(ready_file, hsmctl::bytes_of(text), 0644);
    if (!written) {
      return fail(kExitError, written.error().to_string());
    }
  }
  if (auto served = server.run(control); !served) {
    return fail(kExitError, served.error().to_string());
  }
  std::fprintf(stderr, "hsmctl-vcard: stopped\n");
  return kExitOk;
}
