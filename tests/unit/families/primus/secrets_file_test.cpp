// SPDX-License-Identifier: Apache-2.0
// A missing .secrets.cfg (issue 10): the plan warns, or with spec.client.createSecretsFile
// creates it empty (O_EXCL, 0600, never through a symlink) before ppin needs it; a ppin that
// refuses a missing file (the double's requireSecretsFile) gets a message naming file and field.
#include "primus_fixture.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hsmctl::families::primus::testing {
namespace {

using plan::ActionClass;

/// Restores the process umask when it goes out of scope.
struct UmaskGuard {
  explicit UmaskGuard(mode_t m) : old(::umask(m)) {}
  ~UmaskGuard() { ::umask(old); }
  mode_t old;
};

mode_t mode_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0)
    return static_cast<mode_t>(-1);
  return st.st_mode & 07777;
}

bool any_note_contains(const plan::DevicePlan& p, const std::string& text) {
  for (const auto& n : p.notes) {
    if (n.find(text) != std::string::npos)
      return true;
  }
  return false;
}

// ----- pure plan -----

class SecretsFilePlan : public PrimusFixture {
 protected:
  /// make_plan over a fresh host: no primus.cfg, no .secrets.cfg, credentials available.
  ClusterPlan plan_for(const PrimusCluster& c, const PrimusPartition& p,
                       bool dangling_link = false) {
    observed_ = ObservedCluster{};
    observed_.secrets_file.dangling_symlink = dangling_link;
    observed_.listing = Listing{};
    PartitionFacts f;
    f.setup_available = true;
    f.pkcs11_available = true;
    PlanInput in;
    in.cluster = &c;
    in.partitions = {&p};
    in.observed = &observed_;
    in.facts[p.user_name] = f;
    in.proxy.available = true;
    in.now = kT0;
    return make_plan(in);
  }
  ObservedCluster observed_;
};

TEST_F(SecretsFilePlan, MissingFileWithoutTheFieldWarnsAndStillShowsTheFetch) {
  auto c = cluster();
  auto p = partition(c.name);
  const ClusterPlan cp = plan_for(c, p);
  EXPECT_FALSE(has_kind(cp.plan, kind::kCreateSecretsFile));
  ASSERT_TRUE(has_kind(cp.plan, kind::kFetchSecret)) << plan::render_text({cp.plan}, false);
  EXPECT_TRUE(any_note_contains(cp.plan, "warning: " + c.secrets_path + " does not exist"))
      << plan::render_text({cp.plan}, false);
  EXPECT_TRUE(any_note_contains(cp.plan, "spec.client.createSecretsFile: true"));
  EXPECT_TRUE(any_note_contains(cp.plan, "0x80005004"));
  for (const auto& a : cp.plan.actions) {
    if (a.kind == kind::kFetchSecret) {
      EXPECT_NE(a.reason.find(c.secrets_path + " does not exist yet"), std::string::npos)
          << a.reason;
    }
  }
  // Warnings are plan notes: the JSON plan carries them too.
  const std::string json = plan::render_json({cp.plan});
  EXPECT_NE(json.find("spec.client.createSecretsFile: true"), std::string::npos) << json;
}

TEST_F(SecretsFilePlan, CloudHsmProxyStepCarriesTheWarningToo) {
  auto c = cluster(true);
  auto p = partition(c.name);
  const ClusterPlan cp = plan_for(c, p);
  bool seen = false;
  for (const auto& a : cp.plan.actions) {
    if (a.kind == kind::kSetProxyPassword) {
      seen = true;
      EXPECT_NE(a.reason.find("0x80005004"), std::string::npos) << a.reason;
    }
  }
  EXPECT_TRUE(seen) << plan::render_text({cp.plan}, false);
}

TEST_F(SecretsFilePlan, NoWarningWhenNothingNeedsTheFile) {
  auto c = cluster();
  auto p = partition(c.name);
  p.permanent_secret = SecretState::kAbsent;
  const ClusterPlan cp = plan_for(c, p);
  EXPECT_FALSE(any_note_contains(cp.plan, "createSecretsFile"))
      << plan::render_text({cp.plan}, false);
}

TEST_F(SecretsFilePlan, WithTheFieldTheTemplateIsCreatedBeforeAnyPpinStep) {
  auto c = cluster(true);
  c.create_secrets_file = true;
  auto p = partition(c.name);
  const ClusterPlan cp = plan_for(c, p);
  const std::string text = plan::render_text({cp.plan}, false);
  ASSERT_EQ(cp.plan.actions.size(), 4u) << text;
  EXPECT_EQ(cp.plan.actions[0].kind, kind::kWriteConfig);
  EXPECT_EQ(cp.plan.actions[1].kind, kind::kCreateSecretsFile);
  EXPECT_EQ(cp.plan.actions[1].action_class, ActionClass::kCreate);
  EXPECT_EQ(cp.plan.actions[1].summary, "create empty template " + c.secrets_path + " (0600)");
  ASSERT_NE(std::any_cast<Step>(&cp.plan.actions[1].payload), nullptr);
  EXPECT_EQ(std::any_cast<Step>(cp.plan.actions[1].payload).target, c.secrets_path);
  EXPECT_EQ(cp.plan.actions[2].kind, kind::kSetProxyPassword);
  EXPECT_EQ(cp.plan.actions[3].kind, kind::kFetchSecret);
  EXPECT_FALSE(any_note_contains(cp.plan, "warning")) << text;
  EXPECT_EQ(cp.plan.actions[3].reason.find("0x80005004"), std::string::npos);
  EXPECT_NE(plan::render_json({cp.plan}).find("\"create-secrets-file\""), std::string::npos);
}

