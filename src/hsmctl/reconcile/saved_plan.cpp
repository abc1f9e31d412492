// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/reconcile/saved_plan.hpp"

#include "hsmctl/store/crypto.hpp"
#include "hsmctl/store/fingerprint.hpp"
#include "hsmctl/util/atomic_file.hpp"
#include "hsmctl/util/bytes.hpp"

#include <algorithm>
#include <map>

namespace hsmctl::reconcile {

const store::CredentialKey kPlanKeyEntry{"hsmctl", "plan-key"};

namespace {

/// A saved plan of many devices is still far below this; anything larger is not one.
constexpr std::size_t kMaxPlanFile = std::size_t{16} * 1024 * 1024;

plan::PlanMac mac_with(const Secret& key) {
  return [&key](std::string_view body) {
    // The keyed fingerprint is HMAC-SHA-256; a prefix separates this use of the key.
    return store::fingerprint(key, Secret("hsmctl saved plan\n" + std::string(body)));
  };
}

}  // namespace

Result<std::optional<Secret>> plan_key(store::CredentialKeeper& keeper, bool create) {
  HSMCTL_TRY_ASSIGN(auto k, keeper.current(kPlanKeyEntry));
  if (k || !create)
    return k;
  HSMCTL_TRY_ASSIGN(Bytes raw, store::crypto::random_bytes(32));
  std::string hex = to_hex(raw);
  Secret fresh{std::string_view(hex)};
  secure_wipe(raw.data(), raw.size());
  secure_wipe(hex.data(), hex.size());
  HSMCTL_TRY(keeper.record_current(kPlanKeyEntry, fresh));
  return std::optional<Secret>(std::move(fresh));
}

Result<void> write_saved_plan(const std::string& path, const plan::SavedPlan& saved,
                              const Secret& key) {
  const std::string text = plan::encode_saved_plan(saved, mac_with(key));
  return write_file_atomically(
      path, ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), 0644);
}

Result<plan::SavedPlan> read_saved_plan(const std::string& path, const Secret& key) {
  HSMCTL_TRY_ASSIGN(RegularFile file, read_regular_file(path, kMaxPlanFile));
  const std::string text(file.content.begin(), file.content.end());
  auto saved = plan::decode_saved_plan(text, mac_with(key));
  if (!saved) {
    Error e = saved.error();
    e.message = path + ": " + e.message;
    return tl::unexpected(std::move(e));
  }
  return saved;
}

Result<plan::SavedPlan> read_saved_plan(const std::string& path, store::CredentialKeeper& keeper) {
  HSMCTL_TRY_ASSIGN(auto key, plan_key(keeper, /*create=*/false));
  if (!key) {
    return make_error(Errc::kRefused, path +
                                          ": the credential store holds no plan key: the plan "
                                          "was written with another store");
  }
  return read_saved_plan(path, *key);
}

std::vector<std::string> unit_changes(const plan::SavedUnit& saved, const plan::SavedUnit& fresh) {
  std::vector<std::string> out;
  std::map<std::string, std::string> now(fresh.observation.begin(), fresh.observation.end());
  for (const auto& [fact, before] : saved.observation) {
    auto it = now.find(fact);
    const std::string after = it == now.end() ? "(not observed)" : it->second;
    if (after != before)
      out.push_back(fact + " " + before + " → " + after + " since the plan");
  }
  for (const auto& [fact, after] : fresh.observation) {
    const bool known = std::any_of(saved.observation.begin(), saved.observation.end(),
                                   [&](const auto& f) { return f.first == fact; });
    if (!known)
      out.push_back(fact + " (not observed) → " + after + " since the plan");
  }
  if (saved.device_uri != fresh.device_uri)
    out.push_back("device " + saved.device_uri + " → " + fresh.device_uri);
  const std::string diff = plan::plan_difference(saved.plan, fresh.plan);
  if (!diff.empty())
    out.push_back("the plan now differs: " + diff);
  return out;
}

}  // namespace hsmctl::reconcile
