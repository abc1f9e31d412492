// SPDX-License-Identifier: Apache-2.0
// validate, plan, apply, get, version: the reconcile loop's commands.

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <variant>

#include "cli/commands/commands.hpp"
#include "cli/output.hpp"
#include "cli/parse.hpp"
#include "cli/store_access.hpp"
#include "hsmctl/apply/engine.hpp"
#include "hsmctl/device/open.hpp"
#include "hsmctl/device/schsm/observe.hpp"
#include "hsmctl/device/schsm/smartcard_hsm.hpp"
#include "hsmctl/manifest/load.hpp"
#include "hsmctl/plan/plan.hpp"
#include "hsmctl/primus/engine.hpp"
#include "hsmctl/store/unlock.hpp"
#include "hsmctl/util/interrupt.hpp"

namespace hsmctl::cli {
namespace {

/// --device values: "URI" for every manifest, or "NAME=URI" for one.
struct DeviceMap {
  std::string fallback;
  std::map<std::string, std::string> by_name;

  std::string for_manifest(const std::string& name) const {
    auto it = by_name.find(name);
    return it != by_name.end() ? it->second : fallback;
  }
};

DeviceMap device_map(const std::vector<std::string>& values) {
  DeviceMap m;
  const char* env = std::getenv("HSMCTL_DEVICE");
  m.fallback = env != nullptr && *env != '\0' ? env : "pcsc:";
  for (const auto& v : values) {
    auto eq = v.find('=');
    auto colon = v.find(':');
    if (eq != std::string::npos && (colon == std::string::npos || eq < colon)) {
      m.by_name[v.substr(0, eq)] = v.substr(eq + 1);
    } else {
      m.fallback = v;
    }
  }
  return m;
}

void add_manifest_options(po::options_description& o, std::vector<std::string>* files) {
  o.add_options()("file,f", po::value(files)->required()->composing(),
                  "manifest file or directory (repeatable)");
}

void add_device_options(po::options_description& o, std::vector<std::string>* devices) {
  o.add_options()("device,d", po::value(devices)->composing(),
                  "device URI for all manifests, or NAME=URI for one (repeatable): sim:PATH, "
                  "pcsc:, pcsc:<reader substring>; default $HSMCTL_DEVICE or pcsc:");
}

/// Loads manifests and prints warnings; prints errors and returns nullopt when invalid.
std::optional<manifest::LoadResult> load(const std::vector<std::string>& files) {
  manifest::LoadResult result = manifest::load_manifests(files);
  for (const auto& w : result.warnings) print_warning(w);
  if (!result.ok()) {
    print_errors(result.errors);
    std::cerr << "hsmctl: " << result.errors.size() << " error(s) in the manifests; nothing was "
              << "sent to any device\n";
    return std::nullopt;
  }
  if (result.pico_hsms.empty() && result.primus_clusters.empty() &&
      result.primus_partitions.empty()) {
    // An empty file, only `---` or only comments: never "No changes" for nothing.
    std::string where;
    for (const auto& f : files) where += (where.empty() ? "" : ", ") + f;
    print_error(Error{Errc::kManifest, "no manifest found in " + where, std::nullopt, {}});
    return std::nullopt;
  }
  return result;
}

/// `--device NAME=URI` must name a manifest: an unknown NAME would silently fall back to the
/// default device.
bool check_device_names(const manifest::LoadResult& loaded, const DeviceMap& devices) {
  bool ok = true;
  for (const auto& [name, uri] : devices.by_name) {
    bool found = false;
    std::string known;
    for (const auto& m : loaded.pico_hsms) {
      found = found || m.metadata.name == name;
      known += (known.empty() ? "" : ", ") + m.metadata.name;
    }
    if (!found) {
      print_error(Error{Errc::kUsage,
                        "--device " + name + "=" + uri + ": no PicoHSM manifest is named \"" +
                            name + "\"" + (known.empty() ? "" : " (manifests: " + known + ")"),
                        std::nullopt,
                        {}});
      ok = false;
    }
  }
  return ok;
}

/// Multiple manifests on one simulator file would all describe the same device.
bool check_device_assignment(const manifest::LoadResult& loaded, const DeviceMap& devices) {
  std::map<std::string, std::string> seen;
  for (const auto& m : loaded.pico_hsms) {
    const std::string uri = devices.for_manifest(m.metadata.name);
    if (uri.rfind("sim:", 0) != 0 && uri.rfind("pcsc:", 0) != 0) continue;
    if (uri == "pcsc:") continue;  // each manifest selects its own reader by serial
    auto [it, inserted] = seen.emplace(uri, m.metadata.name);
    if (!inserted) {
      print_error(Error{Errc::kUsage,
                        "manifests \"" + it->second + "\" and \"" + m.metadata.name +
                            "\" would both use device " + uri + "; give NAME=URI per manifest",
                        std::nullopt,
                        {}});
      return false;
    }
  }
  return true;
}

struct Prepared {
  std::vector<apply::PreparedDevice> devices;
  std::vector<primus::PreparedCluster> clusters;
  /// One per manifest device / cluster, in manifest order; failed ones have status error.
  std::vector<plan::DevicePlan> plans;
  int failures = 0;
  int worst_exit = kExitOk;
  /// A stop was requested (SIGINT/SIGTERM) while preparing: these were not (fully) observed.
  std::vector<std::string> not_observed;

