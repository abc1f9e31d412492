// SPDX-License-Identifier: Apache-2.0
// The reconcile loop over units (reconcile/session.hpp) with fake families: output order is the
// table's, the guards of all units run before any execute, one refusal (guard, failed prepare,
// blocked action) executes nothing, exit codes follow docs/exit-codes.md, and a stop request is
// honoured between units.

#include "hsmctl/reconcile/session.hpp"

#include "hsmctl/families/load.hpp"
#include "hsmctl/families/registry.hpp"
#include "hsmctl/reconcile/exit_code.hpp"
#include "hsmctl/store/ephemeral_keeper.hpp"
#include "hsmctl/util/interrupt.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace hsmctl::reconcile {
namespace {

using Events = std::vector<std::string>;

/// What a fake unit does.
struct Script {
  std::string name{};
  int changes = 1;       ///< actions that change something
  bool blocked = false;  ///< plus one blocked action
  std::optional<Errc> prepare_error{};
  bool guard_refuses = false;
  std::optional<Errc> execute_error{};
  bool takes_uri = true;
  std::function<void()> on_prepare{};  ///< e.g. raise(SIGINT)
  std::function<void()> on_execute{};
};

Error error_of(Errc code, std::string message) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  return e;
}

class FakePrepared final : public family::PreparedUnit {
 public:
  FakePrepared(Script script, Events& events) : script_(std::move(script)), events_(events) {
    plan_.name = script_.name;
    plan_.transport = "fake:";
    for (int i = 0; i < script_.changes; ++i) {
      plan::Action a;
      a.kind = "change-user-pin";
      a.action_class = plan::ActionClass::kUpdate;
      a.summary = "step " + std::to_string(i + 1);
      plan_.actions.push_back(a);
    }
    if (script_.blocked) {
      plan::Action a;
      a.kind = plan::kind::kBlocked;
      a.action_class = plan::ActionClass::kBlocked;
      a.summary = "blocked";
      plan_.actions.push_back(a);
    }
  }
  const plan::DevicePlan& plan() const override { return plan_; }
  std::string observation_line() const override {
    return script_.takes_uri ? "observed " + script_.name : std::string();
  }
  Result<void> check_guards(const family::Options& options) const override {
    events_.push_back("guard:" + script_.name);
    if (script_.guard_refuses && !options.flag("allow-it")) {
      return tl::unexpected(
          error_of(Errc::kRefused, "refusing " + script_.name + " without --allow-it"));
    }
    return {};
  }
  Result<family::ExecReport> execute(family::RunContext& /*context*/,
                                     const family::Progress& progress) override {
    {
      static std::mutex events_mutex;  // units may be executed in parallel
      std::lock_guard<std::mutex> lock(events_mutex);
      events_.push_back("execute:" + script_.name);
    }
    if (script_.execute_error)
      return tl::unexpected(error_of(*script_.execute_error, "failed"));
    family::ExecReport r;
    r.steps_total = script_.changes;
    for (const auto& a : plan_.actions) {
      if (a.action_class == plan::ActionClass::kBlocked)
        continue;
      if (stop_requested()) {
        r.not_started.push_back(a.summary);
        continue;
      }
      progress(a.summary);
      if (script_.on_execute)
        script_.on_execute();
      ++r.steps_done;
    }
    return r;
  }

 private:
  Script script_;
  Events& events_;
  plan::DevicePlan plan_;
};

class FakeUnit final : public family::Unit {
 public:
  FakeUnit(Script script, Events& events) : script_(std::move(script)), events_(events) {}
  const std::string& name() const override { return script_.name; }
  const char* noun() const override { return script_.takes_uri ? "device" : "cluster"; }
  bool takes_device_uri() const override { return script_.takes_uri; }
  Result<std::unique_ptr<family::PreparedUnit>> prepare(family::RunContext& context) override {
    {
      static std::mutex events_mutex;  // units may be prepared in parallel
      std::lock_guard<std::mutex> lock(events_mutex);
      events_.push_back("prepare:" + script_.name + "@" + context.device_uri);
    }
    if (script_.on_prepare)
      script_.on_prepare();
    if (script_.prepare_error) {
      return tl::unexpected(error_of(*script_.prepare_error, "cannot reach it"));
    }
    return std::unique_ptr<family::PreparedUnit>(std::make_unique<FakePrepared>(script_, events_));
  }

