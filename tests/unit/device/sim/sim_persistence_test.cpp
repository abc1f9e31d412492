// SPDX-License-Identifier: Apache-2.0
// The sim:PATH state file: persistence across opens, no clear PINs, locking, bad files.
#include "sim_test_util.hpp"

#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/device/sim/sim_state.hpp"
#include "hsmctl/util/atomic_file.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace hsmctl::device::sim {
namespace {

using namespace hsmctl::device::sim::testing;  // NOLINT(google-build-using-namespace)

class SimPersistence : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hsmctl-sim-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/pico.json";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string file_text() {
    auto content = read_file(path_);
    EXPECT_TRUE(content.has_value());
    return content ? std::string(content->begin(), content->end()) : std::string();
  }
  std::string dir_;
  std::string path_;
};

TEST_F(SimPersistence, CreatesFreshDeviceWithRandomSerial) {
  auto a = SimCard::open_file(path_);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_TRUE(std::filesystem::exists(path_));
  EXPECT_EQ((*a)->describe(), "sim:" + path_);
  ASSERT_EQ(sw(**a, kSelect), "9000");
  EXPECT_EQ(sw(**a, "00200081"), "6A88");
  std::string other = dir_ + "/other.json";
  auto b = SimCard::open_file(other);
  ASSERT_TRUE(b);
  EXPECT_NE((*a)->state().persistent.serial, (*b)->state().persistent.serial);
}

TEST_F(SimPersistence, StateSurvivesReopenButSessionsDoNot) {
  Bytes serial;
  {
    auto card = SimCard::open_file(path_);
    ASSERT_TRUE(card);
    serial = (*card)->state().persistent.serial;
    ASSERT_EQ(sw(**card, kSelect), "9000");
    ASSERT_EQ(sw(**card, kInitScHsmTool), "9000");
    ASSERT_EQ(verify_pin(**card, "313131313131"), "63C2");
  }
  auto card = SimCard::open_file(path_);
  ASSERT_TRUE(card);
  EXPECT_EQ((*card)->state().persistent.serial, serial);
  EXPECT_EQ(sw(**card, "00200081"), "6A82");  // a new process: nothing selected
  ASSERT_EQ(sw(**card, kSelect), "9000");
  EXPECT_EQ(sw(**card, "00200081"), "63C2");
  EXPECT_EQ(sw(**card, "00200088"), "63CF");
  EXPECT_EQ(verify_pin(**card), "9000");
  // The device key and its certificate were persisted too.
  EXPECT_EQ((*card)->state().persistent.device_key_generation, 1);
  EXPECT_EQ(tx(**card,
               "00B12F0304540200"
               "0000")
                .find("0408" + to_hex(serial)),
            10u);
}

TEST_F(SimPersistence, FileNeverContainsAClearPin) {
  auto card = SimCard::open_file(path_);
  ASSERT_TRUE(card);
  ASSERT_EQ(sw(**card, kSelect), "9000");
  ASSERT_EQ(sw(**card, kInitScHsmTool), "9000");
  ASSERT_EQ(sw(**card,
               "00240081"
               "0C" +
                   kPinHex + "393837363534"),
            "9000");
  std::string text = file_text();
  for (const std::string& secret :
       {std::string("648219"), std::string("987654"), std::string("57621880"), kPinHex, kSoHex,
        std::string("393837363534")}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << "state file contains a PIN";
    std::string lower = secret;
    for (auto& ch : lower)
      ch = static_cast<char>(std::tolower(ch));
    EXPECT_EQ(text.find(lower), std::string::npos);
  }
  EXPECT_NE(text.find("\"verifier\""), std::string::npos);
}

TEST_F(SimPersistence, OtherProcessChangesAreSeenOnTheNextApdu) {
  auto a = SimCard::open_file(path_);
  auto b = SimCard::open_file(path_);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(sw(**a, kSelect), "9000");
  ASSERT_EQ(sw(**b, kSelect), "9000");
  ASSERT_EQ(sw(**a, kInitScHsmTool), "9000");
  EXPECT_EQ(sw(**b, "00200081"), "63C3");
}

