// SPDX-License-Identifier: Apache-2.0
// PcscTransport against a real pcscd + vpcd + hsmctl-vcard.

#include "pcsc_fixture.hpp"

#include "hsmctl/device/connect/open.hpp"
#include "hsmctl/device/pcsc/pcsc_transport.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/util/bytes.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace hsmctl::e2e {
namespace {

using ::testing::HasSubstr;
namespace pcsc = device::pcsc;
namespace schsm = device::schsm;

const Bytes kSelectHsm = *from_hex("00 A4 04 00 0B E8 2B 06 01 04 01 81 C3 1F 02 01 00");

std::uint16_t sw_of(const Bytes& r) {
  return r.size() < 2 ? 0 : static_cast<std::uint16_t>((r[r.size() - 2] << 8) | r.back());
}

class PcscTransportE2e : public PcscE2eTest {};

TEST_F(PcscTransportE2e, ListReadersShowsTheVcardWithThePicoAtr) {
  auto readers = pcsc::list_readers();
  ASSERT_TRUE(readers) << readers.error().message;
  const pcsc::ReaderInfo* slot0 = nullptr;
  const pcsc::ReaderInfo* slot1 = nullptr;
  for (const auto& r : *readers) {
    if (r.name == kReader0) {
      slot0 = &r;
    }
    if (r.name == kReader1) {
      slot1 = &r;
    }
  }
  ASSERT_NE(slot0, nullptr) << "no reader named " << kReader0;
  EXPECT_TRUE(slot0->card_present);
  EXPECT_EQ(to_hex(slot0->atr), kPicoAtrHex);
  EXPECT_TRUE(pcsc::atr_supports_extended_apdus(slot0->atr));
  // Slot 1 must be served too (vpcd crashes pcscd otherwise); by default it holds a non-HSM card.
  ASSERT_NE(slot1, nullptr) << "no reader named " << kReader1;
  EXPECT_TRUE(slot1->card_present);
  EXPECT_NE(to_hex(slot1->atr), kPicoAtrHex);
}

TEST_F(PcscTransportE2e, SelectThroughPcscTransportReturnsTheFcp) {
  auto t = pcsc::connect(kReader0);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ((*t)->describe(), std::string("pcsc:") + kReader0);
  auto r = (*t)->transmit(kSelectHsm);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(sw_of(*r), 0x9000);
  ASSERT_GE(r->size(), 2U);
  EXPECT_EQ((*r)[0], 0x62) << to_hex_spaced(*r);  // FCP template
  // Tag 85: options (2 bytes), FF = Pico, firmware major.minor.
  EXPECT_THAT(to_hex(*r), HasSubstr("8505")) << to_hex_spaced(*r);
  EXPECT_THAT(to_hex(*r), HasSubstr("FF0606")) << to_hex_spaced(*r);
}

TEST_F(PcscTransportE2e, ConnectWithEmptySubstringPicksTheFirstCard) {
  auto t = pcsc::connect("");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ((*t)->describe(), std::string("pcsc:") + kReader0);
}

TEST_F(PcscTransportE2e, ConnectToAnUnknownReaderNamesTheReaders) {
  auto t = pcsc::connect("no such reader");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::kUnavailable);
  EXPECT_THAT(t.error().message, HasSubstr("no reader matching 'no such reader'"));
  EXPECT_THAT(t.error().message, HasSubstr(kReader0));

  auto exact = pcsc::connect_reader("hsmctl vcard");
  ASSERT_FALSE(exact);
  EXPECT_THAT(exact.error().message, HasSubstr("no reader named 'hsmctl vcard'"));
}

TEST_F(PcscTransportE2e, SlotOneHoldsACardThatIsNotAnHsm) {
  auto t = pcsc::connect_reader(kReader1);
  ASSERT_TRUE(t) << t.error().message;
  auto r = (*t)->transmit(kSelectHsm);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(sw_of(*r), 0x6A82);
}

TEST_F(PcscTransportE2e, BeginAndEndTransaction) {
  auto t = pcsc::connect(kReader0);
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_TRUE((*t)->begin_exclusive());
  auto nested = (*t)->begin_exclusive();
  ASSERT_FALSE(nested);
  EXPECT_THAT(nested.error().message, HasSubstr(kReader0));
  auto r = (*t)->transmit(kSelectHsm);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(sw_of(*r), 0x9000);
  (*t)->end_exclusive();
  (*t)->end_exclusive();  // a second end is harmless

  // Released: another connection can take the card exclusively now (it would block forever if
  // the first transaction were still held).
  auto other = pcsc::connect(kReader0);
  ASSERT_TRUE(other) << other.error().message;
  ASSERT_TRUE((*other)->begin_exclusive());
  auto r2 = (*other)->transmit(kSelectHsm);
  ASSERT_TRUE(r2) << r2.error().message;
  EXPECT_EQ(sw_of(*r2), 0x9000);
  (*other)->end_exclusive();
}