TEST_F(SecretsFilePlan, WithTheFieldADanglingSymlinkIsBlockedNotFollowed) {
  auto c = cluster();
  c.create_secrets_file = true;
  auto p = partition(c.name);
  const ClusterPlan cp = plan_for(c, p, /*dangling_link=*/true);
  EXPECT_FALSE(has_kind(cp.plan, kind::kCreateSecretsFile));
  ASSERT_TRUE(cp.plan.has_blocked());
  bool seen = false;
  for (const auto& a : cp.plan.actions) {
    if (a.kind == plan::kind::kBlocked && a.reason.find("symbolic link") != std::string::npos) {
      seen = true;
    }
  }
  EXPECT_TRUE(seen) << plan::render_text({cp.plan}, false);
}

// ----- the file system side -----

class SecretsFileCreate : public PrimusFixture {};

TEST_F(SecretsFileCreate, CreatesAnEmptyPrivateFileUnderUmask022) {
  UmaskGuard guard(022);
  const std::string path = etc_ + "/.secrets.cfg";
  auto r = create_empty_secrets_file(path);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, CreateOutcome::kCreated);
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(read_text(path), "");
}

TEST_F(SecretsFileCreate, LeavesAnExistingFileUntouched) {
  const std::string path = etc_ + "/.secrets.cfg";
  { std::ofstream(path) << "version = \"1.0\";\n"; }
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  auto r = create_empty_secrets_file(path);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, CreateOutcome::kAlreadyExists);
  EXPECT_EQ(read_text(path), "version = \"1.0\";\n");
  EXPECT_EQ(mode_of(path), 0640u);
}

TEST_F(SecretsFileCreate, RefusesADanglingSymlinkAndCreatesNothingBehindIt) {
  const std::string target = root_ + "/elsewhere.cfg";
  const std::string path = etc_ + "/.secrets.cfg";
  ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0);
  auto r = create_empty_secrets_file(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kIo);
  EXPECT_NE(r.error().message.find("symbolic link"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(path), std::string::npos);
  EXPECT_NE(::access(target.c_str(), F_OK), 0) << "a file was created through the link";
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST_F(SecretsFileCreate, NeverOpensThroughASymlinkToAnExistingFile) {
  const std::string target = root_ + "/elsewhere.cfg";
  { std::ofstream(target) << "keep me"; }
  ASSERT_EQ(::chmod(target.c_str(), 0644), 0);
  const std::string path = etc_ + "/.secrets.cfg";
  ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0);
  auto r = create_empty_secrets_file(path);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, CreateOutcome::kAlreadyExists);
  EXPECT_EQ(read_text(target), "keep me");
  EXPECT_EQ(mode_of(target), 0644u);
}

TEST_F(SecretsFileCreate, RefusesADirectory) {
  const std::string path = etc_ + "/.secrets.cfg";
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  auto r = create_empty_secrets_file(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a regular file"), std::string::npos);
}

TEST_F(SecretsFileCreate, ObservationSeesADanglingSymlink) {
  const std::string path = etc_ + "/.secrets.cfg";
  ASSERT_EQ(::symlink((root_ + "/missing").c_str(), path.c_str()), 0);
  auto f = stat_file(path);
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->exists);
  EXPECT_TRUE(f->dangling_symlink);
}

// ----- engine against the double -----

class SecretsFileEngine : public PrimusFixture {
 protected:
  void require_secrets_file() {
    set_state([](nlohmann::json& s) { s["requireSecretsFile"] = true; });
  }
};

TEST_F(SecretsFileEngine, TheDoubleAcceptsTheEmptyTemplate) {
  auto c = cluster();
  auto p = partition(c.name);
  ASSERT_TRUE(write_config(c.config_path, render_config(c, {&p}), c.config_mode));
  ASSERT_TRUE(create_empty_secrets_file(c.secrets_path));
  Ppin ppin(HSMCTL_PPIN_DOUBLE, 30);
  auto l = ppin.list({c.config_path, c.secrets_path});
  ASSERT_TRUE(l) << l.error().to_string();
  EXPECT_EQ(l->user_configured("PAYMENTS01"), std::optional<bool>(false));
}

