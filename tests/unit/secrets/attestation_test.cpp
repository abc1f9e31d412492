// SPDX-License-Identifier: Apache-2.0
// Device attestation: the CV certificate parser (util/cvc) and the chain check
// (secrets/attestation) on simulator-made files, hand-built chains and corrupted bytes.
#include "hsmctl/secrets/attestation.hpp"

#include "unit/secrets/cvc_builder.hpp"

#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/util/cvc.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace hsmctl::secrets {
namespace {

namespace tc = testcvc;

constexpr cvc::Date kToday{2026, 12, 6};

// EF 2F02 of a simulated Pico after INITIALIZE (v6.6 shape: request 67 + self-signed 7F21).
Bytes simulated_ef_2f02(const std::string& chr = "") {
  auto card = device::sim::SimCard::create_in_memory("0102030405060708");
  device::schsm::SmartCardHsm hsm(*card);
  EXPECT_TRUE(hsm.select().has_value());
  device::schsm::InitializeParams p;
  p.options = 0x0001;
  p.user_pin = Secret("648219");
  p.so_pin = Secret("57621880");
  EXPECT_TRUE(hsm.initialize(p).has_value());
  if (!chr.empty()) {
    EXPECT_TRUE(card->install_pki_device_chain(chr).has_value());
  }
  auto ef = hsm.read_ef(0x2F02);
  EXPECT_TRUE(ef.has_value() && ef->has_value());
  return ef && *ef ? **ef : Bytes{};
}

std::vector<cvc::Element> parse(const Bytes& b) {
  auto e = cvc::parse_elements(b);
  EXPECT_TRUE(e.has_value()) << e.error().message;
  return e ? *e : std::vector<cvc::Element>{};
}

TEST(CvcParser, SimulatedV66FileIsARequestThenASelfSignedCertificate) {
  const Bytes ef = simulated_ef_2f02();
  ASSERT_EQ(ef.size(), 798u);
  auto elements = parse(ef);
  ASSERT_EQ(elements.size(), 2u);
  EXPECT_TRUE(elements[0].authenticated_request);
  EXPECT_EQ(elements[0].outer_car, "");
  EXPECT_EQ(elements[0].cert.chr, "ESPICOHSMTR00001");
  EXPECT_FALSE(elements[0].cert.effective.has_value());
  const cvc::Certificate& c = elements[1].cert;
  EXPECT_FALSE(elements[1].authenticated_request);
  EXPECT_EQ(c.car, "ESPICOHSMTR00001");
  EXPECT_EQ(c.chr, "ESPICOHSMTR00001");
  ASSERT_TRUE(c.effective && c.expiration);
  EXPECT_EQ(cvc::format_date(*c.effective), "2023-03-21");
  EXPECT_EQ(cvc::format_date(*c.expiration), "2070-12-31");
  EXPECT_EQ(c.role_oid(), "0.4.0.127.0.7.3.1.2.2");
  EXPECT_EQ(c.key.point.size(), 65u);
  EXPECT_TRUE(c.key.has_domain_parameters());
  EXPECT_EQ(c.signature.size(), 64u);
  EXPECT_EQ(c.body[0], 0x7F);
  EXPECT_EQ(c.body[1], 0x4E);
  EXPECT_EQ(curve_of(c.key), "secp256k1");
  // The request and the certificate carry the same device key.
  EXPECT_EQ(elements[0].cert.key.point, c.key.point);
}

TEST(CvcParser, MalformedInputIsAnErrorNamingTheElement) {
  const Bytes ef = simulated_ef_2f02();
  EXPECT_FALSE(cvc::parse_elements(Bytes{}).has_value());
  EXPECT_FALSE(cvc::parse_elements(Bytes{0x30, 0x03, 0x02, 0x01, 0x00}).has_value());
  // Truncated in the second element.
  auto cut = cvc::parse_elements(ByteView(ef).first(ef.size() - 10));
  ASSERT_FALSE(cut.has_value());
  EXPECT_NE(cut.error().message.find("element 2"), std::string::npos) << cut.error().message;
  // Padding after the chain is ignored.
  Bytes padded = ef;
  padded.insert(padded.end(), 32, 0x00);
  EXPECT_EQ(parse(padded).size(), 2u);
  // A bad BCD date.
  tc::Pki pki;
  Bytes bad =
      tc::certificate(tc::body("X", tc::public_key(pki.ca, true), "X", "23A321", "701231"), pki.ca);
  EXPECT_FALSE(cvc::parse_certificate(bad).has_value());
  // A name with control characters is escaped.
  Bytes odd = tc::certificate(tc::body("A\x1b[2J", tc::public_key(pki.ca, true), "B"), pki.ca);
  auto c = cvc::parse_certificate(odd);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->car, "A\\x1B[2J");
}

