// SPDX-License-Identifier: Apache-2.0
// validate, plan, apply, get, version: the reconcile loop's commands.

#include "cli/commands/commands.hpp"
#include "cli/commands/devices.hpp"
#include "cli/commands/saved_plan.hpp"
#include "cli/output.hpp"
#include "cli/parse.hpp"
#include "cli/store_access.hpp"

#include "hsmctl/device/connect/open.hpp"
#include "hsmctl/device/schsm/observe.hpp"
#include "hsmctl/device/schsm/protocol.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/families/load.hpp"
#include "hsmctl/families/registry.hpp"
#include "hsmctl/families/schsm_engine/engine.hpp"
#include "hsmctl/manifest/load.hpp"
#include "hsmctl/plan/plan.hpp"
#include "hsmctl/policy/policy.hpp"
#include "hsmctl/reconcile/saved_plan.hpp"
#include "hsmctl/reconcile/session.hpp"
#include "hsmctl/store/unlock.hpp"
#include "hsmctl/store/warm_up.hpp"
#include "hsmctl/util/interrupt.hpp"

#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>
#include <variant>

namespace hsmctl::cli {
namespace {

void add_manifest_options(po::options_description& o, std::vector<std::string>* files) {
  o.add_options()("file,f", po::value(files)->required()->composing(),
                  "manifest file or directory (repeatable)");
}

void add_device_options(po::options_description& o, std::vector<std::string>* devices) {
  o.add_options()("device,d", po::value(devices)->composing(),
                  "device URI for all manifests, or NAME=URI for one (repeatable): sim:PATH, "
                  "pcsc:, pcsc:<reader substring>; default $HSMCTL_DEVICE or pcsc:");
}

void add_policy_options(po::options_description& o, std::vector<std::string>* paths) {
  o.add_options()("policy", po::value(paths)->composing(),
                  "Policy file or directory (repeatable): checked against every selected "
                  "manifest and its plan; enforce failures block apply (docs/policies.md)");
}

/// Loads `--policy` paths (none: an empty set); nullopt when a policy is invalid or a path
/// holds none (the errors are printed).
std::optional<policy::PolicySet> load_policies(const std::vector<std::string>& paths) {
  if (paths.empty())
    return policy::PolicySet();
  manifest::Diagnostics diagnostics;
  policy::Loaded loaded = policy::load(paths, /*with_tests=*/false, diagnostics);
  for (const auto& w : diagnostics.warnings())
    print_warning(w);
  if (diagnostics.has_errors()) {
    const auto errors = diagnostics.errors();
    print_errors(errors);
    std::cerr << "hsmctl: " << errors.size() << " error(s) in the policies; nothing was sent to "
              << "any device\n";
    return std::nullopt;
  }
  if (loaded.policies.empty()) {
    std::string where;
    for (const auto& f : paths)
      where += (where.empty() ? "" : ", ") + f;
    print_error(make_error(Errc::kManifest, "no policy found in " + where).value());
    return std::nullopt;
  }
  return std::move(loaded.policies);
}

/// `-l/--selector` and `--target`, for plan and apply (docs/review.md).
struct SelectionArgs {
  std::vector<std::string> selectors;
  std::vector<std::string> targets;
  int parallel = 4;  ///< --parallel: units prepared at once (reconcile::Session)
};

void add_selection_options(po::options_description& o, SelectionArgs* args) {
  o.add_options()("selector,l", po::value(&args->selectors)->composing(),
                  "only manifests whose metadata.labels match key=value[,key!=value...] "
                  "(all must hold; repeatable)")(
      "target", po::value(&args->targets)->composing(),
      "only the manifest with this metadata.name (repeatable); for exceptional situations, "
      "not routine use")("parallel", po::value(&args->parallel)->default_value(4),
                         "observe and apply up to N devices at once when every device is named "
                         "(sim:PATH, "
                         "pcsc:<reader>); output stays in manifest order");
}

/// The families' options (family::OptionSpec) for `plan` (apply == false) or `apply`. The
/// options of today's families keep the order `--help` always showed them in, with
/// `--auto-approve` (added by `add_own`, the command's own options) among them; options of a
/// family not listed follow in registry order.
void add_family_options(po::options_description& o, bool apply,
                        const std::function<void(const std::string&)>& add_own) {
  static const char* const kHelpOrder[] = {
      "ppin",         "probe",        "retry-rejected", "allow-destructive",
      "auto-approve", "allow-reinit", "allow-key-loss"};
  std::vector<family::OptionSpec> specs;
  for (const family::Family* f : families::families()) {
    for (auto& spec : f->options()) {
      if (apply || spec.scope == family::OptionSpec::Scope::kPlanAndApply) {
        specs.push_back(std::move(spec));
      }
    }
  }
  auto add = [&](const family::OptionSpec& spec) {
    if (spec.is_switch) {
      o.add_options()(spec.name.c_str(), po::bool_switch(), spec.help.c_str());
    } else {
      o.add_options()(spec.name.c_str(), po::value<std::string>(), spec.help.c_str());
    }
  };
  std::set<std::string> listed;
  for (const char* name : kHelpOrder) {
    listed.insert(name);
    if (std::string_view(name) == "auto-approve") {
      if (apply)
        add_own(name);
      continue;
    }
    for (const auto& spec : specs) {
      if (spec.name == name)
        add(spec);
    }
  }
  for (const auto& spec : specs) {
    if (listed.count(spec.name) == 0)
      add(spec);
  }
}

/// The families' option values as given on the command line.
family::Options family_options(const po::variables_map& vm) {
  family::Options out;
  for (const family::Family* f : families::families()) {
    for (const auto& spec : f->options()) {
      if (vm.count(spec.name) == 0)
        continue;
      if (spec.is_switch) {
        if (vm[spec.name].as<bool>())
          out.values[spec.name] = "true";
      } else {
        out.values[spec.name] = vm[spec.name].as<std::string>();
      }
    }
  }
  return out;
}

/// Loads manifests and prints warnings; prints errors and returns nullopt when invalid.
std::optional<families::Loaded> load(const std::vector<std::string>& files) {
  families::Loaded result = families::load(files);
  for (const auto& w : result.warnings)
    print_warning(w);
  if (!result.ok()) {
    print_errors(result.errors);
    std::cerr << "hsmctl: " << result.errors.size() << " error(s) in the manifests; nothing was "
              << "sent to any device\n";
    return std::nullopt;
  }
  if (result.documents == 0) {
    // An empty file, only `---` or only comments: never "No changes" for nothing.
    std::string where;
    for (const auto& f : files)
      where += (where.empty() ? "" : ", ") + f;
    Error e;
    e.code = Errc::kManifest;
    e.message = "no manifest found in " + where;
    print_error(e);
    return std::nullopt;
  }
  return result;
}

/// Everything plan and apply share: the credential store and every unit observed and planned.
struct Started {
  std::unique_ptr<store::CredentialKeeper> keeper;
  std::unique_ptr<reconcile::Session> session;
  /// Every manifest document as JSON, for the policy check (policy::check).
  std::vector<std::string> documents;
};

/// Loads, checks device assignments, opens the store and prepares; an exit code on failure.
std::variant<int, Started> start_session(
    const std::vector<std::string>& files, const std::vector<std::string>& device_values,
    const SelectionArgs& selection_args, const GlobalOptions& global, bool will_write,
    family::Options options, std::unique_ptr<store::CredentialKeeper> opened = nullptr) {
  if (selection_args.parallel < 1 || selection_args.parallel > 64) {
    print_error(make_error(Errc::kUsage, "--parallel must be between 1 and 64").value());
    return kExitUsage;
  }
  auto selection = reconcile::parse_selection(selection_args.selectors, selection_args.targets);
  if (!selection) {
    print_error(selection.error());
    return exit_code_for(selection.error());
  }
  // OpenSSL's first use (configuration, provider, method tables: ~3 ms of CPU) on a second
  // core while the manifests are read (started by cli::run when the command is known); ready()
  // before the store is opened (store/warm_up.hpp). It reads no store and no secret.
  std::optional<store::CryptoWarmUp> own_warm_up;
  store::CryptoWarmUp* crypto_warm_up = global.crypto_warm_up;
  if (crypto_warm_up == nullptr)
    crypto_warm_up = &own_warm_up.emplace();
  auto loaded = load(files);
  if (!loaded)
    return kExitManifest;
  auto selected = reconcile::select_units(std::move(loaded->units), *selection);
  if (!selected) {
    print_error(selected.error());
    return exit_code_for(selected.error());
  }
  auto units = std::move(selected->units);
  reconcile::DeviceMap devices = reconcile::device_map(device_values);
  std::string skipped;
  for (const auto& name : selected->skipped) {
    devices.by_name.erase(name);  // `--device NAME=URI` of a manifest not selected is no typo
    skipped += (skipped.empty() ? "" : ", ") + name;
  }
  if (!selection->targets.empty()) {
    std::cerr << "hsmctl: warning: --target in effect: the plan covers only part of the "
                 "manifests; use it for exceptional situations, not routine changes\n";
  }
  if (!skipped.empty())
    std::cerr << "hsmctl: not selected: " << skipped << "\n";
  auto usage = reconcile::device_errors(units, devices, families::families());
  if (!usage.empty()) {
    print_errors(usage);
    return kExitUsage;
  }
  (void)store::disable_core_dumps();
  crypto_warm_up->ready();
  // A saved plan's apply opened the store already (its key authenticates the plan file).
  auto keeper = opened ? Result<std::unique_ptr<store::CredentialKeeper>>(std::move(opened))
                       : open_keeper(global, will_write);
  if (!keeper && stop_requested()) {
    std::cerr << "hsmctl: interrupted by " << signal_name(stop_signal())
              << " before the credential store was opened; nothing was sent to any device\n";
    return exit_code_for_signal(stop_signal());
  }
  if (!keeper) {
    print_error(keeper.error());
    return exit_code_for(keeper.error());
  }
  Started started;
  for (auto& d : loaded->sources)
    started.documents.push_back(std::move(d.json));
  started.keeper = std::move(*keeper);
  started.session =
      std::make_unique<reconcile::Session>(std::move(units), *started.keeper, std::move(options),
                                           reconcile::Io{std::cout, std::cerr, print_error});
  started.session->set_parallelism(selection_args.parallel);
  started.session->prepare(devices, global.verbosity);
  return started;
}

/// `plan -out FILE` (docs/review.md "Saved plans"): saves the plans of a run that planned every
/// unit, authenticated with the store's plan key. Returns `plan_exit`, or 1 when not saved.
int save_plan(const std::string& path, const reconcile::Session& session,
              store::CredentialKeeper& keeper, const std::vector<std::string>& files,
              std::vector<plan::SavedManifest> digests, const SelectionArgs& selection,
              const family::Options& options, const std::vector<std::string>& policy_paths,
              std::vector<plan::SavedManifest> policy_digests, int plan_exit) {
  auto units = session.saved_units();
  const bool incomplete =
      stop_requested() || std::any_of(units.begin(), units.end(), [](const plan::SavedUnit& u) {
        return u.plan.error.has_value();
      });
  if (incomplete) {
    std::cerr << "hsmctl: error: plan not saved to " << path
              << ": not every device could be planned\n";
    return plan_exit == kExitOk ? kExitError : plan_exit;
  }
  auto key = reconcile::plan_key(keeper, /*create=*/true);
  if (!key || !*key) {
    if (!key)
      print_error(key.error());
    std::cerr << "hsmctl: error: plan not saved to " << path << ": no plan key in the store\n";
    return kExitError;
  }
  plan::SavedPlan saved;
  saved.hsmctl_version = HSMCTL_VERSION;
  saved.files = files;
  saved.manifests = std::move(digests);
  saved.selectors = selection.selectors;
  saved.targets = selection.targets;
  saved.options.insert(options.values.begin(), options.values.end());
  saved.policy_paths = policy_paths;
  saved.policies = std::move(policy_digests);
  saved.units = std::move(units);
  if (auto w = reconcile::write_saved_plan(path, saved, **key); !w) {
    print_error(w.error());
    return kExitError;
  }
  std::cerr << "hsmctl: saved the plan to " << path << " (review: hsmctl show " << path
            << "; apply exactly this plan: hsmctl apply " << path << ")\n";
  return plan_exit;
}

/// `apply FILE`: re-plans what the saved plan covers and applies it only when it is still
/// exactly that plan (docs/review.md "Saved plans").
int apply_saved_plan(const std::string& path, const po::variables_map& vm,
                     const GlobalOptions& global, int parallel) {
  for (const char* planning : {"file", "device", "selector", "target"}) {
    if (vm.count(planning) != 0) {
      std::cerr << "hsmctl: error: apply: --" << planning
                << " cannot be given with a saved plan: the plan file records what it covers\n";
      return kExitUsage;
    }
  }
  if (global.store_path == "none") {
    std::cerr << "hsmctl: error: apply: a saved plan is authenticated with a key in the "
                 "credential store; --store none has none\n";
    return kExitUsage;
  }
  family::Options options;
  for (const family::Family* f : families::families()) {
    for (const auto& spec : f->options()) {
      if (spec.scope == family::OptionSpec::Scope::kPlanAndApply && vm.count(spec.name) != 0 &&
          !vm[spec.name].defaulted() && (!spec.is_switch || vm[spec.name].as<bool>())) {
        std::cerr << "hsmctl: error: apply: --" << spec.name
                  << " belongs to the plan: give it to hsmctl plan -out (the saved plan "
                     "records it)\n";
        return kExitUsage;
      }
    }
  }
  if (global.crypto_warm_up != nullptr)
    global.crypto_warm_up->ready();
  auto keeper = open_keeper(global, /*will_write=*/true);
  if (!keeper) {
    print_error(keeper.error());
    return exit_code_for(keeper.error());
  }
  auto saved = reconcile::read_saved_plan(path, **keeper);
  if (!saved) {
    print_error(saved.error());
    return exit_code_for(saved.error());
  }
  auto refuse = [&](const std::vector<std::string>& why, const std::string& what) {
    for (const auto& line : why)
      std::cerr << "hsmctl: error: stale plan: " << line << "\n";
    std::cerr << "hsmctl: apply refused: " << path << " is stale; " << what
              << "; make a new plan (hsmctl plan -out)\n";
    return kExitError;
  };
  std::vector<std::string> stale;
  if (saved->hsmctl_version != HSMCTL_VERSION) {
    stale.push_back("hsmctl version " + saved->hsmctl_version + " → " + HSMCTL_VERSION +
                    " since the plan");
  }
  if (auto now = manifest_digests(saved->files); !now) {
    stale.push_back(now.error().to_string());
  } else {
    for (auto& line : manifest_changes(saved->manifests, *now))
      stale.push_back(std::move(line));
  }
  if (auto now = manifest_digests(saved->policy_paths); !now) {
    stale.push_back(now.error().to_string());
  } else {
    for (auto line : manifest_changes(saved->policies, *now)) {
      if (line.rfind("manifest ", 0) == 0)
        line = "policy file " + line.substr(9);
      stale.push_back(std::move(line));
    }
  }
  if (!stale.empty())
    return refuse(stale, "nothing was sent to any device");
  // The plan was checked against these policies when it was saved; the fresh plan is checked
  // the same way before the two are compared (an expired waiver then shows as a difference).
  auto policies = load_policies(saved->policy_paths);
  if (!policies)
    return kExitManifest;

  options.values.insert(saved->options.begin(), saved->options.end());
  for (auto& [name, value] : family_options(vm).values)
    options.values[name] = value;  // the apply options (guards): given now
  std::vector<std::string> device_values;
  for (const auto& u : saved->units) {
    if (!u.device_uri.empty())
      device_values.push_back(u.name + "=" + u.device_uri);
  }
  SelectionArgs selection{saved->selectors, saved->targets, parallel};
  auto started = start_session(saved->files, device_values, selection, global,
                               /*will_write=*/true, std::move(options), std::move(*keeper));
  if (auto* code = std::get_if<int>(&started))
    return *code;
  reconcile::Session& session = *std::get<Started>(started).session;
  (void)policy::check(*policies, std::get<Started>(started).documents,
                      session.plans_for_policy_check(), policy::today_utc());
  std::cout << plan::render_text(session.plans(), global.color);
  if (stop_requested())
    return session.apply(reconcile::Confirm());  // reports the interruption, changes nothing
  const auto fresh = session.saved_units();
  std::vector<std::string> valid, stale_units;
  for (const auto& s : saved->units) {
    auto it = std::find_if(fresh.begin(), fresh.end(),
                           [&](const plan::SavedUnit& f) { return f.name == s.name; });
    std::vector<std::string> changes;
    if (it == fresh.end()) {
      changes.emplace_back("not planned now");
    } else {
      changes = reconcile::unit_changes(s, *it);
    }
    if (changes.empty()) {
      valid.push_back(s.name);
      continue;
    }
    stale_units.push_back(s.name);
    for (const auto& c : changes)
      stale.push_back(s.noun + " \"" + s.name + "\": " + c);
  }
  for (const auto& f : fresh) {
    if (std::none_of(saved->units.begin(), saved->units.end(),
                     [&](const plan::SavedUnit& s) { return s.name == f.name; })) {
      stale.push_back(f.noun + " \"" + f.name + "\" was not in the plan");
      stale_units.push_back(f.name);
    }
  }
  if (!stale.empty()) {
    if (vm.count("apply-valid-devices") == 0 || valid.empty()) {
      return refuse(stale, "nothing was changed");
    }
    for (const auto& line : stale)
      std::cerr << "hsmctl: warning: stale plan: " << line << "\n";
    std::string kept, dropped;
    for (const auto& n : valid)
      kept += (kept.empty() ? "" : ", ") + n;
    for (const auto& n : stale_units)
      dropped += (dropped.empty() ? "" : ", ") + n;
    std::cerr << "hsmctl: --apply-valid-devices: applying the still valid part of " << path << " ("
              << kept << "); not applied: " << dropped << "\n";
    session.keep_only(valid);
  }
  // No confirmation: the plan was reviewed when it was saved, and this is exactly it.
  return session.apply(reconcile::Confirm());
}

/// The apply confirmation on a terminal: kExitOk when the operator typed "yes".
int confirm_on_terminal() {
  if (!isatty(STDIN_FILENO)) {
    std::cerr << "hsmctl: error: apply needs confirmation: run it on a terminal or pass "
                 "--auto-approve\n";
    return kExitError;
  }
  std::cout << "\nDo you want to perform these actions? Only 'yes' is accepted: " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);  // returns early on SIGINT/SIGTERM (no SA_RESTART)
  if (stop_requested()) {
    std::cout << "\n";
    std::cerr << "hsmctl: apply interrupted by " << signal_name(stop_signal())
              << " at the confirmation; nothing was changed\n";
    return exit_code_for_signal(stop_signal());
  }
  if (answer != "yes") {
    std::cerr << "hsmctl: apply cancelled; nothing was changed\n";
    return kExitError;
  }
  return kExitOk;
}

}  // namespace

