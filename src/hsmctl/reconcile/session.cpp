// SPDX-License-Identifier: Apache-2.0
#include "hsmctl/reconcile/session.hpp"

#include "hsmctl/reconcile/exit_code.hpp"
#include "hsmctl/store/serialized_keeper.hpp"
#include "hsmctl/util/interrupt.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <ostream>
#include <thread>
#include <utility>

namespace hsmctl::reconcile {
namespace {

Error usage_error(std::string message) {
  Error e;
  e.code = Errc::kUsage;
  e.message = std::move(message);
  return e;
}

/// What an apply stopped by SIGINT/SIGTERM did and did not do, over all units, in plan order.
class Interruption {
 public:
  /// A unit execute() ran for: `total` steps, `not_started` never sent (its line, if any, was
  /// written with the unit's progress: stop_line()).
  void ran(int total, const std::vector<std::string>& not_started) {
    total_ += total;
    finished_ += total - static_cast<int>(not_started.size());
  }
  /// "[name] interrupted by SIGINT after step 1 of 2; step 2 not started: ...", or "" when every
  /// step ran.
  static std::string stop_line(const std::string& name, int total,
                               const std::vector<std::string>& not_started) {
    if (not_started.empty())
      return {};
    const int finished = total - static_cast<int>(not_started.size());
    std::string line =
        "[" + name + "] interrupted by " + signal_name(stop_signal()) +
        (finished == 0 ? " before step 1" : " after step " + std::to_string(finished)) + " of " +
        std::to_string(total) + "; " + range(finished, total) + " not started: ";
    for (std::size_t i = 0; i < not_started.size(); ++i)
      line += (i == 0 ? "" : "; ") + not_started[i];
    return line + "\n";
  }
  /// A unit whose execution never began.
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

/// Progress lines of units executed at once, written in unit order: the first unit not finished
/// yet streams live; the others' lines wait until every unit before them finished.
class OrderedLines {
 public:
  OrderedLines(std::ostream& out, std::size_t units)
      : out_(out), pending_(units), finished_(units) {}

  void add(std::size_t unit, std::string line) {
    const std::lock_guard<std::mutex> guard(mutex_);
    if (unit == head_) {
      out_ << line << std::flush;
    } else {
      pending_[unit].push_back(std::move(line));
    }
  }
  void finish(std::size_t unit) {
    const std::lock_guard<std::mutex> guard(mutex_);
    finished_[unit] = true;
    while (head_ < finished_.size() && finished_[head_]) {
      ++head_;
      if (head_ < pending_.size()) {
        for (const auto& line : pending_[head_])
          out_ << line;
        pending_[head_].clear();
        out_ << std::flush;
      }
    }
  }

