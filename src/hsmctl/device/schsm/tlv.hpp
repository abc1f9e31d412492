// SPDX-License-Identifier: Apache-2.0
#pragma once
// Minimal BER-TLV reader for FCPs, PKCS#15 TokenInfo and CV certificates (schsm-internal).

#include "hsmctl/util/bytes.hpp"
#include "hsmctl/util/cvc.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace hsmctl::device::schsm {

// One BER-TLV reader for the project: util/cvc's (util depends on nothing, so both the CV
// certificate parser and this protocol layer use it).
using ::hsmctl::cvc::parse_tlv;
using ::hsmctl::cvc::Tlv;
/// Parses a concatenation of TLVs filling all of `data`; nullopt if anything is malformed.
std::optional<std::vector<Tlv>> parse_tlvs(ByteView data);
/// Value of the first top-level TLV with `tag` in `data`, reading elements up to the first
/// malformed one.
std::optional<ByteView> find_tlv(ByteView data, std::uint32_t tag);

/// Appends tag, definite length and value.
void append_tlv(Bytes& out, std::uint32_t tag, ByteView value);

}  // namespace hsmctl::device::schsm
