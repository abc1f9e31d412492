// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/util/cvc.hpp"

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <tuple>

namespace hsmctl::cvc {
namespace {

constexpr std::string_view kPrefix = "malformed CV certificate data: ";

tl::unexpected<Error> bad(const std::string& what) {
  return make_error(Errc::kDevice, std::string(kPrefix) + what);
}

// The reason of an error made by bad(), without its prefix.
std::string reason(const Error& e) {
  return e.message.starts_with(kPrefix) ? e.message.substr(kPrefix.size()) : e.message;
}

// Names are printable ASCII in practice (TR-03110: country, mnemonic, sequence); anything else
// is escaped so that a hostile file cannot put control characters on a terminal.
std::string printable(ByteView v) {
  std::string out;
  for (std::uint8_t c : v) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  return out;
}

// TLVs filling all of `data`.
std::optional<std::vector<Tlv>> parse_all(ByteView data) {
  std::vector<Tlv> out;
  while (!data.empty()) {
    auto t = parse_tlv(data);
    if (!t)
      return std::nullopt;
    data = data.subspan(t->whole.size());
    out.push_back(*t);
  }
  return out;
}

const Tlv* find(const std::vector<Tlv>& items, std::uint32_t tag) {
  for (const Tlv& t : items) {
    if (t.tag == tag)
      return &t;
  }
  return nullptr;
}

std::optional<Date> parse_date(ByteView v) {
  if (v.size() != 6)
    return std::nullopt;
  if (std::any_of(v.begin(), v.end(), [](std::uint8_t d) { return d > 9; }))
    return std::nullopt;
  Date d{2000 + v[0] * 10 + v[1], v[2] * 10 + v[3], v[4] * 10 + v[5]};
  if (d.month < 1 || d.month > 12 || d.day < 1 || d.day > 31)
    return std::nullopt;
  return d;
}

Result<PublicKey> parse_public_key(ByteView v) {
  auto items = parse_all(v);
  if (!items)
    return bad("public key (7F49) is malformed");
  PublicKey k;
  for (const Tlv& t : *items) {
    Bytes val(t.value.begin(), t.value.end());
    switch (t.tag) {
      case 0x06:
        k.oid = std::move(val);
        break;
      case 0x81:
        k.p = std::move(val);
        break;
      case 0x82:
        k.a = std::move(val);
        break;
      case 0x83:
        k.b = std::move(val);
        break;
      case 0x84:
        k.g = std::move(val);
        break;
      case 0x85:
        k.n = std::move(val);
        break;
      case 0x86:
        k.point = std::move(val);
        break;
      case 0x87:
        k.h = std::move(val);
        break;
      default:
        break;  // RSA keys (81 modulus, 82 exponent) are not read: EC only
    }
  }
  if (k.oid.empty())
    return bad("public key without an algorithm OID (06)");
  if (k.point.empty())
    return bad("public key without an EC point (86)");
  if (k.point[0] != 0x04 || k.point.size() % 2 != 1 || k.point.size() < 3)
    return bad("public key point (86) is not an uncompressed EC point");
  return k;
}

}  // namespace

std::optional<Tlv> parse_tlv(ByteView data) {
  std::size_t pos = 0;
  if (data.empty())
    return std::nullopt;
  std::uint32_t tag = data[pos++];
  if ((tag & 0x1F) == 0x1F) {
    for (int i = 0; i < 3; ++i) {
      if (pos >= data.size())
        return std::nullopt;
      const std::uint8_t b = data[pos++];
      tag = (tag << 8) | b;
      if ((b & 0x80) == 0)
        break;
      if (i == 2)
        return std::nullopt;
    }
  }
  if (pos >= data.size())
    return std::nullopt;
  std::size_t len = data[pos++];
  if ((len & 0x80) != 0) {
    const std::size_t count = len & 0x7F;
    if (count == 0 || count > 3 || pos + count > data.size())
      return std::nullopt;
    len = 0;
    for (std::size_t i = 0; i < count; ++i)
      len = (len << 8) | data[pos++];
  }
  if (len > data.size() - pos)
    return std::nullopt;
  Tlv t;
  t.tag = tag;
  t.value = data.subspan(pos, len);
  t.whole = data.subspan(0, pos + len);
  return t;
}

std::string format_date(const Date& d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.year % 10000, d.month % 100, d.day % 100);
  return buf;
}

