// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/primus/config.hpp"

#include "hsmctl/model/primus.hpp"

#include <gtest/gtest.h>

#include <random>

namespace hsmctl::families::primus {
namespace {

PrimusCluster sample_cluster() {
  PrimusCluster c;
  c.name = "prod";
  c.members = {{"hsm0", "10.0.0.10", 2310, 0}, {"hsm1", "10.0.0.11", 2411, 1}};
  return c;
}

PrimusPartition sample_partition(const std::string& user, int slot) {
  PrimusPartition p;
  p.name = user;
  p.cluster = "prod";
  p.user_name = user;
  p.slot_id = slot;
  p.client_id = "app";
  return p;
}

TEST(PrimusConfig, RenderIsDeterministicAndParsesBack) {
  auto c = sample_cluster();
  auto a = sample_partition("B_USER", 2);
  auto b = sample_partition("A_USER", 1);
  std::vector<PrimusPartition> all = {a, b};
  const auto parts = partitions_of(c, all);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0]->user_name, "A_USER");  // sorted by slot id
  const std::string text = render_config(c, parts);
  EXPECT_EQ(text, render_config(c, parts));
  auto parsed = parse_config(text, "primus.cfg");
  ASSERT_TRUE(parsed) << parsed.error().to_string();
  EXPECT_EQ(parsed->settings.at("primus.hsms.hsm1.port"), "\"2411\"");  // a string, as documented
  EXPECT_EQ(parsed->settings.at("primus.hsms.hsm0.slots.slot0.id"), "1");
  EXPECT_EQ(parsed->settings.at("version"), "\"1.0\"");
  EXPECT_EQ(parsed->users, (std::vector<std::string>{"A_USER", "B_USER", "A_USER", "B_USER"}));
  EXPECT_FALSE(parsed->has_inline_credentials);
  EXPECT_TRUE(diff_config(*parsed, *parsed).empty());
}

TEST(PrimusConfig, SyntaxErrorsCarryTheLine) {
  auto r =
      parse_config("version = \"1.0\";\nprimus:\n{\n  hsms = ;\n};\n", "/etc/primus/primus.cfg");
  ASSERT_FALSE(r);
  ASSERT_TRUE(r.error().where.has_value());
  EXPECT_EQ(r.error().where->file, "/etc/primus/primus.cfg");
  EXPECT_EQ(r.error().where->line, 4);
}

TEST(PrimusConfig, InlineCredentialsAreNeverRendered) {
  auto r = parse_config(
      "primus: { hsms: { hsm0: { host = \"h\"; pin = \"bHocQ-bdLVz-d53Cq-xP2qq-7ZdnG\"; "
      "slots: { slot0: { user_name = \"U\"; id = 1; proxy_password = \"pw-secret\"; }; }; }; }; };",
      "f");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->has_inline_credentials);
  EXPECT_EQ(r->settings.at("primus.hsms.hsm0.pin"), "(sensitive)");
  auto empty = parse_config("", "g");
  ASSERT_TRUE(empty);
  for (const auto& ch : diff_config(*r, *empty)) {
    EXPECT_EQ(ch.before.find("bHocQ"), std::string::npos);
    EXPECT_EQ(ch.before.find("pw-secret"), std::string::npos);
  }
}

TEST(PrimusConfig, DiffNamesChangedAddedRemoved) {
  auto live = parse_config("primus: { a = 1; b = \"x\"; };", "l");
  auto want = parse_config("primus: { a = 2; c = true; };", "d");
  ASSERT_TRUE(live && want);
  auto d = diff_config(*live, *want);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].path, "primus.cfg: primus.a");
  EXPECT_EQ(d[0].before, "1");
  EXPECT_EQ(d[0].after, "2");
  EXPECT_EQ(d[1].after, "(absent)");
  EXPECT_EQ(d[2].before, "(absent)");
}

TEST(PrimusModel, SetupPasswordFormat) {
  EXPECT_TRUE(is_setup_password_format("bHocQ-bdLVz-d53Cq-xP2qq-7ZdnG"));
  EXPECT_FALSE(is_setup_password_format("bHocQ-bdLVz-d53Cq-xP2qq-7Zdn"));
  EXPECT_FALSE(is_setup_password_format("bHocQ_bdLVz-d53Cq-xP2qq-7ZdnG"));
  EXPECT_FALSE(is_setup_password_format("bHocQ-bdLVz-d53Cq-xP2qq-7Zdn!"));
  EXPECT_FALSE(is_setup_password_format(""));
}

