// SPDX-License-Identifier: Apache-2.0
// The file system: static file table (files.c), generated EFs, SELECT, READ/UPDATE BINARY,
// DELETE FILE and ENUMERATE OBJECTS.
#include "hsmctl/device/sim/sim_impl.hpp"
#include "hsmctl/device/sim/sim_tlv.hpp"

#include <algorithm>

namespace hsmctl::device::sim::detail {

// The firmware's static file table (pico-hsm files.c).
constexpr StaticFile kStaticFiles[] = {
    {0x3F00, FileKind::kDf, true},
    {0x2F00, FileKind::kWorking, true},
    {0x2F01, FileKind::kWorking, true},
    {kFidTermCa, FileKind::kWorking, true},
    {0x2F03, FileKind::kWorking, true},
    {0x5015, FileKind::kDf, true},
    {0x5031, FileKind::kWorking, true},
    {0x5032, FileKind::kWorking, true},
    {0x5033, FileKind::kWorking, true},
    {0x1081, FileKind::kInternal, false},
    {0x1082, FileKind::kInternal, false},
    {0x1083, FileKind::kInternal, false},
    {0x1088, FileKind::kInternal, false},
    {0x1089, FileKind::kInternal, false},
    {0x108A, FileKind::kInternal, false},
    {0x100E, FileKind::kInternal, false},
    {0x6040, FileKind::kWorking, true},
    {0x6041, FileKind::kWorking, true},
    {0x6042, FileKind::kWorking, true},
    {0x6043, FileKind::kWorking, true},
    {0x6044, FileKind::kWorking, true},
    {0x6045, FileKind::kWorking, true},
    {0x10A0, FileKind::kInternal, false},
    {0x10C0, FileKind::kInternal, false},
    {kFidKeyDev, FileKind::kInternal, false},
    {kFidPrkdDev, FileKind::kInternal, true},
    {kFidEeDev, FileKind::kInternal, true},
    {0x100A, FileKind::kInternal, false},
    {0x100B, FileKind::kInternal, false},
};

const StaticFile* find_static(std::uint16_t fid) {
  for (const auto& f : kStaticFiles) {
    if (f.fid == fid) {
      return &f;
    }
  }
  return nullptr;
}

bool persistent_file(std::uint16_t fid) {
  return fid == kFidTermCa || fid == kFidEeDev || fid == kFidPrkdDev;
}

}  // namespace hsmctl::device::sim::detail

