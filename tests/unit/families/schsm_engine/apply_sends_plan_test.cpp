// SPDX-License-Identifier: Apache-2.0
// Apply executes the plan: what execute() sends to the device (INITIALIZE's TLVs, the DYNOPS
// byte, MANAGE KEY DOMAIN) is what the plan's actions carry, and nothing apply reads after
// prepare() (the held manifest) can change it. Recorded over the in-process simulator.

#include "hsmctl/device/schsm/protocol.hpp"
#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/families/schsm_engine/engine.hpp"
#include "hsmctl/model/options.hpp"
#include "hsmctl/store/ephemeral_keeper.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace hsmctl::families::schsm_engine {
namespace {

namespace ins = device::schsm::ins;
using device::schsm::kClaProprietary;

constexpr const char* kSerial = "1122334455667788";

/// Records every command APDU on its way to the card (which the test keeps between runs).
class Recording final : public device::Transport {
 public:
  Recording(device::Transport& t, std::vector<Bytes>& log) : t_(t), log_(log) {}
  Result<Bytes> transmit(ByteView c) override {
    log_.emplace_back(c.begin(), c.end());
    return t_.transmit(c);
  }
  std::string describe() const override { return t_.describe(); }

 private:
  device::Transport& t_;
  std::vector<Bytes>& log_;
};

model::PicoHsmManifest base_manifest() {
  setenv("SENDS_PLAN_PIN", "24681357", 1);
  setenv("SENDS_PLAN_SO", "1357913579135791", 1);
  model::PicoHsmManifest m;
  m.metadata.name = "sends-plan";
  m.spec.device.serial = kSerial;
  m.spec.user_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "SENDS_PLAN_PIN", {}};
  m.spec.so_pin = model::SecretRef{model::SecretRef::Kind::kEnv, "SENDS_PLAN_SO", {}};
  return m;
}

/// The command's data field (short or extended Lc; none for a command with only Le).
Bytes data_of(const Bytes& c) {
  std::size_t at = 5, n = 0;
  if (c.size() <= 5) {
    return {};
  } else if (c[4] != 0) {
    n = c[4];
  } else if (c.size() > 7) {
    at = 7;
    n = (static_cast<std::size_t>(c[5]) << 8) | c[6];
  }
  n = std::min(n, c.size() - std::min(at, c.size()));
  return Bytes(c.begin() + static_cast<std::ptrdiff_t>(at),
               c.begin() + static_cast<std::ptrdiff_t>(at + n));
}

bool is(const Bytes& c, std::uint8_t cla, std::uint8_t in) {
  return c.size() >= 4 && c[0] == cla && c[1] == in;
}

/// INITIALIZE DEVICE commands with data (not the version query), each as tag -> value (one-byte
/// tags and lengths, as INITIALIZE uses them).
std::vector<std::map<int, Bytes>> initialize_tlvs(const std::vector<Bytes>& log) {
  std::vector<std::map<int, Bytes>> out;
  for (const auto& c : log) {
    if (!is(c, kClaProprietary, ins::kInitialize) || c.size() <= 5)
      continue;
    const Bytes d = data_of(c);
    std::map<int, Bytes> tlvs;
    for (std::size_t i = 0; i + 1 < d.size();) {
      const int tag = d[i];
      const std::size_t len = d[i + 1];
      tlvs[tag] = Bytes(d.begin() + static_cast<std::ptrdiff_t>(i + 2),
                        d.begin() + static_cast<std::ptrdiff_t>(i + 2 + len));
      i += 2 + len;
    }
    out.push_back(std::move(tlvs));
  }
  return out;
}

/// MANAGE KEY DOMAIN commands that change the table (P1 01 set up, 03 delete) as "P1 P2 data".
std::vector<std::string> key_domain_commands(const std::vector<Bytes>& log) {
  std::vector<std::string> out;
  for (const auto& c : log) {
    if (!is(c, kClaProprietary, ins::kManageKeyDomain))
      continue;
    if (c[2] != device::schsm::key_domain_op::kSetup &&
        c[2] != device::schsm::key_domain_op::kDelete)
      continue;
    out.push_back(to_hex(Bytes{c[2], c[3]}) + " " + to_hex(data_of(c)));
  }
  return out;
}