  /// A device (or cluster) not observed because a stop was requested: status error, code
  /// "interrupted", so a plan (text or JSON) never reads as complete.
  void add_not_observed(const std::string& name, const std::string& uri) {
    plan::DevicePlan p;
    p.name = name;
    p.transport = uri;
    p.error = plan::DeviceError{
        "interrupted", std::string("not observed: interrupted by ") + signal_name(stop_signal())};
    plans.push_back(std::move(p));
    not_observed.push_back(name);
  }

  /// A device that could not be planned: reported on stderr and as a plan with status error,
  /// so it never disappears from the output and never reads as "no changes".
  void add_failure(const std::string& name, const std::string& uri, const Error& error,
                   const char* what) {
    Error e = error;
    e.message = std::string(what) + " \"" + name + "\": " + e.message;
    print_error(e);
    plan::DevicePlan p;
    p.name = name;
    p.transport = uri;
    p.error = plan::DeviceError{errc_name(error.code), error.to_string()};
    plans.push_back(std::move(p));
    ++failures;
    worst_exit = std::max(worst_exit, exit_code_for(error));
  }

  bool any_blocked() const {
    for (const auto& p : plans) {
      if (p.has_blocked()) return true;
    }
    return false;
  }
  bool any_changes() const {
    for (const auto& p : plans) {
      if (p.has_changes()) return true;
    }
    return false;
  }
};

Prepared prepare_all(const manifest::LoadResult& loaded, const DeviceMap& devices,
                     store::CredentialKeeper& keeper, int verbosity,
                     const primus::EngineOptions& primus_options) {
  Prepared out;
  // A stop request is honoured between devices: one device's observation (each VERIFY with its
  // two-phase record in the store) always completes, so no accepted value is left recorded as
  // "sending" (which would withhold it from every later run).
  for (const auto& m : loaded.pico_hsms) {
    const std::string uri = devices.for_manifest(m.metadata.name);
    if (stop_requested()) {
      out.add_not_observed(m.metadata.name, uri);
      continue;
    }
    auto p = apply::prepare(m, uri, keeper);
    if (!p && stop_requested() && p.error().code == Errc::kSecret) {
      // Interrupted at a prompt for one of its secrets: nothing was sent to it. Any other
      // failure (the device's, during an observation the stop let finish) is reported as is.
      out.add_not_observed(m.metadata.name, uri);
      continue;
    }
    if (!p) {
      out.add_failure(m.metadata.name, uri, p.error(), "device");
      continue;
    }
    if (verbosity > 0) {
      std::cerr << "hsmctl: device \"" << m.metadata.name << "\": observation sent "
                << p->observed.apdu_count << " APDUs via " << p->observed.transport << "\n";
    }
    out.plans.push_back(p->plan);
    out.devices.push_back(std::move(*p));
  }
  if (!loaded.primus_clusters.empty() && stop_requested()) {
    for (const auto& c : loaded.primus_clusters)
      out.add_not_observed(c.name, "");
  } else if (!loaded.primus_clusters.empty()) {
    auto clusters = primus::prepare(loaded.primus_clusters, loaded.primus_partitions, keeper,
                                    primus_options);
    if (!clusters) {
      // primus::prepare() is all-or-nothing: every cluster shares the one error.
      for (const auto& c : loaded.primus_clusters) {
        out.add_failure(c.name, "", clusters.error(), "cluster");
      }
    } else {
      for (auto& c : *clusters) {
        out.plans.push_back(c.plan.plan);
        out.clusters.push_back(std::move(c));
      }
    }
  }
  return out;
}

void add_primus_options(po::options_description& o, primus::EngineOptions* options) {
  o.add_options()("ppin", po::value(&options->ppin_program),
                  "Securosys ppin program (default $HSMCTL_PPIN or ppin on PATH)")(
      "probe", po::bool_switch(&options->probe),
      "Primus: also run `ppin -t` (performs a login on the HSM)")(
      "retry-rejected", po::bool_switch(&options->retry_rejected),
      "Primus: send values recorded as rejected once more (after a lockout by other clients)");
}

/// Everything plan and apply share: valid manifests, the credential store, every device and
/// cluster observed and planned. Manifests live here because prepared devices point into them.
struct Session {
  manifest::LoadResult loaded;
  std::unique_ptr<store::CredentialKeeper> keeper;
  Prepared prepared;
};

/// Loads, checks device assignments, opens the store and prepares; an exit code on failure.
std::variant<int, std::unique_ptr<Session>> start_session(
    const std::vector<std::string>& files, const std::vector<std::string>& device_values,
    const GlobalOptions& global, bool will_write, const primus::EngineOptions& primus_options) {
  auto session = std::make_unique<Session>();
  auto loaded = load(files);
  if (!loaded) return kExitManifest;
  session->loaded = std::move(*loaded);
  const DeviceMap devices = device_map(device_values);
  if (!check_device_names(session->loaded, devices)) return kExitUsage;
  if (!check_device_assignment(session->loaded, devices)) return kExitUsage;
  (void)store::disable_core_dumps();
  auto keeper = open_keeper(global, will_write);
  if (!keeper && stop_requested()) {
    std::cerr << "hsmctl: interrupted by " << signal_name(stop_signal())
              << " before the credential store was opened; nothing was sent to any device\n";
    return exit_code_for_signal(stop_signal());
  }
  if (!keeper) {
    print_error(keeper.error());
    return exit_code_for(keeper.error());
  }
  session->keeper = std::move(*keeper);
  session->prepared = prepare_all(session->loaded, devices, *session->keeper, global.verbosity,
                                  primus_options);
  return session;
}

/// The rest of the line after "plan/apply interrupted by SIG...": which devices were not
/// observed. Observation of the device in progress completes (each VERIFY with its record in the
/// store, so an accepted value is never left recorded as "sending").
std::string interrupted_observation(const Prepared& prepared) {
  std::string which;
  for (const auto& n : prepared.not_observed)
    which += (which.empty() ? "" : ", ") + n;
  return " while observing the devices" +
         (which.empty() ? std::string() : " (not observed: " + which + ")") +
         "; the plan above is incomplete; nothing was changed on any device";
}

/// What an apply stopped by SIGINT/SIGTERM did and did not do, over all devices, in plan order.
class Interruption {
 public:
  /// A device (or cluster) execute() ran for: `total` steps, `not_started` never sent.
  void ran(const std::string& name, int total, const std::vector<std::string>& not_started) {
    const int finished = total - static_cast<int>(not_started.size());
    total_ += total;
    finished_ += finished;
    if (not_started.empty())
      return;
    const int sig = stop_signal();
    std::cout << "[" << name << "] interrupted by " << signal_name(sig)
              << (finished == 0 ? " before step 1" : " after step " + std::to_string(finished))
              << " of " << total << "; " << range(finished, total) << " not started: ";
    for (std::size_t i = 0; i < not_started.size(); ++i) {
      std::cout << (i == 0 ? "" : "; ") << not_started[i];
    }
    std::cout << "\n" << std::flush;
  }
  /// A device (or cluster) whose execution never began.
  void not_started(const plan::DevicePlan& p) {
    int steps = 0;
    for (const auto& a : p.actions)
      steps += a.action_class != plan::ActionClass::kBlocked;
    total_ += steps;
    untouched_ += (untouched_.empty() ? "" : ", ") + p.name;
  }
  std::string summary(int sig) const {
    std::string s = std::string("interrupted by ") + signal_name(sig);
    if (finished_ == total_) {
      s += total_ == 0
               ? "; there was nothing to apply"
               : " after the last step: all " + std::to_string(total_) + " step(s) were done";
    } else {
      s += (finished_ == 0 ? " before step 1" : " after step " + std::to_string(finished_)) +
           " of " + std::to_string(total_) + "; " + range(finished_, total_) + " not started";
    }
    if (!untouched_.empty())
      s += " (devices not started: " + untouched_ + ")";
    return s + (finished_ == total_ ? "" : "; run 'hsmctl apply' again to continue");
  }

