// SPDX-License-Identifier: Apache-2.0
#pragma once
// The SmartCard-HSM command set (as implemented by Pico HSM firmware) on top of a Transport.
// One instance talks to one card; the same code drives the simulator and a real device.
// Facts: ../shared/reference/pico-hsm.md. Every method sends exactly the APDUs its comment says
// and maps unexpected status words to Errc::kDevice errors naming the transport and the SW.

#include <cstdint>
#include <optional>
#include <vector>

#include "hsmctl/device/apdu.hpp"
#include "hsmctl/device/transport.hpp"
#include "hsmctl/model/observed.hpp"
#include "hsmctl/util/secret.hpp"

namespace hsmctl::device::schsm {

enum class PinRef : std::uint8_t { kUser = 0x81, kSo = 0x88 };

/// Tag 85 of the SELECT response.
struct SelectInfo {
  std::uint16_t options = 0;
  std::uint8_t device_type = 0;  ///< 0xFF on Pico
  int firmware_major = 0;
  int firmware_minor = 0;
};

enum class VerifyResult { kOk, kWrong, kBlocked, kTransport, kNotInitialized };

/// Everything INITIALIZE DEVICE (80 50 00 00) can carry. Unset optionals leave the tag out.
struct InitializeParams {
  std::uint16_t options = 0x0001;     ///< tag 80 (always sent; carries both bytes)
  Secret user_pin;                    ///< tag 81
  Secret so_pin;                      ///< tag 82, 8 bytes
  int pin_retries = 3;                ///< tag 91
  std::optional<int> dkek_shares;     ///< tag 92
  std::optional<std::pair<int, int>> pka;  ///< tag 93 (keys, required)
  std::optional<int> key_domains;     ///< tag 97
};

struct ObjectList {
  std::vector<std::uint16_t> fids;
  int private_keys() const;  ///< FIDs with high byte 0xCC
};

class SmartCardHsm {
 public:
  explicit SmartCardHsm(Transport& transport) : transport_(transport) {}

  /// SELECT the HSM applet: 00 A4 04 00 0B <AID> 00. Logs out every session.
  Result<SelectInfo> select();
  /// VERIFY status query (no data). Never costs a try.
  Result<model::PinStatus> pin_status(PinRef ref);
  /// VERIFY with data. A wrong value costs one try and drops all sessions.
  Result<VerifyResult> verify(PinRef ref, const Secret& value);
  /// CHANGE REFERENCE DATA (00 24 00 ref, old||new). kAuth error if old is wrong.
  Result<void> change_reference_data(PinRef ref, const Secret& old_value, const Secret& new_value);
  /// RESET RETRY COUNTER P1=00 (SO-PIN || new PIN). kAuth if the SO PIN is wrong; kRefused
  /// style kDevice error 6986 if RRC is disabled.
  Result<void> reset_retry_counter(const Secret& so_pin, const Secret& new_pin);
  /// RESET RETRY COUNTER P1=01 (SO-PIN only; needs option 0x0020).
  Result<void> reset_retry_counter_only(const Secret& so_pin);
  /// INITIALIZE DEVICE with data. Destructive. A 6400 answer is returned as kDevice error with
  /// the SW; callers decide on a retry (v6.6 first-attempt defect).
  Result<void> initialize(const InitializeParams& params);
  /// 80 50 00 00 00: free memory and version (read-only).
  Result<std::pair<std::uint32_t, std::pair<int, int>>> memory_and_version();

  /// INS 52 P1=00 status of domain `index`; nullopt when 6A86 (beyond the configured count).
  Result<std::optional<model::KeyDomainStatus>> key_domain_status(int index);
  /// INS 52 P1=01: set up domain `index` with `shares` DKEK shares (user PIN session needed).
  Result<void> key_domain_setup(int index, int shares);
  /// INS 52 P1=03: delete domain (success is SW 6A88 by design). kRefused-like error on 6A89.
  Result<void> key_domain_delete(int index);
  /// INS 52 P1=04: clear the DKEK of domain `index`.
  Result<void> key_domain_clear(int index);
  /// INS 52 P1=00 with a 32-byte share.
  Result<model::KeyDomainStatus> import_dkek_share(int index, const Secret& share);

  /// INS 54 status; nullopt when PKA is not configured (6A86).
  Result<std::optional<model::PkaStatus>> pka_status();

  /// DYNOPS get (80 64 06 00, Le) and set (one byte: the new high options byte).
  Result<std::uint16_t> dynamic_options();
  Result<void> set_dynamic_options_high_byte(std::uint8_t high);

  /// READ BINARY of a whole EF by FID (00 B1 FID 04 54 02 00 00 00, repeated until short);
  /// nullopt when 6A82.
  Result<std::optional<Bytes>> read_ef(std::uint16_t fid);
  /// Chip serial from EF 2F03 (TokenInfo serialNumber), 16 upper-case hex digits.
  Result<std::string> chip_serial();
  /// ENUMERATE OBJECTS (80 58 00 00, Le 0000 extended).
  Result<ObjectList> enumerate_objects();

  /// Number of APDUs sent through this object so far.
  int apdu_count() const { return apdu_count_; }
  Transport& transport() { return transport_; }

 private:
  Result<ResponseApdu> exchange(const CommandApdu& command);
  Transport& transport_;
  int apdu_count_ = 0;
};

}  // namespace hsmctl::device::schsm
