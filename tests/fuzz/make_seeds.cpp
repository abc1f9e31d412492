// SPDX-License-Identifier: Apache-2.0
// Writes the generated part of the seed corpora (docs/fuzzing.md): real card sessions recorded
// from the simulator for schsm_responses, and sealed store files for store_decoder.
//   fuzz_make_seeds tests/fuzz/corpus
// Deterministic content except for the random salts, nonces and IVs of the store files.
#include "fuzz_input.hpp"

#include "hsmctl/device/schsm/observe.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/store/format.hpp"
#include "hsmctl/store/payload.hpp"

#include <cstdio>
#include <fstream>
#include <string>

namespace {

using namespace hsmctl;
using namespace hsmctl::device;

/// Forwards to the simulator and records every answer as one piece (fuzz::Pieces format).
class Recorder : public Transport {
 public:
  explicit Recorder(Transport& card) : card_(card) {}
  Result<Bytes> transmit(ByteView command) override {
    auto r = card_.transmit(command);
    if (r) {
      if (r->size() >= 0xFF) {
        script.push_back(0xFF);
        script.push_back(static_cast<std::uint8_t>(r->size() >> 8));
        script.push_back(static_cast<std::uint8_t>(r->size() & 0xFF));
      } else {
        script.push_back(static_cast<std::uint8_t>(r->size()));
      }
      script.insert(script.end(), r->begin(), r->end());
    }
    return r;
  }
  std::string describe() const override { return "recorder"; }
  Bytes script;

 private:
  Transport& card_;
};

bool write(const std::string& path, ByteView bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  std::printf("%s (%zu bytes)\n", path.c_str(), bytes.size());
  return static_cast<bool>(out);
}

Bytes record_observe(sim::SimCard& card, std::string_view user, std::string_view so) {
  Recorder rec(card);
  schsm::SmartCardHsm hsm(rec);
  schsm::ObserveRequest req;
  if (!user.empty())
    req.user_pin_candidates.emplace_back(user);
  if (!so.empty())
    req.so_pin_candidates.emplace_back(so);
  (void)schsm::observe(hsm, req);
  return rec.script;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds CORPUS_DIR\n");
    return 64;
  }
  const std::string dir = argv[1];
  bool ok = true;

  // schsm_responses: the PINs match the candidates the fuzz target offers.
  auto card = sim::SimCard::create_in_memory("0102030405060708");
  ok &=
      write(dir + "/schsm_responses/fresh-device.bin", record_observe(*card, "648219", "57621880"));
  {
    schsm::SmartCardHsm hsm(*card);
    schsm::InitializeParams p;
    p.user_pin = Secret(std::string_view("648219"));
    p.so_pin = Secret(std::string_view("57621880"));
    p.dkek_shares = 1;
    if (!hsm.select() || !hsm.initialize(p)) {
      std::fprintf(stderr, "fuzz_make_seeds: cannot initialize the simulator\n");
      return 1;
    }
  }
  ok &= write(dir + "/schsm_responses/initialized-pins-match.bin",
              record_observe(*card, "648219", "57621880"));
  ok &=
      write(dir + "/schsm_responses/initialized-no-candidates.bin", record_observe(*card, "", ""));

  // store_decoder: a key-file store (openable by the target) and a passphrase-mode header.
  std::ifstream payload_in(dir + "/store_decoder/payload.json", std::ios::binary);
  const std::string payload((std::istreambuf_iterator<char>(payload_in)),
                            std::istreambuf_iterator<char>());
  auto header = store::new_header(store::KeyMode::kKeyFile, {});
  auto kek = header ? store::derive_kek(
                          *header, Secret(std::string_view("fuzz-store-key-file-material-32b")))
                    : Result<Secret>(tl::unexpected(header.error()));
  auto file = kek ? store::seal_file(*header, *kek,
                                     ByteView(reinterpret_cast<const std::uint8_t*>(payload.data()),
                                              payload.size()))
                  : Result<Bytes>(tl::unexpected(kek.error()));
  if (!file) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", file.error().to_string().c_str());
    return 1;
  }
  ok &= write(dir + "/store_decoder/keyfile-store.bin", *file);
  store::ScryptParams weak;
  weak.log2_n = store::kMinLog2N;
  auto pass_header = store::new_header(store::KeyMode::kPassphrase, weak);
  auto pass_kek = pass_header ? store::derive_kek(*pass_header, Secret(std::string_view("pass")))
                              : Result<Secret>(tl::unexpected(pass_header.error()));
  auto pass_file = pass_kek ? store::seal_file(*pass_header, *pass_kek, ByteView())
                            : Result<Bytes>(tl::unexpected(pass_kek.error()));
  if (!pass_file) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", pass_file.error().to_string().c_str());
    return 1;
  }
  ok &= write(dir + "/store_decoder/passphrase-store-empty.bin", *pass_file);
  return ok ? 0 : 1;
}