TEST(Attestation, SimulatedSelfSignedDeviceVerifies) {
  auto elements = parse(simulated_ef_2f02());
  const std::string fp = key_fingerprint(elements[1].cert.key);
  EXPECT_EQ(fp.size(), 64u);
  EXPECT_EQ(fp, key_fingerprint(elements[0].cert.key));
  auto r = check_attestation(elements, AttestationPolicy{{}, "", fp}, kToday);
  EXPECT_TRUE(r.ok) << r.failure;
  EXPECT_EQ(r.summary, "self-signed ESPICOHSMTR00001");
}

TEST(Attestation, WrongFingerprintFails) {
  auto elements = parse(simulated_ef_2f02());
  const std::string other = std::string(64, 'a');
  auto r = check_attestation(elements, AttestationPolicy{{}, "", other}, kToday);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("differs from the pinned " + other), std::string::npos) << r.failure;
  EXPECT_NE(r.failure.find("certificate ESPICOHSMTR00001"), std::string::npos);
}

TEST(Attestation, CorruptedSignatureFails) {
  Bytes ef = simulated_ef_2f02();
  ef[ef.size() - 5] ^= 0x01;  // inside the certificate's 5F37
  auto r = check_attestation(parse(ef), AttestationPolicy{}, kToday);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("self-signature does not verify"), std::string::npos) << r.failure;
  // A corrupted body (the point inside the request) breaks the request's signatures.
  Bytes ef2 = simulated_ef_2f02();
  auto elements = parse(ef2);
  elements[0].cert.body[elements[0].cert.body.size() - 3] ^= 0x01;
  auto r2 = check_attestation(elements, AttestationPolicy{}, kToday);
  EXPECT_FALSE(r2.ok);
  EXPECT_NE(r2.failure.find("request ESPICOHSMTR00001"), std::string::npos) << r2.failure;
}

TEST(Attestation, ExpiredAndNotYetValidFail) {
  auto elements = parse(simulated_ef_2f02());
  auto expired = check_attestation(elements, AttestationPolicy{}, cvc::Date{2071, 1, 1});
  EXPECT_FALSE(expired.ok);
  EXPECT_NE(expired.failure.find("expired on 2070-12-31"), std::string::npos) << expired.failure;
  auto early = check_attestation(elements, AttestationPolicy{}, cvc::Date{2023, 3, 20});
  EXPECT_FALSE(early.ok);
  EXPECT_NE(early.failure.find("not valid before 2023-03-21"), std::string::npos);
  EXPECT_TRUE(check_attestation(elements, AttestationPolicy{}, cvc::Date{2070, 12, 31}).ok);
}

TEST(Attestation, PkiChainVerifiesAgainstItsTrustAnchor) {
  tc::Pki pki;
  auto anchors = parse(pki.ca_cert);
  AttestationPolicy policy{{anchors[0].cert}, "roots.cvc", ""};
  auto r = check_attestation(parse(pki.file()), policy, kToday);
  EXPECT_TRUE(r.ok) << r.failure;
  EXPECT_EQ(r.summary, "chain of ESTESTDEVICE1 ends at trust anchor ESTESTCA00001");
  // Without the CA in the file (a SmartCard-HSM keeps device + DV) the anchor is the issuer.
  auto r2 = check_attestation(parse(tc::cat({pki.dev_cert, pki.dv_cert})), policy, kToday);
  EXPECT_TRUE(r2.ok) << r2.failure;
  // Without a trust file the chain ends at the file's self-signed root.
  auto r3 = check_attestation(parse(pki.file()), AttestationPolicy{}, kToday);
  EXPECT_TRUE(r3.ok) << r3.failure;
  EXPECT_EQ(curve_of(parse(pki.dev_cert)[0].cert.key), "secp256k1");
}