TEST(PrimusModel, ValidateFindsCrossObjectProblems) {
  auto c = sample_cluster();
  auto a = sample_partition("A", 1);
  auto b = sample_partition("B", 1);  // same slot id
  auto d = sample_partition("A", 3);  // same user twice
  d.name = "d";
  auto e = sample_partition("E", 4);
  e.cluster = "missing";
  auto f = sample_partition("F", 5);
  f.expect_token_label = "OTHER";
  auto errors = validate({c}, {a, b, d, e, f});
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0].path, "spec.slotId");
  EXPECT_EQ(errors[1].path, "spec.userName");
  EXPECT_EQ(errors[2].path, "spec.cluster");
  EXPECT_EQ(errors[3].path, "spec.expect.tokenLabel");
  c.config_path = "/usr/local/primus/etc/primus.cfg";
  EXPECT_EQ(validate({c}, {}).size(), 1u);
  EXPECT_EQ(default_validity_hours(Deployment::kCloudHsm), 168);
  EXPECT_EQ(validity_hours(a, sample_cluster()), 72);
}

}  // namespace
}  // namespace hsmctl::families::primus

namespace hsmctl::families::primus {
namespace {

// Issue 10 item 4: every string is rendered so that libconfig reads back exactly that string.
TEST(PrimusConfigEscaping, InjectionAttemptsStayOneValue) {
  auto c = sample_cluster();
  auto p = sample_partition("A_USER", 1);
  for (const std::string& evil :
       {std::string("/tmp/p.log\"; trace_mask = 255; y = \"z"), std::string("/tmp/a\\tb"),
        std::string("/tmp/quote\"only"), std::string("/tmp/back\\slash\\")}) {
    c.log.file = evil;
    const std::string text = render_config(c, {&p});
    auto parsed = parse_config(text, "primus.cfg");
    ASSERT_TRUE(parsed) << evil << "\n" << text;
    EXPECT_EQ(parsed->strings["primus.log.file"], evil) << text;
    EXPECT_EQ(parsed->settings.count("primus.log.trace_mask"), 0u) << text;
  }
  // ... and the manifest refuses such a path in the first place.
  c.log.file = "/tmp/p.log\"; trace_mask = 255; y = \"z";
  EXPECT_FALSE(validate({c}, {}).empty());
  c.log.file = "/var/log/primus/p11.log";
  EXPECT_TRUE(validate({c}, {}).empty());
}

TEST(PrimusConfigEscaping, RenderParseCompareOverRandomStrings) {
  std::mt19937 rng(20261202);
  std::uniform_int_distribution<int> len(0, 40);
  std::uniform_int_distribution<int> byte(1, 255);
  auto random_string = [&] {
    std::string s;
    const int n = len(rng);
    for (int i = 0; i < n; ++i)
      s += static_cast<char>(byte(rng));
    return s;
  };
  for (int iter = 0; iter < 2000; ++iter) {
    auto c = sample_cluster();
    c.members[0].host = random_string();
    c.log.file = random_string();
    if (c.log.file.empty())
      c.log.file = "x";
    ServiceProxy sp;
    sp.user = random_string();
    c.service_proxy = sp;
    auto p = sample_partition(random_string(), 1);
    p.client_id = random_string();
    if (p.client_id.empty())
      p.client_id = "y";
    const std::string text = render_config(c, {&p});
    auto parsed = parse_config(text, "primus.cfg");
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    EXPECT_EQ(parsed->strings["primus.log.file"], c.log.file);
    EXPECT_EQ(parsed->strings["primus.hsms.hsm0.host"], c.members[0].host);
    EXPECT_EQ(parsed->strings["primus.hsms.hsm0.slots.slot0.user_name"], p.user_name);
    EXPECT_EQ(parsed->strings["primus.hsms.hsm0.slots.slot0.client_id"], p.client_id);
    EXPECT_EQ(parsed->strings["primus.hsms.hsm0.slots.slot0.proxy_user"], sp.user);
    ASSERT_EQ(parsed->users.size(), 2u);
    if (::testing::Test::HasFailure())
      break;
  }
}

}  // namespace
}  // namespace hsmctl::families::primus
