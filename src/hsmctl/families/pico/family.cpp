// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/pico/family.hpp"

#include "hsmctl/families/schsm_engine/engine.hpp"
#include "hsmctl/manifest/embedded_schemas.hpp"

#include <utility>

namespace hsmctl::families::pico {
namespace {

families::schsm_engine::ApplyOptions apply_options(const family::Options& options) {
  families::schsm_engine::ApplyOptions o;
  o.allow_reinit = options.flag("allow-reinit");
  o.allow_key_loss = options.flag("allow-key-loss");
  return o;
}

class PreparedPico final : public family::PreparedUnit {
 public:
  explicit PreparedPico(families::schsm_engine::PreparedDevice device)
      : device_(std::move(device)) {}

  const plan::DevicePlan& plan() const override { return device_.plan; }

  std::string observation_line() const override {
    return "observation sent " + std::to_string(device_.observed.apdu_count) + " APDUs via " +
           device_.observed.transport;
  }

  Result<void> check_guards(const family::Options& options) const override {
    return families::schsm_engine::check_guards(device_, apply_options(options));
  }

  Result<family::ExecReport> execute(family::RunContext& context,
                                     const family::Progress& progress) override {
    HSMCTL_TRY_ASSIGN(families::schsm_engine::ApplyReport r,
                      families::schsm_engine::execute(device_, apply_options(context.options),
                                                      context.keeper, progress));
    family::ExecReport out;
    out.steps_done = r.steps_done;
    out.steps_blocked = r.steps_blocked;
    out.steps_total = r.steps_total;
    out.interrupted_by = r.interrupted_by;
    out.not_started = std::move(r.not_started);
    return out;
  }

 private:
  families::schsm_engine::PreparedDevice device_;
};

class PicoUnit final : public family::Unit {
 public:
  explicit PicoUnit(model::PicoHsmManifest manifest) : manifest_(std::move(manifest)) {}

  const std::string& name() const override { return manifest_.metadata.name; }
  const std::map<std::string, std::string>& labels() const override {
    return manifest_.metadata.labels;
  }
  const char* noun() const override { return "device"; }
  bool takes_device_uri() const override { return true; }

  Result<std::unique_ptr<family::PreparedUnit>> prepare(family::RunContext& context) override {
    HSMCTL_TRY_ASSIGN(
        families::schsm_engine::PreparedDevice d,
        families::schsm_engine::prepare(manifest_, context.device_uri, context.keeper));
    return std::unique_ptr<family::PreparedUnit>(std::make_unique<PreparedPico>(std::move(d)));
  }

  const model::PicoHsmManifest& manifest() const { return manifest_; }

 private:
  model::PicoHsmManifest manifest_;
};

class PicoFamily final : public family::Family {
 public:
  std::string_view id() const override { return "pico"; }

  std::vector<family::KindSpec> kinds() const override {
    return {{"PicoHSM",
             manifest::embedded::picohsm_v1alpha1_schema_json(),
             {"/spec/userPin", "/spec/soPin"},
             true}};
  }

  std::vector<family::OptionSpec> options() const override {
    using Scope = family::OptionSpec::Scope;
    return {
        {"allow-reinit", "allow re-initialization (wipes all keys) where the plan needs it", true,
         Scope::kApply},
        {"allow-key-loss", "with --allow-reinit: also re-initialize devices that hold private keys",
         true, Scope::kApply}};
  }

  std::unique_ptr<family::Loader> loader() const override { return pico::loader(); }
};

}  // namespace

const family::Family& family() {
  static const PicoFamily instance;
  return instance;
}

std::unique_ptr<family::Unit> unit(model::PicoHsmManifest manifest) {
  return std::make_unique<PicoUnit>(std::move(manifest));
}

const model::PicoHsmManifest* manifest_of(const family::Unit& unit) {
  const auto* pico = dynamic_cast<const PicoUnit*>(&unit);
  return pico == nullptr ? nullptr : &pico->manifest();
}

}  // namespace hsmctl::families::pico