 private:
  std::ostream& out_;
  std::mutex mutex_;
  std::vector<std::vector<std::string>> pending_;
  std::vector<bool> finished_;
  std::size_t head_ = 0;
};

}  // namespace

std::string DeviceMap::for_unit(const std::string& name) const {
  auto it = by_name.find(name);
  return it != by_name.end() ? it->second : fallback;
}

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

std::vector<Error> device_errors(const std::vector<std::unique_ptr<family::Unit>>& units,
                                 const DeviceMap& devices,
                                 std::span<const family::Family* const> table) {
  std::vector<Error> errors;
  // `--device NAME=URI` must name a unit: an unknown NAME would silently fall back to the
  // default device.
  std::string kinds;
  for (const family::Family* f : table) {
    for (const auto& k : f->kinds()) {
      if (k.device_uri)
        kinds += (kinds.empty() ? "" : " or ") + k.kind;
    }
  }
  std::string known;
  for (const auto& u : units) {
    if (u->takes_device_uri())
      known += (known.empty() ? "" : ", ") + u->name();
  }
  for (const auto& [name, uri] : devices.by_name) {
    bool found = false;
    for (const auto& u : units)
      found = found || (u->takes_device_uri() && u->name() == name);
    if (!found) {
      errors.push_back(usage_error("--device " + name + "=" + uri + ": no " + kinds +
                                   " manifest is named \"" + name + "\"" +
                                   (known.empty() ? "" : " (manifests: " + known + ")")));
    }
  }
  if (!errors.empty())
    return errors;
  // Two units on one simulator file or reader would both describe the same device.
  std::map<std::string, std::string> seen;
  for (const auto& u : units) {
    if (!u->takes_device_uri())
      continue;
    const std::string uri = devices.for_unit(u->name());
    if (uri.rfind("sim:", 0) != 0 && uri.rfind("pcsc:", 0) != 0)
      continue;
    if (uri == "pcsc:")
      continue;  // each manifest selects its own reader by serial
    auto [it, inserted] = seen.emplace(uri, u->name());
    if (!inserted) {
      errors.push_back(usage_error("manifests \"" + it->second + "\" and \"" + u->name() +
                                   "\" would both use device " + uri +
                                   "; give NAME=URI per manifest"));
      return errors;
    }
  }
  return errors;
}

namespace {

bool label_key_ok(const std::string& key) {
  // The schemas' propertyNames pattern: ^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$
  auto alnum = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (key.empty() || key.size() > 253 || !alnum(key.front()) || !alnum(key.back()))
    return false;
  return std::all_of(key.begin(), key.end(), [&](char c) {
    return alnum(c) || c == '.' || c == '_' || c == '/' || c == '-';
  });
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

bool Selection::matches(const family::Unit& unit) const {
  if (!targets.empty() && std::find(targets.begin(), targets.end(), unit.name()) == targets.end()) {
    return false;
  }
  const auto& labels = unit.labels();
  return std::all_of(requirements.begin(), requirements.end(), [&](const Requirement& r) {
    auto it = labels.find(r.key);
    const bool same = it != labels.end() && it->second == r.value;
    return r.equal ? same : !same;
  });
}

Result<Selection> parse_selection(const std::vector<std::string>& selectors,
                                  const std::vector<std::string>& targets) {
  Selection s;
  for (const auto& text : selectors) {
    s.selector_text += (s.selector_text.empty() ? "" : ",") + text;
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = text.find(',', start);
      const std::string item =
          text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      const std::size_t eq = item.find('=');
      Selection::Requirement r;
      if (eq != std::string::npos) {
        r.equal = eq == 0 || item[eq - 1] != '!';
        r.key = item.substr(0, r.equal ? eq : eq - 1);
        // "key==value" is accepted as "key=value" (as kubectl does).
        r.value =
            item.substr(r.equal && eq + 1 < item.size() && item[eq + 1] == '=' ? eq + 2 : eq + 1);
      }
      if (eq == std::string::npos || !label_key_ok(r.key)) {
        return make_error(Errc::kUsage,
                          "--selector \"" + text + "\": \"" + item +
                              "\" is not key=value or key!=value (a label key: letters, digits, "
                              "'.', '_', '/', '-'; pairs separated by ',')");
      }
      s.requirements.push_back(std::move(r));
      if (comma == std::string::npos)
        break;
      start = comma + 1;
    }
  }
  for (const auto& t : targets) {
    if (t.empty())
      return make_error(Errc::kUsage, "--target needs a metadata.name");
    s.targets.push_back(t);
  }
  return s;
}

Result<Selected> select_units(std::vector<std::unique_ptr<family::Unit>> units,
                              const Selection& selection) {
  Selected out;
  if (selection.empty()) {
    out.units = std::move(units);
    return out;
  }
  std::vector<std::string> all;
  all.reserve(units.size());
  for (const auto& u : units)
    all.push_back(u->name());
  for (const auto& t : selection.targets) {
    if (std::find(all.begin(), all.end(), t) == all.end()) {
      return make_error(Errc::kUsage, "--target " + t + ": no manifest is named \"" + t +
                                          "\" (manifests: " + join(all) + ")");
    }
  }
  for (auto& u : units) {
    if (selection.matches(*u)) {
      out.units.push_back(std::move(u));
    } else {
      out.skipped.push_back(u->name());
    }
  }
  if (out.units.empty()) {
    std::string what;
    if (!selection.selector_text.empty())
      what = "selector " + selection.selector_text;
    if (!selection.targets.empty()) {
      what += (what.empty() ? "" : " and ") + std::string("--target ") + join(selection.targets);
    }
    return make_error(Errc::kManifest, "no manifests match " + what + " (manifests: " + join(all) +
                                           "); nothing was sent to any device");
  }
  return out;
}

struct Session::Entry {
  std::unique_ptr<family::Unit> unit;
  std::string uri;  ///< the unit's --device, or empty
  std::unique_ptr<family::PreparedUnit> prepared;
};

Session::Session(std::vector<std::unique_ptr<family::Unit>> units, store::CredentialKeeper& keeper,
                 family::Options options, Io io)
    : keeper_(keeper), options_(std::move(options)), io_(std::move(io)) {
  for (auto& u : units)
    entries_.push_back(Entry{std::move(u), {}, nullptr});
}

Session::~Session() = default;

void Session::print_error(const Error& error) const {
  if (io_.print_error) {
    io_.print_error(error);
  } else {
    io_.err << "hsmctl: error: " << error.to_string() << "\n";
  }
}

void Session::add_not_observed(const Entry& entry) {
  plan::DevicePlan p;
  p.name = entry.unit->name();
  p.transport = entry.uri;
  p.error = plan::DeviceError{
      "interrupted", std::string("not observed: interrupted by ") + signal_name(stop_signal())};
  plans_.push_back(std::move(p));
  not_observed_.push_back(entry.unit->name());
}

void Session::add_failure(const Entry& entry, const Error& error) {
  Error e = error;
  e.message = std::string(entry.unit->noun()) + " \"" + entry.unit->name() + "\": " + e.message;
  print_error(e);
  plan::DevicePlan p;
  p.name = entry.unit->name();
  p.transport = entry.uri;
  p.error = plan::DeviceError{errc_name(error.code), error.to_string()};
  plans_.push_back(std::move(p));
  ++failures_;
  worst_exit_ = std::max(worst_exit_, exit_code_for(error));
}

void Session::for_each_entry(
    const std::function<void(std::size_t, store::CredentialKeeper&)>& one) {
  const std::size_t workers = workers_for();
  if (workers <= 1) {
    for (std::size_t i = 0; i < entries_.size(); ++i)
      one(i, keeper_);
    return;
  }
  // A bounded pool; each unit's card session stays its own (one worker handles it), the store
  // is shared through one serialized keeper.
  store::SerializedKeeper shared(keeper_);
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  pool.reserve(workers);
  for (std::size_t w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      for (std::size_t i = next++; i < entries_.size(); i = next++)
        one(i, shared);
    });
  }
  for (auto& t : pool)
    t.join();
}

std::size_t Session::workers_for() const {
  if (max_parallel_ <= 1 || entries_.size() <= 1)
    return 1;
  // Plain `pcsc:` finds its card by asking every reader (the by-serial probe): two such probes,
  // or a probe and another unit's session, would compete for the same cards. Parallel only when
  // every device is named: a simulator file or a reader (device_errors() made them distinct).
  for (const Entry& entry : entries_) {
    if (!entry.unit->takes_device_uri())
      continue;
    if (entry.uri.rfind("sim:", 0) == 0)
      continue;
    if (entry.uri.rfind("pcsc:", 0) == 0 && entry.uri.size() > 5)
      continue;
    return 1;
  }
  return std::min<std::size_t>(static_cast<std::size_t>(max_parallel_), entries_.size());
}

void Session::prepare(const DeviceMap& devices, int verbosity) {
  for (Entry& entry : entries_) {
    entry.uri =
        entry.unit->takes_device_uri() ? devices.for_unit(entry.unit->name()) : std::string();
  }
  // What became of each unit; reported below in unit order, whatever order the workers ran in.
  struct Outcome {
    bool observed = false;
    std::optional<Error> error;
  };
  std::vector<Outcome> outcomes(entries_.size());
  auto prepare_one = [&](std::size_t i, store::CredentialKeeper& keeper) {
    Entry& entry = entries_[i];
    // A stop request is honoured between units: one unit's observation (each VERIFY with its
    // two-phase record in the store) always completes, so no accepted value is left recorded
    // as "sending" (which would withhold it from every later run).
    if (stop_requested())
      return;
    family::RunContext context{keeper, options_, entry.uri};
    auto p = entry.unit->prepare(context);
    if (!p && stop_requested() && p.error().code == Errc::kSecret) {
      // Interrupted at a prompt for one of its secrets: nothing was sent to it. Any other
      // failure (the device's, during an observation the stop let finish) is reported as is.
      return;
    }
    outcomes[i].observed = true;
    if (!p) {
      outcomes[i].error = p.error();
      return;
    }
    entry.prepared = std::move(*p);
  };
  // after every entry.uri is set (workers_for() reads them)
  for_each_entry([&](std::size_t i, store::CredentialKeeper& keeper) {
    try {
      prepare_one(i, keeper);
    } catch (const std::exception& e) {  // never std::terminate from a worker
      outcomes[i].observed = true;
      outcomes[i].error =
          make_error(Errc::kInternal, std::string("internal error: ") + e.what()).value();
    }
  });
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry& entry = entries_[i];
    if (!outcomes[i].observed) {
      add_not_observed(entry);
      continue;
    }
    if (outcomes[i].error) {
      add_failure(entry, *outcomes[i].error);
      continue;
    }
    if (verbosity > 0) {
      const std::string line = entry.prepared->observation_line();
      if (!line.empty()) {
        io_.err << "hsmctl: " << entry.unit->noun() << " \"" << entry.unit->name() << "\": " << line
                << "\n";
      }
    }
    plans_.push_back(entry.prepared->plan());
  }
}