int validate_main(const std::vector<std::string>& args, const GlobalOptions& /*global*/) {
  std::vector<std::string> files;
  po::options_description o("validate options");
  add_manifest_options(o, &files);
  po::positional_options_description pos;
  bool help = false;
  if (!parse_command("validate", args, o, pos, &help))
    return help ? kExitOk : kExitUsage;
  auto loaded = load(files);
  if (!loaded)
    return kExitManifest;
  std::cout << loaded->documents << " manifest(s) valid.\n";
  return kExitOk;
}

int plan_main(const std::vector<std::string>& args, const GlobalOptions& global) {
  std::vector<std::string> files, device_values;
  SelectionArgs selection;
  std::string output = "text";
  std::string out_file;
  po::options_description o("plan options");
  add_manifest_options(o, &files);
  add_device_options(o, &device_values);
  add_selection_options(o, &selection);
  add_family_options(o, /*apply=*/false, [](const std::string&) {});
  std::vector<std::string> policy_paths;
  add_policy_options(o, &policy_paths);
  o.add_options()("output,o", po::value(&output), "text, json or markdown")(
      "detailed-exitcode",
      "exit 0 when in sync, 2 when there are changes, 3 when anything is blocked "
      "(errors: 1, 69 unavailable)")("out", po::value(&out_file),
                                     "also save the plan to FILE (also -out FILE), for hsmctl "
                                     "show FILE and hsmctl apply FILE");
  po::positional_options_description pos;
  bool help = false;
  auto vm = parse_command("plan", normalize_out_option(args), o, pos, &help);
  if (!vm)
    return help ? kExitOk : kExitUsage;
  if (output != "text" && output != "json" && output != "markdown") {
    std::cerr << "hsmctl: error: plan: --output must be text, json or markdown\n";
    return kExitUsage;
  }
  std::vector<plan::SavedManifest> digests, policy_digests;
  if (!out_file.empty()) {
    if (global.store_path == "none") {
      std::cerr << "hsmctl: error: plan: -out needs the credential store: a saved plan is "
                   "authenticated with a key kept there, and --store none keeps none\n";
      return kExitUsage;
    }
    // Bound before the devices are observed: a manifest edited meanwhile makes the plan stale.
    auto d = manifest_digests(files);
    if (!d) {
      print_error(d.error());
      return exit_code_for(d.error());
    }
    digests = std::move(*d);
    // The policies too: apply checks the same ones on its fresh plan.
    auto p = manifest_digests(policy_paths);
    if (!p) {
      print_error(p.error());
      return exit_code_for(p.error());
    }
    policy_digests = std::move(*p);
  }
  // Observation records facts in the store (two-phase VERIFY records): SIGINT/SIGTERM stop
  // between devices, never in the middle of one (util/interrupt.hpp, docs/exit-codes.md).
  StopOnSignal stop_on_signal;
  auto policies = load_policies(policy_paths);
  if (!policies)
    return kExitManifest;
  const family::Options options = family_options(*vm);
  auto started = start_session(files, device_values, selection, global,
                               /*will_write=*/!out_file.empty(), options);
  if (auto* code = std::get_if<int>(&started))
    return *code;
  reconcile::Session& session = *std::get<Started>(started).session;
  const policy::Results results =
      policy::check(*policies, std::get<Started>(started).documents,
                    session.plans_for_policy_check(), policy::today_utc());
  std::cout << (output == "json"       ? policy::render_json(session.plans(), results)
                : output == "markdown" ? plan::render_markdown(session.plans())
                                       : plan::render_text(session.plans(), global.color));
  const int exit = session.finish_plan(vm->count("detailed-exitcode") != 0);
  if (out_file.empty())
    return exit;
  return save_plan(out_file, session, *std::get<Started>(started).keeper, files, std::move(digests),
                   selection, options, policy_paths, std::move(policy_digests), exit);
}

