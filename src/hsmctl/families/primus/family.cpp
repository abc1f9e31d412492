// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/families/primus/family.hpp"

#include "hsmctl/families/primus/engine.hpp"
#include "hsmctl/manifest/embedded_schemas.hpp"

#include <cstdlib>
#include <utility>

namespace hsmctl::families::primus {
namespace {

namespace engine = hsmctl::families::primus;

/// --ppin, else $HSMCTL_PPIN, else `ppin` on PATH; --probe; --retry-rejected.
engine::EngineOptions engine_options(const family::Options& options) {
  engine::EngineOptions o;
  if (const char* p = std::getenv("HSMCTL_PPIN"); p != nullptr && *p != '\0')
    o.ppin_program = p;
  if (auto v = options.value("ppin"))
    o.ppin_program = *v;
  o.probe = options.flag("probe");
  o.retry_rejected = options.flag("retry-rejected");
  return o;
}

engine::ApplyOptions apply_options(const family::Options& options) {
  engine::ApplyOptions o;
  o.allow_destructive = options.flag("allow-destructive");
  return o;
}

class PreparedCluster final : public family::PreparedUnit {
 public:
  explicit PreparedCluster(engine::PreparedCluster cluster) : cluster_(std::move(cluster)) {}

  const plan::DevicePlan& plan() const override { return cluster_.plan.plan; }

  std::vector<std::pair<std::string, std::string>> observation_facts() const override {
    return engine::observation_facts(cluster_);
  }

  Result<void> check_guards(const family::Options& options) const override {
    return engine::check_guards(cluster_, apply_options(options));
  }

  Result<family::ExecReport> execute(family::RunContext& context,
                                     const family::Progress& progress) override {
    return engine::execute(cluster_, apply_options(context.options), context.keeper, progress);
  }

 private:
  engine::PreparedCluster cluster_;
};

class ClusterUnit final : public family::Unit {
 public:
  ClusterUnit(engine::PrimusCluster cluster, std::vector<engine::PrimusPartition> partitions)
      : cluster_(std::move(cluster)), partitions_(std::move(partitions)) {}

  const std::string& name() const override { return cluster_.name; }
  const std::map<std::string, std::string>& labels() const override { return cluster_.labels; }
  const char* noun() const override { return "cluster"; }
  bool takes_device_uri() const override { return false; }

  Result<std::unique_ptr<family::PreparedUnit>> prepare(family::RunContext& context) override {
    HSMCTL_TRY_ASSIGN(
        std::vector<engine::PreparedCluster> prepared,
        engine::prepare({cluster_}, partitions_, context.keeper, engine_options(context.options)));
    if (prepared.size() != 1) {
      return make_error(Errc::kInternal, "primus::prepare returned " +
                                             std::to_string(prepared.size()) + " clusters for one");
    }
    return std::unique_ptr<family::PreparedUnit>(
        std::make_unique<PreparedCluster>(std::move(prepared.front())));
  }

  const engine::PrimusCluster& cluster() const { return cluster_; }
  const std::vector<engine::PrimusPartition>& partitions() const { return partitions_; }

 private:
  engine::PrimusCluster cluster_;
  std::vector<engine::PrimusPartition> partitions_;  ///< the ones naming this cluster
};

class PrimusFamily final : public family::Family {
 public:
  std::string_view id() const override { return "primus"; }

  std::vector<family::KindSpec> kinds() const override {
    return {{"PrimusCluster",
             manifest::embedded::primuscluster_v1alpha1_schema_json(),
             {"/spec/serviceProxy/password"},
             false},
            {"PrimusPartition",
             manifest::embedded::primuspartition_v1alpha1_schema_json(),
             {"/spec/setupPassword", "/spec/pkcs11Password"},
             false}};
  }

  std::vector<family::OptionSpec> options() const override {
    using Scope = family::OptionSpec::Scope;
    return {
        {"ppin", "Securosys ppin program (default $HSMCTL_PPIN or ppin on PATH)", false,
         Scope::kPlanAndApply},
        {"probe", "Primus: also run `ppin -t` (performs a login on the HSM)", true,
         Scope::kPlanAndApply},
        {"retry-rejected",
         "Primus: send values recorded as rejected once more (after a lockout by other clients)",
         true, Scope::kPlanAndApply},
        {"allow-destructive",
         "Primus: allow removing permanent secrets / proxy passwords (ppin -r / -x)", true,
         Scope::kApply},
    };
  }

  std::unique_ptr<family::Loader> loader() const override { return primus::loader(); }
};

}  // namespace

const family::Family& family() {
  static const PrimusFamily instance;
  return instance;
}

std::unique_ptr<family::Unit> unit(model::primus::PrimusCluster cluster,
                                   std::vector<model::primus::PrimusPartition> partitions) {
  return std::make_unique<ClusterUnit>(std::move(cluster), std::move(partitions));
}

const model::primus::PrimusCluster* cluster_of(const family::Unit& unit) {
  const auto* c = dynamic_cast<const ClusterUnit*>(&unit);
  return c == nullptr ? nullptr : &c->cluster();
}

const std::vector<model::primus::PrimusPartition>* partitions_of(const family::Unit& unit) {
  const auto* c = dynamic_cast<const ClusterUnit*>(&unit);
  return c == nullptr ? nullptr : &c->partitions();
}

}  // namespace hsmctl::families::primus