std::vector<plan::SavedUnit> Session::saved_units() const {
  std::vector<plan::SavedUnit> out;
  for (std::size_t i = 0; i < entries_.size() && i < plans_.size(); ++i) {
    const Entry& entry = entries_[i];
    plan::SavedUnit u;
    u.name = entry.unit->name();
    u.noun = entry.unit->noun();
    u.device_uri = entry.uri;
    if (entry.prepared)
      u.observation = entry.prepared->observation_facts();
    u.plan = plans_[i];
    u.plan.actions.clear();
    for (const auto& a : plans_[i].actions) {
      u.plan.actions.push_back(a);
      u.plan.actions.back().payload.reset();  // family-private; never saved
    }
    out.push_back(std::move(u));
  }
  return out;
}

void Session::keep_only(const std::vector<std::string>& names) {
  // prepare() made one plan per entry, in entry order.
  std::vector<Entry> entries;
  std::vector<plan::DevicePlan> plans;
  for (std::size_t i = 0; i < entries_.size() && i < plans_.size(); ++i) {
    if (std::find(names.begin(), names.end(), entries_[i].unit->name()) == names.end())
      continue;
    entries.push_back(std::move(entries_[i]));
    plans.push_back(std::move(plans_[i]));
  }
  entries_ = std::move(entries);
  plans_ = std::move(plans);
  // A unit that could not be prepared is never valid; what remains decides apply alone.
  failures_ = static_cast<int>(std::count_if(plans_.begin(), plans_.end(),
                                             [](const plan::DevicePlan& p) { return p.error; }));
  if (failures_ == 0)
    worst_exit_ = 0;
}

