// SPDX-License-Identifier: Apache-2.0
#pragma once
// Device URIs: `sim:PATH` (the APDU simulator with its state in PATH), `pcsc:` (the reader
// holding the manifest's serial), `pcsc:<reader substring>`.

#include <memory>
#include <string>

#include "hsmctl/device/transport.hpp"
#include "hsmctl/model/pico_hsm.hpp"

namespace hsmctl::device {

/// Opens the transport for `uri`; with plain `pcsc:` the selector's serial (chip ID read from the
/// card) or reader substring chooses the reader.
Result<std::unique_ptr<Transport>> open_device(const std::string& uri,
                                               const model::DeviceSelector& selector);

}  // namespace hsmctl::device
