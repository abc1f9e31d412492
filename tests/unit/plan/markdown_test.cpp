// SPDX-License-Identifier: Apache-2.0
// `hsmctl plan -o markdown`: structure, escaping of hostile strings, and the per-device result.

#include "hsmctl/model/options.hpp"
#include "hsmctl/plan/plan.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace hsmctl::plan {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

/// Unescaped `|` in a line (a `\|` is text, not a cell border).
int cell_borders(const std::string& line) {
  int n = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\') {
      ++i;
    } else if (line[i] == '|') {
      ++n;
    }
  }
  return n;
}

DevicePlan hostile_plan() {
  const std::string evil = "a|b *c* _d_ `e` <script>alert(1)</script> [x](http://e) @all #1\nrow";
  DevicePlan p;
  p.name = "hsm-a";
  p.serial = "0102030405060708";
  p.transport = "sim:/tmp/" + evil;
  p.initialized = true;
  Action a;
  a.kind = "change-user-pin";
  a.action_class = ActionClass::kUpdate;
  a.summary = "change " + evil;
  a.reason = "because " + evil;
  a.changes.push_back({"spec.userPin", "(sensitive)", evil, false});
  p.actions.push_back(a);
  Action r;
  r.kind = "initialize";
  r.action_class = ActionClass::kReinitialize;
  r.summary = "re-initialize the device";
  r.reason = "spec.keyDomains changed";
  r.would_lose = {"2 private keys " + evil};
  r.changes.push_back({"spec.keyDomains", "1", "2", true});
  p.actions.push_back(r);
  Action b;
  b.kind = kind::kBlocked;
  b.action_class = ActionClass::kBlocked;
  b.summary = "user PIN unknown";
  b.reason = "give the current value " + evil;
  p.actions.push_back(b);
  p.notes = {"note " + evil};
  p.pending = {"pending " + evil};
  return p;
}

TEST(PlanMarkdown, HostileStringsCannotBreakOrInjectMarkup) {
  DevicePlan failed;
  failed.name = "hsm-b";
  failed.transport = "pcsc:";
  failed.error = DeviceError{"device", "reader said <b>|*_`"};
  const std::string md = render_markdown({hostile_plan(), failed});

  EXPECT_THAT(md, Not(HasSubstr("<script")));
  EXPECT_THAT(md, Not(HasSubstr("<b>")));
  EXPECT_THAT(md, Not(HasSubstr("[x](http")));
  EXPECT_THAT(md, HasSubstr(R"(\[x\](http)"));
  EXPECT_THAT(md, Not(HasSubstr(" @all")));
  EXPECT_THAT(md, HasSubstr("&lt;script&gt;"));
  EXPECT_THAT(md, HasSubstr(R"(a\|b \*c\* \_d\_ \`e\`)"));
  // The value's line break did not end a row or start a block.
  EXPECT_THAT(md, Not(HasSubstr("\nrow")));
  // Every table row has exactly its own borders: 4 columns -> 5, 2 columns -> 3.
  std::istringstream lines(md);
  std::string line;
  int rows = 0;
  bool in_device_table = false;
  while (std::getline(lines, line)) {
    if (line.rfind("| |", 0) == 0)
      in_device_table = true;
    if (line.rfind("| device |", 0) == 0)
      in_device_table = false;
    if (line.empty() || line[0] != '|')
      continue;
    ++rows;
    EXPECT_EQ(cell_borders(line), in_device_table ? 5 : 3) << line;
  }
  EXPECT_EQ(rows, 2 + 3 + 2 + 2) << md;
  // Backticks only in the symbol column and the option name: balanced.
  int backticks = 0;
  for (std::size_t i = 0; i < md.size(); ++i) {
    if (md[i] == '\\') {
      ++i;
    } else if (md[i] == '`') {
      ++backticks;
    }
  }
  EXPECT_EQ(backticks % 2, 0) << md;
}