bool Session::any_blocked() const {
  return std::any_of(plans_.begin(), plans_.end(),
                     [](const plan::DevicePlan& p) { return p.has_blocked(); });
}

bool Session::any_changes() const {
  return std::any_of(plans_.begin(), plans_.end(),
                     [](const plan::DevicePlan& p) { return p.has_changes(); });
}

/// The rest of the line after "plan/apply interrupted by SIG...": which units were not
/// observed.
std::string Session::interrupted_observation() const {
  std::string which;
  for (const auto& n : not_observed_)
    which += (which.empty() ? "" : ", ") + n;
  if (which.empty()) {
    // Every unit was in progress when the stop came (parallel preparation) and completed.
    return " while observing the devices; every device was observed, but the run stops here; "
           "nothing was changed on any device";
  }
  return " while observing the devices (not observed: " + which +
         "); the plan above is incomplete; nothing was changed on any device";
}

int Session::finish_plan(bool detailed) const {
  if (stop_requested()) {
    io_.err << "hsmctl: plan interrupted by " << signal_name(stop_signal())
            << interrupted_observation() << "\n";
    return exit_code_for_signal(stop_signal());
  }
  if (failures_ > 0)
    return worst_exit_;
  if (!detailed)
    return kExitOk;
  if (any_blocked())
    return kExitBlocked;
  return any_changes() ? kExitChanges : kExitOk;
}

