// SPDX-License-Identifier: Apache-2.0
// StoreData::find through its index (issue 13: a scan per lookup made a fleet's plan
// quadratic): it must answer exactly what a scan answers while entries are appended, replaced
// in place, erased, and the whole StoreData copied or moved.
#include "hsmctl/store/payload.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace hsmctl::store {
namespace {

const Entry* scan(const StoreData& d, const std::string& id) {
  for (const auto& e : d.entries) {
    if (e.id() == id)
      return &e;
  }
  return nullptr;
}

void expect_same_as_scan(const StoreData& d, int upto) {
  for (int i = 0; i < upto; ++i) {
    for (const std::string name : {"user-pin", "so-pin"}) {
      const std::string id = "pico:" + std::to_string(i) + "/" + name;
      EXPECT_EQ(d.find(id), scan(d, id)) << id;
    }
  }
  EXPECT_EQ(d.find("free"), scan(d, "free"));
  EXPECT_EQ(d.find("pico:1/"), nullptr);
  EXPECT_EQ(d.find("/user-pin"), nullptr);
}

TEST(StorePayloadIndex, FindAnswersWhatAScanAnswers) {
  StoreData d;
  expect_same_as_scan(d, 3);
  for (int i = 0; i < 50; ++i)
    d.upsert("pico:" + std::to_string(i), "user-pin", "now");
  expect_same_as_scan(d, 60);
  d.entries.push_back(Entry{"", "free", {}, {}, "now", "now", {}});  // appended directly
  for (int i = 0; i < 50; i += 3)
    d.upsert("pico:" + std::to_string(i), "so-pin", "now");
  expect_same_as_scan(d, 60);
  EXPECT_TRUE(d.erase("pico:7/user-pin"));
  EXPECT_FALSE(d.erase("pico:7/user-pin"));
  EXPECT_TRUE(d.erase("free"));
  expect_same_as_scan(d, 60);
  d.entries.erase(d.entries.begin());  // erased behind the index's back: detected, rebuilt
  expect_same_as_scan(d, 60);
  d.upsert("pico:70", "user-pin", "now");
  StoreData copy = d;
  expect_same_as_scan(copy, 80);
  copy.upsert("pico:71", "user-pin", "now");
  StoreData moved = std::move(copy);
  expect_same_as_scan(moved, 80);
  moved = d;
  expect_same_as_scan(moved, 80);
}

}  // namespace
}  // namespace hsmctl::store