TEST(Attestation, TrustAnchorMismatchFails) {
  tc::Pki pki;
  tc::Pki other;  // same names, other keys
  AttestationPolicy policy{{parse(other.ca_cert)[0].cert}, "roots.cvc", ""};
  auto r = check_attestation(parse(pki.file()), policy, kToday);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("trust anchor ESTESTCA00001 (roots.cvc) has the same name but another "
                           "key"),
            std::string::npos)
      << r.failure;
  // The file without its CA: the DV's signature is checked with the anchor's key and fails.
  auto r2 = check_attestation(parse(tc::cat({pki.dev_cert, pki.dv_cert})), policy, kToday);
  EXPECT_FALSE(r2.ok);
  EXPECT_NE(r2.failure.find("certificate ESTESTDV00001 (issuer ESTESTCA00001): signature does "
                            "not verify with the key of ESTESTCA00001"),
            std::string::npos)
      << r2.failure;
  // A self-signed device is not trusted by a trust file that does not hold it.
  auto r3 = check_attestation(parse(simulated_ef_2f02()), policy, kToday);
  EXPECT_FALSE(r3.ok);
  EXPECT_NE(r3.failure.find("self-signed and not a trust anchor of roots.cvc"), std::string::npos)
      << r3.failure;
}

TEST(Attestation, IssuerMissingWithTrustFails) {
  tc::Pki pki;
  tc::Pki other;
  Bytes orphan = tc::certificate(
      tc::body("ESTESTDV00002", tc::public_key(pki.dev, false), "ESTESTDEVICE2"), pki.dv);
  AttestationPolicy policy{{parse(other.ca_cert)[0].cert}, "roots.cvc", ""};
  policy.trust[0].chr = "ESOTHERCA0001";  // no name clash
  auto r = check_attestation(parse(orphan), policy, kToday);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("issuer ESTESTDV00002 is neither in the device's file"),
            std::string::npos)
      << r.failure;
}

TEST(Attestation, SimulatedPkiChainVerifiesWithoutTrustUpToItsMissingRoot) {
  auto elements = parse(simulated_ef_2f02("ESPICOHSMTREQOWL"));
  ASSERT_EQ(elements.size(), 2u);
  auto r = check_attestation(elements, AttestationPolicy{}, kToday);
  EXPECT_TRUE(r.ok) << r.failure;
  EXPECT_NE(r.summary.find("is not in the device's file"), std::string::npos) << r.summary;
}

TEST(Attestation, TrustFileIsBinaryOrHex) {
  tc::Pki pki;
  {
    std::ofstream bin("roots.cvc", std::ios::binary);
    bin.write(reinterpret_cast<const char*>(pki.ca_cert.data()),
              static_cast<std::streamsize>(pki.ca_cert.size()));
    std::ofstream hex("roots.hex");
    hex << to_hex(pki.ca_cert) << "\n";
    std::ofstream junk("junk.bin");
    junk << "not a certificate";
  }
  auto a = read_trust_file("roots.cvc");
  ASSERT_TRUE(a.has_value()) << a.error().message;
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0].chr, "ESTESTCA00001");
  auto b = read_trust_file("roots.hex");
  ASSERT_TRUE(b.has_value()) << b.error().message;
  EXPECT_EQ((*b)[0].key.point, (*a)[0].key.point);
  auto c = read_trust_file("junk.bin");
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, Errc::kManifest);
  EXPECT_NE(c.error().message.find("junk.bin"), std::string::npos);
}

}  // namespace
}  // namespace hsmctl::secrets
