// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/device/connect/open.hpp"

#include "hsmctl/device/pcsc/pcsc_transport.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/device/sim/sim_card.hpp"

namespace hsmctl::device::connect {

Result<std::string> read_chip_serial(Transport& transport) {
  schsm::SmartCardHsm hsm(transport);
  HSMCTL_TRY(hsm.select());
  return hsm.chip_serial();
}

Result<std::unique_ptr<Transport>> connect_by_serial(const std::string& serial_hex) {
  return pcsc::connect_by_serial(serial_hex, read_chip_serial);
}

Result<std::unique_ptr<Transport>> open_device(const std::string& uri,
                                               const model::DeviceSelector& selector,
                                               bool caller_checks_serial) {
  if (uri.rfind("sim:", 0) == 0) {
    const std::string path = uri.substr(4);
    if (path.empty())
      return make_error(Errc::kUsage, "sim: needs a state file path (sim:PATH)");
    // A new simulated device gets the serial its manifest names, so `sim:` works with the
    // same manifests as real hardware.
    HSMCTL_TRY_ASSIGN(auto hook, sim::test_signal_from_env());
    HSMCTL_TRY_ASSIGN(auto card, sim::SimCard::open_file(path, selector.serial));
    if (hook && (hook->only_path.empty() || path.find(hook->only_path) != std::string::npos))
      card->set_test_signal(*hook);
    return std::unique_ptr<Transport>(std::move(card));
  }
  if (uri == "pcsc:" || uri == "pcsc") {
    if (!selector.serial.empty()) {
      if (caller_checks_serial)
        return pcsc::connect_for_serial(selector.serial, read_chip_serial);
      return connect_by_serial(selector.serial);
    }
    return pcsc::connect(selector.reader);
  }
  if (uri.rfind("pcsc:", 0) == 0)
    return pcsc::connect(uri.substr(5));
  return make_error(Errc::kUsage, "unknown device URI '" + uri +
                                      "' (expected sim:PATH, pcsc: or pcsc:<reader substring>)");
}

}  // namespace hsmctl::device::connect
