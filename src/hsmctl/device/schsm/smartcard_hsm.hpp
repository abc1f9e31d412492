// SPDX-License-Identifier: Apache-2.0
#pragma once
// The SmartCard-HSM command set (as implemented by Pico HSM firmware) on top of a Transport.
// One instance talks to one card; the same code drives the simulator and a real device.
// Facts: ../shared/reference/pico-hsm.md. Every method sends exactly the APDUs its comment says
// and maps unexpected status words to Errc::kDevice errors naming the transport and the SW.

#include "hsmctl/device/apdu.hpp"
#include "hsmctl/device/schsm/protocol.hpp"
#include "hsmctl/device/transport.hpp"
#include "hsmctl/model/limits.hpp"
#include "hsmctl/model/observed.hpp"
#include "hsmctl/model/options.hpp"
#include "hsmctl/util/secret.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hsmctl::device::schsm {

/// Tag 85 of the SELECT response.
struct SelectInfo {
  std::uint16_t options = 0;
  std::uint8_t device_type = 0;  ///< kDeviceTypePico (FF) on Pico
  int firmware_major = 0;
  int firmware_minor = 0;
};

enum class VerifyResult { kOk, kWrong, kBlocked, kTransport, kNotInitialized };

/// VERIFY with data, with the remaining tries of a 63Cx answer (-1 otherwise).
struct VerifyOutcome {
  VerifyResult result = VerifyResult::kWrong;
  int tries_left = -1;
};

/// Everything INITIALIZE DEVICE (80 50 00 00) can carry. Unset optionals leave the tag out.
struct InitializeParams {
  std::uint16_t options = model::kOptResetRetryCounter;  ///< tag 80 (always sent; both bytes)
  Secret user_pin;                                       ///< tag 81
  Secret so_pin;                                         ///< tag 82, 8 bytes
  int pin_retries = model::kDefaultPinRetries;           ///< tag 91
  std::optional<int> dkek_shares;                        ///< tag 92
  std::optional<std::pair<int, int>> pka;                ///< tag 93 (keys, required)
  std::optional<int> key_domains;                        ///< tag 97
};

struct ObjectList {
  std::vector<std::uint16_t> fids;
  /// FIDs with high byte 0xCC, except CC00 (the device key, which ENUMERATE always lists and
  /// which survives INITIALIZE).
  int private_keys() const;
};

/// TokenInfo (EF 2F03) DER -> serialNumber as upper-case hex (8 bytes -> 16 digits); nullopt if
/// the DER is malformed or has no serialNumber.
std::optional<std::string> parse_token_info_serial(ByteView token_info);

/// Parses tag 85 of a SELECT FCP (`62 L ...`, or the bare template content); nullopt without a
/// tag 85 of at least 2 bytes.
std::optional<SelectInfo> parse_select_fcp(ByteView fcp);

class SmartCardHsm {
 public:
  explicit SmartCardHsm(Transport& transport) : transport_(transport) {}

  /// SELECT the HSM applet: 00 A4 04 00 0B <AID> 00. Logs out every session.
  Result<SelectInfo> select();
  /// VERIFY status query (no data). Never costs a try.
  Result<model::PinStatus> pin_status(PinRef ref);
  /// VERIFY with data. A wrong value costs one try and drops all sessions. An empty value is
  /// refused (kRefused) because it would be a status query, not a verification.
  Result<VerifyResult> verify(PinRef ref, const Secret& value);
  /// As verify(), also returning the tries left after a wrong value (63Cx).
  Result<VerifyOutcome> verify_detailed(PinRef ref, const Secret& value);
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

  /// INS 52 P1=00 status of domain `index`; nullopt when 6A86 (beyond the configured count) or
  /// 6B00 (index >= 16, or no key-domain table at all: uninitialized device).
  Result<std::optional<model::KeyDomainStatus>> key_domain_status(int index);
  /// INS 52 P1=01: set up domain `index` with `shares` DKEK shares (user PIN session needed).
  Result<void> key_domain_setup(int index, int shares);
  /// INS 52 P1=03: delete domain (success is SW 6A88 by design). kRefused-like error on 6A89.
  Result<void> key_domain_delete(int index);
  /// INS 52 P1=04: clear the DKEK of domain `index`.
  Result<void> key_domain_clear(int index);
  /// INS 52 P1=00 with a 32-byte share (sent with Le=00; the answer is the domain status).
  /// 6986: all shares already imported / domain not set up / domain without DKEK.
  Result<model::KeyDomainStatus> import_dkek_share(int index, const Secret& share);

  /// INS 54 status; nullopt when PKA is not configured (6A86).
  Result<std::optional<model::PkaStatus>> pka_status();
  /// INS 54 P1=02: the CHR of the key registered in slot `index` and whether it authenticated
  /// in this session (9001); nullopt for an empty slot (6A88).
  Result<std::optional<model::PkaSlot>> pka_slot(int index);
  /// INS 54 P1=00 (register into the first free slot) with `request` (the content of an
  /// authenticated request 67; needs a PIN or SO-PIN session). Returns the new status.
  /// 6A84: no free slot; 6982: no session.
  Result<model::PkaStatus> pka_register(ByteView request);

  /// DYNOPS get (80 64 06 00, Le) and set (one byte: the new high options byte).
  Result<std::uint16_t> dynamic_options();
  Result<void> set_dynamic_options_high_byte(std::uint8_t high);
  /// Read-modify-write of the dynamic (high-byte) options: reads DYNOPS, sets `set_bits` and
  /// clears `clear_bits`, writes only if the value changes; returns the resulting options.
  /// Only 0x0100 (press-to-confirm) and 0x0200 (key usage counter) may be changed here;
  /// any other bit (secure lock 0x0400 needs its own protocol) is refused with kRefused.
  Result<std::uint16_t> update_dynamic_options(std::uint16_t set_bits, std::uint16_t clear_bits);

  /// READ BINARY of a whole EF by FID (00 B1 FID 04 54 02 <offset> 00, repeated until short;
  /// a 61xx answer is followed with GET RESPONSE: EF 2F02 of v6.6, 798 bytes, takes the READ
  /// BINARY and three GET RESPONSEs, 256 + 256 + 256 + 30 bytes); nullopt when 6A82.
  Result<std::optional<Bytes>> read_ef(std::uint16_t fid);
  /// Chip serial from EF 2F03 (TokenInfo serialNumber), 16 upper-case hex digits.
  Result<std::string> chip_serial();
  /// ENUMERATE OBJECTS (80 58 00 00, Le 0000 extended).
  Result<ObjectList> enumerate_objects();

  /// Number of APDUs sent through this object so far.
  int apdu_count() const { return apdu_count_; }
  Transport& transport() { return transport_; }

 private:
  /// Sends `command`, follows 61xx with GET RESPONSE (concatenating data) and answers 6Cxx by
  /// resending with Le=xx. Every transmitted APDU is counted.
  Result<ResponseApdu> exchange(const CommandApdu& command);
  Result<ResponseApdu> transmit_once(const CommandApdu& command);
  /// "<transport>: <what> failed: SW 6985 (conditions of use not satisfied)" as `code`.
  Error sw_error(const std::string& what, std::uint16_t sw, Errc code = Errc::kDevice) const;
  Transport& transport_;
  int apdu_count_ = 0;
};

}  // namespace hsmctl::device::schsm