int Session::apply(const Confirm& confirm) {
  if (stop_requested()) {
    io_.err << "hsmctl: apply interrupted by " << signal_name(stop_signal())
            << interrupted_observation() << "\n";
    return exit_code_for_signal(stop_signal());
  }
  // All-or-nothing across units: an error or a blocked action anywhere changes nothing.
  if (failures_ > 0) {
    io_.err << "hsmctl: apply refused: " << failures_
            << " device(s) could not be planned; nothing was changed\n";
    return worst_exit_;
  }
  if (any_blocked()) {
    io_.err << "hsmctl: apply refused: blocked actions need an operator first (see the plan); "
               "nothing was changed\n";
    return kExitBlocked;
  }
  const bool changes = any_changes();
  // Guards first, for every unit, before any unit is touched.
  for (const Entry& entry : entries_) {
    auto g = entry.prepared->check_guards(options_);
    if (!g) {
      print_error(g.error());
      return kExitError;
    }
  }
  if (changes && confirm) {
    const int answer = confirm();
    if (answer != kExitOk)
      return answer;
  }

  // Up to workers_for() units at once (every device named; each card session is its own, the
  // store is shared through one serialized keeper). A failure stops the apply
  // (docs/exit-codes.md): what made one unit fail (the store, the reader, a device answer nobody
  // planned for) is not known to spare the next one, so no unit starts after it; units already
  // running finish their plan. Progress lines come out in unit order (OrderedLines).
  struct Ran {
    enum class State { kNotStarted, kAfterFailure, kFailed, kDone } state = State::kNotStarted;
    std::optional<family::ExecReport> report;
    std::optional<Error> error;
  };
  std::vector<Ran> ran(entries_.size());
  OrderedLines lines(io_.out, entries_.size());
  std::atomic<bool> failed{false};
  auto execute_one = [&](std::size_t i, store::CredentialKeeper& keeper) {
    Entry& entry = entries_[i];
    family::PreparedUnit& unit = *entry.prepared;
    const std::string& name = unit.plan().name;
    if (failed) {
      ran[i].state = Ran::State::kAfterFailure;
    } else if (!stop_requested()) {
      family::RunContext context{keeper, options_, entry.uri};
      Result<family::ExecReport> report = make_error(Errc::kInternal, "not run");
      try {
        report = unit.execute(context, [&](const std::string& line) {
          lines.add(i, "[" + name + "] " + line + "\n");
        });
      } catch (const std::exception& e) {  // never std::terminate from a worker
        report = make_error(Errc::kInternal, std::string("internal error: ") + e.what());
      }
      if (report) {
        const std::string stopped =
            Interruption::stop_line(name, report->steps_total, report->not_started);
        if (!stopped.empty())
          lines.add(i, stopped);
        ran[i].state = Ran::State::kDone;
        ran[i].report = std::move(*report);
      } else {
        ran[i].state = Ran::State::kFailed;
        ran[i].error = report.error();
        failed = true;
      }
    }
    lines.finish(i);
  };
  for_each_entry(execute_one);

  int exit = kExitOk;
  int done = 0, blocked = 0;
  Interruption interruption;
  std::string failed_unit;
  std::vector<std::string> not_started_after_failure;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const Entry& entry = entries_[i];
    const plan::DevicePlan& plan = entry.prepared->plan();
    switch (ran[i].state) {
      case Ran::State::kAfterFailure: {
        const auto& actions = plan.actions;
        if (std::any_of(actions.begin(), actions.end(), [](const plan::Action& a) {
              return a.action_class != plan::ActionClass::kBlocked;
            })) {
          not_started_after_failure.push_back(plan.name);
        }
        break;
      }
      case Ran::State::kNotStarted:
        interruption.not_started(plan);
        break;
      case Ran::State::kFailed: {
        Error e = *ran[i].error;
        e.message = std::string(entry.unit->noun()) + " \"" + plan.name + "\": " + e.message;
        print_error(e);
        exit = std::max(exit, exit_code_for(e));
        if (failed_unit.empty())
          failed_unit = plan.name;
        break;
      }
      case Ran::State::kDone:
        done += ran[i].report->steps_done;
        blocked += ran[i].report->steps_blocked;
        interruption.ran(ran[i].report->steps_total, ran[i].report->not_started);
        break;
    }
  }
  if (stop_requested()) {
    // Never a success line: say exactly what ran and what did not.
    io_.err << "hsmctl: apply " << interruption.summary(stop_signal())
            << (exit != kExitOk ? " (and a device failed, see above)" : "") << "\n";
    return std::max(exit, exit_code_for_signal(stop_signal()));
  }
  if (exit != kExitOk) {
    io_.err << "hsmctl: apply stopped";
    if (!not_started_after_failure.empty()) {
      io_.err << " after the failure of \"" << failed_unit << "\"; not started:";
      for (std::size_t i = 0; i < not_started_after_failure.size(); ++i) {
        io_.err << (i == 0 ? " " : ", ") << not_started_after_failure[i];
      }
    }
    io_.err << "; run 'hsmctl plan' to see the devices' state now\n";
    return exit;
  }
  if (changes)
    io_.out << "\nApply complete: " << done << " step(s) done";
  else
    io_.out << "\nNothing to apply";
  if (blocked > 0)
    io_.out << ", " << blocked << " blocked (see the plan)";
  io_.out << ".\n";
  return blocked > 0 ? kExitBlocked : kExitOk;
}

}  // namespace hsmctl::reconcile