int apply_main(const std::vector<std::string>& args, const GlobalOptions& global) {
  std::vector<std::string> files, device_values;
  std::string saved_plan;
  SelectionArgs selection;
  po::options_description o("apply options");
  // Required unless a saved plan is given (checked below, with Boost's own message).
  o.add_options()("file,f", po::value(&files)->composing(),
                  "manifest file or directory (repeatable)");
  add_device_options(o, &device_values);
  add_selection_options(o, &selection);
  add_family_options(o, /*apply=*/true, [&o](const std::string&) {
    o.add_options()("auto-approve", "do not ask for confirmation");
  });
  std::vector<std::string> policy_paths;
  add_policy_options(o, &policy_paths);
  o.add_options()("apply-valid-devices",
                  "with a saved plan: apply the devices whose part of it is still valid, "
                  "refuse only the stale ones (default: a stale device refuses the whole plan)")(
      "plan", po::value(&saved_plan),
      "a saved plan (hsmctl plan -out FILE), given as the one positional argument: applies "
      "exactly it, without a question");
  po::positional_options_description pos;
  pos.add("plan", 1);
  bool help = false;
  auto vm = parse_command("apply", args, o, pos, &help);
  if (!vm)
    return help ? kExitOk : kExitUsage;
  // From here on SIGINT/SIGTERM stop between steps (util/interrupt.hpp, docs/exit-codes.md).
  StopOnSignal stop_on_signal;
  if (!saved_plan.empty()) {
    if (!policy_paths.empty()) {
      // The policies were checked when the plan was made (plan --policy -out FILE).
      std::cerr << "hsmctl: error: apply: --policy is checked when the plan is saved (hsmctl "
                   "plan --policy PATH -out FILE), not with a saved plan\n";
      return kExitUsage;
    }
    return apply_saved_plan(saved_plan, *vm, global, selection.parallel);
  }
  if (files.empty()) {
    std::cerr << "hsmctl: error: apply: the option '--file' is required but missing\n";
    return kExitUsage;
  }
  if (vm->count("apply-valid-devices") != 0) {
    std::cerr << "hsmctl: error: apply: --apply-valid-devices needs a saved plan (hsmctl apply "
                 "FILE)\n";
    return kExitUsage;
  }
  auto policies = load_policies(policy_paths);
  if (!policies)
    return kExitManifest;
  auto started = start_session(files, device_values, selection, global, /*will_write=*/true,
                               family_options(*vm));
  if (auto* code = std::get_if<int>(&started))
    return *code;
  reconcile::Session& session = *std::get<Started>(started).session;
  (void)policy::check(*policies, std::get<Started>(started).documents,
                      session.plans_for_policy_check(), policy::today_utc());
  std::cout << plan::render_text(session.plans(), global.color);
  return session.apply(vm->count("auto-approve") ? reconcile::Confirm() : confirm_on_terminal);
}