/// DYNOPS writes (80 64 06 00 01 hh): the high option bytes sent.
std::vector<int> dynops_writes(const std::vector<Bytes>& log) {
  std::vector<int> out;
  for (const auto& c : log) {
    if (!is(c, kClaProprietary, ins::kExtras) || c[2] != device::schsm::kExtrasDynamicOptions)
      continue;
    const Bytes d = data_of(c);
    if (d.size() == 1)
      out.push_back(d[0]);
  }
  return out;
}

/// Every command with its PIN-carrying parts replaced by their length, so two runs can be
/// compared (and a failure printed) without a credential value in the output.
std::vector<std::string> redacted(const std::vector<Bytes>& log) {
  std::vector<std::string> out;
  for (const auto& c : log) {
    const bool pin_command = c.size() > 5 && c[0] == device::schsm::kClaIso &&
                             (c[1] == ins::kVerify || c[1] == ins::kChangeReferenceData ||
                              c[1] == ins::kResetRetryCounter);
    if (pin_command) {
      out.push_back(to_hex(Bytes(c.begin(), c.begin() + 4)) + " <" +
                    std::to_string(data_of(c).size()) + " bytes>");
    } else if (is(c, kClaProprietary, ins::kInitialize) && c.size() > 5) {
      std::string s = "INITIALIZE";
      const auto tlvs = initialize_tlvs({c});
      for (const auto& [tag, value] : tlvs.at(0)) {
        s += " " + to_hex(Bytes{static_cast<std::uint8_t>(tag)}) + "=" +
             (tag == 0x81 || tag == 0x82 ? "<" + std::to_string(value.size()) + " bytes>"
                                         : to_hex(value));
      }
      out.push_back(s);
    } else {
      out.push_back(to_hex(c));
    }
  }
  return out;
}

Bytes byte(int v) {
  return Bytes{static_cast<std::uint8_t>(v)};
}

/// INITIALIZE's TLVs (but the PINs, 81 and 82) as the payload says they are sent.
std::map<int, Bytes> tlvs_of(const InitializePayload& p) {
  std::map<int, Bytes> out;
  out[0x80] =
      Bytes{static_cast<std::uint8_t>(p.options >> 8), static_cast<std::uint8_t>(p.options & 0xFF)};
  out[0x91] = byte(p.pin_retries);
  if (p.dkek_shares)
    out[0x92] = byte(*p.dkek_shares);
  if (p.pka)
    out[0x93] =
        Bytes{static_cast<std::uint8_t>(p.pka->first), static_cast<std::uint8_t>(p.pka->second)};
  if (p.key_domains)
    out[0x97] = byte(*p.key_domains);
  return out;
}

std::map<int, Bytes> without_pins(std::map<int, Bytes> tlvs) {
  EXPECT_EQ(tlvs.count(0x81), 1u);
  EXPECT_EQ(tlvs.count(0x82), 1u);
  tlvs.erase(0x81);
  tlvs.erase(0x82);
  return tlvs;
}

/// The MANAGE KEY DOMAIN commands the plan's key-domain actions say apply sends.
std::vector<std::string> planned_key_domain_commands(const plan::DevicePlan& plan) {
  std::vector<std::string> out;
  for (const auto& a : plan.actions) {
    const auto* d = std::any_cast<KeyDomainPayload>(&a.payload);
    if (a.kind == kind::kSetupKeyDomain && d != nullptr) {
      out.push_back(
          to_hex(Bytes{device::schsm::key_domain_op::kSetup, static_cast<std::uint8_t>(d->index)}) +
          " " + to_hex(byte(d->shares)));
    } else if (a.kind == kind::kDeleteKeyDomain && d != nullptr) {
      out.push_back(to_hex(Bytes{device::schsm::key_domain_op::kDelete,
                                 static_cast<std::uint8_t>(d->index)}) +
                    " ");
    }
  }
  return out;
}

const InitializePayload* initialize_payload(const plan::DevicePlan& plan) {
  for (const auto& a : plan.actions) {
    if (a.kind == kind::kInitialize)
      return std::any_cast<InitializePayload>(&a.payload);
  }
  return nullptr;
}