 private:
  Script script_;
  Events& events_;
};

class FakeLoader final : public family::Loader {
 public:
  FakeLoader(std::vector<Script> scripts, Events& events)
      : scripts_(std::move(scripts)), events_(events) {}
  void accept(const manifest::DocView& /*doc*/, manifest::Diagnostics& /*diagnostics*/) override {}
  std::vector<std::unique_ptr<family::Unit>> finish(
      manifest::Diagnostics& /*diagnostics*/) override {
    std::vector<std::unique_ptr<family::Unit>> out;
    for (const auto& s : scripts_)
      out.push_back(std::make_unique<FakeUnit>(s, events_));
    return out;
  }

 private:
  std::vector<Script> scripts_;
  Events& events_;
};

/// The units of the table's families (their loaders read no document).
std::vector<std::unique_ptr<family::Unit>> units_of(std::span<const family::Family* const> table) {
  return families::load_text("", "none.yaml", table).units;
}

class FakeFamily final : public family::Family {
 public:
  FakeFamily(std::string id, std::vector<Script> scripts, Events& events)
      : id_(std::move(id)), scripts_(std::move(scripts)), events_(events) {}
  std::string_view id() const override { return id_; }
  std::vector<family::KindSpec> kinds() const override {
    return {{"Fake" + id_, "{}", {}, !scripts_.empty() && scripts_.front().takes_uri}};
  }
  /// No documents: the loader's finish() gives the scripted units.
  std::unique_ptr<family::Loader> loader() const override {
    return std::make_unique<FakeLoader>(scripts_, events_);
  }

 private:
  std::string id_;
  std::vector<Script> scripts_;
  Events& events_;
};

class SessionTest : public ::testing::Test {
 protected:
  /// Default dispositions first (a test runner may start the binary with SIGINT ignored), then
  /// the stop-on-signal guard plan and apply run under.
  void SetUp() override {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    stop_on_signal_.emplace();
  }

  /// Two fake families: "first" with `a`, "second" with `b`, in that table order.
  void start(std::vector<Script> first, std::vector<Script> second, family::Options options = {},
             int verbosity = 0, int parallel = 1, const std::string& device = "sim:/tmp/x") {
    families_.push_back(std::make_unique<FakeFamily>("first", std::move(first), events));
    families_.push_back(std::make_unique<FakeFamily>("second", std::move(second), events));
    for (const auto& f : families_)
      table_.push_back(f.get());
    units_ = units_of(table_);
    session =
        std::make_unique<Session>(std::move(units_), keeper_, std::move(options), Io{out, err, {}});
    session->set_parallelism(parallel);
    session->prepare(device_map({device}), verbosity);
  }

  Events executed() const {
    Events e;
    for (const auto& s : events) {
      if (s.rfind("execute:", 0) == 0)
        e.push_back(s);
    }
    return e;
  }

  std::vector<std::string> plan_names() const {
    std::vector<std::string> n;
    for (const auto& p : session->plans())
      n.push_back(p.name);
    return n;
  }

  Events events;
  std::ostringstream out, err;

 private:
  std::optional<StopOnSignal> stop_on_signal_;
  store::EphemeralKeeper keeper_;
  std::vector<std::unique_ptr<FakeFamily>> families_;
  std::vector<const family::Family*> table_;
  std::vector<std::unique_ptr<family::Unit>> units_;

 protected:
  std::unique_ptr<Session> session;
};