namespace hsmctl::device::sim {

using namespace detail;  // NOLINT(google-build-using-namespace): private helpers

// The chip serial as TokenInfo and the rescue applet report it: all zeros on the emulation
// build (defects.emulation_zero_serial), the chip ID otherwise.
Bytes SimCard::Impl::reported_serial() const {
  if (state.persistent.defects.emulation_zero_serial) {
    return Bytes(8, 0);
  }
  return state.persistent.serial;
}

// sc_hsm.c parse_token_info(): PKCS#15 TokenInfo built by the firmware on every read.
Bytes SimCard::Impl::token_info() const {
  Bytes body;
  tlv::put(body, 0x02, Bytes{kFirmwareMajor});
  tlv::put(body, 0x04, reported_serial());
  // SmartCard-HSM: OpenSC's names for the card (UNCONFIRMED as TokenInfo content).
  tlv::put(body, 0x0C, str_bytes(smartcard_hsm() ? "www.CardContact.de" : "Pol Henarejos"));
  tlv::put(body, 0x80, str_bytes(smartcard_hsm() ? "SmartCard-HSM" : "Pico-HSM"));
  tlv::put(body, 0x03, Bytes{0x04, 0x30});
  return tlv::make(0x30, body);
}

// EF.DIR with the one application (content UNCONFIRMED, see docs/simulator.md).
Bytes SimCard::Impl::ef_dir() {
  Bytes body;
  tlv::put(body, 0x4F, kHsmAid);
  tlv::put(body, 0x50, str_bytes("Pico-HSM"));
  return tlv::make(0x61, body);
}

FileView SimCard::Impl::lookup(std::uint16_t fid) const {
  FileView v;
  const SimPersistent& p = state.persistent;
  if (fid == 0x0000) {  // the applet entry selected by SELECT AID
    v.exists = true;
    v.readable = true;
    return v;
  }
  if (const StaticFile* sf = find_static(fid)) {
    v.exists = true;
    v.readable = sf->readable;
    v.kind = sf->kind;
    if (fid == 0x2F00) {
      v.generated = true;
      v.data = ef_dir();
    } else if (fid == 0x2F03) {
      v.generated = true;
      v.data = token_info();
    } else if (fid == kFidKeyDev) {
      if (p.keys.count(0)) {
        v.data = Bytes(p.keys.at(0).private_scalar.size(), 0);
      }
    } else if (auto it = p.files.find(fid); it != p.files.end()) {
      v.data = it->second;
    }
    return v;
  }
  if ((fid >> 8) == 0xCC) {
    // Key objects: the firmware stores them MKEK-encrypted and (by a bug) lets them be read;
    // the simulator never returns key material and answers 6982 instead.
    if (p.keys.count(fid & 0xFF)) {
      v.exists = true;
      v.kind = FileKind::kWorking;
      v.data = Bytes(32, 0);
    }
    return v;
  }
  if (auto it = p.files.find(fid); it != p.files.end()) {
    v.exists = true;
    v.readable = true;
    v.data = it->second;
  }
  return v;
}

// sdk fs/file.c process_fci(): FCP template.
Bytes SimCard::Impl::fcp(std::uint16_t fid, const FileView& v) const {
  Bytes body;
  std::size_t size = v.data ? v.data->size() : 0;
  tlv::put(body, 0x81, u16(static_cast<std::uint16_t>(size)));
  std::uint8_t type = v.kind == FileKind::kDf ? 0x38 : v.kind == FileKind::kInternal ? 0x08 : 0x01;
  tlv::put(body, 0x82, Bytes{type});
  tlv::put(body, 0x83, u16(fid));
  tlv::put(body, 0x8A, Bytes{0x05});
  return tlv::make(0x62, body);
}

// The observed v6.6 SELECT-AID answer: tag 84 carries the AID shifted by one byte plus a stray
// byte (firmware copy offset bug), tag 85 = options, FF, major, minor. A SmartCard-HSM reports
// its type 00 (applet on JCOP) in place of FF (pico-hsm.md section 1); the rest is the Pico's.
Bytes SimCard::Impl::applet_fcp() const {
  Bytes body;
  tlv::put(body, 0x81, Bytes{0x00, 0x00});
  tlv::put(body, 0x82, Bytes{0x01});
  tlv::put(body, 0x83, Bytes{0x00, 0x00});
  Bytes name(std::begin(kHsmAid) + 1, std::end(kHsmAid));
  name.push_back(0x30);
  tlv::put(body, 0x84, name);
  tlv::put(body, 0x8A, Bytes{0x05});
  std::uint16_t o = state.options();
  tlv::put(body, 0x85,
           Bytes{static_cast<std::uint8_t>(o >> 8), static_cast<std::uint8_t>(o),
                 static_cast<std::uint8_t>(smartcard_hsm() ? 0x00 : 0xFF), kFirmwareMajor,
                 kFirmwareMinor});
  return tlv::make(0x62, body);
}

// cmd_select.c
Reply SimCard::Impl::cmd_select(const Apdu& a) {
  std::optional<std::uint16_t> target;
  FileView v;
  std::uint16_t fid = 0;
  if (a.data.size() == 2) {
    fid = static_cast<std::uint16_t>((a.data[0] << 8) | a.data[1]);
  }
  if (fid != 0) {
    v = lookup(fid);
    if (!v.exists) {
      return status(kSwFileNotFound);
    }
    target = fid;
  } else if (a.p1 == 0x00 && a.data.empty()) {
    target = 0x3F00;
    v = lookup(0x3F00);
  } else if (a.p1 == 0x04) {
    // By DF name inside the applet (only reached with P2 other than 00/04).
    if (a.data.size() != sizeof(kHsmAid) || !std::equal(a.data.begin(), a.data.end(), kHsmAid)) {
      return status(kSwFileNotFound);
    }
    target = 0x0000;
    v = lookup(0x0000);
  } else {
    return status(kSwFileNotFound);
  }
  if ((a.p2 & 0xFC) != 0x00 && (a.p2 & 0xFC) != 0x04) {
    return status(kSwIncorrectP1P2);
  }
  Bytes r = *target == 0x0000 ? applet_fcp() : fcp(*target, v);
  if (v.kind != FileKind::kDf) {
    state.session.current_ef = *target;
  }
  return ok(r);
}

// cmd_list_keys.c
Reply SimCard::Impl::cmd_list_keys() {
  const SimPersistent& p = state.persistent;
  Bytes r = {0xC4, 0x00, 0xCC, 0x00};
  for (const auto& [id, key] : p.keys) {
    if (id != 0) {
      r.insert(r.end(), {0xCC, static_cast<std::uint8_t>(id)});
    }
  }
  for (std::uint8_t prefix : {0xC4, 0xC8, 0xC9}) {
    for (const auto& [fid, data] : p.files) {
      if ((fid >> 8) == prefix && fid != kFidPrkdDev) {
        r.insert(r.end(), {prefix, static_cast<std::uint8_t>(fid & 0xFF)});
      }
    }
  }
  return ok(r);
}

// cmd_read_binary.c
Reply SimCard::Impl::cmd_read_binary(const Apdu& a) {
  std::optional<std::uint16_t> fid;
  std::size_t offset = 0;
  if ((a.ins & 0x01) == 0) {
    if ((a.p1 & 0x80) != 0) {
      return status(kSwFileNotFound);  // no short EF ids on Pico
    }
    offset = static_cast<std::size_t>(((a.p1 << 8) | a.p2) & 0x7FFF);
    fid = state.session.current_ef;
  } else {
    if (a.p1 == 0 && (a.p2 & 0xE0) == 0 && (a.p2 & 0x1F) != 0 && (a.p2 & 0x1F) != 0x1F) {
      return status(kSwFileNotFound);
    }
    std::uint16_t id = static_cast<std::uint16_t>((a.p1 << 8) | a.p2);
    if (id == 0) {
      fid = state.session.current_ef;
    } else {
      if (!lookup(id).exists) {
        return status(kSwFileNotFound);
      }
      fid = id;
    }
    if (a.data.size() < 2 || a.data[0] != 0x54 ||
        static_cast<std::size_t>(a.data[1]) + 2 > a.data.size()) {
      return status(kSwWrongData);
    }
    for (int d = 0; d < a.data[1]; ++d) {
      offset = (offset << 8) | a.data[2 + d];
    }
  }
  if (!fid) {
    return status(kSwFileNotFound);  // firmware: undefined (no current EF)
  }
  FileView v = lookup(*fid);
  if (!v.exists) {
    return status(kSwFileNotFound);
  }
  if (!v.readable) {
    return status(kSwSecurity);
  }
  if (!v.data) {
    return ok({});
  }
  const Bytes& data = *v.data;
  if (offset > data.size()) {
    return status(v.generated ? kSwWrongP1P2 : kSwEof);
  }
  return ok(Bytes(data.begin() + static_cast<std::ptrdiff_t>(offset), data.end()));
}

// cmd_update_ef.c. Writes to the firmware's internal files and generated EFs are refused
// (the firmware would let them corrupt PIN files; see docs/simulator.md).
Reply SimCard::Impl::cmd_update_ef(const Apdu& a) {
  if (!state.session.user_authenticated) {
    return status(kSwSecurity);
  }
  std::uint16_t fid = static_cast<std::uint16_t>((a.p1 << 8) | a.p2);
  if (fid == 0) {
    if (!state.session.current_ef || *state.session.current_ef == 0) {
      return status(kSwFileNotFound);
    }
    fid = *state.session.current_ef;
  }
  std::uint8_t prefix = static_cast<std::uint8_t>(fid >> 8);
  bool writable = fid == kFidTermCa || fid == kFidEeDev || fid == kFidPrkdDev ||
                  ((prefix == 0xC4 || prefix == 0xC8 || prefix == 0xC9 || prefix == 0xCA ||
                    prefix == 0xCB || prefix == 0xCD || prefix == 0xCE || prefix == 0xCF) &&
                   find_static(fid) == nullptr);
  if (!writable) {
    return status(kSwSecurity);
  }
  std::size_t offset = 0;
  std::optional<ByteView> data;
  for (const auto& item : tlv::parse(a.data)) {
    if (item.tag == 0x54) {
      for (std::uint8_t b : item.value) {
        offset = (offset << 8) | b;
      }
    } else if (item.tag == 0x53) {
      data = item.value;
    }
  }
  SimPersistent& p = state.persistent;
  std::size_t len = data ? data->size() : 0;
  if (len == 0 && offset == 0) {
    p.files[fid] = Bytes{};
    state.session.current_ef = fid;
    return status(kSwOk);
  }
  if (offset == 0) {
    p.files[fid] = Bytes(data->begin(), data->end());
    if (fid == kFidTermCa) {  // e.g. the PKI chain written after INITIALIZE (pypicohsm)
      Bytes chr = cv_chr(p.files[fid]);
      Bytes car = cv_field(p.files[fid], 0x42);
      p.device_chr.assign(chr.begin(), chr.end());
      p.device_cert_pki = !chr.empty() && car != chr;
    }
    return status(kSwOk);
  }
  auto it = p.files.find(fid);
  if (it == p.files.end() || it->second.empty()) {
    return status(kSwDataInvalid);
  }
  if (offset > 4032 || offset + len > 4032) {
    return status(kSwWrongLength);
  }
  Bytes merged = it->second;
  merged.resize(std::max(merged.size(), offset + len), 0);
  if (len > 0) {
    std::copy(data->begin(), data->end(), merged.begin() + static_cast<std::ptrdiff_t>(offset));
  }
  merged.resize(offset + len);  // file_put_data(offset + data_len): the firmware truncates
  it->second = merged;
  return status(kSwOk);
}

// cmd_delete_file.c (simplified): E4 02 00 <FID>.
Reply SimCard::Impl::cmd_delete_file(const Apdu& a) {
  if (!state.session.user_authenticated) {
    return status(kSwSecurity);
  }
  if (a.data.size() != 2) {
    return status(kSwWrongLength);
  }
  std::uint16_t fid = static_cast<std::uint16_t>((a.data[0] << 8) | a.data[1]);
  SimPersistent& p = state.persistent;
  if (find_static(fid) != nullptr) {
    return status(kSwSecurity);
  }
  if ((fid >> 8) == 0xCC) {
    if (p.keys.erase(fid & 0xFF) == 0) {
      return status(kSwFileNotFound);
    }
    return status(kSwOk);
  }
  if (p.files.erase(fid) == 0) {
    return status(kSwFileNotFound);
  }
  return status(kSwOk);
}

}  // namespace hsmctl::device::sim