void noop(const std::string&) {}

TEST(ApplySendsPlan, InitializeAndKeyDomainsAreThePlans) {
  auto card = device::sim::SimCard::create_in_memory(kSerial);
  store::EphemeralKeeper keeper;
  auto m = base_manifest();
  m.spec.pin_retries = 5;
  m.spec.key_domains = {model::KeyDomain{2}, model::KeyDomain{0}, model::KeyDomain{}};
  m.spec.options.key_usage_counter = true;
  std::vector<Bytes> log;
  auto p = prepare(m, std::make_unique<Recording>(*card, log), keeper);
  ASSERT_TRUE(p) << p.error().to_string();
  log.clear();
  auto r = execute(*p, {}, keeper, noop);
  ASSERT_TRUE(r) << r.error().to_string();

  ASSERT_EQ(p->plan.actions.size(), 3u) << plan::render_text({p->plan}, false);
  const InitializePayload* init = initialize_payload(p->plan);
  ASSERT_NE(init, nullptr);
  EXPECT_EQ(init->pin_retries, 5);
  EXPECT_EQ(init->key_domains, 3);
  const auto sent = initialize_tlvs(log);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(without_pins(sent[0]), tlvs_of(*init));
  EXPECT_EQ(key_domain_commands(log), planned_key_domain_commands(p->plan));
  EXPECT_EQ(key_domain_commands(log), (std::vector<std::string>{"0100 02", "0101 00"}));
}

TEST(ApplySendsPlan, InitializeWithDkekAndPublicKeyAuthIsThePlans) {
  auto card = device::sim::SimCard::create_in_memory(kSerial);
  store::EphemeralKeeper keeper;
  auto m = base_manifest();
  m.spec.dkek_shares = 3;
  m.spec.public_key_auth = model::PublicKeyAuth{2, 1, false, false};
  std::vector<Bytes> log;
  auto p = prepare(m, std::make_unique<Recording>(*card, log), keeper);
  ASSERT_TRUE(p) << p.error().to_string();
  log.clear();
  auto r = execute(*p, {}, keeper, noop);
  ASSERT_TRUE(r) << r.error().to_string();
  const InitializePayload* init = initialize_payload(p->plan);
  ASSERT_NE(init, nullptr);
  const auto sent = initialize_tlvs(log);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(without_pins(sent[0]), tlvs_of(*init));
  EXPECT_EQ(sent[0].at(0x92), byte(3));
  EXPECT_EQ(sent[0].at(0x93), (Bytes{2, 1}));
  EXPECT_EQ(sent[0].count(0x97), 0u);
  EXPECT_TRUE(key_domain_commands(log).empty());
}

TEST(ApplySendsPlan, DynopsByteIsThePlans) {
  auto card = device::sim::SimCard::create_in_memory(kSerial);
  store::EphemeralKeeper keeper;
  std::vector<Bytes> log;
  {
    auto first = prepare(base_manifest(), std::make_unique<Recording>(*card, log), keeper);
    ASSERT_TRUE(first) << first.error().to_string();
    ASSERT_TRUE(execute(*first, {}, keeper, noop));
  }
  auto m = base_manifest();
  m.spec.options.key_usage_counter = true;
  auto p = prepare(m, std::make_unique<Recording>(*card, log), keeper);
  ASSERT_TRUE(p) << p.error().to_string();
  ASSERT_EQ(p->plan.actions.size(), 1u) << plan::render_text({p->plan}, false);
  const auto& a = p->plan.actions[0];
  ASSERT_EQ(a.kind, kind::kSetDynamicOptions);
  const auto* dyn = std::any_cast<DynOptionsPayload>(&a.payload);
  ASSERT_NE(dyn, nullptr);
  EXPECT_EQ(dyn->set, model::kOptKeyUsageCounter);
  const int before = p->observed.options;
  log.clear();
  auto r = execute(*p, {}, keeper, noop);
  ASSERT_TRUE(r) << r.error().to_string();
  // DYNOPS is read-modify-write of the high byte: the device's bits with the payload's applied.
  const int want = ((before | dyn->set) & ~dyn->clear) >> 8;
  EXPECT_EQ(dynops_writes(log), std::vector<int>{want});
  EXPECT_EQ(want, model::kOptKeyUsageCounter >> 8);
}

