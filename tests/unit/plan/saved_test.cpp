// SPDX-License-Identifier: Apache-2.0
// The saved-plan codec (plan/saved.hpp): a round trip keeps every rendered field, the file
// conforms to schemas/savedplan.v1alpha1.schema.json, and an edited body, a wrong MAC, another
// format version or a malformed body are refused before anything of the body is used.

#include "hsmctl/plan/saved.hpp"

#include "support/plan_schema.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace hsmctl::plan {
namespace {

using ::testing::HasSubstr;

/// A stand-in MAC (the real one is keyed: reconcile/saved_plan.hpp).
std::string fake_mac(std::string_view body) {
  std::size_t h = std::hash<std::string_view>{}(body);
  char hex[65];
  for (int i = 0; i < 64; ++i)
    hex[i] = "0123456789abcdef"[(h >> ((i % 16) * 4)) & 15];
  hex[64] = '\0';
  return hex;
}

SavedPlan sample() {
  SavedPlan s;
  s.hsmctl_version = "0.1.0";
  s.files = {"manifests"};
  s.manifests = {{"manifests/a.yaml", std::string(64, 'A')}};
  s.selectors = {"env=prod"};
  s.targets = {"hsm-a"};
  s.options = {{"probe", "true"}};
  SavedUnit u;
  u.name = "hsm-a";
  u.noun = "device";
  u.device_uri = "sim:a.json";
  u.observation = {{"serial", "0102030405060708"}, {"user PIN retry counter", "3"}};
  u.plan.name = "hsm-a";
  u.plan.serial = "0102030405060708";
  u.plan.transport = "sim:a.json";
  u.plan.initialized = true;
  Action a;
  a.kind = "setup-key-domain";
  a.action_class = ActionClass::kReinitialize;
  a.summary = "set up key domain 1";
  a.reason = "why ü";
  a.changes = {{"spec.keyDomains", "1", "2", true}};
  a.would_lose = {"all keys"};
  a.attributes = {{"key_domain", 1LL}, {"kcv", std::string("00112233AABBCCDD")}};
  u.plan.actions.push_back(a);
  u.plan.notes = {"a note"};
  u.plan.pending = {"import shares"};
  s.units.push_back(u);
  SavedUnit failed;
  failed.name = "hsm-b";
  failed.noun = "device";
  failed.plan.name = "hsm-b";
  failed.plan.error = DeviceError{"unavailable", "no card"};
  s.units.push_back(failed);
  return s;
}

TEST(SavedPlan, RoundTripKeepsEverything) {
  const SavedPlan s = sample();
  const std::string text = encode_saved_plan(s, fake_mac);
  auto back = decode_saved_plan(text, fake_mac);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->hsmctl_version, s.hsmctl_version);
  EXPECT_EQ(back->files, s.files);
  ASSERT_EQ(back->manifests.size(), 1u);
  EXPECT_EQ(back->manifests[0].path, "manifests/a.yaml");
  EXPECT_EQ(back->selectors, s.selectors);
  EXPECT_EQ(back->targets, s.targets);
  EXPECT_EQ(back->options, s.options);
  ASSERT_EQ(back->units.size(), 2u);
  EXPECT_EQ(back->units[0].observation, s.units[0].observation);
  EXPECT_EQ(back->units[0].device_uri, "sim:a.json");
  for (std::size_t i = 0; i < 2; ++i)
    EXPECT_EQ(canonical_plan(back->units[i].plan), canonical_plan(s.units[i].plan));
  // Attributes keep their type (the JSON plan renders key_domain as an integer).
  EXPECT_EQ(std::get<long long>(back->units[0].plan.actions[0].attributes[0].value), 1);
  EXPECT_EQ(render_json({back->units[0].plan}), render_json({s.units[0].plan}));
  EXPECT_EQ(render_markdown({back->units[0].plan, back->units[1].plan}),
            render_markdown({s.units[0].plan, s.units[1].plan}));
}

TEST(SavedPlan, FileConformsToItsSchema) {
  const std::string text = encode_saved_plan(sample(), fake_mac);
  EXPECT_EQ(testing::savedplan_schema_errors(text), "");
  // The schema is strict: an unknown member fails (so the check above can fail).
  auto doc = nlohmann::json::parse(text);
  doc["plan"]["extra"] = 1;
  EXPECT_NE(testing::savedplan_schema_errors(doc.dump()), "");
}

TEST(SavedPlan, AnEditedBodyIsRefused) {
  const std::string text = encode_saved_plan(sample(), fake_mac);
  auto doc = nlohmann::json::parse(text);
  doc["plan"]["units"][0]["plan"]["actions"][0]["summary"] = "something else";
  auto back = decode_saved_plan(doc.dump(2), fake_mac);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, Errc::kRefused);
  EXPECT_THAT(back.error().message, HasSubstr("integrity check"));
  // Only whitespace changed: still the same body.
  EXPECT_TRUE(decode_saved_plan(nlohmann::json::parse(text).dump(), fake_mac));
}

TEST(SavedPlan, AnotherKeyIsRefused) {
  const std::string text = encode_saved_plan(sample(), fake_mac);
  auto other = [](std::string_view body) { return fake_mac(std::string(body) + "x"); };
  auto back = decode_saved_plan(text, other);
  ASSERT_FALSE(back);
  EXPECT_THAT(back.error().message, HasSubstr("integrity check"));
}

