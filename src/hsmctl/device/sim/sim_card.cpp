// SPDX-License-Identifier: Apache-2.0
// The SimCard facade: transport-level processing (pico-keys-sdk apdu.c: APDU parsing, command
// and response chaining), applet selection and command dispatch, the state file, the test-signal
// hook and the lose_write_after_answer fault. Command groups live in sim_*.cpp (sim_impl.hpp).
#include "hsmctl/device/sim/sim_card.hpp"

#include "hsmctl/device/sim/sim_impl.hpp"
#include "hsmctl/util/held_lock.hpp"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace hsmctl::device::sim::detail {

// pico-keys-sdk apdu_process(): the firmware's lenient APDU parser. nullopt when Lc claims more
// data than present (the firmware would read past the buffer; the simulator answers 6700).
std::optional<Apdu> parse_apdu(ByteView raw) {
  if (raw.size() < 4) {
    return std::nullopt;
  }
  Apdu a;
  a.cla = raw[0];
  a.ins = raw[1];
  a.p1 = raw[2];
  a.p2 = raw[3];
  if (raw.size() == 4) {
    a.ne = 256;
  } else if (raw.size() == 5) {
    a.ne = raw[4] == 0 ? 256 : raw[4];
  } else if (raw[4] == 0 && raw.size() >= 7) {
    if (raw.size() == 7) {
      std::size_t le = (static_cast<std::size_t>(raw[5]) << 8) | raw[6];
      a.ne = le == 0 ? 65536 : le;
    } else {
      std::size_t nc = (static_cast<std::size_t>(raw[5]) << 8) | raw[6];
      if (7 + nc > raw.size()) {
        return std::nullopt;
      }
      a.data.assign(raw.begin() + 7, raw.begin() + 7 + static_cast<std::ptrdiff_t>(nc));
      if (nc + 9 == raw.size()) {
        std::size_t le = (static_cast<std::size_t>(raw[raw.size() - 2]) << 8) | raw.back();
        a.ne = le == 0 ? 65536 : le;
      }
    }
  } else {
    std::size_t nc = raw[4];
    if (5 + nc > raw.size()) {
      return std::nullopt;
    }
    a.data.assign(raw.begin() + 5, raw.begin() + 5 + static_cast<std::ptrdiff_t>(nc));
    if (nc + 6 == raw.size()) {
      a.ne = raw.back() == 0 ? 256 : raw.back();
    }
  }
  return a;
}

bool starts_with(ByteView data, ByteView prefix) {
  return data.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), data.begin());
}

}  // namespace hsmctl::device::sim::detail

