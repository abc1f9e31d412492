// SPDX-License-Identifier: Apache-2.0
// model/limits.hpp and the PicoHSM schema state the same bounds and defaults: the schema file is
// read as shipped (schemas/picohsm.v1alpha1.schema.json) and compared with the constants, and
// the structs that carry a default use the constant.

#include "hsmctl/model/limits.hpp"

#include "hsmctl/device/schsm/observe.hpp"
#include "hsmctl/device/schsm/protocol.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/model/pico_hsm.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>

#ifndef HSMCTL_SOURCE_DIR
#error "HSMCTL_SOURCE_DIR must be defined by tests/CMakeLists.txt"
#endif

namespace hsmctl::model {
namespace {

using nlohmann::json;

json pico_schema() {
  std::ifstream in(std::string(HSMCTL_SOURCE_DIR) + "/schemas/picohsm.v1alpha1.schema.json");
  EXPECT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

const json& spec_property(const json& schema, const char* name) {
  return schema.at("properties").at("spec").at("properties").at(name);
}

TEST(Limits, PinRetriesAgreeWithTheSchema) {
  const json schema = pico_schema();
  const json& p = spec_property(schema, "pinRetries");
  EXPECT_EQ(p.at("minimum").get<int>(), kMinPinRetries);
  EXPECT_EQ(p.at("maximum").get<int>(), kMaxPinRetries);
  EXPECT_EQ(p.at("default").get<int>(), kDefaultPinRetries);
  // The policy fits what the protocol can carry.
  EXPECT_LE(kMaxPinRetries, kMaxProtocolPinRetries);
}

TEST(Limits, DkekSharesAgreeWithTheSchema) {
  const json schema = pico_schema();
  const json& top = spec_property(schema, "dkekShares");
  EXPECT_EQ(top.at("minimum").get<int>(), kMinDkekShares);
  EXPECT_EQ(top.at("maximum").get<int>(), kMaxDkekShares);
  const json& per_domain =
      spec_property(schema, "keyDomains").at("items").at("properties").at("dkekShares");
  EXPECT_EQ(per_domain.at("minimum").get<int>(), kMinDkekShares);
  EXPECT_EQ(per_domain.at("maximum").get<int>(), kMaxDkekShares);
  EXPECT_LE(kMaxDkekShares, device::schsm::kMaxProtocolDkekShares);
}

TEST(Limits, KeyDomainsAgreeWithTheSchema) {
  const json schema = pico_schema();
  const json& domains = spec_property(schema, "keyDomains");
  EXPECT_EQ(domains.at("minItems").get<int>(), kMinKeyDomains);
  EXPECT_EQ(domains.at("maxItems").get<int>(), kMaxKeyDomains);
  EXPECT_LE(kMaxKeyDomains, device::schsm::kMaxKeyDomainSlots);
}

TEST(Limits, PublicKeyAuthAgreesWithTheSchema) {
  const json schema = pico_schema();
  const json& pka = spec_property(schema, "publicKeyAuth").at("properties");
  EXPECT_EQ(pka.at("keys").at("minimum").get<int>(), kMinPkaKeys);
  EXPECT_EQ(pka.at("keys").at("maximum").get<int>(), kMaxPkaKeys);
  EXPECT_EQ(pka.at("required").at("minimum").get<int>(), kMinPkaKeys);
  EXPECT_EQ(pka.at("required").at("maximum").get<int>(), kMaxPkaKeys);
}

TEST(Limits, EveryDefaultOfPinRetriesIsTheConstant) {
  EXPECT_EQ(PicoHsmSpec{}.pin_retries, kDefaultPinRetries);
  EXPECT_EQ(device::schsm::InitializeParams{}.pin_retries, kDefaultPinRetries);
  EXPECT_EQ(device::schsm::ObserveRequest{}.expected_pin_retries, kDefaultPinRetries);
}

TEST(Limits, ShortPinCaps) {
  EXPECT_EQ(max_pin_retries_for_length(6), 3);
  EXPECT_EQ(max_pin_retries_for_length(7), 5);
  for (int len = kMinUserPinLength; len <= kMaxUserPinLength; ++len) {
    EXPECT_GE(max_pin_retries_for_length(len), kMinPinRetries) << len;
    EXPECT_LE(max_pin_retries_for_length(len), kMaxPinRetries) << len;
  }
  EXPECT_EQ(max_pin_retries_for_length(8), kMaxPinRetries);
}

}  // namespace
}  // namespace hsmctl::model
