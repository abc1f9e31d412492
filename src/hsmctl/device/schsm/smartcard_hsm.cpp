// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/schsm/smartcard_hsm.hpp"

#include "hsmctl/device/schsm/protocol.hpp"
#include "hsmctl/device/schsm/tlv.hpp"
#include "hsmctl/model/limits.hpp"
#include "hsmctl/model/options.hpp"

#include <cstdio>
#include <string>

namespace hsmctl::device::schsm {
namespace {

// A READ BINARY chunk is a short Le=00 (up to 256 bytes); a file is read until a shorter chunk
// (or a chained answer longer than one chunk: Pico HSM returns the rest of the file at once).
constexpr std::size_t kReadChunk = 256;
// No EF hsmctl reads comes anywhere near this; it bounds a misbehaving card.
constexpr std::size_t kMaxEfSize = 32768;
// Bounds for the 61xx / 6Cxx loops of exchange().
constexpr int kMaxGetResponse = 256;
constexpr int kMaxWrongLeRetries = 2;

const char* pin_name(PinRef ref) {
  return ref == PinRef::kUser ? "user PIN" : "SO PIN";
}

std::string hex_fid(std::uint16_t fid) {
  char buf[5];
  std::snprintf(buf, sizeof buf, "%04X", static_cast<unsigned>(fid));
  return buf;
}

// Holds a command whose data may carry a PIN, SO PIN or DKEK share and wipes it on scope exit.
struct SensitiveCommand {
  CommandApdu apdu;
  SensitiveCommand() = default;
  SensitiveCommand(const SensitiveCommand&) = delete;
  SensitiveCommand& operator=(const SensitiveCommand&) = delete;
  SensitiveCommand(SensitiveCommand&&) = delete;
  SensitiveCommand& operator=(SensitiveCommand&&) = delete;
  ~SensitiveCommand() { secure_wipe(apdu.data.data(), apdu.data.size()); }
};

void append_secret(Bytes& out, const Secret& s) {
  out.insert(out.end(), s.bytes().begin(), s.bytes().end());
}

}  // namespace

int ObjectList::private_keys() const {
  int n = 0;
  for (std::uint16_t fid : fids) {
    if ((fid >> 8) == kPrivateKeyFidPrefix && fid != kDeviceKeyFid)
      ++n;
  }
  return n;
}

std::optional<SelectInfo> parse_select_fcp(ByteView fcp) {
  ByteView body = fcp;
  if (auto outer = parse_tlv(fcp); outer && outer->tag == kFcpTag)
    body = outer->value;
  auto tag85 = find_tlv(body, kDeviceOptionsTag);
  if (!tag85 || tag85->size() < 2)
    return std::nullopt;
  const ByteView v = *tag85;
  SelectInfo info;
  const std::size_t n = v.size();
  // Version is always the last two bytes (OpenSC reads it that way too).
  info.firmware_major = v[n - 2];
  info.firmware_minor = v[n - 1];
  if (n >= 5) {
    info.options = static_cast<std::uint16_t>((v[n - 5] << 8) | v[n - 4]);
    info.device_type = v[n - 3];
  } else if (n >= 4) {
    // SmartCard-HSM short form: low options byte at len-4, type at len-3.
    info.options = v[n - 4];
    info.device_type = v[n - 3];
  }
  return info;
}

std::optional<std::string> parse_token_info_serial(ByteView token_info) {
  auto outer = parse_tlv(token_info);
  if (!outer || outer->tag != der::kSequence)
    return std::nullopt;
  auto fields = parse_tlvs(outer->value);
  if (!fields || fields->size() < 2)
    return std::nullopt;
  // TokenInfo ::= SEQUENCE { version INTEGER, serialNumber OCTET STRING, ... }
  if ((*fields)[0].tag != der::kInteger || (*fields)[1].tag != der::kOctetString) {
    return std::nullopt;
  }
  const ByteView serial = (*fields)[1].value;
  if (serial.empty())
    return std::nullopt;
  return to_hex(serial);
}

Error SmartCardHsm::sw_error(const std::string& what, std::uint16_t sw, Errc code) const {
  return Error{code,
               transport_.describe() + ": " + what + " failed: SW " + describe_sw(sw),
               std::nullopt,
               {},
               StatusWord{sw}};
}

Result<ResponseApdu> SmartCardHsm::transmit_once(const CommandApdu& command) {
  Bytes raw = command.encode();
  ++apdu_count_;
  auto answer = transport_.transmit(raw);
  secure_wipe(raw.data(), raw.size());
  if (!answer)
    return tl::unexpected(answer.error());
  auto parsed = parse_response(*answer);
  if (!parsed) {
    char ins[3];
    std::snprintf(ins, sizeof ins, "%02X", static_cast<unsigned>(command.ins));
    return make_error(Errc::kDevice, transport_.describe() + ": malformed response to INS " + ins +
                                         " (" + std::to_string(answer->size()) + " bytes)");
  }
  return *parsed;
}

Result<ResponseApdu> SmartCardHsm::exchange(const CommandApdu& command) {
  HSMCTL_TRY_ASSIGN(ResponseApdu response, transmit_once(command));

  // 6Cxx: wrong Le; resend the same command with the exact length the card asked for.
  for (int i = 0; i < kMaxWrongLeRetries && response.sw1() == kSw1WrongLe; ++i) {
    SensitiveCommand again;
    again.apdu = command;
    again.apdu.le = response.sw2() == 0 ? 256 : response.sw2();
    HSMCTL_TRY_ASSIGN(response, transmit_once(again.apdu));
  }

  // 61xx: more data waiting; fetch it with GET RESPONSE and concatenate.
  for (int i = 0; response.sw1() == kSw1MoreData; ++i) {
    if (i >= kMaxGetResponse) {
      return make_error(Errc::kDevice,
                        transport_.describe() + ": GET RESPONSE chain does not end (61xx)");
    }
    CommandApdu get{
        kClaIso, ins::kGetResponse, 0x00, 0x00, {}, response.sw2() == 0 ? 256 : response.sw2()};
    HSMCTL_TRY_ASSIGN(ResponseApdu more, transmit_once(get));
    response.data.insert(response.data.end(), more.data.begin(), more.data.end());
    response.sw = more.sw;
  }
  return response;
}

Result<SelectInfo> SmartCardHsm::select() {
  // P1=04 (by DF name), P2=00 (first/only, return FCI) and Le=00: Pico rejects P2=0C with 6A86.
  CommandApdu cmd{kClaIso, ins::kSelect, kSelectByName, 0x00, Bytes(kHsmAid.begin(), kHsmAid.end()),
                  0};
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd));
  if (r.sw != kSwOk)
    return tl::unexpected(sw_error("SELECT of the SmartCard-HSM applet", r.sw));
  auto info = parse_select_fcp(r.data);
  if (!info) {
    return make_error(Errc::kDevice, transport_.describe() +
                                         ": SELECT answer has no device-options tag 85 (" +
                                         std::to_string(r.data.size()) + " bytes of FCP)");
  }
  return *info;
}