TEST_F(SecretsFileEngine, WithoutTheFieldApplyNamesTheFileAndTheField) {
  require_secrets_file();
  auto c = cluster();
  auto p = partition(c.name);
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared) << prepared.error().to_string();
  EXPECT_TRUE(any_note_contains((*prepared)[0].plan.plan, "createSecretsFile"));
  auto r = apply_once({c}, {p});
  ASSERT_FALSE(r) << output_;
  EXPECT_EQ(r.error().code, Errc::kIo);
  const std::string& msg = r.error().message;
  EXPECT_NE(msg.find("0x80005004"), std::string::npos) << msg;
  EXPECT_NE(msg.find(c.secrets_path + " to exist"), std::string::npos) << msg;
  EXPECT_NE(msg.find("spec.client.createSecretsFile: true"), std::string::npos) << msg;
  EXPECT_NE(::access(c.secrets_path.c_str(), F_OK), 0);
  // Nothing was spent: the setup password is not recorded as rejected or unknown.
  auto again = prepare_all({c}, {p});
  ASSERT_TRUE(again);
  EXPECT_TRUE(has_kind((*again)[0].plan.plan, kind::kFetchSecret))
      << plan::render_text({(*again)[0].plan.plan}, false);
  EXPECT_FALSE((*again)[0].plan.plan.has_blocked());
}

TEST_F(SecretsFileEngine, WithTheFieldApplyCreatesItFirstAndConverges) {
  require_secrets_file();
  UmaskGuard guard(022);
  auto c = cluster(true);
  c.create_secrets_file = true;
  c.secrets_mode.mode = 0600;
  auto p = partition(c.name);
  auto r = apply_once({c}, {p});
  ASSERT_TRUE(r) << r.error().to_string() << "\n" << output_;
  EXPECT_EQ(r->steps_done, 4);
  EXPECT_EQ(mode_of(c.secrets_path), 0600u);
  EXPECT_NE(read_text(c.secrets_path).find("PAYMENTS01"), std::string::npos);
  EXPECT_EQ(count_invocations_with("-p"), 1);
  EXPECT_EQ(count_invocations_with("-a"), 1);
  auto again = prepare_all({c}, {p});
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_TRUE((*again)[0].plan.plan.actions.empty())
      << plan::render_text({(*again)[0].plan.plan}, false);
  EXPECT_FALSE(any_note_contains((*again)[0].plan.plan, "warning"));
}

TEST_F(SecretsFileEngine, WithTheFieldTheTemplateGetsTheDeclaredModeEvenWhenFetchIsBlocked) {
  auto c = cluster();
  c.create_secrets_file = true;
  auto p = partition(c.name);
  p.setup_password.reset();  // the fetch is blocked; the template is still the desired state
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared);
  ASSERT_TRUE(has_kind((*prepared)[0].plan.plan, kind::kCreateSecretsFile));
  auto& pc = (*prepared)[0];
  auto r = execute(pc, {}, keeper_, nullptr);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->steps_blocked, 1);
  EXPECT_EQ(mode_of(c.secrets_path), 0640u);  // secretsFileMode, set after the 0600 creation
  EXPECT_EQ(read_text(c.secrets_path), "");
  auto again = prepare_all({c}, {p});
  ASSERT_TRUE(again);
  EXPECT_FALSE(has_kind((*again)[0].plan.plan, kind::kCreateSecretsFile));
  EXPECT_FALSE(has_kind((*again)[0].plan.plan, kind::kFixFileMode));
}

TEST_F(SecretsFileEngine, AFileThatAppearedSinceThePlanIsLeftUntouched) {
  auto c = cluster();
  c.create_secrets_file = true;
  auto p = partition(c.name);
  p.setup_password.reset();
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared);
  { std::ofstream(c.secrets_path) << "version = \"1.0\"; # someone else's\n"; }
  ASSERT_EQ(::chmod(c.secrets_path.c_str(), 0600), 0);
  std::string progress;
  auto r =
      execute((*prepared)[0], {}, keeper_, [&](const std::string& s) { progress += s + "\n"; });
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(read_text(c.secrets_path), "version = \"1.0\"; # someone else's\n");
  EXPECT_EQ(mode_of(c.secrets_path), 0600u);
  EXPECT_NE(progress.find("left untouched"), std::string::npos) << progress;
}

TEST_F(SecretsFileEngine, ApplyRefusesASymlinkThatAppearedSinceThePlan) {
  auto c = cluster();
  c.create_secrets_file = true;
  auto p = partition(c.name);
  p.setup_password.reset();
  auto prepared = prepare_all({c}, {p});
  ASSERT_TRUE(prepared);
  const std::string target = root_ + "/stolen.cfg";
  ASSERT_EQ(::symlink(target.c_str(), c.secrets_path.c_str()), 0);
  auto r = execute((*prepared)[0], {}, keeper_, nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("symbolic link"), std::string::npos) << r.error().message;
  EXPECT_NE(::access(target.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace hsmctl::families::primus::testing