 private:
  static std::string range(int finished, int total) {
    if (finished + 1 == total)
      return "step " + std::to_string(total);
    return "steps " + std::to_string(finished + 1) + "-" + std::to_string(total);
  }
  int total_ = 0;
  int finished_ = 0;
  std::string untouched_;
};

primus::EngineOptions primus_defaults() {
  primus::EngineOptions o;
  if (const char* p = std::getenv("HSMCTL_PPIN"); p != nullptr && *p != '\0') o.ppin_program = p;
  return o;
}

}  // namespace

int validate_main(const std::vector<std::string>& args, const GlobalOptions& /*global*/) {
  std::vector<std::string> files;
  po::options_description o("validate options");
  add_manifest_options(o, &files);
  po::positional_options_description pos;
  bool help = false;
  if (!parse_command("validate", args, o, pos, &help)) return help ? kExitOk : kExitUsage;
  auto loaded = load(files);
  if (!loaded) return kExitManifest;
  std::cout << loaded->pico_hsms.size() + loaded->primus_clusters.size() +
                   loaded->primus_partitions.size()
            << " manifest(s) valid.\n";
  return kExitOk;
}

int plan_main(const std::vector<std::string>& args, const GlobalOptions& global) {
  std::vector<std::string> files, device_values;
  std::string output = "text";
  po::options_description o("plan options");
  primus::EngineOptions primus_options = primus_defaults();
  add_manifest_options(o, &files);
  add_device_options(o, &device_values);
  add_primus_options(o, &primus_options);
  o.add_options()("output,o", po::value(&output), "text or json")(
      "detailed-exitcode",
      "exit 0 when in sync, 2 when there are changes, 3 when anything is blocked "
      "(errors: 1, 69 unavailable)");
  po::positional_options_description pos;
  bool help = false;
  auto vm = parse_command("plan", args, o, pos, &help);
  if (!vm) return help ? kExitOk : kExitUsage;
  if (output != "text" && output != "json") {
    std::cerr << "hsmctl: error: plan: --output must be text or json\n";
    return kExitUsage;
  }
  // Observation records facts in the store (two-phase VERIFY records): SIGINT/SIGTERM stop
  // between devices, never in the middle of one (util/interrupt.hpp, docs/exit-codes.md).
  StopOnSignal stop_on_signal;
  auto started = start_session(files, device_values, global, /*will_write=*/false, primus_options);
  if (auto* code = std::get_if<int>(&started)) return *code;
  Prepared& prepared = std::get<std::unique_ptr<Session>>(started)->prepared;
  std::cout << (output == "json" ? plan::render_json(prepared.plans)
                                 : plan::render_text(prepared.plans, global.color));
  if (stop_requested()) {
    std::cerr << "hsmctl: plan interrupted by " << signal_name(stop_signal())
              << interrupted_observation(prepared) << "\n";
    return exit_code_for_signal(stop_signal());
  }
  if (prepared.failures > 0) return prepared.worst_exit;
  if (!vm->count("detailed-exitcode")) return kExitOk;
  if (prepared.any_blocked()) return kExitBlocked;
  return prepared.any_changes() ? kExitChanges : kExitOk;
}

int apply_main(const std::vector<std::string>& args, const GlobalOptions& global) {
  std::vector<std::string> files, device_values;
  apply::ApplyOptions options;
  po::options_description o("apply options");
  primus::EngineOptions primus_options = primus_defaults();
  primus::ApplyOptions primus_apply;
  add_manifest_options(o, &files);
  add_device_options(o, &device_values);
  add_primus_options(o, &primus_options);
  o.add_options()("allow-destructive", po::bool_switch(&primus_apply.allow_destructive),
                  "Primus: allow removing permanent secrets / proxy passwords (ppin -r / -x)");
  o.add_options()("auto-approve", "do not ask for confirmation")(
      "allow-reinit", po::bool_switch(&options.allow_reinit),
      "allow re-initialization (wipes all keys) where the plan needs it")(
      "allow-key-loss", po::bool_switch(&options.allow_key_loss),
      "with --allow-reinit: also re-initialize devices that hold private keys");
  po::positional_options_description pos;
  bool help = false;
  auto vm = parse_command("apply", args, o, pos, &help);
  if (!vm) return help ? kExitOk : kExitUsage;
  // From here on SIGINT/SIGTERM stop between steps (util/interrupt.hpp, docs/exit-codes.md).
  StopOnSignal stop_on_signal;
  auto started = start_session(files, device_values, global, /*will_write=*/true, primus_options);
  if (auto* code = std::get_if<int>(&started)) return *code;
  Session& session = *std::get<std::unique_ptr<Session>>(started);
  Prepared& prepared = session.prepared;
  store::CredentialKeeper& keeper = *session.keeper;
  std::cout << plan::render_text(prepared.plans, global.color);
  if (stop_requested()) {
    std::cerr << "hsmctl: apply interrupted by " << signal_name(stop_signal())
              << interrupted_observation(prepared) << "\n";
    return exit_code_for_signal(stop_signal());
  }
  // All-or-nothing across devices: an error or a blocked action anywhere changes nothing.
  if (prepared.failures > 0) {
    std::cerr << "hsmctl: apply refused: " << prepared.failures
              << " device(s) could not be planned; nothing was changed\n";
    return prepared.worst_exit;
  }
  if (prepared.any_blocked()) {
    std::cerr << "hsmctl: apply refused: blocked actions need an operator first (see the plan); "
                 "nothing was changed\n";
    return kExitBlocked;
  }

  const bool changes = prepared.any_changes();
  // Guards first, for every device, before any device is touched.
  for (const auto& d : prepared.devices) {
    auto g = apply::check_guards(d, options);
    if (!g) {
      print_error(g.error());
      return kExitError;
    }
  }
  for (const auto& c : prepared.clusters) {
    auto g = primus::check_guards(c, primus_apply);
    if (!g) {
      print_error(g.error());
      return kExitError;
    }
  }
  if (changes && !vm->count("auto-approve")) {
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
  }

  int exit = kExitOk;
  int done = 0, blocked = 0;
  Interruption interruption;
  for (auto& d : prepared.devices) {
    if (stop_requested()) {
      interruption.not_started(d.plan);
      continue;
    }
    auto report = apply::execute(d, options, keeper, [&](const std::string& line) {
      std::cout << "[" << d.plan.name << "] " << line << "\n" << std::flush;
    });
    if (!report) {
      Error e = report.error();
      e.message = "device \"" + d.plan.name + "\": " + e.message;
      print_error(e);
      exit = std::max(exit, exit_code_for(e));
      continue;
    }
    done += report->steps_done;
    blocked += report->steps_blocked;
    interruption.ran(d.plan.name, report->steps_total, report->not_started);
  }
  for (auto& c : prepared.clusters) {
    if (stop_requested()) {
      interruption.not_started(c.plan.plan);
      continue;
    }
    auto report = primus::execute(c, primus_apply, keeper, [&](const std::string& line) {
      std::cout << "[" << c.plan.plan.name << "] " << line << "\n" << std::flush;
    });
    if (!report) {
      Error e = report.error();
      e.message = "cluster \"" + c.plan.plan.name + "\": " + e.message;
      print_error(e);
      exit = std::max(exit, exit_code_for(e));
      continue;
    }
    done += report->steps_done;
    blocked += report->steps_blocked;
    interruption.ran(c.plan.plan.name, report->steps_total, report->not_started);
  }
  if (stop_requested()) {
    // Never a success line: say exactly what ran and what did not.
    std::cerr << "hsmctl: apply " << interruption.summary(stop_signal())
              << (exit != kExitOk ? " (and a device failed, see above)" : "") << "\n";
    return std::max(exit, exit_code_for_signal(stop_signal()));
  }
  if (exit != kExitOk) {
    std::cerr << "hsmctl: apply stopped; run 'hsmctl plan' to see the devices' state now\n";
    return exit;
  }
  if (changes) std::cout << "\nApply complete: " << done << " step(s) done";
  else std::cout << "\nNothing to apply";
  if (blocked > 0) std::cout << ", " << blocked << " blocked (see the plan)";
  std::cout << ".\n";
  return blocked > 0 ? kExitBlocked : kExitOk;
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
  if (o.serial.empty() || !o.initialized) return ctx;
  auto keeper = open_keeper(global, false);
  if (!keeper) {
    std::cerr << "hsmctl: note: the credential store could not be opened ("
              << keeper.error().message << "); PINs are emitted as placeholders\n";
    return ctx;
  }
  const auto user_key = apply::credential_key(o.serial, "user-pin");
  const auto so_key = apply::credential_key(o.serial, "so-pin");
  if (auto v = (*keeper)->current(user_key); v && *v) ctx.user_pin_ref = "store:" + user_key.id();
  if (auto v = (*keeper)->current(so_key); v && *v) ctx.so_pin_ref = "store:" + so_key.id();
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
  if (!parse_command("get", args, o, pos, &help)) return help ? kExitOk : kExitUsage;
  if (uri.empty()) {
    const char* env = std::getenv("HSMCTL_DEVICE");
    uri = env != nullptr && *env != '\0' ? env : "pcsc:";
  }
  auto transport = device::open_device(uri, {});
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
  (*transport)->end_exclusive();
  if (!observed) {
    print_error(observed.error());
    return exit_code_for(observed.error());
  }
  std::cout << manifest::emit_pico_manifest(*observed, name, get_context(*observed, global));
  return kExitOk;
}

int version_main(const std::vector<std::string>& args, const GlobalOptions& /*global*/) {
  po::options_description o("version options");
  po::positional_options_description pos;
  bool help = false;
  if (!parse_command("version", args, o, pos, &help)) return help ? kExitOk : kExitUsage;
  std::cout << "hsmctl " << HSMCTL_VERSION << "\n";
  return kExitOk;
}

}  // namespace hsmctl::cli