Result<model::PinStatus> SmartCardHsm::pin_status(PinRef ref) {
  CommandApdu cmd{kClaIso, ins::kVerify, 0x00, static_cast<std::uint8_t>(ref), {}, std::nullopt};
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd));
  model::PinStatus st;
  using S = model::PinStatus::State;
  if (r.sw == kSwOk) {
    st.state = S::kVerified;
  } else if (is_63cx(r.sw)) {
    st.state = S::kTriesLeft;
    st.tries_left = tries_of_63cx(r.sw);
  } else if (r.sw == kSwBlocked) {
    st.state = S::kBlocked;
    st.tries_left = 0;
  } else if (r.sw == kSwTransport) {
    st.state = S::kTransport;
  } else if (r.sw == kSwRefNotFound) {
    st.state = S::kNotInitialized;
  } else {
    return tl::unexpected(sw_error(std::string("VERIFY status (") + pin_name(ref) + ")", r.sw));
  }
  return st;
}

Result<VerifyOutcome> SmartCardHsm::verify_detailed(PinRef ref, const Secret& value) {
  if (value.empty()) {
    return make_error(Errc::kRefused, std::string("refusing to VERIFY an empty ") + pin_name(ref) +
                                          " (that would be a status query)");
  }
  SensitiveCommand cmd;
  cmd.apdu =
      CommandApdu{kClaIso, ins::kVerify, 0x00, static_cast<std::uint8_t>(ref), {}, std::nullopt};
  append_secret(cmd.apdu.data, value);
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd.apdu));
  VerifyOutcome out;
  if (r.sw == kSwOk) {
    out.result = VerifyResult::kOk;
  } else if (is_63cx(r.sw)) {
    out.result = VerifyResult::kWrong;
    out.tries_left = tries_of_63cx(r.sw);
  } else if (r.sw == kSwBlocked) {
    out.result = VerifyResult::kBlocked;
    out.tries_left = 0;
  } else if (r.sw == kSwTransport) {
    out.result = VerifyResult::kTransport;
  } else if (r.sw == kSwRefNotFound) {
    out.result = VerifyResult::kNotInitialized;
  } else {
    return tl::unexpected(sw_error(std::string("VERIFY (") + pin_name(ref) + ")", r.sw));
  }
  return out;
}