TEST(ApplySendsPlan, SwappingTheHeldManifestAfterPrepareChangesNothingSent) {
  auto a = base_manifest();
  a.spec.pin_retries = 5;
  a.spec.user_pin = model::SecretRef{model::SecretRef::Kind::kGenerate, "", {}};
  a.spec.user_pin->generate.length = 10;
  a.spec.user_pin->generate.charset = model::GenerateSpec::Charset::kAlphanumeric;
  a.spec.key_domains = {model::KeyDomain{2}, model::KeyDomain{}};
  a.spec.options.key_usage_counter = true;
  auto other = base_manifest();
  other.spec.pin_retries = 8;
  other.spec.user_pin = model::SecretRef{model::SecretRef::Kind::kGenerate, "", {}};
  other.spec.user_pin->generate.length = 6;
  other.spec.dkek_shares = 4;
  other.spec.public_key_auth = model::PublicKeyAuth{3, 2, true, false};
  other.spec.options.press_to_confirm = true;

  auto run = [&](bool swap) -> std::vector<Bytes> {
    auto card = device::sim::SimCard::create_in_memory(kSerial);
    store::EphemeralKeeper keeper;
    std::vector<Bytes> log;
    auto p = prepare(a, std::make_unique<Recording>(*card, log), keeper);
    EXPECT_TRUE(p) << p.error().to_string();
    if (!p)
      return {};
    if (swap) {
      p->manifest = std::make_shared<const model::PicoHsmManifest>(other);
    }
    log.clear();
    auto r = execute(*p, {}, keeper, noop);
    EXPECT_TRUE(r) << r.error().to_string();
    const InitializePayload* init = initialize_payload(p->plan);
    const auto tlvs = initialize_tlvs(log);
    EXPECT_NE(init, nullptr);
    EXPECT_EQ(tlvs.size(), 1u);
    if (init != nullptr && tlvs.size() == 1) {
      EXPECT_EQ(without_pins(tlvs[0]), tlvs_of(*init));
    }
    EXPECT_EQ(key_domain_commands(log), planned_key_domain_commands(p->plan));
    return log;
  };
  const auto held = run(false);
  const auto swapped = run(true);
  EXPECT_EQ(redacted(swapped), redacted(held));
  const auto tlvs = initialize_tlvs(swapped);
  ASSERT_EQ(tlvs.size(), 1u);
  EXPECT_EQ(tlvs[0].at(0x91), Bytes{5});
  EXPECT_EQ(tlvs[0].at(0x81).size(), 10u);  // generated as prepare() saw the manifest
}

// An action without the payload its kind needs is a plan apply did not make: nothing is sent.
TEST(ApplySendsPlan, MissingOrMistypedPayloadIsInternalAndSendsNothing) {
  for (const bool mistyped : {false, true}) {
    auto card = device::sim::SimCard::create_in_memory(kSerial);
    store::EphemeralKeeper keeper;
    auto m = base_manifest();
    m.spec.key_domains = {model::KeyDomain{1}};
    std::vector<Bytes> log;
    auto p = prepare(m, std::make_unique<Recording>(*card, log), keeper);
    ASSERT_TRUE(p) << p.error().to_string();
    ASSERT_EQ(p->plan.actions.size(), 2u) << plan::render_text({p->plan}, false);
    // The second step (set up key domain 0) is broken; the first must not run either.
    auto& payload = p->plan.actions[1].payload;
    if (mistyped) {
      payload = DynOptionsPayload{};
    } else {
      payload.reset();
    }
    log.clear();
    auto r = execute(*p, {}, keeper, noop);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kInternal) << r.error().to_string();
    EXPECT_TRUE(initialize_tlvs(log).empty());
    EXPECT_TRUE(log.empty()) << redacted(log).size() << " command(s) sent";
  }
}

}  // namespace
}  // namespace hsmctl::families::schsm_engine