TEST_F(SessionTest, PlansFollowTheTableOrderThenTheUnitOrder) {
  start({{.name = "z-first"}, {.name = "y-first"}}, {{.name = "a-second", .takes_uri = false}});
  EXPECT_EQ(plan_names(), (std::vector<std::string>{"z-first", "y-first", "a-second"}));
  // Units that take a device URI get --device; the others get none.
  EXPECT_EQ(events, (Events{"prepare:z-first@sim:/tmp/x", "prepare:y-first@sim:/tmp/x",
                            "prepare:a-second@"}));
}

TEST_F(SessionTest, VerbosityNamesEachObservationThatHasALine) {
  start({{.name = "a"}}, {{.name = "c", .takes_uri = false}}, {}, 1);
  EXPECT_EQ(err.str(), "hsmctl: device \"a\": observed a\n");
  EXPECT_EQ(out.str(), "");
}

TEST_F(SessionTest, GuardsOfAllUnitsRunBeforeAnyExecute) {
  start({{.name = "a"}, {.name = "b"}}, {{.name = "c", .takes_uri = false}});
  events.clear();
  EXPECT_EQ(session->apply({}), kExitOk);
  EXPECT_EQ(events,
            (Events{"guard:a", "guard:b", "guard:c", "execute:a", "execute:b", "execute:c"}));
  EXPECT_EQ(out.str(), "[a] step 1\n[b] step 1\n[c] step 1\n\nApply complete: 3 step(s) done.\n");
}

TEST_F(SessionTest, OneRefusedGuardExecutesNothing) {
  start({{.name = "a"}}, {{.name = "c", .guard_refuses = true, .takes_uri = false}});
  EXPECT_EQ(session->apply({}), kExitError);
  EXPECT_TRUE(executed().empty());
  EXPECT_EQ(err.str(), "hsmctl: error: refusing c without --allow-it\n");
}

TEST_F(SessionTest, TheFamilysOptionLetsTheGuardPass) {
  family::Options options;
  options.values["allow-it"] = "true";
  start({{.name = "a"}}, {{.name = "c", .guard_refuses = true, .takes_uri = false}}, options);
  EXPECT_EQ(session->apply({}), kExitOk);
  EXPECT_EQ(executed(), (Events{"execute:a", "execute:c"}));
}