TEST_F(SimPersistence, ExclusiveUseHoldsTheLockFile) {
  auto card = SimCard::open_file(path_);
  ASSERT_TRUE(card);
  auto probe = [&] {
    int fd = ::open((path_ + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    bool free_now = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    ::close(fd);
    return free_now;
  };
  EXPECT_TRUE(probe());
  ASSERT_TRUE((*card)->begin_exclusive());
  EXPECT_FALSE(probe());
  auto nested = (*card)->begin_exclusive();
  ASSERT_FALSE(nested);
  EXPECT_EQ(nested.error().code, Errc::kInternal);
  EXPECT_EQ(sw(**card, kSelect), "9000");  // APDUs work while exclusive
  (*card)->end_exclusive();
  EXPECT_TRUE(probe());
}

TEST_F(SimPersistence, CorruptOrUnknownFilesAreClearErrors) {
  ASSERT_TRUE(write_file_atomically(path_, bytes_of("{ not json")));
  auto corrupt = SimCard::open_file(path_);
  ASSERT_FALSE(corrupt);
  EXPECT_EQ(corrupt.error().code, Errc::kUnavailable);
  EXPECT_NE(corrupt.error().message.find(path_), std::string::npos);

  ASSERT_TRUE(
      write_file_atomically(path_, bytes_of(R"({"format":"hsmctl-sim-pico-hsm","version":99})")));
  auto future = SimCard::open_file(path_);
  ASSERT_FALSE(future);
  EXPECT_EQ(future.error().code, Errc::kUnavailable);
  EXPECT_NE(future.error().message.find("version"), std::string::npos);

  ASSERT_TRUE(
      write_file_atomically(path_, bytes_of(R"({"format":"hsmctl-sim-pico-hsm","version":1})")));
  auto truncated = SimCard::open_file(path_);
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code, Errc::kUnavailable);

  ASSERT_TRUE(write_file_atomically(path_, bytes_of("[1,2,3]")));
  EXPECT_FALSE(SimCard::open_file(path_));
}

TEST_F(SimPersistence, CorruptionWhileOpenFailsTheApduWithoutCrashing) {
  auto card = SimCard::open_file(path_);
  ASSERT_TRUE(card);
  ASSERT_TRUE(write_file_atomically(path_, bytes_of("garbage")));
  auto r = (*card)->transmit(*from_hex(kSelect));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
}

TEST_F(SimPersistence, JsonRoundTripKeepsEverything) {
  auto card = SimCard::create_in_memory("1122334455667788");
  ASSERT_EQ(sw(*card, kSelect), "9000");
  ASSERT_EQ(sw(*card,
               "805000001D"
               "80020021"
               "8106" +
                   kPinHex + "8208" + kSoHex +
                   "910105"
                   "93020301"),
            "9000");
  ASSERT_TRUE(card->install_key(5, 0));
  card->state().persistent.defects.initialize_6400_first_attempt = true;
  card->state().persistent.defects.emulation_zero_serial = true;
  card->state().persistent.faults.lose_write_after_answer = {0x24, 0x2C};
  std::string text = card->state().to_json();
  auto back = SimState::persistent_from_json(text, "test");
  ASSERT_TRUE(back) << back.error().message;
  SimState copy;
  copy.persistent = *back;
  EXPECT_EQ(copy.to_json(), text);
  EXPECT_TRUE(back->defects.initialize_6400_first_attempt);
  EXPECT_TRUE(back->defects.emulation_zero_serial);
  EXPECT_EQ(back->faults.lose_write_after_answer, (std::vector<std::uint8_t>{0x24, 0x2C}));
  EXPECT_TRUE(back->keys.at(0).secp256k1);   // the device key
  EXPECT_FALSE(back->keys.at(5).secp256k1);  // a generated key
  EXPECT_EQ(back->user.max_retries, 5);
}

TEST_F(SimPersistence, FilesWithoutCurveOrFaultsStillLoad) {
  auto card = initialized_card();
  std::string text = card->state().to_json();
  // What a file written before these fields existed looks like (dump(2): one field per line).
  for (const std::string field : {"\"curve\": \"secp256k1\",", "\"emulation_zero_serial\": false,",
                                  "\"faults\": {\n    \"lose_write_after_answer\": []\n  },"}) {
    auto at = text.find(field);
    ASSERT_NE(at, std::string::npos) << field << " in " << text;
    text.erase(at, field.size());
  }
  auto back = SimState::persistent_from_json(text, "old");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_FALSE(back->keys.at(0).secp256k1);
  EXPECT_FALSE(back->defects.emulation_zero_serial);
}

}  // namespace
}  // namespace hsmctl::device::sim