Result<VerifyResult> SmartCardHsm::verify(PinRef ref, const Secret& value) {
  HSMCTL_TRY_ASSIGN(VerifyOutcome out, verify_detailed(ref, value));
  return out.result;
}

Result<void> SmartCardHsm::change_reference_data(PinRef ref, const Secret& old_value,
                                                 const Secret& new_value) {
  if (old_value.empty() || new_value.empty()) {
    return make_error(Errc::kRefused, std::string("refusing CHANGE REFERENCE DATA (") +
                                          pin_name(ref) + ") with an empty value");
  }
  const std::string what = std::string("CHANGE REFERENCE DATA (") + pin_name(ref) + ")";
  SensitiveCommand cmd;
  cmd.apdu = CommandApdu{
      kClaIso, ins::kChangeReferenceData, 0x00, static_cast<std::uint8_t>(ref), {}, std::nullopt};
  append_secret(cmd.apdu.data, old_value);
  append_secret(cmd.apdu.data, new_value);
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd.apdu));
  if (r.sw == kSwOk)
    return {};
  if (is_63cx(r.sw) || r.sw == kSwBlocked) {
    return tl::unexpected(sw_error(what, r.sw, Errc::kAuth));
  }
  return tl::unexpected(sw_error(what, r.sw));
}

Result<void> SmartCardHsm::reset_retry_counter(const Secret& so_pin, const Secret& new_pin) {
  if (so_pin.empty() || new_pin.empty()) {
    return make_error(Errc::kRefused, "refusing RESET RETRY COUNTER with an empty value");
  }
  const std::string what = "RESET RETRY COUNTER (SO PIN + new user PIN)";
  SensitiveCommand cmd;
  cmd.apdu = CommandApdu{kClaIso,
                         ins::kResetRetryCounter,
                         rrc::kSoPinAndNewPin,
                         static_cast<std::uint8_t>(PinRef::kUser),
                         {},
                         std::nullopt};
  append_secret(cmd.apdu.data, so_pin);
  append_secret(cmd.apdu.data, new_pin);
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd.apdu));
  if (r.sw == kSwOk)
    return {};
  if (is_63cx(r.sw) || r.sw == kSwBlocked) {
    return tl::unexpected(sw_error(what, r.sw, Errc::kAuth));
  }
  return tl::unexpected(sw_error(what, r.sw));
}

