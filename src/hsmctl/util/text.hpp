// SPDX-License-Identifier: Apache-2.0
#pragma once
// UTF-8 decoding and escaping of untrusted text for display.

#include <cstddef>
#include <string>
#include <string_view>

namespace hsmctl {

/// Decodes one UTF-8 sequence at text[i] (strict: no overlong forms, no surrogates, at most
/// U+10FFFF). Returns its length in bytes and sets `cp`, or 0 when the bytes there are invalid.
std::size_t utf8_decode(std::string_view text, std::size_t i, char32_t& cp);

/// Text from an untrusted source made safe to print on one terminal line: control characters
/// (C0, DEL and the UTF-8-encoded C1 range U+0080..U+009F) become \n, \r, \t, \e, \xNN or
/// \u00NN escapes; bytes that are not valid UTF-8 become \xNN. Everything else is kept as is.
std::string escape_for_display(std::string_view text);

}  // namespace hsmctl
