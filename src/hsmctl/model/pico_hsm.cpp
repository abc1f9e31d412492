// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/model/pico_hsm.hpp"

#include "hsmctl/model/options.hpp"

namespace hsmctl::model {

std::uint16_t PicoHsmSpec::init_options() const {
  std::uint16_t o = 0;
  if (reset_retry_counter.enabled)
    o |= kOptResetRetryCounter;
  if (reset_retry_counter.only_resets_counter)
    o |= kOptRrcResetOnly;
  if (transport_pin)
    o |= kOptTransportPin;
  if (public_key_auth && public_key_auth->replaceable)
    o |= kOptReplacePka;
  if (public_key_auth && public_key_auth->combined_with_pin)
    o |= kOptCombinedAuth;
  return o;
}

const DkekImport* PicoHsmSpec::dkek_import(int index) const {
  if (key_domains.empty())
    return index == 0 && dkek ? &*dkek : nullptr;
  if (index < 0 || index >= static_cast<int>(key_domains.size()))
    return nullptr;
  const auto& d = key_domains[static_cast<std::size_t>(index)].dkek;
  return d ? &*d : nullptr;
}

std::uint16_t PicoHsmSpec::dynamic_options() const {
  std::uint16_t o = 0;
  if (options.press_to_confirm)
    o |= kOptPressToConfirm;
  if (options.key_usage_counter)
    o |= kOptKeyUsageCounter;
  return o;
}

SourcePos PicoHsmManifest::position_of(const std::string& path) const {
  auto it = positions.find(path);
  if (it != positions.end())
    return it->second;
  return origin;
}

}  // namespace hsmctl::model