Result<void> SmartCardHsm::reset_retry_counter_only(const Secret& so_pin) {
  if (so_pin.empty()) {
    return make_error(Errc::kRefused, "refusing RESET RETRY COUNTER with an empty SO PIN");
  }
  const std::string what = "RESET RETRY COUNTER (SO PIN only)";
  SensitiveCommand cmd;
  cmd.apdu = CommandApdu{kClaIso,
                         ins::kResetRetryCounter,
                         rrc::kSoPinOnly,
                         static_cast<std::uint8_t>(PinRef::kUser),
                         {},
                         std::nullopt};
  append_secret(cmd.apdu.data, so_pin);
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd.apdu));
  if (r.sw == kSwOk)
    return {};
  if (is_63cx(r.sw) || r.sw == kSwBlocked) {
    return tl::unexpected(sw_error(what, r.sw, Errc::kAuth));
  }
  return tl::unexpected(sw_error(what, r.sw));
}

Result<void> SmartCardHsm::initialize(const InitializeParams& p) {
  // Validate before anything is sent: INITIALIZE wipes first and applies TLVs afterwards, so a
  // bad value would leave a wiped, half-configured device.
  if (p.user_pin.empty() || p.user_pin.size() > kMaxUserPinBytes) {
    return make_error(Errc::kRefused, "INITIALIZE: the user PIN must be 1.." +
                                          std::to_string(kMaxUserPinBytes) + " bytes");
  }
  if (p.so_pin.size() != kSoPinBytes) {
    return make_error(Errc::kRefused, "INITIALIZE: the SO PIN must be exactly " +
                                          std::to_string(kSoPinBytes) + " bytes");
  }
  if (p.pin_retries < model::kMinPinRetries || p.pin_retries > model::kMaxProtocolPinRetries) {
    return make_error(Errc::kRefused, "INITIALIZE: PIN retries must be " +
                                          std::to_string(model::kMinPinRetries) + ".." +
                                          std::to_string(model::kMaxProtocolPinRetries));
  }
  if (p.dkek_shares && (*p.dkek_shares < 0 || *p.dkek_shares > kMaxProtocolDkekShares)) {
    return make_error(Errc::kRefused, "INITIALIZE: DKEK shares must be 0.." +
                                          std::to_string(kMaxProtocolDkekShares));
  }
  if (p.pka && (p.pka->first < model::kMinPkaKeys || p.pka->first > model::kMaxPkaKeys ||
                p.pka->second < model::kMinPkaKeys || p.pka->second > p.pka->first)) {
    return make_error(Errc::kRefused, "INITIALIZE: public key authentication needs " +
                                          std::to_string(model::kMinPkaKeys) + ".." +
                                          std::to_string(model::kMaxPkaKeys) +
                                          " keys and 1..keys required");
  }
  if (p.key_domains && (*p.key_domains < 1 || *p.key_domains > kMaxKeyDomainSlots)) {
    return make_error(Errc::kRefused,
                      "INITIALIZE: key domains must be 1.." + std::to_string(kMaxKeyDomainSlots));
  }

  SensitiveCommand cmd;
  cmd.apdu = CommandApdu{kClaProprietary, ins::kInitialize, 0x00, 0x00, {}, std::nullopt};
  Bytes& d = cmd.apdu.data;
  // Tag order 80 81 82 91 92 93 97 (init_tag::), as sc-hsm-tool and pypicohsm send them.
  const Bytes options{static_cast<std::uint8_t>(p.options >> 8),
                      static_cast<std::uint8_t>(p.options & 0xFF)};
  append_tlv(d, init_tag::kOptions, options);
  append_tlv(d, init_tag::kUserPin, p.user_pin.bytes());
  append_tlv(d, init_tag::kSoPin, p.so_pin.bytes());
  append_tlv(d, init_tag::kPinRetries, Bytes{static_cast<std::uint8_t>(p.pin_retries)});
  if (p.dkek_shares) {
    append_tlv(d, init_tag::kDkekShares, Bytes{static_cast<std::uint8_t>(*p.dkek_shares)});
  }
  if (p.pka) {
    append_tlv(
        d, init_tag::kPublicKeyAuth,
        Bytes{static_cast<std::uint8_t>(p.pka->first), static_cast<std::uint8_t>(p.pka->second)});
  }
  if (p.key_domains) {
    append_tlv(d, init_tag::kKeyDomains, Bytes{static_cast<std::uint8_t>(*p.key_domains)});
  }

  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd.apdu));
  if (r.sw != kSwOk)
    return tl::unexpected(sw_error("INITIALIZE DEVICE", r.sw));
  return {};
}