TEST(SavedPlan, AnotherFormatVersionIsRefusedByName) {
  auto doc = nlohmann::json::parse(encode_saved_plan(sample(), fake_mac));
  doc["format_version"] = "hsmctl.dev/savedplan/v2";
  auto back = decode_saved_plan(doc.dump(), fake_mac);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, Errc::kRefused);
  EXPECT_THAT(back.error().message, HasSubstr("\"hsmctl.dev/savedplan/v2\" is not supported"));
  EXPECT_THAT(back.error().message, HasSubstr(kSavedPlanFormat));
}

TEST(SavedPlan, NotASavedPlanIsRefused) {
  for (const char* text : {"", "not json", "[]", R"({"format_version": 1})",
                           R"({"format_version":"hsmctl.dev/savedplan/v1alpha1"})"}) {
    auto back = decode_saved_plan(text, fake_mac);
    ASSERT_FALSE(back) << text;
    EXPECT_EQ(back.error().code, Errc::kRefused) << text;
  }
}

TEST(SavedPlan, AMalformedBodyWithAValidMacIsRefused) {
  // A body a future writer might produce: authenticated, but not what this build reads.
  nlohmann::json body = {{"hsmctl_version", "0.1.0"}};
  nlohmann::ordered_json file;
  file["format_version"] = kSavedPlanFormat;
  file["hmac_sha256"] = fake_mac(body.dump());
  file["plan"] = body;
  auto back = decode_saved_plan(file.dump(), fake_mac);
  ASSERT_FALSE(back);
  EXPECT_THAT(back.error().message, HasSubstr("malformed saved plan"));
}

TEST(SavedPlan, PlanDifferenceNamesTheActions) {
  const SavedPlan s = sample();
  DevicePlan fresh = s.units[0].plan;
  EXPECT_EQ(plan_difference(s.units[0].plan, fresh), "");
  fresh.actions.clear();
  EXPECT_EQ(plan_difference(s.units[0].plan, fresh), "actions: set up key domain 1 → (no actions)");
  fresh = s.units[0].plan;
  fresh.actions[0].changes[0].after = "3";
  EXPECT_THAT(plan_difference(s.units[0].plan, fresh), HasSubstr("details of its actions"));
}

DeviceCertificate certificate(const std::string& fingerprint) {
  return {"ESPICOHSMTR00001",
          "ESPICOHSMTR00001",
          "2023-03-21",
          "2070-12-31",
          fingerprint,
          "verified",
          "self-signed ESPICOHSMTR00001"};
}

// Issue 11: a saved plan carries the device certificate the plan showed, for `show` and for
// the comparison at apply; a plan saved without one still loads.
TEST(SavedPlan, DeviceCertificateRoundTripsAndIsOptional) {
  SavedPlan s = sample();
  s.units[0].plan.device_certificate = certificate(std::string(64, 'a'));
  const std::string text = encode_saved_plan(s, fake_mac);
  EXPECT_EQ(testing::savedplan_schema_errors(text), "");
  auto back = decode_saved_plan(text, fake_mac);
  ASSERT_TRUE(back) << back.error().to_string();
  ASSERT_TRUE(back->units[0].plan.device_certificate.has_value());
  EXPECT_EQ(back->units[0].plan.device_certificate->fingerprint, std::string(64, 'a'));
  EXPECT_EQ(back->units[0].plan.device_certificate->detail, "self-signed ESPICOHSMTR00001");
  EXPECT_FALSE(back->units[1].plan.device_certificate.has_value());
  EXPECT_EQ(render_text({back->units[0].plan}, false), render_text({s.units[0].plan}, false));
  EXPECT_EQ(render_markdown({back->units[0].plan}), render_markdown({s.units[0].plan}));

  // The same file without the member (as saved before it existed) loads, without a certificate.
  auto doc = nlohmann::json::parse(text);
  doc["plan"]["units"][0]["plan"].erase("device_certificate");
  const std::string old_text = encode_saved_plan(s, [&](std::string_view) { return ""; });
  nlohmann::json file = nlohmann::json::parse(old_text);
  file["plan"] = doc["plan"];
  file["hmac_sha256"] = fake_mac(doc["plan"].dump());
  EXPECT_EQ(testing::savedplan_schema_errors(file.dump()), "");
  auto old_back = decode_saved_plan(file.dump(), fake_mac);
  ASSERT_TRUE(old_back) << old_back.error().to_string();
  EXPECT_FALSE(old_back->units[0].plan.device_certificate.has_value());
}

TEST(SavedPlan, PlanDifferenceNamesTheDeviceCertificate) {
  DevicePlan saved = sample().units[0].plan;
  saved.device_certificate = certificate(std::string(64, 'a'));
  DevicePlan fresh = saved;
  EXPECT_EQ(plan_difference(saved, fresh), "");
  fresh.device_certificate = certificate(std::string(64, 'b'));
  EXPECT_THAT(plan_difference(saved, fresh),
              HasSubstr("its device certificate changed: ESPICOHSMTR00001 issued by "
                        "ESPICOHSMTR00001, key fingerprint " +
                        std::string(64, 'a')))
      << plan_difference(saved, fresh);
}

}  // namespace
}  // namespace hsmctl::plan