namespace {

/// What the credential store knows about the device `get` observed: `store:` references for the
/// PINs it holds and the retry maximum it recorded. A store that cannot be opened only means
/// placeholders (get never needs a secret value, and never prints one).
manifest::EmitContext get_context(const model::ObservedPico& o, const GlobalOptions& global) {
  manifest::EmitContext ctx;
  if (o.firmware_major || o.firmware_minor) {
    ctx.labels["hsmctl.dev/firmware"] =
        std::to_string(o.firmware_major) + "." + std::to_string(o.firmware_minor);
  }
  if (o.serial.empty() || !o.initialized)
    return ctx;
  auto keeper = open_keeper(global, false);
  if (!keeper) {
    std::cerr << "hsmctl: note: the credential store could not be opened ("
              << keeper.error().message << "); PINs are emitted as placeholders\n";
    return ctx;
  }
  const auto user_key = families::schsm_engine::credential_key(o.serial, "user-pin");
  const auto so_key = families::schsm_engine::credential_key(o.serial, "so-pin");
  if (auto v = (*keeper)->current(user_key); v && *v)
    ctx.user_pin_ref = "store:" + user_key.id();
  if (auto v = (*keeper)->current(so_key); v && *v)
    ctx.so_pin_ref = "store:" + so_key.id();
  if (auto f = (*keeper)->fact(user_key, "retries_max"); f && *f) {
    try {
      ctx.recorded_pin_retries = std::stoi(**f);
    } catch (const std::exception&) {
      // an unreadable record is no evidence
    }
  }
  return ctx;
}

}  // namespace