TEST_F(SessionTest, OneUnitFailingToPrepareShowsItsErrorAndRefusesApply) {
  start({{.name = "a"}}, {{.name = "b", .prepare_error = Errc::kUnavailable, .takes_uri = false},
                          {.name = "c", .takes_uri = false}});
  // The failing unit does not hide the others: each has its own plan, in order.
  ASSERT_EQ(plan_names(), (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_TRUE(session->plans()[1].error);
  EXPECT_EQ(session->plans()[1].error->code, "unavailable");
  EXPECT_FALSE(session->plans()[2].error);
  EXPECT_EQ(err.str(), "hsmctl: error: cluster \"b\": cannot reach it\n");
  EXPECT_EQ(session->finish_plan(false), kExitUnavailable);
  err.str("");
  EXPECT_EQ(session->apply({}), kExitUnavailable);
  EXPECT_TRUE(executed().empty());
  EXPECT_EQ(err.str(),
            "hsmctl: apply refused: 1 device(s) could not be planned; nothing was changed\n");
}

TEST_F(SessionTest, WorstPrepareErrorWins) {
  start({{.name = "a", .prepare_error = Errc::kDevice}},
        {{.name = "b", .prepare_error = Errc::kUnavailable, .takes_uri = false}});
  EXPECT_EQ(session->finish_plan(true), kExitUnavailable);
}

TEST_F(SessionTest, ABlockedActionAnywhereExecutesNothing) {
  start({{.name = "a"}}, {{.name = "b", .blocked = true, .takes_uri = false}});
  EXPECT_EQ(session->apply({}), kExitBlocked);
  EXPECT_TRUE(executed().empty());
  for (const auto& e : events)
    EXPECT_EQ(e.rfind("guard:", 0), std::string::npos) << e;
}

TEST_F(SessionTest, PlanExitCodeInSync) {
  start({{.name = "a", .changes = 0}}, {{.name = "b", .changes = 0, .takes_uri = false}});
  EXPECT_EQ(session->finish_plan(true), kExitOk);
  EXPECT_EQ(session->finish_plan(false), kExitOk);
}

TEST_F(SessionTest, PlanExitCodeChanges) {
  start({{.name = "a", .changes = 0}}, {{.name = "b", .takes_uri = false}});
  EXPECT_EQ(session->finish_plan(true), kExitChanges);
  EXPECT_EQ(session->finish_plan(false), kExitOk);
}

TEST_F(SessionTest, PlanExitCodeBlockedWinsOverChanges) {
  start({{.name = "a"}}, {{.name = "b", .changes = 0, .blocked = true, .takes_uri = false}});
  EXPECT_EQ(session->finish_plan(true), kExitBlocked);
  EXPECT_EQ(session->finish_plan(false), kExitOk);
}

TEST_F(SessionTest, PlanExitCodeErrorWinsOverBlocked) {
  start({{.name = "a", .blocked = true}},
        {{.name = "b", .prepare_error = Errc::kDevice, .takes_uri = false}});
  EXPECT_EQ(session->finish_plan(true), kExitError);
  EXPECT_EQ(session->finish_plan(false), kExitError);
}

TEST_F(SessionTest, ConfirmationIsAskedOnlyForChangesAndItsAnswerStops) {
  start({{.name = "a"}}, {});
  int asked = 0;
  EXPECT_EQ(session->apply([&] {
    ++asked;
    return kExitError;
  }),
            kExitError);
  EXPECT_EQ(asked, 1);
  EXPECT_TRUE(executed().empty());
}

TEST_F(SessionTest, NoChangesNeedsNoConfirmation) {
  start({{.name = "a", .changes = 0}}, {});
  EXPECT_EQ(session->apply([] { return kExitError; }), kExitOk);
  EXPECT_EQ(out.str(), "\nNothing to apply.\n");
}

TEST_F(SessionTest, AFailedExecuteExitsWithItsCode) {
  start({{.name = "a", .execute_error = Errc::kAuth}}, {{.name = "b", .takes_uri = false}});
  EXPECT_EQ(session->apply({}), kExitError);
  EXPECT_NE(err.str().find("hsmctl: error: device \"a\": failed\n"), std::string::npos);
  EXPECT_NE(err.str().find("hsmctl: apply stopped after the failure of \"a\"; not started: b; "
                           "run 'hsmctl plan'"),
            std::string::npos)
      << err.str();
  EXPECT_EQ(out.str().find("Apply complete"), std::string::npos);
}

// docs/exit-codes.md: once execution has started, a failure on one device stops the apply; the
// units after it are not touched and are named.
TEST_F(SessionTest, AFailedExecuteStopsTheApply) {
  start({{.name = "a", .execute_error = Errc::kDevice},
         {.name = "b"},
         {.name = "nothing", .changes = 0}},
        {{.name = "c", .takes_uri = false}});
  EXPECT_EQ(session->apply({}), kExitError);
  EXPECT_EQ(executed(), (Events{"execute:a"}));
  EXPECT_NE(err.str().find("hsmctl: apply stopped after the failure of \"a\"; not started: b, c; "
                           "run 'hsmctl plan' to see the devices' state now\n"),
            std::string::npos)
      << err.str();
}

TEST_F(SessionTest, AStopDuringExecuteLeavesTheNextUnitsUnstarted) {
  start({{.name = "a", .changes = 2, .on_execute = [] { raise(SIGINT); }}, {.name = "b"}},
        {{.name = "c", .takes_uri = false}});
  EXPECT_EQ(session->apply({}), kExitSigint);
  EXPECT_EQ(executed(), (Events{"execute:a"}));
  EXPECT_EQ(
      out.str(),
      "[a] step 1\n[a] interrupted by SIGINT after step 1 of 2; step 2 not started: step 2\n");
  EXPECT_EQ(err.str(),
            "hsmctl: apply interrupted by SIGINT after step 1 of 4; steps 2-4 not started "
            "(devices not started: b, c); run 'hsmctl apply' again to continue\n");
}

TEST_F(SessionTest, AStopWhilePreparingLeavesTheOtherUnitsNotObserved) {
  start({{.name = "a", .on_prepare = [] { raise(SIGTERM); }}, {.name = "b"}},
        {{.name = "c", .takes_uri = false}});
  ASSERT_EQ(plan_names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_FALSE(session->plans()[0].error);
  for (int i : {1, 2}) {
    ASSERT_TRUE(session->plans()[i].error);
    EXPECT_EQ(session->plans()[i].error->code, "interrupted");
    EXPECT_EQ(session->plans()[i].error->message, "not observed: interrupted by SIGTERM");
  }
  EXPECT_EQ(session->plans()[1].transport, "sim:/tmp/x");
  EXPECT_EQ(session->plans()[2].transport, "");
  EXPECT_EQ(session->finish_plan(true), kExitSigterm);
  EXPECT_EQ(session->apply({}), kExitSigterm);
  EXPECT_TRUE(executed().empty());
  EXPECT_EQ(err.str(),
            "hsmctl: plan interrupted by SIGTERM while observing the devices (not observed: b, "
            "c); the plan above is incomplete; nothing was changed on any device\n"
            "hsmctl: apply interrupted by SIGTERM while observing the devices (not observed: b, "
            "c); the plan above is incomplete; nothing was changed on any device\n");
}

TEST_F(SessionTest, ASecretPromptStoppedBySignalIsNotObserved) {
  start({{.name = "a", .prepare_error = Errc::kSecret, .on_prepare = [] { raise(SIGINT); }}}, {});
  ASSERT_TRUE(session->plans()[0].error);
  EXPECT_EQ(session->plans()[0].error->code, "interrupted");
  EXPECT_EQ(err.str(), "");  // not reported as a failure
}

TEST(DeviceErrors, UnknownNameListsTheUnitsThatTakeAUri) {
  Events events;
  FakeFamily pico("Pico", {{.name = "a"}, {.name = "b"}}, events);
  FakeFamily other("Other", {{.name = "c", .takes_uri = false}}, events);
  const family::Family* table[] = {&pico, &other};
  auto units = units_of(table);
  // A unit without a device URI cannot be named.
  auto errors = device_errors(units, device_map({"c=sim:/x", "a=sim:/y"}), table);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, Errc::kUsage);
  EXPECT_EQ(errors[0].message,
            "--device c=sim:/x: no FakePico manifest is named \"c\" (manifests: a, b)");
}

TEST(DeviceErrors, TwoUnitsOnOneSimulatorFile) {
  Events events;
  FakeFamily pico("Pico", {{.name = "a"}, {.name = "b"}}, events);
  const family::Family* table[] = {&pico};
  auto units = units_of(table);
  auto errors = device_errors(units, device_map({"sim:/x"}), table);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message,
            "manifests \"a\" and \"b\" would both use device sim:/x; give NAME=URI per manifest");
  EXPECT_TRUE(device_errors(units, device_map({"pcsc:"}), table).empty());
  EXPECT_TRUE(device_errors(units, device_map({"sim:/x", "b=sim:/y"}), table).empty());
}

/// Counts how many fake units are inside prepare() at once.
struct Concurrency {
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  std::function<void()> hook() {
    return [this] {
      const int now = ++running;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(60));
      --running;
    };
  }
};

