// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the card-answer side of the SmartCard-HSM layer.
//  1. The raw parsers on the whole input: parse_response, parse_tlv(s), find_tlv,
//     parse_select_fcp, parse_token_info_serial, device_certificate_is_pki, parse_command,
//     cvc::parse_elements and secrets::check_attestation (the device certificate file).
//  2. A scripted card: the input, cut into pieces (fuzz_input.hpp), is the sequence of R-APDUs a
//     transport returns, one per command; then observe() (with PIN candidates, so the VERIFY
//     paths run) and every read-only SmartCardHsm query run against it. When the script is used
//     up the transport fails like a removed card, so every run ends.
#include "fuzz_input.hpp"

#include "hsmctl/device/apdu.hpp"
#include "hsmctl/device/schsm/observe.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/device/schsm/tlv.hpp"
#include "hsmctl/device/transport.hpp"
#include "hsmctl/secrets/attestation.hpp"
#include "hsmctl/util/cvc.hpp"

#include <string>

namespace {

using namespace hsmctl;
using namespace hsmctl::device;

class ScriptedCard : public Transport {
 public:
  ScriptedCard(const std::uint8_t* data, std::size_t size) : pieces_(data, size) {}
  Result<Bytes> transmit(ByteView command) override {
    // Every command the layer sends must itself be a well-formed APDU.
    if (!parse_command(command)) {
      __builtin_trap();
    }
    const std::uint8_t* begin = nullptr;
    std::size_t length = 0;
    if (++sent_ > 4096 || !pieces_.next(begin, length)) {
      return make_error(Errc::kUnavailable, "fuzz: card removed");
    }
    return Bytes(begin, begin + length);
  }
  std::string describe() const override { return "fuzz:"; }

 private:
  fuzz::Pieces pieces_;
  int sent_ = 0;
};

void raw_parsers(ByteView in) {
  if (auto r = parse_response(in)) {
    fuzz::consume(describe_sw(r->sw));
  }
  (void)parse_command(in);
  if (auto all = schsm::parse_tlvs(in)) {
    for (const auto& t : *all) {
      (void)schsm::parse_tlvs(t.value);
    }
  }
  (void)schsm::find_tlv(in, 0x85);
  (void)schsm::find_tlv(in, 0x7F21);
  (void)schsm::parse_select_fcp(in);
  if (auto serial = schsm::parse_token_info_serial(in)) {
    fuzz::consume(*serial);
  }
  (void)schsm::device_certificate_is_pki(in);
  // The device certificate file: CV certificate parsing and the attestation check (signatures
  // over whatever parsed; an empty policy, so the chain walk runs to its end).
  if (auto elements = cvc::parse_elements(in)) {
    (void)secrets::check_attestation(*elements, secrets::AttestationPolicy{},
                                     cvc::Date{2026, 1, 1});
    for (const auto& e : *elements) {
      (void)e.cert.role_oid();
      (void)secrets::key_fingerprint(e.cert.key);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  raw_parsers(ByteView(data, size));

  {
    ScriptedCard card(data, size);
    schsm::SmartCardHsm hsm(card);
    schsm::ObserveRequest request;
    request.user_pin_candidates.emplace_back(std::string_view("648219"));
    request.so_pin_candidates.emplace_back(std::string_view("57621880"));
    if (auto observed = schsm::observe(hsm, request); !observed) {
      fuzz::consume(observed.error().to_string());
    }
  }
  {
    ScriptedCard card(data, size);
    schsm::SmartCardHsm hsm(card);
    (void)hsm.select();
    (void)hsm.pin_status(schsm::PinRef::kUser);
    (void)hsm.memory_and_version();
    (void)hsm.key_domain_status(0);
    (void)hsm.pka_status();
    (void)hsm.dynamic_options();
    (void)hsm.read_ef(schsm::kEfDeviceCertificate);
    if (auto serial = hsm.chip_serial()) {
      fuzz::consume(*serial);
    }
    (void)hsm.enumerate_objects();
    (void)hsm.verify_detailed(schsm::PinRef::kUser, Secret(std::string_view("648219")));
    (void)hsm.import_dkek_share(0, Secret(std::string_view("0123456789abcdef0123456789abcdef")));
  }
  return 0;
}
