// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/schsm_engine/unit.hpp"

#include "hsmctl/families/schsm_engine/engine.hpp"
#include "hsmctl/store/fingerprint.hpp"

#include <utility>

namespace hsmctl::families::schsm_engine {
namespace {

ApplyOptions apply_options(const family::Options& options) {
  ApplyOptions o;
  o.allow_reinit = options.flag("allow-reinit");
  o.allow_key_loss = options.flag("allow-key-loss");
  return o;
}

class PreparedSchsmDevice final : public family::PreparedUnit {
 public:
  PreparedSchsmDevice(PreparedDevice device,
                      std::vector<std::pair<std::string, std::string>> store_facts)
      : device_(std::move(device)), store_facts_(std::move(store_facts)) {}

  const plan::DevicePlan& plan() const override { return device_.plan; }

  std::string observation_line() const override {
    return "observation sent " + std::to_string(device_.observed.apdu_count) + " APDUs via " +
           device_.observed.transport;
  }

  std::vector<std::pair<std::string, std::string>> observation_facts() const override {
    auto facts = schsm_engine::observation_facts(device_);
    facts.insert(facts.end(), store_facts_.begin(), store_facts_.end());
    return facts;
  }

  Result<void> check_guards(const family::Options& options) const override {
    return schsm_engine::check_guards(device_, apply_options(options));
  }

  Result<family::ExecReport> execute(family::RunContext& context,
                                     const family::Progress& progress) override {
    return schsm_engine::execute(device_, apply_options(context.options), context.keeper, progress);
  }

 private:
  PreparedDevice device_;
  std::vector<std::pair<std::string, std::string>> store_facts_;
};

/// The store entries the plan relies on (the device's user and SO PIN), as keyed fingerprints
/// (store/fingerprint.hpp; never a value): a saved plan names an entry changed since. None
/// before the store has a fingerprint key.
std::vector<std::pair<std::string, std::string>> store_facts(const PreparedDevice& device,
                                                             store::CredentialKeeper& keeper) {
  std::vector<std::pair<std::string, std::string>> out;
  if (device.observed.serial.empty())
    return out;
  auto key = store::fingerprint_key(keeper, /*create=*/false);
  if (!key || !*key)
    return out;
  for (const char* name : {"user-pin", "so-pin"}) {
    const auto entry = credential_key(device.caps.store_prefix, device.observed.serial, name);
    auto value = keeper.current(entry);
    std::string fact = "(unreadable)";
    if (value && !*value) {
      fact = "(none)";
    } else if (value) {
      fact = "keyed fingerprint " + store::fingerprint(**key, **value).substr(0, 16);
    }
    out.emplace_back("store entry " + entry.id(), fact);
  }
  return out;
}

class SchsmUnit final : public family::Unit {
 public:
  SchsmUnit(model::PicoHsmManifest manifest, const Capabilities& caps)
      : manifest_(std::move(manifest)), caps_(caps) {}

  const std::string& name() const override { return manifest_.metadata.name; }
  const std::map<std::string, std::string>& labels() const override {
    return manifest_.metadata.labels;
  }
  const char* noun() const override { return "device"; }
  bool takes_device_uri() const override { return true; }

  Result<std::unique_ptr<family::PreparedUnit>> prepare(family::RunContext& context) override {
    HSMCTL_TRY_ASSIGN(PreparedDevice d,
                      schsm_engine::prepare(manifest_, context.device_uri, context.keeper, caps_));
    auto facts = store_facts(d, context.keeper);
    return std::unique_ptr<family::PreparedUnit>(
        std::make_unique<PreparedSchsmDevice>(std::move(d), std::move(facts)));
  }

  const model::PicoHsmManifest& manifest() const { return manifest_; }

 private:
  model::PicoHsmManifest manifest_;
  Capabilities caps_;  // a copy: its string_views name literals
};

}  // namespace

std::unique_ptr<family::Unit> make_unit(model::PicoHsmManifest manifest, const Capabilities& caps) {
  return std::make_unique<SchsmUnit>(std::move(manifest), caps);
}

const model::PicoHsmManifest* manifest_of(const family::Unit& unit) {
  const auto* u = dynamic_cast<const SchsmUnit*>(&unit);
  return u == nullptr ? nullptr : &u->manifest();
}

}  // namespace hsmctl::families::schsm_engine