Result<std::pair<std::uint32_t, std::pair<int, int>>> SmartCardHsm::memory_and_version() {
  CommandApdu cmd{kClaProprietary, ins::kInitialize, 0x00, 0x00, {}, 0};
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd));
  if (r.sw != kSwOk)
    return tl::unexpected(sw_error("INITIALIZE (memory/version query)", r.sw));
  if (r.data.size() < 7) {
    return make_error(Errc::kDevice, transport_.describe() + ": memory/version answer too short (" +
                                         std::to_string(r.data.size()) + " bytes)");
  }
  const std::uint32_t heap = (static_cast<std::uint32_t>(r.data[0]) << 24) |
                             (static_cast<std::uint32_t>(r.data[1]) << 16) |
                             (static_cast<std::uint32_t>(r.data[2]) << 8) | r.data[3];
  return std::make_pair(heap,
                        std::make_pair(static_cast<int>(r.data[5]), static_cast<int>(r.data[6])));
}

namespace {

Result<model::KeyDomainStatus> parse_domain_status(int index, const Bytes& data,
                                                   const std::string& where) {
  if (data.size() < 10) {
    return make_error(Errc::kDevice, where + ": key domain " + std::to_string(index) +
                                         " status too short (" + std::to_string(data.size()) +
                                         " bytes)");
  }
  model::KeyDomainStatus st;
  st.index = index;
  st.set_up = true;
  st.total_shares = data[0];
  st.outstanding_shares = data[1];
  st.kcv.assign(data.begin() + 2, data.begin() + 10);
  st.has_xkek = data.size() > 10;
  return st;
}

Result<void> check_domain_index(int index) {
  if (index < 0 || index >= kMaxKeyDomainSlots) {
    return make_error(Errc::kInternal,
                      "key domain index out of range 0.." + std::to_string(kMaxKeyDomainSlots - 1));
  }
  return {};
}

}  // namespace

Result<std::optional<model::KeyDomainStatus>> SmartCardHsm::key_domain_status(int index) {
  HSMCTL_TRY(check_domain_index(index));
  CommandApdu cmd{kClaProprietary,
                  ins::kManageKeyDomain,
                  key_domain_op::kStatusOrImport,
                  static_cast<std::uint8_t>(index),
                  {},
                  0};
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd));
  if (r.sw == kSwWrongP1P2 || r.sw == kSwWrongParams) {
    return std::optional<model::KeyDomainStatus>{};
  }
  if (r.sw == kSwRefNotFound) {
    model::KeyDomainStatus st;
    st.index = index;
    st.set_up = false;
    st.kcv.assign(8, 0);
    return std::optional<model::KeyDomainStatus>(st);
  }
  if (r.sw != kSwOk) {
    return tl::unexpected(
        sw_error("MANAGE KEY DOMAIN (status of domain " + std::to_string(index) + ")", r.sw));
  }
  HSMCTL_TRY_ASSIGN(auto st, parse_domain_status(index, r.data, transport_.describe()));
  return std::optional<model::KeyDomainStatus>(st);
}