std::string Certificate::role_oid() const {
  if (!chat)
    return {};
  auto oid = parse_tlv(*chat);
  if (!oid || oid->tag != 0x06 || oid->value.empty())
    return {};
  // X.690 OID: first byte = 40 * arc1 + arc2, then base-128 arcs.
  std::string out;
  const std::uint8_t first = oid->value[0];
  out = std::to_string(first / 40) + "." + std::to_string(first % 40);
  std::uint64_t arc = 0;
  for (std::size_t i = 1; i < oid->value.size(); ++i) {
    arc = (arc << 7) | (oid->value[i] & 0x7F);
    if ((oid->value[i] & 0x80) == 0) {
      out += "." + std::to_string(arc);
      arc = 0;
    }
  }
  return out;
}

Result<Certificate> parse_certificate(ByteView data) {
  auto whole = parse_tlv(data);
  if (!whole || whole->tag != kTagCertificate)
    return bad("not a CV certificate (7F21)");
  if (whole->whole.size() != data.size())
    return bad("bytes after the certificate");
  auto parts = parse_all(whole->value);
  if (!parts)
    return bad("certificate (7F21) is malformed");
  const Tlv* body = find(*parts, kTagBody);
  const Tlv* sig = find(*parts, kTagSignature);
  if (body == nullptr)
    return bad("certificate without a body (7F4E)");
  if (sig == nullptr || sig->value.empty())
    return bad("certificate without a signature (5F37)");
  auto fields = parse_all(body->value);
  if (!fields)
    return bad("certificate body (7F4E) is malformed");
  Certificate c;
  const Tlv* profile = find(*fields, kTagProfile);
  const Tlv* car = find(*fields, kTagCar);
  const Tlv* key = find(*fields, kTagPublicKey);
  const Tlv* chr = find(*fields, kTagChr);
  if (key == nullptr)
    return bad("certificate body without a public key (7F49)");
  if (chr == nullptr)
    return bad("certificate body without a holder reference (5F20)");
  if (profile != nullptr && profile->value.size() == 1)
    c.profile = profile->value[0];
  if (car != nullptr)
    c.car = printable(car->value);
  c.chr = printable(chr->value);
  HSMCTL_TRY_ASSIGN(c.key, parse_public_key(key->value));
  if (const Tlv* chat = find(*fields, kTagChat))
    c.chat = Bytes(chat->value.begin(), chat->value.end());
  for (auto [tag, slot, name] :
       {std::tuple{kTagEffective, &c.effective, "effective date (5F25)"},
        std::tuple{kTagExpiration, &c.expiration, "expiration date (5F24)"}}) {
    if (const Tlv* t = find(*fields, tag)) {
      *slot = parse_date(t->value);
      if (!*slot)
        return bad(std::string(name) + " is not a BCD date YYMMDD");
    }
  }
  c.body.assign(body->whole.begin(), body->whole.end());
  c.signature.assign(sig->value.begin(), sig->value.end());
  c.encoded.assign(data.begin(), data.end());
  return c;
}

Result<std::vector<Element>> parse_elements(ByteView data) {
  std::vector<Element> out;
  ByteView rest = data;
  while (!rest.empty()) {
    if (std::all_of(rest.begin(), rest.end(), [](std::uint8_t b) { return b == 0 || b == 0xFF; }))
      break;  // erased flash or zero padding after the chain
    const std::string where = "element " + std::to_string(out.size() + 1) + ": ";
    auto t = parse_tlv(rest);
    if (!t) {
      return bad(where + "truncated or malformed TLV");
    }
    Element e;
    if (t->tag == kTagCertificate) {
      auto c = parse_certificate(t->whole);
      if (!c)
        return bad(where + reason(c.error()));
      e.cert = std::move(*c);
    } else if (t->tag == kTagAuthenticatedRequest) {
      e.authenticated_request = true;
      auto parts = parse_all(t->value);
      if (!parts || parts->size() < 3 || (*parts)[0].tag != kTagCertificate ||
          (*parts)[1].tag != kTagCar || (*parts)[2].tag != kTagSignature) {
        return (bad(where + "authenticated request (67) is not 7F21, 42, 5F37 in order"));
      }
      auto c = parse_certificate((*parts)[0].whole);
      if (!c)
        return bad(where + "request: " + reason(c.error()));
      e.cert = std::move(*c);
      e.outer_car = printable((*parts)[1].value);
      e.outer_signed.assign((*parts)[0].whole.begin(), (*parts)[0].whole.end());
      e.outer_signed.insert(e.outer_signed.end(), (*parts)[1].whole.begin(),
                            (*parts)[1].whole.end());
      e.outer_signature.assign((*parts)[2].value.begin(), (*parts)[2].value.end());
    } else {
      return bad(where + "neither a certificate (7F21) nor a request (67)");
    }
    out.push_back(std::move(e));
    rest = rest.subspan(t->whole.size());
  }
  if (out.empty())
    return bad("no certificate");
  return out;
}

}  // namespace hsmctl::cvc