TEST_F(SessionTest, NamedDevicesArePreparedInParallelAndReportedInUnitOrder) {
  Concurrency c;
  std::vector<Script> units;
  for (const char* n : {"d1", "d2", "d3", "d4", "d5"})
    units.push_back({.name = n,
                     .prepare_error = std::string(n) == "d2"
                                          ? std::optional<Errc>(Errc::kUnavailable)
                                          : std::nullopt,
                     .on_prepare = c.hook()});
  start(units, {}, {}, 1, /*parallel=*/4);
  EXPECT_GE(c.most.load(), 2) << "no two units were prepared at the same time";
  EXPECT_LE(c.most.load(), 4) << "the pool is bounded";
  EXPECT_EQ(plan_names(), (std::vector<std::string>{"d1", "d2", "d3", "d4", "d5"}));
  // Diagnostics in unit order too: d2's error line sits between d1's and d3's lines.
  const std::string e = err.str();
  ASSERT_NE(e.find("\"d1\""), std::string::npos) << e;
  EXPECT_LT(e.find("\"d1\""), e.find("\"d2\"")) << e;
  EXPECT_LT(e.find("\"d2\""), e.find("\"d3\"")) << e;
  EXPECT_EQ(session->finish_plan(false), kExitUnavailable);
}

TEST_F(SessionTest, DevicesFoundByProbingEveryReaderArePreparedOneAtATime) {
  Concurrency c;
  std::vector<Script> units;
  for (const char* n : {"d1", "d2", "d3"})
    units.push_back({.name = n, .on_prepare = c.hook()});
  start(units, {}, {}, 0, /*parallel=*/4, "pcsc:");
  EXPECT_EQ(c.most.load(), 1);
  EXPECT_EQ(plan_names(), (std::vector<std::string>{"d1", "d2", "d3"}));
}

