// SPDX-License-Identifier: Apache-2.0
// Observe + plan of one initialized Pico HSM with no changes, in process, against the APDU
// simulator: wall time per plan and APDUs per plan (counter "apdus"), with and without the
// credential checks (which add the VERIFYs and the re-SELECT that reads the retry maximum).

#include "hsmctl/device/schsm/observe.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/device/sim/sim_card.hpp"
#include "hsmctl/families/schsm_engine/diff.hpp"
#include "hsmctl/model/options.hpp"
#include "hsmctl/plan/plan.hpp"

#include <benchmark/benchmark.h>

namespace {

using namespace hsmctl;

std::unique_ptr<device::sim::SimCard> initialized_card() {
  auto card = device::sim::SimCard::create_in_memory("0102030405060708");
  device::schsm::SmartCardHsm hsm(*card);
  (void)hsm.select();
  device::schsm::InitializeParams p;
  p.user_pin = Secret("31415926");
  p.so_pin = Secret(*from_hex("0011223344556677"));
  p.pin_retries = 3;
  (void)hsm.initialize(p);
  return card;
}

model::PicoHsmManifest desired() {
  model::PicoHsmManifest m;
  m.metadata.name = "bench";
  m.spec.device.serial = "0102030405060708";
  return m;
}

void observe_and_plan(benchmark::State& state, bool with_credentials) {
  auto card = initialized_card();
  const auto m = desired();
  device::schsm::ObserveRequest request;
  if (with_credentials) {
    request.user_pin_candidates.emplace_back("31415926");
    request.so_pin_candidates.emplace_back(*from_hex("0011223344556677"));
  }
  int apdus = 0;
  for (auto _ : state) {
    device::schsm::SmartCardHsm hsm(*card);
    auto observed = device::schsm::observe(hsm, request);
    if (!observed) {
      state.SkipWithError(observed.error().message.c_str());
      break;
    }
    families::schsm_engine::CredentialFacts facts{
        families::schsm_engine::CredentialKnowledge::kMatchesDesired,
        families::schsm_engine::CredentialKnowledge::kMatchesDesired};
    auto p = families::schsm_engine::make_plan(m, *observed, facts);
    benchmark::DoNotOptimize(p);
    apdus = observed->apdu_count;
  }
  state.counters["apdus"] = apdus;
}

void BM_ObserveAndPlan_StatusOnly(benchmark::State& s) {
  observe_and_plan(s, false);
}
void BM_ObserveAndPlan_WithCredentialChecks(benchmark::State& s) {
  observe_and_plan(s, true);
}
BENCHMARK(BM_ObserveAndPlan_StatusOnly);
BENCHMARK(BM_ObserveAndPlan_WithCredentialChecks);

}  // namespace

BENCHMARK_MAIN();