// Issue 11: the device certificate and the verdict, as the text plan shows them; strings from
// the device are escaped, the fingerprint is code only when it is hex.
TEST(PlanMarkdown, DeviceCertificateAndAttestation) {
  DevicePlan p;
  p.name = "hsm-a";
  p.serial = "0102030405060708";
  p.initialized = true;
  const std::string fp(64, 'a');
  p.device_certificate = DeviceCertificate{"ESPICOHSMTR00001",
                                           "ESPICOHSMTR00001",
                                           "2023-03-21",
                                           "2070-12-31",
                                           fp,
                                           "verified",
                                           "self-signed ESPICOHSMTR00001"};
  std::string md = render_markdown({p});
  EXPECT_THAT(md, HasSubstr("\n- device certificate: ESPICOHSMTR00001 issued by ESPICOHSMTR00001, "
                            "valid 2023-03-21..2070-12-31, key fingerprint `" +
                            fp + "`\n- attestation: verified (self-signed ESPICOHSMTR00001)\n"))
      << md;

  p.device_certificate->attestation = "failed";
  p.device_certificate->subject = "<b>*x*</b>";
  p.device_certificate->fingerprint = "`evil`";
  p.device_certificate->detail = "key fingerprint differs | [x](http://e)";
  md = render_markdown({p});
  EXPECT_THAT(md, HasSubstr("- attestation: **failed** (key fingerprint differs \\| \\[x\\]"))
      << md;
  EXPECT_THAT(md, Not(HasSubstr("<b>"))) << md;
  EXPECT_THAT(md, HasSubstr("key fingerprint \\`evil\\`")) << md;
  EXPECT_THAT(render_markdown({DevicePlan{}}), Not(HasSubstr("device certificate")));
}

TEST(PlanMarkdown, HeadingsSymbolsWarningsAndTotals) {
  const std::string md = render_markdown({hostile_plan()});
  EXPECT_THAT(md, HasSubstr("#### device **hsm-a** (serial 0102030405060708) via sim"));
  EXPECT_THAT(md, HasSubstr("**Plan:** 0 to create, 1 to change in place, 1 to re-initialize, "
                            "**1 blocked**."));
  EXPECT_THAT(md, HasSubstr("| `~` | change "));
  EXPECT_THAT(md, HasSubstr("| `-/+` | **re-initialize the device** | spec.keyDomains: 1 → 2 "
                            "**(forces re-initialization)** |"));
  EXPECT_THAT(md, HasSubstr("| `!` | **user PIN unknown** |  | **blocked:** give the current"));
  EXPECT_THAT(md, HasSubstr("> **Warning**\n> **Re-initialization**: every key on this device "
                            "is wiped.\n> - would lose: 2 private keys"));
  EXPECT_THAT(md, HasSubstr("- note: note "));
  EXPECT_THAT(md, HasSubstr("- pending: pending "));
  // One device: no per-device table.
  EXPECT_THAT(md, Not(HasSubstr("| device | result |")));
}

TEST(PlanMarkdown, InSyncAndEmpty) {
  DevicePlan ok;
  ok.name = "hsm-a";
  ok.serial = "01";
  const std::string md = render_markdown({ok});
  EXPECT_THAT(md, HasSubstr("#### ✓ device **hsm-a** (serial 01): matches the manifest"));
  EXPECT_THAT(md, HasSubstr("**No changes.** The devices match the manifests."));
  // A device in error never reads as "No changes".
  DevicePlan failed;
  failed.name = "hsm-b";
  failed.error = DeviceError{"unavailable", "no reader"};
  const std::string mixed = render_markdown({ok, failed});
  EXPECT_THAT(mixed, Not(HasSubstr("No changes")));
  EXPECT_THAT(mixed, HasSubstr("| hsm-b | error |"));
  EXPECT_THAT(mixed, HasSubstr("| hsm-a | no changes |"));
}

TEST(PlanSummary, OneLinePerDeviceOnlyForTwoOrMore) {
  DevicePlan ok;
  ok.name = "hsm-a";
  DevicePlan changes = hostile_plan();
  changes.name = "hsm-long-name";
  changes.actions.pop_back();  // not blocked
  DevicePlan blocked = hostile_plan();
  blocked.name = "c";
  DevicePlan not_observed;
  not_observed.name = "d";
  not_observed.error = DeviceError{"interrupted", "not observed: interrupted by SIGINT"};
  EXPECT_EQ(device_summary(changes), "1 to change, 1 to re-initialize");
  EXPECT_EQ(device_summary(not_observed), "error (not observed)");

  EXPECT_THAT(render_text({ok}, false), Not(HasSubstr("Per device")));
  const std::string text = render_text({ok, changes, blocked, not_observed}, false);
  EXPECT_THAT(text, HasSubstr("\nPer device:\n"
                              "  hsm-a          no changes\n"
                              "  hsm-long-name  1 to change, 1 to re-initialize\n"
                              "  c              blocked\n"
                              "  d              error (not observed)\n"));
  // At the end of the plan.
  const std::string last = "  d              error (not observed)\n";
  EXPECT_EQ(text.substr(text.size() - last.size()), last);
}

}  // namespace
}  // namespace hsmctl::plan