TEST_F(PcscTransportE2e, ExtendedLengthApdusPassThroughPcscdAndVpcd) {
  auto t = pcsc::connect(kReader0);
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_TRUE((*t)->transmit(kSelectHsm));
  // ENUMERATE OBJECTS with an extended Le (00 00 00): case 2E.
  auto r = (*t)->transmit(*from_hex("80 58 00 00 00 00 00"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(sw_of(*r), 0x9000) << to_hex_spaced(*r);
  // 300 bytes of command data (case 3E) reach the card: it answers with a status word rather
  // than the transport failing.
  Bytes big = *from_hex("00 A4 04 00 00 01 2C");
  big.resize(big.size() + 300, 0x41);
  auto r2 = (*t)->transmit(big);
  ASSERT_TRUE(r2) << r2.error().message;
  EXPECT_GE(r2->size(), 2U);
  EXPECT_NE(sw_of(*r2), 0x9000) << "a 300-byte AID cannot select anything";
}

TEST_F(PcscTransportE2e, ConnectBySerialFindsTheCardAndNamesWhatItChecked) {
  {
    // The chosen card stays held (SCardBeginTransaction) until the transport lets it go: a
    // second probe in this process would wait for it, so each connection is closed first.
    auto t = device::connect::connect_by_serial(kVcardSerial);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ((*t)->describe(), std::string("pcsc:") + kReader0);
    // The probe's SELECT and TokenInfo are answered again without the wire.
    const int probed = (*t)->wire_apdus();
    schsm::SmartCardHsm hsm(**t);
    ASSERT_TRUE((*t)->begin_exclusive());
    ASSERT_TRUE(hsm.select());
    auto serial = hsm.chip_serial();
    ASSERT_TRUE(serial) << serial.error().message;
    EXPECT_EQ(*serial, kVcardSerial);
    EXPECT_EQ((*t)->wire_apdus(), probed);
    ASSERT_TRUE(hsm.pin_status(schsm::PinRef::kUser));
    EXPECT_EQ((*t)->wire_apdus(), probed + 1);
  }
  {
    auto lower = device::connect::connect_by_serial("e2e0c0ffee000001");
    ASSERT_TRUE(lower) << lower.error().message;
  }

  auto missing = device::connect::connect_by_serial("0000000000000000");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kUnavailable);
  EXPECT_THAT(missing.error().message, HasSubstr("0000000000000000"));
  EXPECT_THAT(missing.error().message,
              HasSubstr(std::string("'") + kReader0 + "': serial " + kVcardSerial));
  EXPECT_THAT(missing.error().message, HasSubstr(kReader1));  // the non-HSM card was checked too
}

// ---- a second Pico HSM in slot 1 --------------------------------------------------------------

constexpr const char* kSecondSerial = "E2E0C0FFEE000002";

class PcscTwoCardsE2e : public PcscE2eTest {
 protected:
  static void SetUpTestSuite() {
    SandboxOptions options;
    options.second_serial = kSecondSerial;
    start_suite(options);
  }
};

TEST_F(PcscTwoCardsE2e, ConnectBySerialChoosesTheCardNotTheReaderOrder) {
  {
    auto second = device::connect::connect_by_serial(kSecondSerial);
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ((*second)->describe(), std::string("pcsc:") + kReader1);
  }  // let the card go: the next probe asks it too
  auto first = device::connect::connect_by_serial(kVcardSerial);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ((*first)->describe(), std::string("pcsc:") + kReader0);
}

// ---- card removal -----------------------------------------------------------------------------

class PcscRemovalE2e : public PcscE2eTest {};

TEST_F(PcscRemovalE2e, CardVanishingMidRunIsAnUnavailableErrorNamingTheReader) {
  auto t = pcsc::connect(kReader0);
  ASSERT_TRUE(t) << t.error().message;
  auto r = (*t)->transmit(kSelectHsm);
  ASSERT_TRUE(r) << r.error().message;

  ASSERT_TRUE(sandbox().kill_card());
  // The next APDUs fail: no hang, no invented status word, the reader is named. (With Debian
  // 12's vpcd, pcscd itself aborts shortly after the card side goes away; either way the
  // transport must report kUnavailable.)
  for (int i = 0; i < 3; ++i) {
    auto after = (*t)->transmit(kSelectHsm);
    ASSERT_FALSE(after) << "attempt " << i << " got " << to_hex_spaced(*after);
    EXPECT_EQ(after.error().code, Errc::kUnavailable);
    EXPECT_THAT(after.error().message, HasSubstr(kReader0));
  }
  // Soon pcscd notices too (its next presence poll): connecting then fails as well.
  Result<std::unique_ptr<device::Transport>> again = pcsc::connect_reader(kReader0);
  for (int i = 0; i < 200 && again; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    again = pcsc::connect_reader(kReader0);
  }
  ASSERT_FALSE(again) << "pcscd still offers the card 20 s after it vanished";
  EXPECT_EQ(again.error().code, Errc::kUnavailable);
  EXPECT_THAT(again.error().message,
              ::testing::AnyOf(HasSubstr(std::string("no card in reader '") + kReader0),
                               HasSubstr("pcscd is not running")));

  // "Re-plugged": a restarted sandbox serves a working card again.
  auto back = sandbox().restart();
  ASSERT_TRUE(back) << back.error().message;
  auto fresh = pcsc::connect(kReader0);
  ASSERT_TRUE(fresh) << fresh.error().message;
  auto r2 = (*fresh)->transmit(kSelectHsm);
  ASSERT_TRUE(r2) << r2.error().message;
  EXPECT_EQ(sw_of(*r2), 0x9000);
}

// ---- no daemon ----------------------------------------------------------------------------------

// libpcsclite reads PCSCLITE_CSOCK_NAME once per process, so this runs in a re-executed child.
TEST(PcscNoDaemonE2e, MissingPcscdIsAClearUnavailableError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ::setenv("PCSCLITE_CSOCK_NAME", "/nonexistent/hsmctl-e2e/pcscd.comm", 1);
        auto readers = pcsc::list_readers();
        if (readers) {
          std::exit(0);
        }
        std::fprintf(stderr, "code=%d %s\n", static_cast<int>(readers.error().code),
                     readers.error().message.c_str());
        std::exit(readers.error().code == Errc::kUnavailable ? 3 : 4);
      },
      ::testing::ExitedWithCode(3),
      "pcscd is not running \\(or PCSCLITE_CSOCK_NAME points elsewhere\\).*/nonexistent/"
      "hsmctl-e2e/pcscd.comm");
}

}  // namespace
}  // namespace hsmctl::e2e