Result<void> SmartCardHsm::key_domain_setup(int index, int shares) {
  HSMCTL_TRY(check_domain_index(index));
  if (shares < 0 || shares > kMaxProtocolDkekShares) {
    return make_error(Errc::kRefused, "key domain DKEK shares must be 0.." +
                                          std::to_string(kMaxProtocolDkekShares));
  }
  CommandApdu cmd{kClaProprietary,
                  ins::kManageKeyDomain,
                  key_domain_op::kSetup,
                  static_cast<std::uint8_t>(index),
                  Bytes{static_cast<std::uint8_t>(shares)},
                  std::nullopt};
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd));
  if (r.sw != kSwOk) {
    return tl::unexpected(
        sw_error("MANAGE KEY DOMAIN (set up domain " + std::to_string(index) + ")", r.sw));
  }
  return {};
}

Result<void> SmartCardHsm::key_domain_delete(int index) {
  HSMCTL_TRY(check_domain_index(index));
  CommandApdu cmd{kClaProprietary,
                  ins::kManageKeyDomain,
                  key_domain_op::kDelete,
                  static_cast<std::uint8_t>(index),
                  {},
                  std::nullopt};
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd));
  // Pico answers a successful delete with 6A88 by design (pypicohsm expects it); accept 9000 too.
  if (r.sw == kSwRefNotFound || r.sw == kSwOk)
    return {};
  const std::string what = "MANAGE KEY DOMAIN (delete domain " + std::to_string(index) + ")";
  if (r.sw == kSwExists) {
    Error e = sw_error(what, r.sw, Errc::kRefused);
    e.message += ": keys still belong to the domain";
    return tl::unexpected(e);
  }
  return tl::unexpected(sw_error(what, r.sw));
}

Result<void> SmartCardHsm::key_domain_clear(int index) {
  HSMCTL_TRY(check_domain_index(index));
  CommandApdu cmd{kClaProprietary,
                  ins::kManageKeyDomain,
                  key_domain_op::kClearDkek,
                  static_cast<std::uint8_t>(index),
                  {},
                  std::nullopt};
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd));
  if (r.sw != kSwOk) {
    return tl::unexpected(
        sw_error("MANAGE KEY DOMAIN (clear DKEK of domain " + std::to_string(index) + ")", r.sw));
  }
  return {};
}

Result<model::KeyDomainStatus> SmartCardHsm::import_dkek_share(int index, const Secret& share) {
  HSMCTL_TRY(check_domain_index(index));
  if (share.size() != kDkekShareBytes) {
    return make_error(Errc::kRefused,
                      "a DKEK share must be exactly " + std::to_string(kDkekShareBytes) + " bytes");
  }
  SensitiveCommand cmd;
  cmd.apdu = CommandApdu{kClaProprietary,
                         ins::kManageKeyDomain,
                         key_domain_op::kStatusOrImport,
                         static_cast<std::uint8_t>(index),
                         {},
                         0};
  append_secret(cmd.apdu.data, share);
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd.apdu));
  if (r.sw != kSwOk) {
    return tl::unexpected(
        sw_error("IMPORT DKEK SHARE (domain " + std::to_string(index) + ")", r.sw));
  }
  if (r.data.empty()) {
    // Some cards answer the import without the status; ask for it.
    HSMCTL_TRY_ASSIGN(auto st, key_domain_status(index));
    if (!st) {
      return make_error(Errc::kDevice, transport_.describe() + ": key domain " +
                                           std::to_string(index) + " vanished after import");
    }
    return *st;
  }
  return parse_domain_status(index, r.data, transport_.describe());
}

Result<std::optional<model::PkaStatus>> SmartCardHsm::pka_status() {
  CommandApdu cmd{kClaProprietary, ins::kPublicKeyAuth, 0x00, 0x00, {}, 0};
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd));
  if (r.sw == kSwWrongP1P2)
    return std::optional<model::PkaStatus>{};
  if (r.sw != kSwOk)
    return tl::unexpected(sw_error("PUBLIC KEY AUTHENTICATION status", r.sw));
  if (r.data.size() < 4) {
    return make_error(Errc::kDevice, transport_.describe() +
                                         ": public key authentication status too short (" +
                                         std::to_string(r.data.size()) + " bytes)");
  }
  model::PkaStatus st;
  st.total = r.data[0];
  st.missing = r.data[1];
  st.required = r.data[2];
  st.authenticated = r.data[3];
  return std::optional<model::PkaStatus>(st);
}

