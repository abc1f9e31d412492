// SPDX-License-Identifier: Apache-2.0
#pragma once
// An APDU-level Pico HSM (firmware v6.6) simulator: it answers every command hsmctl, sc-hsm-tool
// and pkcs11-tool send exactly as the real firmware does (pico-hsm.md sections 1-9 and 13),
// including its quirks. It is the only fake device in the project; the real protocol layer runs
// against it in-process (this Transport), and over pcscd via hsmctl-vcard.
//
// State can live in a JSON file (`sim:PATH`): loaded on open, written atomically after every
// state-changing APDU, so the file behaves like a device across runs. PINs are stored as salted
// SHA-256 verifiers, never in clear. docs/simulator.md lists what is emulated and what is not.
//
// A SmartCard-HSM / Nitrokey HSM 2 flavour (SimFlavour::kSmartCardHsm) changes the answers where
// that card is known, second-hand, to differ from the Pico (docs/simulator.md, "SmartCard-HSM
// flavour"); everything else is the Pico model.

#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/device/transport.hpp"
#include "hsmctl/util/bytes.hpp"

#include <memory>
#include <optional>
#include <string>

namespace hsmctl::device::sim {

class SimCard final : public Transport {
 public:
  /// A fresh, never-initialized device in memory with the given 8-byte chip serial (hex). A
  /// SmartCard-HSM comes with its production device key and PKI-issued certificate chain.
  static std::unique_ptr<SimCard> create_in_memory(const std::string& serial_hex,
                                                   SimFlavour flavour = SimFlavour::kPicoHsm);
  /// Opens the state file at `path`, or creates a fresh device of `flavour_if_new` there whose
  /// chip serial is `serial_if_new` (16 hex digits) or random when that is empty. An existing
  /// file keeps its own serial and flavour: callers compare them if they care.
  static Result<std::unique_ptr<SimCard>> open_file(
      const std::string& path, const std::string& serial_if_new = {},
      SimFlavour flavour_if_new = SimFlavour::kPicoHsm);

  ~SimCard() override;
  SimCard(const SimCard&) = delete;
  SimCard& operator=(const SimCard&) = delete;
  SimCard(SimCard&&) = delete;
  SimCard& operator=(SimCard&&) = delete;

  Result<Bytes> transmit(ByteView command) override;
  std::string describe() const override;
  Result<void> begin_exclusive() override;
  void end_exclusive() override;

  /// Simulates a power cycle (replug): all volatile state is lost, no applet is selected.
  void power_cycle();
  /// A PC/SC card reset or reconnect (vpcd RESET): the firmware keeps running, so applet,
  /// PIN/SO sessions and PKA state survive (observed on v6.6); only a pending chained response
  /// and half-received command chain are dropped.
  void warm_reset();
  /// The answer-to-reset (the real Pico HSM ATR).
  static Bytes atr();

  /// The simulated device's state, for tests and tools. Direct edits are written to the state
  /// file by the next state-changing APDU or by save().
  SimState& state();
  /// Writes the state file now if the persistent state changed (no-op in memory).
  Result<void> save();

  /// Test hook (HSMCTL_SIM_TEST_SIGNAL, parsed by test_signal_from_env()): at the first APDU
  /// with instruction byte `ins`, raise `sig` `count` times in this process, either before the
  /// simulated card processes the APDU or after it did (the answer is then returned as usual).
  /// Lets the CLI tests interrupt `hsmctl apply` at an exact point (docs/simulator.md).
  struct TestSignal {
    std::uint8_t ins = 0;
    int sig = 0;
    int count = 1;
    bool after = false;
    /// `in:NAME`: only simulators whose state file path contains NAME (several devices in one
    /// run, observed in parallel); empty: every simulator.
    std::string only_path;
  };
  void set_test_signal(const TestSignal& hook) { test_signal_ = hook; }

  /// Test helper: puts a P-256 key object with key id `key_id` (1..255) into key domain
  /// `domain`, as GENERATE ASYMMETRIC KEY PAIR would (EF CCxx, PrKD C4xx, request CExx).
  Result<void> install_key(int key_id, int domain);
  /// Test helper: replaces EF 2F02 with a PKI-issued chain for the current device key (device
  /// certificate with CHR `chr` issued by "ESPICOHSMDV00001", followed by the DV certificate
  /// issued by "ESPICOHSMCA00001"), as "Force Device Certificate" leaves it.
  Result<void> install_pki_device_chain(const std::string& chr);

 private:
  SimCard();
  void fire_test_signal();
  Result<Bytes> transmit_now(ByteView command);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::optional<TestSignal> test_signal_;
};

/// HSMCTL_SIM_TEST_SIGNAL="SIG INS [after] [xN]" (e.g. "INT 24", "TERM 50 after x2"): the
/// test hook above for every simulator hsmctl opens through a sim: URI. Unset or empty: none.
/// Errc::kUsage when the variable is set but malformed (never ignored silently).
Result<std::optional<SimCard::TestSignal>> test_signal_from_env();

}  // namespace hsmctl::device::sim