int get_main(const std::vector<std::string>& args, const GlobalOptions& global) {
  std::string uri, name = "pico-hsm";
  po::options_description o("get options");
  o.add_options()("device,d", po::value(&uri), "device URI (sim:PATH, pcsc:, pcsc:<reader>)")(
      "name", po::value(&name), "metadata.name of the emitted manifest");
  po::positional_options_description pos;
  bool help = false;
  if (!parse_command("get", args, o, pos, &help))
    return help ? kExitOk : kExitUsage;
  if (uri.empty()) {
    const char* env = std::getenv("HSMCTL_DEVICE");
    uri = env != nullptr && *env != '\0' ? env : "pcsc:";
  }
  auto transport = device::connect::open_device(uri, {});
  if (!transport) {
    print_error(transport.error());
    return exit_code_for(transport.error());
  }
  if (auto lock = (*transport)->begin_exclusive(); !lock) {
    print_error(lock.error());
    return exit_code_for(lock.error());
  }
  device::schsm::SmartCardHsm hsm(**transport);
  device::schsm::ObserveRequest request;  // no candidates: get never sends a VERIFY with data
  auto observed = device::schsm::observe(hsm, request);
  // The device certificate, for its comment in the output: observe() read EF 2F02 with the
  // objects of an initialized device; otherwise (or when it found none, to tell absent from
  // unreadable) it is read here: one READ BINARY.
  ShownCertificate certificate;
  if (observed && observed->objects_read && observed->device_certificate_file) {
    certificate = show_device_certificate(observed->device_certificate_file);
  } else if (observed) {
    certificate = show_device_certificate(hsm.read_ef(device::schsm::kEfDeviceCertificate));
  }
  (*transport)->end_exclusive();
  if (!observed) {
    print_error(observed.error());
    return exit_code_for(observed.error());
  }
  auto context = get_context(*observed, global);
  context.device_certificate = certificate.info;
  context.device_certificate_note = certificate.note;
  std::cout << manifest::emit_pico_manifest(*observed, name, context);
  return kExitOk;
}

int version_main(const std::vector<std::string>& args, const GlobalOptions& /*global*/) {
  po::options_description o("version options");
  po::positional_options_description pos;
  bool help = false;
  if (!parse_command("version", args, o, pos, &help))
    return help ? kExitOk : kExitUsage;
  std::cout << "hsmctl " << HSMCTL_VERSION << "\n";
  return kExitOk;
}

}  // namespace hsmctl::cli