Result<std::optional<model::PkaSlot>> SmartCardHsm::pka_slot(int index) {
  if (index < 0 || index > 0xFF)
    return make_error(Errc::kInternal, "PKA slot index out of range");
  CommandApdu cmd{
      kClaProprietary, ins::kPublicKeyAuth, pka_op::kSlot, static_cast<std::uint8_t>(index), {}, 0};
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd));
  if (r.sw == kSwRefNotFound)
    return std::optional<model::PkaSlot>{};
  if (r.sw != kSwOk && r.sw != kSwPkaAuthenticated) {
    return tl::unexpected(
        sw_error("PUBLIC KEY AUTHENTICATION (slot " + std::to_string(index) + ")", r.sw));
  }
  model::PkaSlot slot;
  slot.index = index;
  slot.chr = r.data;
  slot.authenticated = r.sw == kSwPkaAuthenticated;
  return std::optional<model::PkaSlot>(std::move(slot));
}

Result<model::PkaStatus> SmartCardHsm::pka_register(ByteView request) {
  CommandApdu cmd{kClaProprietary,
                  ins::kPublicKeyAuth,
                  pka_op::kRegister,
                  0x00,
                  Bytes(request.begin(), request.end()),
                  0};
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd));
  if (r.sw != kSwOk)
    return tl::unexpected(sw_error("PUBLIC KEY AUTHENTICATION (register a key)", r.sw));
  if (r.data.size() < 4) {
    // Some cards may answer without the status; ask for it.
    HSMCTL_TRY_ASSIGN(auto st, pka_status());
    if (!st) {
      return make_error(Errc::kDevice,
                        transport_.describe() + ": PKA not configured after a registration");
    }
    return *st;
  }
  model::PkaStatus st;
  st.total = r.data[0];
  st.missing = r.data[1];
  st.required = r.data[2];
  st.authenticated = r.data[3];
  return st;
}

Result<std::uint16_t> SmartCardHsm::dynamic_options() {
  CommandApdu cmd{kClaProprietary, ins::kExtras, kExtrasDynamicOptions, 0x00, {}, 0};
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd));
  if (r.sw != kSwOk)
    return tl::unexpected(sw_error("EXTRAS DYNOPS (read)", r.sw));
  if (r.data.size() < 2) {
    return make_error(Errc::kDevice, transport_.describe() + ": DYNOPS answer too short (" +
                                         std::to_string(r.data.size()) + " bytes)");
  }
  return static_cast<std::uint16_t>((r.data[0] << 8) | r.data[1]);
}

Result<void> SmartCardHsm::set_dynamic_options_high_byte(std::uint8_t high) {
  CommandApdu cmd{kClaProprietary, ins::kExtras, kExtrasDynamicOptions, 0x00,
                  Bytes{high},     std::nullopt};
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd));
  if (r.sw != kSwOk)
    return tl::unexpected(sw_error("EXTRAS DYNOPS (write)", r.sw));
  return {};
}

Result<std::uint16_t> SmartCardHsm::update_dynamic_options(std::uint16_t set_bits,
                                                           std::uint16_t clear_bits) {
  constexpr std::uint16_t kChangeable = model::kOptPressToConfirm | model::kOptKeyUsageCounter;
  if (((set_bits | clear_bits) & ~kChangeable) != 0) {
    return make_error(Errc::kRefused,
                      "only press-to-confirm (0x0100) and the key usage counter (0x0200) can be "
                      "changed through DYNOPS");
  }
  if ((set_bits & clear_bits) != 0) {
    return make_error(Errc::kInternal, "DYNOPS update sets and clears the same bit");
  }
  HSMCTL_TRY_ASSIGN(std::uint16_t current, dynamic_options());
  const std::uint16_t wanted = static_cast<std::uint16_t>((current | set_bits) & ~clear_bits);
  if (wanted == current)
    return current;
  // The write replaces the whole high byte, so everything else in it (secure lock) is carried
  // over from the value just read.
  HSMCTL_TRY(set_dynamic_options_high_byte(static_cast<std::uint8_t>(wanted >> 8)));
  return wanted;
}