TEST_F(SessionTest, NamedDevicesAreAppliedInParallelWithProgressInUnitOrder) {
  Concurrency c;
  std::vector<Script> units;
  for (const char* n : {"d1", "d2", "d3", "d4", "d5"})
    units.push_back({.name = n, .changes = 2, .on_execute = c.hook()});
  start(units, {}, {}, 0, /*parallel=*/3);
  EXPECT_EQ(session->apply({}), kExitOk);
  EXPECT_GE(c.most.load(), 2) << "no two units were applied at the same time";
  EXPECT_LE(c.most.load(), 3) << "the pool is bounded";
  EXPECT_EQ(out.str(),
            "[d1] step 1\n[d1] step 2\n[d2] step 1\n[d2] step 2\n[d3] step 1\n[d3] step 2\n"
            "[d4] step 1\n[d4] step 2\n[d5] step 1\n[d5] step 2\n\nApply complete: 10 step(s) "
            "done.\n");
}

TEST_F(SessionTest, AParallelFailureStartsNoFurtherUnit) {
  // d1 fails at once; d2 and d3 may already be running (they finish their plan); with a pool
  // of 3, d4 and d5 start only after one of the first three ended, and none starts after a
  // failure: at least one of them is reported as not started, and never as executed after it.
  std::vector<Script> units;
  units.push_back({.name = "d1", .execute_error = Errc::kDevice});
  for (const char* n : {"d2", "d3", "d4", "d5"})
    units.push_back({.name = n, .on_execute = [] {
                       std::this_thread::sleep_for(std::chrono::milliseconds(100));
                     }});
  start(units, {}, {}, 0, /*parallel=*/3);
  EXPECT_EQ(session->apply({}), kExitError);
  const Events ran = executed();
  EXPECT_EQ(std::count(ran.begin(), ran.end(), "execute:d1"), 1);
  EXPECT_LE(ran.size(), 3u) << "a unit started after the failure";
  const std::string e = err.str();
  EXPECT_NE(e.find("device \"d1\": failed"), std::string::npos) << e;
  EXPECT_NE(e.find("hsmctl: apply stopped after the failure of \"d1\"; not started: "),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("d5"), std::string::npos) << e;
  EXPECT_EQ(out.str().find("Apply complete"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace hsmctl::reconcile