namespace hsmctl::device::sim {

using namespace detail;  // NOLINT(google-build-using-namespace): private helpers

// ---- Command dispatch ---------------------------------------------------------------------------

void SimCard::Impl::reset_security() {  // sc_hsm.c init_sc_hsm() / sc_hsm_unload()
  SimVolatile& s = state.session;
  s.has_session_pin = s.has_session_sopin = false;
  s.session_pin_key.clear();
  s.session_sopin_key.clear();
  s.user_authenticated = false;
  s.puk_status.fill(0);
  s.challenge.clear();
  s.puk_aut_slot.reset();
  s.secure_lock_unlocked = false;
}

// sdk apdu.c process_apdu(): SELECT by AID is handled before the applet sees the command.
Reply SimCard::Impl::select_application(const Apdu& a) {
  SimVolatile& s = state.session;
  std::size_t n = a.data.size();
  bool hsm = std::equal(a.data.begin(),
                        a.data.begin() + static_cast<std::ptrdiff_t>(std::min(n, sizeof(kHsmAid))),
                        kHsmAid);
  // The rescue applet is pico-keys-sdk's; a SmartCard-HSM answers its AID like any unknown one.
  bool rescue =
      !hsm && !smartcard_hsm() &&
      std::equal(a.data.begin(),
                 a.data.begin() + static_cast<std::ptrdiff_t>(std::min(n, sizeof(kRescueAid))),
                 kRescueAid);
  if (hsm) {
    // Re-select or switch: either way init_sc_hsm() resets all security state.
    reset_security();
    s.app = SimVolatile::App::kHsm;
    s.current_ef = 0x0000;
    // init_sc_hsm() runs cmd_select(), which only finds the DF by its full 11-byte name.
    if (n != sizeof(kHsmAid)) {
      return ok({});
    }
    return ok(applet_fcp());
  }
  if (rescue) {
    reset_security();  // unload of the HSM applet
    s.app = SimVolatile::App::kRescue;
    Bytes r{kPlatformEmulation, kProductHsm, kFirmwareMajor, kFirmwareMinor};
    const Bytes serial = reported_serial();
    r.insert(r.end(), serial.begin(), serial.end());
    Reply reply = ok(r);
    reply.no_chaining = true;
    return reply;
  }
  return status(kSwFileNotFound);
}

Reply SimCard::Impl::dispatch(const Apdu& a) {
  if (a.ins == 0xA4 && a.p1 == 0x04 && (a.p2 == 0x00 || a.p2 == 0x04)) {
    return select_application(a);
  }
  switch (state.session.app) {
    case SimVolatile::App::kNone:
      return status(kSwFileNotFound);
    case SimVolatile::App::kRescue:
      return rescue(a);
    case SimVolatile::App::kHsm:
      break;
  }
  switch (a.ins) {
    case 0xA4:
      return cmd_select(a);
    case 0x58:
      return cmd_list_keys();
    case 0xB0:
    case 0xB1:
      return cmd_read_binary(a);
    case 0x20:
      return cmd_verify(a);
    case 0x2C:
      return cmd_reset_retry(a);
    case 0x84:
      return cmd_challenge(a);
    case 0x50:
      return cmd_initialize(a);
    case 0x52:
      return cmd_key_domain(a);
    case 0x46:
      return cmd_keypair_gen(a);
    case 0xD7:
      return cmd_update_ef(a);
    case 0xE4:
      return cmd_delete_file(a);
    case 0x24:
      return cmd_change_pin(a);
    case 0x64:  // Pico vendor extras; no such INS on a SmartCard-HSM
      return smartcard_hsm() ? status(kSwInsNotSupported) : cmd_extras(a);
    case 0x54:
      return cmd_puk_auth(a);
    case 0x22:
      return cmd_mse(a);
    case 0x82:
      return cmd_external_authenticate(a);
    case 0x68:
      return cmd_signature(a);
    default:
      return status(kSwInsNotSupported);
  }
}

// ---- Transport-level processing (sdk apdu.c) ----------------------------------------------------

Bytes SimCard::Impl::process(ByteView raw) {
  SimVolatile& s = state.session;
  auto parsed = parse_apdu(raw);
  if (!parsed) {
    s.pending_response.clear();
    return u16(kSwWrongLength);
  }
  Apdu a = std::move(*parsed);
  if (a.ins == 0xC0) {
    return get_response(a);
  }
  s.pending_response.clear();
  if (a.cla & 0x10) {  // command chaining
    if (!s.chaining) {
      s.chain_buffer.clear();
    }
    if (s.chain_buffer.size() + a.data.size() >= 4096) {
      return u16(kSwClaNotSupported);
    }
    s.chain_buffer.insert(s.chain_buffer.end(), a.data.begin(), a.data.end());
    s.chaining = true;
    return u16(kSwOk);
  }
  if (s.chaining) {
    a.data.insert(a.data.begin(), s.chain_buffer.begin(), s.chain_buffer.end());
    s.chain_buffer.clear();
    s.chaining = false;
  }
  Reply r = dispatch(a);
  if ((r.sw >> 8) != 0x90) {
    r.data.clear();  // set_res_sw()
  }
  if (r.no_chaining || r.data.size() <= a.ne) {
    Bytes out = r.data;
    Bytes sw = u16(r.sw);
    out.insert(out.end(), sw.begin(), sw.end());
    return out;
  }
  Bytes out(r.data.begin(), r.data.begin() + static_cast<std::ptrdiff_t>(a.ne));
  s.pending_response.assign(r.data.begin() + static_cast<std::ptrdiff_t>(a.ne), r.data.end());
  s.pending_sw = r.sw;
  std::size_t rest = s.pending_response.size();
  out.push_back(0x61);
  out.push_back(static_cast<std::uint8_t>(rest >= 256 ? 0 : rest));
  return out;
}

Bytes SimCard::Impl::get_response(const Apdu& a) {
  SimVolatile& s = state.session;
  if (s.pending_response.empty()) {
    return u16(kSwConditions);  // firmware: stale buffer
  }
  std::size_t n = std::min(a.ne, s.pending_response.size());
  Bytes out(s.pending_response.begin(),
            s.pending_response.begin() + static_cast<std::ptrdiff_t>(n));
  s.pending_response.erase(s.pending_response.begin(),
                           s.pending_response.begin() + static_cast<std::ptrdiff_t>(n));
  if (s.pending_response.empty()) {
    Bytes sw = u16(s.pending_sw);
    out.insert(out.end(), sw.begin(), sw.end());
  } else {
    std::size_t rest = s.pending_response.size();
    out.push_back(0x61);
    out.push_back(static_cast<std::uint8_t>(rest >= 256 ? 0 : rest));
  }
  return out;
}

// ---- Persistence --------------------------------------------------------------------------------

Result<void> SimCard::Impl::reload_if_changed() {
  if (path.empty()) {
    return {};
  }
  auto content = read_file(path);
  if (!content) {
    return make_error(Errc::kUnavailable,
                      "simulator state " + path + " is gone: " + content.error().message);
  }
  std::string text(content->begin(), content->end());
  if (text == last_saved) {
    return {};
  }
  HSMCTL_TRY_ASSIGN(auto persistent, SimState::persistent_from_json(text, path));
  state.persistent = std::move(persistent);
  last_saved = text;
  return {};
}

Result<void> SimCard::Impl::save_if_changed() {
  if (path.empty()) {
    return {};
  }
  std::string text = state.to_json();
  if (text == last_saved) {
    return {};
  }
  auto r = write_file_atomically(path, bytes_of(text));
  if (!r) {
    return make_error(Errc::kUnavailable,
                      "simulator state " + path + " could not be saved: " + r.error().message);
  }
  last_saved = text;
  return {};
}

// ---- SimCard ------------------------------------------------------------------------------------

SimCard::SimCard() : impl_(std::make_unique<Impl>()) {}
SimCard::~SimCard() = default;

std::unique_ptr<SimCard> SimCard::create_in_memory(const std::string& serial_hex,
                                                   SimFlavour flavour) {
  std::unique_ptr<SimCard> card(new SimCard());
  auto serial = from_hex(serial_hex);
  card->impl_->manufacture(serial && serial->size() == 8 ? *serial : Bytes(8, 0), flavour);
  return card;
}

Result<std::unique_ptr<SimCard>> SimCard::open_file(const std::string& path,
                                                    const std::string& serial_if_new,
                                                    SimFlavour flavour_if_new) {
  std::optional<Bytes> new_serial;
  if (!serial_if_new.empty()) {
    new_serial = from_hex(serial_if_new);
    if (!new_serial || new_serial->size() != 8) {
      return make_error(Errc::kUsage, "simulator serial must be 16 hex digits");
    }
  }
  std::unique_ptr<SimCard> card(new SimCard());
  Impl& impl = *card->impl_;
  impl.path = path;
  HSMCTL_TRY_ASSIGN(FileLock lock,
                    acquire_held_lock(path + ".lock", "simulator " + path, /*announce=*/false));
  auto content = read_file(path);
  if (!content) {
    if (content.error().code != Errc::kUnavailable) {
      return tl::unexpected(content.error());
    }
    impl.manufacture(new_serial ? *new_serial : crypto::random_bytes(8), flavour_if_new);
    HSMCTL_TRY(impl.save_if_changed());
    return card;
  }
  std::string text(content->begin(), content->end());
  HSMCTL_TRY_ASSIGN(auto persistent, SimState::persistent_from_json(text, path));
  impl.state.persistent = std::move(persistent);
  impl.last_saved = text;
  return card;
}

void SimCard::fire_test_signal() {
  const TestSignal hook = *test_signal_;
  test_signal_.reset();  // once
  for (int i = 0; i < hook.count; ++i)
    raise(hook.sig);
}

Result<std::optional<SimCard::TestSignal>> test_signal_from_env() {
  const char* env = std::getenv("HSMCTL_SIM_TEST_SIGNAL");
  if (env == nullptr || *env == '\0')
    return std::optional<SimCard::TestSignal>();
  const std::string text = env;
  auto bad = [&] {
    return make_error(Errc::kUsage,
                      "HSMCTL_SIM_TEST_SIGNAL=\"" + text +
                          "\": expected \"SIG INS [after] [xN] [in:NAME]\", e.g. \"INT 24\"");
  };
  std::istringstream in(text);
  std::string sig, ins, word;
  if (!(in >> sig >> ins))
    return bad();
  SimCard::TestSignal hook;
  if (sig == "INT") {
    hook.sig = SIGINT;
  } else if (sig == "TERM") {
    hook.sig = SIGTERM;
  } else {
    return bad();
  }
  auto ins_byte = from_hex(ins);
  if (!ins_byte || ins_byte->size() != 1)
    return bad();
  hook.ins = (*ins_byte)[0];
  while (in >> word) {
    if (word == "after") {
      hook.after = true;
    } else if (word.size() == 2 && word[0] == 'x' && word[1] >= '1' && word[1] <= '9') {
      hook.count = word[1] - '0';
    } else if (word.rfind("in:", 0) == 0 && word.size() > 3) {
      hook.only_path = word.substr(3);
    } else {
      return bad();
    }
  }
  return std::optional<SimCard::TestSignal>(hook);
}

Result<Bytes> SimCard::transmit(ByteView command) {
  count_wire_apdu();
  const bool hook = test_signal_ && command.size() >= 2 && command[1] == test_signal_->ins;
  if (hook && !test_signal_->after)
    fire_test_signal();
  auto response = transmit_now(command);
  if (hook && test_signal_)
    fire_test_signal();
  return response;
}

Result<Bytes> SimCard::transmit_now(ByteView command) {
  Impl& impl = *impl_;
  if (impl.powered_off) {
    return make_error(Errc::kUnavailable,
                      describe() + ": the card lost power (simulated fault); replug it");
  }
  std::optional<FileLock> lock;
  if (!impl.path.empty() && !impl.exclusive) {
    HSMCTL_TRY_ASSIGN(FileLock l, acquire_held_lock(impl.path + ".lock", "simulator " + impl.path,
                                                    /*announce=*/false));
    lock.emplace(std::move(l));
    HSMCTL_TRY(impl.reload_if_changed());
  }
  // Deferred flash write (faults.lose_write_after_answer): keep what flash held before the
  // command, in case the power goes between the answer and the write.
  auto& armed = impl.state.persistent.faults.lose_write_after_answer;
  const bool may_lose = command.size() >= 2 && command[1] != 0xC0 &&
                        std::find(armed.begin(), armed.end(), command[1]) != armed.end();
  std::optional<SimPersistent> flash_before;
  if (may_lose) {
    flash_before = impl.state.persistent;
  }
  Bytes response = impl.process(command);
  const bool answered_ok = response.size() >= 2 && response[response.size() - 2] == 0x90 &&
                           response[response.size() - 1] == 0x00;
  if (flash_before && answered_ok) {
    // The answer went out; the power failed before the main loop wrote flash.
    auto& left = flash_before->faults.lose_write_after_answer;
    left.erase(std::find(left.begin(), left.end(), command[1]));
    impl.state.persistent = std::move(*flash_before);
    impl.state.session = SimVolatile{};
    impl.powered_off = true;
  }
  HSMCTL_TRY(impl.save_if_changed());
  return response;
}

std::string SimCard::describe() const {
  if (impl_->path.empty()) {
    return "sim:memory:" + to_hex(impl_->state.persistent.serial);
  }
  return "sim:" + impl_->path;
}

Result<void> SimCard::begin_exclusive() {
  Impl& impl = *impl_;
  if (impl.exclusive) {
    return make_error(Errc::kInternal, "nested exclusive use of " + describe());
  }
  if (!impl.path.empty()) {
    // A card session: held until end_exclusive(); whoever waits longer than the lock timeout
    // learns who holds it (util/held_lock.hpp).
    HSMCTL_TRY_ASSIGN(FileLock l, acquire_held_lock(impl.path + ".lock", "simulator " + impl.path));
    impl.lock.emplace(std::move(l));
    auto r = impl.reload_if_changed();
    if (!r) {
      impl.lock.reset();
      return r;
    }
  }
  impl.exclusive = true;
  return {};
}

void SimCard::end_exclusive() {
  impl_->exclusive = false;
  impl_->lock.reset();
}

void SimCard::power_cycle() {
  impl_->state.session = SimVolatile{};
  impl_->powered_off = false;
}

void SimCard::warm_reset() {
  SimVolatile& s = impl_->state.session;
  s.pending_response.clear();
  s.chain_buffer.clear();
  s.chaining = false;
}

Bytes SimCard::atr() {
  return {0x3B, 0xFE, 0x18, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x31, 0x81,
          0x54, 0x48, 0x53, 0x4D, 0x31, 0x73, 0x80, 0x21, 0x40, 0x81, 0x07, 0xFA};
}

SimState& SimCard::state() {
  return impl_->state;
}

Result<void> SimCard::save() {
  return impl_->save_if_changed();
}

}  // namespace hsmctl::device::sim