Result<std::optional<Bytes>> SmartCardHsm::read_ef(std::uint16_t fid) {
  Bytes content;
  const std::string what = "READ BINARY of EF " + hex_fid(fid);
  for (;;) {
    const std::size_t offset = content.size();
    CommandApdu cmd{kClaIso,
                    ins::kReadBinary,
                    static_cast<std::uint8_t>(fid >> 8),
                    static_cast<std::uint8_t>(fid & 0xFF),
                    Bytes{kReadBinaryOffsetTag, 0x02, static_cast<std::uint8_t>(offset >> 8),
                          static_cast<std::uint8_t>(offset & 0xFF)},
                    0};
    HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd));
    if (r.sw == kSwFileNotFound && offset == 0)
      return std::optional<Bytes>{};
    if (offset > 0 && (r.sw == kSwWrongParams || r.sw == kSwEndOfFile || r.sw == kSwWrongP1P2) &&
        r.data.empty()) {
      // The previous chunk ended exactly at the end of the file.
      break;
    }
    if (r.sw != kSwOk && r.sw != kSwEndOfFile)
      return tl::unexpected(sw_error(what, r.sw));
    content.insert(content.end(), r.data.begin(), r.data.end());
    // Shorter than a chunk: the end of the file. Longer (the card chained the answer with 61xx
    // and GET RESPONSE, as Pico HSM does for a file longer than Le): the card sent everything
    // from the offset to the end, so another READ BINARY would only read nothing.
    if (r.sw == kSwEndOfFile || r.data.size() != kReadChunk)
      break;
    if (content.size() > kMaxEfSize) {
      return make_error(Errc::kDevice, transport_.describe() + ": EF " + hex_fid(fid) +
                                           " is larger than " + std::to_string(kMaxEfSize) +
                                           " bytes");
    }
  }
  return std::optional<Bytes>(std::move(content));
}

Result<std::string> SmartCardHsm::chip_serial() {
  HSMCTL_TRY_ASSIGN(std::optional<Bytes> ef, read_ef(kEfTokenInfo));
  if (!ef) {
    return make_error(Errc::kDevice, transport_.describe() + ": TokenInfo (EF 2F03) not found");
  }
  auto serial = parse_token_info_serial(*ef);
  if (!serial) {
    return make_error(Errc::kDevice,
                      transport_.describe() + ": TokenInfo (EF 2F03) has no serial number");
  }
  return *serial;
}

Result<ObjectList> SmartCardHsm::enumerate_objects() {
  // Extended Le 0000 (65536): the list may exceed 256 bytes; OpenSC does the same.
  CommandApdu cmd{kClaProprietary, ins::kEnumerateObjects, 0x00, 0x00, {}, 65536};
  HSMCTL_TRY_ASSIGN(ResponseApdu r, exchange(cmd));
  if (r.sw != kSwOk)
    return tl::unexpected(sw_error("ENUMERATE OBJECTS", r.sw));
  if (r.data.size() % 2 != 0) {
    return make_error(Errc::kDevice, transport_.describe() +
                                         ": ENUMERATE OBJECTS answer has an odd length (" +
                                         std::to_string(r.data.size()) + " bytes)");
  }
  ObjectList list;
  for (std::size_t i = 0; i < r.data.size(); i += 2) {
    list.fids.push_back(static_cast<std::uint16_t>((r.data[i] << 8) | r.data[i + 1]));
  }
  return list;
}

}  // namespace hsmctl::device::schsm
